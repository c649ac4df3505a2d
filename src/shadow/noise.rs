//! The noise floor of a route: where its primary disagrees with itself.
//!
//! With `shadow.noise: { sample }`, a sampled safe request (GET or HEAD) is
//! sent to the primary a second time (`shadow::probe`); the two primary
//! answers are compared like primary and shadow, and logged as a `noise_probe`
//! record. Where they differ — a timestamp, a generated id, a float that
//! wobbles — is **noise**: learned per route, in memory, bounded.
//!
//! A comparison that differs from the shadow *only* at noisy pointers is
//! counted as `noise`, not `mismatch`, and does not count against the match
//! rate. The split is made when the report is built, not when the record
//! came: comparisons are kept by *signature* (the set of pointers where they
//! differ), so the mismatches seen before a noisy field was learned become
//! noise once it is. Pointers are generalised before they are learned or
//! matched: an all-digit segment (an array index) becomes `*`, so noise at
//! `/items/3/ts` covers `/items/7/ts`. The status, a non-JSON body
//! (`@body`) and the whole body (`""`) are never noise: a route whose
//! primary answers a different body each time has nothing to compare.
//!
//! Bounds: [`MAX_NOISY`] noisy pointers, [`MAX_SIGNATURES`] signatures of at
//! most [`MAX_SIGNATURE_POINTERS`] pointers each, per route. A comparison
//! that fits none (or whose diff list was cut) keeps the outcome it was
//! recorded with.

use std::borrow::Cow;
use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::record::{Outcome, ShadowRecord};

/// Noisy pointers learned per route.
pub const MAX_NOISY: usize = 256;
/// Distinct sets of differing pointers kept per route.
pub const MAX_SIGNATURES: usize = 256;
/// Pointers in a signature at most (a comparison differing in more places
/// keeps its recorded outcome).
pub const MAX_SIGNATURE_POINTERS: usize = 16;
/// Noisy pointers listed in a report.
pub const TOP_NOISY: usize = 20;

/// A pointer learned as noise, with the probes that differed there.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NoisyPointer {
    pub pointer: String,
    pub probes: u64,
}

/// One route's noise floor and its differing comparisons.
#[derive(Debug, Clone, Default)]
pub struct Noise {
    /// Probe records seen (the primary asked twice).
    probes: u64,
    /// Generalised pointer → probes that differed there.
    noisy: HashMap<String, u64>,
    /// Sorted generalised pointers → comparisons that differed exactly there.
    signatures: HashMap<Box<[String]>, u64>,
    /// Differing comparisons kept by the outcome they were recorded with.
    fixed_mismatched: u64,
    fixed_noise: u64,
}

/// `/items/3/ts` → `/items/*/ts`: array indexes (all-digit segments) as `*`.
pub fn generalize(pointer: &str) -> Cow<'_, str> {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if pointer.starts_with('@') || !pointer.split('/').any(digits) {
        return Cow::Borrowed(pointer);
    }
    let parts: Vec<&str> = pointer
        .split('/')
        .enumerate()
        .map(|(i, s)| if i > 0 && digits(s) { "*" } else { s })
        .collect();
    Cow::Owned(parts.join("/"))
}

/// Whether a pointer may be learned as noise.
fn learnable(pointer: &str) -> bool {
    !matches!(pointer, "" | "@status" | "@body")
}

/// A record's signature: its differing pointers, generalised, sorted,
/// distinct; `None` when it can never be noise or is too large to keep.
fn signature(r: &ShadowRecord) -> Option<Vec<String>> {
    if r.reason.as_deref() == Some("diffs_truncated") || r.diffs.is_empty() {
        return None;
    }
    let mut sig: Vec<String> = Vec::new();
    for d in &r.diffs {
        if !learnable(&d.pointer) {
            return None;
        }
        let g = generalize(&d.pointer);
        if !sig.iter().any(|s| *s == *g) {
            if sig.len() == MAX_SIGNATURE_POINTERS {
                return None;
            }
            sig.push(g.into_owned());
        }
    }
    sig.sort();
    Some(sig)
}

