//! The order fulfillment saga of SPEC §9, independent of where inventory and payments live.
//!
//! ```text
//! create_order ──> reserve_inventory ──> process_payment ──> confirm_order
//!  (cancel)         (release)             (refund)            (back to pending)
//! ```
//!
//! [`run`] performs the steps in order through a [`Fulfillment`] — in-process stores in the
//! legacy stub ([`crate::local::LocalFulfillment`]), HTTP peers in order-service. When a step
//! fails, the completed steps are compensated in reverse order; a compensation that fails is
//! retried with backoff and, if it still fails, recorded as `compensation_failed` and logged
//! at error level — never dropped. Every step's outcome is written to the order as it
//! happens, so `GET /orders/{id}` shows the saga in progress.

use std::future::Future;
use std::sync::Mutex;

use hyper::StatusCode;

use crate::backoff::Backoff;
use crate::domain::{LineItem, Order, OrderStatus, SagaStep, StepStatus};
use crate::error::{ApiError, ErrorKind};
use crate::events::EventType;
use crate::lock;
use crate::orders::OrderBook;

pub const CREATE_ORDER: &str = "create_order";
pub const RESERVE_INVENTORY: &str = "reserve_inventory";
pub const PROCESS_PAYMENT: &str = "process_payment";
pub const CONFIRM_ORDER: &str = "confirm_order";

/// The kind of error for a declined card.
pub const PAYMENT_DECLINED: &str = "payment_declined";

/// Why a step or a compensation failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepError {
    /// A stable name: the peer's `error` kind, `payment_declined`, `peer_unavailable`, ...
    pub kind: String,
    pub message: String,
    /// Whether trying again may help (timeouts, 5xx), as opposed to a business refusal.
    pub retryable: bool,
}

impl StepError {
    /// A business refusal: trying again will not help.
    pub fn refused(kind: impl Into<String>, message: impl Into<String>) -> Self {
        StepError {
            kind: kind.into(),
            message: message.into(),
            retryable: false,
        }
    }

    /// A failure to get an answer at all.
    pub fn unavailable(kind: impl Into<String>, message: impl Into<String>) -> Self {
        StepError {
            kind: kind.into(),
            message: message.into(),
            retryable: true,
        }
    }

    /// The status of the saga's answer when this error stopped it: `503` when a peer is not
    /// configured at all, `409` otherwise.
    pub fn answer_status(&self) -> StatusCode {
        if self.kind == ErrorKind::PeerNotConfigured.as_str() {
            StatusCode::SERVICE_UNAVAILABLE
        } else {
            StatusCode::CONFLICT
        }
    }
}

impl From<ApiError> for StepError {
    fn from(e: ApiError) -> Self {
        StepError {
            retryable: e.kind.status().is_server_error(),
            kind: e.kind.as_str().to_owned(),
            message: e.message,
        }
    }
}

impl std::fmt::Display for StepError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.kind, self.message)
    }
}

/// Where stock is held and money taken. Implementations report business refusals with
/// `retryable: false`, so that only real outages are retried.
pub trait Fulfillment: Send + Sync {
    /// Holds `items` for `order_id`; returns the reservation id.
    fn reserve(
        &self,
        order_id: u64,
        items: &[LineItem],
        idempotency_key: &str,
    ) -> impl Future<Output = Result<u64, StepError>> + Send;
    /// Releases a reservation; releasing twice must succeed.
    fn release(&self, reservation_id: u64) -> impl Future<Output = Result<(), StepError>> + Send;
    /// Charges `amount` cents to `card`; returns the payment id.
    fn charge(
        &self,
        order_id: u64,
        amount: i64,
        card: &str,
        idempotency_key: &str,
    ) -> impl Future<Output = Result<u64, StepError>> + Send;
    /// Refunds a payment; refunding twice must succeed.
    fn refund(&self, payment_id: u64) -> impl Future<Output = Result<(), StepError>> + Send;
}

/// How a saga talks to its peers.
#[derive(Debug, Clone)]
pub struct SagaPolicy {
    /// Prefix of the idempotency keys sent with each step, unique per process so that a
    /// restarted service does not replay another process's answers.
    pub key_prefix: String,
    /// Retries of a failed compensation.
    pub compensation: Backoff,
}

impl Default for SagaPolicy {
    fn default() -> Self {
        SagaPolicy {
            key_prefix: String::new(),
            compensation: Backoff {
                attempts: 4,
                ..Backoff::default()
            },
        }
    }
}

/// A step that completed and may need undoing.
enum Completed {
    Order,
    Reservation(u64),
    Payment(u64),
}

