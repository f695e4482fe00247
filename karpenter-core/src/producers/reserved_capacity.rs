//! The `reservedCapacity` producer: how much of the selected nodes' capacity
//! pods have reserved (requested), for cpu, memory and pods.
//!
//! The rules:
//! - A node is **selected** when its labels contain every label of the
//!   `nodeSelector` (an empty selector selects every node).
//! - Only selected nodes that are **Ready and schedulable** (not cordoned)
//!   count, both for capacity and for the pods bound to them: a node that is
//!   not ready or is being drained cannot take new pods, so counting its
//!   capacity would hide the need for more nodes (Karpenter v0.1 did the
//!   same). A node name that appears twice is counted once.
//! - **Capacity** is the sum of the counted nodes' allocatable resources.
//! - **Reserved** is the sum of the effective requests
//!   ([`Pod::requests`](crate::cluster::Pod::requests), see
//!   [`effective_requests`](crate::cluster::effective_requests)) of the pods
//!   bound to a counted node that have not terminated (phase not `Succeeded`
//!   or `Failed`); each such pod reserves exactly one pod slot.
//! - **Utilization** is the fraction reserved / capacity (0.625, not 62.5:
//!   a HorizontalAutoscaler `Utilization` target of 60 compares a fraction
//!   against a percent). When a resource's capacity is 0 there is **no**
//!   utilization for it: no gauge (an autoscaler then sees no sample and
//!   leaves the replica count alone, instead of reading 0 and scaling down),
//!   and the status says why in its `message` value.
//! - Bad input does not panic: negative requests or allocatable count as 0
//!   and sums saturate at `i64::MAX`.
//!
//! Gauges, with the producer's `name` and `namespace` labels:
//! `karpenter_reserved_capacity_{cpu,memory,pods}_{reserved,capacity,utilization}`;
//! cpu in cores, memory in bytes, pods as a count.
//!
//! [`ReservedCapacity::compute`] is O(nodes + pods): one pass over the nodes
//! into a hash set of counted node names, one pass over the pods.
//! [`ReservedCapacityIndex`] keeps the same sums up to date from watch events
//! in O(1) per event.
//!
//! ```
//! use std::collections::BTreeMap;
//! use karpenter_core::cluster::{ClusterSnapshot, Node, Resources};
//! use karpenter_core::producers::ReservedCapacity;
//!
//! let node = Node {
//!     name: "n1".into(),
//!     labels: BTreeMap::new(),
//!     allocatable: Resources::new(4_000, 8 << 30, 110),
//!     taints: vec![],
//!     ready: true,
//!     unschedulable: false,
//! };
//! let snapshot = ClusterSnapshot { nodes: vec![node], pods: vec![], daemon_sets: vec![] };
//! let rc = ReservedCapacity::compute(&snapshot, &BTreeMap::new());
//! assert_eq!(rc.capacity.cpu_millis, 4_000);
//! assert_eq!(rc.cpu_utilization(), Some(0.0));
//! assert_eq!(rc.status_values()["cpu"], "0.00%, 0/4");
//!
//! // No node matches: capacity 0, no utilization, and a message.
//! let selector = BTreeMap::from([("group".to_string(), "x".to_string())]);
//! let none = ReservedCapacity::compute(&snapshot, &selector);
//! assert_eq!(none.cpu_utilization(), None);
//! assert!(none.status_values()["message"]
//!     .starts_with("nodeSelector {group: x} matches no ready, schedulable node"));
//! ```

use std::collections::{BTreeMap, HashMap, HashSet};

use super::{Gauge, Labels};
use crate::cluster::{ClusterSnapshot, Node, Pod, PodPhase, Resources};

