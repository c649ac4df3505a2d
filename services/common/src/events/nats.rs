//! The NATS JetStream event bus (nats-server 2.9 or later).
//!
//! ```text
//! publish(event) ──> subject events.<type>, header Nats-Msg-Id = event id ──> stream EVENTS
//!                                        (file storage, subjects events.>)         │
//! subscribe(consumer) <── pull consumer, durable = consumer name <──────────────────┘
//!                         explicit acks, ack_wait, max_ack_pending = 1
//! ```
//!
//! - Publishing waits for JetStream's publish acknowledgement, so `Ok` means stored. The
//!   `Nats-Msg-Id` header lets the server drop a republished event (after an ack that got
//!   lost) within its duplicate window.
//! - `max_ack_pending = 1` keeps delivery in stream order, redeliveries included, so order
//!   per aggregate holds even when an event has to come again.
//! - The client reconnects forever; the stream is created on first use, so a service can
//!   start before the server. A subscription whose pull fails is rebuilt with backoff.

use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::consumer::{pull, AckPolicy, DeliverPolicy};
use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::stream::{self, StorageType};
use async_nats::jetstream::{self, AckKind};
use async_nats::ServerAddr;
use futures_util::StreamExt;
use tokio::sync::mpsc;

use super::{BoxFuture, BusError, Consumer, Delivery, Event, EventBus, Subscription};
use crate::backoff::Backoff;

/// The stream holding every event.
pub const STREAM: &str = "EVENTS";
/// The subjects of [`STREAM`].
pub const SUBJECTS: &str = "events.>";
/// How many events the stream keeps; the oldest go first.
pub const MAX_MESSAGES: i64 = 1_000_000;
/// How long a JetStream request (a publish acknowledgement, a stream lookup) may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(3);
/// Waits between attempts to rebuild a broken subscription.
const RESUBSCRIBE: Backoff = Backoff {
    attempts: u32::MAX,
    first_delay: Duration::from_millis(100),
    max_delay: Duration::from_secs(2),
};

/// A JetStream bus; clones share the connection.
#[derive(Debug, Clone)]
pub struct NatsBus {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    url: String,
    js: jetstream::Context,
    /// Whether the stream is known to exist; cleared when a publish fails.
    stream_ready: AtomicBool,
}

impl NatsBus {
    /// Connects to `url` (`nats://HOST:PORT`) in the background; fails only on a malformed
    /// URL.
    pub async fn connect(url: &str) -> Result<Self, BusError> {
        let addr = parse_url(url)?;
        let client = async_nats::ConnectOptions::new()
            .name("strangler-events")
            .retry_on_initial_connect()
            .max_reconnects(None)
            .connection_timeout(Duration::from_secs(2))
            .reconnect_delay_callback(|attempts| RESUBSCRIBE.delay(attempts as u32))
            .connect(addr)
            .await
            .map_err(|e| BusError::Unavailable(format!("{url}: {e}")))?;
        let mut js = jetstream::new(client);
        js.set_timeout(REQUEST_TIMEOUT);
        Ok(NatsBus {
            inner: Arc::new(Inner {
                url: url.to_owned(),
                js,
                stream_ready: AtomicBool::new(false),
            }),
        })
    }
}

/// Checks `nats://HOST:PORT`.
fn parse_url(url: &str) -> Result<ServerAddr, BusError> {
    let invalid = |why: &str| BusError::InvalidSpec(format!("{url:?}: {why}"));
    let rest = url
        .strip_prefix("nats://")
        .ok_or_else(|| invalid("expected nats://HOST:PORT"))?;
    let (host, port) = rest
        .rsplit_once(':')
        .ok_or_else(|| invalid("expected nats://HOST:PORT"))?;
    if host.is_empty() || port.parse::<u16>().is_err() {
        return Err(invalid("expected nats://HOST:PORT"));
    }
    ServerAddr::from_str(url).map_err(|e| invalid(&e.to_string()))
}

impl Inner {
    async fn stream(&self) -> Result<stream::Stream, BusError> {
        let config = stream::Config {
            name: STREAM.to_owned(),
            subjects: vec![SUBJECTS.to_owned()],
            storage: StorageType::File,
            max_messages: MAX_MESSAGES,
            duplicate_window: Duration::from_secs(120),
            ..Default::default()
        };
        self.js
            .get_or_create_stream(config)
            .await
            .map_err(|e| BusError::Unavailable(format!("stream {STREAM}: {e}")))
    }

