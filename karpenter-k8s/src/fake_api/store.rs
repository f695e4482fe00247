//! The object store behind [`FakeApi`](super::FakeApi): kinds, objects kept
//! as serialized JSON, the global resourceVersion, the bounded event
//! history that watches resume from, and the label and field selectors.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use bytes::Bytes;
use serde_json::{Value, json};
use tokio::sync::broadcast;

use super::FakeApiError;

/// The `scale` subresource of a kind: where its replicas live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScaleSubresource {
    /// JSON path of the desired replicas, e.g. `.spec.replicas`.
    pub spec_replicas_path: String,
    /// JSON path of the observed replicas, e.g. `.status.replicas`.
    pub status_replicas_path: String,
    /// JSON path of the label selector: a string, or a `LabelSelector`
    /// object whose `matchLabels` become `k=v,...` (as for Deployments).
    pub label_selector_path: Option<String>,
}

/// A kind the fake server serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceKind {
    /// API group; empty for the core group.
    pub group: String,
    /// API version, e.g. `v1`.
    pub version: String,
    /// Plural resource name used in paths, e.g. `pods`.
    pub plural: String,
    /// Kind, e.g. `Pod`.
    pub kind: String,
    /// Whether objects live in a namespace.
    pub namespaced: bool,
    /// Whether `.status` is a subresource: writes to the main resource
    /// keep the stored status and `/status` writes touch only the status.
    pub status_subresource: bool,
    /// The `scale` subresource, if the kind has one.
    pub scale: Option<ScaleSubresource>,
}

impl ResourceKind {
    /// A kind without subresources.
    pub fn new(group: &str, version: &str, plural: &str, kind: &str, namespaced: bool) -> Self {
        Self {
            group: group.to_string(),
            version: version.to_string(),
            plural: plural.to_string(),
            kind: kind.to_string(),
            namespaced,
            status_subresource: false,
            scale: None,
        }
    }

    /// Adds the `status` subresource.
    pub fn with_status(mut self) -> Self {
        self.status_subresource = true;
        self
    }

    /// Adds the `scale` subresource.
    pub fn with_scale(mut self, spec: &str, status: &str, selector: Option<&str>) -> Self {
        self.scale = Some(ScaleSubresource {
            spec_replicas_path: spec.to_string(),
            status_replicas_path: status.to_string(),
            label_selector_path: selector.map(str::to_string),
        });
        self
    }

    /// `v1` for the core group, `group/version` otherwise.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// Whether `resource` names this kind: `plural` or `plural.group`.
    fn is_named(&self, resource: &str) -> bool {
        match resource.split_once('.') {
            None => resource == self.plural,
            Some((plural, group)) => plural == self.plural && group == self.group,
        }
    }
}

/// The kinds a new [`FakeApi`](super::FakeApi) serves: pods, nodes, v1 and
/// events.k8s.io events, daemonsets, deployments (with scale), leases, and
/// karpenter-rs's three custom resources.
pub fn builtin_kinds() -> Vec<ResourceKind> {
    const KARPENTER: &str = "autoscaling.karpenter.sh";
    vec![
        ResourceKind::new("", "v1", "pods", "Pod", true).with_status(),
        ResourceKind::new("", "v1", "nodes", "Node", false).with_status(),
        ResourceKind::new("", "v1", "events", "Event", true),
        ResourceKind::new("apps", "v1", "daemonsets", "DaemonSet", true).with_status(),
        ResourceKind::new("apps", "v1", "deployments", "Deployment", true)
            .with_status()
            .with_scale(".spec.replicas", ".status.replicas", Some(".spec.selector")),
        ResourceKind::new("coordination.k8s.io", "v1", "leases", "Lease", true),
        ResourceKind::new("events.k8s.io", "v1", "events", "Event", true),
        ResourceKind::new(
            KARPENTER,
            "v1alpha1",
            "horizontalautoscalers",
            "HorizontalAutoscaler",
            true,
        )
        .with_status(),
        ResourceKind::new(
            KARPENTER,
            "v1alpha1",
            "metricsproducers",
            "MetricsProducer",
            true,
        )
        .with_status(),
        ResourceKind::new(
            KARPENTER,
            "v1alpha1",
            "scalablenodegroups",
            "ScalableNodeGroup",
            true,
        )
        .with_status()
        .with_scale(
            ".spec.replicas",
            ".status.replicas",
            Some(".status.selector"),
        ),
    ]
}

