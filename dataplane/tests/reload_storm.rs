//! A reload storm: two valid tables swapped 100 times by atomic rename (as
//! `routec build` writes them), each swap waited for until it serves, while
//! a load generator runs. No request may fail, and once the storm is over
//! and in-flight requests are done, exactly one table stays mapped in the
//! process (`/proc/self/maps`): old tables are unmapped, not leaked.

mod common;

use common::load::Load;
use common::*;
use std::path::Path;
use std::time::Duration;

const SWAPS: u64 = 100;

/// Mappings of the table file (live or replaced, "(deleted)") in this
/// process.
fn table_mappings(table: &Path) -> usize {
    let needle = table.to_string_lossy().into_owned();
    std::fs::read_to_string("/proc/self/maps")
        .expect("/proc/self/maps is readable")
        .lines()
        .filter(|line| line.contains(&needle))
        .count()
}

/// Table A routes `auth`; table B routes `auth` and `chat`, with another
/// generation, so every swap changes the bytes and the serving generation.
fn table(b: bool) -> routetable::TableSpec {
    let mut spec = single_service_spec("auth", "/v1/auth/", 1, if b { 2 } else { 1 });
    let mut chat = spec.services[0].clone();
    chat.name = "chat".into();
    spec.services.push(chat);
    if b {
        spec.routes.push(route("chat", "/v1/chat/", 1));
    }
    spec
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_swaps_under_load_fail_nothing_and_leak_no_mapping() {
    let auth = stub("auth", "auth-service-1").await;
    let chat = stub("chat", "chat-service-1").await;
    let (_dir, path) = table_dir(&table(false));
    let mut config = test_config(&path);
    config.reload_debounce = Duration::from_millis(20);
    for (service, backend) in [("auth", &auth), ("chat", &chat)] {
        config.upstreams.insert(
            service.into(),
            vec![("127.0.0.1".into(), backend.addr.port())],
        );
    }
    let gateway = start(config).await;
    let addr = gateway.local_addr();
    assert_eq!(table_mappings(&path), 1, "one table mapped at start");
    let encoded = [
        routetable::encode(&table(false)),
        routetable::encode(&table(true)),
    ];

    let load = Load::start(addr, "/v1/auth/storm", 4, 1_000_000);
    assert!(load.wait_for(50).await);
    let mut most_mapped = 1;
    for swap in 1..=SWAPS {
        let to_b = swap % 2 == 1;
        write_atomically(&path, &encoded[usize::from(to_b)]);
        let generation = if to_b { 2 } else { 1 };
        let served = eventually(500, || async {
            gateway.store().current().generation == generation
        })
        .await;
        assert!(
            served,
            "swap {swap} to generation {generation} never served"
        );
        most_mapped = most_mapped.max(table_mappings(&path));
    }
    let report = load.stop().await;
    // In-flight requests hold their table until they finish; give the last
    // ones a bounded moment to let go.
    let settled = eventually(500, || async { table_mappings(&path) == 1 }).await;
    let mapped = table_mappings(&path);
    let reloads = gateway.store().metrics().table_reloads();
    println!(
        "reload storm: {SWAPS} swaps ({reloads} reloads), {} requests sent, {} failed; tables mapped at most {most_mapped} during, {mapped} after",
        report.sent,
        report.failed.len()
    );
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    assert!(reloads >= SWAPS, "only {reloads} reloads for {SWAPS} swaps");
    assert!(settled, "{mapped} table mappings remain after the storm");
    gateway.shutdown().await;
}
