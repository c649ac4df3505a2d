//! Shadow traffic: a copy of a request goes to the new service, the two
//! answers are compared, and the comparisons add up to a per-route verdict.
//!
//! - [`plan`]: whether a copy goes, and starting it;
//! - [`mirror`]: sending a copy (its own task) and concluding it;
//! - [`pipelined`]: a bodyless idempotent copy on the shadow upstream's
//!   pipelined lane instead (no task, copies batched into one send);
//! - [`probe`]: the primary asked a second time (`shadow.noise`), to learn
//!   where it disagrees with itself;
//! - [`diff`]: the comparison (status, headers, JSON structurally, bytes),
//!   made of [`comparison`]'s types, walking JSON with [`structure`], under
//!   the route's [`rules`] (numeric tolerance, unordered arrays, formats);
//! - [`record`]: one shadow-log line (written by hand in `line`), its
//!   times in [`ts`];
//! - [`report`]: the per-route aggregate and the `ready` verdict, judged by
//!   [`verdict`] (the Wilson interval), with [`noise`] set apart and a
//!   [`trend`] per minute; its types in [`report_types`];
//! - [`html`]: the self-contained HTML report, of [`cards`] that the live
//!   page (`admin::ui`) shows too.
//!
//! JSON pointer patterns (`compare.ignore`, `rules[].at`) live in
//! [`crate::pointer`]: the config validator needs them too, and imports
//! nothing of `shadow`.
pub mod cards;
pub mod comparison;
pub mod diff;
pub(crate) mod html;
pub mod latency;
pub(crate) mod line;
pub(crate) mod log;
pub(crate) mod mirror;
pub mod noise;
pub(crate) mod pipelined;
pub(crate) mod plan;
pub(crate) mod probe;
pub mod record;
pub mod report;
pub mod report_types;
pub mod rules;
pub mod stream;
pub(crate) mod structure;
pub(crate) mod table;
pub mod trend;
pub mod ts;
pub(crate) mod unordered;
pub mod verdict;
