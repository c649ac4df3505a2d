//! In-process fulfillment: the monolith's way, reserving and charging in its own stores.
//!
//! The legacy stub runs the same saga as order-service ([`crate::saga`]) through this, so
//! that both answer `POST /orders` with the same shape and the same step names.

use std::sync::{Arc, Mutex};

use crate::domain::{LineItem, PaymentStatus};
use crate::inventory::Inventory;
use crate::lock;
use crate::payments::Ledger;
use crate::saga::{Fulfillment, StepError, PAYMENT_DECLINED};

/// Stock and ledger shared with the stub's own inventory and payment routes.
#[derive(Debug, Clone)]
pub struct LocalFulfillment {
    pub inventory: Arc<Mutex<Inventory>>,
    pub ledger: Arc<Mutex<Ledger>>,
}

impl LocalFulfillment {
    /// Seeded stores.
    pub fn seeded() -> Self {
        LocalFulfillment {
            inventory: Arc::new(Mutex::new(Inventory::seeded())),
            ledger: Arc::new(Mutex::new(Ledger::seeded())),
        }
    }
}

impl Fulfillment for LocalFulfillment {
    async fn reserve(
        &self,
        order_id: u64,
        items: &[LineItem],
        _key: &str,
    ) -> Result<u64, StepError> {
        let reservation = lock(&self.inventory).reserve(order_id, items.to_vec())?;
        Ok(reservation.id)
    }

    async fn release(&self, reservation_id: u64) -> Result<(), StepError> {
        lock(&self.inventory).release(reservation_id)?;
        Ok(())
    }

    async fn charge(
        &self,
        order_id: u64,
        amount: i64,
        card: &str,
        _key: &str,
    ) -> Result<u64, StepError> {
        let payment = lock(&self.ledger).charge(order_id, amount, card);
        match payment.status {
            PaymentStatus::Declined => Err(declined(payment.id)),
            PaymentStatus::Completed | PaymentStatus::Refunded => Ok(payment.id),
        }
    }

    async fn refund(&self, payment_id: u64) -> Result<(), StepError> {
        lock(&self.ledger).refund(payment_id)?;
        Ok(())
    }
}

/// The error of a declined charge, the same wherever the charge happened.
pub fn declined(payment_id: u64) -> StepError {
    StepError::refused(
        PAYMENT_DECLINED,
        format!("payment {payment_id} was declined by the card issuer"),
    )
}
