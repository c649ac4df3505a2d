//! The orders capability: the order book and its HTTP routes.
//!
//! ```text
//! GET  /orders              every order, by id
//! POST /orders              {"customer_id", "items": [{"sku", "qty"}], "card"} -> runs the
//!                           fulfillment saga (crate::saga): 201 confirmed, 409 cancelled
//! GET  /orders/{id}         the order
//! POST /orders/{id}/cancel  status "cancelled" (idempotent); stock and payment are not
//!                           touched — release and refund have their own endpoints
//! ```
//!
//! With an [`Outbox`], the book records `order.created` and `order.cancelled` as it changes
//! (and the saga `order.confirmed`, `order.cancelled` when it ends), each carrying the order
//! as it is after the change. [`OrderBook::apply`] is the other side: the legacy stub
//! storing an order it learnt about from an event.

use crate::ids::Ids;
use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};

use hyper::{Method, Request, StatusCode};

use crate::domain::{
    price_lines, validate_card, validate_lines, LineItem, NewOrder, Order, OrderStatus,
};
use crate::error::{ApiError, ErrorKind};
use crate::events::{EventType, Outbox};
use crate::http::{self, HttpResponse};
use crate::saga::{self, Fulfillment, SagaPolicy};
use crate::{clock, lock, seed, RequestBody};

/// Every order by id.
#[derive(Debug)]
pub struct OrderBook {
    orders: BTreeMap<u64, Order>,
    ids: Ids,
    outbox: Option<Outbox>,
}

impl OrderBook {
    /// The seed orders.
    pub fn seeded() -> Self {
        let orders: BTreeMap<u64, Order> = seed::orders().into_iter().map(|o| (o.id, o)).collect();
        OrderBook {
            ids: Ids::after(orders.keys().copied()),
            orders,
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

    /// Records `event_type` for order `id` as it is now; called by whoever changed it,
    /// still holding the book's lock.
    pub fn emit(&self, event_type: EventType, id: u64) {
        if let (Some(outbox), Some(order)) = (&self.outbox, self.orders.get(&id)) {
            outbox.record_change(event_type, id, order);
        }
    }

    /// Stores `order` as an event reported it, replacing any order with its id.
    pub fn apply(&mut self, order: Order) {
        self.ids.saw(order.id);
        self.orders.insert(order.id, order);
    }

    pub fn get(&self, id: u64) -> Option<&Order> {
        self.orders.get(&id)
    }

    pub fn get_mut(&mut self, id: u64) -> Option<&mut Order> {
        self.orders.get_mut(&id)
    }

    /// Every order, by id.
    pub fn list(&self) -> Vec<Order> {
        self.orders.values().cloned().collect()
    }

    /// Stores a new `pending` order for validated lines, priced from the catalog.
    pub fn create(&mut self, customer_id: u64, lines: &[LineItem]) -> Order {
        let (items, total) = price_lines(lines);
        let order = Order {
            id: self.ids.take(),
            customer_id,
            items,
            total,
            status: OrderStatus::Pending,
            created_at: clock::now(),
            error: None,
            saga: Vec::new(),
            reservation_id: None,
            payment_id: None,
        };
        self.orders.insert(order.id, order.clone());
        self.emit(EventType::OrderCreated, order.id);
        order
    }

    /// Cancels order `id`; cancelling twice changes nothing.
    pub fn cancel(&mut self, id: u64) -> Result<Order, ApiError> {
        let order = self
            .orders
            .get_mut(&id)
            .ok_or_else(|| ApiError::not_found(format!("no order {id}")))?;
        let changed = order.status != OrderStatus::Cancelled;
        order.status = OrderStatus::Cancelled;
        let order = order.clone();
        if changed {
            self.emit(EventType::OrderCancelled, id);
        }
        Ok(order)
    }
}

/// The orders capability: the book, and where fulfillment happens.
#[derive(Debug)]
pub struct Orders<F> {
    book: Mutex<OrderBook>,
    fulfillment: F,
    policy: SagaPolicy,
}

impl<F: Fulfillment> Orders<F> {
    /// The seed order book, fulfilling new orders through `fulfillment`.
    pub fn new(fulfillment: F, policy: SagaPolicy) -> Self {
        Orders {
            book: Mutex::new(OrderBook::seeded()),
            fulfillment,
            policy,
        }
    }

    /// Records an event in `outbox` for every change of the book from now on.
    pub fn with_outbox(mut self, outbox: Outbox) -> Self {
        let book = self.book.get_mut().unwrap_or_else(PoisonError::into_inner);
        book.outbox = Some(outbox);
        self
    }

    /// See [`OrderBook::first_new_id`].
    pub fn first_new_id(self, first: u64) -> Self {
        crate::lock(&self.book).first_new_id(first);
        self
    }

    pub fn fulfillment(&self) -> &F {
        &self.fulfillment
    }

    /// The order book, e.g. for applying events to it.
    pub fn book(&self) -> &Mutex<OrderBook> {
        &self.book
    }

    /// Answers the order routes; anything else under them is `404`.
    pub async fn handle<B: RequestBody>(&self, req: Request<B>) -> HttpResponse {
        self.route(req)
            .await
            .unwrap_or_else(ApiError::into_response)
    }

    async fn route<B: RequestBody>(&self, req: Request<B>) -> Result<HttpResponse, ApiError> {
        let path = req.uri().path().to_owned();
        let method = req.method().clone();
        match http::segments(&path).as_slice() {
            ["orders"] if method == Method::GET => {
                Ok(http::json(StatusCode::OK, &lock(&self.book).list()))
            }
            ["orders"] if method == Method::POST => {
                let (parts, body) = req.into_parts();
                let body = http::read_body(&parts.headers, body).await?;
                let request: NewOrder = http::parse_json(&body)?;
                self.place(request).await
            }
            ["orders"] => Err(ApiError::method_not_allowed("GET, POST")),
            ["orders", id] => {
                http::expect_method(&method, "GET")?;
                let id = http::parse_id(id, "order")?;
                let order = lock(&self.book)
                    .get(id)
                    .cloned()
                    .ok_or_else(|| ApiError::not_found(format!("no order {id}")))?;
                Ok(http::json(StatusCode::OK, &order))
            }
            ["orders", id, "cancel"] => {
                http::expect_method(&method, "POST")?;
                let id = http::parse_id(id, "order")?;
                let cancelled = lock(&self.book).cancel(id)?;
                Ok(http::json(StatusCode::OK, &cancelled))
            }
            _ => Err(ApiError::not_found(format!("no route for {path}"))),
        }
    }

    async fn place(&self, request: NewOrder) -> Result<HttpResponse, ApiError> {
        if !(1..=seed::CUSTOMER_COUNT).contains(&request.customer_id) {
            return Err(ApiError::new(
                ErrorKind::UnknownCustomer,
                format!("no customer {}", request.customer_id),
            ));
        }
        let lines = validate_lines(&request.items)?;
        validate_card(&request.card)?;
        let (status, order) = saga::run(
            &self.book,
            &self.fulfillment,
            &self.policy,
            request.customer_id,
            lines,
            &request.card,
        )
        .await;
        Ok(http::json(status, &order))
    }
}