/// What happened to an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// Created.
    Added,
    /// Changed.
    Modified,
    /// Deleted.
    Deleted,
}

impl EventType {
    /// The watch event's `type`: `ADDED`, `MODIFIED` or `DELETED`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Added => "ADDED",
            Self::Modified => "MODIFIED",
            Self::Deleted => "DELETED",
        }
    }
}

/// One change to the store, as [`FakeApi::subscribe`](super::FakeApi::subscribe)
/// delivers it (and as watches stream it).
#[derive(Debug)]
pub struct Change {
    /// What happened.
    pub event_type: EventType,
    /// The kind's API group.
    pub group: String,
    /// The kind's plural.
    pub plural: String,
    /// Namespace; empty for cluster-scoped objects.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// The resourceVersion this change created.
    pub resource_version: u64,
    pub(crate) kind_index: usize,
    pub(crate) labels: BTreeMap<String, String>,
    pub(crate) json: Bytes,
    /// `{"type":...,"object":...}\n`, serialized once for every watcher.
    pub(crate) line: Bytes,
}

impl Change {
    /// The object after the change (before it, for a deletion).
    pub fn object(&self) -> Value {
        serde_json::from_slice(&self.json).unwrap_or(Value::Null)
    }
}

/// What watchers receive on the broadcast channel.
#[derive(Debug, Clone)]
pub(crate) enum Signal {
    Change(Arc<Change>),
    /// End every open watch with a 410 Gone error (see `expire_watches`).
    Expire,
    /// Send a BOOKMARK at this resourceVersion to watches that allow them.
    Bookmark(u64),
}

/// A stored object: its JSON text and the labels selectors need.
#[derive(Debug)]
pub(crate) struct Stored {
    pub json: Bytes,
    pub labels: BTreeMap<String, String>,
}

type Key = (String, String);

/// Everything behind the lock.
pub(crate) struct State {
    pub kinds: Vec<ResourceKind>,
    objects: Vec<BTreeMap<Key, Stored>>,
    pub resource_version: u64,
    uids: u64,
    history: VecDeque<Arc<Change>>,
    history_capacity: usize,
    /// Every change after this resourceVersion is in `history`.
    pub history_floor: u64,
    pub signals: broadcast::Sender<Signal>,
}

impl State {
    pub fn new(kinds: Vec<ResourceKind>, history_capacity: usize) -> Self {
        let (signals, _) = broadcast::channel(4096);
        Self {
            objects: kinds.iter().map(|_| BTreeMap::new()).collect(),
            kinds,
            resource_version: 0,
            uids: 0,
            history: VecDeque::new(),
            history_capacity,
            history_floor: 0,
            signals,
        }
    }

    pub fn register(&mut self, kind: ResourceKind) {
        self.kinds.push(kind);
        self.objects.push(BTreeMap::new());
    }

    pub fn kind_index(&self, resource: &str) -> Result<usize, FakeApiError> {
        self.kinds
            .iter()
            .position(|k| k.is_named(resource))
            .ok_or_else(|| FakeApiError::UnknownResource {
                resource: resource.to_string(),
            })
    }

    pub fn get(&self, kind: usize, namespace: &str, name: &str) -> Option<&Stored> {
        self.objects[kind].get(&(namespace.to_string(), name.to_string()))
    }

    pub fn get_value(&self, kind: usize, namespace: &str, name: &str) -> Option<Value> {
        self.get(kind, namespace, name)
            .and_then(|s| serde_json::from_slice(&s.json).ok())
    }

