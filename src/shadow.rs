//! Shadow traffic: a copy of a request goes to the new service, the two
//! answers are compared, and the comparisons add up to a per-route verdict.
//!
//! - [`diff`]: the comparison (status, headers, JSON structurally, bytes);
//! - [`record`]: one shadow-log line;
//! - [`report`]: the per-route aggregate and the `ready` verdict;
//! - [`html`]: the self-contained HTML report.
pub mod diff;
pub mod html;
pub mod latency;
pub mod log;
pub mod mirror;
pub mod pointer;
pub mod record;
pub mod report;
pub mod structure;
pub mod table;
