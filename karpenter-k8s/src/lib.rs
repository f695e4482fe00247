//! # karpenter-k8s
//!
//! The Kubernetes runtime of karpenter-rs and the `karpenter` binary.
//!
//! Today it provides `karpenter decide`, a dry run of one autoscaling
//! decision: give it a HorizontalAutoscaler, the target's replicas and one
//! observation per metric, and it prints the decision, the conditions, the
//! history to persist and an explanation of every step.
//!
//! ```sh
//! karpenter decide decision.yaml            # JSON on stdout
//! karpenter decide --explain < decision.yaml # readable text
//! ```
//!
//! The same function is available as a library call:
//!
//! ```
//! let out = karpenter_k8s::decide::decide_document(r#"{
//!   "now": "2026-01-01T00:00:00Z",
//!   "autoscaler": {"metadata": {"name": "q"}, "spec": {
//!     "scaleTargetRef": {"kind": "ScalableNodeGroup", "name": "q"},
//!     "minReplicas": 0, "maxReplicas": 1000,
//!     "metrics": [{"prometheus": {"query": "karpenter_queue_length", "target": {"type": "AverageValue", "value": 4}}}]}},
//!   "target": {"specReplicas": 0, "statusReplicas": 0},
//!   "observations": [{"value": 2400}]
//! }"#).unwrap();
//! assert_eq!(out.desired_replicas, 4);
//! ```
//!
//! The document is YAML, or JSON when it starts with `{` or `[`. Unknown
//! fields are errors naming their path, line and the closest known field;
//! the input may be at most 16 MiB ([`decide::MAX_INPUT_BYTES`]); history
//! dated after `now` is rejected. See `docs/decisions.md`, "`karpenter
//! decide`: input and limits".
//!
//! [`crd`] holds the three custom resources as Kubernetes objects and
//! their CustomResourceDefinitions (`karpenter crds` prints them; see
//! `docs/kubernetes.md`).
//!
//! [`prometheus`] reads `prometheus:` metrics from a Prometheus server and
//! exports every producer gauge and the controller's own metrics, which
//! [`http`] serves on `/metrics` (see `docs/prometheus.md`); [`tls`]
//! installs rustls's `ring` crypto provider.
//!
//! `karpenter simulate SCENARIO.yaml` ([`simulate`]) scores an
//! autoscaling configuration on a workload scenario in simulated time,
//! compares variants of it (`--variant NAME=PATCH.yaml`) and backtests it
//! against recorded replicas; see `docs/simulate.md`.
//!
//! `karpenter pending` answers the question Cluster Autoscaler users ask
//! most: why did my pending pod not trigger a scale-up? Give it a cluster
//! snapshot and the node groups' manifests; it prints which group each
//! pending pod goes to, the nodes each group needs, and for each pod that
//! fits nowhere the first predicate that failed per group ([`pending`]):
//!
//! ```sh
//! kubectl get nodes,pods,daemonsets -A -o json > snapshot.json
//! kubectl get metricsproducers,scalablenodegroups -A -o yaml > groups.yaml
//! karpenter pending snapshot.json -f groups.yaml          # readable text
//! karpenter pending snapshot.json -f groups.yaml --json   # for tools
//! ```
//!
//! [`controller`] runs the three controllers (`karpenter controller`):
//! watches with slim caches, the core reconcile functions, status patches,
//! Events, the decision history kept across restarts, leader election, and
//! a pending pod reaching its node group in milliseconds through gauges
//! read in process; see `docs/controller.md` and `docs/install.md`.

pub mod controller;
pub mod crd;
pub mod decide;
pub mod fake_api;
pub mod http;
pub mod pending;
pub mod prometheus;
pub mod simulate;
pub mod tls;

/// The guide "Kubernetes: the custom resources" (`docs/kubernetes.md`),
/// whose code blocks run as this crate's doctests so that it stays true.
#[cfg(doctest)]
#[doc = include_str!("../../docs/kubernetes.md")]
pub struct KubernetesGuide;

/// The guide "Prometheus: reading metrics and exporting them"
/// (`docs/prometheus.md`), whose code blocks run as this crate's doctests.
#[cfg(doctest)]
#[doc = include_str!("../../docs/prometheus.md")]
pub struct PrometheusGuide;

/// The guide "The controller: how `karpenter controller` runs"
/// (`docs/controller.md`), whose code blocks are compiled as this crate's
/// doctests.
#[cfg(doctest)]
#[doc = include_str!("../../docs/controller.md")]
pub struct ControllerGuide;
