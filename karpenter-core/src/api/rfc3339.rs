//! Instants as the API writes them: RFC 3339 with a four-digit year
//! (`2026-01-01T00:10:00Z`, `2026-01-01T01:10:00+01:00`).
//!
//! Years outside `0000..=9999` (`+10000-01-01T00:00:00Z`,
//! `-0001-01-01T00:00:00Z`) are rejected: RFC 3339 cannot write them, so
//! an instant read here can always be written back and read again.
//!
//! ```
//! use karpenter_core::api::rfc3339::parse_instant;
//!
//! assert!(parse_instant("2026-01-01T00:10:00Z").is_ok());
//! let err = parse_instant("+10000-01-01T00:00:00Z").unwrap_err();
//! assert!(err.contains("RFC 3339"), "{err}");
//! ```

use chrono::{DateTime, Datelike, Utc};
use serde::{Deserialize, Deserializer};

use super::clip;

/// An example of a valid instant, for error messages.
pub const EXAMPLE: &str = "2026-01-01T00:10:00Z";

/// Parses an RFC 3339 instant with a year in `0000..=9999`. The error says
/// what was given (at most 80 characters of it) and what to write instead.
pub fn parse_instant(s: &str) -> Result<DateTime<Utc>, String> {
    let bad = |why: &str| {
        format!(
            "must be an RFC 3339 instant such as \"{EXAMPLE}\" (year 0000-9999, `Z` or an offset such as +01:00){why}, got {}",
            clip(&format!("{s:?}"))
        )
    };
    match DateTime::parse_from_rfc3339(s.trim()) {
        Ok(t) => {
            let t = t.with_timezone(&Utc);
            if (0..=9999).contains(&t.year()) {
                Ok(t)
            } else {
                Err(bad("; this one is outside those years in UTC"))
            }
        }
        Err(_) => Err(bad("")),
    }
}

/// `deserialize_with` for a `DateTime<Utc>` field.
pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
    let s = InstantText::deserialize(d)?;
    parse_instant(&s.0).map_err(serde::de::Error::custom)
}

/// `deserialize_with` for an `Option<DateTime<Utc>>` field (null is `None`).
pub fn deserialize_option<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<DateTime<Utc>>, D::Error> {
    match Option::<InstantText>::deserialize(d)? {
        None => Ok(None),
        Some(s) => parse_instant(&s.0)
            .map(Some)
            .map_err(serde::de::Error::custom),
    }
}

/// The text of an instant; anything but a string is a clear error.
struct InstantText(String);

impl<'de> Deserialize<'de> for InstantText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = InstantText;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "an RFC 3339 instant such as \"{EXAMPLE}\"")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<InstantText, E> {
                Ok(InstantText(v.to_string()))
            }
        }
        d.deserialize_str(Visitor)
    }
}
