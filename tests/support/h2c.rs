//! An HTTP/2 client with prior knowledge (h2c), at the frame level a test
//! needs: uploads whose bodies the test feeds by hand, `RST_STREAM` resets,
//! and a connection dropped with streams in flight.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use h2::client::{ResponseFuture, SendRequest};
use h2::SendStream;
use http::Request;

pub struct H2 {
    send: SendRequest<Bytes>,
    conn: tokio::task::JoinHandle<()>,
}

/// Open an HTTP/2 connection to the proxy's plain listener.
pub async fn h2_connect(addr: SocketAddr) -> H2 {
    let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let (send, conn) = h2::client::handshake(tcp).await.expect("h2 handshake");
    let conn = tokio::spawn(async move {
        let _ = conn.await;
    });
    H2 { send, conn }
}

impl H2 {
    /// Start a POST to `path` whose body the caller sends (`len`: a declared
    /// content-length).
    pub async fn upload(
        &mut self,
        path: &str,
        len: Option<u64>,
    ) -> (ResponseFuture, SendStream<Bytes>) {
        let mut req = Request::post(format!("http://x{path}"));
        if let Some(n) = len {
            req = req.header("content-length", n);
        }
        let req = req.body(()).expect("request");
        let mut send = self.send.clone().ready().await.expect("h2 ready");
        send.send_request(req, false).expect("send request")
    }

    /// Whether the proxy ends the connection (GOAWAY, then close) within
    /// `within`.
    pub async fn closed_within(&mut self, within: Duration) -> bool {
        tokio::time::timeout(within, &mut self.conn).await.is_ok()
    }

    /// Drop the connection with whatever is in flight.
    pub fn close(self) {
        self.conn.abort();
    }
}

/// The status and body of an HTTP/2 answer, within `within`.
pub async fn h2_answer(resp: ResponseFuture, within: Duration) -> Result<(u16, Bytes), String> {
    tokio::time::timeout(within, async {
        let resp = resp.await.map_err(|e| e.to_string())?;
        let status = resp.status().as_u16();
        let mut body = resp.into_body();
        let mut out = Vec::new();
        while let Some(chunk) = body.data().await {
            let chunk = chunk.map_err(|e| e.to_string())?;
            let _ = body.flow_control().release_capacity(chunk.len());
            out.extend_from_slice(&chunk);
        }
        Ok((status, Bytes::from(out)))
    })
    .await
    .map_err(|_| "timed out".to_string())?
}
