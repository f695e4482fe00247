//! A read-only snapshot of the cluster's nodes and pods: what producers
//! (reserved capacity, pending capacity) compute over.
//!
//! Quantities are integers in their natural unit: cpu in millicores, memory
//! in bytes, pods as a count, so sums are exact.
//!
//! The scheduling predicates producers need live here beside the types they
//! read: [`Toleration::tolerates`], [`NodeSelector::matches`] and
//! [`Pod::placement_failure`] (taints, `nodeSelector` and required node
//! affinity against a node's labels and taints), so that the pending-capacity
//! producer and the fake cluster's scheduler agree on what fits where.

use std::collections::BTreeMap;
use std::fmt;

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

impl TaintEffect {
    /// The Kubernetes spelling: `NoSchedule`, `PreferNoSchedule`, `NoExecute`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NoSchedule => "NoSchedule",
            Self::PreferNoSchedule => "PreferNoSchedule",
            Self::NoExecute => "NoExecute",
        }
    }

    /// The effect named `s` (Kubernetes spelling, exact case).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "NoSchedule" => Some(Self::NoSchedule),
            "PreferNoSchedule" => Some(Self::PreferNoSchedule),
            "NoExecute" => Some(Self::NoExecute),
            _ => None,
        }
    }

    /// Whether a pod that does not tolerate the taint is kept off the node:
    /// `NoSchedule` and `NoExecute` do; `PreferNoSchedule` never blocks.
    pub fn blocks_scheduling(self) -> bool {
        !matches!(self, Self::PreferNoSchedule)
    }
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

impl fmt::Display for Taint {
    /// `key=value:Effect`, or `key:Effect` when the value is empty, as
    /// `kubectl taint` writes it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.value.is_empty() {
            write!(f, "{}:{}", self.key, self.effect.as_str())
        } else {
            write!(f, "{}={}:{}", self.key, self.value, self.effect.as_str())
        }
    }
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

impl Toleration {
    /// Whether this toleration tolerates `taint`, as Kubernetes decides it:
    /// the effect matches (or the toleration names none), and either the key
    /// is empty with operator `Exists` (tolerates every taint), or the key
    /// is the taint's and the operator is `Exists` or `Equal` with the
    /// taint's value. An empty key with `Equal` tolerates nothing.
    ///
    /// ```
    /// use karpenter_core::cluster::{Taint, TaintEffect, Toleration};
    ///
    /// let gpu = Taint { key: "dedicated".into(), value: "gpu".into(), effect: TaintEffect::NoSchedule };
    /// let equal = Toleration { key: Some("dedicated".into()), exists: false, value: "gpu".into(), effect: None };
    /// let wrong_value = Toleration { value: "ml".into(), ..equal.clone() };
    /// let everything = Toleration { key: None, exists: true, value: String::new(), effect: None };
    /// assert!(equal.tolerates(&gpu) && everything.tolerates(&gpu));
    /// assert!(!wrong_value.tolerates(&gpu));
    /// ```
    pub fn tolerates(&self, taint: &Taint) -> bool {
        if self.effect.is_some_and(|e| e != taint.effect) {
            return false;
        }
        match self.key.as_deref() {
            None | Some("") => self.exists,
            Some(key) => key == taint.key && (self.exists || self.value == taint.value),
        }
    }
}

/// The first taint of `taints` that keeps a pod with `tolerations` off the
/// node: a `NoSchedule` or `NoExecute` taint none of them tolerates.
/// `PreferNoSchedule` taints never block.
pub fn untolerated_taint<'a>(tolerations: &[Toleration], taints: &'a [Taint]) -> Option<&'a Taint> {
    taints
        .iter()
        .find(|t| t.effect.blocks_scheduling() && !tolerations.iter().any(|tol| tol.tolerates(t)))
}

/// The operator of a [`NodeSelectorRequirement`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NodeSelectorOperator {
    /// The label is set to one of the values.
    In,
    /// The label is not set, or set to none of the values.
    NotIn,
    /// The label is set.
    Exists,
    /// The label is not set.
    DoesNotExist,
    /// The label is an integer greater than the one value.
    Gt,
    /// The label is an integer less than the one value.
    Lt,
}

impl NodeSelectorOperator {
    /// The Kubernetes spelling, e.g. `In`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::In => "In",
            Self::NotIn => "NotIn",
            Self::Exists => "Exists",
            Self::DoesNotExist => "DoesNotExist",
            Self::Gt => "Gt",
            Self::Lt => "Lt",
        }
    }

    /// The operator named `s` (Kubernetes spelling, exact case).
    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::In,
            Self::NotIn,
            Self::Exists,
            Self::DoesNotExist,
            Self::Gt,
            Self::Lt,
        ]
        .into_iter()
        .find(|op| op.as_str() == s)
    }
}

