//! Arrays under an `unordered` rule, paired before they are compared.
//!
//! - `unordered: { key: /id }`: an element is paired with the shadow's
//!   element of the same key (the value at `/id` within each, compared as
//!   numbers by value, objects by content); the pairs are compared as usual
//!   at the primary's index; an element whose key the other side lacks is
//!   `removed` (primary only) or `added` (shadow only).
//! - `unordered: true` (multisets): equal elements pair first (by a
//!   canonical text: keys sorted, numbers by value); the leftovers pair with
//!   a leftover that compares equal under the route's rules (a tolerance, a
//!   format, an ignored field inside; at most [`FUZZY_PAIRS`] tries); what
//!   still differs pairs in order, to show where, and the rest is
//!   `removed`/`added`.

use std::collections::{HashMap, VecDeque};

use serde_json::Value;

use super::comparison::{Comparison, DiffKind};
use super::rules::Unordered;
use super::structure::{diff_at, int, Walk};

/// Leftover pairs (primary × shadow) tried under the rules, at most.
pub const FUZZY_PAIRS: usize = 1024;

impl<'v> Walk<'v, '_> {
    pub(super) fn unordered(
        &mut self,
        at: &str,
        (x, y): (&'v [Value], &'v [Value]),
        depth: usize,
        how: &Unordered,
    ) {
        let key = |v: &Value| match how {
            Unordered::ByKey(k) => v.pointer(k).map(canonical).unwrap_or_default(),
            Unordered::Multiset => canonical(v),
        };
        let mut by_key: HashMap<String, VecDeque<usize>> = HashMap::new();
        for (j, v) in y.iter().enumerate() {
            by_key.entry(key(v)).or_default().push_back(j);
        }
        let (mut pairs, mut left_x) = (Vec::new(), Vec::new());
        for (i, v) in x.iter().enumerate() {
            match by_key.get_mut(&key(v)).and_then(VecDeque::pop_front) {
                Some(j) => pairs.push((i, j)),
                None => left_x.push(i),
            }
        }
        let mut left_y: Vec<usize> = by_key.into_values().flatten().collect();
        left_y.sort_unstable();
        if matches!(how, Unordered::Multiset) {
            // Equal by canonical text: nothing to compare.
            pairs.clear();
            self.fuzzy_pairs(at, (x, y), depth, &mut left_x, &mut left_y);
            let n = left_x.len().min(left_y.len());
            pairs.extend(left_x.drain(..n).zip(left_y.drain(..n)));
        }
        for &i in &left_x {
            if !self.one_sided(format!("{at}/{i}"), DiffKind::Removed, &x[i]) {
                return;
            }
        }
        for &j in &left_y {
            if !self.one_sided(format!("{at}/{j}"), DiffKind::Added, &y[j]) {
                return;
            }
        }
        for (i, j) in pairs.into_iter().rev() {
            self.stack
                .push((format!("{at}/{i}"), &x[i], &y[j], depth + 1));
        }
    }

    /// Removes from the leftovers the pairs equal under the rules.
    fn fuzzy_pairs(
        &mut self,
        at: &str,
        (x, y): (&'v [Value], &'v [Value]),
        depth: usize,
        left_x: &mut Vec<usize>,
        left_y: &mut Vec<usize>,
    ) {
        if !self.fuzzy || left_x.len().saturating_mul(left_y.len()) > FUZZY_PAIRS {
            return;
        }
        left_x.retain(|&i| {
            let found = left_y.iter().position(|&j| {
                let mut c = Comparison::default();
                let pointer = format!("{at}/{i}");
                diff_at(pointer, depth + 1, (&x[i], &y[j]), self.spec, &mut c, false);
                c.is_match()
            });
            match found {
                Some(k) => {
                    left_y.remove(k);
                    false
                }
                None => true,
            }
        });
    }
}

/// A value as text that is equal exactly for structurally equal values:
/// object keys sorted, integers (and integral floats) as integers.
/// Iterative, whatever the nesting.
pub fn canonical(v: &Value) -> String {
    enum Tok<'a> {
        Val(&'a Value),
        Key(&'a str),
        Lit(&'static str),
    }
    let mut out = String::new();
    let mut stack = vec![Tok::Val(v)];
    while let Some(t) = stack.pop() {
        match t {
            Tok::Lit(s) => out.push_str(s),
            Tok::Key(k) => {
                out.push_str(&Value::from(k).to_string());
                out.push(':');
            }
            Tok::Val(Value::Array(a)) => {
                out.push('[');
                stack.push(Tok::Lit("]"));
                for (i, e) in a.iter().enumerate().rev() {
                    stack.push(Tok::Val(e));
                    if i > 0 {
                        stack.push(Tok::Lit(","));
                    }
                }
            }
            Tok::Val(Value::Object(o)) => {
                out.push('{');
                stack.push(Tok::Lit("}"));
                let mut fields: Vec<(&String, &Value)> = o.iter().collect();
                fields.sort_by(|a, b| a.0.cmp(b.0));
                for (i, (k, e)) in fields.into_iter().enumerate().rev() {
                    stack.push(Tok::Val(e));
                    stack.push(Tok::Key(k));
                    if i > 0 {
                        stack.push(Tok::Lit(","));
                    }
                }
            }
            Tok::Val(Value::Number(n)) => match int(n) {
                Some(i) => out.push_str(&i.to_string()),
                None => out.push_str(&format!("{:?}", n.as_f64().unwrap_or(f64::NAN))),
            },
            Tok::Val(other) => out.push_str(&other.to_string()),
        }
    }
    out
}
