//! Shadow traffic: a copy of a request goes to the new service, the two
//! answers are compared, and the comparisons add up to a per-route verdict.
//!
//! - [`plan`]: whether a copy goes, and starting it;
//! - [`mirror`]: sending a copy (its own task) and concluding it;
//! - [`pipelined`]: a bodyless idempotent copy on the shadow upstream's
//!   pipelined lane instead (no task, copies batched into one send);
//! - [`diff`]: the comparison (status, headers, JSON structurally, bytes),
//!   made of [`comparison`]'s types, walking JSON with [`structure`];
//! - [`record`]: one shadow-log line (written by hand in `line`);
//! - [`report`]: the per-route aggregate and the `ready` verdict;
//! - [`html`]: the self-contained HTML report.
//!
//! JSON pointer patterns (`compare.ignore`) live in [`crate::pointer`]: the
//! config validator needs them too, and imports nothing of `shadow`.
pub mod comparison;
pub mod diff;
pub(crate) mod html;
pub mod latency;
pub(crate) mod line;
pub(crate) mod log;
pub(crate) mod mirror;
pub(crate) mod pipelined;
pub(crate) mod plan;
pub mod record;
pub mod report;
pub mod stream;
pub(crate) mod structure;
pub(crate) mod table;
