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
/// Largest magnitude accepted, in nano-units: 1e20 units (about 86 Ei). The
/// i128 keeps 1e9 of headroom above it, so sums and products of a few
/// quantities cannot overflow.
const MAX_NANOS: i128 = 100_000_000_000_000_000_000 * NANOS_PER_UNIT;

/// Why a string is not a quantity.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum QuantityError {
    /// The text does not follow `<sign><number><suffix>`.
    #[error(
        "{} is not a quantity: expected a number with an optional suffix (n, u, m, k, M, G, T, P, E, Ki, Mi, Gi, Ti, Pi, Ei) or exponent (e3), e.g. 4, 500m, 1.5Gi, 2e3",
        crate::api::clip(&format!("{text:?}"))
    )]
    Syntax {
        /// The rejected text.
        text: String,
    },
    /// The value is too large to represent.
    #[error(
        "{} is out of range: the magnitude of a quantity must be at most 1e20, and an exponent between e-100 and e100",
        crate::api::clip(&format!("{text:?}"))
    )]
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
        Ok(Self {
            nanos,
            text: text.trim().to_string(),
        })
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
        Self {
            nanos: i128::from(value) * NANOS_PER_UNIT,
            text: value.to_string(),
        }
    }

    /// The value in nano-units (10⁻⁹), exact.
    pub fn nanos(&self) -> i128 {
        self.nanos
    }

    /// The value in milli-units, rounded away from zero like Kubernetes'
    /// `MilliValue` (`1n` → 1, `-1n` → -1), saturating at the i64 range.
    pub fn milli_value(&self) -> i64 {
        let magnitude = self.nanos.unsigned_abs();
        let m = magnitude / 1_000_000 + u128::from(!magnitude.is_multiple_of(1_000_000));
        // |nanos| <= MAX_NANOS, so m < 1e23 fits in i128.
        let m = i128::try_from(m).unwrap_or(i128::MAX);
        let m = if self.nanos < 0 { -m } else { m };
        m.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
    }

    /// The value as f64. The whole part and the fraction convert separately,
    /// so values such as `0.1` or `100m` give exactly the float `0.1`.
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
    QuantityError::Syntax {
        text: text.to_string(),
    }
}

