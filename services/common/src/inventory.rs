//! The inventory capability: stock per SKU and reservations against it.
//!
//! ```text
//! GET    /inventory/{sku}                 the stock item
//! POST   /reservations                    {"order_id", "items": [{"sku", "qty"}]} -> 201
//!                                         (409 insufficient_stock; honours Idempotency-Key)
//! GET    /reservations/order/{order_id}   the order's reservations, by id
//! DELETE /reservations/{id}               release: status "released", stock back (idempotent)
//! ```
//!
//! Reserving moves quantity from `available` to `reserved`; releasing moves it back. A
//! reservation is all or nothing.
//!
//! With an [`Outbox`], the inventory records `inventory.reserved` and `inventory.released`,
//! carrying the reservation after the change; [`Inventory::apply`] replays such a change on
//! another inventory (the legacy stub's), moving its stock the same way.

use crate::ids::Ids;
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use bytes::Bytes;
use hyper::{Request, StatusCode};

use crate::domain::{
    validate_lines, validate_order_id, LineItem, NewReservation, Reservation, ReservationStatus,
    StockItem,
};
use crate::error::{ApiError, ErrorKind};
use crate::events::{EventType, Outbox};
use crate::http::{self, HttpResponse};
use crate::idempotency::IdempotencyCache;
use crate::{lock, seed, RequestBody};

/// Stock, reservations and the idempotency cache of `POST /reservations`.
#[derive(Debug)]
pub struct Inventory {
    stock: HashMap<String, StockItem>,
    reservations: BTreeMap<u64, Reservation>,
    ids: Ids,
    idempotency: IdempotencyCache,
    outbox: Option<Outbox>,
}

