//! `strangler ramp status|pause|resume|promote|rollback [NAME] [--admin ADDR]`:
//! the admin API's ramps from the command line.

use std::net::SocketAddr;
use std::process::ExitCode;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// Run one `strangler ramp` command against the admin API at `admin`.
pub fn run(verb: &str, name: Option<&str>, admin: SocketAddr) -> ExitCode {
    let (method, path) = match (verb, name) {
        ("status", None) => (http::Method::GET, "/-/ramps".to_string()),
        ("status", Some(_)) => (http::Method::GET, "/-/ramps".to_string()),
        (_, Some(n)) => (http::Method::POST, format!("/-/ramps/{n}/{verb}")),
        (_, None) => {
            eprintln!("error: `strangler ramp {verb}` needs the route's name");
            return ExitCode::from(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(3);
        }
    };
    let answer = rt.block_on(call(method, &format!("http://{admin}{path}")));
    let (status, body) = match answer {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: cannot reach the admin API at {admin}: {e}");
            return ExitCode::from(3);
        }
    };
    let mut value: serde_json::Value =
        serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
    if let (Some(n), "status") = (name, verb) {
        value = value.get(n).cloned().unwrap_or_else(|| {
            serde_json::json!({"error": "not_found", "message": format!("no ramp on a route named `{n}`")})
        });
    }
    println!(
        "{}",
        serde_json::to_string_pretty(&value).unwrap_or_default()
    );
    if status.is_success() && value.get("error").is_none() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

async fn call(method: http::Method, url: &str) -> Result<(http::StatusCode, Bytes), String> {
    let client: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let req = http::Request::builder()
        .method(method)
        .uri(url)
        .body(Empty::new())
        .map_err(|e| e.to_string())?;
    let resp = tokio::time::timeout(std::time::Duration::from_secs(10), client.request(req))
        .await
        .map_err(|_| "timed out".to_string())?
        .map_err(|e| crate::error::root_cause(&e))?;
    let status = resp.status();
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    Ok((status, body))
}
