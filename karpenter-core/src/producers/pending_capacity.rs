//! The `pendingCapacity` producer: how many nodes each node group must add
//! so that the pods the scheduler could not place can run.
//!
//! The whole computation is one pure function of the cluster snapshot and
//! **every** PendingCapacity producer: [`PendingAssignment::compute`]. A pod
//! that would fit several node groups is counted once, for one group, so
//! the producers must be computed together; a runner computes the
//! assignment once per snapshot ([`PendingAssignment::gather`] also reads
//! what each producer's ScalableNodeGroup provider says) and every
//! producer's reconcile reads its own group from it
//! ([`ProducerContext::with_pending`](super::ProducerContext::with_pending)).
//!
//! The rules, in order (`docs/producers-pending-capacity.md` has them with
//! examples):
//!
//! 1. **Pending pods** are the pods with phase `Pending`, no node, and
//!    `PodScheduled=False` with reason `Unschedulable`
//!    ([`Pod::unschedulable`]).
//! 2. **A group's nodes** are the nodes whose labels contain every label of
//!    the producer's `nodeSelector`. **Registered** nodes are those that are
//!    Ready. The **template** (what one new node offers) is the Ready node
//!    of the group with the smallest name (uncordoned nodes first), without
//!    its `kubernetes.io/hostname` label and its `node.kubernetes.io/*`
//!    condition taints; when no node is Ready, the provider's
//!    [`NodeGroup::template`](crate::provider::NodeGroup::template) of the
//!    ScalableNodeGroup named by `scalableNodeGroupRef`, with the
//!    `nodeSelector` labels added (scale from zero); else there is none, and
//!    the status says why. A new node then runs every DaemonSet whose pod
//!    would land on it: their requests (and one pod slot each) are taken
//!    from the template's allocatable.
//! 3. **Upcoming** nodes are the nodes the group was asked for that have not
//!    registered: the provider's desired size − registered (at least 0); 0
//!    and reported as unknown without a `scalableNodeGroupRef`.
//! 4. **Fit**: a pod fits a group when every `NoSchedule`/`NoExecute` taint
//!    of the template is tolerated, its `nodeSelector` and required node
//!    affinity match the template's labels (a new node has no name yet, so
//!    `matchFields` on `metadata.name` — how DaemonSet pods are pinned —
//!    never matches), and its effective request fits the allocatable left
//!    after DaemonSets (cpu, memory, one pod slot).
//! 5. **Packing** is first-fit decreasing: pods in order of cpu request,
//!    then memory request, largest first (ties keep the snapshot's order).
//!    First, every group's upcoming nodes take the pods that fit them
//!    (groups in name order). Then, in rounds, every group packs the pods it
//!    fits onto new nodes; the group whose new nodes waste least wins the
//!    round and takes all the pods it packed. **Waste** is the unused
//!    fraction of the dominant resource on the new nodes:
//!    `1 − max over cpu, memory, pods of (requested / (nodes × allocatable))`.
//!    Ties go to the group name (the `scalableNodeGroupRef` name, else the
//!    producer's name), then the producer's `namespace/name`. Rounds go on
//!    until no group fits a remaining pod.
//! 6. Pods that fit no group are counted and reported, with the first
//!    predicate that failed per group ([`PendingAssignment::reasons`]).
//!    Required inter-pod (anti-)affinity, topology spread constraints and
//!    volume zones are not evaluated: the pods that have them are packed on
//!    the predicates above and reported ([`Pod::unevaluated`]).
//!
//! Gauges, with the producer's `name` and `namespace` labels:
//! [`NODES`] (new nodes needed), [`PODS`] (pending pods assigned to the
//! group, on upcoming or new nodes) and [`DESIRED_NODES`] (registered +
//! upcoming + new: the size the group should have). A HorizontalAutoscaler
//! metric on the last one with `AverageValue` 1, `role: ScaleUpOnly` and
//! `behavior.scaleUp.tolerance: 0` reaches exactly that size and never
//! pulls the group down (with the default tolerance of 0.1, one node
//! missing from a group of 10 or more is "within tolerance").
//!
//! ```
//! use std::collections::BTreeMap;
//! use karpenter_core::api::v1alpha1::PendingCapacitySpec;
//! use karpenter_core::cluster::{ClusterSnapshot, Node, Pod, PodPhase, Resources};
//! use karpenter_core::producers::pending_capacity::{NodeGroupLink, PendingAssignment, PendingCapacityInput};
//!
//! const GIB: i64 = 1 << 30;
//! let labels = BTreeMap::from([("group".to_string(), "web".to_string())]);
//! let node = Node {
//!     name: "web-1".into(),
//!     labels: labels.clone(),
//!     allocatable: Resources::new(4_000, 16 * GIB, 110),
//!     taints: vec![],
//!     ready: true,
//!     unschedulable: false,
//! };
//! let pending = |name: &str| Pod {
//!     namespace: "default".into(),
//!     name: name.into(),
//!     requests: Resources::new(1_500, 2 * GIB, 1),
//!     phase: PodPhase::Pending,
//!     unschedulable: true,
//!     ..Pod::default()
//! };
//! let snapshot = ClusterSnapshot {
//!     nodes: vec![node],
//!     pods: (0..5).map(|i| pending(&format!("web-{i}"))).collect(),
//!     daemon_sets: vec![],
//! };
//! let spec = PendingCapacitySpec { node_selector: labels, scalable_node_group_ref: None };
//! let input = PendingCapacityInput::new("default", "web-pending", &spec, NodeGroupLink::Unset);
//! let assignment = PendingAssignment::compute(&snapshot, &[input]);
//! let web = assignment.group("default", "web-pending").unwrap();
//! // Two 1.5-cpu pods per 4-cpu node: 5 pods need 3 new nodes.
//! assert_eq!((web.pods, web.new_nodes, web.desired_nodes()), (5, 3, 4));
//! ```

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use futures_util::future::join_all;

use super::{Gauge, Labels};
use crate::api::v1alpha1::{MetricsProducer, PendingCapacitySpec, ScalableNodeGroupSpec};
use crate::cluster::{
    ClusterSnapshot, DaemonSet, Node, NodeSelector, Pod, PodPhase, Resources, Toleration, Unfit,
    format_cpu, format_memory,
};
use crate::provider::{NodeTemplate, ProviderError, ProviderRegistry};

/// Gauge name: new nodes the group needs for the pending pods assigned to it.
pub const NODES: &str = "karpenter_pending_capacity_nodes";
/// Gauge name: pending pods assigned to the group (on upcoming or new nodes).
pub const PODS: &str = "karpenter_pending_capacity_pods";
/// Gauge name: registered + upcoming + new nodes, the size the group should
/// have.
pub const DESIRED_NODES: &str = "karpenter_pending_capacity_desired_nodes";

