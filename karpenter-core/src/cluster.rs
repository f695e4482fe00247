//! A read-only snapshot of the cluster's nodes and pods: what producers
//! (reserved capacity, pending capacity) compute over.
//!
//! Quantities are integers in their natural unit: cpu in millicores, memory
//! in bytes, pods as a count, so sums are exact.

use std::collections::BTreeMap;

use async_trait::async_trait;

use crate::provider::ProviderError;

/// Amounts of the three resources karpenter-rs reasons about.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Resources {
    /// Millicores.
    pub cpu_millis: i64,
    /// Bytes.
    pub memory_bytes: i64,
    /// Number of pods.
    pub pods: i64,
}

impl Resources {
    /// `cpu_millis`, `memory_bytes`, `pods`.
    pub const fn new(cpu_millis: i64, memory_bytes: i64, pods: i64) -> Self {
        Self {
            cpu_millis,
            memory_bytes,
            pods,
        }
    }

    /// Component-wise saturating sum.
    pub fn saturating_add(self, o: Self) -> Self {
        Self {
            cpu_millis: self.cpu_millis.saturating_add(o.cpu_millis),
            memory_bytes: self.memory_bytes.saturating_add(o.memory_bytes),
            pods: self.pods.saturating_add(o.pods),
        }
    }

    /// Whether every component of `self` is <= the one of `other`.
    pub fn fits_in(&self, other: &Self) -> bool {
        self.cpu_millis <= other.cpu_millis
            && self.memory_bytes <= other.memory_bytes
            && self.pods <= other.pods
    }
}

/// Effect of a taint on pods that do not tolerate it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TaintEffect {
    /// New pods are not scheduled.
    NoSchedule,
    /// The scheduler avoids the node.
    PreferNoSchedule,
    /// Running pods are evicted too.
    NoExecute,
}

/// A node taint.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Taint {
    /// Taint key.
    pub key: String,
    /// Taint value (may be empty).
    pub value: String,
    /// Effect.
    pub effect: TaintEffect,
}

/// A pod toleration.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Toleration {
    /// Key to match; `None` with `exists` tolerates every taint.
    pub key: Option<String>,
    /// `true` for operator `Exists`, `false` for `Equal`.
    pub exists: bool,
    /// Value for `Equal`.
    pub value: String,
    /// Effect to match; `None` matches every effect.
    pub effect: Option<TaintEffect>,
}

/// A node, as producers see it.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// Node name.
    pub name: String,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// What pods may request in total.
    pub allocatable: Resources,
    /// Taints.
    pub taints: Vec<Taint>,
    /// `Ready=True`.
    pub ready: bool,
    /// Cordoned.
    pub unschedulable: bool,
}

/// Phase of a pod.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PodPhase {
    /// Not yet running (includes unschedulable pods).
    Pending,
    /// Running.
    Running,
    /// Finished successfully.
    Succeeded,
    /// Finished with failure.
    Failed,
}

/// A pod, as producers see it.
#[derive(Debug, Clone, PartialEq)]
pub struct Pod {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// The node it is bound to, if any.
    pub node_name: Option<String>,
    /// Sum of container requests (and pods = 1).
    pub requests: Resources,
    /// Phase.
    pub phase: PodPhase,
    /// `PodScheduled=False` with reason `Unschedulable`.
    pub unschedulable: bool,
    /// Node selector.
    pub node_selector: BTreeMap<String, String>,
    /// Tolerations.
    pub tolerations: Vec<Toleration>,
}

/// The nodes and pods of a cluster at one instant.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClusterSnapshot {
    /// Every node.
    pub nodes: Vec<Node>,
    /// Every pod.
    pub pods: Vec<Pod>,
}

/// A read-only view of the cluster.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait ClusterState: Send + Sync {
    /// The current nodes and pods.
    async fn snapshot(&self) -> Result<ClusterSnapshot, ProviderError>;
}
