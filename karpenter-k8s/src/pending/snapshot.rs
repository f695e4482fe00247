//! Reading `kubectl get nodes,pods,daemonsets -A -o json` (or `-o yaml`)
//! into a [`ClusterSnapshot`], straight from the reader.
//!
//! The list is never held whole: each item is read into a small struct of
//! the fields `karpenter pending` uses (every other field is skipped while
//! parsing), turned into a core [`Node`], [`Pod`] or [`DaemonSet`], and
//! dropped. Only nodes, DaemonSets and pending-unschedulable pods are kept;
//! other pods are counted. Memory therefore grows with the nodes and the
//! pending pods, not with the size of the file (see `docs/producers-pending-capacity.md`
//! for the measured figure).
//!
//! ```
//! use karpenter_k8s::pending::snapshot::read_list;
//!
//! let json = r#"{"apiVersion": "v1", "kind": "List", "items": [
//!   {"kind": "Node", "metadata": {"name": "n1", "labels": {"group": "web"}},
//!    "status": {"allocatable": {"cpu": "3920m", "memory": "15Gi", "pods": "110"},
//!               "conditions": [{"type": "Ready", "status": "True"}]}},
//!   {"kind": "Pod", "metadata": {"name": "web-0", "namespace": "default"},
//!    "spec": {"containers": [{"name": "app", "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}}}]},
//!    "status": {"phase": "Pending",
//!               "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}]}}
//! ]}"#;
//! let list = read_list(json.as_bytes()).unwrap();
//! assert_eq!(list.snapshot.nodes[0].allocatable.cpu_millis, 3_920);
//! assert_eq!(list.snapshot.pods[0].requests.memory_bytes, 1 << 30);
//! assert_eq!(list.pods, 1);
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::io::{BufRead, BufReader, Read};

use karpenter_core::api::Quantity;
use karpenter_core::cluster::{
    ClusterSnapshot, Container, DaemonSet, InitContainer, Node, NodeSelector, NodeSelectorOperator,
    NodeSelectorRequirement, NodeSelectorTerm, Pod, PodPhase, Resources, Taint, TaintEffect,
    Toleration, UnevaluatedConstraints, effective_requests,
};
use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, SeqAccess, Visitor};

/// How many per-object problems an error lists; the count is always
/// complete.
pub const MAX_LISTED_ERRORS: usize = 20;

/// What was read from a list.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ListSnapshot {
    /// Every node, every DaemonSet, and the pending-unschedulable pods
    /// (`status.phase: Pending`, no `spec.nodeName`, condition
    /// `PodScheduled=False` with reason `Unschedulable`).
    pub snapshot: ClusterSnapshot,
    /// Every pod in the list, pending or not.
    pub pods: usize,
    /// Items of other kinds (skipped).
    pub other_items: usize,
}

/// One object that could not be read, with where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectError {
    /// Position in `items`.
    pub index: usize,
    /// `Pod default/web-0`.
    pub object: String,
    /// The field, e.g. `spec.containers[1].resources.requests.memory`.
    pub field: String,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl fmt::Display for ObjectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "items[{}] {}: {}: {}",
            self.index, self.object, self.field, self.message
        )
    }
}

/// Why a list could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// Reading failed.
    #[error("cannot read the snapshot: {0}")]
    Io(#[from] std::io::Error),
    /// The input is empty.
    #[error(
        "the snapshot is empty: give the output of `kubectl get nodes,pods,daemonsets -A -o json`"
    )]
    Empty,
    /// The text is not JSON or YAML of the expected shape.
    #[error("{message}{}", location(*.line, *.column))]
    Syntax {
        /// What is wrong, with the path of the field when known.
        message: String,
        /// 1-based line, when known.
        line: Option<usize>,
        /// 1-based column, when known.
        column: Option<usize>,
    },
    /// The document is not a `List`.
    #[error(
        "the snapshot is {}, not a List: give the output of `kubectl get nodes,pods,daemonsets -A -o json` (or -o yaml), whose kind is List",
        match .kind { Some(k) => format!("a {k}"), None => "an object without kind and items".to_string() }
    )]
    NotAList {
        /// The document's `kind`, if it has one.
        kind: Option<String>,
    },
    /// Some objects have fields that cannot be used.
    #[error("{}", objects_text(.errors, *.total))]
    Objects {
        /// The first [`MAX_LISTED_ERRORS`] problems, in list order.
        errors: Vec<ObjectError>,
        /// How many there are in all.
        total: usize,
    },
}

