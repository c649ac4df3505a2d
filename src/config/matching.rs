//! The scalars of a route's `match`: path templates with `{name}` captures,
//! path prefixes, regexes, methods and header names — each validated where it
//! is written, so an error carries its own line and column.

use super::units::{scalar_deserialize, scalar_schema};

/// An HTTP method, upper-cased.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MethodName(pub http::Method);
fn parse_method(s: &str) -> Result<MethodName, String> {
    let upper = s.to_ascii_uppercase();
    match upper.as_str() {
        "GET" | "HEAD" | "POST" | "PUT" | "DELETE" | "PATCH" | "OPTIONS" | "TRACE" => {
            http::Method::from_bytes(upper.as_bytes())
                .map(MethodName)
                .map_err(|e| e.to_string())
        }
        _ => Err(format!(
            "`{s}` is not an HTTP method; use GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS or TRACE"
        )),
    }
}
scalar_deserialize!(MethodName, "an HTTP method like GET", parse_method);
scalar_schema!(MethodName, "Method", {"type": "string", "description": "an HTTP method like GET"});

/// A header name (matched case-insensitively).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HeaderMatchName(pub http::HeaderName);
fn parse_header_name(s: &str) -> Result<HeaderMatchName, String> {
    http::HeaderName::from_bytes(s.to_ascii_lowercase().as_bytes())
        .map(HeaderMatchName)
        .map_err(|_| {
            format!("`{s}` is not a valid header name; use letters, digits and `-`, like `x-beta`")
        })
}
scalar_deserialize!(
    HeaderMatchName,
    "a header name like `x-beta`",
    parse_header_name
);
scalar_schema!(HeaderMatchName, "HeaderName", {"type": "string", "description": "a header name like x-beta"});

/// A `path` pattern: literal segments and `{name}` captures of one segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathTemplate {
    pub raw: String,
    pub segments: Vec<Segment>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    Literal(String),
    Capture(String),
}

impl PathTemplate {
    pub fn captures(&self) -> impl Iterator<Item = &str> {
        self.segments.iter().filter_map(|s| match s {
            Segment::Capture(c) => Some(c.as_str()),
            Segment::Literal(_) => None,
        })
    }
}

fn parse_template(s: &str) -> Result<PathTemplate, String> {
    if !s.starts_with('/') {
        return Err(format!("path `{s}` must start with `/`, like `/{s}`"));
    }
    let mut segments = Vec::new();
    for seg in s[1..].split('/') {
        if let Some(inner) = seg.strip_prefix('{') {
            let name = inner
                .strip_suffix('}')
                .filter(|n| {
                    !n.is_empty() && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                })
                .ok_or_else(|| {
                    format!(
                        "`{seg}` in `{s}` is not a capture; write `{{name}}` for a whole segment"
                    )
                })?;
            if segments.contains(&Segment::Capture(name.to_string())) {
                return Err(format!(
                    "capture `{{{name}}}` appears twice in `{s}`; give each a different name"
                ));
            }
            segments.push(Segment::Capture(name.to_string()));
        } else if seg.contains(['{', '}', '?', '#']) || seg == "." || seg == ".." {
            return Err(format!("segment `{seg}` of `{s}` is not allowed; captures take a whole segment, like `/orders/{{id}}`"));
        } else {
            segments.push(Segment::Literal(seg.to_string()));
        }
    }
    Ok(PathTemplate {
        raw: s.to_string(),
        segments,
    })
}
scalar_deserialize!(PathTemplate, "a path like `/orders/{id}`", parse_template);
scalar_schema!(PathTemplate, "PathTemplate", {"type": "string", "pattern": "^/", "description": "an exact path; {name} captures one segment: /orders/{id}"});

#[derive(Debug, Clone)]
pub struct PathPrefix(pub String);
fn parse_prefix(s: &str) -> Result<PathPrefix, String> {
    if !s.starts_with('/') {
        return Err(format!(
            "path_prefix `{s}` must start with `/`, like `/{s}`"
        ));
    }
    if s.contains(['?', '#', '\\']) || s.split('/').any(|seg| seg == "." || seg == "..") {
        return Err(format!(
            "path_prefix `{s}` must be a plain normalized path, like `/orders`"
        ));
    }
    let trimmed = s.trim_end_matches('/');
    Ok(PathPrefix(if trimmed.is_empty() {
        "/".into()
    } else {
        trimmed.into()
    }))
}
scalar_deserialize!(PathPrefix, "a path prefix like `/orders`", parse_prefix);
scalar_schema!(PathPrefix, "PathPrefix", {"type": "string", "pattern": "^/", "description": "a segment-aware prefix: /orders matches /orders and /orders/7, never /ordersx"});

#[derive(Debug, Clone)]
pub struct PathRegex(pub regex::Regex);
fn parse_regex(s: &str) -> Result<PathRegex, String> {
    regex::Regex::new(s).map(PathRegex).map_err(|e| {
        format!("invalid path_regex: {e}; write a Rust regex such as `^/orders/[0-9]+$`")
    })
}
scalar_deserialize!(PathRegex, "a regular expression", parse_regex);
scalar_schema!(PathRegex, "PathRegex", {"type": "string", "description": "a regular expression matched against the normalized path"});
