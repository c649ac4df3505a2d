//! The resources of SPEC §8 as Rust types, and the request bodies that create them.
//!
//! Money is integer cents, times are RFC 3339 strings. Request bodies are parsed into the
//! `New*` types, then validated into the domain types (`validate_*`), so that a handler never
//! sees a quantity of zero or an unknown SKU.

use serde::{Deserialize, Serialize};

use crate::error::{ApiError, ErrorKind};
use crate::seed;

/// Largest quantity of one SKU in one request; keeps totals far from overflow.
pub const MAX_QTY: i64 = 1_000_000;
/// Largest payment amount in cents.
pub const MAX_AMOUNT: i64 = 1_000_000_000;
/// Most line items in one request.
pub const MAX_ITEMS: usize = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OrderStatus {
    Pending,
    Confirmed,
    Cancelled,
}

/// One line of an order, priced at the catalog price when the order was placed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderItem {
    pub sku: String,
    pub qty: u32,
    pub price: i64,
}

/// An order. `error` and `saga` appear only on orders placed through the saga, so that seed
/// orders serialize identically everywhere.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    pub id: u64,
    pub customer_id: u64,
    pub items: Vec<OrderItem>,
    pub total: i64,
    pub status: OrderStatus,
    pub created_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub saga: Vec<SagaStep>,
    /// The reservation holding this order's stock, for compensation; not part of the API.
    #[serde(skip)]
    pub reservation_id: Option<u64>,
    /// The payment for this order, for compensation; not part of the API.
    #[serde(skip)]
    pub payment_id: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PaymentStatus {
    Completed,
    Declined,
    Refunded,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payment {
    pub id: u64,
    pub order_id: u64,
    pub amount: i64,
    pub status: PaymentStatus,
    /// The processor's reference; `null` for a declined payment.
    pub transaction_id: Option<String>,
    pub created_at: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StockItem {
    pub sku: String,
    pub name: String,
    pub price: i64,
    pub available: u32,
    pub reserved: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReservationStatus {
    Held,
    Released,
}

/// A SKU and a quantity, as reserved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineItem {
    pub sku: String,
    pub qty: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reservation {
    pub id: u64,
    pub order_id: u64,
    pub items: Vec<LineItem>,
    pub status: ReservationStatus,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Customer {
    pub id: u64,
    pub name: String,
    pub email: String,
}

/// One entry of `GET /catalog`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CatalogEntry {
    pub sku: &'static str,
    pub name: &'static str,
    pub price: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    Done,
    Failed,
    Compensated,
    CompensationFailed,
}

/// One step of the fulfillment saga as recorded on the order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SagaStep {
    pub step: &'static str,
    pub status: StepStatus,
    pub error: Option<String>,
}

/// A [`SagaStep`] as read back from JSON (events carry orders with their saga).
#[derive(Deserialize)]
struct SagaStepWire {
    step: String,
    status: StepStatus,
    error: Option<String>,
}

impl<'de> Deserialize<'de> for SagaStep {
    /// Maps the name back to one of the saga's own; an unknown name is an error.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let wire = SagaStepWire::deserialize(d)?;
        let step = [
            crate::saga::CREATE_ORDER,
            crate::saga::RESERVE_INVENTORY,
            crate::saga::PROCESS_PAYMENT,
            crate::saga::CONFIRM_ORDER,
        ]
        .into_iter()
        .find(|known| *known == wire.step)
        .ok_or_else(|| serde::de::Error::custom(format!("unknown saga step {:?}", wire.step)))?;
        Ok(SagaStep {
            step,
            status: wire.status,
            error: wire.error,
        })
    }
}

/// A requested line: `{"sku", "qty"}`, not yet validated.
#[derive(Debug, Clone, Deserialize)]
pub struct LineRequest {
    pub sku: String,
    pub qty: i64,
}

/// `POST /orders`.
#[derive(Debug, Clone, Deserialize)]
pub struct NewOrder {
    pub customer_id: u64,
    pub items: Vec<LineRequest>,
    pub card: String,
}

/// `POST /payments`.
#[derive(Debug, Clone, Deserialize)]
pub struct NewPayment {
    pub order_id: u64,
    pub amount: i64,
    pub card: String,
}

/// `POST /reservations`.
#[derive(Debug, Clone, Deserialize)]
pub struct NewReservation {
    pub order_id: u64,
    pub items: Vec<LineRequest>,
}

/// Checks every line: known SKU, quantity between 1 and [`MAX_QTY`], at most [`MAX_ITEMS`].
pub fn validate_lines(lines: &[LineRequest]) -> Result<Vec<LineItem>, ApiError> {
    if lines.is_empty() {
        return Err(ApiError::invalid("items must not be empty"));
    }
    if lines.len() > MAX_ITEMS {
        return Err(ApiError::invalid(format!("at most {MAX_ITEMS} items")));
    }
    lines
        .iter()
        .map(|line| {
            if !(1..=MAX_QTY).contains(&line.qty) {
                return Err(ApiError::invalid(format!(
                    "qty for {:?} must be between 1 and {MAX_QTY}, got {}",
                    line.sku, line.qty
                )));
            }
            if seed::price_of(&line.sku).is_none() {
                return Err(ApiError::new(
                    ErrorKind::UnknownSku,
                    format!("no SKU {:?} in the catalog", line.sku),
                ));
            }
            let qty = u32::try_from(line.qty).map_err(|_| ApiError::invalid("qty too large"))?;
            Ok(LineItem {
                sku: line.sku.clone(),
                qty,
            })
        })
        .collect()
}

/// Checks an order id found in a body.
pub fn validate_order_id(order_id: u64) -> Result<u64, ApiError> {
    if order_id == 0 {
        return Err(ApiError::invalid("order_id must be a positive integer"));
    }
    Ok(order_id)
}

/// Checks a card number: 12 to 19 digits.
pub fn validate_card(card: &str) -> Result<(), ApiError> {
    if (12..=19).contains(&card.len()) && card.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(ApiError::invalid("card must be 12 to 19 digits"))
    }
}

/// Checks a payment amount in cents.
pub fn validate_amount(amount: i64) -> Result<i64, ApiError> {
    if (1..=MAX_AMOUNT).contains(&amount) {
        Ok(amount)
    } else {
        Err(ApiError::invalid(format!(
            "amount must be between 1 and {MAX_AMOUNT} cents, got {amount}"
        )))
    }
}

/// Prices validated lines at catalog prices; returns the items and the total.
pub fn price_lines(lines: &[LineItem]) -> (Vec<OrderItem>, i64) {
    let items: Vec<OrderItem> = lines
        .iter()
        .map(|line| OrderItem {
            sku: line.sku.clone(),
            qty: line.qty,
            price: seed::price_of(&line.sku).unwrap_or(0),
        })
        .collect();
    let total = items.iter().map(|i| i.price * i64::from(i.qty)).sum();
    (items, total)
}