/// Runs the saga for a validated order; answers `201` with the confirmed order, or the
/// failure's status with the cancelled order carrying `error`.
pub async fn run<F: Fulfillment>(
    book: &Mutex<OrderBook>,
    fulfillment: &F,
    policy: &SagaPolicy,
    customer_id: u64,
    lines: Vec<LineItem>,
    card: &str,
) -> (StatusCode, Order) {
    let mut order = lock(book).create(customer_id, &lines);
    let id = order.id;
    let key = |step: &str| format!("{}order-{id}-{step}", policy.key_prefix);
    record(book, &mut order, CREATE_ORDER, StepStatus::Done, None);
    let mut completed = vec![Completed::Order];

    let failure = 'steps: {
        match fulfillment.reserve(id, &lines, &key("reserve")).await {
            Ok(reservation) => {
                update(book, &mut order, |o| o.reservation_id = Some(reservation));
                record(book, &mut order, RESERVE_INVENTORY, StepStatus::Done, None);
                completed.push(Completed::Reservation(reservation));
            }
            Err(e) => break 'steps Some((RESERVE_INVENTORY, e)),
        }
        let total = order.total;
        match fulfillment.charge(id, total, card, &key("payment")).await {
            Ok(payment) => {
                update(book, &mut order, |o| o.payment_id = Some(payment));
                record(book, &mut order, PROCESS_PAYMENT, StepStatus::Done, None);
                completed.push(Completed::Payment(payment));
            }
            Err(e) => break 'steps Some((PROCESS_PAYMENT, e)),
        }
        match confirm(book, &mut order) {
            Ok(()) => {
                let confirmed = Some(EventType::OrderConfirmed);
                let done = StepStatus::Done;
                record_emitting(book, &mut order, CONFIRM_ORDER, done, None, confirmed);
            }
            Err(e) => break 'steps Some((CONFIRM_ORDER, e)),
        }
        None
    };

    let Some((step, error)) = failure else {
        return (StatusCode::CREATED, order);
    };
    tracing::warn!(order = id, step, error = %error, "saga step failed; compensating");
    record(
        book,
        &mut order,
        step,
        StepStatus::Failed,
        Some(error.to_string()),
    );
    for done in completed.into_iter().rev() {
        compensate(book, fulfillment, policy, &mut order, done).await;
    }
    let cancelled = Some(EventType::OrderCancelled);
    update_emitting(book, &mut order, cancelled, |o| {
        o.error = Some(error.kind.clone());
    });
    (error.answer_status(), order)
}

fn confirm(book: &Mutex<OrderBook>, order: &mut Order) -> Result<(), StepError> {
    let mut refused = None;
    update(book, order, |o| {
        if o.status == OrderStatus::Pending {
            o.status = OrderStatus::Confirmed;
        } else {
            refused = Some(StepError::refused(
                ErrorKind::InvalidState.as_str(),
                format!("order {} was cancelled while being fulfilled", o.id),
            ));
        }
    });
    refused.map_or(Ok(()), Err)
}

async fn compensate<F: Fulfillment>(
    book: &Mutex<OrderBook>,
    fulfillment: &F,
    policy: &SagaPolicy,
    order: &mut Order,
    done: Completed,
) {
    let retryable = |e: &StepError| e.retryable;
    let (step, result) = match done {
        Completed::Order => {
            update(book, order, |o| o.status = OrderStatus::Cancelled);
            (CREATE_ORDER, Ok(()))
        }
        Completed::Reservation(id) => {
            let result = policy
                .compensation
                .retry(|| fulfillment.release(id), retryable)
                .await;
            (RESERVE_INVENTORY, result)
        }
        Completed::Payment(id) => {
            let result = policy
                .compensation
                .retry(|| fulfillment.refund(id), retryable)
                .await;
            (PROCESS_PAYMENT, result)
        }
    };
    match result {
        Ok(()) => record(book, order, step, StepStatus::Compensated, None),
        Err(e) => {
            tracing::error!(order = order.id, step, error = %e,
                "compensation failed after retries; manual repair needed");
            let error = Some(e.to_string());
            record(book, order, step, StepStatus::CompensationFailed, error);
        }
    }
}

/// Applies `change` to the stored order and refreshes `order` from it.
fn update(book: &Mutex<OrderBook>, order: &mut Order, change: impl FnOnce(&mut Order)) {
    update_emitting(book, order, None, change);
}

/// [`update`], then records `event` with the changed order, under the same lock.
fn update_emitting(
    book: &Mutex<OrderBook>,
    order: &mut Order,
    event: Option<EventType>,
    change: impl FnOnce(&mut Order),
) {
    let mut book = lock(book);
    match book.get_mut(order.id) {
        Some(stored) => {
            change(stored);
            *order = stored.clone();
            if let Some(event) = event {
                book.emit(event, order.id);
            }
        }
        None => change(order),
    }
}

/// Sets the outcome of `step` on the order, adding the step the first time.
fn record(
    book: &Mutex<OrderBook>,
    order: &mut Order,
    step: &'static str,
    status: StepStatus,
    error: Option<String>,
) {
    record_emitting(book, order, step, status, error, None);
}

/// [`record`], then records `event` with the changed order, under the same lock.
fn record_emitting(
    book: &Mutex<OrderBook>,
    order: &mut Order,
    step: &'static str,
    status: StepStatus,
    error: Option<String>,
    event: Option<EventType>,
) {
    update_emitting(book, order, event, |o| {
        match o.saga.iter_mut().find(|s| s.step == step) {
            Some(entry) => {
                entry.status = status;
                entry.error = error;
            }
            None => o.saga.push(SagaStep {
                step,
                status,
                error,
            }),
        }
    });
}
