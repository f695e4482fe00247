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
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum PodPhase {
    /// Not yet running (includes unschedulable pods).
    #[default]
    Pending,
    /// Running.
    Running,
    /// Finished successfully.
    Succeeded,
    /// Finished with failure.
    Failed,
}

/// An app container (`spec.containers[]`): what it requests.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Container {
    /// Container name.
    pub name: String,
    /// Its requests; `pods` is ignored (a pod counts as one pod).
    pub requests: Resources,
}

/// An init container (`spec.initContainers[]`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct InitContainer {
    /// Container name.
    pub name: String,
    /// Its requests; `pods` is ignored.
    pub requests: Resources,
    /// `restartPolicy: Always`: a sidecar, which keeps running next to the
    /// app containers, so its requests add to theirs.
    pub sidecar: bool,
}

/// A pod, as producers see it.
///
/// `requests` is the pod's **effective request**, the one amount the
/// scheduler reserves for it and the one producers read. A pod known only by
/// its totals sets it directly; a pod known by its containers is built with
/// [`Pod::with_containers`], which computes it with [`effective_requests`].
/// Whoever changes `containers`, `init_containers` or `overhead` by hand
/// calls `with_containers` again so that `requests` follows.
///
/// ```
/// use karpenter_core::cluster::{Container, InitContainer, Pod, Resources};
///
/// // Totals only.
/// let small = Pod { name: "a".into(), requests: Resources::new(500, 1 << 30, 1), ..Pod::default() };
/// assert_eq!(small.requests.cpu_millis, 500);
///
/// // From containers: an app container and a sidecar run together.
/// let app = Container { name: "app".into(), requests: Resources::new(1_000, 2 << 30, 0) };
/// let proxy = InitContainer { name: "proxy".into(), requests: Resources::new(100, 128 << 20, 0), sidecar: true };
/// let pod = Pod { name: "b".into(), ..Pod::default() }
///     .with_containers(vec![app], vec![proxy], Resources::default());
/// assert_eq!(pod.requests, Resources::new(1_100, (2 << 30) + (128 << 20), 1));
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Pod {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// The node it is bound to, if any.
    pub node_name: Option<String>,
    /// The effective request (pods = 1): see the type's docs.
    pub requests: Resources,
    /// Phase.
    pub phase: PodPhase,
    /// `PodScheduled=False` with reason `Unschedulable`.
    pub unschedulable: bool,
    /// Node selector.
    pub node_selector: BTreeMap<String, String>,
    /// Tolerations.
    pub tolerations: Vec<Toleration>,
    /// App containers, when the pod was described by them (else empty).
    pub containers: Vec<Container>,
    /// Init containers, sidecars included, in order.
    pub init_containers: Vec<InitContainer>,
    /// Pod overhead (`spec.overhead`, from the RuntimeClass).
    pub overhead: Resources,
}

impl Pod {
    /// The same pod described by its containers and overhead; `requests`
    /// becomes their [`effective_requests`].
    pub fn with_containers(
        mut self,
        containers: Vec<Container>,
        init_containers: Vec<InitContainer>,
        overhead: Resources,
    ) -> Self {
        self.requests = effective_requests(&containers, &init_containers, overhead);
        self.containers = containers;
        self.init_containers = init_containers;
        self.overhead = overhead;
        self
    }
}

/// What the Kubernetes scheduler reserves for a pod, per resource:
///
/// `max(app containers + sidecars, max over init containers) + overhead`,
///
/// where a sidecar (an init container with `restartPolicy: Always`) counts
/// as the sum of the sidecars up to and including it, and any other init
/// container as its own request plus the sidecars started before it (they
/// are already running while it runs). `pods` is always 1.
///
/// This is `PodRequests` of Kubernetes' `component-helpers/resource`.
/// Negative requests (which the API server rejects) count as 0, and sums
/// saturate at `i64::MAX` instead of overflowing.
///
/// ```
/// use karpenter_core::cluster::{effective_requests, Container, InitContainer, Resources};
///
/// let cpu = |m| Resources::new(m, 0, 0);
/// let app = [Container { name: "app".into(), requests: cpu(200) }];
/// let init = [
///     InitContainer { name: "log".into(), requests: cpu(100), sidecar: true },
///     // Runs alone with the log sidecar: 100 + 500 = 600 > 200 + 100.
///     InitContainer { name: "migrate".into(), requests: cpu(500), sidecar: false },
/// ];
/// assert_eq!(effective_requests(&app, &init, cpu(10)), Resources::new(610, 0, 1));
/// ```
pub fn effective_requests(
    containers: &[Container],
    init_containers: &[InitContainer],
    overhead: Resources,
) -> Resources {
    // Everything that runs at once once the pod is up: apps and sidecars.
    let mut running = containers.iter().fold(Resources::default(), |acc, c| {
        acc.saturating_add(non_negative(c.requests))
    });
    let mut sidecars = Resources::default();
    let mut init_peak = Resources::default();
    for c in init_containers {
        let own = non_negative(c.requests);
        let while_it_runs = if c.sidecar {
            running = running.saturating_add(own);
            sidecars = sidecars.saturating_add(own);
            sidecars
        } else {
            own.saturating_add(sidecars)
        };
        init_peak = max(init_peak, while_it_runs);
    }
    let total = max(running, init_peak).saturating_add(non_negative(overhead));
    Resources { pods: 1, ..total }
}

/// Negative components as 0: a request cannot give capacity back.
fn non_negative(r: Resources) -> Resources {
    Resources::new(r.cpu_millis.max(0), r.memory_bytes.max(0), r.pods.max(0))
}

/// Component-wise maximum.
fn max(a: Resources, b: Resources) -> Resources {
    Resources::new(
        a.cpu_millis.max(b.cpu_millis),
        a.memory_bytes.max(b.memory_bytes),
        a.pods.max(b.pods),
    )
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
