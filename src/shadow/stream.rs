//! `strangler report` over logs of any size (a fleet's GBs of JSON lines)
//! in bounded memory: each log is read record by record ([`Records`]); the
//! logs are merged in time order through a window of [`WINDOW`] records per
//! log (a line written a little out of order — comparisons end in their own
//! time — still sorts), and each record goes straight into the report.
//!
//! ```text
//! log 1 ─▶ Records ─▶ window (by ts) ─┐
//! log 2 ─▶ Records ─▶ window (by ts) ─┼─▶ the earliest head ─▶ dedup ─▶ ReportBuilder
//! ...                                 ┘
//! ```
//!
//! Memory: [`WINDOW`] records per log, and the report itself (bounded per
//! route). A comparison seen twice (the same log given twice: same request
//! id, time and route) counts once.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashSet};
use std::io::BufRead;
use std::sync::Arc;

use super::record::{Outcome, ShadowRecord};
use super::report::{Report, ReportBuilder};
use super::verdict::ReadyRule;

/// Records held per log to put lines written slightly out of order back in order.
pub const WINDOW: usize = 4096;

/// Log lines longer than this are counted as corrupt.
pub const MAX_LINE_BYTES: usize = 4 << 20;

/// The result of reading one log.
#[derive(Debug, Default)]
pub struct LogRead {
    pub records: Vec<ShadowRecord>,
    /// Lines that were not a valid record (garbage, truncated, too long, not UTF-8).
    pub corrupt_lines: u64,
    /// A read error that ended the log early (the records before it are kept).
    pub io_error: Option<String>,
    /// Every route a valid record names (kept or not): to say which exist.
    pub routes: std::collections::BTreeSet<String>,
}

/// Reads a `shadow.log`, keeping the records of `route` (all when `None`). Never fails:
/// bad lines are counted, blank lines ignored, a read error ends the log.
pub fn read_log(reader: impl BufRead, route: Option<&str>) -> LogRead {
    let mut records = Records::new(reader);
    let mut out = LogRead::default();
    while let Some(r) = records.next_record() {
        if !out.routes.contains(&*r.route) {
            out.routes.insert(r.route.to_string());
        }
        if route.is_none_or(|name| &*r.route == name) {
            out.records.push(r);
        }
    }
    out.corrupt_lines = records.corrupt_lines;
    out.io_error = records.io_error;
    out
}

/// The records of one log, one at a time. Bad lines are counted, blank
/// lines ignored, a read error ends the log.
pub struct Records<R> {
    reader: R,
    line: Vec<u8>,
    overlong: bool,
    done: bool,
    pub corrupt_lines: u64,
    pub io_error: Option<String>,
}

/// What one line was.
pub enum Line {
    Record(Box<ShadowRecord>),
    Corrupt,
    Blank,
}

impl<R: BufRead> Records<R> {
    pub fn new(reader: R) -> Self {
        Records {
            reader,
            line: Vec::new(),
            overlong: false,
            done: false,
            corrupt_lines: 0,
            io_error: None,
        }
    }

    /// The next valid record, or `None` at the end.
    pub fn next_record(&mut self) -> Option<ShadowRecord> {
        loop {
            match self.next_line()? {
                Line::Record(r) => return Some(*r),
                Line::Corrupt => self.corrupt_lines += 1,
                Line::Blank => {}
            }
        }
    }

    fn next_line(&mut self) -> Option<Line> {
        while !self.done {
            let buf = match self.reader.fill_buf() {
                Ok(buf) => buf,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.io_error = Some(e.to_string());
                    self.done = true;
                    break;
                }
            };
            if buf.is_empty() {
                self.done = true;
                return Some(self.take_line());
            }
            let (chunk, used, ends) = match buf.iter().position(|&b| b == b'\n') {
                Some(i) => (&buf[..i], i + 1, true),
                None => (buf, buf.len(), false),
            };
            if self.line.len() + chunk.len() > MAX_LINE_BYTES {
                self.overlong = true;
            } else {
                self.line.extend_from_slice(chunk);
            }
            self.reader.consume(used);
            if ends {
                return Some(self.take_line());
            }
        }
        None
    }

    fn take_line(&mut self) -> Line {
        let (line, overlong) = (std::mem::take(&mut self.line), self.overlong);
        self.overlong = false;
        if !overlong && line.iter().all(u8::is_ascii_whitespace) {
            return Line::Blank;
        }
        let text = std::str::from_utf8(&line).ok().filter(|_| !overlong);
        match text.and_then(|l| ShadowRecord::from_json_line(l.trim()).ok()) {
            Some(r) => Line::Record(Box::new(r)),
            None => Line::Corrupt,
        }
    }
}

