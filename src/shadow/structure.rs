//! Structural comparison of two JSON values, for [`super::diff::compare`]:
//! key order ignored, numbers by value (`10` == `10.0`, integers exactly),
//! arrays by position, pointers in `compare.ignore` skipped with their
//! subtree, and `compare.rules` applied where they hold: numbers within a
//! tolerance, strings of a format, arrays in any order (paired in
//! `unordered`). The walk is iterative and stops descending at
//! [`MAX_DEPTH`] (deeper subtrees are compared whole, also iteratively); it
//! stops recording at the comparison's diff cap.

use serde_json::{Map, Number, Value};

use super::comparison::{CompareSpec, Comparison, Diff, DiffKind, MAX_DEPTH};
use super::rules::{close, holds, RuleKind};
use crate::pointer::escape_segment;

/// Walks two JSON values and appends their differences to `out` (iteratively: no
/// recursion, whatever the nesting).
pub fn diff_values(primary: &Value, shadow: &Value, spec: &CompareSpec, out: &mut Comparison) {
    diff_at(String::new(), 0, (primary, shadow), spec, out, true);
}

/// As [`diff_values`], from `pointer` at `depth`; `fuzzy`: unordered
/// arrays may pair their leftover elements by a comparison of their own.
pub(super) fn diff_at(
    pointer: String,
    depth: usize,
    (primary, shadow): (&Value, &Value),
    spec: &CompareSpec,
    out: &mut Comparison,
    fuzzy: bool,
) {
    let mut walk = Walk {
        spec,
        out,
        stack: vec![(pointer, primary, shadow, depth)],
        fuzzy,
    };
    while let Some((pointer, a, b, depth)) = walk.stack.pop() {
        if walk.out.truncated || spec.ignored(&pointer) {
            continue;
        }
        if let Some(rule) = spec.rules.at(&pointer) {
            if walk.ruled(rule, &pointer, (a, b), depth) {
                continue;
            }
        }
        match (a, b) {
            (Value::Object(x), Value::Object(y)) if depth < MAX_DEPTH => {
                walk.object(&pointer, x, y, depth)
            }
            (Value::Array(x), Value::Array(y)) if depth < MAX_DEPTH => {
                walk.array(&pointer, x, y, depth)
            }
            _ if type_name(a) != type_name(b) => {
                walk.out
                    .push(Diff::new(pointer, DiffKind::Type, Some(a), Some(b)));
            }
            _ if !deep_equal(a, b) => {
                walk.out
                    .push(Diff::new(pointer, DiffKind::Changed, Some(a), Some(b)));
            }
            _ => {}
        }
    }
}

/// The walk's state: pairs still to visit, as (pointer, primary, shadow, depth).
pub(super) struct Walk<'v, 'o> {
    pub spec: &'o CompareSpec,
    pub out: &'o mut Comparison,
    pub stack: Vec<(String, &'v Value, &'v Value, usize)>,
    pub fuzzy: bool,
}

impl<'v> Walk<'v, '_> {
    /// Applies the rule at `pointer`; false when it does not decide (the
    /// values are not what it is about), and the usual comparison goes on.
    fn ruled(
        &mut self,
        rule: &RuleKind,
        pointer: &str,
        (a, b): (&'v Value, &'v Value),
        depth: usize,
    ) -> bool {
        match (rule, a, b) {
            (RuleKind::Numeric(t), Value::Number(x), Value::Number(y)) => {
                let near = numbers_equal(x, y)
                    || matches!((x.as_f64(), y.as_f64()), (Some(x), Some(y)) if close(x, y, t));
                if !near {
                    let diff = Diff::new(pointer.to_string(), DiffKind::Changed, Some(a), Some(b));
                    self.out.push(diff);
                }
                true
            }
            (RuleKind::Format(f), _, _) => holds(*f, a) && holds(*f, b),
            (RuleKind::Unordered(how), Value::Array(x), Value::Array(y)) if depth < MAX_DEPTH => {
                self.unordered(pointer, (x, y), depth, how);
                true
            }
            _ => false,
        }
    }

    /// Reports a key or index present on one side only, unless ignored.
    pub(super) fn one_sided(&mut self, pointer: String, kind: DiffKind, v: &Value) -> bool {
        if self.spec.ignored(&pointer) {
            return true;
        }
        let (p, s) = if kind == DiffKind::Removed {
            (Some(v), None)
        } else {
            (None, Some(v))
        };
        self.out.push(Diff::new(pointer, kind, p, s))
    }

    fn object(
        &mut self,
        at: &str,
        x: &'v Map<String, Value>,
        y: &'v Map<String, Value>,
        depth: usize,
    ) {
        let mut children = Vec::new();
        for (k, va) in x {
            let child = format!("{at}/{}", escape_segment(k));
            match y.get(k) {
                Some(vb) => children.push((child, va, vb, depth + 1)),
                None if !self.one_sided(child, DiffKind::Removed, va) => return,
                None => {}
            }
        }
        for (k, vb) in y.iter().filter(|(k, _)| !x.contains_key(*k)) {
            if !self.one_sided(format!("{at}/{}", escape_segment(k)), DiffKind::Added, vb) {
                return;
            }
        }
        self.stack.extend(children.into_iter().rev());
    }

    fn array(&mut self, at: &str, x: &'v [Value], y: &'v [Value], depth: usize) {
        let common = x.len().min(y.len());
        for (i, v) in x.iter().enumerate().skip(common) {
            if !self.one_sided(format!("{at}/{i}"), DiffKind::Removed, v) {
                return;
            }
        }
        for (i, v) in y.iter().enumerate().skip(common) {
            if !self.one_sided(format!("{at}/{i}"), DiffKind::Added, v) {
                return;
            }
        }
        for i in (0..common).rev() {
            self.stack
                .push((format!("{at}/{i}"), &x[i], &y[i], depth + 1));
        }
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// A number as an integer, when it is one (integral floats too).
pub(super) fn int(n: &Number) -> Option<i128> {
    if let Some(i) = n.as_i64() {
        return Some(i128::from(i));
    }
    if let Some(u) = n.as_u64() {
        return Some(i128::from(u));
    }
    let f = n.as_f64()?;
    (f.is_finite() && f.fract() == 0.0 && f.abs() < 1e38).then_some(f as i128)
}

/// Numbers by value: integers (and integral floats) exactly as i128, others as f64.
pub fn numbers_equal(a: &Number, b: &Number) -> bool {
    match (int(a), int(b)) {
        (Some(x), Some(y)) => x == y,
        (None, None) => a.as_f64() == b.as_f64(),
        _ => false,
    }
}

/// Structural equality (numbers by value, key order ignored), without recursion.
fn deep_equal(a: &Value, b: &Value) -> bool {
    let mut stack = vec![(a, b)];
    while let Some((a, b)) = stack.pop() {
        match (a, b) {
            (Value::Number(x), Value::Number(y)) if !numbers_equal(x, y) => return false,
            (Value::Number(_), Value::Number(_)) => {}
            (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
                stack.extend(x.iter().zip(y))
            }
            (Value::Object(x), Value::Object(y)) if x.len() == y.len() => {
                for (k, v) in x {
                    match y.get(k) {
                        Some(w) => stack.push((v, w)),
                        None => return false,
                    }
                }
            }
            (Value::Array(_) | Value::Object(_), _) => return false,
            _ if a != b => return false,
            _ => {}
        }
    }
    true
}
