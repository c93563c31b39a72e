//! `echo-stub`: the stand-in for every service instance of the container
//! test (`tests/tests/containers.rs`), run as the image of each
//! `dating/<service>` container. It is the end-to-end tests' echo upstream
//! (`integration_tests::echo`, which owns what an answer says) on
//! 0.0.0.0, named after the service it stands in for; it owns only its
//! arguments.
//!
//! `echo-stub --name SERVICE --port PORT`

fn main() {
    let mut name = String::from("stub");
    let mut port = 8080u16;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--name" => name = args.next().expect("--name SERVICE"),
            "--port" => {
                port = args
                    .next()
                    .and_then(|p| p.parse().ok())
                    .expect("--port PORT")
            }
            other => panic!("echo-stub: unknown argument {other:?}"),
        }
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(("0.0.0.0", port))
            .await
            .unwrap_or_else(|e| panic!("echo-stub: bind 0.0.0.0:{port}: {e}"));
        eprintln!("echo-stub: {name} listening on 0.0.0.0:{port}");
        // A container's hostname is its id: it tells two instances apart.
        let instance = std::fs::read_to_string("/etc/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_default();
        integration_tests::echo::serve(listener, name, instance).await;
    });
}