/// Gauge name: requested cpu, in cores.
pub const CPU_RESERVED: &str = "karpenter_reserved_capacity_cpu_reserved";
/// Gauge name: allocatable cpu, in cores.
pub const CPU_CAPACITY: &str = "karpenter_reserved_capacity_cpu_capacity";
/// Gauge name: requested / allocatable cpu, a fraction.
pub const CPU_UTILIZATION: &str = "karpenter_reserved_capacity_cpu_utilization";
/// Gauge name: requested memory, in bytes.
pub const MEMORY_RESERVED: &str = "karpenter_reserved_capacity_memory_reserved";
/// Gauge name: allocatable memory, in bytes.
pub const MEMORY_CAPACITY: &str = "karpenter_reserved_capacity_memory_capacity";
/// Gauge name: requested / allocatable memory, a fraction.
pub const MEMORY_UTILIZATION: &str = "karpenter_reserved_capacity_memory_utilization";
/// Gauge name: pods bound.
pub const PODS_RESERVED: &str = "karpenter_reserved_capacity_pods_reserved";
/// Gauge name: pods allowed.
pub const PODS_CAPACITY: &str = "karpenter_reserved_capacity_pods_capacity";
/// Gauge name: pods bound / pods allowed, a fraction.
pub const PODS_UTILIZATION: &str = "karpenter_reserved_capacity_pods_utilization";

const GIB: f64 = (1u64 << 30) as f64;

/// Reserved and available resources of the selected nodes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReservedCapacity {
    /// Requests of the non-terminated pods on the counted nodes.
    pub reserved: Resources,
    /// Allocatable resources of the counted nodes.
    pub capacity: Resources,
    /// Nodes counted (selected, Ready and schedulable).
    pub nodes: usize,
    /// The node selector this was computed for (named in status messages).
    pub node_selector: BTreeMap<String, String>,
}

/// Whether `node` carries every label of `selector`.
pub fn node_matches(node: &Node, selector: &BTreeMap<String, String>) -> bool {
    selector.iter().all(|(k, v)| node.labels.get(k) == Some(v))
}

/// Whether `node` counts: selected, Ready and not cordoned.
fn node_counts(node: &Node, selector: &BTreeMap<String, String>) -> bool {
    node.ready && !node.unschedulable && node_matches(node, selector)
}

/// Whether `pod` holds its requests: not Succeeded or Failed.
fn pod_is_live(pod: &Pod) -> bool {
    !matches!(pod.phase, PodPhase::Succeeded | PodPhase::Failed)
}

/// Exact sums. Each term is clamped to `0..=i64::MAX`, so an i128 cannot
/// overflow for any realistic count of terms; sums saturate to i64 only
/// when read. Exactness is what lets [`ReservedCapacityIndex`] subtract a
/// pod and land on the same value a full recount gives, even after a
/// saturating total.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Sums {
    cpu: i128,
    memory: i128,
    pods: i128,
}

impl Sums {
    fn of(r: Resources) -> Self {
        Self {
            cpu: i128::from(r.cpu_millis.max(0)),
            memory: i128::from(r.memory_bytes.max(0)),
            pods: i128::from(r.pods.max(0)),
        }
    }

    /// What a live pod reserves: its effective request and one pod slot.
    fn of_pod(pod: &Pod) -> Self {
        Self {
            pods: 1,
            ..Self::of(pod.requests)
        }
    }

    fn add(&mut self, o: Self) {
        self.cpu += o.cpu;
        self.memory += o.memory;
        self.pods += o.pods;
    }

    fn sub(&mut self, o: Self) {
        self.cpu -= o.cpu;
        self.memory -= o.memory;
        self.pods -= o.pods;
    }

    fn to_resources(self) -> Resources {
        let sat = |v: i128| i64::try_from(v).unwrap_or(if v < 0 { i64::MIN } else { i64::MAX });
        Resources::new(sat(self.cpu), sat(self.memory), sat(self.pods))
    }
}

/// `reserved / capacity`, or `None` when capacity is not positive.
fn fraction(reserved: i64, capacity: i64) -> Option<f64> {
    // i64 -> f64 is exact below 2^53, far above any real cluster's sums.
    (capacity > 0).then(|| reserved as f64 / capacity as f64)
}

/// `{group: ml, zone: a}`.
fn selector_text(selector: &BTreeMap<String, String>) -> String {
    let pairs: Vec<String> = selector.iter().map(|(k, v)| format!("{k}: {v}")).collect();
    format!("{{{}}}", pairs.join(", "))
}

