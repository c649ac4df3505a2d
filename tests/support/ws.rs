//! WebSocket peers for tunnel tests: an echo upstream (tokio-tungstenite,
//! HTTP/1.1 Upgrade) that counts its handshakes and open sockets, and
//! clients over HTTP/1.1 and over HTTP/2 (RFC 8441 extended CONNECT,
//! through hyper's client).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use futures_util::{SinkExt, StreamExt};
use http_body_util::Empty;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub struct WsEcho {
    pub addr: SocketAddr,
    /// Handshakes completed.
    pub handshakes: Arc<AtomicUsize>,
    /// Sockets open right now.
    pub open: Arc<AtomicUsize>,
    /// The request heads of the handshakes, as `name: value` lines.
    pub heads: Arc<std::sync::Mutex<Vec<String>>>,
}

impl WsEcho {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
    pub fn handshakes(&self) -> usize {
        self.handshakes.load(Ordering::SeqCst)
    }
    pub fn open(&self) -> usize {
        self.open.load(Ordering::SeqCst)
    }
}

/// An echo server: every text or binary message comes back; a close frame
/// is answered with the same code and reason (tungstenite's default).
pub async fn ws_echo() -> WsEcho {
    ws_echo_with(None).await
}

/// [`ws_echo`] over TLS (`wss`), with `cert_pem`/`key_pem`.
pub async fn ws_echo_tls(cert_pem: &str, key_pem: &str) -> WsEcho {
    let cfg = super::tls::server_config(cert_pem, key_pem, &[]);
    ws_echo_with(Some(tokio_rustls::TlsAcceptor::from(Arc::new(cfg)))).await
}

async fn ws_echo_with(tls: Option<tokio_rustls::TlsAcceptor>) -> WsEcho {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let handshakes = Arc::new(AtomicUsize::new(0));
    let open = Arc::new(AtomicUsize::new(0));
    let heads = Arc::new(std::sync::Mutex::new(Vec::new()));
    let (h, o, hd) = (handshakes.clone(), open.clone(), heads.clone());
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (h, o, hd) = (h.clone(), o.clone(), hd.clone());
            let tls = tls.clone();
            tokio::spawn(async move {
                // tungstenite's callback type fixes its error type.
                #[allow(clippy::result_large_err)]
                let seen = move |req: &Request, resp: Response| {
                    let lines: Vec<String> = req
                        .headers()
                        .iter()
                        .map(|(k, v)| format!("{k}: {}", v.to_str().unwrap_or("?")))
                        .collect();
                    if let Ok(mut g) = hd.lock() {
                        g.push(format!(
                            "{} {}\n{}",
                            req.method(),
                            req.uri(),
                            lines.join("\n")
                        ));
                    }
                    Ok(resp)
                };
                let config = ws_limits();
                let io: Box<dyn Io> = match tls {
                    None => Box::new(tcp),
                    Some(acceptor) => match acceptor.accept(tcp).await {
                        Ok(s) => Box::new(s),
                        Err(_) => return,
                    },
                };
                let Ok(mut ws) =
                    tokio_tungstenite::accept_hdr_async_with_config(io, seen, Some(config)).await
                else {
                    return;
                };
                h.fetch_add(1, Ordering::SeqCst);
                o.fetch_add(1, Ordering::SeqCst);
                while let Some(Ok(m)) = ws.next().await {
                    let echo = match m {
                        Message::Text(_) | Message::Binary(_) => m,
                        // tungstenite answers pings and close frames itself.
                        _ => continue,
                    };
                    if ws.send(echo).await.is_err() {
                        break;
                    }
                }
                o.fetch_sub(1, Ordering::SeqCst);
            });
        }
    });
    WsEcho {
        addr,
        handshakes,
        open,
        heads,
    }
}

trait Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Io for T {}

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A WebSocket client over HTTP/1.1 to `url` (`ws://…`).
pub async fn ws_connect(url: &str) -> Result<Ws, String> {
    tokio_tungstenite::connect_async_with_config(url, Some(ws_limits()), false)
        .await
        .map(|(ws, _)| ws)
        .map_err(|e| e.to_string())
}

pub type WsH2 = WebSocketStream<TokioIo<hyper::upgrade::Upgraded>>;

/// A WebSocket client over HTTP/2 (RFC 8441): an extended CONNECT with
/// `:protocol websocket` on a prior-knowledge connection to `addr`.
pub async fn ws_connect_h2(addr: SocketAddr, path: &str) -> Result<WsH2, String> {
    let tcp = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    let (mut send, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
            .await
            .map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let mut req = http::Request::builder()
        .method(http::Method::CONNECT)
        .uri(format!("http://{addr}{path}"))
        .header("sec-websocket-version", "13")
        .body(Empty::<bytes::Bytes>::new())
        .map_err(|e| e.to_string())?;
    req.extensions_mut()
        .insert(hyper::ext::Protocol::from_static("websocket"));
    let resp = send.send_request(req).await.map_err(|e| e.to_string())?;
    if resp.status() != http::StatusCode::OK {
        return Err(format!("extended CONNECT answered {}", resp.status()));
    }
    let io = hyper::upgrade::on(resp).await.map_err(|e| e.to_string())?;
    Ok(WebSocketStream::from_raw_socket(TokioIo::new(io), Role::Client, Some(ws_limits())).await)
}

/// The limits of the test peers: messages up to 64 MiB.
fn ws_limits() -> tokio_tungstenite::tungstenite::protocol::WebSocketConfig {
    tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
        .max_message_size(Some(64 << 20))
        .max_frame_size(Some(64 << 20))
}

/// Wait until the socket ends (a close, an error, or EOF): `false` if it
/// did not within the deadline.
pub async fn ws_ended<S>(ws: &mut WebSocketStream<S>) -> bool
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    tokio::time::timeout(super::PATIENCE, async {
        loop {
            match ws.next().await {
                None | Some(Err(_)) => return,
                Some(Ok(_)) => continue,
            }
        }
    })
    .await
    .is_ok()
}

/// Send a close frame and wait for the peer's: its code and reason.
pub async fn ws_close<S>(
    ws: &mut WebSocketStream<S>,
    frame: tokio_tungstenite::tungstenite::protocol::CloseFrame,
) -> tokio_tungstenite::tungstenite::protocol::CloseFrame
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    ws.send(Message::Close(Some(frame)))
        .await
        .expect("send close");
    tokio::time::timeout(super::PATIENCE, async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Close(f))) => return f,
                Some(Ok(_)) => continue,
                other => panic!("no close frame: {other:?}"),
            }
        }
    })
    .await
    .expect("a close frame within the deadline")
    .expect("with a code")
}

/// Send `m` and wait for the next text or binary message (pongs skipped).
pub async fn ws_round_trip<S>(ws: &mut WebSocketStream<S>, m: Message) -> Result<Message, String>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    ws.send(m).await.map_err(|e| e.to_string())?;
    loop {
        match ws.next().await {
            Some(Ok(Message::Pong(_))) => continue,
            Some(Ok(m)) => return Ok(m),
            Some(Err(e)) => return Err(e.to_string()),
            None => return Err("the socket ended".into()),
        }
    }
}
