//! The cluster as the producers see it, kept current by Node, Pod and
//! DaemonSet watches.
//!
//! Watched objects are read into slim structs (every field the producers do
//! not use is skipped while parsing) and kept as core types only:
//!
//! - nodes, whole (a few thousand), with their `spec.providerID`;
//! - pending pods, whole (what the pending-capacity assignment reads);
//! - every other pod as its node, its effective request and whether it is
//!   live: about 100 bytes, which is what lets 150,000 pods fit in the
//!   memory budget (BENCHMARKS.md);
//! - DaemonSets' pod-template requirements;
//! - one [`ReservedCapacityIndex`] per node selector that a
//!   `reservedCapacity` producer uses, updated by every event, so reserved
//!   capacity is never recounted from a snapshot.
//!
//! An object that cannot be converted (a malformed quantity, an unknown
//! taint effect) is logged and left out; it never stops the watch.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use karpenter_core::cluster::{ClusterSnapshot, DaemonSet, Node, Pod, PodPhase, Resources};
use karpenter_core::producers::ReservedCapacity;
use karpenter_core::producers::pending_capacity::is_pending;
use karpenter_core::producers::reserved_capacity::ReservedCapacityIndex;
use kube::core::{ClusterResourceScope, NamespaceResourceScope};
use kube::runtime::watcher;
use serde::{Deserialize, Deserializer};
use tokio::sync::watch;

use crate::pending::snapshot::{WatchItem, WatchMeta};

fn object_meta(m: WatchMeta) -> ObjectMeta {
    let some = |s: String| (!s.is_empty()).then_some(s);
    ObjectMeta {
        name: some(m.name),
        namespace: some(m.namespace),
        resource_version: some(m.resource_version),
        ..ObjectMeta::default()
    }
}

macro_rules! watched {
    ($ty:ident, $field:ident, $out:ty, $kind:literal, $group:literal, $version:literal, $plural:literal, $scope:ty, |$item:ident, $meta:ident| $convert:expr) => {
        #[doc = concat!("A ", $kind, " as its watch delivers it: name, namespace and resourceVersion, and the converted object or why it could not be converted.")]
        #[derive(Debug, Clone)]
        pub struct $ty {
            metadata: ObjectMeta,
            #[doc = concat!("The converted ", $kind, ", or why it could not be.")]
            pub $field: Result<$out, String>,
        }

        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let mut $item = WatchItem::deserialize(d)?;
                let $meta = $item.take_meta();
                let $field = $convert;
                Ok(Self {
                    metadata: object_meta($meta),
                    $field,
                })
            }
        }

        impl kube::Resource for $ty {
            type DynamicType = ();
            type Scope = $scope;
            fn kind(_: &()) -> Cow<'_, str> {
                Cow::Borrowed($kind)
            }
            fn group(_: &()) -> Cow<'_, str> {
                Cow::Borrowed($group)
            }
            fn version(_: &()) -> Cow<'_, str> {
                Cow::Borrowed($version)
            }
            fn plural(_: &()) -> Cow<'_, str> {
                Cow::Borrowed($plural)
            }
            fn meta(&self) -> &ObjectMeta {
                &self.metadata
            }
            fn meta_mut(&mut self) -> &mut ObjectMeta {
                &mut self.metadata
            }
        }
    };
}

watched!(
    WatchedNode,
    node,
    (Node, String),
    "Node",
    "",
    "v1",
    "nodes",
    ClusterResourceScope,
    |item, meta| item.node(&meta.name)
);
watched!(
    WatchedPod,
    pod,
    Pod,
    "Pod",
    "",
    "v1",
    "pods",
    NamespaceResourceScope,
    |item, meta| item.pod(&meta.namespace, &meta.name)
);
watched!(
    WatchedDaemonSet,
    daemon_set,
    DaemonSet,
    "DaemonSet",
    "apps",
    "v1",
    "daemonsets",
    NamespaceResourceScope,
    |item, meta| item.daemon_set(&meta.namespace, &meta.name)
);

type PodKey = (String, String);

/// What is kept of a pod that is not pending.
#[derive(Debug, Clone)]
struct PodEntry {
    node: Option<Box<str>>,
    requests: Resources,
    phase: PodPhase,
}

impl PodEntry {
    fn to_pod(&self, namespace: &str, name: &str) -> Pod {
        Pod {
            namespace: namespace.to_string(),
            name: name.to_string(),
            node_name: self.node.as_deref().map(str::to_string),
            requests: self.requests,
            phase: self.phase,
            ..Pod::default()
        }
    }
}