impl Inventory {
    /// The seed stock and reservations.
    pub fn seeded() -> Self {
        let reservations: BTreeMap<u64, Reservation> = seed::reservations()
            .into_iter()
            .map(|r| (r.id, r))
            .collect();
        Inventory {
            stock: seed::stock()
                .into_iter()
                .map(|s| (s.sku.clone(), s))
                .collect(),
            ids: Ids::after(reservations.keys().copied()),
            reservations,
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

    fn emit(&self, event_type: EventType, reservation: &Reservation) {
        if let Some(outbox) = &self.outbox {
            outbox.record_change(event_type, reservation.id, reservation);
        }
    }

    /// Applies a reservation as an event reported it: a new held reservation takes its stock
    /// (as far as there is stock here), a held one that is now released gives it back;
    /// anything else only stores the reservation's fields.
    pub fn apply(&mut self, reservation: Reservation) {
        self.ids.saw(reservation.id);
        let known = self.reservations.get(&reservation.id).map(|r| r.status);
        match (known, reservation.status) {
            (None, ReservationStatus::Held) => {
                for line in &reservation.items {
                    if let Some(item) = self.stock.get_mut(&line.sku) {
                        let qty = line.qty.min(item.available);
                        if qty < line.qty {
                            tracing::warn!(sku = %line.sku, wanted = line.qty, qty,
                                "applying a reservation beyond the stock here");
                        }
                        item.available -= qty;
                        item.reserved += qty;
                    }
                }
                self.reservations.insert(reservation.id, reservation);
            }
            (Some(ReservationStatus::Held), ReservationStatus::Released) => {
                // `release` returns the stock of the reservation as stored here.
                let _ = self.release_quietly(reservation.id);
            }
            (None, ReservationStatus::Released) => {
                self.reservations.insert(reservation.id, reservation);
            }
            (Some(_), _) => {}
        }
    }

    pub fn item(&self, sku: &str) -> Option<&StockItem> {
        self.stock.get(sku)
    }

    /// Holds `items` for `order_id`, all or nothing.
    pub fn reserve(
        &mut self,
        order_id: u64,
        items: Vec<LineItem>,
    ) -> Result<Reservation, ApiError> {
        let mut wanted: BTreeMap<&str, u64> = BTreeMap::new();
        for line in &items {
            *wanted.entry(line.sku.as_str()).or_default() += u64::from(line.qty);
        }
        for (sku, qty) in &wanted {
            let Some(item) = self.stock.get(*sku) else {
                return Err(ApiError::new(
                    ErrorKind::UnknownSku,
                    format!("no stock item {sku:?}"),
                ));
            };
            if *qty > u64::from(item.available) {
                return Err(ApiError::new(
                    ErrorKind::InsufficientStock,
                    format!("{sku}: {qty} requested, {} available", item.available),
                ));
            }
        }
        for line in &items {
            if let Some(item) = self.stock.get_mut(&line.sku) {
                item.available -= line.qty;
                item.reserved += line.qty;
            }
        }
        let reservation = Reservation {
            id: self.ids.take(),
            order_id,
            items,
            status: ReservationStatus::Held,
        };
        self.reservations
            .insert(reservation.id, reservation.clone());
        self.emit(EventType::InventoryReserved, &reservation);
        Ok(reservation)
    }

    /// Releases reservation `id`, returning its stock. Releasing twice changes nothing.
    pub fn release(&mut self, id: u64) -> Result<Reservation, ApiError> {
        let (reservation, changed) = self.release_quietly(id)?;
        if changed {
            self.emit(EventType::InventoryReleased, &reservation);
        }
        Ok(reservation)
    }

    /// Releases without recording an event; tells whether anything changed.
    fn release_quietly(&mut self, id: u64) -> Result<(Reservation, bool), ApiError> {
        let reservation = self
            .reservations
            .get_mut(&id)
            .ok_or_else(|| ApiError::not_found(format!("no reservation {id}")))?;
        let changed = reservation.status == ReservationStatus::Held;
        if changed {
            reservation.status = ReservationStatus::Released;
            for line in &reservation.items {
                if let Some(item) = self.stock.get_mut(&line.sku) {
                    let qty = line.qty.min(item.reserved);
                    item.reserved -= qty;
                    item.available += qty;
                }
            }
        }
        Ok((reservation.clone(), changed))
    }

    /// The reservations of `order_id`, by id.
    pub fn for_order(&self, order_id: u64) -> Vec<Reservation> {
        self.reservations
            .values()
            .filter(|r| r.order_id == order_id)
            .cloned()
            .collect()
    }
}

/// Answers the inventory routes; anything else under them is `404`.
pub async fn handle<B: RequestBody>(inventory: &Mutex<Inventory>, req: Request<B>) -> HttpResponse {
    route(inventory, req)
        .await
        .unwrap_or_else(ApiError::into_response)
}

async fn route<B: RequestBody>(
    inventory: &Mutex<Inventory>,
    req: Request<B>,
) -> Result<HttpResponse, ApiError> {
    let path = req.uri().path().to_owned();
    let method = req.method().clone();
    match http::segments(&path).as_slice() {
        ["inventory", sku] => {
            http::expect_method(&method, "GET")?;
            let item = lock(inventory)
                .item(sku)
                .cloned()
                .ok_or_else(|| ApiError::not_found(format!("no stock item {sku:?}")))?;
            Ok(http::json(StatusCode::OK, &item))
        }
        ["reservations"] => {
            http::expect_method(&method, "POST")?;
            let key = http::idempotency_key(req.headers())?;
            let (parts, body) = req.into_parts();
            let body = http::read_body(&parts.headers, body).await?;
            let mut inventory = lock(inventory);
            // The cache is taken out for the call so that `create` can borrow the rest.
            let mut cache = std::mem::take(&mut inventory.idempotency);
            let response = cache.run(key.as_deref(), &body, || create(&mut inventory, &body));
            inventory.idempotency = cache;
            Ok(response)
        }
        ["reservations", "order", order_id] => {
            http::expect_method(&method, "GET")?;
            let order_id = http::parse_id(order_id, "order")?;
            Ok(http::json(
                StatusCode::OK,
                &lock(inventory).for_order(order_id),
            ))
        }
        ["reservations", id] => {
            http::expect_method(&method, "DELETE")?;
            let id = http::parse_id(id, "reservation")?;
            let released = lock(inventory).release(id)?;
            Ok(http::json(StatusCode::OK, &released))
        }
        _ => Err(ApiError::not_found(format!("no route for {path}"))),
    }
}

fn create(inventory: &mut Inventory, body: &Bytes) -> Result<(StatusCode, Bytes), ApiError> {
    let request: NewReservation = http::parse_json(body)?;
    let order_id = validate_order_id(request.order_id)?;
    let items = validate_lines(&request.items)?;
    let reservation = inventory.reserve(order_id, items)?;
    Ok((StatusCode::CREATED, http::to_json(&reservation)?))
}