/// The node label a template built from a real node drops: a new node has
/// its own hostname.
pub const HOSTNAME_LABEL: &str = "kubernetes.io/hostname";
/// Taints with this key prefix (`not-ready`, `unreachable`,
/// `unschedulable`, `memory-pressure`, ...) describe one node's condition,
/// not the group: a template built from a real node drops them.
pub const CONDITION_TAINT_PREFIX: &str = "node.kubernetes.io/";

/// How many pods that fit no group, or that have unevaluated constraints,
/// a status names (the counts are always complete).
const NAMED_IN_STATUS: usize = 3;

/// What the caller learned about the ScalableNodeGroup a producer names in
/// `scalableNodeGroupRef` (see [`PendingAssignment::gather`]).
#[derive(Debug, Clone, PartialEq)]
pub enum NodeGroupLink {
    /// `scalableNodeGroupRef` is not set.
    Unset,
    /// It names a ScalableNodeGroup that does not exist.
    Missing {
        /// The name it gives.
        name: String,
    },
    /// The ScalableNodeGroup exists; what its provider said.
    Found {
        /// Its name.
        name: String,
        /// The provider's desired size (what the cloud works towards).
        desired: Result<i32, ProviderError>,
        /// The node a scale-up would add; `None` when it was not asked for
        /// (a Ready node of the group gives the template).
        template: Option<Result<Option<NodeTemplate>, ProviderError>>,
    },
}

impl NodeGroupLink {
    fn name(&self) -> Option<&str> {
        match self {
            Self::Unset => None,
            Self::Missing { name } | Self::Found { name, .. } => Some(name),
        }
    }
}

/// One PendingCapacity producer, as the joint assignment needs it.
#[derive(Debug, Clone)]
pub struct PendingCapacityInput<'a> {
    /// The producer's namespace.
    pub namespace: String,
    /// The producer's name.
    pub name: String,
    /// Its `spec.pendingCapacity`.
    pub spec: &'a PendingCapacitySpec,
    /// Its ScalableNodeGroup and what the provider said of it.
    pub node_group: NodeGroupLink,
}

impl<'a> PendingCapacityInput<'a> {
    /// The input of producer `namespace/name`.
    pub fn new(
        namespace: &str,
        name: &str,
        spec: &'a PendingCapacitySpec,
        node_group: NodeGroupLink,
    ) -> Self {
        Self {
            namespace: namespace.to_string(),
            name: name.to_string(),
            spec,
            node_group,
        }
    }
}

/// Where a group's template came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateSource {
    /// A Ready node of the group (its name).
    Node(String),
    /// The provider's template of the ScalableNodeGroup (its name).
    Provider(String),
    /// There is none; why, and what to do.
    None(String),
}

impl fmt::Display for TemplateSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Node(n) => write!(f, "node {n}"),
            Self::Provider(g) => write!(f, "provider (ScalableNodeGroup {g})"),
            Self::None(why) => write!(f, "none: {why}"),
        }
    }
}

/// Why a pod does not fit a group: the first predicate that failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotFit {
    /// The group has no template (see [`TemplateSource::None`]).
    NoTemplate,
    /// A taint, the node selector, the affinity or a resource.
    Pod(Unfit),
}

impl fmt::Display for NotFit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoTemplate => f.write_str("no node template (see the producer's status)"),
            Self::Pod(u) => u.fmt(f),
        }
    }
}

/// One group's share of the assignment: its template, node counts and
/// pods. Everything a producer's gauges and status show.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupAssignment {
    /// The producer's namespace.
    pub namespace: String,
    /// The producer's name.
    pub name: String,
    /// `scalableNodeGroupRef.name`, if set.
    pub node_group: Option<String>,
    /// The producer's node selector.
    pub node_selector: BTreeMap<String, String>,
    /// Where the template came from.
    pub template_source: TemplateSource,
    /// The template (labels, taints, allocatable before DaemonSets).
    pub template: Option<NodeTemplate>,
    /// What one new node offers pods: the template's allocatable minus the
    /// DaemonSets that land on it.
    pub allocatable: Option<Resources>,
    /// DaemonSets that land on a new node.
    pub daemon_sets: usize,
    /// What they request together (pods: one per DaemonSet).
    pub daemon_set_requests: Resources,
    /// Ready nodes of the group.
    pub registered: i64,
    /// The provider's desired size, when known.
    pub desired: Option<i32>,
    /// Nodes asked for but not registered: desired − registered, at least 0
    /// (0 when the desired size is not known).
    pub upcoming: i64,
    /// New nodes needed.
    pub new_nodes: i64,
    /// Pending pods assigned to the group.
    pub pods: usize,
    /// Of those, the pods placed on upcoming nodes.
    pub pods_on_upcoming: usize,
    /// The unused fraction of the dominant resource on the new nodes, when
    /// there are new nodes.
    pub waste: Option<f64>,
    /// Problems the status reports (no template, an unknown desired size,
    /// a selector that matches no node...).
    pub notes: Vec<String>,
}

impl GroupAssignment {
    /// Registered + upcoming + new: the size the group should have.
    pub fn desired_nodes(&self) -> i64 {
        self.registered
            .saturating_add(self.upcoming)
            .saturating_add(self.new_nodes)
    }

    /// The group's name for ordering and messages: the
    /// `scalableNodeGroupRef` name, else the producer's name.
    pub fn group_name(&self) -> &str {
        self.node_group.as_deref().unwrap_or(&self.name)
    }

    /// The three gauges, with `labels` (the producer's name and namespace).
    pub fn gauges(&self, labels: &Labels) -> Vec<Gauge> {
        let g = |name, value: f64| Gauge {
            name,
            labels: labels.clone(),
            value,
        };
        vec![
            g(NODES, self.new_nodes as f64),
            g(PODS, self.pods as f64),
            g(DESIRED_NODES, self.desired_nodes() as f64),
        ]
    }

    /// The notes as one message, if there are any.
    pub fn message(&self) -> Option<String> {
        (!self.notes.is_empty()).then(|| self.notes.join("; "))
    }

    fn key(&self) -> (&str, &str, &str) {
        (self.group_name(), &self.namespace, &self.name)
    }
}

/// Where one pending pod goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// On upcoming node `node` (0-based) of group `group` (an index into
    /// [`PendingAssignment::groups`]).
    Upcoming {
        /// Index into [`PendingAssignment::groups`].
        group: usize,
        /// Which upcoming node, 0-based.
        node: usize,
    },
    /// On new node `node` (0-based) of group `group`.
    New {
        /// Index into [`PendingAssignment::groups`].
        group: usize,
        /// Which new node, 0-based.
        node: usize,
    },
    /// On no group.
    Unfit,
}

