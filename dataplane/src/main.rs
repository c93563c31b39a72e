//! The `dataplane` binary: flags and config file to [`Config`], logging,
//! start the server, and wait for SIGTERM/SIGINT to shut down gracefully
//! (exit 0 once drained); `--check-ready` is the container healthcheck.
//! Everything else lives in the library.

use anyhow::Context;
use clap::Parser;
use dataplane::logging;
use dataplane::{Cli, Config, Server};
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

fn main() -> anyhow::Result<()> {
    // Operational logs go to stderr as text; access and audit lines go to
    // stdout as JSON, in batches (see BatchWriter: lossless, no I/O and no
    // thread wake-up per request).
    let (access_writer, _flush_on_exit) = logging::BatchWriter::new(std::io::stdout());
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_filter(
                    tracing_subscriber::EnvFilter::try_from_default_env()
                        .unwrap_or_else(|_| "info".into()),
                )
                .with_filter(filter_fn(|m| !logging::is_log_line(m))),
        )
        .with(logging::json_layer(access_writer))
        .init();
    let cli = Cli::parse();
    if let Some(admin) = cli.check_ready {
        let ready = runtime(Some(0))?.block_on(check_ready(admin));
        std::process::exit(if ready { 0 } else { 1 });
    }
    let config = Config::from_cli(cli)?;
    if config.demo_backends {
        announce_demo_credentials(&config)?;
    }
    runtime(config.workers)?.block_on(serve(config))
}

/// Demo mode: fill unset JWT key variables with the demo secret (before any
/// thread exists) and print tokens to try the routes with.
fn announce_demo_credentials(config: &Config) -> anyhow::Result<()> {
    let credentials = dataplane::demo_credentials::prepare(&config.table)?;
    for variable in &credentials.variables_set {
        tracing::warn!(
            variable,
            "demo mode: {variable} was not set; using the public demo secret (never in production)"
        );
    }
    if credentials.tokens.is_empty() {
        return Ok(());
    }
    let base = format!("http://{}", config.listen);
    eprintln!("\ndemo tokens (valid 24 h), every policy of the table still applies:");
    for t in &credentials.tokens {
        let name = format!("{}_TOKEN", t.who.to_ascii_uppercase());
        eprintln!(
            "  export {name}={}    # roles: {}",
            t.token,
            t.roles.join(", ")
        );
    }
    eprintln!("try:");
    eprintln!("  curl -H \"Authorization: Bearer $USER_TOKEN\" {base}/v1/chat/x");
    eprintln!("  curl -H \"Authorization: Bearer $ADMIN_TOKEN\" {base}/v1/admin/users");
    eprintln!("  curl {base}/v1/chat/x    # 401: no token\n");
    Ok(())
}

/// The tokio runtime for `--workers`: on 2 cores a current-thread runtime
/// (0) avoids cross-thread wake-ups and work stealing, and several may win
/// on bigger machines, so the operator chooses (see BENCHMARKS.md).
fn runtime(workers: Option<usize>) -> anyhow::Result<tokio::runtime::Runtime> {
    let mut builder = match workers {
        Some(0) => tokio::runtime::Builder::new_current_thread(),
        Some(n) => {
            let mut builder = tokio::runtime::Builder::new_multi_thread();
            builder.worker_threads(n);
            builder
        }
        None => tokio::runtime::Builder::new_multi_thread(),
    };
    builder
        .enable_all()
        .build()
        .context("starting the tokio runtime")
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let server = Server::start(config)
        .await
        .context("starting the data plane")?;
    wait_for_shutdown_signal().await?;
    tracing::info!("shutting down: draining in-flight requests");
    server.shutdown().await;
    Ok(())
}

async fn wait_for_shutdown_signal() -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
        tokio::select! {
            _ = term.recv() => {}
            r = tokio::signal::ctrl_c() => r.context("waiting for SIGINT")?,
        }
    }
    #[cfg(not(unix))]
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    Ok(())
}

/// `GET http://ADDR/ready` answered 200 within two seconds.
async fn check_ready(admin: std::net::SocketAddr) -> bool {
    let probe = async {
        let tcp = tokio::net::TcpStream::connect(admin).await.ok()?;
        let io = hyper_util::rt::TokioIo::new(tcp);
        let (mut sender, connection) = hyper::client::conn::http1::handshake(io).await.ok()?;
        tokio::spawn(connection);
        let request = http::Request::get("/ready")
            .header(http::header::HOST, admin.to_string())
            .body(http_body_util::Empty::<bytes::Bytes>::new())
            .ok()?;
        Some(sender.send_request(request).await.ok()?.status() == http::StatusCode::OK)
    };
    matches!(
        tokio::time::timeout(std::time::Duration::from_secs(2), probe).await,
        Ok(Some(true))
    )
}
