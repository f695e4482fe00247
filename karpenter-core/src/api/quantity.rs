//! Kubernetes resource quantities (`4`, `500m`, `1.5Gi`, `2e3`), parsed
//! exactly.
//!
//! A [`Quantity`] stores its value as an integer number of nano-units, so
//! milli values such as `100m` or `0.1` are exact (no float drift); values
//! finer than a nano-unit round up, as Kubernetes does.
//!
//! ```
//! use karpenter_core::api::Quantity;
//!
//! let q: Quantity = "1.5Gi".parse().unwrap();
//! assert_eq!(q.as_f64(), 1_610_612_736.0);
//! assert_eq!("500m".parse::<Quantity>().unwrap().milli_value(), 500);
//! assert_eq!("2e3".parse::<Quantity>().unwrap().nanos(), 2_000_000_000_000);
//! assert!("12 apples".parse::<Quantity>().is_err());
//! ```

use std::fmt;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

const NANOS_PER_UNIT: i128 = 1_000_000_000;
/// Largest magnitude accepted, in nano-units (about 1.7e29 units).
const MAX_NANOS: i128 = i128::MAX / 1_000_000_000;

/// Why a string is not a quantity.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum QuantityError {
    /// The text does not follow `<sign><number><suffix>`.
    #[error(
        "{text:?} is not a quantity: expected a number with an optional suffix (n, u, m, k, M, G, T, P, E, Ki, Mi, Gi, Ti, Pi, Ei) or exponent (e3), e.g. 4, 500m, 1.5Gi, 2e3"
    )]
    Syntax {
        /// The rejected text.
        text: String,
    },
    /// The value is too large to represent.
    #[error("{text:?} is out of range: quantities must be below 1e29")]
    OutOfRange {
        /// The rejected text.
        text: String,
    },
    /// A number that is not finite (NaN or infinite) was given.
    #[error("{value} is not a quantity: it must be a finite number")]
    NotFinite {
        /// The rejected number.
        value: f64,
    },
}

/// An exact Kubernetes quantity.
///
/// Equality and ordering compare values, so `1k == 1000`. Serializes as the
/// text it was parsed from (numbers as their shortest decimal form).
#[derive(Debug, Clone)]
pub struct Quantity {
    nanos: i128,
    text: String,
}

impl Quantity {
    /// Parses Kubernetes quantity syntax.
    pub fn parse(text: &str) -> Result<Self, QuantityError> {
        let nanos = parse_nanos(text.trim())?;
        Ok(Self { nanos, text: text.trim().to_string() })
    }

    /// A quantity from a float (YAML/JSON numbers), exact for every float
    /// whose shortest decimal form has at most nine fractional digits.
    pub fn from_f64(value: f64) -> Result<Self, QuantityError> {
        if !value.is_finite() {
            return Err(QuantityError::NotFinite { value });
        }
        // `{}` prints the shortest decimal that round-trips, e.g. 0.1 → "0.1".
        Self::parse(&format!("{value}"))
    }

    /// A whole number of units.
    pub fn from_i64(value: i64) -> Self {
        Self { nanos: i128::from(value) * NANOS_PER_UNIT, text: value.to_string() }
    }

    /// The value in nano-units (10⁻⁹), exact.
    pub fn nanos(&self) -> i128 {
        self.nanos
    }

    /// The value in milli-units, rounded up like Kubernetes' `MilliValue`,
    /// saturating at the i64 range.
    pub fn milli_value(&self) -> i64 {
        let m = self.nanos.div_euclid(1_000_000) + i128::from(self.nanos.rem_euclid(1_000_000) != 0);
        m.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
    }

    /// The value as f64 (the nearest float to the exact value).
    pub fn as_f64(&self) -> f64 {
        let whole = self.nanos / NANOS_PER_UNIT;
        let frac = self.nanos % NANOS_PER_UNIT;
        whole as f64 + frac as f64 / NANOS_PER_UNIT as f64
    }

    /// The text this quantity was parsed from.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether the value is > 0.
    pub fn is_positive(&self) -> bool {
        self.nanos > 0
    }

    /// Whether the value is < 0.
    pub fn is_negative(&self) -> bool {
        self.nanos < 0
    }
}

fn syntax(text: &str) -> QuantityError {
    QuantityError::Syntax { text: text.to_string() }
}

