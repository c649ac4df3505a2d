//! `GET /`: the monolith's home page, a fixed HTML document.

use hyper::{Method, StatusCode};
use service_common::http::{self, HttpResponse};

const PAGE: &str = r#"<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Legacy Shop</title></head>
<body>
<h1>Legacy Shop</h1>
<p>The monolith. Everything still lives here.</p>
<ul>
<li><a href="/orders">Orders</a></li>
<li><a href="/catalog">Catalog</a></li>
<li><a href="/customers/1">Customer 1</a></li>
<li><a href="/inventory/sku-1">Stock of sku-1</a></li>
<li><a href="/payments/1">Payment 1</a></li>
</ul>
</body>
</html>
"#;

/// `GET /`.
pub fn page(method: &Method) -> HttpResponse {
    match http::expect_method(method, "GET") {
        Ok(()) => http::html(StatusCode::OK, PAGE),
        Err(e) => e.into_response(),
    }
}