/// Which watches have finished their initial list.
#[derive(Debug, Default, Clone, Copy)]
struct Synced {
    nodes: bool,
    pods: bool,
    daemon_sets: bool,
}

#[derive(Default)]
struct State {
    nodes: HashMap<String, Node>,
    /// Node name -> `spec.providerID`.
    provider_ids: HashMap<String, String>,
    pods: HashMap<PodKey, PodEntry>,
    pending: HashMap<PodKey, Pod>,
    daemon_sets: HashMap<PodKey, DaemonSet>,
    reserved: Vec<ReservedCapacityIndex>,
    synced: Synced,
    /// Keys seen since each watch's last `Init` (a relist): what is not
    /// seen again by `InitDone` was deleted meanwhile.
    relist_nodes: Option<HashSet<String>>,
    relist_pods: Option<HashSet<PodKey>>,
    relist_daemon_sets: Option<HashSet<PodKey>>,
}

/// The watch-fed cluster cache. Cheap to share (`Arc`).
pub struct ClusterCache {
    state: Mutex<State>,
    /// Bumped on every change a pending or reserved capacity producer could
    /// see.
    changed: watch::Sender<u64>,
    /// Bumped when a node appears, goes, or changes readiness or
    /// provider ID: what a node group's ready count reads.
    readiness: watch::Sender<u64>,
}

impl Default for ClusterCache {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for ClusterCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.lock();
        f.debug_struct("ClusterCache")
            .field("nodes", &s.nodes.len())
            .field("pods", &s.pods.len())
            .field("pending", &s.pending.len())
            .field("daemon_sets", &s.daemon_sets.len())
            .finish()
    }
}

/// What the cache holds, for logs and benchmarks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheCounts {
    /// Nodes.
    pub nodes: usize,
    /// Pods of any phase, pending ones included.
    pub pods: usize,
    /// Pending-unschedulable pods.
    pub pending: usize,
    /// DaemonSets.
    pub daemon_sets: usize,
}

