//! # karpenter-core
//!
//! Metrics-driven node autoscaling, without a cloud or a cluster: the
//! `autoscaling.karpenter.sh/v1alpha1` API types, the decision engine that
//! follows the Kubernetes HorizontalPodAutoscaler v2 semantics, and the
//! provider traits that cloud crates implement.
//!
//! ```
//! use chrono::{TimeZone, Utc};
//! use karpenter_core::api::v1alpha1::HorizontalAutoscalerSpec;
//! use karpenter_core::autoscaler::{decide, DecisionInput, Observation, TargetState};
//!
//! // One node per 4 queued messages, from zero to 1000 nodes.
//! let spec: HorizontalAutoscalerSpec = serde_json::from_value(serde_json::json!({
//!     "scaleTargetRef": {"kind": "ScalableNodeGroup", "name": "ml-training"},
//!     "minReplicas": 0, "maxReplicas": 1000,
//!     "metrics": [{"prometheus": {"query": "karpenter_queue_length{name=\"q\"}",
//!                                  "target": {"type": "AverageValue", "value": 4}}}]
//! })).unwrap();
//! let decision = decide(&DecisionInput {
//!     spec: &spec,
//!     target: TargetState { spec_replicas: 0, status_replicas: 0 },
//!     observations: &[Observation::Value(2400.0)],
//!     history: None,
//!     now: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
//! });
//! // From zero, the default policies allow +4 per 15 s (Percent 100 of 0 is 0).
//! assert_eq!(decision.desired_replicas, 4);
//! for line in decision.explain() {
//!     println!("{line}");
//! }
//! ```
//!
//! Layout, in the order data flows:
//! - [`api`]: the resource types, quantities, validation;
//! - [`cluster`]: the read-only snapshot of nodes, pods and DaemonSets
//!   producers see, and the scheduling predicates (taints, selectors,
//!   affinity) they share;
//! - [`producers`]: MetricsProducers as computations that export gauges
//!   (queue, reserved capacity, schedules, and pending capacity: the
//!   nodes each group needs for the pods the scheduler cannot place);
//! - [`autoscaler`]: the decision (pure, deterministic, explained);
//! - [`provider`]: the SPI clouds implement, and their registry, which
//!   wraps every handle in [`retry`]'s retries and timeouts;
//! - [`reconcile`]: one reconcile function per object kind, what the
//!   Kubernetes controllers and the in-memory driver both call;
//! - [`runner`]: the in-memory driver, one tick of the whole loop;
//! - [`clock`], [`error`].

pub mod api;
pub mod autoscaler;
pub mod clock;
pub mod cluster;
pub mod error;
pub mod producers;
pub mod provider;
pub mod reconcile;
pub mod retry;
pub mod runner;

pub use error::Error;

/// The `#[async_trait]` attribute the provider traits are declared with:
/// put it on your `impl NodeGroup for ...` (and the other SPI traits), so
/// you do not need a direct dependency on the `async-trait` crate.
pub use async_trait::async_trait;
