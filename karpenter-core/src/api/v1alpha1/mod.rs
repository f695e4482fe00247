//! Version `v1alpha1` of the `autoscaling.karpenter.sh` API group.
//!
//! Three resources:
//! - [`HorizontalAutoscaler`]: scales a target (usually a [`ScalableNodeGroup`])
//!   from metrics, with the Kubernetes HPA v2 semantics.
//! - [`MetricsProducer`]: turns the world (a queue, reserved capacity, a
//!   schedule, pending pods) into Prometheus gauges.
//! - [`ScalableNodeGroup`]: a cloud node group with a `scale` subresource.

mod horizontal_autoscaler;
mod meta;
mod metrics_producer;
mod scalable_node_group;

pub use horizontal_autoscaler::*;
pub use meta::*;
pub use metrics_producer::*;
pub use scalable_node_group::*;

/// The API group of every resource here.
pub const GROUP: &str = "autoscaling.karpenter.sh";
/// The version of the API group these types describe.
pub const VERSION: &str = "v1alpha1";
/// `apiVersion` of every resource in this module.
pub const API_VERSION: &str = "autoscaling.karpenter.sh/v1alpha1";
