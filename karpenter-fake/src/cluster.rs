//! [`FakeCluster`]: nodes (from node groups and static ones) and pods, with a
//! simple scheduler that binds pending pods to nodes with room.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use karpenter_core::cluster::{
    ClusterSnapshot, ClusterState, DaemonSet, Node, Pod, PodPhase, Resources,
};
use karpenter_core::provider::{NodeTemplate, ProviderError};

use crate::clock::{SimClock, span};
use crate::node_group::FakeNodeGroup;

/// A pod waiting to be scheduled: phase `Pending`, unbound, with `requests`
/// (its `pods` request is set to 1).
///
/// ```
/// use karpenter_core::cluster::Resources;
/// use karpenter_fake::pending_pod;
///
/// let pod = pending_pod("default", "web-0", Resources::new(1000, 1 << 30, 0));
/// assert_eq!(pod.requests.pods, 1);
/// assert!(pod.node_name.is_none());
/// ```
pub fn pending_pod(namespace: &str, name: &str, requests: Resources) -> Pod {
    Pod {
        namespace: namespace.to_string(),
        name: name.to_string(),
        node_name: None,
        requests: Resources {
            pods: 1,
            ..requests
        },
        phase: PodPhase::Pending,
        unschedulable: false,
        node_selector: BTreeMap::new(),
        tolerations: Vec::new(),
        ..Pod::default()
    }
}

/// What one [`FakeCluster::schedule`] pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScheduleOutcome {
    /// Pods bound to a node in this pass.
    pub bound: usize,
    /// Pods unbound because their node went away or stopped being ready.
    pub evicted: usize,
    /// Pods left pending and marked unschedulable.
    pub unschedulable: usize,
}

#[derive(Debug, Clone)]
struct PodEntry {
    pod: Pod,
    /// The workload that created it, for [`FakeCluster::scale_workload`].
    workload: Option<String>,
    pending_since: Option<DateTime<Utc>>,
}

struct GroupNodes {
    group: FakeNodeGroup,
    template: NodeTemplate,
    /// Materialised ready nodes; `{id}-{index}` for index < ready.
    nodes: Vec<Node>,
}

#[derive(Default)]
struct Inner {
    groups: Vec<GroupNodes>,
    static_nodes: Vec<Node>,
    daemon_sets: Vec<DaemonSet>,
    pods: Vec<PodEntry>,
    workload_seq: BTreeMap<String, u64>,
    longest_wait: Duration,
}

impl Inner {
    fn refresh_nodes(&mut self) {
        for g in &mut self.groups {
            let ready = usize::try_from(g.group.ready()).unwrap_or(0);
            if g.nodes.len() > ready {
                g.nodes.truncate(ready);
            }
            while g.nodes.len() < ready {
                let name = format!("{}-{}", g.group.id(), g.nodes.len());
                g.nodes.push(Node {
                    name,
                    labels: g.template.labels.clone(),
                    allocatable: g.template.allocatable,
                    taints: g.template.taints.clone(),
                    ready: true,
                    unschedulable: false,
                });
            }
        }
    }

    fn nodes(&self) -> impl Iterator<Item = &Node> {
        self.static_nodes
            .iter()
            .chain(self.groups.iter().flat_map(|g| g.nodes.iter()))
    }

    fn schedule(&mut self, now: DateTime<Utc>) -> ScheduleOutcome {
        self.refresh_nodes();
        let Inner {
            groups,
            static_nodes,
            daemon_sets,
            pods,
            longest_wait,
            ..
        } = self;
        let nodes: Vec<&Node> = static_nodes
            .iter()
            .chain(groups.iter().flat_map(|g| g.nodes.iter()))
            .collect();
        let index: HashMap<&str, usize> = nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (n.name.as_str(), i))
            .collect();
        // Every node runs the DaemonSets that land on it first.
        let mut free: Vec<Resources> = nodes
            .iter()
            .map(|n| {
                daemon_sets
                    .iter()
                    .filter(|ds| ds.lands_on(&n.labels, &n.taints))
                    .fold(n.allocatable, |free, ds| {
                        sub(
                            free,
                            Resources {
                                pods: 1,
                                ..ds.requests
                            },
                        )
                    })
            })
            .collect();
        let mut outcome = ScheduleOutcome::default();
        let mut waits = Vec::new();

