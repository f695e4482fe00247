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
//!   same).
//! - **Capacity** is the sum of the counted nodes' allocatable resources.
//! - **Reserved** is the sum of the requests of pods bound to a counted node
//!   that have not terminated (phase not `Succeeded` or `Failed`).
//! - **Utilization** is the fraction reserved / capacity (0.625, not 62.5:
//!   a HorizontalAutoscaler `Utilization` target of 60 compares a fraction
//!   against a percent). It is 0 when capacity is 0, never NaN.
//!
//! Gauges, with the producer's `name` and `namespace` labels:
//! `karpenter_reserved_capacity_{cpu,memory,pods}_{reserved,capacity,utilization}`;
//! cpu in cores, memory in bytes, pods as a count.
//!
//! The computation is O(nodes + pods): one pass over the nodes into a hash
//! set of counted node names, one pass over the pods.
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
//! let snapshot = ClusterSnapshot { nodes: vec![node], pods: vec![] };
//! let rc = ReservedCapacity::compute(&snapshot, &BTreeMap::new());
//! assert_eq!(rc.capacity.cpu_millis, 4_000);
//! assert_eq!(rc.cpu_utilization(), 0.0);
//! assert_eq!(rc.status_values()["cpu"], "0.00%, 0/4");
//! ```

use std::collections::{BTreeMap, HashSet};

use super::{Gauge, Labels};
use crate::cluster::{ClusterSnapshot, Node, PodPhase, Resources};

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
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReservedCapacity {
    /// Requests of the non-terminated pods on the counted nodes.
    pub reserved: Resources,
    /// Allocatable resources of the counted nodes.
    pub capacity: Resources,
    /// Nodes counted (selected, Ready and schedulable).
    pub nodes: usize,
}

/// Whether `node` carries every label of `selector`.
pub fn node_matches(node: &Node, selector: &BTreeMap<String, String>) -> bool {
    selector.iter().all(|(k, v)| node.labels.get(k) == Some(v))
}

/// `reserved / capacity`, or 0 when capacity is not positive.
fn fraction(reserved: i64, capacity: i64) -> f64 {
    if capacity <= 0 {
        return 0.0;
    }
    // i64 -> f64 is exact below 2^53, far above any real cluster's sums.
    reserved as f64 / capacity as f64
}

impl ReservedCapacity {
    /// Computes reserved capacity over the nodes of `snapshot` that match
    /// `node_selector` (see the [module docs](self) for the rules).
    pub fn compute(snapshot: &ClusterSnapshot, node_selector: &BTreeMap<String, String>) -> Self {
        let mut counted: HashSet<&str> = HashSet::new();
        let mut capacity = Resources::default();
        for node in &snapshot.nodes {
            if node.ready && !node.unschedulable && node_matches(node, node_selector) {
                // A duplicated node name is counted once.
                if counted.insert(node.name.as_str()) {
                    capacity = capacity.saturating_add(node.allocatable);
                }
            }
        }
        let mut reserved = Resources::default();
        for pod in &snapshot.pods {
            if matches!(pod.phase, PodPhase::Succeeded | PodPhase::Failed) {
                continue;
            }
            if let Some(node) = &pod.node_name
                && counted.contains(node.as_str())
            {
                reserved = reserved.saturating_add(pod.requests);
            }
        }
        Self {
            reserved,
            capacity,
            nodes: counted.len(),
        }
    }

    /// Reserved / allocatable cpu, a fraction; 0 when there is no capacity.
    pub fn cpu_utilization(&self) -> f64 {
        fraction(self.reserved.cpu_millis, self.capacity.cpu_millis)
    }

    /// Reserved / allocatable memory, a fraction; 0 when there is no capacity.
    pub fn memory_utilization(&self) -> f64 {
        fraction(self.reserved.memory_bytes, self.capacity.memory_bytes)
    }

    /// Pods bound / pods allowed, a fraction; 0 when there is no capacity.
    pub fn pods_utilization(&self) -> f64 {
        fraction(self.reserved.pods, self.capacity.pods)
    }

    /// The nine gauges, with `labels` (the producer's name and namespace).
    pub fn gauges(&self, labels: &Labels) -> Vec<Gauge> {
        let g = |name, value| Gauge {
            name,
            labels: labels.clone(),
            value,
        };
        vec![
            g(CPU_RESERVED, self.reserved.cpu_millis as f64 / 1000.0),
            g(CPU_CAPACITY, self.capacity.cpu_millis as f64 / 1000.0),
            g(CPU_UTILIZATION, self.cpu_utilization()),
            g(MEMORY_RESERVED, self.reserved.memory_bytes as f64),
            g(MEMORY_CAPACITY, self.capacity.memory_bytes as f64),
            g(MEMORY_UTILIZATION, self.memory_utilization()),
            g(PODS_RESERVED, self.reserved.pods as f64),
            g(PODS_CAPACITY, self.capacity.pods as f64),
            g(PODS_UTILIZATION, self.pods_utilization()),
        ]
    }

    /// Human-readable values for the status: utilization as a percent with
    /// two decimals, then reserved/capacity: `cpu: "62.50%, 10/16"` (cores),
    /// `memory: "25.00%, 16.00/64.00 GiB"`, `pods: "0.91%, 1/110"`, and
    /// `nodes: "1"` (nodes counted).
    pub fn status_values(&self) -> BTreeMap<String, String> {
        let pct = |f: f64| format!("{:.2}%", f * 100.0);
        BTreeMap::from([
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
        ])
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