fn location(line: Option<usize>, column: Option<usize>) -> String {
    match (line, column) {
        (Some(l), Some(c)) => format!(" (line {l}, column {c})"),
        (Some(l), None) => format!(" (line {l})"),
        _ => String::new(),
    }
}

fn objects_text(errors: &[ObjectError], total: usize) -> String {
    let mut lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
    if total > errors.len() {
        lines.push(format!("... and {} more", total - errors.len()));
    }
    lines.join("\n")
}

/// Reads a `List` of nodes, pods and DaemonSets from `reader`: JSON when
/// the first non-blank character is `{` or `[`, YAML otherwise (a UTF-8
/// byte-order mark is skipped). See the [module docs](self).
pub fn read_list(reader: impl Read) -> Result<ListSnapshot, SnapshotError> {
    let mut r = BufReader::with_capacity(1 << 16, reader);
    let first = skip_blank(&mut r)?;
    let list = match first {
        None => return Err(SnapshotError::Empty),
        Some(b'{' | b'[') => read_json(r)?,
        Some(_) => read_yaml(r)?,
    };
    let RawList { kind, items } = list;
    let is_list = kind.as_deref().is_some_and(|k| k.ends_with("List"));
    match items {
        // `kind` may be left out; `items` says what the document is.
        Some(Items(builder)) if is_list || kind.is_none() => builder.finish(),
        None if is_list => Ok(ListSnapshot::default()),
        _ => Err(SnapshotError::NotAList { kind }),
    }
}

/// Consumes blanks and a UTF-8 byte-order mark; returns the next byte.
fn skip_blank(r: &mut impl BufRead) -> Result<Option<u8>, SnapshotError> {
    let mut at_start = true;
    loop {
        let buf = r.fill_buf()?;
        if buf.is_empty() {
            return Ok(None);
        }
        if at_start && buf.starts_with(&[0xEF, 0xBB, 0xBF]) {
            r.consume(3);
            at_start = false;
            continue;
        }
        at_start = false;
        match buf.iter().position(|b| !b.is_ascii_whitespace()) {
            Some(i) => {
                let b = buf[i];
                r.consume(i);
                return Ok(Some(b));
            }
            None => {
                let n = buf.len();
                r.consume(n);
            }
        }
    }
}

fn read_json(r: impl Read) -> Result<RawList, SnapshotError> {
    let mut de = serde_json::Deserializer::from_reader(r);
    let mut track = serde_path_to_error::Track::new();
    let result = RawList::deserialize(serde_path_to_error::Deserializer::new(&mut de, &mut track))
        .and_then(|l| de.end().map(|()| l));
    result.map_err(|e| {
        if e.is_io() {
            return SnapshotError::Io(std::io::Error::other(e.to_string()));
        }
        let (line, column) = (e.line(), e.column());
        let text = e.to_string();
        let bare = text
            .strip_suffix(&format!(" at line {line} column {column}"))
            .unwrap_or(&text);
        syntax(&track.path().to_string(), bare, Some(line), Some(column))
    })
}

