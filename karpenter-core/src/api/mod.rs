//! The `autoscaling.karpenter.sh` API: resource types, quantities, defaulting,
//! validation and strict parsing.
//!
//! Manifests written for the original Go Karpenter v0.1 parse here and mean
//! the same thing; the HorizontalPodAutoscaler v2 spellings (`averageValue`,
//! `averageUtilization`, policy type `Pods`) are accepted too. Read them with
//! [`parse::from_str`], which rejects unknown fields with their path and the
//! closest known field.

pub mod defaults;
pub mod parse;
pub mod quantity;
pub mod rfc3339;
pub mod v1alpha1;
pub mod validation;

pub use parse::{ParseError, ParseErrorKind, from_json_str, from_str, from_yaml_str};
pub use quantity::{Quantity, QuantityError};
pub use validation::{FieldError, ValidationErrors};

/// The longest piece of input echoed in a message, in characters.
pub const MAX_ECHO_CHARS: usize = 80;

/// `s` cut to [`MAX_ECHO_CHARS`] characters, with `…` when cut, so that
/// messages quoting input stay readable.
pub fn clip(s: &str) -> String {
    if s.chars().count() <= MAX_ECHO_CHARS {
        s.to_string()
    } else {
        let cut: String = s.chars().take(MAX_ECHO_CHARS - 1).collect();
        format!("{cut}…")
    }
}
