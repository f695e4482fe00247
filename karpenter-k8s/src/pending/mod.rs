//! `karpenter pending`: which node group each pending pod of a cluster
//! snapshot would go to, how many nodes each group needs, and, for every
//! pod that fits no group, the first predicate that failed per group.
//!
//! Inputs: a snapshot ([`snapshot::read_list`], the output of `kubectl get
//! nodes,pods,daemonsets -A -o json` or `-o yaml`) and manifests
//! ([`manifests::PendingInputs`]: the `pendingCapacity` MetricsProducers,
//! their ScalableNodeGroups and `NodeTemplate`s). The computation is the
//! controller's own, [`PendingAssignment::compute`], so the answer is what
//! the producers would export for that snapshot.
//!
//! ```
//! use karpenter_k8s::pending::{manifests::PendingInputs, snapshot::read_list, PendingReport};
//!
//! let list = read_list(r#"{"kind": "List", "items": [
//!   {"kind": "Node", "metadata": {"name": "web-1", "labels": {"group": "web"}},
//!    "status": {"allocatable": {"cpu": "4", "memory": "16Gi", "pods": "110"},
//!               "conditions": [{"type": "Ready", "status": "True"}]}},
//!   {"kind": "Pod", "metadata": {"name": "big", "namespace": "default"},
//!    "spec": {"containers": [{"name": "app", "resources": {"requests": {"memory": "20Gi"}}}]},
//!    "status": {"phase": "Pending", "conditions": [
//!      {"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}]}}
//! ]}"#.as_bytes())?;
//! let mut inputs = PendingInputs::default();
//! inputs.read("producers.yaml", "
//! kind: MetricsProducer
//! metadata: {name: web-pending}
//! spec: {pendingCapacity: {nodeSelector: {group: web}}}
//! ")?;
//! let report = PendingReport::build(&list, &inputs)?;
//! assert_eq!(report.unfit_pods, 1);
//! assert_eq!(report.pods[0].reasons[0].reason, "memory 20Gi > allocatable 16Gi");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod cli;
pub mod manifests;
pub mod snapshot;

use std::fmt::Write as _;

use karpenter_core::cluster::{Resources, format_cpu, format_memory};
use karpenter_core::producers::pending_capacity::{
    GroupAssignment, PendingAssignment, Placement, TemplateSource,
};
use serde::Serialize;

use manifests::PendingInputs;
use snapshot::ListSnapshot;

/// Why `karpenter pending` could not answer. Every variant is bad input
/// (exit code 2).
#[derive(Debug, thiserror::Error)]
pub enum PendingError {
    /// The snapshot could not be read.
    #[error("snapshot: {0}")]
    Snapshot(#[from] snapshot::SnapshotError),
    /// A manifests file could not be read.
    #[error(transparent)]
    Input(#[from] manifests::InputError),
    /// The manifests have no `pendingCapacity` producer.
    #[error(
        "the manifests have no MetricsProducer with spec.pendingCapacity; give the producers of the node groups with -f (kubectl get metricsproducers,scalablenodegroups -A -o yaml)"
    )]
    NoProducers,
}

/// The answer, in the shape `--json` prints. The field names are a
/// contract for tools (see `docs/producers-pending-capacity.md`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PendingReport {
    /// What the snapshot held.
    pub snapshot: SnapshotCounts,
    /// One per `pendingCapacity` producer, in name order (the tie-break
    /// order).
    pub groups: Vec<GroupReport>,
    /// Every pending pod, in snapshot order.
    pub pods: Vec<PodReport>,
    /// Pending pods that fit no group.
    pub unfit_pods: usize,
}

/// What the snapshot held.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SnapshotCounts {
    /// Nodes.
    pub nodes: usize,
    /// Pods, pending or not.
    pub pods: usize,
    /// Pending-unschedulable pods.
    pub pending_pods: usize,
    /// DaemonSets.
    pub daemon_sets: usize,
}

