//! `compare.ignore` patterns: RFC 6901 JSON Pointers in which a `*` segment
//! matches any one segment. Pure; used by the config validator (so a bad
//! pattern is reported at its line) and by the comparison.

/// A validated `compare.ignore` entry: an RFC 6901 pointer in which a `*` segment matches
/// any one segment (object key or array index).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PointerPattern {
    source: String,
    /// Segments kept escaped (`~0`, `~1`), so they compare directly with escaped pointers;
    /// `None` is `*`.
    segments: Vec<Option<String>>,
}

impl PointerPattern {
    /// The pattern as written in the config.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// True when `pointer` (an escaped RFC 6901 pointer) is exactly what this pattern names.
    /// Subtrees are skipped by the walk, which never descends below a matching node.
    pub fn matches(&self, pointer: &str) -> bool {
        if pointer.is_empty() {
            return self.segments.is_empty();
        }
        let Some(rest) = pointer.strip_prefix('/') else {
            return false;
        };
        let mut parts = rest.split('/');
        for seg in &self.segments {
            match (parts.next(), seg) {
                (None, _) => return false,
                (Some(_), None) => {}
                (Some(p), Some(s)) if p == s => {}
                (Some(_), Some(_)) => return false,
            }
        }
        parts.next().is_none()
    }
}

/// Parses a `compare.ignore` entry. It must be empty (the whole body) or start with `/`,
/// and `~` may only appear as `~0` or `~1`.
pub fn parse_pointer_pattern(s: &str) -> Result<PointerPattern, String> {
    if s.is_empty() {
        return Ok(PointerPattern {
            source: String::new(),
            segments: Vec::new(),
        });
    }
    let Some(rest) = s.strip_prefix('/') else {
        return Err(format!(
            "invalid JSON pointer {s:?}: must start with '/' (e.g. \"/{s}\"), or be \"\" for the whole body"
        ));
    };
    let mut segments = Vec::new();
    for seg in rest.split('/') {
        let mut chars = seg.chars();
        while let Some(c) = chars.next() {
            if c == '~' && !matches!(chars.next(), Some('0' | '1')) {
                return Err(format!(
                    "invalid JSON pointer {s:?}: '~' must be followed by 0 or 1 (write ~0 for '~', ~1 for '/')"
                ));
            }
        }
        segments.push(if seg == "*" {
            None
        } else {
            Some(seg.to_string())
        });
    }
    Ok(PointerPattern {
        source: s.to_string(),
        segments,
    })
}

/// Escapes one object key for use as a pointer segment (RFC 6901: `~` → `~0`, `/` → `~1`).
pub fn escape_segment(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}
