//! How fast one service's outbox drains to the bus: N payments charged at once, timed
//! until the relay has published them all (acknowledged by the bus), on the memory bus and
//! on NATS JetStream. Prints events/s; asserts only that nothing is lost.
//!
//! `OUTBOX_BENCH_N=20000 cargo test --release -p payment-service --test outbox_throughput
//! -- --nocapture` for a steadier number.

use std::time::{Duration, Instant};

use service_common::events::{Outbox, RelayPolicy};
use service_common::lock;
use service_common::payments::Ledger;
use service_common::testing::bus::{BusKind, TestBus};

async fn measure(kind: BusKind) {
    let Some(bus) = TestBus::start(kind).await else {
        return;
    };
    let n: u64 = std::env::var("OUTBOX_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000);
    let outbox = Outbox::new();
    let ledger = std::sync::Mutex::new(Ledger::seeded().with_outbox(outbox.clone()));
    // Warm up: the connection and the stream exist before the clock starts.
    let relay = outbox.spawn_relay(bus.bus(), RelayPolicy::default());
    lock(&ledger).charge(1, 100, "4242424242424242");
    assert!(outbox.drain(Duration::from_secs(60)).await, "warm-up");

    let started = Instant::now();
    {
        let mut ledger = lock(&ledger);
        for i in 0..n {
            ledger.charge(i % 50 + 1, 1_000, "4242424242424242");
        }
    }
    let recorded = started.elapsed();
    let drained = outbox.drain(Duration::from_secs(300)).await;
    let elapsed = started.elapsed();
    drop(relay);
    assert!(drained, "{} events still pending", outbox.stats().pending);
    assert_eq!(outbox.stats().published, n + 1);
    let rate = n as f64 / elapsed.as_secs_f64();
    eprintln!(
        "outbox throughput ({kind:?}): {n} events in {elapsed:.2?} = {rate:.0} events/s \
         (recording took {recorded:.2?})"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_bus() {
    measure(BusKind::Memory).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_bus() {
    measure(BusKind::Nats).await;
}