fn parse_nanos(text: &str) -> Result<i128, QuantityError> {
    let bytes = text.as_bytes();
    let mut i = 0;
    let mut negative = false;
    if let Some(&c) = bytes.first()
        && (c == b'+' || c == b'-')
    {
        negative = c == b'-';
        i = 1;
    }
    // Digits with an optional fractional part: mantissa = digits / 10^frac_len.
    let mut mantissa: i128 = 0;
    let mut frac_digits: i32 = 0;
    // Saturating counters: absurdly long inputs must not overflow them.
    let mut any_digit = false;
    let mut seen_dot = false;
    // Digits beyond what fits are only allowed to be zeros after the point;
    // anything else is tracked as "round up".
    let mut round_up = false;
    while i < bytes.len() {
        let c = bytes[i];
        if c.is_ascii_digit() {
            any_digit = true;
            if mantissa < i128::MAX / 100 {
                mantissa = mantissa * 10 + i128::from(c - b'0');
                if seen_dot {
                    frac_digits = frac_digits.saturating_add(1);
                }
            } else if seen_dot {
                round_up |= c != b'0';
            } else {
                return Err(QuantityError::OutOfRange {
                    text: text.to_string(),
                });
            }
        } else if c == b'.' && !seen_dot {
            seen_dot = true;
        } else {
            break;
        }
        i += 1;
    }
    if !any_digit {
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
            let exp = &s[1..];
            let unsigned = exp.strip_prefix(['+', '-']).unwrap_or(exp);
            if unsigned.is_empty() || !unsigned.bytes().all(|b| b.is_ascii_digit()) {
                return Err(syntax(text));
            }
            // Well-formed but huge exponents are out of range, not bad syntax;
            // the bound also keeps the scaling loop below short.
            match exp.parse::<i32>() {
                Ok(e) if (-100..=100).contains(&e) => (e, 0),
                _ => {
                    return Err(QuantityError::OutOfRange {
                        text: text.to_string(),
                    });
                }
            }
        }
        _ => return Err(syntax(text)),
    };
    let out_of_range = || QuantityError::OutOfRange {
        text: text.to_string(),
    };
    // nanos = mantissa × 2^bin × 10^(dec_exp + 9 − frac_digits), rounded up.
    let mut value = mantissa
        .checked_mul(1i128 << bin_exp)
        .ok_or_else(out_of_range)?;
    let shift = (dec_exp + 9).saturating_sub(frac_digits);
    if shift >= 0 {
        for _ in 0..shift {
            value = value.checked_mul(10).ok_or_else(out_of_range)?;
        }
    } else {
        for _ in 0..(-shift) {
            let rem = value % 10;
            value /= 10;
            round_up |= rem != 0;
            if value == 0 {
                // Nothing left to shift; any lost digit is already in round_up.
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
        // Exactly the int-or-string shape the Kubernetes API server accepts in a
        // structural CRD schema (a third `number` branch makes it reject the
        // CRD), with upstream's quantity pattern for the string form.
        schemars::json_schema!({
            "description": "A Kubernetes quantity: an integer, or a string such as \"0.05\", \"500m\", \"1.5Gi\" or \"2e3\". Fractional values must be quoted for the API server; files read by karpenter-rs directly may also use plain numbers.",
            "anyOf": [{"type": "integer"}, {"type": "string"}],
            "pattern": "^(\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))))?$",
            "x-kubernetes-int-or-string": true
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const N: i128 = NANOS_PER_UNIT;

    #[test]
    fn parses_kubernetes_syntax_exactly() {
        // (text, exact value in nano-units)
        let cases: &[(&str, i128)] = &[
            ("0", 0),
            ("4", 4 * N),
            ("-4", -4 * N),
            ("+5", 5 * N),
            (".5", N / 2),
            ("5.", 5 * N),
            ("0.1", 100_000_000),
            ("100m", 100_000_000),
            ("500m", 500_000_000),
            ("1.5", 1_500_000_000),
            ("1n", 1),
            ("1u", 1_000),
            ("1m", 1_000_000),
            ("1k", 1_000 * N),
            ("1M", 1_000_000 * N),
            ("1G", 1_000_000_000 * N),
            ("1T", 1_000_000_000_000 * N),
            ("1P", 1_000_000_000_000_000 * N),
            // Alone, `E` is the exa suffix ...
            ("1E", 1_000_000_000_000_000_000 * N),
            // ... followed by digits it is an exponent, as in Kubernetes.
            ("1E3", 1_000 * N),
            ("2e3", 2_000 * N),
            ("2e+3", 2_000 * N),
            ("25e-3", 25_000_000),
            ("1.5e1", 15 * N),
            ("0e100", 0),
            ("1Ki", 1024 * N),
            ("1Mi", (1 << 20) * N),
            ("1.5Gi", 1_610_612_736 * N),
            ("1Ti", (1 << 40) * N),
            ("1Pi", (1 << 50) * N),
            ("1Ei", (1 << 60) * N),
            ("0.1Ki", 102_400_000_000),
            ("-1.5Gi", -1_610_612_736 * N),
            ("  4  ", 4 * N),
            ("007", 7 * N),
            ("-0", 0),
            // Finer than a nano-unit rounds up (away from zero), as Kubernetes does.
            ("0.0000000001", 1),
            ("0.0000000011", 2),
            ("1.0000000001", N + 1),
            ("-0.0000000001", -1),
            ("0.1n", 1),
            ("1e-100", 1),
            ("0.0000000000", 0),
            // Trailing zeros beyond precision are not a fraction.
            ("1.000000000000000000000000000000000000000000000", N),
            ("1e20", 100_000_000_000_000_000_000 * N),
            ("-1e20", -100_000_000_000_000_000_000 * N),
        ];
        for (text, nanos) in cases {
            let q = Quantity::parse(text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
            assert_eq!(q.nanos(), *nanos, "{text:?}");
            assert_eq!(q.as_str(), text.trim(), "{text:?}");
            assert_eq!(q.to_string(), text.trim(), "{text:?}");
        }
    }

    #[test]
    fn rejects_bad_text() {
        let syntax_errors = [
            "",
            " ",
            "m",
            "Ki",
            "+",
            "-",
            ".",
            "+.",
            "1.2.3",
            "12 apples",
            "1 m",
            "1Zi",
            "1Z",
            "1K",
            "1ki",
            "1i",
            "1e",
            "1E+",
            "1e3.5",
            "1e3m",
            "e3",
            "--1",
            "+-1",
            "1,5",
            "0x10",
            "1_000",
            "Infinity",
            "NaN",
            "١",
            "1Ei1",
            "1e+-3",
            "1e 3",
        ];
        for text in syntax_errors {
            match Quantity::parse(text) {
                Err(QuantityError::Syntax { .. }) => {}
                other => panic!("{text:?}: expected a syntax error, got {other:?}"),
            }
        }
        let out_of_range = [
            "1e999",
            "1e-101",
            "1e21",
            "-1e21",
            "100000000000000000001",
            "1000Ei",
            "99999999999999999999999999999999999999999999999999",
            "1e99999999999",
        ];
        for text in out_of_range {
            match Quantity::parse(text) {
                Err(QuantityError::OutOfRange { .. }) => {}
                other => panic!("{text:?}: expected out of range, got {other:?}"),
            }
        }
    }

    #[test]
    fn errors_say_what_is_allowed() {
        let e = Quantity::parse("12 apples").unwrap_err().to_string();
        assert!(e.contains("\"12 apples\" is not a quantity"), "{e}");
        assert!(e.contains("500m"), "{e}");
        let e = Quantity::parse("1e999").unwrap_err().to_string();
        assert!(e.contains("out of range"), "{e}");
        let e = Quantity::from_f64(f64::NAN).unwrap_err().to_string();
        assert!(e.contains("finite"), "{e}");
    }

    #[test]
    fn equality_and_order_compare_values() {
        let q = |s: &str| Quantity::parse(s).unwrap();
        assert_eq!(q("100m"), q("0.1"));
        assert_eq!(q("1k"), q("1000"));
        assert_eq!(q("1e3"), q("1k"));
        assert_eq!(q("1Ki"), q("1024"));
        assert_ne!(q("1Ki"), q("1k"));
        assert!(q("999m") < q("1"));
        assert!(q("-1") < q("0"));
        assert!(q("1Gi") > q("1G"));
    }

    #[test]
    fn conversions() {
        let q = |s: &str| Quantity::parse(s).unwrap();
        assert_eq!(q("0.1").as_f64(), 0.1);
        assert_eq!(q("100m").as_f64(), 0.1);
        assert_eq!(q("-2.5").as_f64(), -2.5);
        assert_eq!(q("1.5Gi").as_f64(), 1_610_612_736.0);
        assert_eq!(q("1n").as_f64(), 1e-9);
        assert_eq!(q("500m").milli_value(), 500);
        assert_eq!(q("1n").milli_value(), 1);
        assert_eq!(q("-1n").milli_value(), -1);
        assert_eq!(q("-1500m").milli_value(), -1500);
        assert_eq!(q("0").milli_value(), 0);
        assert_eq!(q("1e20").milli_value(), i64::MAX);
        assert_eq!(q("-1e20").milli_value(), i64::MIN);
        assert!(q("1n").is_positive() && !q("1n").is_negative());
        assert!(q("-1n").is_negative() && !q("-1n").is_positive());
        assert!(!q("0").is_positive() && !q("0").is_negative());
        assert_eq!(Quantity::from_i64(-7).nanos(), -7 * N);
        assert_eq!(
            Quantity::from_i64(i64::MAX).nanos(),
            i128::from(i64::MAX) * N
        );
        assert_eq!(Quantity::from_f64(0.1).unwrap().nanos(), 100_000_000);
        assert_eq!(Quantity::from_f64(0.05).unwrap().nanos(), 50_000_000);
        assert_eq!(Quantity::from_f64(-0.0).unwrap().nanos(), 0);
        assert_eq!(Quantity::from_f64(1e-20).unwrap().nanos(), 1);
        assert_eq!(
            Quantity::from_f64(1e18).unwrap().nanos(),
            1_000_000_000_000_000_000 * N
        );
        assert!(matches!(
            Quantity::from_f64(1e300),
            Err(QuantityError::OutOfRange { .. })
        ));
        assert!(matches!(
            Quantity::from_f64(f64::INFINITY),
            Err(QuantityError::NotFinite { .. })
        ));
    }

    #[test]
    fn serde_from_yaml_numbers_and_strings() {
        let cases: &[(&str, i128, &str)] = &[
            ("4", 4 * N, "4"),
            ("-4", -4 * N, "-4"),
            ("0.1", 100_000_000, "0.1"),
            ("0.05", 50_000_000, "0.05"),
            ("2.5", 2_500_000_000, "2.5"),
            (
                "18446744073709551615",
                i128::from(u64::MAX) * N,
                "18446744073709551615",
            ),
            ("'500m'", 500_000_000, "500m"),
            ("\"1.5Gi\"", 1_610_612_736 * N, "1.5Gi"),
            ("'4'", 4 * N, "4"),
            ("50m", 50_000_000, "50m"),
        ];
        for (yaml, nanos, text) in cases {
            let q: Quantity =
                crate::api::parse::from_yaml_str(yaml).unwrap_or_else(|e| panic!("{yaml}: {e}"));
            assert_eq!(q.nanos(), *nanos, "{yaml}");
            assert_eq!(q.as_str(), *text, "{yaml}");
            // Serializes as the text, and parses back to the same value.
            let json = serde_json::to_string(&q).unwrap();
            assert_eq!(json, format!("{text:?}"));
            let back: Quantity = serde_json::from_str(&json).unwrap();
            assert_eq!(back, q);
        }
        for bad in ["'1.2.3'", ".nan", ".inf", "true", "[1]", "{a: 1}", "~"] {
            assert!(
                crate::api::parse::from_yaml_str::<Quantity>(bad).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn serde_from_json_numbers() {
        let q: Quantity = serde_json::from_str("0.1").unwrap();
        assert_eq!(q.nanos(), 100_000_000);
        let q: Quantity = serde_json::from_str("60").unwrap();
        assert_eq!(q.nanos(), 60 * N);
        let q: Quantity = serde_json::from_str("1e3").unwrap();
        assert_eq!(q.nanos(), 1000 * N);
        assert!(serde_json::from_str::<Quantity>("1e300").is_err());
        assert!(serde_json::from_str::<Quantity>("\"\"").is_err());
    }

    #[test]
    fn schema_is_kubernetes_int_or_string() {
        let schema = serde_json::to_value(schemars::schema_for!(Quantity)).unwrap();
        assert_eq!(schema["x-kubernetes-int-or-string"], true);
        assert_eq!(
            schema["anyOf"],
            serde_json::json!([{"type": "integer"}, {"type": "string"}])
        );
        assert!(schema["pattern"].is_string());
    }
}