impl ClusterCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self {
            state: Mutex::new(State::default()),
            changed: watch::channel(0).0,
            readiness: watch::channel(0).0,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the maps half-updated
        // in a way later reads care about more than a stale entry.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn bump(&self) {
        self.changed.send_modify(|g| *g = g.wrapping_add(1));
    }

    /// A receiver that sees every change of which nodes are Ready, by
    /// provider ID.
    pub fn subscribe_readiness(&self) -> watch::Receiver<u64> {
        self.readiness.subscribe()
    }

    /// A receiver that sees every change producers could notice.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// Whether the three watches have each listed once.
    pub fn is_synced(&self) -> bool {
        let s = self.lock().synced;
        s.nodes && s.pods && s.daemon_sets
    }

    /// How much the cache holds.
    pub fn counts(&self) -> CacheCounts {
        let s = self.lock();
        CacheCounts {
            nodes: s.nodes.len(),
            pods: s.pods.len() + s.pending.len(),
            pending: s.pending.values().filter(|p| is_pending(p)).count(),
            daemon_sets: s.daemon_sets.len(),
        }
    }

    /// Applies one Node watch event.
    pub fn node_event(&self, event: watcher::Event<WatchedNode>) {
        let mut s = self.lock();
        let nodes_before = s.nodes.len();
        let mut readiness_changed = false;
        match event {
            watcher::Event::Init => s.relist_nodes = Some(HashSet::new()),
            watcher::Event::InitApply(n) | watcher::Event::Apply(n) => {
                let name = n.metadata.name.clone().unwrap_or_default();
                if let Some(seen) = &mut s.relist_nodes {
                    seen.insert(name.clone());
                }
                match n.node {
                    Ok((node, provider_id)) => {
                        for index in &mut s.reserved {
                            index.apply_node(&node);
                        }
                        readiness_changed = s.nodes.get(&name).map(|n| n.ready) != Some(node.ready)
                            || s.provider_ids.get(&name).map(String::as_str)
                                != Some(provider_id.as_str()).filter(|p| !p.is_empty());
                        if provider_id.is_empty() {
                            s.provider_ids.remove(&name);
                        } else {
                            s.provider_ids.insert(name.clone(), provider_id);
                        }
                        s.nodes.insert(name, node);
                    }
                    Err(e) => {
                        tracing::warn!(node = %name, error = %e, "node left out of the cluster cache");
                        remove_node(&mut s, &name);
                    }
                }
            }
            watcher::Event::Delete(n) => {
                let name = n.metadata.name.unwrap_or_default();
                remove_node(&mut s, &name);
            }
            watcher::Event::InitDone => {
                if let Some(seen) = s.relist_nodes.take() {
                    let gone: Vec<String> = s
                        .nodes
                        .keys()
                        .filter(|k| !seen.contains(*k))
                        .cloned()
                        .collect();
                    for name in gone {
                        remove_node(&mut s, &name);
                    }
                }
                s.synced.nodes = true;
            }
        }
        let readiness_changed = readiness_changed || s.nodes.len() != nodes_before;
        drop(s);
        if readiness_changed {
            self.readiness.send_modify(|g| *g = g.wrapping_add(1));
        }
        self.bump();
    }

    /// Applies one Pod watch event.
    pub fn pod_event(&self, event: watcher::Event<WatchedPod>) {
        let mut s = self.lock();
        let mut relevant = true;
        match event {
            watcher::Event::Init => s.relist_pods = Some(HashSet::new()),
            watcher::Event::InitApply(p) | watcher::Event::Apply(p) => {
                let key = (
                    p.metadata.namespace.clone().unwrap_or_default(),
                    p.metadata.name.clone().unwrap_or_default(),
                );
                if let Some(seen) = &mut s.relist_pods {
                    seen.insert(key.clone());
                }
                match p.pod {
                    Ok(pod) => relevant = apply_pod(&mut s, key, pod),
                    Err(e) => {
                        tracing::warn!(pod = %format!("{}/{}", key.0, key.1), error = %e, "pod left out of the cluster cache");
                        remove_pod(&mut s, &key);
                    }
                }
            }
            watcher::Event::Delete(p) => {
                let key = (
                    p.metadata.namespace.unwrap_or_default(),
                    p.metadata.name.unwrap_or_default(),
                );
                remove_pod(&mut s, &key);
            }
            watcher::Event::InitDone => {
                if let Some(seen) = s.relist_pods.take() {
                    let gone: Vec<PodKey> = s
                        .pods
                        .keys()
                        .chain(s.pending.keys())
                        .filter(|k| !seen.contains(*k))
                        .cloned()
                        .collect();
                    for key in gone {
                        remove_pod(&mut s, &key);
                    }
                }
                s.synced.pods = true;
            }
        }
        drop(s);
        if relevant {
            self.bump();
        }
    }

    /// Applies one DaemonSet watch event.
    pub fn daemon_set_event(&self, event: watcher::Event<WatchedDaemonSet>) {
        let mut s = self.lock();
        match event {
            watcher::Event::Init => s.relist_daemon_sets = Some(HashSet::new()),
            watcher::Event::InitApply(d) | watcher::Event::Apply(d) => {
                let key = (
                    d.metadata.namespace.clone().unwrap_or_default(),
                    d.metadata.name.clone().unwrap_or_default(),
                );
                if let Some(seen) = &mut s.relist_daemon_sets {
                    seen.insert(key.clone());
                }
                match d.daemon_set {
                    Ok(ds) => {
                        s.daemon_sets.insert(key, ds);
                    }
                    Err(e) => {
                        tracing::warn!(daemonset = %format!("{}/{}", key.0, key.1), error = %e, "DaemonSet left out of the cluster cache");
                        s.daemon_sets.remove(&key);
                    }
                }
            }
            watcher::Event::Delete(d) => {
                let key = (
                    d.metadata.namespace.unwrap_or_default(),
                    d.metadata.name.unwrap_or_default(),
                );
                s.daemon_sets.remove(&key);
            }
            watcher::Event::InitDone => {
                if let Some(seen) = s.relist_daemon_sets.take() {
                    s.daemon_sets.retain(|k, _| seen.contains(k));
                }
                s.synced.daemon_sets = true;
            }
        }
        drop(s);
        self.bump();
    }

    /// What the producers of one round read: a snapshot of the nodes, the
    /// pending pods and the DaemonSets (no other pod: nothing reads them
    /// from a snapshot here), and the reserved capacity of each selector in
    /// `selectors` from its index (built on first use, dropped when no
    /// selector asks for it any more).
    pub fn producer_view(
        &self,
        selectors: &[&BTreeMap<String, String>],
    ) -> (ClusterSnapshot, Vec<ReservedCapacity>) {
        let mut s = self.lock();
        s.reserved
            .retain(|i| selectors.iter().any(|sel| *sel == i.node_selector()));
        for sel in selectors {
            if !s.reserved.iter().any(|i| i.node_selector() == *sel) {
                let index = build_index(&s, sel);
                s.reserved.push(index);
            }
        }
        let snapshot = ClusterSnapshot {
            nodes: s.nodes.values().cloned().collect(),
            pods: s.pending.values().cloned().collect(),
            daemon_sets: s.daemon_sets.values().cloned().collect(),
        };
        let reserved = s
            .reserved
            .iter()
            .map(ReservedCapacityIndex::result)
            .collect();
        (snapshot, reserved)
    }

    /// How many of `provider_ids` belong to a Ready node.
    pub fn ready_instances<'a>(&self, provider_ids: impl IntoIterator<Item = &'a str>) -> i32 {
        let s = self.lock();
        let ready: HashSet<&str> = s
            .provider_ids
            .iter()
            .filter(|(node, _)| s.nodes.get(*node).is_some_and(|n| n.ready))
            .map(|(_, id)| id.as_str())
            .collect();
        let count = provider_ids
            .into_iter()
            .filter(|id| ready.contains(id))
            .count();
        i32::try_from(count).unwrap_or(i32::MAX)
    }
}

