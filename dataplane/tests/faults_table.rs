//! Faults in the table file while a load generator runs, each printing the
//! requests it sent and how many failed:
//! - the table's directory removed (the gateway keeps serving its mapped
//!   table) and restored with a new table (which is picked up);
//! - the table replaced by refused ones, renamed into place as operators
//!   do: a flipped bit, a newer format version, an empty file, garbage, a
//!   cut-off header. Each is refused and counted, the old table keeps
//!   serving, and the next good table is taken.

mod common;

use common::load::Load;
use common::*;
use http::StatusCode;
use routetable::TableSpec;

/// `auth` always; `chat` routed only from generation 2 on.
fn tables(generation: u64) -> TableSpec {
    let mut spec = single_service_spec("auth", "/v1/auth/", 1, generation);
    let mut chat = spec.services[0].clone();
    chat.name = "chat".into();
    spec.services.push(chat);
    if generation >= 2 {
        spec.routes.push(route("chat", "/v1/chat/", 1));
    }
    spec
}

async fn gateway_for(
    table: &std::path::Path,
) -> (
    dataplane::ServerHandle,
    dataplane::demo::DemoBackend,
    dataplane::demo::DemoBackend,
) {
    let auth = stub("auth", "auth-service-1").await;
    let chat = stub("chat", "chat-service-1").await;
    let mut config = test_config(table);
    for (service, backend) in [("auth", &auth), ("chat", &chat)] {
        config.upstreams.insert(
            service.into(),
            vec![("127.0.0.1".into(), backend.addr.port())],
        );
    }
    (start(config).await, auth, chat)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_table_directory_removed_and_restored() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("routec");
    std::fs::create_dir(&dir).unwrap();
    let table = dir.join("routes.bin");
    write_table(&table, &tables(1));
    let (gateway, _auth, _chat) = gateway_for(&table).await;
    let addr = gateway.local_addr();
    let metrics = gateway.store().metrics().clone();
    let load = Load::start(addr, "/v1/auth/me", 4, 20_000);
    assert!(load.wait_for(100).await);

    std::fs::remove_dir_all(&dir).unwrap();
    let noticed = eventually(500, || async { metrics.table_reload_failures() >= 1 }).await;
    let during = load.sent();
    assert!(
        load.wait_for(during + 200).await,
        "serving stalled without the directory"
    );
    assert_eq!(gateway.store().current().generation, 1);

    std::fs::create_dir(&dir).unwrap();
    write_table(&table, &tables(2));
    let taken = eventually(500, || async { gateway.store().current().generation == 2 }).await;
    let client = client();
    let chat_served = get(&client, addr, "/v1/chat/x")
        .await
        .is_ok_and(|r| r.status == StatusCode::OK);
    let report = load.stop().await;
    println!(
        "faults: table directory removed and restored: {} requests sent, {} failed; removal refused: {noticed}; restored table taken: {taken}",
        report.sent,
        report.failed.len()
    );
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    assert!(taken, "the restored table was never picked up");
    assert!(
        chat_served,
        "the restored table's new route does not answer"
    );
    gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_tables_leave_the_old_one_serving() {
    let (_dir, table) = table_dir(&tables(1));
    let (gateway, _auth, _chat) = gateway_for(&table).await;
    let addr = gateway.local_addr();
    let metrics = gateway.store().metrics().clone();
    let load = Load::start(addr, "/v1/auth/me", 4, 20_000);
    assert!(load.wait_for(100).await);

    let good = routetable::encode(&tables(2));
    let mut flipped = good.clone();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0x40;
    let mut newer = good.clone();
    let at = routetable::layout::header::VERSION;
    newer[at..at + 2].copy_from_slice(&(routetable::layout::VERSION + 1).to_le_bytes());
    let refused: [(&str, Vec<u8>); 5] = [
        ("a flipped bit", flipped),
        ("a newer format version", newer),
        ("an empty file", Vec::new()),
        (
            "garbage",
            b"not a route table at all, just text\n".repeat(40),
        ),
        ("a cut-off header", good[..40].to_vec()),
    ];
    let client = client();
    for (expected, (what, bytes)) in (1..).zip(&refused) {
        write_atomically(&table, bytes);
        let counted = eventually(500, || async {
            metrics.table_reload_failures() >= expected
        })
        .await;
        assert!(counted, "{what} was not refused");
        assert_eq!(gateway.store().current().generation, 1, "{what} was taken");
        let chat = get(&client, addr, "/v1/chat/x").await.unwrap();
        assert_eq!(chat.status, StatusCode::NOT_FOUND, "{what} changed routing");
    }
    write_atomically(&table, &good);
    let taken = eventually(500, || async { gateway.store().current().generation == 2 }).await;
    let report = load.stop().await;
    println!(
        "faults: {} refused tables (flipped bit, newer version, empty, garbage, cut-off header): {} requests sent, {} failed; refusals counted {}; next good table taken: {taken}",
        refused.len(),
        report.sent,
        report.failed.len(),
        metrics.table_reload_failures()
    );
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    assert!(taken, "the good table after the refused ones was not taken");
    assert_eq!(metrics.table_reloads(), 1);
    gateway.shutdown().await;
}