fn read_yaml(r: impl Read) -> Result<RawList, SnapshotError> {
    // A snapshot is large but streamed: only the parser's protections
    // against aliases and deep nesting are kept.
    let options = serde_saphyr::options! {
        budget: serde_saphyr::budget! {
            max_reader_input_bytes: None,
            max_events: usize::MAX,
            max_nodes: usize::MAX,
            max_total_scalar_bytes: usize::MAX,
            max_depth: 64,
        },
        with_snippet: false,
    };
    let mut track = serde_path_to_error::Track::new();
    let result = serde_saphyr::with_deserializer_from_reader_with_options(r, options, |de| {
        RawList::deserialize(serde_path_to_error::Deserializer::new(de, &mut track))
    });
    result.map_err(|e| {
        let loc = e.location();
        let text = e.to_string();
        let first = text.lines().next().unwrap_or_default();
        // The location is reported on its own.
        let bare = match first.rfind(" at line ") {
            Some(i) if loc.is_some() => &first[..i],
            _ => first,
        };
        syntax(
            &track.path().to_string(),
            bare,
            loc.map(|l| l.line() as usize),
            loc.map(|l| l.column() as usize),
        )
    })
}

fn syntax(path: &str, message: &str, line: Option<usize>, column: Option<usize>) -> SnapshotError {
    let path = path.trim_start_matches('.');
    let top = path.is_empty() || path == "?";
    if top && (message.starts_with("invalid type") || message.starts_with("expected mapping")) {
        // A list, a string or a number where the List object should be.
        return SnapshotError::NotAList { kind: None };
    }
    let message = if top {
        message.to_string()
    } else {
        format!("{path}: {message}")
    };
    SnapshotError::Syntax {
        message,
        line: line.filter(|l| *l > 0),
        column: column.filter(|c| *c > 0),
    }
}

// ------------------------------------------------------------ the raw shape

/// The list: its kind and its items (everything else is skipped). Only a
/// mapping is one (a derived struct would also read a sequence).
struct RawList {
    kind: Option<String>,
    items: Option<Items>,
}

impl<'de> Deserialize<'de> for RawList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct ListVisitor;
        impl<'de> Visitor<'de> for ListVisitor {
            type Value = RawList;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a Kubernetes List object")
            }
            fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<RawList, A::Error> {
                let mut list = RawList {
                    kind: None,
                    items: None,
                };
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "kind" => list.kind = map.next_value::<Option<String>>()?,
                        "items" => list.items = map.next_value::<Option<Items>>()?,
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(list)
            }
        }
        d.deserialize_map(ListVisitor)
    }
}

/// The items, converted one by one as they are read.
struct Items(Builder);

impl<'de> Deserialize<'de> for Items {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct ItemsVisitor;
        impl<'de> Visitor<'de> for ItemsVisitor {
            type Value = Builder;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of Kubernetes objects")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Builder, A::Error> {
                let mut b = Builder::default();
                while let Some(item) = seq.next_element::<RawItem>()? {
                    b.add(item);
                }
                Ok(b)
            }
            fn visit_unit<E: de::Error>(self) -> Result<Builder, E> {
                Ok(Builder::default())
            }
            fn visit_none<E: de::Error>(self) -> Result<Builder, E> {
                Ok(Builder::default())
            }
        }
        d.deserialize_any(ItemsVisitor).map(Items)
    }
}