impl ReservedCapacity {
    /// Computes reserved capacity over the nodes of `snapshot` that match
    /// `node_selector` (see the [module docs](self) for the rules).
    pub fn compute(snapshot: &ClusterSnapshot, node_selector: &BTreeMap<String, String>) -> Self {
        let mut counted: HashSet<&str> = HashSet::with_capacity(snapshot.nodes.len());
        let mut capacity = Sums::default();
        for node in &snapshot.nodes {
            // A duplicated node name is counted once.
            if node_counts(node, node_selector) && counted.insert(node.name.as_str()) {
                capacity.add(Sums::of(node.allocatable));
            }
        }
        let mut reserved = Sums::default();
        for pod in &snapshot.pods {
            if let Some(node) = &pod.node_name
                && pod_is_live(pod)
                && counted.contains(node.as_str())
            {
                reserved.add(Sums::of_pod(pod));
            }
        }
        Self::from_sums(reserved, capacity, counted.len(), node_selector)
    }

    fn from_sums(
        reserved: Sums,
        capacity: Sums,
        nodes: usize,
        node_selector: &BTreeMap<String, String>,
    ) -> Self {
        Self {
            reserved: reserved.to_resources(),
            capacity: capacity.to_resources(),
            nodes,
            node_selector: node_selector.clone(),
        }
    }

    /// Reserved / allocatable cpu, a fraction; `None` when there is no
    /// allocatable cpu.
    pub fn cpu_utilization(&self) -> Option<f64> {
        fraction(self.reserved.cpu_millis, self.capacity.cpu_millis)
    }

    /// Reserved / allocatable memory, a fraction; `None` when there is no
    /// allocatable memory.
    pub fn memory_utilization(&self) -> Option<f64> {
        fraction(self.reserved.memory_bytes, self.capacity.memory_bytes)
    }

    /// Pods bound / pods allowed, a fraction; `None` when no pod is allowed.
    pub fn pods_utilization(&self) -> Option<f64> {
        fraction(self.reserved.pods, self.capacity.pods)
    }

    /// The gauges, with `labels` (the producer's name and namespace): the
    /// six reserved and capacity gauges always, and a utilization gauge for
    /// each resource whose capacity is positive (nine in all then).
    pub fn gauges(&self, labels: &Labels) -> Vec<Gauge> {
        let g = |name, value| Gauge {
            name,
            labels: labels.clone(),
            value,
        };
        let mut out = Vec::with_capacity(9);
        out.push(g(CPU_RESERVED, self.reserved.cpu_millis as f64 / 1000.0));
        out.push(g(CPU_CAPACITY, self.capacity.cpu_millis as f64 / 1000.0));
        out.extend(self.cpu_utilization().map(|u| g(CPU_UTILIZATION, u)));
        out.push(g(MEMORY_RESERVED, self.reserved.memory_bytes as f64));
        out.push(g(MEMORY_CAPACITY, self.capacity.memory_bytes as f64));
        out.extend(self.memory_utilization().map(|u| g(MEMORY_UTILIZATION, u)));
        out.push(g(PODS_RESERVED, self.reserved.pods as f64));
        out.push(g(PODS_CAPACITY, self.capacity.pods as f64));
        out.extend(self.pods_utilization().map(|u| g(PODS_UTILIZATION, u)));
        out
    }

    /// Why some utilization is not reported, if it is not: no counted node
    /// (naming the selector), or counted nodes with no allocatable cpu,
    /// memory or pods.
    pub fn message(&self) -> Option<String> {
        if self.nodes == 0 {
            return Some(format!(
                "nodeSelector {} matches no ready, schedulable node; utilization is not reported",
                selector_text(&self.node_selector)
            ));
        }
        let missing: Vec<&str> = [
            ("cpu", self.capacity.cpu_millis),
            ("memory", self.capacity.memory_bytes),
            ("pods", self.capacity.pods),
        ]
        .into_iter()
        .filter(|(_, c)| *c <= 0)
        .map(|(name, _)| name)
        .collect();
        (!missing.is_empty()).then(|| {
            format!(
                "the {} counted node(s) have no allocatable {}; its utilization is not reported",
                self.nodes,
                missing.join(", ")
            )
        })
    }

