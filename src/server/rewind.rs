//! A plain connection handed to hyper's HTTP/2 after its first bytes were
//! read to sniff the protocol: those bytes are replayed before the
//! stream's own, and writes go straight through, gathering ones included.
//!
//! Gathering matters to h2: its writer asks `is_write_vectored()` once.
//! When the answer is no, a DATA frame of 1 KiB or more still goes out
//! behind its frame head, as a second `sendto`; when it is yes, the two
//! leave in one `writev` (as over TLS, whose stream gathers too).

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Bytes read while sniffing the protocol, replayed before the stream's own.
pub(super) struct Rewind<T> {
    pub(super) pre: Bytes,
    pub(super) inner: T,
}

impl<T: AsyncRead + Unpin> AsyncRead for Rewind<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if !self.pre.is_empty() {
            let n = self.pre.len().min(buf.remaining());
            buf.put_slice(&self.pre[..n]);
            self.pre.advance(n);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Rewind<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::tcp_pair as pair;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn the_sniffed_bytes_come_first_then_the_stream() {
        let (server, mut client) = pair().await;
        let mut io = Rewind {
            pre: Bytes::from_static(b"PRI * HTTP/2.0\r\n"),
            inner: server,
        };
        client.write_all(b"\r\nSM\r\n\r\n").await.unwrap();
        let mut got = vec![0u8; 24];
        io.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
    }

    /// h2 decides from `is_write_vectored` whether a frame head and its
    /// payload can leave together; a TCP stream can, so the rewound one can.
    #[tokio::test]
    async fn a_frame_head_and_its_payload_leave_in_one_gathering_write() {
        let (server, mut client) = pair().await;
        let mut io = Rewind {
            pre: Bytes::new(),
            inner: server,
        };
        assert!(io.is_write_vectored(), "the rewound stream must gather");
        let head = [0u8, 4, 0, 0, 1, 0, 0, 0, 1];
        let payload = [7u8; 1024];
        let bufs = [IoSlice::new(&head), IoSlice::new(&payload)];
        let n = io.write_vectored(&bufs).await.unwrap();
        assert_eq!(n, head.len() + payload.len(), "one write takes both slices");
        let mut got = vec![0u8; n];
        client.read_exact(&mut got).await.unwrap();
        assert_eq!(&got[..9], &head);
        assert!(got[9..].iter().all(|&b| b == 7));
    }
}
