//! The body types of the wire, shared with whoever handles its requests:
//!
//! - [`BoxError`], and [`BoxedBody`]: the one body type of every response
//!   written and every request sent upstream ([`full`], [`empty`]);
//! - [`BodyError`]: why a body stopped (too large, idle, malformed, cut),
//!   found again in an error's source chain by [`find_body_error`];
//! - [`Frames`]: a body kept as the frames it came in, joined once.

use bytes::Bytes;
use http_body_util::{combinators::BoxBody, BodyExt, Empty, Full};

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// The body type of every response the wire writes and request it sends.
pub type BoxedBody = BoxBody<Bytes, BoxError>;

/// A body of these bytes.
pub fn full(b: impl Into<Bytes>) -> BoxedBody {
    Full::new(b.into()).map_err(|never| match never {}).boxed()
}

/// A body of nothing.
pub fn empty() -> BoxedBody {
    Empty::new().map_err(|never| match never {}).boxed()
}

/// Why a body stopped. For a request body these are all the client's
/// doing: none of them says anything about an upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyError {
    /// Over its size limit.
    TooLarge,
    /// No progress for the idle timeout.
    Idle,
    /// Its framing is broken (a chunk size `zz`, say): the sender's fault.
    Malformed(&'static str),
    /// It ended early: the connection closed, or the stream was reset.
    Cut,
}

impl std::fmt::Display for BodyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            BodyError::TooLarge => "body exceeds the configured limit",
            BodyError::Idle => "body stalled past the idle timeout",
            BodyError::Malformed(why) => why,
            BodyError::Cut => "body ended early: the connection closed or the stream was reset",
        })
    }
}

impl std::error::Error for BodyError {}

/// Find a [`BodyError`] anywhere in an error's source chain.
pub fn find_body_error(e: &(dyn std::error::Error + 'static)) -> Option<BodyError> {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if let Some(b) = err.downcast_ref::<BodyError>() {
            return Some(*b);
        }
        cur = err.source();
    }
    None
}

/// A body kept as the frames it came in (shared, not copied), joined once
/// at the end. Most bodies are one frame: that one is kept without a list.
#[derive(Default)]
pub struct Frames {
    first: Option<Bytes>,
    more: Vec<Bytes>,
}

impl Frames {
    pub fn push(&mut self, frame: Bytes) {
        match self.first {
            None => self.first = Some(frame),
            Some(_) => self.more.push(frame),
        }
    }

    pub fn clear(&mut self) {
        self.first = None;
        self.more.clear();
    }

    /// The whole body: the one frame as it is, several joined.
    pub fn take(&mut self) -> Bytes {
        match (self.first.take(), self.more.is_empty()) {
            (None, _) => Bytes::new(),
            (Some(one), true) => one,
            (Some(one), false) => {
                self.more.insert(0, one);
                std::mem::take(&mut self.more).concat().into()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_keep_one_as_it_is_and_join_several() {
        let mut f = Frames::default();
        assert_eq!(f.take(), Bytes::new());
        let one = Bytes::from_static(b"abc");
        f.push(one.clone());
        let got = f.take();
        assert_eq!(got.as_ptr(), one.as_ptr(), "one frame is not copied");
        for part in ["a", "b", "c"] {
            f.push(Bytes::from(part));
        }
        assert_eq!(f.take(), "abc");
        assert_eq!(f.take(), Bytes::new(), "taken: empty again");
        f.push(Bytes::from("x"));
        f.push(Bytes::from("y"));
        f.clear();
        assert_eq!(f.take(), Bytes::new());
    }

    #[test]
    fn a_body_error_is_found_in_a_source_chain() {
        #[derive(Debug)]
        struct Outer(BodyError);
        impl std::fmt::Display for Outer {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "outer: {}", self.0)
            }
        }
        impl std::error::Error for Outer {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        let e = Outer(BodyError::Malformed("bad chunk"));
        assert_eq!(find_body_error(&e), Some(BodyError::Malformed("bad chunk")));
        let io = std::io::Error::other("plain");
        assert_eq!(find_body_error(&io), None);
    }
}