    /// Human-readable values for the status: utilization as a percent with
    /// two decimals (`n/a` without capacity), then reserved/capacity:
    /// `cpu: "62.50%, 10/16"` (cores), `memory: "25.00%, 16.00/64.00 GiB"`,
    /// `pods: "0.91%, 1/110"`, `nodes: "1"` (nodes counted), and `message`
    /// when some utilization is not reported (see [`message`](Self::message)).
    pub fn status_values(&self) -> BTreeMap<String, String> {
        let pct =
            |f: Option<f64>| f.map_or_else(|| "n/a".to_string(), |f| format!("{:.2}%", f * 100.0));
        let mut values = BTreeMap::from([
            (
                "cpu".to_string(),
                format!(
                    "{}, {}/{}",
                    pct(self.cpu_utilization()),
                    cores(self.reserved.cpu_millis),
                    cores(self.capacity.cpu_millis)
                ),
            ),
            (
                "memory".to_string(),
                format!(
                    "{}, {:.2}/{:.2} GiB",
                    pct(self.memory_utilization()),
                    self.reserved.memory_bytes as f64 / GIB,
                    self.capacity.memory_bytes as f64 / GIB
                ),
            ),
            (
                "pods".to_string(),
                format!(
                    "{}, {}/{}",
                    pct(self.pods_utilization()),
                    self.reserved.pods,
                    self.capacity.pods
                ),
            ),
            ("nodes".to_string(), self.nodes.to_string()),
        ]);
        if let Some(m) = self.message() {
            values.insert("message".to_string(), m);
        }
        values
    }
}

/// [`ReservedCapacity`] kept up to date from watch events, without a full
/// recount: the API the Kubernetes controller's watch feed calls (an
/// `Apply` of a pod or node becomes [`apply_pod`](Self::apply_pod) or
/// [`apply_node`](Self::apply_node), a `Delete` becomes
/// [`delete_pod`](Self::delete_pod) or [`delete_node`](Self::delete_node)).
/// Every event is O(1) (a few hash lookups, no allocation for an object
/// already known), and [`result`](Self::result) is always what
/// [`ReservedCapacity::compute`] returns for the snapshot the events lead
/// to.
///
/// Pods are keyed by namespace and name, nodes by name, as in Kubernetes,
/// where they are unique. Pods may be bound to a node the index has not
/// seen yet (watch events arrive in any order): they count as soon as that
/// node arrives and counts.
///
/// ```
/// use std::collections::BTreeMap;
/// use karpenter_core::cluster::{ClusterSnapshot, Node, Pod, PodPhase, Resources};
/// use karpenter_core::producers::reserved_capacity::{ReservedCapacity, ReservedCapacityIndex};
///
/// let node = Node {
///     name: "n1".into(),
///     labels: BTreeMap::new(),
///     allocatable: Resources::new(4_000, 8 << 30, 110),
///     taints: vec![],
///     ready: true,
///     unschedulable: false,
/// };
/// let mut snapshot = ClusterSnapshot { nodes: vec![node.clone()], pods: vec![], daemon_sets: vec![] };
/// let mut index = ReservedCapacityIndex::new(&snapshot, &BTreeMap::new());
///
/// let mut pod = Pod {
///     name: "web-0".into(),
///     namespace: "default".into(),
///     node_name: Some("n1".into()),
///     requests: Resources::new(1_000, 1 << 30, 1),
///     phase: PodPhase::Running,
///     ..Pod::default()
/// };
/// index.apply_pod(&pod);
/// assert_eq!(index.result().reserved.cpu_millis, 1_000);
///
/// pod.phase = PodPhase::Succeeded; // terminal: reserves nothing any more
/// index.apply_pod(&pod);
/// let mut cordoned = node;
/// cordoned.unschedulable = true;
/// index.apply_node(&cordoned);
///
/// snapshot.nodes = vec![cordoned];
/// snapshot.pods = vec![pod];
/// assert_eq!(index.result(), ReservedCapacity::compute(&snapshot, &BTreeMap::new()));
/// assert_eq!(index.result().nodes, 0);
/// ```
#[derive(Debug, Clone)]
pub struct ReservedCapacityIndex {
    selector: BTreeMap<String, String>,
    /// Node name -> slot in `slots`.
    node_ids: HashMap<String, usize>,
    /// Per node name: its state (if the node is known) and what its pods
    /// reserve. Slots of names neither a node nor a pod uses any more are
    /// recycled through `free`, so churn does not grow the index.
    slots: Vec<Slot>,
    free: Vec<usize>,
    /// Namespace -> name -> pod: two levels so that lookups by `&str` need
    /// no allocated key.
    pods: HashMap<String, HashMap<String, PodEntry>>,
    totals: Totals,
}

