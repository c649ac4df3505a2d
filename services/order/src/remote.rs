//! The saga's steps as calls to inventory-service and payment-service (SPEC §9).
//!
//! ```text
//! reserve  POST   /reservations           Idempotency-Key  201 -> id   409 insufficient_stock
//! release  DELETE /reservations/{id}                       200
//! charge   POST   /payments               Idempotency-Key  201 -> id   402 payment_declined
//! refund   POST   /payments/{id}/refund   Idempotency-Key  200  (refunds are idempotent)
//! ```
//!
//! A peer's 4xx becomes a refusal carrying the peer's own `error` kind and message; no
//! answer becomes `peer_unavailable` (after retries) or `circuit_open`; a peer with no URL
//! becomes `peer_not_configured`.

use bytes::Bytes;
use hyper::{Method, StatusCode};
use serde::Deserialize;
use serde_json::json;
use service_common::domain::LineItem;
use service_common::local::declined;
use service_common::saga::{Fulfillment, StepError};
use service_common::ErrorKind;

use crate::peer::{Answer, Peer, PeerPolicy};

/// Inventory and payments over HTTP.
#[derive(Debug)]
pub struct RemoteFulfillment {
    inventory: Option<Peer>,
    payment: Option<Peer>,
}

#[derive(Deserialize)]
struct Created {
    id: u64,
}

#[derive(Deserialize)]
struct PeerError {
    error: String,
    message: String,
}

impl RemoteFulfillment {
    /// Peers at the given base URLs; `None` leaves a peer unconfigured.
    pub fn new(
        inventory_url: Option<&str>,
        payment_url: Option<&str>,
        policy: &PeerPolicy,
    ) -> std::io::Result<Self> {
        let peer = |name, url: Option<&str>| {
            url.map(|url| Peer::new(name, url, policy.clone()))
                .transpose()
        };
        Ok(RemoteFulfillment {
            inventory: peer("inventory-service", inventory_url)?,
            payment: peer("payment-service", payment_url)?,
        })
    }

    /// Each peer's name, URL and breaker state, for `/health`.
    pub fn peers(&self) -> serde_json::Value {
        let describe = |peer: &Option<Peer>| match peer {
            Some(p) => json!({ "url": p.base_url(), "breaker": p.breaker_state() }),
            None => json!({ "url": null, "breaker": null }),
        };
        json!({ "inventory": describe(&self.inventory), "payment": describe(&self.payment) })
    }

    fn inventory(&self) -> Result<&Peer, StepError> {
        self.inventory
            .as_ref()
            .ok_or_else(|| not_configured("inventory-service"))
    }

    fn payment(&self) -> Result<&Peer, StepError> {
        self.payment
            .as_ref()
            .ok_or_else(|| not_configured("payment-service"))
    }
}

fn not_configured(peer: &str) -> StepError {
    StepError::refused(
        ErrorKind::PeerNotConfigured.as_str(),
        format!("no {peer} URL is configured"),
    )
}

/// A peer's answer that is not the expected success, as a refusal.
fn refusal(peer: &Peer, answer: &Answer) -> StepError {
    match serde_json::from_slice::<PeerError>(&answer.body) {
        Ok(e) => StepError::refused(e.error, e.message),
        Err(_) => StepError::refused(
            "unexpected_answer",
            format!("{} answered {}", peer.name(), answer.status),
        ),
    }
}

/// The id of a created resource.
fn created_id(peer: &Peer, answer: &Answer) -> Result<u64, StepError> {
    serde_json::from_slice::<Created>(&answer.body)
        .map(|c| c.id)
        .map_err(|e| {
            StepError::refused(
                "unexpected_answer",
                format!("{} answered without an id: {e}", peer.name()),
            )
        })
}

fn json_body(value: serde_json::Value) -> Option<Bytes> {
    Some(Bytes::from(value.to_string()))
}

impl Fulfillment for RemoteFulfillment {
    async fn reserve(
        &self,
        order_id: u64,
        items: &[LineItem],
        key: &str,
    ) -> Result<u64, StepError> {
        let peer = self.inventory()?;
        let body = json_body(json!({ "order_id": order_id, "items": items }));
        let answer = peer
            .call(Method::POST, "/reservations", body, Some(key))
            .await?;
        match answer.status {
            StatusCode::CREATED => created_id(peer, &answer),
            _ => Err(refusal(peer, &answer)),
        }
    }

    async fn release(&self, reservation_id: u64) -> Result<(), StepError> {
        let peer = self.inventory()?;
        let path = format!("/reservations/{reservation_id}");
        let answer = peer.call(Method::DELETE, &path, None, None).await?;
        match answer.status {
            StatusCode::OK => Ok(()),
            _ => Err(refusal(peer, &answer)),
        }
    }

    async fn charge(
        &self,
        order_id: u64,
        amount: i64,
        card: &str,
        key: &str,
    ) -> Result<u64, StepError> {
        let peer = self.payment()?;
        let body = json_body(json!({ "order_id": order_id, "amount": amount, "card": card }));
        let answer = peer
            .call(Method::POST, "/payments", body, Some(key))
            .await?;
        match answer.status {
            StatusCode::CREATED => created_id(peer, &answer),
            StatusCode::PAYMENT_REQUIRED => Err(declined(created_id(peer, &answer)?)),
            _ => Err(refusal(peer, &answer)),
        }
    }

    async fn refund(&self, payment_id: u64) -> Result<(), StepError> {
        let peer = self.payment()?;
        let path = format!("/payments/{payment_id}/refund");
        let key = format!("refund-{payment_id}");
        let answer = peer.call(Method::POST, &path, None, Some(&key)).await?;
        match answer.status {
            StatusCode::OK => Ok(()),
            _ => Err(refusal(peer, &answer)),
        }
    }
}
