//! [`SimError`]: what can go wrong building or recording a simulation.

use std::path::PathBuf;

use karpenter_core::provider::RegistryError;

/// An error from building a [`Simulation`](crate::Simulation), loading
/// manifests, or writing its outputs.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// A YAML document could not be parsed into its kind.
    #[error(
        "manifest document {index} ({what}) is invalid: {source}; fix the field the message names"
    )]
    Yaml {
        /// 1-based position of the document in the YAML stream.
        index: usize,
        /// `kind name` of the document, as far as it could be read.
        what: String,
        /// The parser's error (it names the field and line).
        source: Box<karpenter_core::api::ParseError>,
    },
    /// A YAML document has a kind the simulation does not run.
    #[error(
        "manifest document {index} has kind {kind:?}; use MetricsProducer, HorizontalAutoscaler or ScalableNodeGroup (apiVersion autoscaling.karpenter.sh/v1alpha1)"
    )]
    UnknownKind {
        /// 1-based position of the document.
        index: usize,
        /// The kind found (empty if none).
        kind: String,
    },
    /// An object failed validation.
    #[error(transparent)]
    Invalid(#[from] karpenter_core::Error),
    /// The fake provider could not be registered.
    #[error("registering the fake provider failed: {0}")]
    Registry(#[from] RegistryError),
    /// The tick is not usable.
    #[error(
        "the simulation tick must be between 1 s and 1 day, got {0:?}; use e.g. 15 s, the default sync period"
    )]
    InvalidTick(std::time::Duration),
    /// A file could not be written.
    #[error("writing {path}: {source}; check that the directory is writable")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The chart could not be drawn.
    #[error("drawing the chart {path}: {message}")]
    Chart {
        /// The file.
        path: PathBuf,
        /// What plotters reported.
        message: String,
    },
}