impl Placement {
    /// The group index, unless the pod fits none.
    pub fn group(&self) -> Option<usize> {
        match *self {
            Self::Upcoming { group, .. } | Self::New { group, .. } => Some(group),
            Self::Unfit => None,
        }
    }
}

/// A pending pod and where it goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PendingPod {
    /// Index of the pod in the snapshot's `pods`.
    pub pod: usize,
    /// Where it goes.
    pub placement: Placement,
}

/// A pod that fits no group, with the first failed predicate per group
/// (in the order of [`PendingAssignment::groups`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnfitPod {
    /// `namespace/name`.
    pub pod: String,
    /// Per group, why not.
    pub reasons: Vec<NotFit>,
}

/// The joint assignment of every pending pod to at most one group. See the
/// [module docs](self) for the rules.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PendingAssignment {
    groups: Vec<GroupAssignment>,
    /// Every pending pod, in snapshot order.
    pods: Vec<PendingPod>,
    unfit: usize,
    /// The first unfit pods, with their reasons (for status messages).
    unfit_named: Vec<UnfitPod>,
    /// Per group, the first assigned pods with unevaluated constraints
    /// (`namespace/name (names)`), and how many there are.
    unevaluated: Vec<(Vec<String>, usize)>,
}

/// Whether `pod` is pending-unschedulable.
pub fn is_pending(pod: &Pod) -> bool {
    pod.phase == PodPhase::Pending && pod.node_name.is_none() && pod.unschedulable
}

fn selects(selector: &BTreeMap<String, String>, node: &Node) -> bool {
    selector.iter().all(|(k, v)| node.labels.get(k) == Some(v))
}

/// `{group: ml, zone: a}`.
fn selector_text(selector: &BTreeMap<String, String>) -> String {
    let pairs: Vec<String> = selector.iter().map(|(k, v)| format!("{k}: {v}")).collect();
    format!("{{{}}}", pairs.join(", "))
}

/// `cpu 3650m, memory 14Gi, pods 107`.
fn resources_text(r: Resources) -> String {
    format!(
        "cpu {}, memory {}, pods {}",
        format_cpu(r.cpu_millis),
        format_memory(r.memory_bytes),
        r.pods
    )
}

/// A template built from a real node: without its hostname and its
/// condition taints.
fn template_from_node(node: &Node) -> NodeTemplate {
    let mut labels = node.labels.clone();
    labels.remove(HOSTNAME_LABEL);
    NodeTemplate {
        allocatable: node.allocatable,
        labels,
        taints: node
            .taints
            .iter()
            .filter(|t| !t.key.starts_with(CONDITION_TAINT_PREFIX))
            .cloned()
            .collect(),
    }
}

/// What a group needs before packing.
struct GroupSetup {
    out: GroupAssignment,
    /// Per-node capacity as [cpu, memory, pods]; `None` without a template.
    alloc: Option<[i64; 3]>,
}

fn setup_group(snapshot: &ClusterSnapshot, input: &PendingCapacityInput<'_>) -> GroupSetup {
    let selector = &input.spec.node_selector;
    let mut notes = Vec::new();
    let mut registered = 0i64;
    let mut matched = 0usize;
    let mut best: Option<&Node> = None;
    for node in snapshot.nodes.iter().filter(|n| selects(selector, n)) {
        matched += 1;
        if !node.ready {
            continue;
        }
        registered += 1;
        // Uncordoned first, then the smallest name.
        let better = best.is_none_or(|b| {
            (node.unschedulable, node.name.as_str()) < (b.unschedulable, b.name.as_str())
        });
        if better {
            best = Some(node);
        }
    }
    // Said only when there is no template either: a group scaled to zero
    // has no node, and its provider's template is what counts then.
    let no_node = if matched == 0 {
        format!("nodeSelector {} matches no node", selector_text(selector))
    } else {
        format!(
            "no node matching nodeSelector {} is Ready",
            selector_text(selector)
        )
    };
    let ref_name = input.node_group.name().map(str::to_string);
    let (source, template) = match (best, &input.node_group) {
        (Some(node), _) => (
            TemplateSource::Node(node.name.clone()),
            Some(template_from_node(node)),
        ),
        (None, NodeGroupLink::Unset) => (
            TemplateSource::None(format!(
                "{no_node} and spec.pendingCapacity.scalableNodeGroupRef is not set; set it to the group's ScalableNodeGroup so its provider's node template is used (scale from zero)"
            )),
            None,
        ),
        (None, NodeGroupLink::Missing { name }) => (
            TemplateSource::None(format!(
                "{no_node} and spec.pendingCapacity.scalableNodeGroupRef names ScalableNodeGroup {name:?}, which does not exist in namespace {:?}",
                input.namespace
            )),
            None,
        ),
        (None, NodeGroupLink::Found { name, template, .. }) => match template {
            Some(Ok(Some(t))) => {
                let mut t = t.clone();
                // Nodes of the group carry the selector's labels by definition.
                t.labels
                    .extend(selector.iter().map(|(k, v)| (k.clone(), v.clone())));
                (TemplateSource::Provider(name.clone()), Some(t))
            }
            Some(Ok(None)) | None => (
                TemplateSource::None(format!(
                    "{no_node} and the provider of ScalableNodeGroup {name:?} has no node template; wait for a node or use a provider that implements NodeGroup::template"
                )),
                None,
            ),
            Some(Err(e)) => (
                TemplateSource::None(format!(
                    "{no_node} and reading the node template of ScalableNodeGroup {name:?} failed: {e}"
                )),
                None,
            ),
        },
    };
    if let TemplateSource::None(why) = &source {
        notes.push(format!("no node template: {why}"));
    }

    let desired = match &input.node_group {
        NodeGroupLink::Unset => {
            notes.push(
                "upcoming nodes are not known: set spec.pendingCapacity.scalableNodeGroupRef"
                    .to_string(),
            );
            None
        }
        NodeGroupLink::Missing { name } => {
            notes.push(format!(
                "spec.pendingCapacity.scalableNodeGroupRef names ScalableNodeGroup {name:?}, which does not exist in namespace {:?}; upcoming nodes are not known",
                input.namespace
            ));
            None
        }
        NodeGroupLink::Found { desired, name, .. } => match desired {
            Ok(d) => Some(*d),
            Err(e) => {
                notes.push(format!(
                    "reading the desired size of ScalableNodeGroup {name:?} failed, upcoming nodes are not known: {e}"
                ));
                None
            }
        },
    };
    let upcoming = desired.map_or(0, |d| (i64::from(d) - registered).max(0));

    let mut ds_count = 0usize;
    let mut ds_requests = Resources::default();
    let alloc = template.as_ref().map(|t| {
        for ds in snapshot
            .daemon_sets
            .iter()
            .filter(|ds| ds.lands_on(&t.labels, &t.taints))
        {
            ds_count += 1;
            ds_requests = ds_requests.saturating_add(daemon_set_requests(ds));
        }
        let a = t.allocatable;
        let left = [
            a.cpu_millis.saturating_sub(ds_requests.cpu_millis),
            a.memory_bytes.saturating_sub(ds_requests.memory_bytes),
            a.pods.saturating_sub(ds_requests.pods),
        ];
        if left.iter().any(|v| *v <= 0) {
            notes.push(format!(
                "a new node offers nothing for pods: allocatable {} minus {ds_count} DaemonSet(s) requesting {} leaves no cpu, memory or pod slot",
                resources_text(a),
                resources_text(ds_requests)
            ));
        }
        left
    });
    GroupSetup {
        out: GroupAssignment {
            namespace: input.namespace.clone(),
            name: input.name.clone(),
            node_group: ref_name,
            node_selector: selector.clone(),
            template_source: source,
            template,
            allocatable: alloc.map(|[c, m, p]| Resources::new(c, m, p)),
            daemon_sets: ds_count,
            daemon_set_requests: ds_requests,
            registered,
            desired,
            upcoming,
            new_nodes: 0,
            pods: 0,
            pods_on_upcoming: 0,
            waste: None,
            notes,
        },
        alloc,
    }
}

