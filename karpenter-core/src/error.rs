//! The errors of `karpenter-core`.

use crate::api::{QuantityError, ValidationErrors};

/// An error from `karpenter-core`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An object failed validation; every problem is listed.
    #[error("{kind} {name:?} is invalid:\n{errors}")]
    Invalid {
        /// The object's kind, e.g. `HorizontalAutoscaler`.
        kind: &'static str,
        /// The object's `namespace/name`.
        name: String,
        /// What is wrong, field by field.
        errors: ValidationErrors,
    },
    /// A quantity could not be parsed.
    #[error(transparent)]
    Quantity(#[from] QuantityError),
}
