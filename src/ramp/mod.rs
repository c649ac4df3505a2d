//! Ramps: a route moved from one upstream (`from`, the monolith) to another
//! (`to`, the new service) step by step, each step held for an interval and
//! a number of requests while gates hold, rolled back at once when one
//! fails. The state machine:
//!
//! ```text
//! waiting_for_shadow ─(verdict ready)─▶ running(step 0) ─(interval, min_requests,
//!   gates hold)─▶ running(step 1) … ─▶ completed (100%)
//! running ─(a gate fails)─▶ rolled_back (0%, with the gate and its values)
//! operator: pause ⇄ resume; promote ─▶ completed; rollback ─▶ rolled_back;
//!           resume from rolled_back restarts at step 0
//! ```
//!
//! - [`window`]: what each side served during the step (lock-free counts);
//! - [`gates`]: the gates judged on a window;
//! - [`sticky`]: which side a client is on (its key hashed to a point);
//! - [`control`]: one evaluation, an operator's action, the metrics;
//! - [`drive`]: the loop that evaluates (alone, or as a fleet), actions
//!   applied and saved;
//! - `fleet`: several replicas, one decision (NATS key-value, a leader lease);
//! - [`store`]: the state file that makes it survive restarts;
//! - [`command`]: `strangler ramp …`, over the admin API.

pub mod command;
pub mod control;
pub mod drive;
#[cfg(feature = "fleet")]
pub mod fleet;
pub mod gates;
pub mod sticky;
pub mod store;
pub mod window;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Instant, SystemTime};

use serde::{Deserialize, Serialize};

use crate::config::ramp::RampConfig;
use gates::GateView;
use window::Window;

/// Where a ramp stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    WaitingForShadow,
    Running,
    Paused,
    Completed,
    RolledBack,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::WaitingForShadow => "waiting_for_shadow",
            Phase::Running => "running",
            Phase::Paused => "paused",
            Phase::Completed => "completed",
            Phase::RolledBack => "rolled_back",
        }
    }
}

/// One change of phase or step, with why.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Transition {
    pub at: String,
    pub phase: Phase,
    pub step: usize,
    pub weight: f64,
    pub reason: String,
}

/// What survives a restart (see [`store`]).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Persisted {
    pub digest: String,
    pub phase: Phase,
    pub step: usize,
    pub reason: Option<String>,
    pub history: Vec<Transition>,
}

/// Transitions kept per ramp.
const HISTORY: usize = 50;

#[derive(Debug)]
struct Inner {
    phase: Phase,
    step: usize,
    step_started: Instant,
    reason: Option<String>,
    history: VecDeque<Transition>,
    /// The last evaluation's gates.
    gates: Vec<GateView>,
}

/// One route's ramp: its definition, where it stands, and its window.
#[derive(Debug)]
pub struct Ramp {
    pub route: Arc<str>,
    pub def: RampConfig,
    /// A digest of the definition: a reload that changes it restarts the ramp.
    pub digest: String,
    /// Percent of clients on `to`, in hundredths (0..=10000).
    weight_bp: AtomicU32,
    inner: Mutex<Inner>,
    pub window: Window,
}

/// The digest of a definition.
pub fn digest(def: &RampConfig) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(format!("{def:?}").as_bytes()))
}