/// What one DaemonSet pod takes: its requests and one pod slot; negative
/// requests count as 0.
fn daemon_set_requests(ds: &DaemonSet) -> Resources {
    Resources::new(
        ds.requests.cpu_millis.max(0),
        ds.requests.memory_bytes.max(0),
        1,
    )
}

/// What a pod takes on a node: its effective request and one pod slot;
/// negative requests count as 0.
fn pod_request(pod: &Pod) -> [i64; 3] {
    [
        pod.requests.cpu_millis.max(0),
        pod.requests.memory_bytes.max(0),
        1,
    ]
}

/// How many pods of `req` fit in `free`.
fn room(free: &[i64; 3], req: &[i64; 3]) -> usize {
    free.iter()
        .zip(req)
        .filter(|(_, r)| **r > 0)
        .map(|(f, r)| usize::try_from(f / r).unwrap_or(0))
        .min()
        .unwrap_or(usize::MAX)
}

fn fits(req: &[i64; 3], free: &[i64; 3]) -> bool {
    req[0] <= free[0] && req[1] <= free[1] && req[2] <= free[2]
}

/// The scheduling constraints of a pod, compared by value: pods with equal
/// constraints fit the same groups, so each distinct set is checked once.
#[derive(PartialEq, Eq, Hash)]
struct Constraints<'a> {
    selector: &'a BTreeMap<String, String>,
    affinity: Option<&'a NodeSelector>,
    tolerations: &'a [Toleration],
}

impl<'a> Constraints<'a> {
    fn of(pod: &'a Pod) -> Self {
        Self {
            selector: &pod.node_selector,
            affinity: pod.required_node_affinity.as_ref(),
            tolerations: &pod.tolerations,
        }
    }
}

/// First-fit bins of one shape, with a segment tree over the free capacity
/// of the open bins (per resource, the largest free amount below each tree
/// node), so finding the first bin that fits a pod skips every subtree
/// that cannot hold it instead of scanning all bins.
#[derive(Debug, Default)]
struct Bins {
    alloc: [i64; 3],
    len: usize,
    /// Leaves (a power of two, at least 1).
    cap: usize,
    /// Heap order: node 1 is the root, leaves at `cap..2 * cap`; leaves of
    /// unopened bins hold `i64::MIN`.
    tree: Vec<[i64; 3]>,
}

const CLOSED: [i64; 3] = [i64::MIN; 3];

impl Bins {
    /// Empties the bins for nodes offering `alloc`, with `open` bins
    /// already open (upcoming nodes).
    fn reset(&mut self, alloc: [i64; 3], open: usize) {
        self.alloc = alloc;
        self.len = open;
        self.cap = open.max(16).next_power_of_two();
        self.tree.clear();
        self.tree.resize(2 * self.cap, CLOSED);
        for leaf in 0..open {
            self.tree[self.cap + leaf] = alloc;
        }
        for i in (1..self.cap).rev() {
            self.tree[i] = Self::join(self.tree[2 * i], self.tree[2 * i + 1]);
        }
    }

    fn join(a: [i64; 3], b: [i64; 3]) -> [i64; 3] {
        [a[0].max(b[0]), a[1].max(b[1]), a[2].max(b[2])]
    }

    /// The first open bin with room for `req`.
    fn find(&self, req: &[i64; 3]) -> Option<usize> {
        self.find_below(1, req)
    }

    fn find_below(&self, node: usize, req: &[i64; 3]) -> Option<usize> {
        if !fits(req, self.tree.get(node)?) {
            return None;
        }
        if node >= self.cap {
            return Some(node - self.cap);
        }
        self.find_below(2 * node, req)
            .or_else(|| self.find_below(2 * node + 1, req))
    }

    /// How many pods of `req` bin `bin` has room for.
    fn room(&self, bin: usize, req: &[i64; 3]) -> usize {
        self.tree
            .get(self.cap + bin)
            .map_or(0, |free| room(free, req))
    }

    /// Puts `k` pods of `req` in bin `bin`.
    fn take(&mut self, bin: usize, req: &[i64; 3], k: usize) {
        let k = i64::try_from(k).unwrap_or(i64::MAX);
        let mut i = self.cap + bin;
        if let Some(leaf) = self.tree.get_mut(i) {
            for (free, r) in leaf.iter_mut().zip(req) {
                *free = free.saturating_sub(r.saturating_mul(k));
            }
        }
        while i > 1 {
            i /= 2;
            self.tree[i] = Self::join(self.tree[2 * i], self.tree[2 * i + 1]);
        }
    }

    /// Opens a new bin and returns it.
    #[cfg(test)]
    fn open(&mut self) -> usize {
        let alloc = self.alloc;
        self.open_filled(1, alloc, alloc)
    }

    /// Opens `n` (at least 1) bins, the first `n - 1` with `free` left and
    /// the last with `last` left, and returns the first: O(n + log bins).
    fn open_filled(&mut self, n: usize, free: [i64; 3], last: [i64; 3]) -> usize {
        let first = self.len;
        let end = first + n;
        if end > self.cap {
            let leaves: Vec<[i64; 3]> = self.tree[self.cap..self.cap + self.len].to_vec();
            self.cap = end.next_power_of_two();
            self.tree.clear();
            self.tree.resize(2 * self.cap, CLOSED);
            self.tree[self.cap..self.cap + leaves.len()].copy_from_slice(&leaves);
            for i in (1..self.cap).rev() {
                self.tree[i] = Self::join(self.tree[2 * i], self.tree[2 * i + 1]);
            }
        }
        self.len = end;
        for leaf in first..end {
            self.tree[self.cap + leaf] = if leaf + 1 == end { last } else { free };
        }
        // Parents of the new leaves, level by level.
        let (mut lo, mut hi) = ((self.cap + first) / 2, (self.cap + end - 1) / 2);
        while lo >= 1 {
            for i in lo..=hi {
                self.tree[i] = Self::join(self.tree[2 * i], self.tree[2 * i + 1]);
            }
            if lo == 1 {
                break;
            }
            (lo, hi) = (lo / 2, hi / 2);
        }
        first
    }

