//! An idle proxy sleeps: with no traffic, no ramp and no shadow line
//! waiting, its threads wake for work they have (a pooled connection's
//! idle timeout, the config's 30 s hash check), not on fixed ticks of a
//! driver with nothing to drive or a writer with nothing to write.

mod support;
use std::time::Duration;

use support::binary::*;
use support::*;

/// Context switches of every thread of `pid` so far: each is a sleep
/// ended (voluntary) or a preemption.
fn switches(pid: u32) -> u64 {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).expect("/proc/PID/task");
    tasks
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("status")).ok())
        .flat_map(|status| {
            status
                .lines()
                .filter(|l| l.contains("ctxt_switches:"))
                .filter_map(|l| l.split_whitespace().last()?.parse::<u64>().ok())
                .collect::<Vec<_>>()
        })
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_proxy_does_not_wake_on_fixed_ticks() {
    let up = upstream().spawn().await;
    let p = spawn_binary(|port, admin| simple_on(&up.url(), port, admin), Logs::Quiet).await;
    assert_eq!(get(&p.url("/x")).await.status, 200);
    // Startup and that request settle; then a window with nothing to do.
    // (Not a synchronisation: what is measured is what happens in it.)
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = switches(p.pid());
    tokio::time::sleep(Duration::from_secs(3)).await;
    let woke = switches(p.pid()) - before;
    // Fixed 200 ms ticks (the ramp driver, the shadow log's writer) were
    // ~30 in these 3 s; what is left is a few timers with work behind them.
    assert!(woke <= 6, "{woke} wake-ups in 3 s of idling");
}