fn remove_node(s: &mut State, name: &str) {
    if s.nodes.remove(name).is_some() {
        for index in &mut s.reserved {
            index.delete_node(name);
        }
    }
    s.provider_ids.remove(name);
}

/// Stores `pod` under `key`; whether a producer could notice (a pending
/// pod came, went or changed, or a bound pod's request moved).
fn apply_pod(s: &mut State, key: PodKey, pod: Pod) -> bool {
    for index in &mut s.reserved {
        index.apply_pod(&pod);
    }
    if pod.node_name.is_none() {
        s.pods.remove(&key);
        s.pending.insert(key, pod);
        return true;
    }
    let was_pending = s.pending.remove(&key).is_some();
    let entry = PodEntry {
        node: pod.node_name.map(String::into_boxed_str),
        requests: pod.requests,
        phase: pod.phase,
    };
    let changed = match s.pods.get(&key) {
        Some(old) => {
            old.node != entry.node || old.requests != entry.requests || old.phase != entry.phase
        }
        None => true,
    };
    s.pods.insert(key, entry);
    was_pending || (changed && !s.reserved.is_empty())
}

fn remove_pod(s: &mut State, key: &PodKey) {
    let was = s.pods.remove(key).is_some() | s.pending.remove(key).is_some();
    if was {
        for index in &mut s.reserved {
            index.delete_pod(&key.0, &key.1);
        }
    }
}

fn build_index(s: &State, selector: &BTreeMap<String, String>) -> ReservedCapacityIndex {
    let nodes = ClusterSnapshot {
        nodes: s.nodes.values().cloned().collect(),
        ..ClusterSnapshot::default()
    };
    let mut index = ReservedCapacityIndex::new(&nodes, selector);
    for ((ns, name), entry) in &s.pods {
        index.apply_pod(&entry.to_pod(ns, name));
    }
    for pod in s.pending.values() {
        index.apply_pod(pod);
    }
    index
}