/// One requirement of a node selector term: a label (or, in
/// `matchFields`, a field) with an operator and values.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NodeSelectorRequirement {
    /// The label key (in `matchFields`: the field, `metadata.name`).
    pub key: String,
    /// The operator.
    pub operator: NodeSelectorOperator,
    /// The values: several for `In`/`NotIn`, none for
    /// `Exists`/`DoesNotExist`, one integer for `Gt`/`Lt`.
    pub values: Vec<String>,
}

impl NodeSelectorRequirement {
    /// Whether a node whose label (or field) `key` is `value` (`None`: not
    /// set) satisfies the requirement. `Gt` and `Lt` need both the label
    /// and the single value to be integers; anything else does not match.
    ///
    /// ```
    /// use karpenter_core::cluster::{NodeSelectorOperator, NodeSelectorRequirement};
    ///
    /// let r = |operator, values: &[&str]| NodeSelectorRequirement {
    ///     key: "k".into(), operator, values: values.iter().map(|v| v.to_string()).collect(),
    /// };
    /// assert!(r(NodeSelectorOperator::NotIn, &["a"]).matches(None));
    /// assert!(!r(NodeSelectorOperator::In, &["a"]).matches(None));
    /// assert!(r(NodeSelectorOperator::Gt, &["4"]).matches(Some("8")));
    /// assert!(!r(NodeSelectorOperator::Lt, &["4"]).matches(Some("x")));
    /// ```
    pub fn matches(&self, value: Option<&str>) -> bool {
        let int = |s: &str| s.trim().parse::<i64>().ok();
        let bound = || match self.values.as_slice() {
            [one] => int(one),
            _ => None,
        };
        match self.operator {
            NodeSelectorOperator::In => value.is_some_and(|v| self.values.iter().any(|x| x == v)),
            NodeSelectorOperator::NotIn => value.is_none_or(|v| self.values.iter().all(|x| x != v)),
            NodeSelectorOperator::Exists => value.is_some(),
            NodeSelectorOperator::DoesNotExist => value.is_none(),
            NodeSelectorOperator::Gt => {
                matches!((value.and_then(int), bound()), (Some(v), Some(b)) if v > b)
            }
            NodeSelectorOperator::Lt => {
                matches!((value.and_then(int), bound()), (Some(v), Some(b)) if v < b)
            }
        }
    }
}

impl fmt::Display for NodeSelectorRequirement {
    /// `zone In [us-east-1a, us-east-1b]`, `gpu Exists`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.key, self.operator.as_str())?;
        if !self.values.is_empty()
            || matches!(
                self.operator,
                NodeSelectorOperator::In | NodeSelectorOperator::NotIn
            )
        {
            write!(f, " [{}]", self.values.join(", "))?;
        }
        Ok(())
    }
}

/// One term of a node selector: every requirement must hold (AND).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct NodeSelectorTerm {
    /// Requirements on node labels.
    pub match_expressions: Vec<NodeSelectorRequirement>,
    /// Requirements on node fields; Kubernetes supports `metadata.name`
    /// only (DaemonSet pods are pinned to their node this way).
    pub match_fields: Vec<NodeSelectorRequirement>,
}

/// The field [`NodeSelectorTerm::match_fields`] can name.
pub const NODE_NAME_FIELD: &str = "metadata.name";

impl NodeSelectorTerm {
    /// The first requirement a node with `labels` and name `node_name`
    /// fails, or `None` when the term matches. A term with no requirement
    /// matches no node (as in Kubernetes); it is reported as `None` in the
    /// `Err` variant.
    pub fn first_unmatched<'a>(
        &'a self,
        labels: &BTreeMap<String, String>,
        node_name: &str,
    ) -> Result<(), Option<&'a NodeSelectorRequirement>> {
        if self.match_expressions.is_empty() && self.match_fields.is_empty() {
            return Err(None);
        }
        if let Some(r) = self
            .match_expressions
            .iter()
            .find(|r| !r.matches(labels.get(&r.key).map(String::as_str)))
        {
            return Err(Some(r));
        }
        let field = |key: &str| (key == NODE_NAME_FIELD).then_some(node_name);
        match self.match_fields.iter().find(|r| !r.matches(field(&r.key))) {
            Some(r) => Err(Some(r)),
            None => Ok(()),
        }
    }
}

