//! One HTTP/2 connection's answers, gathered into one write.
//!
//! h2 writes every DATA frame of 256 bytes or more on its own (its frame
//! head and payload gathered) and flushes before the next: ten streams
//! answered in one turn of the runtime were ten `writev`s to one client,
//! each waking it. [`Coalesce`] takes h2's writes into a buffer. A flush
//! that follows new writes only schedules the connection's task again and
//! leaves them buffered, so that the answers of the streams that finish
//! meanwhile join them; the next flush that finds nothing new (h2 flushes
//! every time it runs out of work) writes the buffer out in one call.
//!
//! Bounded: past [`LIMIT`] buffered bytes a write or flush goes out at
//! once; a write of [`PASS`] or more (a full-size DATA frame: a large
//! answer's body) passes straight through, after what is buffered, not
//! copied; a shutdown writes what is buffered first. A deferred flush always
//! wakes the task, so nothing buffered waits for the peer. The buffer is
//! freed once written: an idle connection holds none.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Bytes gathered before they go out regardless (two TLS records' worth).
pub(super) const LIMIT: usize = 32 * 1024;

/// A write this large goes straight through: h2 hands over a full-size
/// DATA frame (16 KiB of payload) with its head in one gathering write.
pub(super) const PASS: usize = 16 * 1024;

pub(super) struct Coalesce<T> {
    inner: T,
    buf: Vec<u8>,
    /// Of `buf`, the bytes already written (a partial write).
    sent: usize,
    /// Writes since the last flush.
    fresh: bool,
}

impl<T> Coalesce<T> {
    pub(super) fn new(inner: T) -> Self {
        Coalesce {
            inner,
            buf: Vec::new(),
            sent: 0,
            fresh: false,
        }
    }

    fn buffered(&self) -> usize {
        self.buf.len() - self.sent
    }
}

impl<T: AsyncWrite + Unpin> Coalesce<T> {
    /// Write out what is buffered.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.sent < self.buf.len() {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &self.buf[self.sent..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.sent += n;
        }
        self.sent = 0;
        self.buf = Vec::new();
        Poll::Ready(Ok(()))
    }

    /// Take `len` more bytes: `Ready(true)` when they may be buffered,
    /// `Ready(false)` when they should pass straight through; first writes
    /// out what is buffered if they would overfill it or must follow it.
    fn poll_room(&mut self, cx: &mut Context<'_>, len: usize) -> Poll<io::Result<bool>> {
        let pass = len >= PASS;
        if self.buffered() > 0 && (pass || self.buffered() + len > LIMIT) {
            ready!(self.poll_drain(cx))?;
        }
        Poll::Ready(Ok(!pass))
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Coalesce<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Coalesce<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_vectored(cx, &[IoSlice::new(data)])
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let len = bufs.iter().map(|b| b.len()).sum();
        if !ready!(this.poll_room(cx, len))? {
            return Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        }
        this.buf.reserve(len);
        for b in bufs {
            this.buf.extend_from_slice(b);
        }
        this.fresh = true;
        Poll::Ready(Ok(len))
    }

    /// Gathering writes are taken whole (and copied once, here): h2 then
    /// hands a DATA frame's payload over as it is, not copied into its own
    /// buffer first.
    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.buffered() > 0 {
            if this.fresh {
                this.fresh = false;
                cx.waker().wake_by_ref();
                return Poll::Ready(Ok(()));
            }
            ready!(this.poll_drain(cx))?;
        }
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
#[path = "coalesce_tests.rs"]
mod tests;
