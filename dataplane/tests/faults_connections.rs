//! Connection-level faults, each bounded in time and printing the requests
//! it sent and how many failed:
//! - 1,000 slow-loris connections (a head that never ends): normal clients
//!   keep being served meanwhile, and every slow connection is closed at the
//!   header timeout;
//! - file descriptors near the limit: the gateway binary runs as a child
//!   under `prlimit --nofile=64`, connections are opened until it can take
//!   no more; it must not crash, must answer the connections it took, and
//!   must serve new ones once the others close.

mod common;

use common::load::Load;
use common::*;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

const PARTIAL_HEAD: &[u8] = b"GET /v1/auth/slow HTTP/1.1\r\nHost: api.test\r\nX-Slow: ";

/// The soft limit on open files, raised to the hard one if it is lower
/// than `want` (the test process holds both ends of every connection).
fn raise_open_files(want: u64) -> u64 {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    let (soft, hard) = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| {
            let mut numbers = l.split_whitespace().filter_map(|w| w.parse::<u64>().ok());
            Some((numbers.next()?, numbers.next()?))
        })
        .unwrap_or((1024, 1024));
    if soft >= want || hard <= soft {
        return soft;
    }
    let raised = std::process::Command::new("prlimit")
        .arg(format!("--pid={}", std::process::id()))
        .arg(format!("--nofile={hard}:{hard}"))
        .status()
        .is_ok_and(|s| s.success());
    if raised {
        hard
    } else {
        soft
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_slow_loris_connections_do_not_starve_normal_clients() {
    let loris_count = 1_000;
    let limit = raise_open_files(4 * loris_count as u64);
    assert!(
        limit >= 2 * loris_count as u64 + 200,
        "open-file limit {limit} too low for {loris_count} connections"
    );
    let mut spec = single_service_spec("auth", "/v1/auth/", 1, 1);
    spec.gateway.max_connections = 5_000;
    spec.gateway.header_timeout_ms = 2_000;
    let (gateway, _auth, _dir) = gateway_with_stub(&spec, "auth", "auth-service-1").await;
    let addr = gateway.local_addr();

    let mut slow = Vec::with_capacity(loris_count);
    for _ in 0..loris_count {
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        stream.write_all(PARTIAL_HEAD).await.expect("partial head");
        slow.push(stream);
    }
    let load = Load::start(addr, "/v1/auth/fast", 4, 200);
    assert!(load.wait_for(200).await, "normal clients stalled");
    let report = load.stop().await;

    // Each slow connection must be closed by the gateway (EOF or reset),
    // never answered as if its head were complete.
    let closings = slow.into_iter().map(|mut stream| async move {
        let mut buf = [0u8; 256];
        matches!(
            tokio::time::timeout(Duration::from_secs(15), stream.read(&mut buf)).await,
            Ok(Ok(0)) | Ok(Err(_))
        )
    });
    let closed = futures_util::future::join_all(closings)
        .await
        .into_iter()
        .filter(|c| *c)
        .count();
    println!(
        "faults: {loris_count} slow-loris connections: {} normal requests sent, {} failed; {closed} slow connections closed at the header timeout",
        report.sent,
        report.failed.len()
    );
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    assert_eq!(closed, loris_count, "slow connections left open");
    gateway.shutdown().await;
}

/// A keep-alive request on a fresh connection: the status, or `None` when
/// nothing came back within `wait` (the connection waits in the backlog).
async fn one_request(stream: &mut TcpStream, wait: Duration) -> Option<u16> {
    let request = b"GET /v1/auth/fd HTTP/1.1\r\nHost: api.test\r\n\r\n";
    stream.write_all(request).await.ok()?;
    let mut buf = [0u8; 1024];
    match tokio::time::timeout(wait, stream.read(&mut buf)).await {
        Ok(Ok(n)) if n > 12 => std::str::from_utf8(&buf[9..12]).ok()?.parse().ok(),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn near_the_file_descriptor_limit_the_gateway_refuses_cleanly_and_recovers() {
    let fd_limit = 64;
    let spec = single_service_spec("auth", "/v1/auth/", 1, 1);
    let auth = stub("auth", "auth-service-1").await;
    let (_dir, table) = table_dir(&spec);
    let mut child = tokio::process::Command::new("prlimit")
        .arg(format!("--nofile={fd_limit}:{fd_limit}"))
        .arg("--")
        .arg(env!("CARGO_BIN_EXE_dataplane"))
        .arg("--table")
        .arg(&table)
        .args(["--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"])
        .arg("--upstream")
        .arg(format!("auth=127.0.0.1:{}", auth.addr.port()))
        .env("NO_COLOR", "1")
        .env("RUST_LOG", "info")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the dataplane binary starts under prlimit");
    // Read the log to find the port, then keep draining it so a chatty
    // child never blocks on a full pipe.
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut addr = None;
    while addr.is_none() {
        let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
            .await
            .expect("the gateway logs its address in time")
            .expect("stderr readable")
            .expect("the gateway exited before listening");
        addr = listening_addr(&line);
    }
    let addr = addr.unwrap();
    let accept_failures = tokio::spawn(async move {
        let mut failures = 0usize;
        while let Ok(Some(line)) = lines.next_line().await {
            failures += usize::from(line.contains("accept failed"));
        }
        failures
    });

    // Open connections, each with one request, until some go unanswered.
    let (mut answered, mut server_errors, mut unanswered) = (0, 0, 0);
    let mut held = Vec::new();
    for _ in 0..3 * fd_limit {
        let Ok(mut stream) = TcpStream::connect(addr).await else {
            unanswered += 1;
            continue;
        };
        match one_request(&mut stream, Duration::from_millis(500)).await {
            Some(200) => answered += 1,
            Some(_) => server_errors += 1,
            None => unanswered += 1,
        }
        held.push(stream);
        if unanswered >= 5 {
            break;
        }
    }
    assert!(
        child.try_wait().unwrap().is_none(),
        "the gateway died at the fd limit"
    );
    drop(held);
    // Once the connections are gone, new ones are served again.
    let recovered = eventually(500, || async {
        match TcpStream::connect(addr).await {
            Ok(mut stream) => one_request(&mut stream, Duration::from_secs(2)).await == Some(200),
            Err(_) => false,
        }
    })
    .await;
    let alive = child.try_wait().unwrap().is_none();
    child.kill().await.expect("stop the gateway child");
    let accept_failures = accept_failures.await.unwrap_or(0);
    println!(
        "faults: fd limit {fd_limit}: {} connections opened, {answered} answered 200, {server_errors} answered 5xx, {unanswered} left waiting; {accept_failures} accept failures logged; recovered: {recovered}",
        answered + server_errors + unanswered
    );
    assert!(alive, "the gateway died");
    assert!(answered > 0, "nothing was served under the limit");
    assert!(
        unanswered > 0,
        "the fd limit was never reached ({answered} answered)"
    );
    assert!(
        recovered,
        "the gateway did not serve again after connections closed"
    );
}

/// The gateway's `local_addr` from its "dataplane listening" log line.
fn listening_addr(line: &str) -> Option<std::net::SocketAddr> {
    if !line.contains("dataplane listening") {
        return None;
    }
    let after = &line[line.find("local_addr=")? + "local_addr=".len()..];
    after.split_whitespace().next()?.parse().ok()
}