impl Noise {
    /// Learns from a probe: where the primary's two answers differ.
    pub fn probe(&mut self, r: &ShadowRecord) {
        self.probes += 1;
        let mut seen: Vec<Cow<'_, str>> = Vec::new();
        for d in r.diffs.iter().filter(|d| learnable(&d.pointer)) {
            let g = generalize(&d.pointer);
            if seen.contains(&g) {
                continue;
            }
            let room = self.noisy.len() < MAX_NOISY;
            match self.noisy.get_mut(&*g) {
                Some(n) => *n += 1,
                None if room => {
                    self.noisy.insert(g.to_string(), 1);
                }
                None => {}
            }
            seen.push(g);
        }
    }

    /// Keeps a comparison that differed (recorded `mismatch` or `noise`).
    pub fn differing(&mut self, r: &ShadowRecord) {
        let fixed = |n: &mut Self| match r.outcome {
            Outcome::Noise => n.fixed_noise += 1,
            _ => n.fixed_mismatched += 1,
        };
        let Some(sig) = signature(r) else {
            return fixed(self);
        };
        let full = self.signatures.len() >= MAX_SIGNATURES;
        match self.signatures.get_mut(sig.as_slice()) {
            Some(n) => *n += 1,
            None if full => fixed(self),
            None => drop(self.signatures.insert(sig.into_boxed_slice(), 1)),
        }
    }

    /// Whether `pointer` (generalised) is noise.
    pub fn is_noisy(&self, pointer: &str) -> bool {
        learnable(pointer) && self.noisy.contains_key(&*generalize(pointer))
    }

    /// Whether a differing record differs only where the primary is noisy.
    pub fn only_noise(&self, r: &ShadowRecord) -> bool {
        signature(r).is_some_and(|sig| sig.iter().all(|p| self.noisy.contains_key(p)))
    }

    /// (noise, mismatched): the differing comparisons split by what is
    /// known now.
    pub fn split(&self) -> (u64, u64) {
        let (mut noise, mut mismatched) = (self.fixed_noise, self.fixed_mismatched);
        for (sig, n) in &self.signatures {
            if sig.iter().all(|p| self.noisy.contains_key(p)) {
                noise += n;
            } else {
                mismatched += n;
            }
        }
        (noise, mismatched)
    }

    pub fn probes(&self) -> u64 {
        self.probes
    }

