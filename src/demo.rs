//! `strangler up`: the demo. Starts the monolith stub and the three services
//! in-process, each on the loopback address its upstream URL names
//! (upstreams named `legacy`, `order`, `payment`, `inventory`), then the proxy.

use std::net::SocketAddr;

use crate::config::Config;

fn addr_of(config: &Config, name: &str) -> Option<SocketAddr> {
    let u = config.upstreams.get(name)?;
    format!("{}:{}", u.url.host, u.url.port).parse().ok()
}

fn url_of(config: &Config, name: &str) -> Option<String> {
    config
        .upstreams
        .get(name)
        .map(|u| u.url.raw.trim_end_matches('/').to_string())
}

async fn listen(config: &Config, name: &str) -> Result<Option<tokio::net::TcpListener>, String> {
    let Some(addr) = addr_of(config, name) else {
        tracing::warn!(
            upstream = name,
            "no loopback upstream `{name}` in the config; not started"
        );
        return Ok(None);
    };
    if !addr.ip().is_loopback() {
        tracing::warn!(upstream = name, %addr, "not a loopback address; `up` starts only local services");
        return Ok(None);
    }
    tokio::net::TcpListener::bind(addr)
        .await
        .map(Some)
        .map_err(|e| format!("cannot start `{name}` on {addr}: {e}"))
}

fn never() -> std::future::Pending<()> {
    std::future::pending()
}

fn spawn_logged<F>(name: &'static str, fut: F)
where
    F: std::future::Future<Output = std::io::Result<()>> + Send + 'static,
{
    tokio::spawn(async move {
        if let Err(e) = fut.await {
            tracing::error!(service = name, error = %e, "demo service stopped");
        }
    });
}

pub async fn start_services(config: &Config) -> Result<(), String> {
    // One bus for all four (`demo: { event_bus }`): the services publish, the stub
    // consumes, so the monolith sees what the extracted services wrote.
    let bus = legacy_stub::Bus::from_spec(&config.demo.event_bus)
        .await
        .map_err(|e| format!("event_bus `{}`: {e}", config.demo.event_bus))?;
    tracing::info!(event_bus = %config.demo.event_bus, "demo services share one event bus");
    if let Some(l) = listen(config, "legacy").await? {
        let options = legacy_stub::Options {
            event_bus: Some(bus.clone()),
            ..Default::default()
        };
        spawn_logged("legacy-stub", legacy_stub::serve(l, options, never()));
    }
    if let Some(l) = listen(config, "payment").await? {
        let options = payment_service::Options {
            event_bus: Some(bus.clone()),
            ..Default::default()
        };
        spawn_logged(
            "payment-service",
            payment_service::serve(l, options, never()),
        );
    }
    if let Some(l) = listen(config, "inventory").await? {
        let options = inventory_service::Options {
            event_bus: Some(bus.clone()),
            ..Default::default()
        };
        spawn_logged(
            "inventory-service",
            inventory_service::serve(l, options, never()),
        );
    }
    if let Some(l) = listen(config, "order").await? {
        let options = order_service::Options {
            inventory_url: url_of(config, "inventory"),
            payment_url: url_of(config, "payment"),
            event_bus: Some(bus),
            ..Default::default()
        };
        spawn_logged("order-service", order_service::serve(l, options, never()));
    }
    Ok(())
}

pub fn print_hints(config: &Config) {
    let p = config.listen;
    let a = config.admin_listen;
    let me = std::env::current_exe()
        .map_or_else(|_| "strangler".to_string(), |e| e.display().to_string());
    eprintln!(
        "\nstrangler demo is up. Try:\n  curl http://{p}/orders/1            # order-service (extracted)\n  curl http://{p}/customers/1         # the monolith\n  curl http://{p}/                    # the monolith's home page\n  curl http://{p}/payments/1          # monolith answers, payment-service shadowed\n  curl http://{p}/orders/1/summary    # composed from three services\n  curl http://{a}/-/config            # admin API\n  {me} report --log {}\n",
        config.shadow.log.display()
    );
}
