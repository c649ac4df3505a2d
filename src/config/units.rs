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

/// A duration written as `250ms`, `5s`, `1m` (humantime syntax).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dur(pub Duration);

pub fn parse_duration(s: &str) -> Result<Dur, String> {
    let s = s.trim();
    if s.chars().all(|c| c.is_ascii_digit()) && !s.is_empty() {
        return Err(format!(
            "`{s}` has no unit; write a duration like `{s}s`, `{s}ms` or `1m`"
        ));
    }
    humantime::parse_duration(s)
        .map(Dur)
        .map_err(|e| format!("`{s}` is not a duration ({e}); write one like `250ms`, `5s` or `1m`"))
}
scalar_deserialize!(Dur, "a duration like `250ms`, `5s` or `1m`", parse_duration);

/// A size in bytes, written as `64KiB`, `1MiB`, `10MB` or a plain number of bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size(pub u64);

pub fn parse_size(s: &str) -> Result<Size, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let unit = unit.trim();
    let hint = "write a size like `64KiB`, `1MiB` or `10MiB`";
    let number: f64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a size; {hint}"))?;
    let factor: u64 = match unit {
        "" | "B" => 1,
        "KiB" | "Ki" => 1 << 10,
        "MiB" | "Mi" => 1 << 20,
        "GiB" | "Gi" => 1 << 30,
        "KB" | "kB" | "K" | "k" => 1_000,
        "MB" | "M" => 1_000_000,
        "GB" | "G" => 1_000_000_000,
        other => return Err(format!("`{other}` is not a size unit in `{s}`; {hint}")),
    };
    let bytes = number * factor as f64;
    if !bytes.is_finite() || bytes < 0.0 || bytes > (1u64 << 50) as f64 {
        return Err(format!("`{s}` is out of range; {hint}"));
    }
    Ok(Size(bytes as u64))
}
scalar_deserialize!(Size, "a size like `64KiB` or `1MiB`", parse_size);

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
        let err = parse_duration("5").unwrap_err();
        assert!(err.contains("no unit"), "{err}");
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("64KiB").unwrap().0, 65536);
        assert_eq!(parse_size("1MiB").unwrap().0, 1 << 20);
        assert_eq!(parse_size("10MB").unwrap().0, 10_000_000);
        assert_eq!(parse_size("512").unwrap().0, 512);
        assert!(parse_size("1 parsec").unwrap_err().contains("64KiB"));
        assert!(parse_size("MiB").is_err());
    }
}
