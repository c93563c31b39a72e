//! The `dataplane` binary: flags and config file to [`Config`], logging,
//! start the server, and wait for SIGTERM/SIGINT to shut down gracefully
//! (exit 0 once drained). Everything else lives in the library.

use anyhow::Context;
use clap::Parser;
use dataplane::{Cli, Config, Server};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let config = Config::from_cli(Cli::parse())?;
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