        // Account for bound pods; unbind those whose node is gone.
        for entry in pods.iter_mut() {
            let pod = &mut entry.pod;
            if matches!(pod.phase, PodPhase::Succeeded | PodPhase::Failed) {
                continue;
            }
            let Some(node) = pod.node_name.as_deref() else {
                continue;
            };
            match index.get(node).and_then(|&i| nodes.get(i).map(|n| (i, n))) {
                Some((i, n)) if n.ready => {
                    if let Some(f) = free.get_mut(i) {
                        *f = sub(*f, pod.requests);
                    }
                }
                _ => {
                    pod.node_name = None;
                    pod.phase = PodPhase::Pending;
                    entry.pending_since = Some(now);
                    outcome.evicted += 1;
                }
            }
        }

        // First fit, in creation order. Once a pod does not fit, identical
        // pods (same requests and constraints) cannot fit either: free
        // space only shrinks in a pass. `last_failed` is the last such pod.
        let mut last_failed: Option<usize> = None;
        let same = |a: &Pod, b: &Pod| {
            a.requests == b.requests
                && a.node_selector == b.node_selector
                && a.tolerations == b.tolerations
                && a.required_node_affinity == b.required_node_affinity
        };
        for k in 0..pods.len() {
            let same_as_failed = match (last_failed.and_then(|f| pods.get(f)), pods.get(k)) {
                (Some(failed), Some(entry)) => same(&failed.pod, &entry.pod),
                _ => false,
            };
            let Some(entry) = pods.get_mut(k) else {
                continue;
            };
            let pod = &mut entry.pod;
            if pod.phase != PodPhase::Pending || pod.node_name.is_some() {
                continue;
            }
            let chosen = if same_as_failed {
                None
            } else {
                nodes.iter().enumerate().position(|(i, n)| {
                    free.get(i)
                        .is_some_and(|f| pod.requests.fits_in(f) && schedulable_on(pod, n))
                })
            };
            match (chosen, nodes.get(chosen.unwrap_or(usize::MAX))) {
                (Some(i), Some(node)) => {
                    if let Some(f) = free.get_mut(i) {
                        *f = sub(*f, pod.requests);
                    }
                    pod.node_name = Some(node.name.clone());
                    pod.phase = PodPhase::Running;
                    pod.unschedulable = false;
                    if let Some(since) = entry.pending_since.take() {
                        waits.push(since);
                    }
                    outcome.bound += 1;
                }
                _ => {
                    pod.unschedulable = true;
                    if entry.pending_since.is_none() {
                        entry.pending_since = Some(now);
                    }
                    outcome.unschedulable += 1;
                    last_failed = Some(k);
                }
            }
        }
        for since in waits {
            let wait = span(since, now);
            *longest_wait = (*longest_wait).max(wait);
        }
        outcome
    }
}

fn sub(a: Resources, b: Resources) -> Resources {
    Resources {
        cpu_millis: a.cpu_millis.saturating_sub(b.cpu_millis),
        memory_bytes: a.memory_bytes.saturating_sub(b.memory_bytes),
        pods: a.pods.saturating_sub(b.pods),
    }
}

/// Whether `pod` may run on `node`: ready, not cordoned, and its taints,
/// node selector and required node affinity allow it (the same predicates
/// the pending-capacity producer uses).
fn schedulable_on(pod: &Pod, node: &Node) -> bool {
    node.ready && !node.unschedulable && pod.may_run_on(node)
}

