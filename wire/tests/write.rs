//! The response writer onto an in-memory sink: a sized body, a streamed
//! (chunked) one, HEAD and 204 answers, HTTP/1.0, added fields, and a body
//! that breaks its declared length.

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Response, StatusCode, Version};
use http_body::{Body, Frame};
use http_body_util::BodyExt;
use strangler_wire::body::{empty, full, BodyError, BoxError, BoxedBody};
use strangler_wire::write::{write_response, How};

/// A body of these pieces, its size unknown.
struct Pieces(VecDeque<&'static str>);

impl Body for Pieces {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        Poll::Ready(self.0.pop_front().map(|p| Ok(Frame::data(Bytes::from(p)))))
    }
}

fn streamed(pieces: &[&'static str]) -> BoxedBody {
    Pieces(pieces.iter().copied().collect()).boxed()
}

/// What `write_response` writes, and whether it keeps the connection.
async fn written(resp: Response<BoxedBody>, is_head: bool, version: Version) -> (String, bool) {
    let mut out = Vec::new();
    let id = HeaderName::from_static("x-request-id");
    let added = [(&id, HeaderValue::from_static("abc"))];
    let reuse = write_response(
        &mut out,
        resp,
        None,
        &[&added],
        How {
            is_head,
            version,
            close: false,
        },
    )
    .await
    .unwrap();
    (String::from_utf8(out).unwrap(), reuse)
}

#[tokio::test]
async fn a_sized_body_goes_out_with_its_length() {
    let mut resp = Response::new(full("hello"));
    resp.headers_mut()
        .insert("x-request-id", HeaderValue::from_static("replaced"));
    let (out, reuse) = written(resp, false, Version::HTTP_11).await;
    assert_eq!(
        out,
        "HTTP/1.1 200 OK\r\nx-request-id: abc\r\ncontent-length: 5\r\n\r\nhello"
    );
    assert!(reuse);
}

#[tokio::test]
async fn a_streamed_body_is_chunked() {
    let (out, reuse) = written(
        Response::new(streamed(&["ab", "", "cde"])),
        false,
        Version::HTTP_11,
    )
    .await;
    assert_eq!(
        out,
        "HTTP/1.1 200 OK\r\nx-request-id: abc\r\ntransfer-encoding: chunked\r\n\r\n\
         2\r\nab\r\n3\r\ncde\r\n0\r\n\r\n"
    );
    assert!(reuse);
}

#[tokio::test]
async fn an_http_1_0_client_gets_a_streamed_body_until_close() {
    let (out, reuse) = written(
        Response::new(streamed(&["ab", "c"])),
        false,
        Version::HTTP_10,
    )
    .await;
    assert_eq!(
        out,
        "HTTP/1.1 200 OK\r\nx-request-id: abc\r\nconnection: close\r\n\r\nabc"
    );
    assert!(!reuse);
}

#[tokio::test]
async fn head_and_204_answers_carry_no_body() {
    // A HEAD answer keeps the Content-Length field of the body it does not send.
    let mut resp = Response::new(full("hello"));
    resp.headers_mut()
        .insert("content-length", HeaderValue::from_static("5"));
    let (out, _) = written(resp, true, Version::HTTP_11).await;
    assert_eq!(
        out,
        "HTTP/1.1 200 OK\r\ncontent-length: 5\r\nx-request-id: abc\r\n\r\n"
    );
    let mut resp = Response::new(empty());
    *resp.status_mut() = StatusCode::NO_CONTENT;
    let (out, _) = written(resp, false, Version::HTTP_11).await;
    assert_eq!(out, "HTTP/1.1 204 No Content\r\nx-request-id: abc\r\n\r\n");
}

#[tokio::test]
async fn connection_close_in_the_response_ends_the_connection() {
    let mut resp = Response::new(full("x"));
    resp.headers_mut()
        .insert("connection", HeaderValue::from_static("close"));
    let (out, reuse) = written(resp, false, Version::HTTP_11).await;
    assert!(out.contains("connection: close\r\n"), "{out}");
    assert!(!reuse);
}

#[tokio::test]
async fn the_body_s_own_size_wins_over_a_stale_content_length() {
    let mut resp = Response::new(full("x"));
    resp.headers_mut()
        .insert("content-length", HeaderValue::from_static("10"));
    let (out, _) = written(resp, false, Version::HTTP_11).await;
    assert!(out.contains("content-length: 1\r\n"), "{out}");
    assert!(!out.contains("10"), "{out}");
}

/// One piece, then a failure.
struct Broken(bool);

impl Body for Broken {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if std::mem::replace(&mut self.0, true) {
            Poll::Ready(Some(Err(Box::new(BodyError::Cut))))
        } else {
            Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(b"part")))))
        }
    }
}

