//! Hot reload through the file system, as operators do it: a rebuilt table
//! renamed over the old one is picked up while a client loop keeps sending
//! requests (none fails); corrupt tables (bad checksum, truncated) written
//! the same way are refused and the old table keeps serving; instance state
//! survives a reload that keeps the instance.

mod common;

use common::*;
use http::StatusCode;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

fn two_services(generation: u64, with_chat_route: bool) -> routetable::TableSpec {
    let mut spec = single_service_spec("auth", "/v1/auth/", 1, generation);
    let mut chat = spec.services[0].clone();
    chat.name = "chat".into();
    chat.instances = vec![("chat-service-1".into(), 8084)];
    spec.services.push(chat);
    if with_chat_route {
        spec.routes.push(route("chat", "/v1/chat/", 1));
    }
    spec
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_route_is_served_without_failing_any_request() {
    let auth = stub("auth", "auth-service-1").await;
    let chat = stub("chat", "chat-service-1").await;
    let (_dir, table) = table_dir(&two_services(1, false));
    let mut config = test_config(&table);
    config
        .upstreams
        .insert("auth".into(), vec![("127.0.0.1".into(), auth.addr.port())]);
    config
        .upstreams
        .insert("chat".into(), vec![("127.0.0.1".into(), chat.addr.port())]);
    let gateway = start(config).await;
    let addr = gateway.local_addr();
    let client = client();
    assert_eq!(
        get(&client, addr, "/v1/chat/x").await.unwrap().status,
        StatusCode::NOT_FOUND
    );

    // A client loop on the old route for the whole reload.
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicUsize::new(0));
    let looping = {
        let (client, stop, sent) = (client.clone(), stop.clone(), sent.clone());
        tokio::spawn(async move {
            let mut failures = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                match get(&client, addr, "/v1/auth/me").await {
                    Ok(reply) if reply.status == StatusCode::OK => {}
                    other => failures.push(format!("{other:?}")),
                }
                sent.fetch_add(1, Ordering::Relaxed);
            }
            failures
        })
    };

    write_table(&table, &two_services(2, true));
    // The issue asks for 1 s; the bound here is generous so a loaded CI
    // machine does not turn scheduling delays into failures.
    let served = eventually(250, || async {
        get(&client, addr, "/v1/chat/x").await.unwrap().status == StatusCode::OK
    })
    .await;
    assert!(served, "the new route never answered");
    assert_eq!(gateway.store().current().generation, 2);
    assert_eq!(
        get(&client, addr, "/v1/chat/x").await.unwrap().json()["service"],
        "chat"
    );
    // Let the loop run a little past the swap, then stop it.
    let floor = sent.load(Ordering::Relaxed) + 20;
    assert!(eventually(500, || async { sent.load(Ordering::Relaxed) >= floor }).await);
    stop.store(true, Ordering::Relaxed);
    let failures = looping.await.unwrap();
    assert!(
        failures.is_empty(),
        "requests failed during the reload: {failures:?}"
    );
    assert!(gateway.store().metrics().table_reloads() >= 1);
    gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_tables_are_refused_and_the_old_one_keeps_serving() {
    let auth = stub("auth", "auth-service-1").await;
    let (_dir, table) = table_dir(&two_services(1, false));
    let mut config = test_config(&table);
    config
        .upstreams
        .insert("auth".into(), vec![("127.0.0.1".into(), auth.addr.port())]);
    let gateway = start(config).await;
    let addr = gateway.local_addr();
    let client = client();
    let metrics = gateway.store().metrics().clone();

    let good = routetable::encode(&two_services(2, true));
    let mut bad_checksum = good.clone();
    let last = bad_checksum.len() - 1;
    bad_checksum[last] ^= 0xff;
    let truncated = good[..good.len() / 2].to_vec();
    for (expected_failures, corrupt) in [(1, bad_checksum), (2, truncated)] {
        write_atomically(&table, &corrupt);
        let refused = eventually(500, || async {
            metrics.table_reload_failures() >= expected_failures
        })
        .await;
        assert!(refused, "corrupt table was not refused");
        assert_eq!(gateway.store().current().generation, 1);
        let reply = get(&client, addr, "/v1/auth/me").await.unwrap();
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(
            get(&client, addr, "/v1/chat/x").await.unwrap().status,
            StatusCode::NOT_FOUND
        );
    }
    assert_eq!(metrics.table_reloads(), 0);

    // The next good table is taken.
    write_atomically(&table, &good);
    assert!(eventually(500, || async { gateway.store().current().generation == 2 }).await);
    gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instance_state_survives_a_reload_that_keeps_the_instance() {
    let auth = stub("auth", "auth-service-1").await;
    let (_dir, table) = table_dir(&two_services(1, false));
    let mut config = test_config(&table);
    config
        .upstreams
        .insert("auth".into(), vec![("127.0.0.1".into(), auth.addr.port())]);
    let gateway = start(config).await;
    let before = gateway.store().current().services[0].states[0].clone();
    // A forced reload (what SIGHUP does) of a changed table.
    write_table(&table, &two_services(2, true));
    gateway.store().reload(true).unwrap();
    let after = gateway.store().current().services[0].states[0].clone();
    assert!(
        Arc::ptr_eq(&before, &after),
        "auth-service-1 lost its state across the reload"
    );
    // Changing the health settings starts the state afresh.
    let mut changed = two_services(3, true);
    changed.services[0].health = Some(routetable::HealthCheckSpec {
        path: "/health".into(),
        interval_ms: 60_000,
        timeout_ms: 1_000,
        healthy_threshold: 1,
        unhealthy_threshold: 1,
    });
    write_table(&table, &changed);
    gateway.store().reload(true).unwrap();
    assert!(!Arc::ptr_eq(
        &after,
        &gateway.store().current().services[0].states[0]
    ));
    gateway.shutdown().await;
}

/// A service the next table leaves as it was is the same prepared service
/// (clients, balancer, metric handles), not built again; one whose entry
/// changed is built anew.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_keeps_the_services_it_does_not_change() {
    let (_dir, table) = table_dir(&two_services(1, false));
    let gateway = start(test_config(&table)).await;
    let before = gateway.store().current().services.clone();
    let mut next = two_services(2, true);
    next.services[1].timeouts.response_ms = 1_234;
    write_table(&table, &next);
    gateway.store().reload(true).unwrap();
    let after = gateway.store().current().services.clone();
    assert_eq!(after[0].name, "auth");
    assert!(
        Arc::ptr_eq(&before[0], &after[0]),
        "the unchanged auth service was built again"
    );
    assert_eq!(after[1].name, "chat");
    assert!(
        !Arc::ptr_eq(&before[1], &after[1]),
        "the chat service kept its old settings"
    );
    assert_eq!(
        after[1].response_timeout,
        std::time::Duration::from_millis(1_234)
    );
    gateway.shutdown().await;
}

/// Every trigger goes through the one reload task: reloads asked for at
/// the same moment (the admin API, SIGHUP, the watcher) are all answered,
/// by a reload that read the file as it was when they asked, and the
/// serving table is the newest one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reloads_asked_for_together_are_all_answered_with_the_newest_table() {
    let (_dir, table) = table_dir(&two_services(1, false));
    let gateway = start(test_config(&table)).await;
    write_table(&table, &two_services(2, true));
    let reloader = gateway.reloader().clone();
    let answers = futures_util::future::join_all((0..16).map(|i| {
        let reloader = reloader.clone();
        // Half of them forced, as SIGHUP and the admin API are.
        async move { reloader.reload(i % 2 == 0).await }
    }))
    .await;
    let mut published = 0;
    for answer in &answers {
        match answer {
            Some(Ok(dataplane::reload::Reloaded::Published { generation: 2 })) => published += 1,
            Some(Ok(dataplane::reload::Reloaded::Unchanged)) => {}
            other => panic!("a reload answered {other:?}"),
        }
    }
    assert!(
        published >= 1,
        "no reload published the new table: {answers:?}"
    );
    assert_eq!(gateway.store().current().generation, 2);
    assert!(gateway.store().metrics().table_reloads() >= 1);
}