    /// Objects of `kind` in `namespace` (all when `None`) after the key
    /// `after`, in (namespace, name) order.
    pub fn range<'a>(
        &'a self,
        kind: usize,
        namespace: Option<&'a str>,
        after: Option<Key>,
    ) -> impl Iterator<Item = (&'a Key, &'a Stored)> + 'a {
        use std::ops::Bound::{Excluded, Unbounded};
        let start = after.map_or(Unbounded, Excluded);
        self.objects[kind]
            .range((start, Unbounded))
            .filter(move |((ns, _), _)| namespace.is_none_or(|want| want == ns))
    }

    /// Stores `object` (already merged by the caller) under a new
    /// resourceVersion, filling in the server-owned metadata, and tells
    /// watchers. Returns the stored object.
    pub fn commit(
        &mut self,
        kind: usize,
        namespace: &str,
        name: &str,
        mut object: Value,
        old: Option<&Value>,
    ) -> Result<Value, FakeApiError> {
        let k = &self.kinds[kind];
        let Some(obj) = object.as_object_mut() else {
            return Err(FakeApiError::Invalid {
                resource: k.plural.clone(),
                name: name.to_string(),
                reason: "the object is not a JSON object".to_string(),
            });
        };
        obj.insert("apiVersion".into(), json!(k.api_version()));
        obj.insert("kind".into(), json!(k.kind));
        self.resource_version += 1;
        let rv = self.resource_version;
        let old_meta = old.map(|o| &o["metadata"]);
        let generation = match (old, old_meta) {
            (Some(o), Some(m)) => {
                let g = m["generation"].as_u64().unwrap_or(1);
                if o.get("spec") != obj.get("spec") {
                    g + 1
                } else {
                    g
                }
            }
            _ => 1,
        };
        let uid = match old_meta.and_then(|m| m["uid"].as_str()) {
            Some(uid) => uid.to_string(),
            None => {
                self.uids += 1;
                format!("00000000-0000-4000-8000-{:012x}", self.uids)
            }
        };
        let created = old_meta
            .and_then(|m| m["creationTimestamp"].as_str().map(str::to_string))
            .unwrap_or_else(|| {
                chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            });
        let meta = obj.entry("metadata").or_insert_with(|| json!({}));
        if !meta.is_object() {
            *meta = json!({});
        }
        meta["name"] = json!(name);
        if k.namespaced {
            meta["namespace"] = json!(namespace);
        }
        meta["resourceVersion"] = json!(rv.to_string());
        meta["uid"] = json!(uid);
        meta["creationTimestamp"] = json!(created);
        meta["generation"] = json!(generation);
        let labels = labels_of(&object);
        let json = Bytes::from(serde_json::to_vec(&object).unwrap_or_default());
        let event = if old.is_some() {
            EventType::Modified
        } else {
            EventType::Added
        };
        self.objects[kind].insert(
            (namespace.to_string(), name.to_string()),
            Stored {
                json: json.clone(),
                labels: labels.clone(),
            },
        );
        self.publish(kind, event, namespace, name, labels, json);
        Ok(object)
    }

    pub fn remove(&mut self, kind: usize, namespace: &str, name: &str) -> Option<Value> {
        let stored = self.objects[kind].remove(&(namespace.to_string(), name.to_string()))?;
        let mut object: Value = serde_json::from_slice(&stored.json).ok()?;
        self.resource_version += 1;
        object["metadata"]["resourceVersion"] = json!(self.resource_version.to_string());
        let json = Bytes::from(serde_json::to_vec(&object).unwrap_or_default());
        self.publish(
            kind,
            EventType::Deleted,
            namespace,
            name,
            stored.labels,
            json,
        );
        Some(object)
    }

    fn publish(
        &mut self,
        kind: usize,
        event_type: EventType,
        namespace: &str,
        name: &str,
        labels: BTreeMap<String, String>,
        json: Bytes,
    ) {
        let line = watch_line(event_type.as_str(), &json);
        let change = Arc::new(Change {
            event_type,
            group: self.kinds[kind].group.clone(),
            plural: self.kinds[kind].plural.clone(),
            namespace: namespace.to_string(),
            name: name.to_string(),
            resource_version: self.resource_version,
            kind_index: kind,
            labels,
            json,
            line,
        });
        if self.history.len() >= self.history_capacity
            && let Some(dropped) = self.history.pop_front()
        {
            self.history_floor = dropped.resource_version;
        }
        self.history.push_back(change.clone());
        // No receivers is not an error: nobody watches yet.
        let _ = self.signals.send(Signal::Change(change));
    }

    /// The history after `resource_version`, or `None` when part of it has
    /// been dropped (the watch must answer 410 Gone).
    pub fn history_after(&self, resource_version: u64) -> Option<Vec<Arc<Change>>> {
        if resource_version < self.history_floor {
            return None;
        }
        Some(
            self.history
                .iter()
                .filter(|c| c.resource_version > resource_version)
                .cloned()
                .collect(),
        )
    }

    /// Forgets the history, as an etcd compaction does.
    pub fn compact(&mut self) {
        self.history.clear();
        self.history_floor = self.resource_version;
    }
}