#[derive(Debug, Clone, Copy, Default)]
struct Totals {
    reserved: Sums,
    capacity: Sums,
    nodes: usize,
}

#[derive(Debug, Clone, Default)]
struct Slot {
    /// The node name (the key in `node_ids`), to remove it when recycled.
    name: String,
    /// `Some` while the node exists: whether it counts, and its allocatable.
    node: Option<(bool, Sums)>,
    /// What the live pods bound to this name reserve.
    reserved: Sums,
    /// Pods (live or not) bound to this name.
    pods: usize,
}

impl Slot {
    fn counts(&self) -> bool {
        matches!(self.node, Some((true, _)))
    }
}

#[derive(Debug, Clone, Copy)]
struct PodEntry {
    slot: Option<usize>,
    /// What it reserves if live and on a counted node; zero if terminal.
    reserves: Sums,
}

impl ReservedCapacityIndex {
    /// An index over `snapshot` for `node_selector` (the snapshot of the
    /// watch's initial list).
    pub fn new(snapshot: &ClusterSnapshot, node_selector: &BTreeMap<String, String>) -> Self {
        let mut index = Self {
            selector: node_selector.clone(),
            node_ids: HashMap::with_capacity(snapshot.nodes.len()),
            slots: Vec::with_capacity(snapshot.nodes.len()),
            free: Vec::new(),
            pods: HashMap::new(),
            totals: Totals::default(),
        };
        for node in &snapshot.nodes {
            // Like `compute`, a duplicated name counts once: a later copy
            // does not replace a copy that counts.
            let already_counts = index
                .node_ids
                .get(node.name.as_str())
                .and_then(|&id| index.slots.get(id))
                .is_some_and(Slot::counts);
            if !already_counts {
                index.apply_node(node);
            }
        }
        for pod in &snapshot.pods {
            index.apply_pod(pod);
        }
        index
    }

    /// The node selector the index was built for.
    pub fn node_selector(&self) -> &BTreeMap<String, String> {
        &self.selector
    }

    /// The current sums: what [`ReservedCapacity::compute`] returns for the
    /// snapshot the events so far lead to.
    pub fn result(&self) -> ReservedCapacity {
        ReservedCapacity::from_sums(
            self.totals.reserved,
            self.totals.capacity,
            self.totals.nodes,
            &self.selector,
        )
    }

    /// A pod was added or changed (bound to a node, turned terminal, new
    /// requests): replaces what the index knew of `namespace/name`.
    pub fn apply_pod(&mut self, pod: &Pod) {
        let reserves = if pod_is_live(pod) {
            Sums::of_pod(pod)
        } else {
            Sums::default()
        };
        // Bind first, unbind after: a pod staying on its node never frees
        // the node's slot in between.
        let slot = pod.node_name.as_deref().map(|n| self.slot_for(n));
        if let Some(id) = slot {
            self.bind(id, reserves);
        }
        let new = PodEntry { slot, reserves };
        let old = match self
            .pods
            .get_mut(pod.namespace.as_str())
            .and_then(|m| m.get_mut(pod.name.as_str()))
        {
            Some(entry) => Some(std::mem::replace(entry, new)),
            None => {
                self.pods
                    .entry(pod.namespace.clone())
                    .or_default()
                    .insert(pod.name.clone(), new);
                None
            }
        };
        if let Some(old) = old {
            self.unbind(old);
        }
    }

    /// The pod `namespace/name` was deleted; unknown pods are ignored.
    pub fn delete_pod(&mut self, namespace: &str, name: &str) {
        let Some(pods) = self.pods.get_mut(namespace) else {
            return;
        };
        let old = pods.remove(name);
        if pods.is_empty() {
            self.pods.remove(namespace);
        }
        if let Some(old) = old {
            self.unbind(old);
        }
    }