/// Shared handle.
pub type SharedCache = Arc<ClusterCache>;

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn pod_json(name: &str, node: Option<&str>, phase: &str, cpu: &str) -> serde_json::Value {
        let mut v = serde_json::json!({
            "metadata": {"name": name, "namespace": "default", "resourceVersion": "7",
                         "labels": {"app": "x"}, "managedFields": [{"manager": "kubelet"}]},
            "spec": {"containers": [{"name": "app", "image": "nginx",
                      "resources": {"requests": {"cpu": cpu, "memory": "1Gi"}}}],
                     "tolerations": [{"key": "a", "operator": "Exists"}]},
            "status": {"phase": phase}
        });
        if let Some(n) = node {
            v["spec"]["nodeName"] = n.into();
        } else {
            v["status"]["conditions"] = serde_json::json!([
                {"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}]);
        }
        v
    }

    fn node_json(name: &str, ready: bool) -> serde_json::Value {
        serde_json::json!({
            "metadata": {"name": name, "resourceVersion": "3", "labels": {"group": "ml"}},
            "spec": {"providerID": format!("fake:///{name}")},
            "status": {"allocatable": {"cpu": "4", "memory": "16Gi", "pods": "110"},
                       "conditions": [{"type": "Ready", "status": if ready {"True"} else {"False"}}]}
        })
    }

    fn watched<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> T {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn watched_objects_keep_only_what_producers_read() {
        let p: WatchedPod = watched(pod_json("a", Some("n1"), "Running", "500m"));
        assert_eq!(
            kube::Resource::meta(&p).resource_version.as_deref(),
            Some("7")
        );
        let pod = p.pod.unwrap();
        assert_eq!(pod.node_name.as_deref(), Some("n1"));
        assert_eq!(pod.requests, Resources::new(500, 1 << 30, 1));
        assert_eq!(pod.phase, PodPhase::Running);
        // Bound: scheduling constraints are not kept.
        assert!(pod.tolerations.is_empty());

        let p: WatchedPod = watched(pod_json("b", None, "Pending", "1"));
        let pod = p.pod.unwrap();
        assert!(is_pending(&pod));
        assert_eq!(pod.tolerations.len(), 1);

        let bad: WatchedPod = watched(pod_json("c", None, "Pending", "lots"));
        assert!(bad.pod.unwrap_err().contains("cpu"), "names the field");

        let n: WatchedNode = watched(node_json("n1", true));
        let (node, provider_id) = n.node.unwrap();
        assert_eq!(
            (node.name.as_str(), provider_id.as_str()),
            ("n1", "fake:///n1")
        );
        assert_eq!(node.allocatable, Resources::new(4_000, 16 << 30, 110));
    }

    #[test]
    fn events_keep_pending_pods_reserved_sums_and_ready_instances() {
        let cache = ClusterCache::new();
        let mut rx = cache.subscribe();
        cache.node_event(watcher::Event::Init);
        cache.node_event(watcher::Event::InitApply(watched(node_json("n1", true))));
        cache.node_event(watcher::Event::InitApply(watched(node_json("n2", false))));
        cache.node_event(watcher::Event::InitDone);
        cache.pod_event(watcher::Event::Init);
        cache.pod_event(watcher::Event::InitApply(watched(pod_json(
            "a",
            Some("n1"),
            "Running",
            "1",
        ))));
        cache.pod_event(watcher::Event::InitApply(watched(pod_json(
            "b", None, "Pending", "2",
        ))));
        cache.pod_event(watcher::Event::InitDone);
        assert!(!cache.is_synced(), "DaemonSets have not listed yet");
        cache.daemon_set_event(watcher::Event::Init);
        cache.daemon_set_event(watcher::Event::InitDone);
        assert!(cache.is_synced());
        assert!(rx.has_changed().unwrap());
        rx.mark_unchanged();

        let ml = BTreeMap::from([("group".to_string(), "ml".to_string())]);
        let (snapshot, reserved) = cache.producer_view(&[&ml]);
        assert_eq!(snapshot.nodes.len(), 2);
        assert_eq!(snapshot.pods.len(), 1, "only the pending pod");
        // n2 is not Ready: only n1 counts, with pod a on it.
        assert_eq!(reserved[0].capacity.cpu_millis, 4_000);
        assert_eq!(reserved[0].reserved.cpu_millis, 1_000);

        // b gets scheduled onto n1: no longer pending, now reserved.
        cache.pod_event(watcher::Event::Apply(watched(pod_json(
            "b",
            Some("n1"),
            "Running",
            "2",
        ))));
        assert!(rx.has_changed().unwrap());
        let (snapshot, reserved) = cache.producer_view(&[&ml]);
        assert!(snapshot.pods.is_empty());
        assert_eq!(reserved[0].reserved.cpu_millis, 3_000);
        assert_eq!(cache.counts().pods, 2);

        // A relist that no longer has pod a: it was deleted meanwhile.
        cache.pod_event(watcher::Event::Init);
        cache.pod_event(watcher::Event::InitApply(watched(pod_json(
            "b",
            Some("n1"),
            "Running",
            "2",
        ))));
        cache.pod_event(watcher::Event::InitDone);
        let (_, reserved) = cache.producer_view(&[&ml]);
        assert_eq!(reserved[0].reserved.cpu_millis, 2_000);
        assert_eq!(cache.counts().pods, 1);

        assert_eq!(
            cache.ready_instances(["fake:///n1", "fake:///n2", "fake:///n9"]),
            1
        );

        // Readiness: a heartbeat-only update says nothing; n2 turning
        // Ready does.
        let readiness = cache.subscribe_readiness();
        cache.node_event(watcher::Event::Apply(watched(node_json("n1", true))));
        assert!(!readiness.has_changed().unwrap());
        cache.node_event(watcher::Event::Apply(watched(node_json("n2", true))));
        assert!(readiness.has_changed().unwrap());
        assert_eq!(cache.ready_instances(["fake:///n1", "fake:///n2"]), 2);
    }
}
