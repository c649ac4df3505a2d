//! Pooling that does not churn: with the shipped defaults, concurrent
//! clients make the proxy open no more upstream connections than the peak
//! concurrency (idle ones go by an idle timeout, not by a cap smaller than
//! the load); `max_idle` stays as an explicit cap.

mod support;
use std::sync::Arc;
use support::*;

/// 50 concurrent clients, 20 requests each.
async fn load(p: &ProxyHandle) {
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let url = p.url(&format!("/c/{i}"));
            tokio::spawn(async move {
                for _ in 0..20 {
                    assert_eq!(get(&url).await.status, 200);
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("client");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_defaults_open_no_more_upstream_connections_than_the_concurrency() {
    let up = upstream().spawn().await;
    let p = spawn_proxy(&simple_config(&up.url()));
    load(&p).await;
    assert_eq!(up.hits(), 1000);
    let opened = up.connections();
    eprintln!("1,000 requests from 50 concurrent clients opened {opened} upstream connections");
    // The peak concurrency, with a little room for a connection the
    // upstream happens to close.
    assert!(
        opened <= 55,
        "{opened} upstream connections for 50 concurrent clients"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_idle_is_still_an_explicit_cap() {
    let up = Arc::new(upstream().spawn().await);
    let yaml = simple_config(&up.url()).replace(
        &format!("url: {} }}", up.url()),
        &format!("url: {}, max_idle: 2 }}", up.url()),
    );
    let p = spawn_proxy(&yaml);
    load(&p).await;
    let opened = up.connections();
    eprintln!("with max_idle: 2, {opened} upstream connections");
    assert!(opened > 50, "a cap of 2 idle connections churns: {opened}");
}
