//! Cross-references checked while deserializing, so that an unknown upstream
//! name or a duplicate route name is reported at its own line and column.
//!
//! Parsing runs in two passes (see `config::parse`): the first collects the
//! upstream names, the second deserializes the whole file with those names
//! installed here. The context is thread-local and scoped by [`Scope`].

use std::cell::RefCell;
use std::collections::HashSet;

use super::units::{scalar_deserialize, scalar_schema};

#[derive(Default)]
struct Context {
    upstreams: Vec<String>,
    route_names: HashSet<String>,
}

thread_local! {
    static CONTEXT: RefCell<Option<Context>> = const { RefCell::new(None) };
}

/// Installs the known upstream names for the duration of one parse.
pub struct Scope;

impl Scope {
    pub fn enter(upstreams: Vec<String>) -> Scope {
        CONTEXT.with(|c| {
            *c.borrow_mut() = Some(Context {
                upstreams,
                route_names: HashSet::new(),
            })
        });
        Scope
    }
}

impl Drop for Scope {
    fn drop(&mut self) {
        CONTEXT.with(|c| *c.borrow_mut() = None);
    }
}

/// A reference to an entry of `upstreams:`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UpstreamRef(pub String);

fn parse_upstream_ref(s: &str) -> Result<UpstreamRef, String> {
    CONTEXT.with(|c| match &*c.borrow() {
        Some(ctx) if !ctx.upstreams.iter().any(|u| u == s) => Err(format!(
            "unknown upstream `{s}`; define it under `upstreams:` or use one of: {}",
            if ctx.upstreams.is_empty() {
                "(none defined)".to_string()
            } else {
                ctx.upstreams.join(", ")
            }
        )),
        _ => Ok(UpstreamRef(s.to_string())),
    })
}
scalar_deserialize!(UpstreamRef, "the name of an upstream", parse_upstream_ref);
scalar_schema!(UpstreamRef, "UpstreamName", {"type": "string", "description": "the name of an upstream under upstreams:"});

/// A route's `name`: unique within the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteName(pub String);

fn parse_route_name(s: &str) -> Result<RouteName, String> {
    if s.is_empty()
        || !s
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        return Err(format!(
            "route name `{s}` must be non-empty letters, digits, `-`, `_` or `.` (it is used in metrics labels)"
        ));
    }
    let fresh = CONTEXT.with(|c| match &mut *c.borrow_mut() {
        Some(ctx) => ctx.route_names.insert(s.to_string()),
        None => true,
    });
    if fresh {
        Ok(RouteName(s.to_string()))
    } else {
        Err(format!(
            "duplicate route name `{s}`; route names must be unique, rename this one (e.g. `{s}-2`)"
        ))
    }
}
scalar_deserialize!(RouteName, "a unique route name", parse_route_name);
scalar_schema!(RouteName, "RouteName", {"type": "string", "minLength": 1, "description": "a unique route name, used in logs, metrics and reports"});
