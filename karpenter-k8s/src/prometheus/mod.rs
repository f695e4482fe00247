//! Prometheus in and out.
//!
//! - **In**: [`PrometheusSource`] answers `prometheus: {query}` metrics with
//!   an instant query to a Prometheus server (`GET /api/v1/query`, rustls
//!   for `https`, a 5 s timeout by default, an optional bearer token and CA
//!   file); [`PrometheusProvider`] registers it in a
//!   [`ProviderRegistry`](karpenter_core::provider::ProviderRegistry) for
//!   the `prometheus` source type.
//! - **Out**: [`Metrics`] holds every producer gauge under the Karpenter
//!   v0.1 names ([`PRODUCER_GAUGES`]) and the controller's own reconcile and
//!   decision metrics; [`crate::http::metrics_routes`] serves them on
//!   `/metrics`.
//!
//! `docs/prometheus.md` lists the errors and every exported metric.

mod client;
mod exporter;

pub use client::{
    BearerToken, DEFAULT_TIMEOUT, MAX_RESPONSE_BYTES, PrometheusConfig, PrometheusConfigError,
    PrometheusProvider, PrometheusSource, SOURCE_TYPE,
};
pub use exporter::{
    CONTENT_TYPE, DecisionOutcome, Metrics, PENDING_CAPACITY_DESIRED_NODES, PENDING_CAPACITY_NODES,
    PENDING_CAPACITY_PODS, PRODUCER_GAUGES, ReconcileKind, ReconcileResult,
};
