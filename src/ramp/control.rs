//! A ramp moved: by an evaluation or by an operator's action, each noted
//! in the ramp's history and logged; the metrics a ramp publishes
//! (`strangler_ramp_weight`, `…_transitions_total`, `…_gate_ok`). The loop
//! that evaluates and the saving are `super::drive`'s.

use std::sync::Arc;

use super::gates::judge;
use super::window::SideView;
use super::{Phase, Ramp, Transition};
use crate::metrics::{Metrics, Name, RouteGate, RouteLabel, RoutePhase};
use crate::shadow::report::Verdict;
use crate::snapshot::{ProxyState, Snapshot};

/// What an operator can ask of a ramp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Pause,
    Resume,
    Promote,
    Rollback,
}

impl Action {
    pub fn parse(s: &str) -> Option<Action> {
        Some(match s {
            "pause" => Action::Pause,
            "resume" => Action::Resume,
            "promote" => Action::Promote,
            "rollback" => Action::Rollback,
            _ => return None,
        })
    }
}

impl Ramp {
    /// One evaluation: the gates on the step's window (a failed one rolls
    /// back at once, and so does `to`'s breaker when `to_open` says it
    /// opened), then whether the step has held long enough, with every gate
    /// judged and holding, to advance. `shadow_ready` is asked only while
    /// waiting for it.
    pub fn evaluate(
        &self,
        shadow_ready: impl FnOnce() -> bool,
        to_open: bool,
    ) -> Option<Transition> {
        let (from, to) = (self.window.from.view(), self.window.to.view());
        self.evaluate_with(from, to, shadow_ready, to_open)
    }

    /// [`Ramp::evaluate`] on given windows (a fleet's leader adds up its
    /// replicas').
    pub fn evaluate_with(
        &self,
        from: SideView,
        to: SideView,
        shadow_ready: impl FnOnce() -> bool,
        to_open: bool,
    ) -> Option<Transition> {
        let mut g = self.lock();
        match g.phase {
            Phase::WaitingForShadow if shadow_ready() => Some(self.note(
                &mut g,
                Phase::Running,
                0,
                "the shadow verdict is ready".into(),
            )),
            Phase::Running if to_open => {
                let reason = format!(
                    "the breaker of {} opened at step {} ({}%)",
                    self.def.to,
                    g.step,
                    self.weight_of(Phase::Running, g.step)
                );
                g.reason = Some(reason.clone());
                let step = g.step;
                Some(self.note(&mut g, Phase::RolledBack, step, reason))
            }
            Phase::Running => {
                g.gates = judge(&self.def.gates, &from, &to);
                if let Some(f) = g.gates.iter().find(|x| x.failed()) {
                    let reason = format!(
                        "gate {} failed at step {} ({}%): {:.3} against a limit of {} ({} requests on {}, {} errors; {} on {}, {} errors)",
                        f.gate,
                        g.step,
                        self.weight_of(Phase::Running, g.step),
                        f.value.unwrap_or(f64::NAN),
                        f.threshold,
                        to.requests,
                        self.def.to,
                        to.errors,
                        from.requests,
                        self.def.from,
                        from.errors,
                    );
                    g.reason = Some(reason.clone());
                    let step = g.step;
                    return Some(self.note(&mut g, Phase::RolledBack, step, reason));
                }
                let held = g.step_started.elapsed() >= self.def.interval;
                let judged = g.gates.iter().all(|x| x.ok.is_some());
                if !held || !judged || to.requests < self.def.min_requests {
                    return None;
                }
                let why = format!(
                    "step {} held {:?} with {} requests on {}; gates held",
                    g.step, self.def.interval, to.requests, self.def.to
                );
                let next = g.step + 1;
                if next >= self.def.steps.len() {
                    let step = g.step;
                    Some(self.note(&mut g, Phase::Completed, step, why))
                } else {
                    Some(self.note(&mut g, Phase::Running, next, why))
                }
            }
            _ => None,
        }
    }

    /// An operator's action; `Err`: it does not apply in this phase.
    pub fn operate(&self, action: Action) -> Result<Transition, String> {
        let mut g = self.lock();
        let (phase, step) = (g.phase, g.step);
        let first = if self.def.gates.shadow_verdict.is_some() {
            Phase::WaitingForShadow
        } else {
            Phase::Running
        };
        let (to, step, why) = match (action, phase) {
            (Action::Pause, Phase::Running) => (Phase::Paused, step, "paused by an operator"),
            (Action::Resume, Phase::Paused) => (Phase::Running, step, "resumed by an operator"),
            (Action::Resume, Phase::RolledBack) => (
                first,
                0,
                "resumed by an operator after a rollback; restarted at step 0",
            ),
            (Action::Promote, p) if p != Phase::Completed => (
                Phase::Completed,
                self.def.steps.len() - 1,
                "promoted to 100% by an operator",
            ),
            (Action::Rollback, p) if p != Phase::RolledBack => {
                (Phase::RolledBack, step, "rolled back by an operator")
            }
            (a, p) => {
                return Err(format!("cannot {a:?} a ramp that is {}", p.as_str()).to_lowercase())
            }
        };
        g.reason = (to == Phase::RolledBack).then(|| why.to_string());
        Ok(self.note(&mut g, to, step, why.into()))
    }
}

/// The gauges of a ramp, and a transition counted.
pub fn publish(m: &Metrics, ramp: &Ramp, moved: Option<&Transition>) {
    let route = Name(Arc::clone(&ramp.route));
    m.ramp_weight
        .get_or_create(&RouteLabel {
            route: route.clone(),
        })
        .set(ramp.weight());
    for g in ramp.gates() {
        m.ramp_gate_ok
            .get_or_create(&RouteGate {
                route: route.clone(),
                gate: g.gate,
            })
            .set(i64::from(!g.failed()));
    }
    if let Some(t) = moved {
        m.ramp_transitions
            .get_or_create(&RoutePhase {
                route,
                to: t.phase.as_str(),
            })
            .inc();
    }
}

/// Whether the route's shadow verdict is `ready`.
pub fn shadow_ready(state: &ProxyState, ramp: &Ramp) -> bool {
    let report = state.shadow_log.report();
    report
        .routes
        .get(&*ramp.route)
        .is_some_and(|r| r.verdict == Verdict::Ready)
}

/// Whether the breaker of the ramp's `to` upstream is open.
pub fn to_open(snap: &Snapshot, ramp: &Ramp) -> bool {
    snap.upstreams
        .iter()
        .find(|u| *u.name == *ramp.def.to)
        .is_some_and(|u| u.breaker.status().state == crate::breaker::State::Open)
}