/// An in-memory cluster: nodes with allocatable and labels, pods with
/// requests, and a simple scheduler.
///
/// Node groups attached with [`add_node_group`](Self::add_node_group) show
/// one node per ready replica, named `{group id}-{index}`, built from a
/// [`NodeTemplate`]; a scale-down removes the highest indexes and their pods
/// go back to pending. [`schedule`](Self::schedule) binds pending pods first
/// fit, in creation order, and marks the rest unschedulable
/// (`PodScheduled=False`, reason `Unschedulable`). It is the
/// [`ClusterState`] the producers read. Clones share the cluster.
///
/// ```
/// use karpenter_core::cluster::Resources;
/// use karpenter_fake::{FakeCluster, FakeNodeGroup, NodeTemplate, SimClock};
/// use chrono::{TimeZone, Utc};
///
/// let clock = SimClock::new(Utc.with_ymd_and_hms(2026, 1, 5, 0, 0, 0).unwrap());
/// let group = FakeNodeGroup::builder("workers").replicas(1).build(&clock);
/// let cluster = FakeCluster::new(&clock);
/// cluster.add_node_group(&group, NodeTemplate::new(Resources::new(4000, 8 << 30, 110)));
/// cluster.scale_workload("default", "web", 6, Resources::new(1000, 1 << 30, 1));
/// let outcome = cluster.schedule();
/// assert_eq!(outcome.bound, 4); // 4 cpu on the one node
/// assert_eq!(cluster.pending_pods(), 2);
/// ```
#[derive(Clone)]
pub struct FakeCluster {
    clock: SimClock,
    inner: Arc<Mutex<Inner>>,
}

impl fmt::Debug for FakeCluster {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.lock();
        f.debug_struct("FakeCluster")
            .field("node_groups", &s.groups.len())
            .field("static_nodes", &s.static_nodes.len())
            .field("pods", &s.pods.len())
            .finish()
    }
}