/// `{"type":T,"object":JSON}\n`.
pub(crate) fn watch_line(event_type: &str, json: &[u8]) -> Bytes {
    let mut line = Vec::with_capacity(json.len() + 32);
    line.extend_from_slice(b"{\"type\":\"");
    line.extend_from_slice(event_type.as_bytes());
    line.extend_from_slice(b"\",\"object\":");
    line.extend_from_slice(json);
    line.extend_from_slice(b"}\n");
    Bytes::from(line)
}

fn labels_of(object: &Value) -> BTreeMap<String, String> {
    object["metadata"]["labels"]
        .as_object()
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

/// One term of a label or field selector.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Term {
    Equals(String, String),
    NotEquals(String, String),
    Exists(String),
    NotExists(String),
}

/// A parsed `labelSelector` plus `fieldSelector` (equality-based terms).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Selector {
    labels: Vec<Term>,
    fields: Vec<Term>,
}

impl Selector {
    pub fn parse(label: Option<&str>, field: Option<&str>) -> Result<Self, String> {
        Ok(Self {
            labels: parse_terms(label.unwrap_or(""), true)?,
            fields: parse_terms(field.unwrap_or(""), false)?,
        })
    }

    pub fn matches(
        &self,
        namespace: &str,
        name: &str,
        labels: &BTreeMap<String, String>,
        json: &[u8],
    ) -> bool {
        let label_ok = self.labels.iter().all(|t| match t {
            Term::Equals(k, v) => labels.get(k) == Some(v),
            Term::NotEquals(k, v) => labels.get(k) != Some(v),
            Term::Exists(k) => labels.contains_key(k),
            Term::NotExists(k) => !labels.contains_key(k),
        });
        if !label_ok || self.fields.is_empty() {
            return label_ok;
        }
        let mut parsed: Option<Value> = None;
        self.fields.iter().all(|t| {
            let (Term::Equals(path, want) | Term::NotEquals(path, want)) = t else {
                return true;
            };
            let actual = match path.as_str() {
                "metadata.name" => name.to_string(),
                "metadata.namespace" => namespace.to_string(),
                _ => {
                    let obj = parsed
                        .get_or_insert_with(|| serde_json::from_slice(json).unwrap_or(Value::Null));
                    let v = path.split('.').fold(&*obj, |v, part| &v[part]);
                    match v {
                        Value::String(s) => s.clone(),
                        Value::Null => String::new(),
                        other => other.to_string(),
                    }
                }
            };
            matches!(t, Term::Equals(..)) == (&actual == want)
        })
    }
}

