//! The `autoscaling.karpenter.sh` API: resource types, quantities, defaulting
//! and validation.
//!
//! Manifests written for the original Go Karpenter v0.1 parse here and mean
//! the same thing; the HorizontalPodAutoscaler v2 spellings (`averageValue`,
//! `averageUtilization`, policy type `Pods`) are accepted too.

pub mod defaults;
pub mod quantity;
pub mod v1alpha1;
pub mod validation;

pub use quantity::{Quantity, QuantityError};
pub use validation::{FieldError, ValidationErrors};