#[tokio::test]
async fn a_body_that_fails_fails_the_write() {
    let mut out = Vec::new();
    let resp = Response::new(Broken(false).boxed());
    let got = write_response(
        &mut out,
        resp,
        None,
        &[],
        How {
            is_head: false,
            version: Version::HTTP_11,
            close: false,
        },
    )
    .await;
    let e = got.unwrap_err();
    assert!(
        e.get_ref()
            .is_some_and(|e| e.to_string().contains("ended early")),
        "{e}"
    );
}

/// A sink that takes at most `max` bytes a write, from several buffers at
/// once when `gathers` (as a socket's `writev` may stop anywhere).
struct Trickle {
    out: Vec<u8>,
    max: usize,
    gathers: bool,
}

impl tokio::io::AsyncWrite for Trickle {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let n = buf.len().min(self.max);
        self.out.extend_from_slice(&buf[..n]);
        Poll::Ready(Ok(n))
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        if !self.gathers {
            let first = bufs.iter().find(|b| !b.is_empty()).map_or(&[][..], |b| b);
            return self.poll_write(cx, first);
        }
        let mut n = 0;
        for b in bufs {
            let take = b.len().min(self.max - n);
            self.out.extend_from_slice(&b[..take]);
            n += take;
            if n == self.max {
                break;
            }
        }
        Poll::Ready(Ok(n))
    }

    fn is_write_vectored(&self) -> bool {
        self.gathers
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// A body of `pieces` that declares its length, and is not ready once
/// before each piece after the first when `waits` (the writer then sends
/// what it gathered before waiting).
struct Declared {
    pieces: VecDeque<&'static str>,
    len: u64,
    waits: bool,
    ready: bool,
}

impl Body for Declared {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if self.waits && !std::mem::replace(&mut self.ready, false) {
            self.ready = true;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        let piece = self.pieces.pop_front();
        if let Some(p) = piece {
            self.len -= p.len() as u64;
        }
        Poll::Ready(piece.map(|p| Ok(Frame::data(Bytes::from(p)))))
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::SizeHint::with_exact(self.len)
    }
}

#[tokio::test]
async fn writes_that_take_a_few_bytes_at_a_time_lose_nothing() {
    const HEAD: &str = "HTTP/1.1 200 OK\r\nx-request-id: abc\r\ncontent-length: 11\r\n\r\n";
    for pieces in [
        &["hello world"][..],
        &["hello", " ", "world"],
        &["", "hello world"],
    ] {
        for waits in [false, true] {
            for (max, gathers) in [(3, true), (3, false), (1, true), (64, true), (70, true)] {
                let body = Declared {
                    pieces: pieces.iter().copied().collect(),
                    len: 11,
                    waits,
                    ready: true,
                };
                let mut sink = Trickle {
                    out: Vec::new(),
                    max,
                    gathers,
                };
                let id = HeaderName::from_static("x-request-id");
                let added = [(&id, HeaderValue::from_static("abc"))];
                let how = How {
                    is_head: false,
                    version: Version::HTTP_11,
                    close: false,
                };
                let reuse =
                    write_response(&mut sink, Response::new(body.boxed()), None, &[&added], how)
                        .await
                        .unwrap();
                let got = String::from_utf8(sink.out).unwrap();
                let case = format!("{pieces:?} waits={waits} max={max} gathers={gathers}");
                assert_eq!(got, format!("{HEAD}hello world"), "{case}");
                assert!(reuse, "{case}");
            }
        }
    }
}
