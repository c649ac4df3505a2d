//! One batch on one connection: written in one send, its answers read back
//! in order, each timed as if sent alone ([`took`]); what a broken
//! connection leaves unanswered goes back to the lane.

use std::io;
use std::pin::Pin;
use std::time::Duration;

use bytes::BytesMut;
use http::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

use tokio::time::{sleep_until, Instant, Sleep};

use super::{Answer, Job, Lane, Queued};
use crate::body::Frames;
use crate::client::SendError;
use crate::conn::{dial, read_head_with};
use crate::framing::{Decoded, Decoder, Framing};
use crate::kept;

pub(super) struct Conn {
    pub(super) rd: OwnedReadHalf,
    /// Bounds each write and answer; moved forward, not re-made.
    timer: Pin<Box<Sleep>>,
    wr: OwnedWriteHalf,
    buf: BytesMut,
}

async fn connect(lane: &Lane) -> Result<Conn, SendError> {
    let (rd, wr) = dial(&lane.authority, Instant::now() + lane.connect_timeout).await?;
    Ok(Conn {
        rd,
        wr,
        buf: BytesMut::new(),
        timer: Box::pin(sleep_until(Instant::now())),
    })
}

/// Write every request of `batch` into `out`; the first one's timeout.
fn encode(batch: &mut [Queued], out: &mut Vec<u8>) -> Duration {
    out.clear();
    for q in batch.iter_mut() {
        q.job.write(out);
    }
    batch.first().map_or(Duration::ZERO, |q| q.job.timeout())
}

/// No connection for `batch`: every job of it fails with `e`'s reason
/// (its OS error code kept: it tells the proxy's own exhaustion, such as
/// `EMFILE`, from the upstream's failure).
pub(super) fn connect_failed(batch: &mut Vec<Queued>, e: &SendError, t0: Instant) {
    let (kind, code, why) = match e {
        SendError::Connect(e) => (e.kind(), e.raw_os_error(), e.to_string()),
        _ => (io::ErrorKind::Other, None, "connect failed".to_owned()),
    };
    for q in batch.drain(..) {
        let e = code.map_or_else(
            || io::Error::new(kind, why.clone()),
            io::Error::from_raw_os_error,
        );
        q.job.finish(Err(SendError::Connect(e)), t0.elapsed());
    }
}

/// Send `batch` and read its answers; the connection, if still usable.
pub(super) async fn run(
    lane: &Lane,
    conn: Option<Conn>,
    batch: &mut Vec<Queued>,
    out: &mut Vec<u8>,
) -> Option<Conn> {
    let t0 = Instant::now();
    // A connection the upstream may have closed while idle (its FIN not yet
    // seen) breaks on the first request without its fault; a new one that
    // closes before its first answer may have been broken by that request.
    let fresh = conn.is_none();
    let mut c = match conn {
        Some(c) => c,
        None => match connect(lane).await {
            Ok(c) => c,
            Err(e) => {
                connect_failed(batch, &e, t0);
                return None;
            }
        },
    };
    c.timer.as_mut().reset(t0 + encode(batch, out));
    let sent = tokio::select! {
        biased;
        r = c.wr.write_all(out) => r.is_ok(),
        () = c.timer.as_mut() => false,
    };
    if !sent {
        lane.requeue(std::mem::take(batch), fresh);
        return None;
    }
    // Answer times (see `took`): the baseline, once the first answer is in,
    // and when the last came.
    let mut base: Option<Duration> = None;
    let mut prev = t0;
    let n = batch.len();
    let mut jobs = std::mem::take(batch).into_iter();
    while let Some(q) = jobs.next() {
        let deadline = prev + q.job.timeout();
        c.timer.as_mut().reset(deadline);
        let r = tokio::select! {
            biased;
            r = read_answer(&mut c.rd, &mut c.buf, &*q.job) => Ok(r),
            () = c.timer.as_mut() => Err(()),
        };
        let now = Instant::now();
        let took = took(base, t0, prev, now);
        let ended = match r {
            Ok(Ok((answer, reusable))) => {
                if base.is_none() {
                    base = Some(lane.baseline(took));
                }
                q.job.finish(Ok(answer), took);
                !reusable
            }
            Ok(Err(SendError::Closed)) => {
                // No byte of its answer: unanswered, like those behind it;
                // charged only as the first request of a new connection.
                let charged = fresh && base.is_none();
                lane.requeue(std::iter::once(q).chain(jobs).collect(), charged);
                return None;
            }
            Ok(Err(e)) => {
                q.job.finish(Err(e), took);
                true
            }
            Err(_) => {
                q.job.finish(Err(SendError::Timeout), took);
                lane.observe(now.saturating_duration_since(prev), 1);
                true
            }
        };
        prev = now;
        if ended {
            lane.requeue(jobs.collect(), false);
            return None;
        }
    }
    lane.observe(prev.saturating_duration_since(t0), n);
    Some(c)
}

/// The upstream's time on one answer of a batch sent at `t0`, as a client
/// sending it alone would have seen it: the first answer's time since the
/// write; a later one's, the baseline (the usual time of a batch's first
/// answer, see `Lane::baseline`) plus how long it came after the one
/// before it — an answer held behind a slow one is not charged for the
/// wait — and never more than its own time since the write.
pub(super) fn took(base: Option<Duration>, t0: Instant, prev: Instant, now: Instant) -> Duration {
    let since_write = now.saturating_duration_since(t0);
    match base {
        None => since_write,
        Some(b) => (b + now.saturating_duration_since(prev)).min(since_write),
    }
}

/// One answer (1xx skipped): head, then the body up to the job's `max_body`.
async fn read_answer(
    rd: &mut OwnedReadHalf,
    buf: &mut BytesMut,
    job: &dyn Job,
) -> Result<(Answer, bool), SendError> {
    let (method, max) = (job.method(), job.max_body());
    let head = loop {
        let keep = |n: &[u8]| job.keeps(n);
        let h = read_head_with(rd, buf, |b| kept::parse(b, method, keep)).await?;
        if h.status == StatusCode::SWITCHING_PROTOCOLS {
            return Err(SendError::Upstream(
                "unexpected 101 Switching Protocols".into(),
            ));
        }
        if !h.status.is_informational() {
            break h;
        }
    };
    let (framing, mut reuse) = head
        .framing
        .map_err(|_| SendError::Upstream("malformed response framing".into()))?;
    let mut answer = Answer {
        status: head.status,
        fields: head.fields,
        body: None,
    };
    if matches!(framing, Framing::Length(n) if n > max) {
        // Not read: the connection cannot carry another answer.
        return Ok((answer, false));
    }
    let mut decoder = Decoder::new(framing);
    let mut body = Frames::default();
    let mut len = 0u64;
    loop {
        match decoder.decode(buf) {
            Ok(Decoded::Data(d)) => {
                len += d.len() as u64;
                if len > max {
                    return Ok((answer, false));
                }
                body.push(d);
            }
            Ok(Decoded::Done) => break,
            // Not compared.
            Ok(Decoded::Trailer(..)) => {}
            Ok(Decoded::Pending) => {
                buf.reserve(16 * 1024);
                match rd.read_buf(buf).await {
                    Ok(0) => {
                        decoder
                            .eof()
                            .map_err(|e| SendError::Upstream(e.to_owned()))?;
                        reuse = false;
                        break;
                    }
                    Ok(_) => {}
                    Err(e) => return Err(SendError::Upstream(e.to_string())),
                }
            }
            Err(e) => return Err(SendError::Upstream(e.to_owned())),
        }
    }
    answer.body = Some(body.take());
    Ok((answer, reuse))
}