/// One group.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupReport {
    /// The producer, `namespace/name`.
    pub producer: String,
    /// Its `scalableNodeGroupRef` name.
    pub scalable_node_group: Option<String>,
    /// Where the template came from.
    pub template: TemplateReport,
    /// What one new node offers pods, after DaemonSets.
    pub allocatable: Option<ResourcesReport>,
    /// DaemonSets that land on a new node.
    pub daemon_sets: usize,
    /// Ready nodes of the group.
    pub registered_nodes: i64,
    /// Nodes asked for, not registered; `null` when not known.
    pub upcoming_nodes: Option<i64>,
    /// New nodes needed.
    pub new_nodes: i64,
    /// Registered + upcoming + new.
    pub desired_nodes: i64,
    /// Pending pods assigned to the group.
    pub pods: usize,
    /// Of those, on upcoming nodes.
    pub pods_on_upcoming_nodes: usize,
    /// Unused fraction of the dominant resource on the new nodes.
    pub waste: Option<f64>,
    /// Problems (no template, unknown desired size, a selector matching no
    /// node...).
    pub messages: Vec<String>,
}

/// Where a template came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TemplateReport {
    /// `node`, `provider` or `none`.
    pub source: &'static str,
    /// The node's or the ScalableNodeGroup's name.
    pub name: Option<String>,
    /// Why there is none.
    pub reason: Option<String>,
}

/// Amounts as Kubernetes writes them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourcesReport {
    /// `500m`, `4`.
    pub cpu: String,
    /// `1536Mi`, `16Gi`.
    pub memory: String,
    /// Pod slots (1 for a pod).
    pub pods: i64,
}

impl From<Resources> for ResourcesReport {
    fn from(r: Resources) -> Self {
        Self {
            cpu: format_cpu(r.cpu_millis),
            memory: format_memory(r.memory_bytes),
            pods: r.pods,
        }
    }
}

/// One pending pod.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PodReport {
    /// `namespace/name`.
    pub pod: String,
    /// Its effective request.
    pub requests: ResourcesReport,
    /// The producer of the group it goes to; `null` when none.
    pub producer: Option<String>,
    /// The node it goes on in that group.
    pub node: Option<NodeReport>,
    /// Constraints present but not evaluated.
    pub unevaluated_constraints: Vec<&'static str>,
    /// For a pod that fits no group: per group, the first failed predicate.
    pub reasons: Vec<ReasonReport>,
}

/// A node of a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeReport {
    /// `upcoming` (asked for, not registered) or `new`.
    pub kind: &'static str,
    /// 0-based.
    pub index: usize,
}

/// Why a pod does not fit one group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReasonReport {
    /// The group's producer, `namespace/name`.
    pub producer: String,
    /// The first failed predicate, e.g. `memory 6Gi > allocatable 4Gi`.
    pub reason: String,
}

fn producer_key(g: &GroupAssignment) -> String {
    format!("{}/{}", g.namespace, g.name)
}

impl PendingReport {
    /// Assigns the pending pods of `list` to the groups of `inputs`.
    pub fn build(list: &ListSnapshot, inputs: &PendingInputs) -> Result<Self, PendingError> {
        let assignment_inputs = inputs.assignment_inputs();
        if assignment_inputs.is_empty() {
            return Err(PendingError::NoProducers);
        }
        let snap = &list.snapshot;
        let a = PendingAssignment::compute(snap, &assignment_inputs);
        let groups = a.groups();
        let group_reports = groups
            .iter()
            .map(|g| GroupReport {
                producer: producer_key(g),
                scalable_node_group: g.node_group.clone(),
                template: match &g.template_source {
                    TemplateSource::Node(n) => TemplateReport {
                        source: "node",
                        name: Some(n.clone()),
                        reason: None,
                    },
                    TemplateSource::Provider(n) => TemplateReport {
                        source: "provider",
                        name: Some(n.clone()),
                        reason: None,
                    },
                    TemplateSource::None(why) => TemplateReport {
                        source: "none",
                        name: None,
                        reason: Some(why.clone()),
                    },
                },
                allocatable: g.allocatable.map(ResourcesReport::from),
                daemon_sets: g.daemon_sets,
                registered_nodes: g.registered,
                upcoming_nodes: g.desired.map(|_| g.upcoming),
                new_nodes: g.new_nodes,
                desired_nodes: g.desired_nodes(),
                pods: g.pods,
                pods_on_upcoming_nodes: g.pods_on_upcoming,
                waste: g.waste,
                messages: g.notes.clone(),
            })
            .collect();
        let pods = a
            .pods()
            .iter()
            .filter_map(|p| {
                let pod = snap.pods.get(p.pod)?;
                let (producer, node) = match p.placement {
                    Placement::Upcoming { group, node } => (
                        groups.get(group).map(producer_key),
                        Some(NodeReport {
                            kind: "upcoming",
                            index: node,
                        }),
                    ),
                    Placement::New { group, node } => (
                        groups.get(group).map(producer_key),
                        Some(NodeReport {
                            kind: "new",
                            index: node,
                        }),
                    ),
                    Placement::Unfit => (None, None),
                };
                let reasons = if p.placement == Placement::Unfit {
                    groups
                        .iter()
                        .zip(a.reasons(pod))
                        .filter_map(|(g, r)| {
                            Some(ReasonReport {
                                producer: producer_key(g),
                                reason: r?.to_string(),
                            })
                        })
                        .collect()
                } else {
                    Vec::new()
                };
                Some(PodReport {
                    pod: format!("{}/{}", pod.namespace, pod.name),
                    requests: pod.requests.into(),
                    producer,
                    node,
                    unevaluated_constraints: pod.unevaluated.names(),
                    reasons,
                })
            })
            .collect();
        Ok(Self {
            snapshot: SnapshotCounts {
                nodes: snap.nodes.len(),
                pods: list.pods,
                pending_pods: a.pods().len(),
                daemon_sets: snap.daemon_sets.len(),
            },
            groups: group_reports,
            pods,
            unfit_pods: a.unfit_count(),
        })
    }

