//! Three proxy processes, one decision: ramps with `ramp_state:
//! nats://…` on a real nats-server (JetStream key-value). The weights
//! agree, killing the leader hands over without a jump, and a failing step
//! rolls all three back.

mod support;

use std::time::{Duration, Instant};

use service_common::testing::nats::NatsServer;
use support::*;

fn fleet_config(nats: &str, legacy: &str, new: &str) -> impl Fn(u16, u16) -> String {
    let (nats, legacy, new) = (nats.to_string(), legacy.to_string(), new.to_string());
    move |port, admin| {
        format!(
            "listen: 127.0.0.1:{port}\nadmin: {{ listen: 127.0.0.1:{admin}, debug_headers: true }}\nramp_state: {nats}\nupstreams:\n  legacy: {{ url: {legacy} }}\n  new: {{ url: {new}, breaker: {{ failure_threshold: 1000 }} }}\nroutes:\n  - name: orders\n    match: {{ path_prefix: /orders }}\n    ramp:\n      from: legacy\n      to: new\n      steps: [10, 30, 60, 100]\n      interval: 1500ms\n      min_requests: 10\n      sticky: {{ header: x-user }}\n      gates:\n        error_rate: {{ max_increase: 1% }}\n"
        )
    }
}

async fn ramp_of(b: &Binary) -> serde_json::Value {
    get(&b.admin_url("/-/ramps")).await.json()["orders"].clone()
}

/// Requests spread over the live replicas, as users 0..n.
async fn traffic(replicas: &[&Binary], n: usize) {
    for u in 0..n {
        let b = replicas[u % replicas.len()];
        let user = format!("user-{u}");
        let _ = try_send("GET", &b.url("/orders/1"), &[("x-user", &user)], "").await;
    }
}

#[tokio::test]
async fn three_replicas_ramp_as_one_and_survive_the_leader() {
    let Some(nats) = NatsServer::start().await else {
        return;
    };
    let (legacy, new) = (upstream().spawn().await, upstream().spawn().await);
    let config = fleet_config(&nats.url(), &legacy.url(), &new.url());
    let mut fleet = Vec::new();
    for _ in 0..3 {
        fleet.push(spawn_binary(&config, Logs::Quiet).await);
    }
    // One leader.
    eventually(PATIENCE, "a leader", || async {
        let mut leaders = 0;
        for b in &fleet {
            leaders += usize::from(ramp_of(b).await["fleet"]["leader"] == true);
        }
        leaders == 1
    })
    .await;
    // Up to the second step, the weights agree within a second of a move.
    let deadline = Instant::now() + PATIENCE * 2;
    loop {
        traffic(&fleet.iter().collect::<Vec<_>>(), 60).await;
        if ramp_of(&fleet[0]).await["step"].as_u64() >= Some(1) {
            break;
        }
        assert!(Instant::now() < deadline, "never advanced");
    }
    eventually(PATIENCE, "the three weights to agree", || async {
        let mut w = Vec::new();
        for b in &fleet {
            w.push(ramp_of(b).await["weight"].as_f64());
        }
        w.windows(2).all(|p| p[0] == p[1])
    })
    .await;
    // Kill the leader: another takes over from the same step.
    let mut leader = None;
    for (i, b) in fleet.iter().enumerate() {
        if ramp_of(b).await["fleet"]["leader"] == true {
            leader = Some(i);
        }
    }
    let leader = leader.expect("a leader");
    let before = ramp_of(&fleet[(leader + 1) % 3]).await["weight"]
        .as_f64()
        .unwrap();
    drop(fleet.remove(leader)); // SIGKILL
    let rest: Vec<&Binary> = fleet.iter().collect();
    let deadline = Instant::now() + PATIENCE * 3;
    // Each survivor's weights, in the order seen.
    let mut seen = vec![vec![before]; rest.len()];
    loop {
        traffic(&rest, 60).await;
        let mut ws = Vec::new();
        for (i, b) in rest.iter().enumerate() {
            let w = ramp_of(b).await["weight"].as_f64().unwrap();
            seen[i].push(w);
            ws.push(w);
        }
        if ws.iter().all(|w| *w == 100.0) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "never completed after the handover: {seen:?}"
        );
    }
    // No jump back: on each survivor the weight only grew.
    for ws in &seen {
        assert!(
            ws.windows(2).all(|p| p[0] <= p[1]),
            "the weight went back: {seen:?}"
        );
    }
    let mut leaders = 0;
    for b in &rest {
        leaders += usize::from(ramp_of(b).await["fleet"]["leader"] == true);
    }
    assert_eq!(leaders, 1, "one new leader");
}

#[tokio::test]
async fn a_failing_step_rolls_all_three_back() {
    let Some(nats) = NatsServer::start().await else {
        return;
    };
    let legacy = upstream().spawn().await;
    let new = upstream().status(500).spawn().await;
    let config = fleet_config(&nats.url(), &legacy.url(), &new.url());
    let mut fleet = Vec::new();
    for _ in 0..3 {
        fleet.push(spawn_binary(&config, Logs::Quiet).await);
    }
    let all: Vec<&Binary> = fleet.iter().collect();
    let deadline = Instant::now() + PATIENCE * 2;
    loop {
        traffic(&all, 150).await;
        let mut states = Vec::new();
        for b in &all {
            states.push(ramp_of(b).await["state"].as_str().map(str::to_string));
        }
        if states.iter().all(|s| s.as_deref() == Some("rolled_back")) {
            break;
        }
        assert!(Instant::now() < deadline, "not all rolled back: {states:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for b in &all {
        let r = ramp_of(b).await;
        assert_eq!(r["weight"], 0.0);
        assert!(r["reason"].as_str().unwrap().contains("error_rate"), "{r}");
    }
}