/// A required node selector (`requiredDuringSchedulingIgnoredDuringExecution`
/// of a pod's node affinity): a node matches when **any** term matches
/// (OR), and a term matches when **all** its requirements do (AND). No
/// term at all matches no node.
///
/// ```
/// use std::collections::BTreeMap;
/// use karpenter_core::cluster::{NodeSelector, NodeSelectorOperator, NodeSelectorRequirement, NodeSelectorTerm};
///
/// let zone = |z: &str| NodeSelectorRequirement {
///     key: "zone".into(), operator: NodeSelectorOperator::In, values: vec![z.into()],
/// };
/// let term = |r| NodeSelectorTerm { match_expressions: vec![r], match_fields: vec![] };
/// let affinity = NodeSelector { terms: vec![term(zone("a")), term(zone("b"))] };
/// let labels = BTreeMap::from([("zone".to_string(), "b".to_string())]);
/// assert!(affinity.matches(&labels, "n1"));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct NodeSelector {
    /// The terms, ORed.
    pub terms: Vec<NodeSelectorTerm>,
}

impl NodeSelector {
    /// Whether a node with `labels` and name `node_name` matches.
    pub fn matches(&self, labels: &BTreeMap<String, String>, node_name: &str) -> bool {
        self.terms
            .iter()
            .any(|t| t.first_unmatched(labels, node_name).is_ok())
    }
}

/// Scheduling constraints of a pod that karpenter-rs records but does not
/// evaluate: the pending-capacity producer reports them per pod instead of
/// guessing whether a new node would satisfy them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct UnevaluatedConstraints {
    /// Required inter-pod affinity
    /// (`podAffinity.requiredDuringSchedulingIgnoredDuringExecution`).
    pub pod_affinity: bool,
    /// Required inter-pod anti-affinity.
    pub pod_anti_affinity: bool,
    /// Topology spread constraints with `whenUnsatisfiable: DoNotSchedule`.
    pub topology_spread: bool,
    /// PersistentVolumeClaim volumes, whose volumes may be bound to a zone.
    pub volumes: bool,
}

impl UnevaluatedConstraints {
    /// Whether any is present.
    pub fn any(&self) -> bool {
        self.pod_affinity || self.pod_anti_affinity || self.topology_spread || self.volumes
    }

    /// Their names, e.g. `["required pod anti-affinity"]`.
    pub fn names(&self) -> Vec<&'static str> {
        [
            (self.pod_affinity, "required pod affinity"),
            (self.pod_anti_affinity, "required pod anti-affinity"),
            (self.topology_spread, "topology spread constraints"),
            (self.volumes, "volume zones (PersistentVolumeClaims)"),
        ]
        .into_iter()
        .filter_map(|(set, name)| set.then_some(name))
        .collect()
    }
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
    /// Required node affinity
    /// (`affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution`);
    /// preferred affinity never blocks and is not kept.
    pub required_node_affinity: Option<NodeSelector>,
    /// Constraints present on the pod that are not evaluated (reported).
    pub unevaluated: UnevaluatedConstraints,
    /// App containers, when the pod was described by them (else empty).
    pub containers: Vec<Container>,
    /// Init containers, sidecars included, in order.
    pub init_containers: Vec<InitContainer>,
    /// Pod overhead (`spec.overhead`, from the RuntimeClass).
    pub overhead: Resources,
}

/// Why a pod cannot run on a node (or a node template): the first predicate
/// that failed, as [`Pod::placement_failure`] and the pending-capacity
/// producer check them. Its `Display` is the message users see, e.g.
/// `taint dedicated=gpu:NoSchedule not tolerated`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unfit {
    /// A `NoSchedule` or `NoExecute` taint no toleration tolerates.
    Taint(Taint),
    /// A `nodeSelector` label the node does not have with that value.
    NodeSelector {
        /// The label key.
        key: String,
        /// The value the pod asks for.
        wanted: String,
        /// The node's value, `None` when it has no such label.
        actual: Option<String>,
    },
    /// No term of the required node affinity matches; the first term's
    /// first failing requirement is named.
    Affinity {
        /// The first failing requirement of the first term (`None`: the
        /// first term has no requirement, or there are no terms).
        requirement: Option<NodeSelectorRequirement>,
        /// The node's value of that requirement's label.
        actual: Option<String>,
        /// How many terms the affinity has.
        terms: usize,
    },
    /// A request above what one node offers.
    Resource {
        /// `cpu`, `memory` or `pods`.
        resource: &'static str,
        /// The pod's request (millicores, bytes or a count).
        request: i64,
        /// What one node offers pods (after DaemonSets, for templates).
        allocatable: i64,
    },
}