impl Ramp {
    /// A ramp at its start (`reason` says why it starts), or where
    /// `persisted` left it when that was the same definition.
    pub fn new(route: &str, def: RampConfig, persisted: Option<Persisted>, reason: &str) -> Ramp {
        let digest = digest(&def);
        let first = if def.gates.shadow_verdict.is_some() {
            Phase::WaitingForShadow
        } else {
            Phase::Running
        };
        let inner = match persisted.filter(|p| p.digest == digest && p.step < def.steps.len()) {
            Some(p) => Inner {
                phase: p.phase,
                step: p.step,
                step_started: Instant::now(),
                reason: p.reason,
                history: p.history.into_iter().collect(),
                gates: Vec::new(),
            },
            None => Inner {
                phase: first,
                step: 0,
                step_started: Instant::now(),
                reason: None,
                history: VecDeque::new(),
                gates: Vec::new(),
            },
        };
        let ramp = Ramp {
            route: Arc::from(route),
            def,
            digest,
            weight_bp: AtomicU32::new(0),
            inner: Mutex::new(inner),
            window: Window::default(),
        };
        let mut g = ramp.lock();
        if g.history.is_empty() {
            // Logged by whoever built it (a start, a reload), not here: a
            // dry run builds ramps too.
            let t = Transition {
                at: crate::shadow::record::format_ts(SystemTime::now()),
                phase: g.phase,
                step: g.step,
                weight: ramp.weight_of(g.phase, g.step),
                reason: reason.to_string(),
            };
            g.history.push_back(t);
        }
        ramp.publish(&g);
        drop(g);
        ramp
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether a client at `point` (hundredths of a percent, see
    /// [`sticky::point`]) goes to `to` now.
    pub fn sends_to_new(&self, point: u32) -> bool {
        point < self.weight_bp.load(Ordering::Relaxed)
    }

    /// Percent of clients on `to` now.
    pub fn weight(&self) -> f64 {
        f64::from(self.weight_bp.load(Ordering::Relaxed)) / 100.0
    }

    pub fn phase(&self) -> Phase {
        self.lock().phase
    }

    /// The last evaluation's gates.
    pub fn gates(&self) -> Vec<GateView> {
        self.lock().gates.clone()
    }

    fn weight_of(&self, phase: Phase, step: usize) -> f64 {
        match phase {
            Phase::Running | Phase::Paused => self.def.steps.get(step).copied().unwrap_or(0.0),
            Phase::Completed => 100.0,
            Phase::WaitingForShadow | Phase::RolledBack => 0.0,
        }
    }

    fn publish(&self, g: &Inner) {
        let w = self.weight_of(g.phase, g.step);
        self.weight_bp
            .store((w * 100.0).round() as u32, Ordering::Relaxed);
    }

    /// Move to `phase` at `step`, noting why; the window starts afresh.
    fn note(&self, g: &mut Inner, phase: Phase, step: usize, reason: String) -> Transition {
        g.phase = phase;
        g.step = step;
        g.step_started = Instant::now();
        let t = Transition {
            at: crate::shadow::record::format_ts(SystemTime::now()),
            phase,
            step,
            weight: self.weight_of(phase, step),
            reason,
        };
        g.history.push_back(t.clone());
        while g.history.len() > HISTORY {
            g.history.pop_front();
        }
        self.publish(g);
        self.window.reset();
        tracing::info!(route = %self.route, phase = phase.as_str(), step, weight = t.weight, reason = %t.reason, "ramp transition");
        t
    }

    /// Take `p` (the fleet's shared state) as this ramp's own, without
    /// logging it as a move of its own; the window starts afresh.
    pub fn adopt(&self, p: Persisted) {
        let mut g = self.lock();
        if p.digest != self.digest || p.step >= self.def.steps.len() {
            return;
        }
        let moved = (g.phase, g.step) != (p.phase, p.step);
        g.phase = p.phase;
        g.step = p.step;
        g.reason = p.reason;
        g.history = p.history.into_iter().collect();
        if moved {
            g.step_started = Instant::now();
            self.window.reset();
        }
        self.publish(&g);
    }

    /// What the state file keeps.
    pub fn persisted(&self) -> Persisted {
        let g = self.lock();
        Persisted {
            digest: self.digest.clone(),
            phase: g.phase,
            step: g.step,
            reason: g.reason.clone(),
            history: g.history.iter().cloned().collect(),
        }
    }

    /// The ramp as `GET /-/ramps` shows it.
    pub fn view(&self) -> serde_json::Value {
        let g = self.lock();
        let (from, to) = (self.window.from.view(), self.window.to.view());
        serde_json::json!({
            "state": g.phase.as_str(),
            "step": g.step,
            "steps": self.def.steps,
            "weight": self.weight_of(g.phase, g.step),
            "from": self.def.from,
            "to": self.def.to,
            "reason": g.reason,
            "step_age_s": g.step_started.elapsed().as_secs_f64(),
            "interval_s": self.def.interval.as_secs_f64(),
            "min_requests": self.def.min_requests,
            "window": {
                "from": {"requests": from.requests, "errors": from.errors, "p99_s": from.p99},
                "to": {"requests": to.requests, "errors": to.errors, "p99_s": to.p99},
            },
            "gates": g.gates,
            "history": g.history,
        })
    }
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