    async fn publish(&self, event: &Event) -> Result<(), BusError> {
        if !self.stream_ready.load(Ordering::Acquire) {
            self.stream().await?;
            self.stream_ready.store(true, Ordering::Release);
        }
        let message = PublishMessage::build()
            .payload(event.to_bytes())
            .message_id(event.id.to_string());
        let result = async {
            let ack = self
                .js
                .send_publish(event.event_type.subject(), message)
                .await
                .map_err(|e| BusError::Unavailable(e.to_string()))?;
            ack.await.map_err(|e| BusError::Unavailable(e.to_string()))
        }
        .await;
        match result {
            Ok(_ack) => Ok(()),
            Err(e) => {
                self.stream_ready.store(false, Ordering::Release);
                Err(e)
            }
        }
    }
}

impl EventBus for NatsBus {
    fn describe(&self) -> String {
        self.inner.url.clone()
    }

    fn publish<'a>(&'a self, event: &'a Event) -> BoxFuture<'a, Result<(), BusError>> {
        Box::pin(self.inner.publish(event))
    }

    fn subscribe(&self, consumer: &Consumer) -> Subscription {
        let (tx, rx) = mpsc::channel(1);
        let feeder = tokio::spawn(feed(Arc::clone(&self.inner), consumer.clone(), tx));
        Subscription::new(rx, feeder)
    }
}

/// Keeps a pull subscription going until the receiving side is dropped.
async fn feed(inner: Arc<Inner>, consumer: Consumer, tx: mpsc::Sender<Delivery>) {
    if let Err(e) = consumer.validate() {
        tracing::error!(error = %e, "not subscribing");
        return;
    }
    let mut failures = 0;
    loop {
        match pull_into(&inner, &consumer, &tx).await {
            Ok(()) => return,
            Err(e) => {
                failures += 1;
                tracing::warn!(consumer = %consumer.name, error = %e, failures,
                    "event subscription interrupted; retrying");
                tokio::time::sleep(RESUBSCRIBE.delay(failures)).await;
            }
        }
        if tx.is_closed() {
            return;
        }
    }
}

/// Pulls the consumer's messages into `tx`; `Ok` when `tx` is closed, `Err` when the pull
/// breaks.
async fn pull_into(
    inner: &Inner,
    consumer: &Consumer,
    tx: &mpsc::Sender<Delivery>,
) -> Result<(), BusError> {
    let unavailable = |e: &dyn std::fmt::Display| BusError::Unavailable(e.to_string());
    let stream = inner.stream().await?;
    let config = pull::Config {
        durable_name: Some(consumer.name.clone()),
        ack_policy: AckPolicy::Explicit,
        ack_wait: consumer.ack_wait,
        max_ack_pending: 1,
        max_deliver: -1,
        deliver_policy: DeliverPolicy::All,
        ..Default::default()
    };
    let pull_consumer = stream
        .get_or_create_consumer::<pull::Config>(&consumer.name, config)
        .await
        .map_err(|e| unavailable(&e))?;
    let mut messages = pull_consumer
        .stream()
        .heartbeat(Duration::from_secs(2))
        .expires(Duration::from_secs(10))
        .messages()
        .await
        .map_err(|e| unavailable(&e))?;
    while let Some(message) = messages.next().await {
        let message = message.map_err(|e| unavailable(&e))?;
        let attempt = message
            .info()
            .map(|info| u64::try_from(info.delivered).unwrap_or(1))
            .unwrap_or(1);
        match Event::from_bytes(&message.payload) {
            Ok(event) => {
                let acker = move || -> BoxFuture<'static, Result<(), BusError>> {
                    Box::pin(async move {
                        // Waits for the server to confirm, so a lost ack is reported.
                        message
                            .double_ack()
                            .await
                            .map_err(|e| BusError::Unavailable(e.to_string()))
                    })
                };
                if tx.send(Delivery::new(event, attempt, acker)).await.is_err() {
                    return Ok(());
                }
            }
            Err(e) => {
                tracing::error!(consumer = %consumer.name, error = %e,
                    subject = %message.subject, "dropping a message that is not an event");
                if let Err(e) = message.ack_with(AckKind::Term).await {
                    tracing::warn!(error = %e, "cannot drop the malformed message");
                }
            }
        }
    }
    Err(BusError::Unavailable("the message stream ended".into()))
}