    /// First fit of one pod: the first open bin with room, else a new one.
    #[cfg(test)]
    fn place(&mut self, req: &[i64; 3]) -> usize {
        let bin = self.find(req).unwrap_or_else(|| self.open());
        self.take(bin, req, 1);
        bin
    }
}

/// A group's packing of its remaining pods onto new nodes.
#[derive(Debug, Clone, Copy, Default)]
struct Packing {
    nodes: usize,
    waste: f64,
}

/// First-fit decreasing of `runs` (a request and how many pods ask for
/// it, largest first) onto new nodes offering `alloc`. Identical pods go in
/// batches: the first node with room for one takes as many as fit, which
/// is where one-by-one first fit would put each of them. `placed(node, k)`
/// hears of every batch, in order.
fn pack_runs(
    bins: &mut Bins,
    alloc: [i64; 3],
    runs: impl Iterator<Item = ([i64; 3], usize)>,
    mut placed: impl FnMut(usize, usize),
) -> Packing {
    bins.reset(alloc, 0);
    let mut used = [0i128; 3];
    for (req, count) in runs {
        for (u, r) in used.iter_mut().zip(&req) {
            *u += i128::from(*r) * count as i128;
        }
        let mut left = count;
        while left > 0 {
            if let Some(node) = bins.find(&req) {
                let k = bins.room(node, &req).clamp(1, left);
                bins.take(node, &req, k);
                placed(node, k);
                left -= k;
                continue;
            }
            // No open node has room: the rest fill new nodes, each full
            // before the next opens.
            let per = room(&alloc, &req).clamp(1, left);
            let nodes = left.div_ceil(per);
            let in_last = left - per * (nodes - 1);
            let after = |k: usize| {
                let k = i64::try_from(k).unwrap_or(i64::MAX);
                [0, 1, 2].map(|i| alloc[i].saturating_sub(req[i].saturating_mul(k)))
            };
            let first = bins.open_filled(nodes, after(per), after(in_last));
            for node in first..first + nodes {
                placed(
                    node,
                    if node + 1 == first + nodes {
                        in_last
                    } else {
                        per
                    },
                );
            }
            left = 0;
        }
    }
    Packing {
        nodes: bins.len,
        waste: waste(bins.len, used, alloc),
    }
}

/// The least waste `runs` can have on nodes offering `alloc`: their waste
/// on the fewest nodes that could hold their total requests, which no
/// packing beats; `None` when there is no pod.
fn waste_bound(runs: impl Iterator<Item = ([i64; 3], usize)>, alloc: [i64; 3]) -> Option<f64> {
    let mut used = [0i128; 3];
    let mut pods = 0usize;
    for (req, count) in runs {
        pods += count;
        for (u, r) in used.iter_mut().zip(&req) {
            *u += i128::from(*r) * count as i128;
        }
    }
    if pods == 0 {
        return None;
    }
    let fewest = used
        .iter()
        .zip(alloc)
        .filter(|(_, a)| *a > 0)
        .map(|(u, a)| (u + i128::from(a) - 1) / i128::from(a))
        .max()
        .unwrap_or(1)
        .max(1);
    Some(waste(
        usize::try_from(fewest).unwrap_or(usize::MAX),
        used,
        alloc,
    ))
}

/// `1 − max over resources of used / (nodes × alloc)`.
fn waste(nodes: usize, used: [i128; 3], alloc: [i64; 3]) -> f64 {
    let mut dominant = 0.0f64;
    for (u, a) in used.iter().zip(alloc) {
        if a > 0 && nodes > 0 {
            dominant = dominant.max(*u as f64 / (nodes as f64 * a as f64));
        }
    }
    1.0 - dominant
}

/// The pending pods as packing sees them: their requests, which groups
/// their constraints allow, and the first-fit decreasing order.
struct PendingSet {
    /// Per pending pod (indexes below are into these): its index in the
    /// snapshot's pods.
    index: Vec<usize>,
    /// What each takes on a node.
    reqs: Vec<[i64; 3]>,
    /// Each pod's set of constraints (pods with equal constraints share
    /// one), and per set a bit per group that its constraints allow.
    sig: Vec<usize>,
    masks: Vec<u64>,
    words: usize,
    /// First-fit decreasing order: cpu, then memory, largest first; ties
    /// keep the snapshot's order. Pods with the same request are next to
    /// each other: they form a class, and groups pack classes in batches.
    order: Vec<usize>,
    class_of: Vec<usize>,
    class_req: Vec<[i64; 3]>,
}

impl PendingSet {
    fn new(snapshot: &ClusterSnapshot, setups: &[GroupSetup]) -> Self {
        let words = setups.len().div_ceil(64).max(1);
        let index: Vec<usize> = snapshot
            .pods
            .iter()
            .enumerate()
            .filter(|(_, p)| is_pending(p))
            .map(|(i, _)| i)
            .collect();
        let mut signature_of: HashMap<Constraints<'_>, usize> = HashMap::new();
        let mut masks: Vec<u64> = Vec::new();
        let mut sig = Vec::with_capacity(index.len());
        let mut reqs = Vec::with_capacity(index.len());
        for &i in &index {
            let pod = &snapshot.pods[i];
            reqs.push(pod_request(pod));
            let next = signature_of.len();
            let id = *signature_of.entry(Constraints::of(pod)).or_insert(next);
            if id == next {
                let start = masks.len();
                masks.resize(start + words, 0);
                for (g, s) in setups.iter().enumerate() {
                    let Some(t) = &s.out.template else { continue };
                    if pod.allowed_on(&t.labels, &t.taints, "") {
                        masks[start + g / 64] |= 1 << (g % 64);
                    }
                }
            }
            sig.push(id);
        }
        let mut order: Vec<usize> = (0..index.len()).collect();
        order.sort_by(|&a, &b| (reqs[b][0], reqs[b][1]).cmp(&(reqs[a][0], reqs[a][1])));
        let mut class_of = vec![0usize; index.len()];
        let mut class_req: Vec<[i64; 3]> = Vec::new();
        for &p in &order {
            if class_req.last() != Some(&reqs[p]) {
                class_req.push(reqs[p]);
            }
            class_of[p] = class_req.len() - 1;
        }
        Self {
            index,
            reqs,
            sig,
            masks,
            words,
            order,
            class_of,
            class_req,
        }
    }

