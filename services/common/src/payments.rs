//! The payments capability: a ledger of charges and refunds.
//!
//! ```text
//! POST /payments                    {"order_id", "amount", "card"} -> 201 completed,
//!                                   or 402 with the payment "declined" (honours Idempotency-Key)
//! GET  /payments/{id}               the payment
//! GET  /payments/order/{order_id}   the order's payments, by id
//! POST /payments/{id}/refund        status "refunded" (idempotent; 409 for a declined payment)
//! ```
//!
//! The test card [`DECLINED_CARD`] is always declined; every other well-formed card is
//! charged.
//!
//! With an [`Outbox`], the ledger records `payment.completed` or `payment.declined` for each
//! charge and `payment.refunded` for each refund, carrying the payment after the change;
//! [`Ledger::apply`] stores a payment learnt from such an event (the legacy stub's side).

use crate::ids::Ids;
use std::collections::BTreeMap;
use std::sync::Mutex;

use bytes::Bytes;
use hyper::{Request, StatusCode};

use crate::domain::{
    validate_amount, validate_card, validate_order_id, NewPayment, Payment, PaymentStatus,
};
use crate::error::{ApiError, ErrorKind};
use crate::events::{EventType, Outbox};
use crate::http::{self, HttpResponse};
use crate::idempotency::IdempotencyCache;
use crate::{clock, lock, seed, RequestBody};

/// The card number the processor always declines.
pub const DECLINED_CARD: &str = "4000000000000002";

/// Payments and the idempotency cache of `POST /payments`.
#[derive(Debug)]
pub struct Ledger {
    payments: BTreeMap<u64, Payment>,
    ids: Ids,
    idempotency: IdempotencyCache,
    outbox: Option<Outbox>,
}

impl Ledger {
    /// The seed payments.
    pub fn seeded() -> Self {
        let payments: BTreeMap<u64, Payment> =
            seed::payments().into_iter().map(|p| (p.id, p)).collect();
        Ledger {
            ids: Ids::after(payments.keys().copied()),
            payments,
            idempotency: IdempotencyCache::default(),
            outbox: None,
        }
    }

    /// See [`Ids::start_at`].
    pub fn first_new_id(&mut self, first: u64) {
        self.ids.start_at(first);
    }

    /// Records an event in `outbox` for every change from now on.
    pub fn with_outbox(mut self, outbox: Outbox) -> Self {
        self.outbox = Some(outbox);
        self
    }

    fn emit(&self, event_type: EventType, payment: &Payment) {
        if let Some(outbox) = &self.outbox {
            outbox.record_change(event_type, payment.id, payment);
        }
    }

    /// Stores `payment` as an event reported it, replacing any payment with its id.
    pub fn apply(&mut self, payment: Payment) {
        self.ids.saw(payment.id);
        self.payments.insert(payment.id, payment);
    }

    pub fn get(&self, id: u64) -> Option<&Payment> {
        self.payments.get(&id)
    }

    /// The payments of `order_id`, by id.
    pub fn for_order(&self, order_id: u64) -> Vec<Payment> {
        self.payments
            .values()
            .filter(|p| p.order_id == order_id)
            .cloned()
            .collect()
    }

    /// Charges `card`; the payment is recorded either way, `declined` for [`DECLINED_CARD`].
    pub fn charge(&mut self, order_id: u64, amount: i64, card: &str) -> Payment {
        let id = self.ids.take();
        let declined = card == DECLINED_CARD;
        let payment = Payment {
            id,
            order_id,
            amount,
            status: if declined {
                PaymentStatus::Declined
            } else {
                PaymentStatus::Completed
            },
            transaction_id: (!declined).then(|| format!("txn-{id:08}")),
            created_at: clock::now(),
        };
        self.payments.insert(id, payment.clone());
        let event_type = if declined {
            EventType::PaymentDeclined
        } else {
            EventType::PaymentCompleted
        };
        self.emit(event_type, &payment);
        payment
    }

    /// Refunds payment `id`. Refunding twice changes nothing; a declined payment has nothing
    /// to refund.
    pub fn refund(&mut self, id: u64) -> Result<Payment, ApiError> {
        let payment = self
            .payments
            .get_mut(&id)
            .ok_or_else(|| ApiError::not_found(format!("no payment {id}")))?;
        match payment.status {
            PaymentStatus::Completed => {
                payment.status = PaymentStatus::Refunded;
                let payment = payment.clone();
                self.emit(EventType::PaymentRefunded, &payment);
                return Ok(payment);
            }
            PaymentStatus::Refunded => {}
            PaymentStatus::Declined => {
                return Err(ApiError::new(
                    ErrorKind::InvalidState,
                    format!("payment {id} was declined; there is nothing to refund"),
                ))
            }
        }
        Ok(payment.clone())
    }
}

/// The status `POST /payments` answers a payment with.
pub fn charge_status(payment: &Payment) -> StatusCode {
    match payment.status {
        PaymentStatus::Declined => StatusCode::PAYMENT_REQUIRED,
        PaymentStatus::Completed | PaymentStatus::Refunded => StatusCode::CREATED,
    }
}

/// Answers the payment routes; anything else under them is `404`.
pub async fn handle<B: RequestBody>(ledger: &Mutex<Ledger>, req: Request<B>) -> HttpResponse {
    route(ledger, req)
        .await
        .unwrap_or_else(ApiError::into_response)
}

async fn route<B: RequestBody>(
    ledger: &Mutex<Ledger>,
    req: Request<B>,
) -> Result<HttpResponse, ApiError> {
    let path = req.uri().path().to_owned();
    let method = req.method().clone();
    match http::segments(&path).as_slice() {
        ["payments"] => {
            http::expect_method(&method, "POST")?;
            let key = http::idempotency_key(req.headers())?;
            let (parts, body) = req.into_parts();
            let body = http::read_body(&parts.headers, body).await?;
            let mut ledger = lock(ledger);
            // The cache is taken out for the call so that `create` can borrow the rest.
            let mut cache = std::mem::take(&mut ledger.idempotency);
            let response = cache.run(key.as_deref(), &body, || create(&mut ledger, &body));
            ledger.idempotency = cache;
            Ok(response)
        }
        ["payments", "order", order_id] => {
            http::expect_method(&method, "GET")?;
            let order_id = http::parse_id(order_id, "order")?;
            Ok(http::json(
                StatusCode::OK,
                &lock(ledger).for_order(order_id),
            ))
        }
        ["payments", id] => {
            http::expect_method(&method, "GET")?;
            let id = http::parse_id(id, "payment")?;
            let payment = lock(ledger)
                .get(id)
                .cloned()
                .ok_or_else(|| ApiError::not_found(format!("no payment {id}")))?;
            Ok(http::json(StatusCode::OK, &payment))
        }
        ["payments", id, "refund"] => {
            http::expect_method(&method, "POST")?;
            let id = http::parse_id(id, "payment")?;
            let refunded = lock(ledger).refund(id)?;
            Ok(http::json(StatusCode::OK, &refunded))
        }
        _ => Err(ApiError::not_found(format!("no route for {path}"))),
    }
}

fn create(ledger: &mut Ledger, body: &Bytes) -> Result<(StatusCode, Bytes), ApiError> {
    let request: NewPayment = http::parse_json(body)?;
    let order_id = validate_order_id(request.order_id)?;
    let amount = validate_amount(request.amount)?;
    validate_card(&request.card)?;
    let payment = ledger.charge(order_id, amount, &request.card);
    Ok((charge_status(&payment), http::to_json(&payment)?))
}