impl fmt::Display for Unfit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Taint(t) => write!(f, "taint {t} not tolerated"),
            Self::NodeSelector {
                key,
                wanted,
                actual,
            } => {
                write!(f, "nodeSelector {key}={wanted} not matched")?;
                match actual {
                    Some(v) => write!(f, " (node has {key}={v})"),
                    None => write!(f, " (node has no label {key})"),
                }
            }
            Self::Affinity {
                requirement,
                actual,
                terms,
            } => {
                match requirement {
                    Some(r) => {
                        write!(f, "affinity {r} not matched")?;
                        match actual.as_deref() {
                            // A node that does not exist yet has no name.
                            Some("") if r.key == NODE_NAME_FIELD => {
                                write!(f, " (a new node's name is not known in advance)")?
                            }
                            Some(v) => write!(f, " (node has {}={v})", r.key)?,
                            None => write!(f, " (node has no label {})", r.key)?,
                        }
                    }
                    None if *terms == 0 => write!(
                        f,
                        "affinity has no nodeSelectorTerms, which matches no node"
                    )?,
                    None => write!(f, "affinity term with no requirement matches no node")?,
                }
                if *terms > 1 {
                    write!(f, "; none of its {terms} terms matched")?;
                }
                Ok(())
            }
            Self::Resource {
                resource,
                request,
                allocatable,
            } => {
                let q = |v: i64| match *resource {
                    "cpu" => format_cpu(v),
                    "memory" => format_memory(v),
                    _ => v.to_string(),
                };
                write!(
                    f,
                    "{resource} {} > allocatable {}",
                    q(*request),
                    q(*allocatable)
                )
            }
        }
    }
}

/// Millicores the way Kubernetes writes them: `4` for 4000, `500m`, `1500m`.
///
/// ```
/// use karpenter_core::cluster::format_cpu;
/// assert_eq!(format_cpu(4_000), "4");
/// assert_eq!(format_cpu(1_500), "1500m");
/// ```
pub fn format_cpu(millis: i64) -> String {
    if millis % 1000 == 0 {
        (millis / 1000).to_string()
    } else {
        format!("{millis}m")
    }
}

/// Bytes the way people read them: with the largest binary suffix down to
/// `Mi` that writes them exactly (`6Gi`, `1536Mi`), else with two decimals
/// in the largest suffix below the value (`15.43Gi`), and below 1Mi in
/// `Ki` or bytes.
///
/// ```
/// use karpenter_core::cluster::format_memory;
/// assert_eq!(format_memory(6 << 30), "6Gi");
/// assert_eq!(format_memory(1536 << 20), "1536Mi");
/// assert_eq!(format_memory(16_177_216 << 10), "15.43Gi");
/// assert_eq!(format_memory(1_000_000_000), "953.67Mi");
/// assert_eq!(format_memory(4096), "4Ki");
/// assert_eq!(format_memory(100), "100");
/// ```
pub fn format_memory(bytes: i64) -> String {
    const UNITS: [(&str, i64); 5] = [
        ("Pi", 1 << 50),
        ("Ti", 1 << 40),
        ("Gi", 1 << 30),
        ("Mi", 1 << 20),
        ("Ki", 1 << 10),
    ];
    if bytes == 0 {
        return "0".to_string();
    }
    let magnitude = bytes.unsigned_abs();
    let exact = UNITS
        .iter()
        .find(|(_, u)| bytes % u == 0 && (*u >= 1 << 20 || magnitude < 1 << 20));
    if let Some((suffix, unit)) = exact {
        return format!("{}{suffix}", bytes / unit);
    }
    match UNITS.iter().find(|(_, u)| magnitude >= u.unsigned_abs()) {
        Some((suffix, unit)) => format!("{:.2}{suffix}", bytes as f64 / *unit as f64),
        None => bytes.to_string(),
    }
}