impl FakeCluster {
    /// An empty cluster on `clock`.
    pub fn new(clock: &SimClock) -> Self {
        Self {
            clock: clock.clone(),
            inner: Arc::new(Mutex::new(Inner::default())),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Shows one node per ready replica of `group`, built from `template`.
    pub fn add_node_group(&self, group: &FakeNodeGroup, template: NodeTemplate) {
        self.lock().groups.push(GroupNodes {
            group: group.clone(),
            template,
            nodes: Vec::new(),
        });
    }

    /// Adds a DaemonSet: every node it lands on (its tolerations, node
    /// selector and affinity against the node) sets its requests aside
    /// before any pod, and snapshots include it.
    pub fn add_daemon_set(&self, daemon_set: DaemonSet) {
        self.lock().daemon_sets.push(daemon_set);
    }

    /// Adds a node that belongs to no group.
    pub fn add_node(&self, node: Node) {
        self.lock().static_nodes.push(node);
    }

    /// Adds a pod. An unbound pod is pending until the next
    /// [`schedule`](Self::schedule).
    pub fn add_pod(&self, pod: Pod) {
        let now = self.clock.now();
        let pending_since = pod.node_name.is_none().then_some(now);
        self.lock().pods.push(PodEntry {
            pod,
            workload: None,
            pending_since,
        });
    }

    /// Removes the pod `namespace/name`; `false` if there is none.
    pub fn remove_pod(&self, namespace: &str, name: &str) -> bool {
        let mut s = self.lock();
        let before = s.pods.len();
        s.pods
            .retain(|e| !(e.pod.namespace == namespace && e.pod.name == name));
        s.pods.len() != before
    }

    /// Makes the workload `name` have exactly `replicas` pods of `requests`,
    /// like a Deployment: new pods are named `{name}-{n}` and start pending;
    /// a scale-down deletes the newest pods first.
    pub fn scale_workload(
        &self,
        namespace: &str,
        name: &str,
        replicas: usize,
        requests: Resources,
    ) {
        self.scale_workload_like(
            namespace,
            name,
            replicas,
            &pending_pod(namespace, name, requests),
        );
    }

    /// [`scale_workload`](Self::scale_workload) for pods that need node
    /// labels (`node_selector`): [`scale_workload_like`](Self::scale_workload_like)
    /// with a pending pod of `requests` and that selector.
    pub fn scale_workload_with(
        &self,
        namespace: &str,
        name: &str,
        replicas: usize,
        requests: Resources,
        node_selector: &BTreeMap<String, String>,
    ) {
        let mut template = pending_pod(namespace, name, requests);
        template.node_selector = node_selector.clone();
        self.scale_workload_like(namespace, name, replicas, &template);
    }

    /// [`scale_workload`](Self::scale_workload) with pods made from
    /// `template` (its requests, node selector, affinity, tolerations...):
    /// each new pod is a copy named `{name}-{n}`, pending and unbound.
    ///
    /// ```
    /// use std::collections::BTreeMap;
    /// use chrono::{TimeZone, Utc};
    /// use karpenter_core::cluster::Resources;
    /// use karpenter_fake::{FakeCluster, FakeNodeGroup, NodeTemplate, SimClock, pending_pod};
    ///
    /// let clock = SimClock::new(Utc.with_ymd_and_hms(2026, 1, 5, 0, 0, 0).unwrap());
    /// let group = FakeNodeGroup::builder("hdd").replicas(1).build(&clock);
    /// let cluster = FakeCluster::new(&clock);
    /// cluster.add_node_group(&group, NodeTemplate::new(Resources::new(4000, 8 << 30, 110)).label("disk", "hdd"));
    /// let mut db = pending_pod("default", "db", Resources::new(500, 1 << 30, 1));
    /// db.node_selector = BTreeMap::from([("disk".to_string(), "ssd".to_string())]);
    /// cluster.scale_workload_like("default", "db", 2, &db);
    /// assert_eq!(cluster.schedule().unschedulable, 2); // no ssd node
    /// ```
    pub fn scale_workload_like(
        &self,
        namespace: &str,
        name: &str,
        replicas: usize,
        template: &Pod,
    ) {
        let now = self.clock.now();
        let mut s = self.lock();
        let current = s
            .pods
            .iter()
            .filter(|e| e.workload.as_deref() == Some(name) && e.pod.namespace == namespace)
            .count();
        if current < replicas {
            let mut seq = s.workload_seq.get(name).copied().unwrap_or(0);
            for _ in current..replicas {
                let pod = Pod {
                    namespace: namespace.to_string(),
                    name: format!("{name}-{seq}"),
                    node_name: None,
                    phase: PodPhase::Pending,
                    unschedulable: false,
                    requests: Resources {
                        pods: 1,
                        ..template.requests
                    },
                    ..template.clone()
                };
                seq += 1;
                s.pods.push(PodEntry {
                    pod,
                    workload: Some(name.to_string()),
                    pending_since: Some(now),
                });
            }
            s.workload_seq.insert(name.to_string(), seq);
        } else if current > replicas {
            let mut to_remove = current - replicas;
            let mut keep = vec![true; s.pods.len()];
            for (i, e) in s.pods.iter().enumerate().rev() {
                if to_remove == 0 {
                    break;
                }
                if e.workload.as_deref() == Some(name) && e.pod.namespace == namespace {
                    if let Some(k) = keep.get_mut(i) {
                        *k = false;
                    }
                    to_remove -= 1;
                }
            }
            let mut it = keep.into_iter();
            s.pods.retain(|_| it.next().unwrap_or(true));
        }
    }

    /// Binds pending pods to ready nodes with room (first fit, creation
    /// order), unbinds pods whose node went away, and marks the pods that do
    /// not fit unschedulable.
    pub fn schedule(&self) -> ScheduleOutcome {
        let now = self.clock.now();
        self.lock().schedule(now)
    }

    /// Pods pending and marked unschedulable by the last pass.
    pub fn pending_pods(&self) -> usize {
        self.lock()
            .pods
            .iter()
            .filter(|e| e.pod.phase == PodPhase::Pending && e.pod.unschedulable)
            .count()
    }

    /// Pods in the cluster.
    pub fn pod_count(&self) -> usize {
        self.lock().pods.len()
    }

    /// The longest any pod has waited to be bound, counting pods still
    /// pending now.
    pub fn longest_pending(&self) -> Duration {
        let now = self.clock.now();
        let s = self.lock();
        let waiting = s
            .pods
            .iter()
            .filter_map(|e| e.pending_since)
            .map(|since| span(since, now))
            .max()
            .unwrap_or_default();
        s.longest_wait.max(waiting)
    }

    /// The current nodes and pods (without scheduling first).
    pub fn snapshot_now(&self) -> ClusterSnapshot {
        let mut s = self.lock();
        s.refresh_nodes();
        ClusterSnapshot {
            nodes: s.nodes().cloned().collect(),
            pods: s.pods.iter().map(|e| e.pod.clone()).collect(),
            daemon_sets: s.daemon_sets.clone(),
        }
    }
}

#[async_trait]
impl ClusterState for FakeCluster {
    async fn snapshot(&self) -> Result<ClusterSnapshot, ProviderError> {
        Ok(self.snapshot_now())
    }
}