    /// Whether constraint set `signature` allows group `g`.
    fn allows(&self, signature: usize, g: usize) -> bool {
        self.masks
            .get(signature * self.words + g / 64)
            .is_some_and(|w| w & (1 << (g % 64)) != 0)
    }
}

/// The packing in progress: where each pending pod goes so far, and per
/// group the pods it could still take.
struct Packer<'a> {
    set: &'a PendingSet,
    /// Per group, what a new node offers pods; `None` without a template.
    allocs: Vec<Option<[i64; 3]>>,
    /// Per group, the pods it fits, in packing order.
    candidates: Vec<Vec<usize>>,
    /// Per group, how many unplaced pods of each class it fits, as (class,
    /// count) in packing order; kept up to date as other groups take pods.
    runs: Vec<Vec<(usize, usize)>>,
    placement: Vec<Placement>,
    bins: Bins,
}

impl<'a> Packer<'a> {
    fn new(set: &'a PendingSet, setups: &[GroupSetup]) -> Self {
        let allocs: Vec<Option<[i64; 3]>> = setups.iter().map(|s| s.alloc).collect();
        let candidates = allocs
            .iter()
            .enumerate()
            .map(|(g, alloc)| match alloc {
                Some(a) => set
                    .order
                    .iter()
                    .copied()
                    .filter(|&p| set.allows(set.sig[p], g) && fits(&set.reqs[p], a))
                    .collect(),
                None => Vec::new(),
            })
            .collect();
        Self {
            set,
            allocs,
            candidates,
            runs: Vec::new(),
            placement: vec![Placement::Unfit; set.index.len()],
            bins: Bins::default(),
        }
    }

    /// Step 1: every group's upcoming nodes take the pods that fit them,
    /// first fit, group by group in name order.
    fn fill_upcoming(&mut self, setups: &[GroupSetup]) {
        let set = self.set;
        for (g, s) in setups.iter().enumerate() {
            let (Some(alloc), Ok(upcoming)) = (s.alloc, usize::try_from(s.out.upcoming)) else {
                continue;
            };
            let open = upcoming.min(self.candidates[g].len());
            if open == 0 {
                continue;
            }
            self.bins.reset(alloc, open);
            // Once a pod finds no room, neither do the identical pods after
            // it (nodes only fill up).
            let mut full_for: Option<usize> = None;
            for &p in &self.candidates[g] {
                if self.placement[p] != Placement::Unfit || full_for == Some(set.class_of[p]) {
                    continue;
                }
                match self.bins.find(&set.reqs[p]) {
                    Some(node) => {
                        self.bins.take(node, &set.reqs[p], 1);
                        self.placement[p] = Placement::Upcoming { group: g, node };
                    }
                    None => full_for = Some(set.class_of[p]),
                }
            }
        }
    }

    /// Step 2: rounds of least waste onto new nodes, until no group fits
    /// an unplaced pod. Records each winner's new nodes and waste.
    fn fill_new_nodes(&mut self, setups: &mut [GroupSetup]) {
        let set = self.set;
        self.runs = self
            .candidates
            .iter()
            .map(|c| {
                let mut r: Vec<(usize, usize)> = Vec::new();
                for &p in c.iter().filter(|&&p| self.placement[p] == Placement::Unfit) {
                    match r.last_mut() {
                        Some((class, n)) if *class == set.class_of[p] => *n += 1,
                        _ => r.push((set.class_of[p], 1)),
                    }
                }
                r
            })
            .collect();
        let n_groups = self.allocs.len();
        let mut packings: Vec<Option<Packing>> = vec![None; n_groups];
        let mut done = vec![false; n_groups];
        while let Some((g, waste)) = self.least_waste(&mut packings, &mut done) {
            let taken = self.place_new(g);
            if let Some(s) = setups.get_mut(g) {
                s.out.new_nodes = taken.1 as i64;
                s.out.waste = Some(waste);
            }
            done[g] = true;
            packings[g] = None;
            self.forget(&taken.0, &done, &mut packings);
        }
    }

    /// The runs of group `g` as (request, count).
    fn counts(&self, g: usize) -> impl Iterator<Item = ([i64; 3], usize)> + '_ {
        self.runs
            .get(g)
            .into_iter()
            .flatten()
            .map(|&(c, n)| (self.set.class_req[c], n))
    }

    /// The group whose packing of its unplaced pods wastes least (ties to
    /// the first in name order), with its waste; `None` when no group fits
    /// an unplaced pod. A group's waste is at least what it would be on the
    /// fewest nodes its pods could need at all: only groups whose bound can
    /// still beat the best packing so far are packed (again), so the
    /// winner is the same as if every group were packed every round.
    /// `packings` keeps each group's packing until it loses pods.
    fn least_waste(
        &mut self,
        packings: &mut [Option<Packing>],
        done: &mut [bool],
    ) -> Option<(usize, f64)> {
        let mut bounds: Vec<(f64, usize)> = Vec::new();
        for (g, is_done) in done.iter_mut().enumerate() {
            let (false, Some(alloc)) = (*is_done, self.allocs[g]) else {
                continue;
            };
            match waste_bound(self.counts(g), alloc) {
                Some(bound) => bounds.push((bound, g)),
                None => *is_done = true,
            }
        }
        bounds.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        let mut winner: Option<(usize, f64)> = None;
        for (bound, g) in bounds {
            if let Some((best, w)) = winner
                && (bound > w || (bound == w && g > best))
            {
                break;
            }
            let Some(alloc) = self.allocs[g] else {
                continue;
            };
            let packing = match packings[g] {
                Some(p) => p,
                None => {
                    let runs: Vec<([i64; 3], usize)> = self.counts(g).collect();
                    let p = pack_runs(&mut self.bins, alloc, runs.into_iter(), |_, _| {});
                    packings[g] = Some(p);
                    p
                }
            };
            if winner.is_none_or(|(best, w)| packing.waste < w || (packing.waste == w && g < best))
            {
                winner = Some((g, packing.waste));
            }
        }
        winner
    }

    /// Packs group `g`'s unplaced pods onto its new nodes, placing each;
    /// returns the pods placed and the number of new nodes.
    fn place_new(&mut self, g: usize) -> (Vec<usize>, usize) {
        let Some(alloc) = self.allocs.get(g).copied().flatten() else {
            return (Vec::new(), 0);
        };
        let taken: Vec<usize> = self.candidates[g]
            .iter()
            .copied()
            .filter(|&p| self.placement[p] == Placement::Unfit)
            .collect();
        let runs: Vec<([i64; 3], usize)> = self.counts(g).collect();
        let placement = &mut self.placement;
        let mut next = 0;
        let packing = pack_runs(&mut self.bins, alloc, runs.into_iter(), |node, k| {
            for &pod in taken.get(next..next + k).unwrap_or_default() {
                placement[pod] = Placement::New { group: g, node };
            }
            next += k;
        });
        (taken, packing.nodes)
    }

    /// The groups still packing lose the `taken` pods they would have
    /// packed, and must pack again. Pods with the same constraints and
    /// request are counted together.
    fn forget(&mut self, taken: &[usize], done: &[bool], packings: &mut [Option<Packing>]) {
        let set = self.set;
        let mut lost: BTreeMap<(usize, usize), usize> = BTreeMap::new();
        for &pod in taken {
            *lost.entry((set.sig[pod], set.class_of[pod])).or_insert(0) += 1;
        }
        for (&(signature, class), &count) in &lost {
            let req = set.class_req[class];
            for h in 0..self.allocs.len() {
                let takes =
                    set.allows(signature, h) && self.allocs[h].is_some_and(|a| fits(&req, &a));
                if done[h] || !takes {
                    continue;
                }
                if let Ok(i) = self.runs[h].binary_search_by_key(&class, |&(c, _)| c) {
                    self.runs[h][i].1 -= count;
                }
                packings[h] = None;
            }
        }
    }
}

