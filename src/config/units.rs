//! Scalar values of `routes.yaml`: durations (`250ms`, `5s`, `1m`), sizes
//! (`64KiB`, `1MiB`), and the visitor helper that makes every scalar parse
//! error carry the line and column of the offending value.
//!
//! serde_yaml only knows where a custom error happened when it is raised
//! inside a visitor (`visit_str`), not after a `String` was already taken, so
//! every validated scalar goes through [`parse_scalar`].

use std::fmt;
use std::marker::PhantomData;
use std::time::Duration;

use serde::de::{self, Deserializer, Visitor};

/// Deserialize a scalar (string or number) with `parse`, so that a failure is
/// reported at the scalar's own line and column.
pub fn parse_scalar<'de, D, T>(
    d: D,
    expecting: &'static str,
    parse: fn(&str) -> Result<T, String>,
) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
{
    struct ScalarVisitor<T> {
        expecting: &'static str,
        parse: fn(&str) -> Result<T, String>,
        _t: PhantomData<T>,
    }
    impl<T> ScalarVisitor<T> {
        fn run<E: de::Error>(&self, s: &str) -> Result<T, E> {
            (self.parse)(s).map_err(E::custom)
        }
    }
    impl<'de, T> Visitor<'de> for ScalarVisitor<T> {
        type Value = T;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.expecting)
        }
        fn visit_str<E: de::Error>(self, s: &str) -> Result<T, E> {
            self.run(s)
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
            self.run(&v.to_string())
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<T, E> {
            self.run(&v.to_string())
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<T, E> {
            self.run(&v.to_string())
        }
        fn visit_bool<E: de::Error>(self, v: bool) -> Result<T, E> {
            self.run(&v.to_string())
        }
    }
    d.deserialize_any(ScalarVisitor {
        expecting,
        parse,
        _t: PhantomData,
    })
}

/// Implements `Deserialize` for a type through [`parse_scalar`].
macro_rules! scalar_deserialize {
    ($ty:ty, $expecting:expr, $parse:expr) => {
        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                $crate::config::units::parse_scalar(d, $expecting, $parse)
            }
        }
    };
}
pub(crate) use scalar_deserialize;

/// The JSON Schema of a scalar of routes.yaml: a string (or number) with a
/// description of what to write, as `check` would say it.
macro_rules! scalar_schema {
    ($ty:ty, $name:expr, $schema:tt) => {
        impl schemars::JsonSchema for $ty {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                $name.into()
            }
            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                schemars::json_schema!($schema)
            }
        }
    };
}
pub(crate) use scalar_schema;

/// A duration: a whole number and a unit, `250ms`, `5s`, `1m` or `1h`,
/// nothing else (no space, no word, no fraction), and never zero: no
/// timeout, interval or delay of routes.yaml means anything at zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dur(pub Duration);

const DURATION_HINT: &str = "write a whole number and a unit: `250ms`, `5s`, `1m` or `1h`";

pub fn parse_duration(s: &str) -> Result<Dur, String> {
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (digits, unit) = s.split_at(split);
    if digits.is_empty() {
        return Err(format!("`{s}` is not a duration; {DURATION_HINT}"));
    }
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("`{s}` is too long a duration; {DURATION_HINT}"))?;
    let per: fn(u64) -> Duration = match unit {
        "ms" => Duration::from_millis,
        "s" => Duration::from_secs,
        "m" => |n| Duration::from_secs(n.saturating_mul(60)),
        "h" => |n| Duration::from_secs(n.saturating_mul(3600)),
        "" => {
            return Err(format!(
                "`{s}` has no unit; write `{s}s`, `{s}ms` or `{s}m`"
            ))
        }
        other => {
            return Err(format!(
                "`{other}` is not a unit of duration in `{s}`; {DURATION_HINT}"
            ))
        }
    };
    if n == 0 {
        return Err(format!(
            "`{s}` is zero; a duration here must be more than 0"
        ));
    }
    Ok(Dur(per(n)))
}
scalar_deserialize!(Dur, "a duration like `250ms`, `5s` or `1m`", parse_duration);
scalar_schema!(Dur, "Duration", {
    "type": "string",
    "pattern": "^[0-9]*[1-9][0-9]*(ms|s|m|h)$",
    "description": "a whole number and a unit: 250ms, 5s, 1m or 1h (never zero)"
});

/// A size in bytes: a number and a unit, `64KiB`, `1MiB`, `1GiB` (or the
/// decimal `KB`, `MB`, `GB`, or `B`), or a plain number of bytes; no space.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size(pub u64);

pub fn parse_size(s: &str) -> Result<Size, String> {
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let hint = "write a number and a unit: `64KiB`, `1MiB` or `10MiB`";
    let number: f64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a size; {hint}"))?;
    let factor: u64 = match unit {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "KB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        other => return Err(format!("`{other}` is not a unit of size in `{s}`; {hint}")),
    };
    let bytes = number * factor as f64;
    if !bytes.is_finite() || bytes > (1u64 << 50) as f64 {
        return Err(format!("`{s}` is out of range; {hint}"));
    }
    if bytes < 1.0 {
        return Err(format!(
            "`{s}` is zero; a size here must be at least 1 byte"
        ));
    }
    Ok(Size(bytes as u64))
}
scalar_deserialize!(Size, "a size like `64KiB` or `1MiB`", parse_size);
scalar_schema!(Size, "Size", {
    "type": ["string", "integer"],
    "pattern": "^[0-9]+(\\.[0-9]+)?(B|KiB|MiB|GiB|KB|MB|GB)?$",
    "minimum": 1,
    "description": "a number and a unit: 64KiB, 1MiB, 1GiB (or KB, MB, GB, or bytes)"
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(
            parse_duration("250ms").unwrap().0,
            Duration::from_millis(250)
        );
        assert_eq!(parse_duration("5s").unwrap().0, Duration::from_secs(5));
        assert_eq!(parse_duration("1m").unwrap().0, Duration::from_secs(60));
        assert_eq!(parse_duration("1h").unwrap().0, Duration::from_secs(3600));
        let err = parse_duration("5").unwrap_err();
        assert!(err.contains("no unit"), "{err}");
        // One strict grammar, errors in the project's own words.
        for bad in [
            "5 s",
            "5 seconds",
            "5sec",
            "five",
            "1.5s",
            "-1s",
            " 5s",
            "5S",
            "",
        ] {
            let err = parse_duration(bad).unwrap_err();
            assert!(
                err.contains("`250ms`, `5s`, `1m` or `1h`") || err.contains("no unit"),
                "{bad}: {err}"
            );
            assert!(!err.contains("expected"), "library wording leaked: {err}");
        }
        assert!(parse_duration("0s").unwrap_err().contains("zero"));
        assert!(parse_duration("0ms").unwrap_err().contains("zero"));
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("64KiB").unwrap().0, 65536);
        assert_eq!(parse_size("1MiB").unwrap().0, 1 << 20);
        assert_eq!(parse_size("10MB").unwrap().0, 10_000_000);
        assert_eq!(parse_size("512").unwrap().0, 512);
        assert!(parse_size("1 parsec").unwrap_err().contains("64KiB"));
        assert!(parse_size("MiB").is_err());
        for bad in ["1 MiB", "1mib", "1Ki", "1k", "0", "0KiB"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }
}
