//! The seed data, identical in the legacy stub and in every service (SPEC §8).
//!
//! Everything here is a pure function of its index — no clock, no randomness — so that the
//! same `GET` answers byte for byte the same from the monolith and from a new service:
//!
//! - SKUs `sku-1`..`sku-20` with fixed names and prices;
//! - customers `1`..`10`;
//! - orders `1`..`50`; order `n` belongs to customer `(n - 1) % 10 + 1`, has payment `n`
//!   and reservation `n`. Every tenth order is cancelled (payment refunded, reservation
//!   released), every seventh is pending, the rest confirmed.

use crate::clock;
use crate::domain::{
    CatalogEntry, Customer, LineItem, Order, OrderItem, OrderStatus, Payment, PaymentStatus,
    Reservation, ReservationStatus, StockItem,
};

pub const ORDER_COUNT: u64 = 50;
pub const CUSTOMER_COUNT: u64 = 10;

/// 2026-01-05T09:00:00Z, the time of the first seed order.
const EPOCH_SECS: u64 = 1_767_603_600;

const CATALOG: [(&str, &str, i64); 20] = [
    ("sku-1", "Espresso beans 1 kg", 2450),
    ("sku-2", "Pour-over kettle", 5900),
    ("sku-3", "Ceramic dripper", 2200),
    ("sku-4", "Paper filters (100)", 650),
    ("sku-5", "Burr grinder", 14900),
    ("sku-6", "Milk jug 600 ml", 1890),
    ("sku-7", "Tamper 58 mm", 3400),
    ("sku-8", "Digital scale", 2990),
    ("sku-9", "Cold brew bottle", 2590),
    ("sku-10", "Travel mug", 2100),
    ("sku-11", "Cupping spoon", 990),
    ("sku-12", "Knock box", 2750),
    ("sku-13", "Descaler", 1250),
    ("sku-14", "Cleaning tablets", 1490),
    ("sku-15", "Green tea 250 g", 1150),
    ("sku-16", "Matcha whisk", 1690),
    ("sku-17", "Teapot 1 l", 4490),
    ("sku-18", "Glass cups (2)", 1990),
    ("sku-19", "Decaf beans 500 g", 1390),
    ("sku-20", "Gift card", 5000),
];

/// The 20 SKUs of `GET /catalog`.
pub fn catalog() -> Vec<CatalogEntry> {
    CATALOG
        .iter()
        .map(|&(sku, name, price)| CatalogEntry { sku, name, price })
        .collect()
}

/// The catalog price of `sku`, if the catalog has it.
pub fn price_of(sku: &str) -> Option<i64> {
    CATALOG.iter().find(|e| e.0 == sku).map(|e| e.2)
}

const FIRST_NAMES: [&str; 10] = [
    "Ada", "Grace", "Alan", "Barbara", "Edsger", "Frances", "Donald", "Margaret", "Ken", "Radia",
];
const LAST_NAMES: [&str; 10] = [
    "Lovelace", "Hopper", "Turing", "Liskov", "Dijkstra", "Allen", "Knuth", "Hamilton", "Thompson",
    "Perlman",
];

/// Customers `1`..`10`.
pub fn customers() -> Vec<Customer> {
    (0..CUSTOMER_COUNT as usize)
        .map(|i| Customer {
            id: i as u64 + 1,
            name: format!("{} {}", FIRST_NAMES[i], LAST_NAMES[i]),
            email: format!(
                "{}.{}@example.com",
                FIRST_NAMES[i].to_lowercase(),
                LAST_NAMES[i].to_lowercase()
            ),
        })
        .collect()
}

fn sku(index: u64) -> String {
    format!("sku-{}", index % 20 + 1)
}

fn order_status(n: u64) -> OrderStatus {
    if n.is_multiple_of(10) {
        OrderStatus::Cancelled
    } else if n.is_multiple_of(7) {
        OrderStatus::Pending
    } else {
        OrderStatus::Confirmed
    }
}

