//! Path normalization, before routing: the normalized path is both what the
//! route table sees and what is forwarded, so that a route can never be
//! matched on one spelling of a path and the upstream handed another.
//!
//! - percent-encoded unreserved characters (`A-Z a-z 0-9 - . _ ~`) are decoded,
//!   other escapes are kept with upper-case hex;
//! - dot-segments (`.`, `..`, also spelled `%2e`) are removed (RFC 3986 §5.2.4);
//! - a path that climbs above `/`, holds an encoded `/` (`%2F`), a `\` (raw or
//!   `%5C`), an encoded NUL (`%00`), or a broken escape is rejected.

use std::borrow::Cow;

/// Why a path was rejected (the proxy answers 400 `bad_request`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathError {
    NotAbsolute,
    ClimbsAboveRoot,
    EncodedSlash,
    Backslash,
    EncodedNul,
    BadEscape,
}

impl PathError {
    pub fn message(self) -> &'static str {
        match self {
            PathError::NotAbsolute => "the request path must start with `/`",
            PathError::ClimbsAboveRoot => "the request path climbs above `/`",
            PathError::EncodedSlash => "the request path holds an encoded `/` (%2F)",
            PathError::Backslash => "the request path holds a `\\`",
            PathError::EncodedNul => "the request path holds an encoded NUL (%00)",
            PathError::BadEscape => "the request path holds a malformed percent-escape",
        }
    }
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// Normalize `path` (no query). Borrows when nothing needs to change.
pub fn normalize(path: &str) -> Result<Cow<'_, str>, PathError> {
    if !path.starts_with('/') {
        return Err(PathError::NotAbsolute);
    }
    let bytes = path.as_bytes();
    // One pass: most paths have no `\`, no escape and no dot at all.
    let (mut has_escape, mut has_dot) = (false, false);
    for &b in bytes {
        match b {
            b'\\' => return Err(PathError::Backslash),
            b'%' => has_escape = true,
            b'.' => has_dot = true,
            _ => {}
        }
    }
    if !(has_escape || has_dot && has_dot_segment(path)) {
        return Ok(Cow::Borrowed(path));
    }
    let decoded = if has_escape {
        Cow::Owned(decode_unreserved(bytes)?)
    } else {
        Cow::Borrowed(path)
    };
    remove_dot_segments(&decoded).map(Cow::Owned)
}

/// Whether any segment is `.` or `..` (raw; escapes are decoded first).
fn has_dot_segment(path: &str) -> bool {
    path.split('/').any(|s| s == "." || s == "..")
}

fn decode_unreserved(bytes: &[u8]) -> Result<String, PathError> {
    let mut out = String::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b != b'%' {
            out.push(b as char);
            i += 1;
            continue;
        }
        let (hi, lo) = match (
            bytes.get(i + 1).and_then(|b| hex(*b)),
            bytes.get(i + 2).and_then(|b| hex(*b)),
        ) {
            (Some(hi), Some(lo)) => (hi, lo),
            _ => return Err(PathError::BadEscape),
        };
        let c = hi << 4 | lo;
        match c {
            b'/' => return Err(PathError::EncodedSlash),
            b'\\' => return Err(PathError::Backslash),
            0 => return Err(PathError::EncodedNul),
            c if unreserved(c) => out.push(c as char),
            c => {
                out.push('%');
                out.push(char::from(b"0123456789ABCDEF"[usize::from(c >> 4)]));
                out.push(char::from(b"0123456789ABCDEF"[usize::from(c & 15)]));
            }
        }
        i += 3;
    }
    Ok(out)
}

fn remove_dot_segments(path: &str) -> Result<String, PathError> {
    let mut stack: Vec<&str> = Vec::new();
    let mut segments = path[1..].split('/').peekable();
    let mut trailing_slash = false;
    while let Some(seg) = segments.next() {
        let last = segments.peek().is_none();
        match seg {
            "." => trailing_slash = last,
            ".." => {
                if stack.pop().is_none() {
                    return Err(PathError::ClimbsAboveRoot);
                }
                trailing_slash = last;
            }
            s => {
                stack.push(s);
                trailing_slash = false;
            }
        }
    }
    let mut out = String::with_capacity(path.len());
    for s in &stack {
        out.push('/');
        out.push_str(s);
    }
    if trailing_slash || out.is_empty() {
        out.push('/');
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(p: &str) -> String {
        normalize(p)
            .map(|c| c.into_owned())
            .unwrap_or_else(|e| panic!("{p}: {e:?}"))
    }

    #[test]
    fn plain_paths_are_borrowed() {
        assert!(matches!(
            normalize("/orders/7"),
            Ok(Cow::Borrowed("/orders/7"))
        ));
        assert_eq!(ok("/"), "/");
        assert_eq!(ok("/orders/"), "/orders/");
        assert_eq!(ok("/a//b"), "/a//b");
    }

    #[test]
    fn dot_segments_are_removed() {
        assert_eq!(ok("/orders/../admin"), "/admin");
        assert_eq!(ok("/orders/./7"), "/orders/7");
        assert_eq!(ok("/orders/7/."), "/orders/7/");
        assert_eq!(ok("/a/b/.."), "/a/");
        assert_eq!(ok("/a/.."), "/");
        assert_eq!(ok("/.hidden/..x"), "/.hidden/..x");
    }

    #[test]
    fn encoded_dots_are_decoded_then_removed() {
        assert_eq!(ok("/orders/%2e%2e/admin"), "/admin");
        assert_eq!(ok("/orders/%2E/7"), "/orders/7");
        assert_eq!(ok("/%6Frders/1"), "/orders/1");
        assert_eq!(ok("/a%7eb"), "/a~b");
    }

    #[test]
    fn other_escapes_are_kept_uppercased() {
        assert_eq!(ok("/search/a%20b"), "/search/a%20b");
        assert_eq!(ok("/x%3fy"), "/x%3Fy");
        assert_eq!(ok("/caf%c3%a9"), "/caf%C3%A9");
    }

    #[test]
    fn attacks_are_rejected() {
        assert_eq!(normalize("/.."), Err(PathError::ClimbsAboveRoot));
        assert_eq!(
            normalize("/a/../../etc/passwd"),
            Err(PathError::ClimbsAboveRoot)
        );
        assert_eq!(normalize("/%2e%2e/etc"), Err(PathError::ClimbsAboveRoot));
        assert_eq!(
            normalize("/orders%2F..%2Fadmin"),
            Err(PathError::EncodedSlash)
        );
        assert_eq!(normalize("/orders%2f7"), Err(PathError::EncodedSlash));
        assert_eq!(normalize("/orders\\..\\admin"), Err(PathError::Backslash));
        assert_eq!(normalize("/orders%5c7"), Err(PathError::Backslash));
        assert_eq!(normalize("/a%00b"), Err(PathError::EncodedNul));
        assert_eq!(normalize("/a%zz"), Err(PathError::BadEscape));
        assert_eq!(normalize("/a%4"), Err(PathError::BadEscape));
        assert_eq!(normalize("orders"), Err(PathError::NotAbsolute));
        assert_eq!(normalize("*"), Err(PathError::NotAbsolute));
    }
}