impl PendingAssignment {
    /// Assigns every pending pod of `snapshot` to at most one of the
    /// `inputs`' groups, by the rules of the [module docs](self). The order
    /// of `inputs` does not matter; a producer named twice counts once (the
    /// first input).
    pub fn compute(snapshot: &ClusterSnapshot, inputs: &[PendingCapacityInput<'_>]) -> Self {
        // Groups in name order: the tie-break order everywhere.
        let mut setups: Vec<GroupSetup> = Vec::with_capacity(inputs.len());
        for input in inputs {
            let dup = setups
                .iter()
                .any(|s| s.out.namespace == input.namespace && s.out.name == input.name);
            if !dup {
                setups.push(setup_group(snapshot, input));
            }
        }
        setups.sort_by(|a, b| a.out.key().cmp(&b.out.key()));
        let set = PendingSet::new(snapshot, &setups);
        let mut packer = Packer::new(&set, &setups);
        packer.fill_upcoming(&setups);
        packer.fill_new_nodes(&mut setups);
        let groups = setups.into_iter().map(|s| s.out).collect();
        Self::outcome(snapshot, &set, groups, &packer.placement)
    }

    /// Counts each group's pods and names the pods the statuses mention.
    fn outcome(
        snapshot: &ClusterSnapshot,
        set: &PendingSet,
        mut groups: Vec<GroupAssignment>,
        placement: &[Placement],
    ) -> Self {
        let mut unevaluated: Vec<(Vec<String>, usize)> = vec![(Vec::new(), 0); groups.len()];
        let mut unfit = 0;
        let mut unfit_named = Vec::new();
        let mut pods = Vec::with_capacity(set.index.len());
        for (&i, &place) in set.index.iter().zip(placement) {
            let Some(pod) = snapshot.pods.get(i) else {
                continue;
            };
            match place {
                Placement::Upcoming { group, .. } | Placement::New { group, .. } => {
                    let out = &mut groups[group];
                    out.pods += 1;
                    if matches!(place, Placement::Upcoming { .. }) {
                        out.pods_on_upcoming += 1;
                    }
                    if pod.unevaluated.any() {
                        let (named, count) = &mut unevaluated[group];
                        *count += 1;
                        if named.len() < NAMED_IN_STATUS {
                            named.push(format!(
                                "{}/{} ({})",
                                pod.namespace,
                                pod.name,
                                pod.unevaluated.names().join(", ")
                            ));
                        }
                    }
                }
                Placement::Unfit => {
                    unfit += 1;
                    if unfit_named.len() < NAMED_IN_STATUS {
                        unfit_named.push(UnfitPod {
                            pod: format!("{}/{}", pod.namespace, pod.name),
                            reasons: reasons_in(&groups, pod),
                        });
                    }
                }
            }
            pods.push(PendingPod {
                pod: i,
                placement: place,
            });
        }
        Self {
            groups,
            pods,
            unfit,
            unfit_named,
            unevaluated,
        }
    }

    /// Reads what each PendingCapacity producer's ScalableNodeGroup provider
    /// says (its desired size, and its node template when no node of the
    /// group is Ready), then [`compute`](Self::compute)s the assignment.
    ///
    /// `node_group(namespace, name)` finds a ScalableNodeGroup's spec;
    /// provider handles come from `registry` (retried and timed out there).
    /// The calls for different producers run concurrently. A failed call is
    /// not an error here: the producer's status reports it, and the rest is
    /// computed without it. Unnamed producers are left out (their
    /// evaluation fails on the missing name).
    pub async fn gather<'p>(
        snapshot: &ClusterSnapshot,
        producers: impl IntoIterator<Item = &'p MetricsProducer>,
        node_group: impl Fn(&str, &str) -> Option<ScalableNodeGroupSpec>,
        registry: &ProviderRegistry,
    ) -> Self {
        let mut specs = Vec::new();
        for p in producers {
            let Some(spec) = &p.spec.pending_capacity else {
                continue;
            };
            let Some(name) = p.metadata.name.as_deref().filter(|n| !n.is_empty()) else {
                continue;
            };
            let namespace = p.metadata.namespace.as_deref().unwrap_or("default");
            let group = spec
                .scalable_node_group_ref
                .as_ref()
                .map(|r| (r.name.clone(), node_group(namespace, &r.name)));
            specs.push((namespace, name, spec, group));
        }
        let links = join_all(specs.iter().map(|(_, _, spec, group)| async move {
            match group {
                None => NodeGroupLink::Unset,
                Some((name, None)) => NodeGroupLink::Missing { name: name.clone() },
                Some((name, Some(sng))) => {
                    let handle = match registry.node_group(sng) {
                        Ok(h) => h,
                        Err(e) => {
                            return NodeGroupLink::Found {
                                name: name.clone(),
                                desired: Err(e.clone()),
                                template: Some(Err(e)),
                            };
                        }
                    };
                    let desired = handle.replicas().await.map(|r| r.desired);
                    let has_ready_node = snapshot
                        .nodes
                        .iter()
                        .any(|n| n.ready && selects(&spec.node_selector, n));
                    let template = if has_ready_node {
                        None
                    } else {
                        Some(handle.template().await)
                    };
                    NodeGroupLink::Found {
                        name: name.clone(),
                        desired,
                        template,
                    }
                }
            }
        }))
        .await;
        let inputs: Vec<PendingCapacityInput<'_>> = specs
            .iter()
            .zip(links)
            .map(|((ns, name, spec, _), link)| PendingCapacityInput::new(ns, name, spec, link))
            .collect();
        Self::compute(snapshot, &inputs)
    }

