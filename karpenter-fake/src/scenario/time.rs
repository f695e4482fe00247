//! Durations, instants and delays as a scenario writes them.

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};
use serde::{Serialize, Serializer};

const DURATION_EXAMPLES: &str = "a duration such as 15s, 10m, 1h30m or 7d, or a number of seconds";

fn parse_duration<E: de::Error>(text: &str) -> Result<Duration, E> {
    humantime::parse_duration(text.trim()).map_err(|e| {
        E::custom(format!(
            "expected {DURATION_EXAMPLES}, got {}: {e}",
            karpenter_core::api::clip(&format!("{text:?}"))
        ))
    })
}

fn from_seconds<E: de::Error>(seconds: f64) -> Result<Duration, E> {
    if (0.0..1e12).contains(&seconds) {
        Ok(Duration::from_secs_f64(seconds))
    } else {
        Err(E::custom(format!(
            "expected {DURATION_EXAMPLES} (>= 0), got {seconds}"
        )))
    }
}

/// A length of simulated time: `15s`, `10m`, `1h30m`, `7d` (the `humantime`
/// syntax), or a number of seconds.
///
/// ```
/// use karpenter_fake::scenario::SimDuration;
///
/// let d: SimDuration = serde_json::from_str("\"1h30m\"").unwrap();
/// assert_eq!(d.0.as_secs(), 5400);
/// let d: SimDuration = serde_json::from_str("90").unwrap();
/// assert_eq!(d.0.as_secs(), 90);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct SimDuration(pub Duration);

impl<'de> Deserialize<'de> for SimDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = SimDuration;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(DURATION_EXAMPLES)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<SimDuration, E> {
                parse_duration(v).map(SimDuration)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<SimDuration, E> {
                Ok(SimDuration(Duration::from_secs(v)))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<SimDuration, E> {
                from_seconds(v as f64).map(SimDuration)
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<SimDuration, E> {
                from_seconds(v).map(SimDuration)
            }
        }
        d.deserialize_any(V)
    }
}

impl Serialize for SimDuration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(self.0).to_string())
    }
}

impl JsonSchema for SimDuration {
    fn schema_name() -> Cow<'static, str> {
        "Duration".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A duration: a string such as \"15s\", \"10m\", \"1h30m\" or \"7d\", or a number of seconds.",
            "anyOf": [{"type": "string"}, {"type": "number", "minimum": 0}]
        })
    }
}

/// When something happens: an offset from the scenario's start (`90s`,
/// `2h`) or an RFC 3339 instant (`"2026-03-02T09:01:00Z"`).
///
/// ```
/// use chrono::{TimeZone, Utc};
/// use karpenter_fake::scenario::At;
///
/// let start = Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap();
/// let at: At = serde_json::from_str("\"1m\"").unwrap();
/// assert_eq!(at.resolve(start), start + chrono::Duration::minutes(1));
/// let at: At = serde_json::from_str("\"2026-03-02T10:00:00Z\"").unwrap();
/// assert_eq!(at.resolve(start), start + chrono::Duration::hours(1));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum At {
    /// Time after the scenario's start.
    After(Duration),
    /// An instant.
    Instant(DateTime<Utc>),
}

impl At {
    /// The instant, for a scenario starting at `start`.
    pub fn resolve(&self, start: DateTime<Utc>) -> DateTime<Utc> {
        match self {
            Self::After(d) => chrono::TimeDelta::from_std(*d)
                .ok()
                .and_then(|d| start.checked_add_signed(d))
                .unwrap_or(DateTime::<Utc>::MAX_UTC),
            Self::Instant(t) => *t,
        }
    }
}

