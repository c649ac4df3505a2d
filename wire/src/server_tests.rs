//! The server's own unit test: an idle connection's future stays small
//! (measured with a tiny handler, not a whole proxy).

use std::time::Duration;

use http::{HeaderValue, Request, Response};

use crate::body::{empty, BoxedBody};
use crate::bridge::RequestBody;
use crate::drain::Drain;
use crate::{Handled, Handler, Refusal};

/// A handler that answers every request with an empty 204.
struct Nothing;

impl Handler for Nothing {
    async fn call(&self, slot: &mut Option<Request<RequestBody>>) -> Handled {
        drop(slot.take());
        let mut response = Response::new(empty());
        *response.status_mut() = http::StatusCode::NO_CONTENT;
        Handled {
            response,
            raw: None,
            request_id: HeaderValue::from_static("t"),
            header_read_timeout: None,
            finished: None,
        }
    }

    fn refuse(&self, _: Refusal) -> Response<BoxedBody> {
        Response::new(empty())
    }

    fn header_read_timeout(&self) -> Duration {
        Duration::from_secs(1)
    }
}

/// What an idle connection's task holds is the size of this future
/// (the exchange is boxed only while a request is in flight).
#[tokio::test]
async fn an_idle_connection_future_is_small() {
    let drain = Drain::new();
    let watch = drain.watch();
    let fut = super::serve(
        tokio::io::empty(),
        tokio::io::sink(),
        &Nothing,
        &watch,
        true,
    );
    let size = std::mem::size_of_val(&fut);
    eprintln!("h1 connection future: {size} bytes");
    assert!(size < 1024, "{size}");
}