fn parse_nanos(text: &str) -> Result<i128, QuantityError> {
    let bytes = text.as_bytes();
    let mut i = 0;
    let mut negative = false;
    if let Some(&c) = bytes.first() {
        if c == b'+' || c == b'-' {
            negative = c == b'-';
            i = 1;
        }
    }
    // Digits with an optional fractional part: mantissa = digits / 10^frac_len.
    let mut mantissa: i128 = 0;
    let mut frac_digits: i32 = 0;
    let mut digits = 0;
    let mut seen_dot = false;
    // Digits beyond what fits are only allowed to be zeros after the point;
    // anything else is tracked as "round up".
    let mut round_up = false;
    while i < bytes.len() {
        let c = bytes[i];
        if c.is_ascii_digit() {
            digits += 1;
            if mantissa < i128::MAX / 100 {
                mantissa = mantissa * 10 + i128::from(c - b'0');
                if seen_dot {
                    frac_digits += 1;
                }
            } else if seen_dot {
                round_up |= c != b'0';
            } else {
                return Err(QuantityError::OutOfRange { text: text.to_string() });
            }
        } else if c == b'.' && !seen_dot {
            seen_dot = true;
        } else {
            break;
        }
        i += 1;
    }
    if digits == 0 {
        return Err(syntax(text));
    }
    let suffix = &text[i..];
    // Scale: value = mantissa × 10^dec_exp × 2^bin_exp / 10^frac_digits.
    let (dec_exp, bin_exp): (i32, u32) = match suffix {
        "" => (0, 0),
        "n" => (-9, 0),
        "u" => (-6, 0),
        "m" => (-3, 0),
        "k" => (3, 0),
        "M" => (6, 0),
        "G" => (9, 0),
        "T" => (12, 0),
        "P" => (15, 0),
        "E" => (18, 0),
        "Ki" => (0, 10),
        "Mi" => (0, 20),
        "Gi" => (0, 30),
        "Ti" => (0, 40),
        "Pi" => (0, 50),
        "Ei" => (0, 60),
        s if s.starts_with(['e', 'E']) => {
            let exp: i32 = s[1..].parse().map_err(|_| syntax(text))?;
            if !(-100..=100).contains(&exp) {
                return Err(QuantityError::OutOfRange { text: text.to_string() });
            }
            (exp, 0)
        }
        _ => return Err(syntax(text)),
    };
    let out_of_range = || QuantityError::OutOfRange { text: text.to_string() };
    // nanos = mantissa × 2^bin × 10^(dec_exp + 9 − frac_digits), rounded up.
    let mut value = mantissa.checked_mul(1i128 << bin_exp).ok_or_else(out_of_range)?;
    let shift = dec_exp + 9 - frac_digits;
    if shift >= 0 {
        for _ in 0..shift {
            value = value.checked_mul(10).ok_or_else(out_of_range)?;
        }
    } else {
        for _ in 0..(-shift) {
            let rem = value % 10;
            value /= 10;
            round_up |= rem != 0;
            if value == 0 && !round_up {
                break;
            }
        }
    }
    if round_up {
        value += 1;
    }
    if value > MAX_NANOS {
        return Err(out_of_range());
    }
    Ok(if negative { -value } else { value })
}

impl FromStr for Quantity {
    type Err = QuantityError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl PartialEq for Quantity {
    fn eq(&self, other: &Self) -> bool {
        self.nanos == other.nanos
    }
}

impl Eq for Quantity {}

impl PartialOrd for Quantity {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Quantity {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.nanos.cmp(&other.nanos)
    }
}

impl Serialize for Quantity {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for Quantity {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Quantity;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a quantity such as 4, 0.5, \"500m\" or \"1.5Gi\"")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Quantity, E> {
                Quantity::parse(v).map_err(E::custom)
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Quantity, E> {
                Ok(Quantity::from_i64(v))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Quantity, E> {
                Quantity::parse(&v.to_string()).map_err(E::custom)
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Quantity, E> {
                Quantity::from_f64(v).map_err(E::custom)
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

impl JsonSchema for Quantity {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Quantity".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A Kubernetes quantity: a number, or a string such as \"500m\", \"1.5Gi\" or \"2e3\".",
            "anyOf": [{"type": "integer"}, {"type": "number"}, {"type": "string"}],
            "x-kubernetes-int-or-string": true
        })
    }
}
