//! The gathering writer over a real TCP connection on 127.0.0.1: what the
//! peer can read after each write and flush. On loopback a write reaches
//! the peer's receive queue before the call returns, so "nothing to read
//! yet" is an exact check, not a wait. The peer is a plain std socket, read
//! by the kernel's word (tokio's would answer from its cached readiness).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use std::io::Read;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use super::*;

/// Counts its wake-ups.
struct Count(AtomicUsize);

impl Wake for Count {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// A connected pair: (the proxy's side, gathered; the client's side, blocking).
async fn pair() -> (Coalesce<TcpStream>, std::net::TcpStream) {
    let (proxy, client) = crate::server::tcp_pair().await;
    let peer = client.into_std().unwrap();
    peer.set_nonblocking(false).unwrap();
    (Coalesce::new(proxy), peer)
}

/// What the peer can read right now, without waiting.
fn read_now(mut peer: &std::net::TcpStream) -> Vec<u8> {
    peer.set_nonblocking(true).unwrap();
    let mut buf = vec![0u8; 256 * 1024];
    let mut n = 0;
    let n = loop {
        match peer.read(&mut buf[n..]) {
            Ok(0) => break n,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break n,
            Err(e) => panic!("reading the peer: {e}"),
        }
    };
    peer.set_nonblocking(false).unwrap();
    buf.truncate(n);
    buf
}

/// How many bytes the peer can read right now.
fn readable_now(peer: &std::net::TcpStream) -> usize {
    read_now(peer).len()
}

fn flush(io: &mut Coalesce<TcpStream>, cx: &mut Context<'_>) {
    match Pin::new(io).poll_flush(cx) {
        Poll::Ready(Ok(())) => {}
        other => panic!("flush: {other:?}"),
    }
}

#[tokio::test]
async fn two_answers_leave_in_one_write_at_the_flush_that_finds_nothing_new() {
    let (mut io, peer) = pair().await;
    let count = Arc::new(Count(AtomicUsize::new(0)));
    let waker = Waker::from(Arc::clone(&count));
    let mut cx = Context::from_waker(&waker);

    // The first stream's answer, then h2's flush: held, the task woken.
    let first = [IoSlice::new(b"HEAD-1"), IoSlice::new(&[b'a'; 1024])];
    assert!(matches!(
        Pin::new(&mut io).poll_write_vectored(&mut cx, &first),
        Poll::Ready(Ok(1030))
    ));
    flush(&mut io, &mut cx);
    assert_eq!(
        count.0.load(Ordering::SeqCst),
        1,
        "a held flush wakes the task"
    );
    assert_eq!(readable_now(&peer), 0, "held, not written");

    // A second stream answered meanwhile: it joins the first.
    assert!(matches!(
        Pin::new(&mut io).poll_write(&mut cx, b"HEAD-2 and its body"),
        Poll::Ready(Ok(19))
    ));
    flush(&mut io, &mut cx);
    assert_eq!(
        readable_now(&peer),
        0,
        "still held: that flush followed a write"
    );

    // The task runs again and has nothing new: both go out.
    flush(&mut io, &mut cx);
    assert_eq!(readable_now(&peer), 1030 + 19, "both answers, at once");
    assert_eq!(count.0.load(Ordering::SeqCst), 2);

    // Nothing buffered: a flush is the connection's own.
    flush(&mut io, &mut cx);
    assert_eq!(count.0.load(Ordering::SeqCst), 2, "no wake-up for nothing");
}

#[tokio::test]
async fn past_the_limit_it_writes_without_waiting_for_a_flush() {
    let (mut io, mut peer) = pair().await;
    let chunk = vec![b'x'; 10_000];
    let mut written = 0;
    while written + chunk.len() <= LIMIT {
        io.write_all(&chunk).await.unwrap();
        written += chunk.len();
    }
    assert_eq!(readable_now(&peer), 0, "under the limit: held");
    // The write that would overfill the buffer sends what was held first.
    io.write_all(&chunk).await.unwrap();
    assert_eq!(readable_now(&peer), written);
    io.flush().await.unwrap(); // held: it followed a write
    io.flush().await.unwrap(); // nothing new: out
    let mut got = vec![0u8; chunk.len()];
    peer.read_exact(&mut got).unwrap();
}

#[tokio::test]
async fn a_full_size_frame_passes_through_after_what_is_held() {
    let (mut io, mut peer) = pair().await;
    io.write_all(b"a small answer").await.unwrap();
    assert_eq!(readable_now(&peer), 0, "held");
    // A full-size DATA frame: frame head and 16 KiB of payload, gathered.
    let head = [0u8, 0x40, 0, 0, 0, 0, 0, 0, 3];
    let payload = vec![b'p'; 16 * 1024];
    let frame = [IoSlice::new(&head), IoSlice::new(&payload)];
    let n = io.write_vectored(&frame).await.unwrap();
    let mut got = read_now(&peer);
    assert_eq!(got.len(), 14 + n, "written at once, no flush needed");
    // Whatever the socket did not take: held, then out at the flushes.
    let all = [&head[..], &payload[..]].concat();
    io.write_all(&all[n..]).await.unwrap();
    io.flush().await.unwrap();
    io.flush().await.unwrap();
    got.resize(14 + all.len(), 0);
    peer.read_exact(&mut got[14 + n..]).unwrap();
    assert_eq!(&got[..14], b"a small answer", "what was held goes first");
    assert_eq!(&got[14..23], &head);
    assert!(got[23..].iter().all(|&b| b == b'p'));
}

#[tokio::test]
async fn a_shutdown_writes_what_is_held_first() {
    let (mut io, mut peer) = pair().await;
    io.write_all(b"GOAWAY frame").await.unwrap();
    io.shutdown().await.unwrap();
    let mut got = Vec::new();
    peer.read_to_end(&mut got).unwrap();
    assert_eq!(got, b"GOAWAY frame");
}

#[tokio::test]
async fn a_written_batch_leaves_no_buffer_behind() {
    let (mut io, mut peer) = pair().await;
    io.write_all(&vec![b'z'; LIMIT - 1]).await.unwrap();
    io.flush().await.unwrap();
    io.flush().await.unwrap();
    assert_eq!(io.buffered(), 0);
    assert_eq!(io.buf.capacity(), 0, "an idle connection holds no buffer");
    let mut got = vec![0u8; LIMIT - 1];
    peer.read_exact(&mut got).unwrap();
}