    /// The groups, in name order (the tie-break order).
    pub fn groups(&self) -> &[GroupAssignment] {
        &self.groups
    }

    /// The group of producer `namespace/name`.
    pub fn group(&self, namespace: &str, name: &str) -> Option<&GroupAssignment> {
        self.groups
            .iter()
            .find(|g| g.namespace == namespace && g.name == name)
    }

    /// Every pending pod and where it goes, in snapshot order.
    pub fn pods(&self) -> &[PendingPod] {
        &self.pods
    }

    /// How many pending pods fit no group.
    pub fn unfit_count(&self) -> usize {
        self.unfit
    }

    /// Why `pod` fits none of the groups: per group (in the order of
    /// [`groups`](Self::groups)), the first predicate that fails; `None`
    /// for a group it fits (which only happens for a pod that is not
    /// pending, or whose group's nodes were all taken by other pods).
    pub fn reasons(&self, pod: &Pod) -> Vec<Option<NotFit>> {
        self.groups.iter().map(|g| first_failure(g, pod)).collect()
    }

    /// Human-readable status values of the group at `index` (see
    /// [`groups`](Self::groups)): `template`, `allocatable`, `pods`,
    /// `nodes`, and, when there are any, `unschedulablePods` (pods that fit
    /// no group, with why not this one), `unevaluatedConstraints` and
    /// `message`.
    pub fn status_values(&self, index: usize) -> BTreeMap<String, String> {
        let Some(g) = self.groups.get(index) else {
            return BTreeMap::new();
        };
        let mut values = BTreeMap::new();
        values.insert("template".to_string(), g.template_source.to_string());
        if let Some(a) = g.allocatable {
            let ds = if g.daemon_sets == 0 {
                "no DaemonSet".to_string()
            } else {
                format!(
                    "after {} DaemonSet(s) requesting {}",
                    g.daemon_sets,
                    resources_text(g.daemon_set_requests)
                )
            };
            values.insert(
                "allocatable".to_string(),
                format!("{} per new node ({ds})", resources_text(a)),
            );
        }
        values.insert(
            "pods".to_string(),
            format!("{} ({} on upcoming nodes)", g.pods, g.pods_on_upcoming),
        );
        let upcoming = match g.desired {
            Some(_) => g.upcoming.to_string(),
            None => "unknown".to_string(),
        };
        values.insert(
            "nodes".to_string(),
            format!(
                "registered {}, upcoming {upcoming}, new {}, desired {}",
                g.registered,
                g.new_nodes,
                g.desired_nodes()
            ),
        );
        if self.unfit > 0 {
            let named: Vec<String> = self
                .unfit_named
                .iter()
                .map(|u| match u.reasons.get(index) {
                    Some(r) => format!("{} (here: {r})", u.pod),
                    None => u.pod.clone(),
                })
                .collect();
            let more = if self.unfit > named.len() {
                ", ..."
            } else {
                ""
            };
            values.insert(
                "unschedulablePods".to_string(),
                format!(
                    "{} pending pod(s) fit no node group: {}{more}",
                    self.unfit,
                    named.join(", ")
                ),
            );
        }
        if let Some((named, count)) = self.unevaluated.get(index)
            && *count > 0
        {
            let more = if *count > named.len() { ", ..." } else { "" };
            values.insert(
                "unevaluatedConstraints".to_string(),
                format!(
                    "{count} pod(s) counted here have constraints that are not evaluated: {}{more}",
                    named.join(", ")
                ),
            );
        }
        if let Some(m) = g.message() {
            values.insert("message".to_string(), m);
        }
        values
    }
}

fn reasons_in(groups: &[GroupAssignment], pod: &Pod) -> Vec<NotFit> {
    groups
        .iter()
        .map(|g| {
            first_failure(g, pod).unwrap_or_else(|| {
                // Fits the shape: only possible if the pod is not pending.
                NotFit::Pod(Unfit::Resource {
                    resource: "pods",
                    request: 1,
                    allocatable: g.allocatable.map_or(0, |a| a.pods),
                })
            })
        })
        .collect()
}

/// The first predicate `pod` fails on group `g`'s new nodes.
fn first_failure(g: &GroupAssignment, pod: &Pod) -> Option<NotFit> {
    let (Some(t), Some(a)) = (&g.template, g.allocatable) else {
        return Some(NotFit::NoTemplate);
    };
    if let Some(u) = pod.placement_failure(&t.labels, &t.taints, "") {
        return Some(NotFit::Pod(u));
    }
    let req = pod_request(pod);
    let alloc = [a.cpu_millis, a.memory_bytes, a.pods];
    ["cpu", "memory", "pods"]
        .into_iter()
        .zip(req.into_iter().zip(alloc))
        .find(|(_, (r, a))| r > a)
        .map(|(resource, (request, allocatable))| {
            NotFit::Pod(Unfit::Resource {
                resource,
                request,
                allocatable,
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bins_first_fit_and_growth() {
        let mut b = Bins::default();
        b.reset([4, 4, 110], 0);
        // 40 bins of 3 then fill the gaps with 1s: first fit goes left.
        for i in 0..40 {
            assert_eq!(b.place(&[3, 1, 1]), i);
        }
        assert_eq!(b.len, 40);
        assert_eq!(b.place(&[1, 1, 1]), 0);
        assert_eq!(b.place(&[1, 1, 1]), 1);
        // Nothing fits a 4 but a new bin.
        assert_eq!(b.place(&[4, 1, 1]), 40);
        assert_eq!(b.find(&[2, 1, 1]), None);
    }

    #[test]
    fn bins_all_dimensions_must_fit_in_one_bin() {
        let mut b = Bins::default();
        b.reset([10, 10, 10], 2);
        b.take(0, &[9, 0, 0], 1); // bin 0: cpu 1 free, memory 10
        b.take(1, &[0, 9, 0], 1); // bin 1: cpu 10, memory 1
        // The tree's maxima say (10, 10) but no single bin has both.
        assert_eq!(b.find(&[2, 2, 1]), None);
        assert_eq!(b.find(&[1, 2, 1]), Some(0));
        assert_eq!(b.find(&[2, 1, 1]), Some(1));
    }

    #[test]
    fn waste_uses_the_dominant_resource() {
        // 2 nodes of 4 cpu / 8 memory: 6 cpu and 4 memory used -> cpu is
        // dominant at 75%, waste 25%.
        assert_eq!(waste(2, [6, 4, 2], [4, 8, 110]), 0.25);
        assert_eq!(waste(1, [4, 8, 1], [4, 8, 110]), 0.0);
    }
}

/// The code in `docs/producers-pending-capacity.md` runs as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/producers-pending-capacity.md")]
pub struct PendingCapacityGuide;