    /// The noisy pointers, most often seen first.
    pub fn top(&self) -> Vec<NoisyPointer> {
        let mut all: Vec<NoisyPointer> = (self.noisy.iter())
            .map(|(p, n)| NoisyPointer {
                pointer: p.clone(),
                probes: *n,
            })
            .collect();
        all.sort_by(|a, b| b.probes.cmp(&a.probes).then(a.pointer.cmp(&b.pointer)));
        all.truncate(TOP_NOISY);
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shadow::diff::{Diff, DiffKind};
    use crate::shadow::report::tests::rec;

    fn differing(outcome: Outcome, pointers: &[&str]) -> ShadowRecord {
        let mut r = rec("r", 1, Outcome::Mismatch);
        r.outcome = outcome;
        r.diffs = (pointers.iter())
            .map(|p| Diff::new(p.to_string(), DiffKind::Changed, None, None))
            .collect();
        r
    }

    #[test]
    fn indexes_generalise() {
        assert_eq!(generalize("/items/3/ts"), "/items/*/ts");
        assert_eq!(generalize("/a/b"), "/a/b");
        assert_eq!(generalize("/0"), "/*");
        assert_eq!(generalize("@header/x-1"), "@header/x-1");
    }

    /// Mismatches seen before the noise was learned become noise once it
    /// is; one differing elsewhere too stays a mismatch.
    #[test]
    fn learning_reclassifies_what_came_before() {
        let mut n = Noise::default();
        for _ in 0..5 {
            n.differing(&differing(Outcome::Mismatch, &["/ts"]));
        }
        n.differing(&differing(Outcome::Mismatch, &["/ts", "/total"]));
        n.differing(&differing(Outcome::Mismatch, &["/items/2/at"]));
        assert_eq!(n.split(), (0, 7));
        n.probe(&differing(
            Outcome::Probe,
            &["/ts", "/items/0/at", "@status"],
        ));
        assert_eq!(n.split(), (6, 1));
        assert!(n.is_noisy("/items/9/at") && !n.is_noisy("@status"));
        assert!(n.only_noise(&differing(Outcome::Mismatch, &["/ts"])));
        assert!(!n.only_noise(&differing(Outcome::Mismatch, &["/ts", "@status"])));
        assert_eq!(n.top()[0].probes, 1);
        assert_eq!(n.probes(), 1);
    }

    /// The status and a non-JSON body are never noise; a truncated diff
    /// list keeps its recorded outcome.
    #[test]
    fn some_differences_are_never_noise() {
        let mut n = Noise::default();
        n.probe(&differing(Outcome::Probe, &["@body", "@status", ""]));
        assert!(n.top().is_empty());
        n.differing(&differing(Outcome::Mismatch, &["@body"]));
        let mut cut = differing(Outcome::Noise, &["/ts"]);
        cut.reason = Some("diffs_truncated".into());
        n.differing(&cut);
        assert_eq!(n.split(), (1, 1));
    }

    #[test]
    fn memory_is_bounded() {
        let mut n = Noise::default();
        for i in 0..(MAX_SIGNATURES + 10) {
            n.differing(&differing(Outcome::Mismatch, &[&format!("/k{i}")]));
            n.probe(&differing(Outcome::Probe, &[&format!("/p{i}")]));
        }
        assert_eq!(n.signatures.len(), MAX_SIGNATURES);
        assert_eq!(n.noisy.len(), MAX_NOISY);
        assert_eq!(n.split(), (0, MAX_SIGNATURES as u64 + 10));
    }

    /// A primary that differs from itself at `/ts`: comparisons that differ
    /// only there are noise, even those seen before it was learned; one that
    /// differs elsewhere too stays a mismatch. (The builder, end to end.)
    #[test]
    fn noise_is_set_apart_from_mismatches() {
        let mut b = crate::shadow::report::ReportBuilder::with_rules(
            [("r".to_string(), crate::shadow::report::tests::LOOSE)].into(),
        );
        let at = |i: u32, outcome: Outcome, pointers: &[&str]| {
            let mut r = rec("r", i, outcome);
            r.diffs = (pointers.iter())
                .map(|p| {
                    Diff::new(
                        p.to_string(),
                        DiffKind::Changed,
                        Some(&1.into()),
                        Some(&2.into()),
                    )
                })
                .collect();
            r
        };
        for i in 0..150 {
            b.add(&at(i, Outcome::Mismatch, &["/ts"]));
        }
        b.add(&at(150, Outcome::Mismatch, &["/ts", "/total"]));
        let r = &b.report().routes["r"];
        assert_eq!(
            (r.noise, r.mismatched, r.verdict),
            (0, 151, crate::shadow::report::Verdict::NotReady)
        );
        b.add(&at(151, Outcome::Probe, &["/ts"]));
        assert!(b.only_noise(&at(152, Outcome::Mismatch, &["/ts"])));
        let r = &b.report().routes["r"];
        assert_eq!(
            (r.compared, r.matched, r.noise, r.mismatched),
            (151, 0, 150, 1)
        );
        assert_eq!(
            (r.noise_probes, r.verdict),
            (1, crate::shadow::report::Verdict::Ready)
        );
        assert_eq!(r.match_rate, Some(150.0 / 151.0));
        assert_eq!(r.noisy_pointers[0].pointer, "/ts");
        let ts = r
            .top_pointers
            .iter()
            .find(|p| p.pointer == "/ts")
            .expect("/ts");
        assert!(ts.noise && ts.primary == Some(1.into()) && ts.shadow == Some(2.into()));
        assert!(!r
            .top_pointers
            .iter()
            .any(|p| p.pointer == "/total" && p.noise));
        // The trend counts each as recorded; the window spans the records.
        assert_eq!(r.trend.iter().map(|m| m.compared).sum::<u64>(), 151);
        let w = r.window.as_ref().expect("a window");
        assert_eq!(
            (w.from.as_str(), w.to.as_str()),
            ("2025-01-02T03:00:00.000Z", "2025-01-02T03:00:00.151Z")
        );
    }
}
