//! gRPC peers for the tests, with tonic and no protoc: messages are UTF-8
//! strings (a codec of our own), the service is routed by path by hand.
//!
//! `/test.Echo/Unary` echoes; `Count` streams "0".."n-1" (50 ms apart);
//! `Join` joins a client stream with ","; `Fail` answers NOT_FOUND;
//! `Slow` answers after the milliseconds it is sent; `Chat` answers each
//! message of a client stream as it comes (bidirectional).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::{Buf, BufMut};
use http::uri::PathAndQuery;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder, Streaming};
use tonic::transport::Channel;
use tonic::{Request, Response, Status};

/// Messages as UTF-8 text.
#[derive(Clone, Copy, Default)]
pub struct Text;

impl Codec for Text {
    type Encode = String;
    type Decode = String;
    type Encoder = Text;
    type Decoder = Text;
    fn encoder(&mut self) -> Text {
        Text
    }
    fn decoder(&mut self) -> Text {
        Text
    }
}

impl Encoder for Text {
    type Item = String;
    type Error = Status;
    fn encode(&mut self, item: String, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put_slice(item.as_bytes());
        Ok(())
    }
}

impl Decoder for Text {
    type Item = String;
    type Error = Status;
    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<String>, Status> {
        let b = src.copy_to_bytes(src.remaining());
        String::from_utf8(b.to_vec())
            .map(Some)
            .map_err(|e| Status::internal(e.to_string()))
    }
}

async fn route(
    req: http::Request<Incoming>,
) -> Result<http::Response<tonic::body::Body>, Infallible> {
    let mut grpc = tonic::server::Grpc::new(Text);
    let path = req.uri().path().to_string();
    Ok(match path.as_str() {
        "/test.Echo/Unary" => {
            let svc = tower::service_fn(|r: Request<String>| async move {
                Ok::<_, Status>(Response::new(format!("echo: {}", r.into_inner())))
            });
            grpc.unary(svc, req).await
        }
        "/test.Echo/Slow" => {
            let svc = tower::service_fn(|r: Request<String>| async move {
                let ms: u64 = r.into_inner().parse().unwrap_or(0);
                tokio::time::sleep(Duration::from_millis(ms)).await;
                Ok::<_, Status>(Response::new(format!("slept {ms} ms")))
            });
            grpc.unary(svc, req).await
        }
        "/test.Echo/Fail" => {
            let svc = tower::service_fn(|_r: Request<String>| async move {
                Err::<Response<String>, _>(Status::not_found("no such order: 42"))
            });
            grpc.unary(svc, req).await
        }
        "/test.Echo/Count" => {
            let svc = tower::service_fn(|r: Request<String>| async move {
                let n: usize = r.into_inner().parse().unwrap_or(0);
                let stream = futures_util::stream::unfold(0usize, move |i| async move {
                    if i == n {
                        return None;
                    }
                    if i > 0 {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    Some((Ok::<_, Status>(i.to_string()), i + 1))
                });
                Ok::<_, Status>(Response::new(Box::pin(stream)))
            });
            grpc.server_streaming(svc, req).await
        }
        "/test.Echo/Join" => {
            let svc = tower::service_fn(|r: Request<Streaming<String>>| async move {
                let mut s = r.into_inner();
                let mut all = Vec::new();
                while let Some(m) = s.message().await? {
                    all.push(m);
                }
                Ok::<_, Status>(Response::new(all.join(",")))
            });
            grpc.client_streaming(svc, req).await
        }
        "/test.Echo/Chat" => {
            let svc = tower::service_fn(|r: Request<Streaming<String>>| async move {
                let s = r.into_inner();
                let out = futures_util::StreamExt::map(s, |m| m.map(|m| format!("re: {m}")));
                Ok::<_, Status>(Response::new(Box::pin(out)))
            });
            grpc.streaming(svc, req).await
        }
        _ => Status::unimplemented("no such method").into_http(),
    })
}

/// A gRPC server speaking HTTP/2 without TLS (h2c, prior knowledge).
pub async fn grpc_server() -> SocketAddr {
    serve(None).await
}

/// The same server over TLS (ALPN `h2`), with `cert_pem`/`key_pem`.
pub async fn grpc_server_tls(cert_pem: &str, key_pem: &str) -> SocketAddr {
    let cfg = super::tls::server_config(cert_pem, key_pem, &[b"h2"]);
    serve(Some(tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(
        cfg,
    ))))
    .await
}

async fn serve(tls: Option<tokio_rustls::TlsAcceptor>) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let tls = tls.clone();
            tokio::spawn(async move {
                let h2 = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
                let _ = match tls {
                    None => {
                        h2.serve_connection(TokioIo::new(tcp), service_fn(route))
                            .await
                    }
                    Some(acceptor) => match acceptor.accept(tcp).await {
                        Ok(s) => {
                            h2.serve_connection(TokioIo::new(s), service_fn(route))
                                .await
                        }
                        Err(_) => return,
                    },
                };
            });
        }
    });
    addr
}

/// `Unary`'s answer to `text`, through `c`.
pub async fn echo(c: &mut tonic::client::Grpc<Channel>, text: &str) -> Result<String, Status> {
    c.ready()
        .await
        .map_err(|e| Status::unavailable(e.to_string()))?;
    let r = c
        .unary(
            Request::new(text.to_string()),
            method("/test.Echo/Unary"),
            Text,
        )
        .await?;
    Ok(r.into_inner())
}

/// A tonic client to `addr` (HTTP/2 with prior knowledge).
pub async fn grpc_client(addr: SocketAddr) -> tonic::client::Grpc<Channel> {
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .expect("endpoint")
        .connect()
        .await
        .expect("connect");
    tonic::client::Grpc::new(channel)
}

pub fn method(name: &'static str) -> PathAndQuery {
    PathAndQuery::from_static(name)
}