/// One log being merged: its reader and its window, earliest first.
struct Source<R> {
    records: Records<R>,
    window: BinaryHeap<Reverse<Keyed>>,
}

/// A record ordered by its time, then by arrival.
struct Keyed((i64, u32), u64, ShadowRecord);

impl PartialEq for Keyed {
    fn eq(&self, o: &Self) -> bool {
        (self.0, self.1) == (o.0, o.1)
    }
}
impl Eq for Keyed {}
impl PartialOrd for Keyed {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Keyed {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (self.0, self.1).cmp(&(o.0, o.1))
    }
}

/// What streaming the logs found.
#[derive(Default)]
pub struct Streamed {
    pub report: Report,
    /// Every route a valid record names (to say which exist).
    pub routes: BTreeSet<String>,
    /// Per log (in the order given): corrupt lines, and a read error.
    pub corrupt_lines: Vec<u64>,
    pub io_errors: Vec<Option<String>>,
    /// Records counted (after `route` and duplicates).
    pub counted: u64,
}

/// The report of `logs` merged in time order, for `route` (all: `None`);
/// `tick` is called every few thousand records (a progress bar).
pub fn report<R: BufRead>(logs: Vec<R>, route: Option<&str>, tick: impl FnMut()) -> Streamed {
    report_judged(logs, route, BTreeMap::new(), tick)
}

/// As [`report`], each route in `rules` judged by its own `shadow.ready`.
pub fn report_judged<R: BufRead>(
    logs: Vec<R>,
    route: Option<&str>,
    rules: BTreeMap<String, ReadyRule>,
    mut tick: impl FnMut(),
) -> Streamed {
    let mut sources: Vec<Source<R>> = logs
        .into_iter()
        .map(|r| Source {
            records: Records::new(r),
            window: BinaryHeap::new(),
        })
        .collect();
    let mut out = Streamed::default();
    let mut builder = ReportBuilder::with_rules(rules);
    let mut seq = 0u64;
    // Duplicates share their time: only the keys of the current time are kept.
    let mut current_ts = String::new();
    // A probe shares its comparison's request id: a key of its own.
    let mut seen_now: HashSet<(String, Arc<str>, bool)> = HashSet::new();
    loop {
        for s in &mut sources {
            while s.window.len() < WINDOW {
                let Some(r) = s.records.next_record() else {
                    break;
                };
                if !out.routes.contains(&*r.route) {
                    out.routes.insert(r.route.to_string());
                }
                seq += 1;
                s.window.push(Reverse(Keyed(r.ts_key(), seq, r)));
            }
        }
        let earliest = (sources.iter().enumerate())
            .filter_map(|(i, s)| s.window.peek().map(|Reverse(k)| ((k.0, k.1), i)))
            .min();
        let Some((_, i)) = earliest else { break };
        let Some(Reverse(Keyed(_, _, r))) = sources[i].window.pop() else {
            break;
        };
        if route.is_some_and(|name| &*r.route != name) {
            continue;
        }
        if r.ts != current_ts {
            current_ts.clone_from(&r.ts);
            seen_now.clear();
        }
        if !r.request_id.is_empty()
            && !seen_now.insert((
                r.request_id.clone(),
                Arc::clone(&r.route),
                r.outcome == Outcome::Probe,
            ))
        {
            continue;
        }
        builder.add(&r);
        out.counted += 1;
        if out.counted.is_multiple_of(4096) {
            tick();
        }
    }
    for s in sources {
        out.corrupt_lines.push(s.records.corrupt_lines);
        out.io_errors.push(s.records.io_error);
    }
    out.report = builder.report();
    out
}

#[cfg(test)]
#[path = "stream_tests.rs"]
mod tests;