impl Pod {
    /// The first scheduling constraint that keeps this pod off a node with
    /// `labels`, `taints` and name `node_name`, checked in the scheduler's
    /// order: taints (`NoSchedule`, `NoExecute`; `PreferNoSchedule` never
    /// blocks), `nodeSelector`, required node affinity. Resources are not
    /// checked here. `None` when the pod may run there.
    ///
    /// ```
    /// use std::collections::BTreeMap;
    /// use karpenter_core::cluster::{Pod, Taint, TaintEffect};
    ///
    /// let pod = Pod {
    ///     node_selector: BTreeMap::from([("disk".to_string(), "ssd".to_string())]),
    ///     ..Pod::default()
    /// };
    /// let labels = BTreeMap::from([("disk".to_string(), "hdd".to_string())]);
    /// let why = pod.placement_failure(&labels, &[], "n1").unwrap();
    /// assert_eq!(why.to_string(), "nodeSelector disk=ssd not matched (node has disk=hdd)");
    /// let gpu = Taint { key: "dedicated".into(), value: "gpu".into(), effect: TaintEffect::NoSchedule };
    /// let why = pod.placement_failure(&labels, &[gpu], "n1").unwrap();
    /// assert_eq!(why.to_string(), "taint dedicated=gpu:NoSchedule not tolerated");
    /// ```
    pub fn placement_failure(
        &self,
        labels: &BTreeMap<String, String>,
        taints: &[Taint],
        node_name: &str,
    ) -> Option<Unfit> {
        if let Some(t) = untolerated_taint(&self.tolerations, taints) {
            return Some(Unfit::Taint(t.clone()));
        }
        if let Some((key, wanted)) = self
            .node_selector
            .iter()
            .find(|(k, v)| labels.get(*k) != Some(*v))
        {
            return Some(Unfit::NodeSelector {
                key: key.clone(),
                wanted: wanted.clone(),
                actual: labels.get(key).cloned(),
            });
        }
        let affinity = self.required_node_affinity.as_ref()?;
        let mut first = None;
        for (i, term) in affinity.terms.iter().enumerate() {
            match term.first_unmatched(labels, node_name) {
                Ok(()) => return None,
                Err(r) if i == 0 => first = r,
                Err(_) => {}
            }
        }
        let actual = first.and_then(|r| {
            if affinity
                .terms
                .first()
                .is_some_and(|t| t.match_fields.contains(r))
            {
                (r.key == NODE_NAME_FIELD).then(|| node_name.to_string())
            } else {
                labels.get(&r.key).cloned()
            }
        });
        Some(Unfit::Affinity {
            requirement: first.cloned(),
            actual,
            terms: affinity.terms.len(),
        })
    }

    /// Whether the pod may run on a node with `labels`, `taints` and name
    /// `node_name` as far as its constraints go: what
    /// [`placement_failure`](Self::placement_failure) checks, without
    /// building the reason. Resources are not checked.
    pub fn allowed_on(
        &self,
        labels: &BTreeMap<String, String>,
        taints: &[Taint],
        node_name: &str,
    ) -> bool {
        untolerated_taint(&self.tolerations, taints).is_none()
            && self
                .node_selector
                .iter()
                .all(|(k, v)| labels.get(k) == Some(v))
            && self
                .required_node_affinity
                .as_ref()
                .is_none_or(|a| a.matches(labels, node_name))
    }

    /// Whether the pod may run on `node` as far as its constraints go
    /// ([`allowed_on`](Self::allowed_on)); resources and the node's
    /// readiness are not checked.
    pub fn may_run_on(&self, node: &Node) -> bool {
        self.allowed_on(&node.labels, &node.taints, &node.name)
    }

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

/// A DaemonSet, as the pending-capacity producer sees it: what its pod
/// would request on every node it lands on, and where it lands.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DaemonSet {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// The effective request of its pod template (see
    /// [`effective_requests`]); `pods` is 1.
    pub requests: Resources,
    /// The pod template's node selector.
    pub node_selector: BTreeMap<String, String>,
    /// The pod template's required node affinity.
    pub required_node_affinity: Option<NodeSelector>,
    /// The pod template's tolerations.
    pub tolerations: Vec<Toleration>,
}

impl DaemonSet {
    /// Whether its pod would run on a node with `labels` and `taints`
    /// (taints, node selector and required node affinity, as for any pod;
    /// the name of a node that does not exist yet is unknown, so
    /// `matchFields` on `metadata.name` never selects it).
    pub fn lands_on(&self, labels: &BTreeMap<String, String>, taints: &[Taint]) -> bool {
        untolerated_taint(&self.tolerations, taints).is_none()
            && self
                .node_selector
                .iter()
                .all(|(k, v)| labels.get(k) == Some(v))
            && self
                .required_node_affinity
                .as_ref()
                .is_none_or(|a| a.matches(labels, ""))
    }
}

/// The nodes, pods and DaemonSets of a cluster at one instant.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClusterSnapshot {
    /// Every node.
    pub nodes: Vec<Node>,
    /// Every pod.
    pub pods: Vec<Pod>,
    /// Every DaemonSet (what a new node runs before any other pod).
    pub daemon_sets: Vec<DaemonSet>,
}

/// A read-only view of the cluster.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait ClusterState: Send + Sync {
    /// The current nodes and pods.
    async fn snapshot(&self) -> Result<ClusterSnapshot, ProviderError>;
}