    /// A node was added or changed (cordoned, uncordoned, readiness,
    /// labels, allocatable): replaces what the index knew of it.
    pub fn apply_node(&mut self, node: &Node) {
        let id = self.slot_for(&node.name);
        self.forget_node(id);
        let counts = node_counts(node, &self.selector);
        let allocatable = Sums::of(node.allocatable);
        if let Some(slot) = self.slots.get_mut(id) {
            slot.node = Some((counts, allocatable));
            if counts {
                self.totals.capacity.add(allocatable);
                self.totals.reserved.add(slot.reserved);
                self.totals.nodes += 1;
            }
        }
    }

    /// The node `name` was deleted; its pods stop counting (and count again
    /// if it comes back). Unknown nodes are ignored.
    pub fn delete_node(&mut self, name: &str) {
        if let Some(&id) = self.node_ids.get(name) {
            self.forget_node(id);
            self.release(id);
        }
    }

    /// Takes the node of slot `id` out of the totals and marks it unknown.
    fn forget_node(&mut self, id: usize) {
        let Some(slot) = self.slots.get_mut(id) else {
            return;
        };
        if let Some((counts, allocatable)) = slot.node.take()
            && counts
        {
            self.totals.capacity.sub(allocatable);
            self.totals.reserved.sub(slot.reserved);
            self.totals.nodes -= 1;
        }
    }

    /// The slot of node `name`, created if needed.
    fn slot_for(&mut self, name: &str) -> usize {
        if let Some(&id) = self.node_ids.get(name) {
            return id;
        }
        let slot = Slot {
            name: name.to_string(),
            ..Slot::default()
        };
        let id = match self.free.pop() {
            Some(id) if id < self.slots.len() => {
                self.slots[id] = slot;
                id
            }
            _ => {
                self.slots.push(slot);
                self.slots.len() - 1
            }
        };
        self.node_ids.insert(name.to_string(), id);
        id
    }

    /// A pod reserving `reserves` is bound to slot `id`.
    fn bind(&mut self, id: usize, reserves: Sums) {
        if let Some(slot) = self.slots.get_mut(id) {
            slot.pods += 1;
            slot.reserved.add(reserves);
            if slot.counts() {
                self.totals.reserved.add(reserves);
            }
        }
    }

    /// The pod `entry` no longer is what it was.
    fn unbind(&mut self, entry: PodEntry) {
        let Some(id) = entry.slot else {
            return;
        };
        if let Some(slot) = self.slots.get_mut(id) {
            slot.pods = slot.pods.saturating_sub(1);
            slot.reserved.sub(entry.reserves);
            if slot.counts() {
                self.totals.reserved.sub(entry.reserves);
            }
        }
        self.release(id);
    }

    /// Recycles slot `id` if no node and no pod uses its name any more.
    fn release(&mut self, id: usize) {
        let Some(slot) = self.slots.get_mut(id) else {
            return;
        };
        if slot.node.is_none() && slot.pods == 0 {
            let name = std::mem::take(&mut slot.name);
            self.node_ids.remove(name.as_str());
            self.free.push(id);
        }
    }
}

/// Millicores as cores: `10` for 10000, `10.5` for 10500, `0.25` for 250.
fn cores(millis: i64) -> String {
    let sign = if millis < 0 { "-" } else { "" };
    let abs = millis.unsigned_abs();
    let (whole, frac) = (abs / 1000, abs % 1000);
    if frac == 0 {
        format!("{sign}{whole}")
    } else {
        let frac = format!("{frac:03}");
        format!("{sign}{whole}.{}", frac.trim_end_matches('0'))
    }
}

#[cfg(test)]
mod tests {
    use super::cores;

    #[test]
    fn cores_formatting() {
        assert_eq!(cores(10_000), "10");
        assert_eq!(cores(10_500), "10.5");
        assert_eq!(cores(250), "0.25");
        assert_eq!(cores(1), "0.001");
        assert_eq!(cores(0), "0");
        assert_eq!(cores(-1_500), "-1.5");
        assert_eq!(cores(i64::MIN), "-9223372036854775.808");
    }
}

/// The code in `docs/producers-reserved-capacity.md` runs as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/producers-reserved-capacity.md")]
pub struct ReservedCapacityGuide;