/// `null` as the default value (kubectl writes `null` for some empty
/// fields).
fn nullable<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// One item: the union of the Node, Pod and DaemonSet fields used.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct RawItem {
    #[serde(default, deserialize_with = "nullable")]
    kind: String,
    #[serde(default, deserialize_with = "nullable")]
    metadata: RawMeta,
    #[serde(default, deserialize_with = "nullable")]
    spec: RawSpec,
    #[serde(default, deserialize_with = "nullable")]
    status: RawStatus,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct RawMeta {
    #[serde(default, deserialize_with = "nullable")]
    name: String,
    #[serde(default, deserialize_with = "nullable")]
    namespace: String,
    #[serde(default, deserialize_with = "nullable")]
    labels: BTreeMap<String, String>,
    #[serde(default, deserialize_with = "nullable")]
    resource_version: String,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct RawSpec {
    // Node.
    #[serde(default, deserialize_with = "nullable")]
    taints: Vec<RawTaint>,
    #[serde(default, deserialize_with = "nullable")]
    unschedulable: bool,
    #[serde(default, rename = "providerID", deserialize_with = "nullable")]
    provider_id: String,
    // Pod (and a DaemonSet's pod template).
    #[serde(default, deserialize_with = "nullable")]
    node_name: String,
    #[serde(default, deserialize_with = "nullable")]
    node_selector: BTreeMap<String, String>,
    #[serde(default, deserialize_with = "nullable")]
    affinity: RawAffinity,
    #[serde(default, deserialize_with = "nullable")]
    tolerations: Vec<RawToleration>,
    #[serde(default, deserialize_with = "nullable")]
    containers: Vec<RawContainer>,
    #[serde(default, deserialize_with = "nullable")]
    init_containers: Vec<RawContainer>,
    #[serde(default, deserialize_with = "nullable")]
    overhead: BTreeMap<String, RawQuantity>,
    #[serde(default, deserialize_with = "nullable")]
    topology_spread_constraints: Vec<RawSpread>,
    #[serde(default, deserialize_with = "nullable")]
    volumes: Vec<RawVolume>,
    // DaemonSet.
    #[serde(default, deserialize_with = "nullable")]
    template: Option<Box<RawTemplate>>,
}

#[derive(Deserialize, Default)]
struct RawTemplate {
    #[serde(default, deserialize_with = "nullable")]
    spec: RawSpec,
}

#[derive(Deserialize, Default)]
struct RawTaint {
    #[serde(default, deserialize_with = "nullable")]
    key: String,
    #[serde(default, deserialize_with = "nullable")]
    value: String,
    #[serde(default, deserialize_with = "nullable")]
    effect: String,
}

#[derive(Deserialize, Default)]
struct RawToleration {
    #[serde(default, deserialize_with = "nullable")]
    key: String,
    #[serde(default, deserialize_with = "nullable")]
    operator: String,
    #[serde(default, deserialize_with = "nullable")]
    value: String,
    #[serde(default, deserialize_with = "nullable")]
    effect: String,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct RawAffinity {
    #[serde(default, deserialize_with = "nullable")]
    node_affinity: RawNodeAffinity,
    #[serde(default, deserialize_with = "nullable")]
    pod_affinity: RawPodAffinity,
    #[serde(default, deserialize_with = "nullable")]
    pod_anti_affinity: RawPodAffinity,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct RawNodeAffinity {
    #[serde(default, deserialize_with = "nullable")]
    required_during_scheduling_ignored_during_execution: Option<RawNodeSelector>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct RawNodeSelector {
    #[serde(default, deserialize_with = "nullable")]
    node_selector_terms: Vec<RawTerm>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct RawTerm {
    #[serde(default, deserialize_with = "nullable")]
    match_expressions: Vec<RawRequirement>,
    #[serde(default, deserialize_with = "nullable")]
    match_fields: Vec<RawRequirement>,
}

#[derive(Deserialize, Default)]
struct RawRequirement {
    #[serde(default, deserialize_with = "nullable")]
    key: String,
    #[serde(default, deserialize_with = "nullable")]
    operator: String,
    #[serde(default, deserialize_with = "nullable")]
    values: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct RawPodAffinity {
    #[serde(default, deserialize_with = "nullable")]
    required_during_scheduling_ignored_during_execution: Vec<IgnoredAny>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct RawSpread {
    #[serde(default, deserialize_with = "nullable")]
    when_unsatisfiable: String,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct RawVolume {
    #[serde(default)]
    persistent_volume_claim: Option<IgnoredAny>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct RawContainer {
    #[serde(default, deserialize_with = "nullable")]
    resources: RawResources,
    #[serde(default, deserialize_with = "nullable")]
    restart_policy: String,
}

#[derive(Deserialize, Default)]
struct RawResources {
    #[serde(default, deserialize_with = "nullable")]
    requests: BTreeMap<String, RawQuantity>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct RawStatus {
    #[serde(default, deserialize_with = "nullable")]
    allocatable: BTreeMap<String, RawQuantity>,
    #[serde(default, deserialize_with = "nullable")]
    conditions: Vec<RawCondition>,
    #[serde(default, deserialize_with = "nullable")]
    phase: String,
}

#[derive(Deserialize, Default)]
struct RawCondition {
    #[serde(default, rename = "type", deserialize_with = "nullable")]
    type_: String,
    #[serde(default, deserialize_with = "nullable")]
    status: String,
    #[serde(default, deserialize_with = "nullable")]
    reason: String,
}

/// A quantity as written: a string (`500m`) or a number (`2`); parsed
/// once the object it belongs to is known, so an error can name it.
#[derive(Default)]
struct RawQuantity(String);

impl<'de> Deserialize<'de> for RawQuantity {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = RawQuantity;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a quantity such as 500m, 2 or 1.5Gi")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawQuantity, E> {
                Ok(RawQuantity(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawQuantity, E> {
                Ok(RawQuantity(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<RawQuantity, E> {
                Ok(RawQuantity(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<RawQuantity, E> {
                Ok(RawQuantity(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

// ------------------------------------------------------------- conversion

#[derive(Default)]
struct Builder {
    snapshot: ClusterSnapshot,
    pods: usize,
    other_items: usize,
    index: usize,
    errors: Vec<ObjectError>,
    total_errors: usize,
}

/// The object being converted, for error messages.
struct Ctx<'a> {
    index: usize,
    kind: &'a str,
    namespace: &'a str,
    name: &'a str,
}

impl Ctx<'_> {
    fn error(&self, field: impl Into<String>, message: impl Into<String>) -> ObjectError {
        let name = if self.name.is_empty() {
            "<unnamed>"
        } else {
            self.name
        };
        let object = if self.namespace.is_empty() {
            format!("{} {name}", self.kind)
        } else {
            format!("{} {}/{name}", self.kind, self.namespace)
        };
        ObjectError {
            index: self.index,
            object,
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Problems found in one object.
type Problems = Vec<ObjectError>;

impl Builder {
    fn add(&mut self, item: RawItem) {
        let index = self.index;
        self.index += 1;
        let ctx = Ctx {
            index,
            kind: &item.kind,
            namespace: &item.metadata.namespace,
            name: &item.metadata.name,
        };
        let mut problems = Problems::new();
        match item.kind.as_str() {
            "Node" => {
                let node = node(&ctx, &item, &mut problems);
                self.snapshot.nodes.push(node);
            }
            "Pod" => {
                self.pods += 1;
                if is_pending(&item) {
                    let pod = pod(&ctx, &item, &mut problems);
                    self.snapshot.pods.push(pod);
                }
            }
            "DaemonSet" => {
                let ds = daemon_set(&ctx, &item, &mut problems);
                self.snapshot.daemon_sets.push(ds);
            }
            _ => self.other_items += 1,
        }
        self.total_errors += problems.len();
        let room = MAX_LISTED_ERRORS.saturating_sub(self.errors.len());
        self.errors.extend(problems.into_iter().take(room));
    }

    fn finish(self) -> Result<ListSnapshot, SnapshotError> {
        if self.total_errors > 0 {
            return Err(SnapshotError::Objects {
                errors: self.errors,
                total: self.total_errors,
            });
        }
        Ok(ListSnapshot {
            snapshot: self.snapshot,
            pods: self.pods,
            other_items: self.other_items,
        })
    }
}

/// `Pending`, not bound, and `PodScheduled=False` with reason
/// `Unschedulable`.
fn is_pending(item: &RawItem) -> bool {
    item.status.phase == "Pending"
        && item.spec.node_name.is_empty()
        && item.status.conditions.iter().any(|c| {
            c.type_ == "PodScheduled" && c.status == "False" && c.reason == "Unschedulable"
        })
}

/// Parses `raw` at `field`, or records why not.
fn quantity(ctx: &Ctx<'_>, field: &str, raw: &RawQuantity, p: &mut Problems) -> Option<Quantity> {
    match Quantity::parse(&raw.0) {
        Ok(q) => Some(q),
        Err(e) => {
            p.push(ctx.error(field, e.to_string()));
            None
        }
    }
}

/// Whole units, rounded up like Kubernetes' `Value()`, saturating.
fn whole(q: &Quantity) -> i64 {
    let n = q.nanos();
    let units = n / 1_000_000_000 + i128::from(n % 1_000_000_000 > 0);
    units.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}

/// cpu (millicores) and memory (bytes) of a resource list; other
/// resources are not read.
fn resources(
    ctx: &Ctx<'_>,
    field: &str,
    list: &BTreeMap<String, RawQuantity>,
    p: &mut Problems,
) -> Resources {
    let mut r = Resources::default();
    if let Some(q) = list.get("cpu") {
        r.cpu_millis = quantity(ctx, &format!("{field}.cpu"), q, p).map_or(0, |q| q.milli_value());
    }
    if let Some(q) = list.get("memory") {
        r.memory_bytes = quantity(ctx, &format!("{field}.memory"), q, p).map_or(0, |q| whole(&q));
    }
    r
}

fn node(ctx: &Ctx<'_>, item: &RawItem, p: &mut Problems) -> Node {
    let mut allocatable = resources(ctx, "status.allocatable", &item.status.allocatable, p);
    if let Some(q) = item.status.allocatable.get("pods") {
        allocatable.pods = quantity(ctx, "status.allocatable.pods", q, p).map_or(0, |q| whole(&q));
    }
    let taints = item
        .spec
        .taints
        .iter()
        .enumerate()
        .filter_map(|(i, t)| {
            let Some(effect) = TaintEffect::parse(&t.effect) else {
                p.push(ctx.error(
                    format!("spec.taints[{i}].effect"),
                    format!(
                        "{:?} is not a taint effect; use NoSchedule, PreferNoSchedule or NoExecute",
                        t.effect
                    ),
                ));
                return None;
            };
            Some(Taint {
                key: t.key.clone(),
                value: t.value.clone(),
                effect,
            })
        })
        .collect();
    Node {
        name: item.metadata.name.clone(),
        labels: item.metadata.labels.clone(),
        allocatable,
        taints,
        ready: item
            .status
            .conditions
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True"),
        unschedulable: item.spec.unschedulable,
    }
}

/// What a pod spec asks of a node, read at `prefix` (`spec` or
/// `spec.template.spec`).
struct PodShape {
    requests: Resources,
    node_selector: BTreeMap<String, String>,
    affinity: Option<NodeSelector>,
    tolerations: Vec<Toleration>,
    unevaluated: UnevaluatedConstraints,
}

fn pod_shape(ctx: &Ctx<'_>, prefix: &str, spec: &RawSpec, p: &mut Problems) -> PodShape {
    let containers: Vec<Container> = spec
        .containers
        .iter()
        .enumerate()
        .map(|(i, c)| Container {
            name: String::new(),
            requests: resources(
                ctx,
                &format!("{prefix}.containers[{i}].resources.requests"),
                &c.resources.requests,
                p,
            ),
        })
        .collect();
    let init: Vec<InitContainer> = spec
        .init_containers
        .iter()
        .enumerate()
        .map(|(i, c)| InitContainer {
            name: String::new(),
            requests: resources(
                ctx,
                &format!("{prefix}.initContainers[{i}].resources.requests"),
                &c.resources.requests,
                p,
            ),
            sidecar: c.restart_policy == "Always",
        })
        .collect();
    let overhead = resources(ctx, &format!("{prefix}.overhead"), &spec.overhead, p);
    let requests = effective_requests(&containers, &init, overhead);
    let tolerations = spec
        .tolerations
        .iter()
        .enumerate()
        .filter_map(|(i, t)| toleration(ctx, &format!("{prefix}.tolerations[{i}]"), t, p))
        .collect();
    let affinity = spec
        .affinity
        .node_affinity
        .required_during_scheduling_ignored_during_execution
        .as_ref()
        .map(|sel| {
            let path = format!(
                "{prefix}.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms"
            );
            NodeSelector {
                terms: sel
                    .node_selector_terms
                    .iter()
                    .enumerate()
                    .map(|(i, t)| NodeSelectorTerm {
                        match_expressions: requirements(
                            ctx,
                            &format!("{path}[{i}].matchExpressions"),
                            &t.match_expressions,
                            p,
                        ),
                        match_fields: requirements(
                            ctx,
                            &format!("{path}[{i}].matchFields"),
                            &t.match_fields,
                            p,
                        ),
                    })
                    .collect(),
            }
        });
    let unevaluated = UnevaluatedConstraints {
        pod_affinity: !spec
            .affinity
            .pod_affinity
            .required_during_scheduling_ignored_during_execution
            .is_empty(),
        pod_anti_affinity: !spec
            .affinity
            .pod_anti_affinity
            .required_during_scheduling_ignored_during_execution
            .is_empty(),
        // DoNotSchedule is the default.
        topology_spread: spec
            .topology_spread_constraints
            .iter()
            .any(|c| c.when_unsatisfiable != "ScheduleAnyway"),
        volumes: spec
            .volumes
            .iter()
            .any(|v| v.persistent_volume_claim.is_some()),
    };
    PodShape {
        requests,
        node_selector: spec.node_selector.clone(),
        affinity,
        tolerations,
        unevaluated,
    }
}

fn toleration(
    ctx: &Ctx<'_>,
    field: &str,
    t: &RawToleration,
    p: &mut Problems,
) -> Option<Toleration> {
    let exists = match t.operator.as_str() {
        "Exists" => true,
        "Equal" | "" => false,
        other => {
            p.push(ctx.error(
                format!("{field}.operator"),
                format!("{other:?} is not a toleration operator; use Exists or Equal"),
            ));
            return None;
        }
    };
    let effect = if t.effect.is_empty() {
        None
    } else {
        match TaintEffect::parse(&t.effect) {
            Some(e) => Some(e),
            None => {
                p.push(ctx.error(
                    format!("{field}.effect"),
                    format!(
                        "{:?} is not a taint effect; use NoSchedule, PreferNoSchedule, NoExecute or leave it empty for all",
                        t.effect
                    ),
                ));
                return None;
            }
        }
    };
    Some(Toleration {
        key: (!t.key.is_empty()).then(|| t.key.clone()),
        exists,
        value: t.value.clone(),
        effect,
    })
}

fn requirements(
    ctx: &Ctx<'_>,
    field: &str,
    raw: &[RawRequirement],
    p: &mut Problems,
) -> Vec<NodeSelectorRequirement> {
    raw.iter()
        .enumerate()
        .filter_map(|(i, r)| {
            let Some(operator) = NodeSelectorOperator::parse(&r.operator) else {
                p.push(ctx.error(
                    format!("{field}[{i}].operator"),
                    format!(
                        "{:?} is not a node selector operator; use In, NotIn, Exists, DoesNotExist, Gt or Lt",
                        r.operator
                    ),
                ));
                return None;
            };
            Some(NodeSelectorRequirement {
                key: r.key.clone(),
                operator,
                values: r.values.clone(),
            })
        })
        .collect()
}

fn pod(ctx: &Ctx<'_>, item: &RawItem, p: &mut Problems) -> Pod {
    let shape = pod_shape(ctx, "spec", &item.spec, p);
    Pod {
        namespace: item.metadata.namespace.clone(),
        name: item.metadata.name.clone(),
        node_name: None,
        requests: shape.requests,
        phase: PodPhase::Pending,
        unschedulable: true,
        node_selector: shape.node_selector,
        tolerations: shape.tolerations,
        required_node_affinity: shape.affinity,
        unevaluated: shape.unevaluated,
        ..Pod::default()
    }
}

fn daemon_set(ctx: &Ctx<'_>, item: &RawItem, p: &mut Problems) -> DaemonSet {
    let empty = RawSpec::default();
    let spec = item.spec.template.as_ref().map_or(&empty, |t| &t.spec);
    let shape = pod_shape(ctx, "spec.template.spec", spec, p);
    DaemonSet {
        namespace: item.metadata.namespace.clone(),
        name: item.metadata.name.clone(),
        requests: shape.requests,
        node_selector: shape.node_selector,
        required_node_affinity: shape.affinity,
        tolerations: shape.tolerations,
    }
}

// ------------------------------------------------------------ watch items

/// One object of a Node, Pod or DaemonSet watch, read with the same slim
/// structs as a snapshot list (every unused field skipped while parsing)
/// and converted by the type that asks for it. The controller's watch
/// caches keep only the converted core object.
#[derive(Deserialize, Default)]
#[serde(transparent)]
pub(crate) struct WatchItem(RawItem);

/// What the watcher needs of a watched object's metadata.
pub(crate) struct WatchMeta {
    pub(crate) name: String,
    pub(crate) namespace: String,
    pub(crate) resource_version: String,
}

/// Why a watched object could not be converted: the problems, one line.
fn problems_text(problems: &[ObjectError]) -> String {
    let listed: Vec<String> = problems.iter().map(ToString::to_string).collect();
    listed.join("; ")
}

impl WatchItem {
    fn ctx<'a>(&'a self, kind: &'a str) -> Ctx<'a> {
        Ctx {
            index: 0,
            kind,
            namespace: &self.0.metadata.namespace,
            name: &self.0.metadata.name,
        }
    }

    /// Name, namespace and resourceVersion, moved out.
    pub(crate) fn take_meta(&mut self) -> WatchMeta {
        let m = &mut self.0.metadata;
        WatchMeta {
            name: std::mem::take(&mut m.name),
            namespace: std::mem::take(&mut m.namespace),
            resource_version: std::mem::take(&mut m.resource_version),
        }
    }

    /// The node and its `spec.providerID` (empty when unset).
    pub(crate) fn node(&self, name: &str) -> Result<(Node, String), String> {
        let ctx = Ctx {
            name,
            ..self.ctx("Node")
        };
        let mut p = Problems::new();
        let mut node = node(&ctx, &self.0, &mut p);
        node.name = name.to_string();
        if p.is_empty() {
            Ok((node, self.0.spec.provider_id.clone()))
        } else {
            Err(problems_text(&p))
        }
    }

    /// The pod: bound or not, any phase. Scheduling constraints (selector,
    /// affinity, tolerations) are kept only while it is unbound: nothing
    /// reads them for a pod that has a node.
    pub(crate) fn pod(&self, namespace: &str, name: &str) -> Result<Pod, String> {
        let ctx = Ctx {
            namespace,
            name,
            ..self.ctx("Pod")
        };
        let mut p = Problems::new();
        let item = &self.0;
        let bound = !item.spec.node_name.is_empty();
        let mut out = if bound {
            let shape = pod_shape(&ctx, "spec", &item.spec, &mut p);
            Pod {
                requests: shape.requests,
                node_name: Some(item.spec.node_name.clone()),
                ..Pod::default()
            }
        } else {
            pod(&ctx, item, &mut p)
        };
        out.namespace = namespace.to_string();
        out.name = name.to_string();
        out.phase = match item.status.phase.as_str() {
            "Running" => PodPhase::Running,
            "Succeeded" => PodPhase::Succeeded,
            "Failed" => PodPhase::Failed,
            _ => PodPhase::Pending,
        };
        out.unschedulable = !bound && is_pending(item);
        if p.is_empty() {
            Ok(out)
        } else {
            Err(problems_text(&p))
        }
    }

    /// The DaemonSet's pod template requirements.
    pub(crate) fn daemon_set(&self, namespace: &str, name: &str) -> Result<DaemonSet, String> {
        let ctx = Ctx {
            namespace,
            name,
            ..self.ctx("DaemonSet")
        };
        let mut p = Problems::new();
        let mut ds = daemon_set(&ctx, &self.0, &mut p);
        ds.namespace = namespace.to_string();
        ds.name = name.to_string();
        if p.is_empty() {
            Ok(ds)
        } else {
            Err(problems_text(&p))
        }
    }
}