fn order_lines(n: u64) -> Vec<LineItem> {
    let mut lines = vec![LineItem {
        sku: sku(n - 1),
        qty: (n % 3) as u32 + 1,
    }];
    if n.is_multiple_of(2) {
        lines.push(LineItem {
            sku: sku(n + 6),
            qty: 1,
        });
    }
    lines
}

/// When seed order `n` was placed: every 3 h 7 min from the seed epoch.
fn placed_at(n: u64) -> u64 {
    EPOCH_SECS + (n - 1) * (3 * 3600 + 7 * 60)
}

/// Orders `1`..`50`.
pub fn orders() -> Vec<Order> {
    (1..=ORDER_COUNT)
        .map(|n| {
            let items: Vec<OrderItem> = order_lines(n)
                .into_iter()
                .map(|l| OrderItem {
                    price: price_of(&l.sku).unwrap_or(0),
                    sku: l.sku,
                    qty: l.qty,
                })
                .collect();
            let total = items.iter().map(|i| i.price * i64::from(i.qty)).sum();
            Order {
                id: n,
                customer_id: (n - 1) % CUSTOMER_COUNT + 1,
                items,
                total,
                status: order_status(n),
                created_at: clock::rfc3339_at(placed_at(n)),
                error: None,
                saga: Vec::new(),
                reservation_id: Some(n),
                payment_id: Some(n),
            }
        })
        .collect()
}

/// Payments `1`..`50`, payment `n` for order `n`.
pub fn payments() -> Vec<Payment> {
    orders()
        .into_iter()
        .map(|order| Payment {
            id: order.id,
            order_id: order.id,
            amount: order.total,
            status: match order.status {
                OrderStatus::Cancelled => PaymentStatus::Refunded,
                OrderStatus::Pending | OrderStatus::Confirmed => PaymentStatus::Completed,
            },
            transaction_id: Some(format!("txn-seed-{:04}", order.id)),
            created_at: clock::rfc3339_at(placed_at(order.id) + 60),
        })
        .collect()
}

/// Reservations `1`..`50`, reservation `n` for order `n`.
pub fn reservations() -> Vec<Reservation> {
    (1..=ORDER_COUNT)
        .map(|n| Reservation {
            id: n,
            order_id: n,
            items: order_lines(n),
            status: match order_status(n) {
                OrderStatus::Cancelled => ReservationStatus::Released,
                OrderStatus::Pending | OrderStatus::Confirmed => ReservationStatus::Held,
            },
        })
        .collect()
}

/// Stock levels: a fixed amount available per SKU, plus what the held seed reservations
/// hold.
pub fn stock() -> Vec<StockItem> {
    let held = reservations();
    CATALOG
        .iter()
        .enumerate()
        .map(|(i, &(sku, name, price))| {
            let reserved = held
                .iter()
                .filter(|r| r.status == ReservationStatus::Held)
                .flat_map(|r| r.items.iter())
                .filter(|l| l.sku == sku)
                .map(|l| l.qty)
                .sum();
            StockItem {
                sku: sku.to_owned(),
                name: name.to_owned(),
                price,
                available: 20 + (i as u32 * 7) % 30,
                reserved,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_is_deterministic_and_complete() {
        assert_eq!(orders(), orders());
        assert_eq!(orders().len(), 50);
        assert_eq!(payments().len(), 50);
        assert_eq!(reservations().len(), 50);
        assert_eq!(stock().len(), 20);
        assert_eq!(customers().len(), 10);
        assert_eq!(orders()[0].created_at, "2026-01-05T09:00:00Z");
    }

    #[test]
    fn every_seed_line_is_in_the_catalog() {
        for order in orders() {
            for item in &order.items {
                assert!(price_of(&item.sku).is_some(), "{}", item.sku);
            }
        }
    }
}