fn parse_terms(selector: &str, allow_exists: bool) -> Result<Vec<Term>, String> {
    let mut terms = Vec::new();
    for raw in selector.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        let term = if let Some((k, v)) = raw.split_once("!=") {
            Term::NotEquals(k.trim().to_string(), v.trim().to_string())
        } else if let Some((k, v)) = raw.split_once("==").or_else(|| raw.split_once('=')) {
            Term::Equals(k.trim().to_string(), v.trim().to_string())
        } else if raw.contains(['(', ' ']) {
            return Err(format!(
                "selector term {raw:?}: set-based selectors (in, notin) are not supported; use k=v"
            ));
        } else if !allow_exists {
            return Err(format!(
                "field selector term {raw:?} must be field=value or field!=value"
            ));
        } else if let Some(k) = raw.strip_prefix('!') {
            Term::NotExists(k.to_string())
        } else {
            Term::Exists(raw.to_string())
        };
        terms.push(term);
    }
    Ok(terms)
}

/// Reads the value at a `.a.b.c` path.
pub(crate) fn at_path<'a>(object: &'a Value, path: &str) -> &'a Value {
    path.split('.')
        .filter(|p| !p.is_empty())
        .fold(object, |v, part| &v[part])
}

/// Sets the value at a `.a.b.c` path, creating objects on the way.
pub(crate) fn set_path(object: &mut Value, path: &str, value: Value) {
    let mut cur = object;
    for part in path.split('.').filter(|p| !p.is_empty()) {
        if !cur.is_object() {
            *cur = json!({});
        }
        let Value::Object(map) = cur else { return };
        cur = map.entry(part).or_insert(Value::Null);
    }
    *cur = value;
}

/// Label selector string of a scale subresource: a string as is, a
/// `LabelSelector`'s `matchLabels` as `k=v,...`.
pub(crate) fn selector_string(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Object(_) => value["matchLabels"].as_object().map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect::<Vec<_>>()
                .join(",")
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn label_selectors_match_by_equality_and_existence() {
        let l = labels(&[("app", "web"), ("tier", "front")]);
        let cases = [
            ("app=web", true),
            ("app==web,tier=front", true),
            ("app=db", false),
            ("app!=db", true),
            ("tier", true),
            ("!tier", false),
            ("missing", false),
            ("", true),
        ];
        for (sel, want) in cases {
            let s = Selector::parse(Some(sel), None).unwrap();
            assert_eq!(s.matches("ns", "n", &l, b"{}"), want, "{sel}");
        }
        assert!(Selector::parse(Some("app in (a,b)"), None).is_err());
    }

    #[test]
    fn field_selectors_read_metadata_and_paths() {
        let json = br#"{"spec":{"nodeName":"node-1"},"status":{"phase":"Pending"}}"#;
        let cases = [
            ("metadata.name=p1", true),
            ("metadata.name=p2", false),
            ("metadata.namespace=ns", true),
            ("spec.nodeName=node-1", true),
            ("spec.nodeName!=node-1", false),
            ("spec.nodeName=,status.phase=Pending", false),
            ("status.phase=Pending", true),
        ];
        for (sel, want) in cases {
            let s = Selector::parse(None, Some(sel)).unwrap();
            assert_eq!(s.matches("ns", "p1", &BTreeMap::new(), json), want, "{sel}");
        }
    }

    #[test]
    fn paths_set_and_read_nested_values() {
        let mut v = json!({"spec": {}});
        set_path(&mut v, ".spec.replicas", json!(3));
        set_path(&mut v, ".status.replicas", json!(2));
        assert_eq!(
            v,
            json!({"spec": {"replicas": 3}, "status": {"replicas": 2}})
        );
        assert_eq!(at_path(&v, ".spec.replicas"), &json!(3));
        assert_eq!(
            selector_string(&json!({"matchLabels": {"a": "1", "b": "2"}})).as_deref(),
            Some("a=1,b=2")
        );
    }

    #[test]
    fn history_floor_moves_when_history_overflows() {
        let mut s = State::new(builtin_kinds(), 2);
        let pods = s.kind_index("pods").unwrap();
        for i in 0..3 {
            s.commit(pods, "ns", &format!("p{i}"), json!({}), None)
                .unwrap();
        }
        assert_eq!(s.resource_version, 3);
        assert!(s.history_after(0).is_none());
        assert_eq!(s.history_after(1).unwrap().len(), 2);
        assert_eq!(s.history_after(2).unwrap().len(), 1);
    }
}