impl<'de> Deserialize<'de> for At {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = At;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an offset from the start (90s, 2h) or an RFC 3339 instant")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<At, E> {
                if v.contains('T') && v.contains('-') {
                    return DateTime::parse_from_rfc3339(v.trim())
                        .map(|t| At::Instant(t.with_timezone(&Utc)))
                        .map_err(|e| {
                            E::custom(format!(
                                "expected an RFC 3339 instant such as \"2026-03-02T09:01:00Z\" or an offset such as 90s, got {}: {e}",
                                karpenter_core::api::clip(&format!("{v:?}"))
                            ))
                        });
                }
                parse_duration(v).map(At::After)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<At, E> {
                Ok(At::After(Duration::from_secs(v)))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<At, E> {
                from_seconds(v as f64).map(At::After)
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<At, E> {
                from_seconds(v).map(At::After)
            }
        }
        d.deserialize_any(V)
    }
}

impl Serialize for At {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::After(d) => s.serialize_str(&humantime::format_duration(*d).to_string()),
            Self::Instant(t) => s.serialize_str(&t.to_rfc3339()),
        }
    }
}

impl JsonSchema for At {
    fn schema_name() -> Cow<'static, str> {
        "At".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "An offset from the scenario's start (\"90s\", \"2h\", or a number of seconds) or an RFC 3339 instant (\"2026-03-02T09:01:00Z\").",
            "anyOf": [{"type": "string"}, {"type": "number", "minimum": 0}]
        })
    }
}

/// A delay: fixed (`60s`), or uniform between two bounds
/// (`{min: 45s, max: 90s}`), drawn per node from the scenario's seed.
///
/// ```
/// use std::time::Duration;
/// use karpenter_fake::scenario::Delay;
///
/// let d: Delay = serde_json::from_str(r#"{"min": "45s", "max": "90s"}"#).unwrap();
/// assert_eq!(d, Delay::Uniform { min: Duration::from_secs(45), max: Duration::from_secs(90) });
/// let d: Delay = serde_json::from_str("\"1m\"").unwrap();
/// assert_eq!(d, Delay::Fixed(Duration::from_secs(60)));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delay {
    /// Every node takes exactly this long.
    Fixed(Duration),
    /// Each node takes a time drawn uniformly from `[min, max]`.
    Uniform {
        /// Shortest.
        min: Duration,
        /// Longest.
        max: Duration,
    },
}

impl Delay {
    /// The shortest delay and the spread above it.
    pub fn base_and_jitter(&self) -> (Duration, Duration) {
        match *self {
            Self::Fixed(d) => (d, Duration::ZERO),
            Self::Uniform { min, max } => (min, max.saturating_sub(min)),
        }
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct UniformDelay {
    min: SimDuration,
    max: SimDuration,
}

impl<'de> Deserialize<'de> for Delay {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Delay;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{DURATION_EXAMPLES}, or {{min: 45s, max: 90s}}")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Delay, E> {
                parse_duration(v).map(Delay::Fixed)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Delay, E> {
                Ok(Delay::Fixed(Duration::from_secs(v)))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Delay, E> {
                from_seconds(v as f64).map(Delay::Fixed)
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Delay, E> {
                from_seconds(v).map(Delay::Fixed)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Delay, A::Error> {
                let u = UniformDelay::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(Delay::Uniform {
                    min: u.min.0,
                    max: u.max.0,
                })
            }
        }
        d.deserialize_any(V)
    }
}

impl Serialize for Delay {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Fixed(d) => SimDuration(*d).serialize(s),
            Self::Uniform { min, max } => {
                use serde::ser::SerializeMap;
                let mut m = s.serialize_map(Some(2))?;
                m.serialize_entry("min", &SimDuration(*min))?;
                m.serialize_entry("max", &SimDuration(*max))?;
                m.end()
            }
        }
    }
}

impl JsonSchema for Delay {
    fn schema_name() -> Cow<'static, str> {
        "Delay".into()
    }

    fn json_schema(g: &mut SchemaGenerator) -> Schema {
        let duration = g.subschema_for::<SimDuration>();
        json_schema!({
            "description": "A fixed delay (\"60s\"), or a uniform distribution {min, max} drawn per node from the scenario's seed.",
            "anyOf": [
                duration,
                {"type": "object", "additionalProperties": false, "required": ["min", "max"],
                 "properties": {"min": duration, "max": duration}}
            ]
        })
    }
}