    /// The report as readable text (the default output).
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let s = &self.snapshot;
        let _ = writeln!(
            out,
            "Snapshot: {} nodes, {} pods ({} pending unschedulable), {} DaemonSets",
            s.nodes, s.pods, s.pending_pods, s.daemon_sets
        );
        let _ = writeln!(out, "\nNode groups:");
        for g in &self.groups {
            let group = g
                .scalable_node_group
                .as_deref()
                .map_or_else(String::new, |n| format!(" (ScalableNodeGroup {n})"));
            let _ = writeln!(out, "  {}{group}", g.producer);
            let template = match (&g.template.name, &g.template.reason) {
                (Some(n), _) if g.template.source == "node" => format!("node {n}"),
                (Some(n), _) => format!("provider (ScalableNodeGroup {n})"),
                (None, Some(why)) => format!("none: {why}"),
                (None, None) => "none".to_string(),
            };
            let _ = writeln!(out, "    template:  {template}");
            if let Some(a) = &g.allocatable {
                let _ = writeln!(
                    out,
                    "    new node:  cpu {}, memory {}, pods {} for pods (after {} DaemonSet(s))",
                    a.cpu, a.memory, a.pods, g.daemon_sets
                );
            }
            let upcoming = g
                .upcoming_nodes
                .map_or_else(|| "unknown".to_string(), |u| u.to_string());
            let _ = writeln!(
                out,
                "    nodes:     {} registered + {upcoming} upcoming + {} new = {} desired",
                g.registered_nodes, g.new_nodes, g.desired_nodes
            );
            let _ = writeln!(
                out,
                "    pods:      {} ({} on upcoming nodes)",
                g.pods, g.pods_on_upcoming_nodes
            );
            for m in &g.messages {
                let _ = writeln!(out, "    note:      {m}");
            }
        }
        let _ = writeln!(out, "\nPending pods:");
        if self.pods.is_empty() {
            let _ = writeln!(out, "  none");
        }
        let width = self.pods.iter().map(|p| p.pod.len()).max().unwrap_or(0);
        for p in &self.pods {
            let target = match (&p.producer, p.node) {
                (Some(g), Some(n)) => format!("{g}, {} node {}", n.kind, n.index + 1),
                _ => "fits no node group".to_string(),
            };
            let _ = write!(out, "  {:width$}  -> {target}", p.pod);
            if !p.unevaluated_constraints.is_empty() {
                let _ = write!(
                    out,
                    " (not evaluated: {})",
                    p.unevaluated_constraints.join(", ")
                );
            }
            let _ = writeln!(out);
        }
        if self.unfit_pods > 0 {
            let _ = writeln!(
                out,
                "\nPods that fit no node group ({}), first failed predicate per group:",
                self.unfit_pods
            );
            for p in self.pods.iter().filter(|p| p.producer.is_none()) {
                let _ = writeln!(
                    out,
                    "  {} (cpu {}, memory {}):",
                    p.pod, p.requests.cpu, p.requests.memory
                );
                for r in &p.reasons {
                    let _ = writeln!(out, "    {}: {}", r.producer, r.reason);
                }
            }
        }
        out
    }
}
