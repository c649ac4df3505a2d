//! An upstream whose every answer is made by a function of the request:
//! a fresh timestamp each call, a regression every n-th answer. Answers
//! 200 `application/json`; counts and keeps the requests it saw.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;

/// What the function is told: which answer this is (0, 1, …), the method, the path.
pub type Answer = dyn Fn(usize, &str, &str) -> String + Send + Sync;

struct State {
    hits: AtomicUsize,
    seen: Mutex<Vec<(String, String)>>,
    answer: Box<Answer>,
}

pub struct Dynamic {
    pub addr: SocketAddr,
    state: Arc<State>,
    task: tokio::task::JoinHandle<()>,
}

/// An upstream answering `answer(n, method, path)` as a JSON body.
pub async fn dynamic(
    answer: impl Fn(usize, &str, &str) -> String + Send + Sync + 'static,
) -> Dynamic {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let state = Arc::new(State {
        hits: AtomicUsize::new(0),
        seen: Mutex::new(Vec::new()),
        answer: Box::new(answer),
    });
    let st = Arc::clone(&state);
    let task = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let st = Arc::clone(&st);
            tokio::spawn(async move {
                let svc = service_fn(move |req| {
                    let st = Arc::clone(&st);
                    async move { Ok::<_, Infallible>(respond(req, &st).await) }
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    Dynamic { addr, state, task }
}

async fn respond(req: Request<Incoming>, st: &State) -> Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let _ = body.collect().await;
    let (method, path) = (parts.method.to_string(), parts.uri.path().to_string());
    let n = st.hits.fetch_add(1, Ordering::SeqCst);
    let text = (st.answer)(n, &method, &path);
    st.seen.lock().expect("lock").push((method, path));
    let mut r = Response::new(Full::new(Bytes::from(text)));
    r.headers_mut().insert(
        "content-type",
        http::HeaderValue::from_static("application/json"),
    );
    r
}

impl Dynamic {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
    /// Requests answered so far.
    pub fn hits(&self) -> usize {
        self.state.hits.load(Ordering::SeqCst)
    }
    /// (method, path) of each request, in order.
    pub fn seen(&self) -> Vec<(String, String)> {
        self.state.seen.lock().expect("lock").clone()
    }
}

impl Drop for Dynamic {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A timestamp that is new at every call: RFC 3339 with nanoseconds and,
/// as further fraction digits, a counter (two calls in one nanosecond differ).
pub fn fresh_timestamp() -> String {
    static CALLS: AtomicUsize = AtomicUsize::new(0);
    let n = CALLS.fetch_add(1, Ordering::SeqCst);
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let (s, ns) = (d.as_secs(), d.subsec_nanos());
    format!(
        "2026-01-01T{:02}:{:02}:{:02}.{:09}{n:06}Z",
        s / 3600 % 24,
        s / 60 % 60,
        s % 60,
        ns
    )
}
