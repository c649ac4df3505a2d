//! A ramp's gates, judged on the step's window: each says its measured
//! value, its threshold and whether it holds. A gate with too few requests
//! on either side to judge says `ok: null` and holds.

use serde::Serialize;

use super::window::SideView;
use crate::config::ramp::Gates;

/// Requests each side needs in the window before a gate is judged.
pub const MIN_SAMPLES: u64 = 10;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct GateView {
    pub gate: &'static str,
    /// `to`'s error rate minus `from`'s (points), or `to`'s p99 over `from`'s.
    pub value: Option<f64>,
    pub threshold: f64,
    /// `None`: not enough requests yet to judge.
    pub ok: Option<bool>,
}

impl GateView {
    pub fn failed(&self) -> bool {
        self.ok == Some(false)
    }
}

/// The gates of `gates` on a window (`shadow_verdict` is the controller's:
/// it is judged before step 1, not on a window).
pub fn judge(gates: &Gates, from: &SideView, to: &SideView) -> Vec<GateView> {
    let enough = to.requests >= MIN_SAMPLES;
    let mut out = Vec::new();
    if let Some(g) = &gates.error_rate {
        // `from` may have served nothing (a high weight): its rate counts as 0.
        let value = to.error_rate() - from.error_rate();
        out.push(GateView {
            gate: "error_rate",
            value: enough.then_some(value),
            threshold: g.max_increase.0,
            ok: enough.then_some(value <= g.max_increase.0),
        });
    }
    if let Some(g) = &gates.p99 {
        let both = enough && from.requests >= MIN_SAMPLES;
        let ratio = match (to.p99, from.p99) {
            (Some(t), Some(f)) if both && f > 0.0 => Some(t / f),
            _ => None,
        };
        out.push(GateView {
            gate: "p99",
            value: ratio,
            threshold: g.max_ratio,
            ok: ratio.map(|r| r <= g.max_ratio),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ramp::{ErrorRateGate, P99Gate, Percent};

    fn side(requests: u64, errors: u64, p99: f64) -> SideView {
        SideView {
            requests,
            errors,
            p99: Some(p99),
        }
    }

    #[test]
    fn gates_hold_fail_and_wait_for_samples() {
        let gates = Gates {
            error_rate: Some(ErrorRateGate {
                max_increase: Percent(0.5),
            }),
            p99: Some(P99Gate { max_ratio: 1.2 }),
            shadow_verdict: None,
        };
        let ok = judge(&gates, &side(1000, 10, 0.010), &side(100, 1, 0.011));
        assert!(ok.iter().all(|g| g.ok == Some(true)), "{ok:?}");
        let bad = judge(&gates, &side(1000, 10, 0.010), &side(100, 5, 0.013));
        assert_eq!(bad[0].ok, Some(false), "4 points above: {bad:?}");
        assert_eq!(bad[1].ok, Some(false), "p99 ×1.3: {bad:?}");
        let early = judge(&gates, &side(1000, 0, 0.010), &side(5, 5, 1.0));
        assert!(
            early.iter().all(|g| g.ok.is_none() && !g.failed()),
            "{early:?}"
        );
    }
}
