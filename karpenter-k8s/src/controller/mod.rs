//! The Kubernetes controllers: ScalableNodeGroup, HorizontalAutoscaler and
//! MetricsProducer, each a thin shell around its core reconcile function
//! ([`karpenter_core::reconcile`]), fed by watches.
//!
//! | controller | runs | reads | writes |
//! |---|---|---|---|
//! | ScalableNodeGroup | on a spec change, and every `node_group_sync_period` | the provider; Nodes (ready instances) | the provider's size; `status` |
//! | HorizontalAutoscaler | on a spec change, when a gauge it reads in process changes, and every `sync_period` | the target's `scale` subresource; each metric | the target's `scale`; `status` (history by the persist policy) |
//! | MetricsProducer | on a spec change, on Node/Pod/DaemonSet events (debounced) for capacity producers, and every `producer_sync_period` | queues; the watch caches | gauges; `status` |
//!
//! **Status** is written with JSON merge patches on the `status`
//! subresource; a failed patch (a conflict, a 5xx, a timeout) is retried
//! with backoff, and the controller's own copy of the status stays the
//! truth meanwhile, so nothing is lost. **Events** (`events.k8s.io/v1`) are
//! recorded for every scale and every failure. **History**: a
//! HorizontalAutoscaler's decision history is written into its status when
//! the desired size changes, when the stabilization window's highest or
//! lowest recommendation changes, and otherwise at most every
//! `history_persist_interval`; a restarted controller reads it back, so it
//! can forget at most the recommendations of that last interval, and none
//! that would have changed a decision (docs/kubernetes.md).
//!
//! The reaction path: a Pod watch event that makes a pod unschedulable
//! wakes the MetricsProducer loop (after `debounce`); a changed
//! pending-capacity gauge wakes the autoscalers that read it through an
//! exact selector, answered in process ([`local`]); their `scale` write
//! comes back as a ScalableNodeGroup watch event, whose reconcile calls the
//! provider. BENCHMARKS.md has the measured latency.
//!
//! ```no_run
//! use std::sync::Arc;
//! use karpenter_core::provider::ProviderRegistry;
//! use karpenter_fake::{FakeMetricStore, FakeProvider};
//! use karpenter_k8s::controller::{Controller, ControllerConfig, NodeGroupsAndQueues};
//! use karpenter_k8s::prometheus::Metrics;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let client = kube::Client::try_default().await?;
//! let mut registry = ProviderRegistry::new();
//! // The fake's node groups and queues; the controller serves `prometheus`.
//! let fake = FakeProvider::new(FakeMetricStore::new());
//! registry.register(Arc::new(NodeGroupsAndQueues(Arc::new(fake))))?;
//! let metrics = Arc::new(Metrics::new());
//! let controller = Controller::new(client, registry, metrics, None, ControllerConfig::default())?;
//! controller.run(tokio_util::sync::CancellationToken::new()).await;
//! # Ok(()) }
//! ```

pub mod cache;
pub mod cli;
pub mod leader;
pub mod local;
pub mod scale;
pub mod store;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use futures_util::stream;
use karpenter_core::api::ValidationErrors;
use karpenter_core::api::v1alpha1 as core;
use karpenter_core::api::v1alpha1::{Condition, ConditionStatus, set_condition};
use karpenter_core::clock::{Clock, SystemClock};
use karpenter_core::producers::{PendingAssignment, ProducerContext};
use karpenter_core::provider::{
    CloudProvider, NodeGroup, ProviderRegistry, ProviderResult, Queue, Scale, ScaleTarget,
};
use karpenter_core::reconcile::{
    AutoscalerContext, NodeGroupContext, ObjectKey, ReconcileError, ScaleWrite,
    reconcile_autoscaler, reconcile_node_group, reconcile_producer,
};
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, Resource};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::crd;
use crate::prometheus::{Metrics, PrometheusSource, ReconcileKind, ReconcileResult};
use cache::{ClusterCache, WatchedDaemonSet, WatchedNode, WatchedPod};
use local::{LocalFirstProvider, LocalFirstSource, exact_selector};
use scale::{TargetResolver, Unresolved};
use store::{Change, Lenient, PerObject, Store, key_of};

/// How the controllers run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControllerConfig {
    /// Watch one namespace, or all (`None`).
    pub namespace: Option<String>,
    /// How often every HorizontalAutoscaler decides (the HPA's 15 s).
    pub sync_period: Duration,
    /// How often every ScalableNodeGroup is refreshed.
    pub node_group_sync_period: Duration,
    /// How often every MetricsProducer is evaluated.
    pub producer_sync_period: Duration,
    /// The longest a HorizontalAutoscaler's history goes unwritten.
    pub history_persist_interval: Duration,
    /// How long capacity producers wait after a Node/Pod/DaemonSet event
    /// for more events before evaluating once for all of them.
    pub debounce: Duration,
    /// Reconciles of one kind running at once.
    pub concurrency: usize,
    /// The name Events are reported under, and this replica's instance.
    pub reporter: String,
    /// This replica (the pod name), for Events.
    pub instance: Option<String>,
}

impl Default for ControllerConfig {
    fn default() -> Self {
        Self {
            namespace: None,
            sync_period: Duration::from_secs(15),
            node_group_sync_period: Duration::from_secs(60),
            producer_sync_period: Duration::from_secs(10),
            history_persist_interval: Duration::from_secs(60),
            debounce: Duration::from_millis(10),
            concurrency: 16,
            reporter: "karpenter".to_string(),
            instance: None,
        }
    }
}

/// Why the controller could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ControllerError {
    /// The provider registry already serves the `prometheus` source.
    #[error(
        "cannot register the in-process Prometheus source: {0}; do not register another provider for the prometheus metric source"
    )]
    Registry(#[from] karpenter_core::provider::RegistryError),
}

/// A provider's node groups and queues without its metric sources: the
/// controller serves `prometheus` itself ([`local`]), so a provider that
/// also claims it (the fake does) is registered through this.
#[derive(Clone)]
pub struct NodeGroupsAndQueues(pub Arc<dyn CloudProvider>);

impl std::fmt::Debug for NodeGroupsAndQueues {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NodeGroupsAndQueues({})", self.0.name())
    }
}

impl CloudProvider for NodeGroupsAndQueues {
    fn name(&self) -> String {
        self.0.name()
    }
    fn node_group_types(&self) -> Vec<String> {
        self.0.node_group_types()
    }
    fn queue_types(&self) -> Vec<String> {
        self.0.queue_types()
    }
    fn metric_source_types(&self) -> Vec<String> {
        Vec::new()
    }
    fn validate_node_group(&self, spec: &core::ScalableNodeGroupSpec) -> ProviderResult<()> {
        self.0.validate_node_group(spec)
    }
    fn validate_queue(&self, spec: &core::QueueSpec) -> ProviderResult<()> {
        self.0.validate_queue(spec)
    }
    fn node_group(&self, spec: &core::ScalableNodeGroupSpec) -> ProviderResult<Arc<dyn NodeGroup>> {
        self.0.node_group(spec)
    }
    fn queue(&self, spec: &core::QueueSpec) -> ProviderResult<Arc<dyn Queue>> {
        self.0.queue(spec)
    }
}

/// What the controller last wrote for one HorizontalAutoscaler's history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Persisted {
    desired: i32,
    window: Option<(i32, i32)>,
    at: DateTime<Utc>,
}

/// The three controllers over one client.
pub struct Controller {
    client: Client,
    registry: ProviderRegistry,
    metrics: Arc<Metrics>,
    cache: Arc<ClusterCache>,
    clock: Arc<dyn Clock>,
    config: ControllerConfig,
    recorder: Recorder,
    resolver: TargetResolver,
    node_groups: Store<crd::ScalableNodeGroup>,
    autoscalers: Store<crd::HorizontalAutoscaler>,
    producers: Store<crd::MetricsProducer>,
    ng_status: PerObject<core::ScalableNodeGroupStatus>,
    ha_status: PerObject<core::HorizontalAutoscalerStatus>,
    mp_status: PerObject<core::MetricsProducerStatus>,
    persisted: PerObject<Persisted>,
    /// Each autoscaler's status as last written, without its history.
    ha_written: PerObject<serde_json::Value>,
    /// Producer gauge values last exported, to tell which changed.
    exported: Mutex<HashMap<Series, f64>>,
    /// Each node group's instances (provider IDs) as its provider last
    /// listed them, to recount Ready ones when Nodes change.
    instances: PerObject<Vec<String>>,
    /// When each failed node group may be retried.
    retry_at: PerObject<(Instant, u32)>,
}

impl std::fmt::Debug for Controller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Controller")
            .field("config", &self.config)
            .field("node_groups", &self.node_groups.len())
            .field("autoscalers", &self.autoscalers.len())
            .field("producers", &self.producers.len())
            .finish_non_exhaustive()
    }
}

/// A [`ScaleTarget`] that remembers the last scale it read.
struct Observed<'a> {
    inner: &'a dyn ScaleTarget,
    last: Mutex<Option<Scale>>,
}

#[async_trait::async_trait]
impl ScaleTarget for Observed<'_> {
    async fn scale(&self) -> ProviderResult<Scale> {
        let s = self.inner.scale().await;
        if let Ok(s) = &s {
            *self.last.lock().unwrap_or_else(|e| e.into_inner()) = Some(s.clone());
        }
        s
    }
    async fn set_replicas(&self, replicas: i32) -> ProviderResult<()> {
        self.inner.set_replicas(replicas).await
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The status as a merge patch: `{"status": ...}` with `null` for each of
/// `clear` the status lacks (a merge patch leaves absent fields alone).
fn status_patch(status: &impl Serialize, clear: &[&str]) -> serde_json::Value {
    let mut value = serde_json::to_value(status).unwrap_or_default();
    if let Some(map) = value.as_object_mut() {
        for field in clear {
            map.entry(*field).or_insert(serde_json::Value::Null);
        }
    }
    serde_json::json!({ "status": value })
}

/// Feeds every event of a watch (restarted with kube's default backoff
/// after an error) to `handle`.
async fn drive<K>(
    stream: impl futures_util::Stream<Item = Result<watcher::Event<K>, watcher::Error>>,
    kind: &str,
    mut handle: impl FnMut(watcher::Event<K>),
) {
    let stream = stream.default_backoff();
    let mut stream = std::pin::pin!(stream);
    while let Some(event) = stream.next().await {
        match event {
            Ok(e) => handle(e),
            Err(e) => tracing::warn!(kind, error = %e, "watch failed; retrying with backoff"),
        }
    }
}

/// `type_=False`, reason `InvalidSpec`: every problem of the spec, each
/// with its field and fix.
fn invalid_spec(type_: &'static str, errors: &ValidationErrors) -> Condition {
    Condition {
        type_: type_.into(),
        status: ConditionStatus::False,
        reason: "InvalidSpec".into(),
        message: errors.to_string().replace('\n', "; ").into(),
        last_transition_time: None,
    }
}

/// `text` cut to at most `max` bytes at a character boundary (an Event's
/// note may hold 1 KB).
fn truncated(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut end = max.saturating_sub(3);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push_str("...");
    }
    text
}

/// A gauge series: its name and labels.
type Series = (String, Vec<(String, String)>);

/// How long a failed node group waits before its next attempt.
fn backoff(attempt: u32, cap: Duration) -> Duration {
    let base = Duration::from_secs(1).saturating_mul(1 << attempt.min(6));
    base.min(cap)
}

impl Controller {
    /// Controllers over `client`, with the providers in `registry`, the
    /// exporter `metrics` and the Prometheus `remote` the autoscalers'
    /// queries fall back to (see [`local`]). Registers the `prometheus`
    /// metric source in `registry`.
    pub fn new(
        client: Client,
        mut registry: ProviderRegistry,
        metrics: Arc<Metrics>,
        remote: Option<PrometheusSource>,
        config: ControllerConfig,
    ) -> Result<Self, ControllerError> {
        let source = Arc::new(LocalFirstSource::new(metrics.clone(), remote));
        registry.register(Arc::new(LocalFirstProvider(source)))?;
        let reporter = Reporter {
            controller: config.reporter.clone(),
            instance: config.instance.clone(),
        };
        Ok(Self {
            recorder: Recorder::new(client.clone(), reporter),
            resolver: TargetResolver::new(client.clone()),
            client,
            registry,
            metrics,
            cache: Arc::new(ClusterCache::new()),
            clock: Arc::new(SystemClock),
            config,
            node_groups: Store::new(),
            autoscalers: Store::new(),
            producers: Store::new(),
            ng_status: PerObject::default(),
            ha_status: PerObject::default(),
            mp_status: PerObject::default(),
            persisted: PerObject::default(),
            ha_written: PerObject::default(),
            exported: Mutex::new(HashMap::new()),
            retry_at: PerObject::default(),
            instances: PerObject::default(),
        })
    }

    /// The same controllers on `clock` (tests use a fake one).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The watch-fed cluster cache.
    pub fn cache(&self) -> &Arc<ClusterCache> {
        &self.cache
    }

    /// The ScalableNodeGroups as last watched.
    pub fn node_groups(&self) -> &Store<crd::ScalableNodeGroup> {
        &self.node_groups
    }

    /// The HorizontalAutoscalers as last watched.
    pub fn autoscalers(&self) -> &Store<crd::HorizontalAutoscaler> {
        &self.autoscalers
    }

    /// The MetricsProducers as last watched.
    pub fn producers(&self) -> &Store<crd::MetricsProducer> {
        &self.producers
    }

    /// Whether every watch has listed once (`/readyz`).
    pub fn is_synced(&self) -> bool {
        self.node_groups.is_synced()
            && self.autoscalers.is_synced()
            && self.producers.is_synced()
            && self.cache.is_synced()
    }

    fn api<K>(&self, namespace: &str) -> Api<K>
    where
        K: Resource<Scope = kube::core::NamespaceResourceScope, DynamicType = ()>,
    {
        Api::namespaced(self.client.clone(), namespace)
    }

    fn watch_api<K>(&self) -> Api<K>
    where
        K: Resource<Scope = kube::core::NamespaceResourceScope, DynamicType = ()>,
    {
        match &self.config.namespace {
            Some(ns) => Api::namespaced(self.client.clone(), ns),
            None => Api::all(self.client.clone()),
        }
    }

    // ------------------------------------------------------------ running

    /// Runs the watches and the three loops until `shutdown`; a reconcile
    /// in flight finishes (its writes included) before this returns.
    pub async fn run(&self, shutdown: CancellationToken) {
        let config = watcher::Config::default();
        let ng = self.watch_custom(&self.node_groups, "ScalableNodeGroup");
        let ha = self.watch_custom(&self.autoscalers, "HorizontalAutoscaler");
        let mp = self.watch_custom(&self.producers, "MetricsProducer");
        // Nodes are cluster-scoped: always all of them.
        let nodes = drive(
            watcher(Api::<WatchedNode>::all(self.client.clone()), config.clone()),
            "Node",
            |e| self.cache.node_event(e),
        );
        let pods = drive(
            watcher(self.watch_api::<WatchedPod>(), config.clone()),
            "Pod",
            |e| self.cache.pod_event(e),
        );
        let daemon_sets = drive(
            watcher(self.watch_api::<WatchedDaemonSet>(), config),
            "DaemonSet",
            |e| self.cache.daemon_set_event(e),
        );
        let watches = async {
            tokio::join!(ng, ha, mp, nodes, pods, daemon_sets);
        };
        let loops = async {
            tokio::join!(
                self.node_group_loop(&shutdown),
                self.autoscaler_loop(&shutdown),
                self.producer_loop(&shutdown)
            );
        };
        tokio::select! {
            () = watches => tracing::error!("every watch ended"),
            () = loops => {}
        }
    }

    /// The watch of one of our kinds, feeding `store`.
    async fn watch_custom<K>(&self, store: &Store<K>, kind: &'static str)
    where
        K: Resource<DynamicType = (), Scope = kube::core::NamespaceResourceScope>
            + store::HasSpecOf
            + serde::de::DeserializeOwned
            + Clone
            + std::fmt::Debug
            + Send
            + 'static,
    {
        let stream = watcher(self.watch_api::<Lenient<K>>(), watcher::Config::default());
        drive(stream, kind, |e| {
            for c in store.event(e) {
                self.on_change(kind, c);
            }
        })
        .await;
    }

    fn on_change(&self, kind: &str, change: Change) {
        match &change {
            Change::Spec(key) => tracing::debug!(kind, object = %key, "spec changed"),
            Change::Other(_) => {}
            Change::Deleted(key) | Change::Invalid(key, _) => {
                if let Change::Invalid(key, why) = &change {
                    tracing::warn!(kind, object = %key, error = %why, "object left out: it does not match the schema this controller reads; fix the field named");
                } else {
                    tracing::info!(kind, object = %key, "deleted");
                }
                match kind {
                    "MetricsProducer" => {
                        self.metrics.remove_producer(&key.namespace, &key.name);
                        lock(&self.mp_status).remove(key);
                        let of_this = |labels: &[(String, String)]| {
                            labels.iter().any(|(k, v)| k == "name" && *v == *key.name)
                                && labels
                                    .iter()
                                    .any(|(k, v)| k == "namespace" && *v == *key.namespace)
                        };
                        lock(&self.exported).retain(|(_, labels), _| !of_this(labels));
                    }
                    "HorizontalAutoscaler" => {
                        self.metrics.remove_autoscaler(&key.namespace, &key.name);
                        lock(&self.ha_status).remove(key);
                        lock(&self.persisted).remove(key);
                        lock(&self.ha_written).remove(key);
                    }
                    _ => {
                        lock(&self.ng_status).remove(key);
                        lock(&self.retry_at).remove(key);
                        lock(&self.instances).remove(key);
                    }
                }
            }
        }
    }

    /// Waits until shutdown (false), `store` is marked, or `deadline`.
    async fn wait<K: Resource + store::HasSpecOf>(
        &self,
        store: &Store<K>,
        shutdown: &CancellationToken,
        deadline: Instant,
    ) -> bool {
        tokio::select! {
            () = shutdown.cancelled() => false,
            () = store.woken() => true,
            () = tokio::time::sleep_until(deadline.into()) => true,
        }
    }

    async fn node_group_loop(&self, shutdown: &CancellationToken) {
        let period = self.config.node_group_sync_period;
        let mut readiness = self.cache.subscribe_readiness();
        let mut next_full = Instant::now();
        loop {
            let now = Instant::now();
            let ready = self.node_groups.is_synced() && self.cache.is_synced();
            if ready {
                if now >= next_full {
                    self.node_groups.mark_all();
                    next_full = now + period;
                }
                let due: Vec<ObjectKey> = lock(&self.retry_at)
                    .iter()
                    .filter(|(_, (at, _))| *at <= now)
                    .map(|(k, _)| k.clone())
                    .collect();
                for key in due {
                    self.node_groups.mark(key);
                }
                let keys = self.node_groups.take_dirty();
                self.concurrently(keys, |k| self.reconcile_node_group(k))
                    .await;
            }
            let retry = lock(&self.retry_at).values().map(|(at, _)| *at).min();
            let deadline = retry
                .map_or(next_full, |r| r.min(next_full))
                .max(Instant::now() + Duration::from_millis(1));
            let deadline = if ready {
                deadline
            } else {
                Instant::now() + Duration::from_millis(50)
            };
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = self.node_groups.woken() => {}
                () = tokio::time::sleep_until(deadline.into()) => {}
                changed = readiness.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    // Let nodes that turn Ready together land, then count.
                    tokio::time::sleep(self.config.debounce).await;
                    readiness.mark_unchanged();
                    self.refresh_ready_counts().await;
                }
            }
        }
    }

    /// Recounts the Ready instances of every node group whose provider
    /// listed its instances at the last reconcile (no provider call), and
    /// writes the status of those whose count changed.
    async fn refresh_ready_counts(&self) {
        let listed: Vec<(ObjectKey, Vec<String>)> = lock(&self.instances)
            .iter()
            .map(|(k, ids)| (k.clone(), ids.clone()))
            .collect();
        for (key, ids) in listed {
            let Some(object) = self.node_groups.get(&key) else {
                continue;
            };
            let Some(mut status) = lock(&self.ng_status).get(&key).cloned() else {
                continue;
            };
            let ready = self.cache.ready_instances(ids.iter().map(String::as_str));
            if status.replicas != Some(ready) {
                status.replicas = Some(ready);
                self.write_node_group_status(&key, &object, &object.spec, status)
                    .await;
            }
        }
    }

    async fn autoscaler_loop(&self, shutdown: &CancellationToken) {
        let period = self.config.sync_period;
        let mut next_full = Instant::now();
        loop {
            let now = Instant::now();
            if self.is_synced() {
                if now >= next_full {
                    self.autoscalers.mark_all();
                    next_full = now + period;
                }
                let keys = self.autoscalers.take_dirty();
                self.concurrently(keys, |k| self.reconcile_autoscaler(k))
                    .await;
            }
            let deadline = if self.is_synced() {
                next_full
            } else {
                Instant::now() + Duration::from_millis(50)
            };
            if !self.wait(&self.autoscalers, shutdown, deadline).await {
                return;
            }
        }
    }

    async fn producer_loop(&self, shutdown: &CancellationToken) {
        let period = self.config.producer_sync_period;
        let mut cluster = self.cache.subscribe();
        let mut next_full = Instant::now();
        let mut cluster_changed = false;
        loop {
            let ready = self.producers.is_synced() && self.cache.is_synced();
            let now = Instant::now();
            if ready {
                let spec_changed = !self.producers.take_dirty().is_empty();
                let full = now >= next_full;
                if full || spec_changed || cluster_changed {
                    if full {
                        next_full = now + period;
                    }
                    cluster_changed = false;
                    cluster.mark_unchanged();
                    self.reconcile_producers().await;
                }
            }
            let deadline = if ready {
                next_full
            } else {
                now + Duration::from_millis(50)
            };
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = self.producers.woken() => {}
                () = tokio::time::sleep_until(deadline.into()) => {}
                changed = cluster.changed() => match changed {
                    Ok(()) if self.has_capacity_producers() => {
                        // Let a burst of events land, then evaluate once.
                        tokio::time::sleep(self.config.debounce).await;
                        cluster_changed = true;
                    }
                    Ok(()) => {}
                    Err(_) => return,
                },
            }
        }
    }

    fn has_capacity_producers(&self) -> bool {
        self.producers
            .all()
            .iter()
            .any(|p| p.spec.pending_capacity.is_some() || p.spec.reserved_capacity.is_some())
    }

    async fn concurrently<F, Fut>(&self, keys: Vec<ObjectKey>, f: F)
    where
        F: Fn(ObjectKey) -> Fut,
        Fut: Future<Output = ()>,
    {
        // Built into a Vec first, for the same reason as in
        // `reconcile_producers`.
        let work: Vec<Fut> = keys.into_iter().map(f).collect();
        stream::iter(work)
            .buffer_unordered(self.config.concurrency.max(1))
            .collect::<Vec<()>>()
            .await;
    }

    // ------------------------------------------------------------ writes

    /// Patches `status` of `K` `key` (merge patch), retrying conflicts and
    /// transient errors with backoff (4 attempts: 0.1, 0.2, 0.4 s apart).
    async fn patch_status<K>(
        &self,
        key: &ObjectKey,
        patch: &serde_json::Value,
    ) -> Result<(), kube::Error>
    where
        K: Resource<Scope = kube::core::NamespaceResourceScope, DynamicType = ()>
            + Clone
            + serde::de::DeserializeOwned
            + std::fmt::Debug,
    {
        let api: Api<K> = self.api(&key.namespace);
        let mut delay = Duration::from_millis(100);
        let mut attempt = 1;
        loop {
            let params = PatchParams::default();
            let merge = Patch::Merge(patch);
            let call = api.patch_status(&key.name, &params, &merge);
            let result = match tokio::time::timeout(scale::API_TIMEOUT, call).await {
                Ok(r) => r.map(|_| ()),
                Err(_) => Err(kube::Error::Service(
                    format!(
                        "status patch of {key} timed out after {:?}",
                        scale::API_TIMEOUT
                    )
                    .into(),
                )),
            };
            match result {
                Ok(()) => return Ok(()),
                Err(kube::Error::Api(s)) if s.code == 404 => return Err(kube::Error::Api(s)),
                Err(e) if attempt < 4 => {
                    tracing::debug!(object = %key, error = %e, attempt, "status patch failed; retrying");
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn event<K: Resource<DynamicType = ()>>(
        &self,
        object: &K,
        type_: EventType,
        reason: &str,
        action: &str,
        note: String,
    ) {
        let reference = object.object_ref(&());
        let ev = Event {
            type_,
            reason: reason.to_string(),
            note: Some(truncated(note, 1024)),
            action: action.to_string(),
            secondary: None,
        };
        match tokio::time::timeout(scale::API_TIMEOUT, self.recorder.publish(&ev, &reference)).await
        {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, reason, "could not record an Event"),
            Err(_) => tracing::warn!(reason, "recording an Event timed out"),
        }
    }

    /// Reports an invalid spec: logs it, and records a Warning Event when
    /// the condition it puts in `conditions` is new or says something new.
    async fn reject<K: Resource<DynamicType = ()>>(
        &self,
        object: &K,
        key: &ObjectKey,
        conditions: &mut Vec<Condition>,
        type_: &'static str,
        errors: &ValidationErrors,
    ) {
        let condition = invalid_spec(type_, errors);
        let known = conditions.iter().any(|c| {
            c.type_ == condition.type_
                && c.reason == condition.reason
                && c.message == condition.message
        });
        if !known {
            tracing::warn!(object = %key, errors = %condition.message, "invalid spec: not reconciled until it is fixed");
            self.event(
                object,
                EventType::Warning,
                "InvalidSpec",
                "Validate",
                condition.message.to_string(),
            )
            .await;
        }
        set_condition(conditions, condition, self.clock.now());
    }

    // ------------------------------------------------------------ node groups

    /// Reconciles the ScalableNodeGroup `key` once (what its loop does on a
    /// change or a period): the core reconcile, the ready count from Nodes,
    /// the status patch and the Events.
    pub async fn reconcile_node_group(&self, key: ObjectKey) {
        let Some(object) = self.node_groups.get(&key) else {
            return;
        };
        let started = Instant::now();
        let mut sng = object.to_core();
        if let Some(s) = lock(&self.ng_status).get(&key) {
            sng.status = Some(s.clone());
        }
        if let Err(errors) = sng.validate() {
            let mut status = sng.status.clone().unwrap_or_default();
            self.reject(&*object, &key, &mut status.conditions, "Active", &errors)
                .await;
            self.write_node_group_status(&key, &object, &sng.spec, status)
                .await;
            return;
        }
        let ctx = NodeGroupContext {
            now: self.clock.now(),
            providers: &self.registry,
        };
        let mut out = reconcile_node_group(&sng, &ctx).await;
        let mut listed = None;
        if out.observed.is_ok()
            && let Ok(handle) = self.registry.node_group(&sng.spec)
            && let Ok(Some(instances)) = handle.instances().await
        {
            let ids: Vec<String> = instances.into_iter().map(|i| i.provider_id).collect();
            out.status.replicas = Some(self.cache.ready_instances(ids.iter().map(String::as_str)));
            listed = Some(ids);
        }
        match listed {
            Some(ids) => lock(&self.instances).insert(key.clone(), ids),
            None => lock(&self.instances).remove(&key),
        };
        match &out.write {
            Some(ScaleWrite {
                from,
                to,
                result: Ok(()),
            }) => {
                tracing::info!(node_group = %key, from, to, "scaled the node group");
                self.event(
                    &*object,
                    EventType::Normal,
                    "Scaled",
                    "Scale",
                    format!("set the node group's desired size from {from} to {to}"),
                )
                .await;
            }
            Some(ScaleWrite {
                to, result: Err(e), ..
            }) => {
                tracing::warn!(node_group = %key, to, error = %e, "scaling the node group failed");
                self.event(
                    &*object,
                    EventType::Warning,
                    "FailedScale",
                    "Scale",
                    format!("setting the node group's desired size to {to} failed: {e}"),
                )
                .await;
            }
            None => {}
        }
        let retryable = out.errors.iter().any(ReconcileError::is_retryable);
        for e in out.errors.iter().filter(|_| out.write.is_none()) {
            tracing::warn!(node_group = %key, error = %e, "node group reconcile failed");
        }
        {
            let mut retry = lock(&self.retry_at);
            if retryable {
                let attempt = retry.get(&key).map_or(0, |(_, n)| n + 1);
                let wait = backoff(attempt, self.config.node_group_sync_period);
                retry.insert(key.clone(), (Instant::now() + wait, attempt));
            } else {
                retry.remove(&key);
            }
        }
        self.write_node_group_status(&key, &object, &sng.spec, out.status.clone())
            .await;
        let result = if out.errors.is_empty() {
            ReconcileResult::Success
        } else {
            ReconcileResult::Error
        };
        self.metrics
            .record_reconcile(ReconcileKind::ScalableNodeGroup, result, started.elapsed());
    }

    /// Remembers `status` and patches it when it differs from the stored one.
    async fn write_node_group_status(
        &self,
        key: &ObjectKey,
        object: &crd::ScalableNodeGroup,
        spec: &core::ScalableNodeGroupSpec,
        status: core::ScalableNodeGroupStatus,
    ) {
        let status = crd::ScalableNodeGroupStatus {
            core: status,
            selector: crd::node_selector(spec),
        };
        let changed = object.status.as_ref() != Some(&status);
        lock(&self.ng_status).insert(key.clone(), status.core.clone());
        if changed {
            let patch = status_patch(&status, &["replicas", "lastError", "selector"]);
            if let Err(e) = self
                .patch_status::<crd::ScalableNodeGroup>(key, &patch)
                .await
            {
                tracing::warn!(node_group = %key, error = %e, "status patch failed; the next reconcile writes it again");
            }
        }
    }

    // ------------------------------------------------------------ autoscalers

    /// Remembers `status` and writes it, with its history when `history`
    /// (see [`persist_history`](Self::persist_history)); without it, a
    /// status equal to the one last written is not written again.
    async fn write_autoscaler_status(
        &self,
        key: &ObjectKey,
        status: core::HorizontalAutoscalerStatus,
        ready_replicas: Option<i32>,
        history: bool,
    ) {
        let status = crd::HorizontalAutoscalerStatus {
            core: status,
            ready_replicas,
        };
        let mut patch = status_patch(&status, &["lastScaleTime"]);
        let mut without_history = patch.clone();
        if let Some(s) = without_history
            .get_mut("status")
            .and_then(|s| s.as_object_mut())
        {
            s.remove("history");
        }
        if !history {
            patch = without_history.clone();
        }
        lock(&self.ha_status).insert(key.clone(), status.core);
        // In a steady state (same size, same readings, history not due) the
        // status is what was last written: no request.
        if !history && lock(&self.ha_written).get(key) == Some(&without_history) {
            return;
        }
        match self
            .patch_status::<crd::HorizontalAutoscaler>(key, &patch)
            .await
        {
            Ok(()) => {
                lock(&self.ha_written).insert(key.clone(), without_history);
            }
            Err(e) => {
                tracing::warn!(autoscaler = %key, error = %e, "status patch failed; the next reconcile writes it again");
                // Write the history again next time.
                lock(&self.persisted).remove(key);
                lock(&self.ha_written).remove(key);
            }
        }
    }

    /// Whether this status's history must be written now.
    fn persist_history(
        &self,
        key: &ObjectKey,
        status: &core::HorizontalAutoscalerStatus,
        now: DateTime<Utc>,
    ) -> bool {
        let window = status.history.as_ref().and_then(|h| {
            let r = h.recommendations.iter().map(|r| r.replicas);
            Some((r.clone().min()?, r.max()?))
        });
        let mark = Persisted {
            desired: status.desired_replicas,
            window,
            at: now,
        };
        let mut persisted = lock(&self.persisted);
        let due = match persisted.get(key) {
            None => true,
            Some(p) => {
                p.desired != mark.desired
                    || p.window != mark.window
                    || now - p.at
                        >= chrono::Duration::from_std(self.config.history_persist_interval)
                            .unwrap_or(chrono::Duration::MAX)
            }
        };
        if due {
            persisted.insert(key.clone(), mark);
        }
        due
    }

    /// Reconciles the HorizontalAutoscaler `key` once: reads its target's
    /// scale subresource and metrics, decides, writes the scale, patches
    /// the status (history by the persist policy) and records Events.
    pub async fn reconcile_autoscaler(&self, key: ObjectKey) {
        let Some(object) = self.autoscalers.get(&key) else {
            return;
        };
        let started = Instant::now();
        let mut ha = object.to_core();
        let remembered = lock(&self.ha_status).get(&key).cloned();
        if let Some(s) = remembered {
            ha.status = Some(s);
        }
        if let Err(errors) = ha.validate() {
            let mut status = ha.status.clone().unwrap_or_default();
            self.reject(
                &*object,
                &key,
                &mut status.conditions,
                "ScalingActive",
                &errors,
            )
            .await;
            self.write_autoscaler_status(&key, status, None, false)
                .await;
            return;
        }
        let resolved = self
            .resolver
            .target(&key.namespace, &ha.spec.scale_target_ref)
            .await;
        let unresolved;
        let inner: &dyn ScaleTarget = match &resolved {
            Ok(t) => t,
            Err(e) => {
                unresolved = Unresolved(e.clone());
                &unresolved
            }
        };
        let target = Observed {
            inner,
            last: Mutex::new(None),
        };
        let now = self.clock.now();
        let ctx = AutoscalerContext {
            now,
            target: &target,
            providers: &self.registry,
        };
        let out = reconcile_autoscaler(&ha, &ctx).await;
        self.metrics
            .record_decision(&key.namespace, &key.name, &out);
        match &out.write {
            Some(ScaleWrite {
                from,
                to,
                result: Ok(()),
            }) => {
                let reason = out
                    .decision
                    .as_ref()
                    .and_then(|d| d.condition("AbleToScale"))
                    .map(|c| c.message.clone())
                    .unwrap_or_default();
                tracing::info!(autoscaler = %key, from, to, %reason, "rescaled the target");
                self.event(
                    &*object,
                    EventType::Normal,
                    "SuccessfulRescale",
                    "Rescale",
                    format!("New size: {to}; reason: {reason}"),
                )
                .await;
            }
            Some(ScaleWrite {
                to, result: Err(e), ..
            }) => {
                self.event(
                    &*object,
                    EventType::Warning,
                    "FailedRescale",
                    "Rescale",
                    format!("New size: {to}; error: {e}"),
                )
                .await;
            }
            None => {}
        }
        for e in &out.errors {
            tracing::warn!(autoscaler = %key, error = %e, "autoscaler reconcile problem");
        }
        if let Some(first) = out.errors.iter().find(|e| !matches!(e, ReconcileError::Provider { operation, .. } if operation.starts_with("writing"))) {
            let reason = match first {
                ReconcileError::Metric { reason, .. } => reason.clone(),
                _ => "FailedGetScale".to_string(),
            };
            self.event(&*object, EventType::Warning, &reason, "Decide", first.to_string()).await;
        }
        let ready = lock(&target.last).as_ref().map(|s| s.status_replicas);
        let persist = self.persist_history(&key, &out.status, now);
        self.write_autoscaler_status(&key, out.status, ready, persist)
            .await;
        let result = if out.errors.is_empty() {
            ReconcileResult::Success
        } else {
            ReconcileResult::Error
        };
        self.metrics.record_reconcile(
            ReconcileKind::HorizontalAutoscaler,
            result,
            started.elapsed(),
        );
    }

    // ------------------------------------------------------------ producers

    /// Evaluates every MetricsProducer once (pending capacity is one joint
    /// assignment over all of them), exports the gauges, patches the
    /// statuses that changed, and wakes the autoscalers that read a
    /// changed gauge in process.
    pub async fn reconcile_producers(&self) {
        let objects = self.producers.all();
        if objects.is_empty() {
            return;
        }
        let started = Instant::now();
        let remembered = lock(&self.mp_status).clone();
        let mut valid = Vec::with_capacity(objects.len());
        let mut producers: Vec<core::MetricsProducer> = Vec::with_capacity(objects.len());
        for object in objects {
            let mut p = object.to_core();
            let key = ObjectKey::of(&p.metadata);
            if let Some(s) = remembered.get(&key) {
                p.status = Some(s.clone());
            }
            match p.validate() {
                Ok(()) => {
                    valid.push(object);
                    producers.push(p);
                }
                Err(errors) => {
                    // Not evaluated: no gauge, and the condition says why.
                    self.metrics
                        .replace_producer(&key.namespace, &key.name, &[]);
                    let mut status = p.status.clone().unwrap_or_default();
                    self.reject(
                        &*object,
                        &key,
                        &mut status.conditions,
                        "Calculable",
                        &errors,
                    )
                    .await;
                    self.write_producer_status(
                        &key,
                        &object,
                        &p.spec,
                        status,
                        remembered.get(&key),
                    )
                    .await;
                }
            }
        }
        let objects = valid;
        let selectors: Vec<&BTreeMap<String, String>> = producers
            .iter()
            .filter_map(|p| p.spec.reserved_capacity.as_ref().map(|r| &r.node_selector))
            .collect();
        let (snapshot, reserved) = self.cache.producer_view(&selectors);
        let pending = if producers.iter().any(|p| p.spec.pending_capacity.is_some()) {
            let find = |namespace: &str, name: &str| {
                self.node_groups
                    .get(&ObjectKey::new(namespace, name))
                    .map(|n| n.spec.clone())
            };
            Some(PendingAssignment::gather(&snapshot, producers.iter(), find, &self.registry).await)
        } else {
            None
        };
        let mut ctx = ProducerContext::new(self.clock.now(), &self.registry)
            .with_cluster(&snapshot)
            .with_reserved(&reserved);
        if let Some(p) = &pending {
            ctx = ctx.with_pending(p);
        }
        // Built into a Vec first: a lazy `map` here makes the future of
        // `run` not `Send` (a higher-ranked closure lifetime).
        let evaluations: Vec<_> = producers
            .iter()
            .map(|p| reconcile_producer(p, &ctx))
            .collect();
        let outcomes: Vec<_> = stream::iter(evaluations)
            .buffered(self.config.concurrency.max(1))
            .collect()
            .await;
        let mut changed_series = Vec::new();
        for ((object, producer), out) in objects.iter().zip(&producers).zip(outcomes) {
            let key = ObjectKey::of(&producer.metadata);
            self.metrics
                .replace_producer(&key.namespace, &key.name, &out.gauges);
            {
                let mut exported = lock(&self.exported);
                for g in &out.gauges {
                    let labels: Vec<(String, String)> = g.labels.to_vec();
                    let slot = (g.name.to_string(), labels);
                    if exported.get(&slot) != Some(&g.value) {
                        exported.insert(slot.clone(), g.value);
                        changed_series.push(slot);
                    }
                }
            }
            if let Some(e) = &out.error {
                tracing::warn!(producer = %key, error = %e, "producer evaluation failed");
                let last = object
                    .status
                    .as_ref()
                    .and_then(|s| s.core.last_error.clone());
                if last.as_deref() != out.status.last_error.as_deref() {
                    self.event(
                        &**object,
                        EventType::Warning,
                        "FailedEvaluate",
                        "Evaluate",
                        e.to_string(),
                    )
                    .await;
                }
            }
            self.write_producer_status(
                &key,
                object,
                &producer.spec,
                out.status,
                remembered.get(&key),
            )
            .await;
            let result = if out.error.is_none() {
                ReconcileResult::Success
            } else {
                ReconcileResult::Error
            };
            self.metrics.record_reconcile(
                ReconcileKind::MetricsProducer,
                result,
                started.elapsed(),
            );
        }
        if !changed_series.is_empty() {
            self.wake_readers(&changed_series);
        }
    }

    /// Remembers `status` and patches it when it differs from both the
    /// stored one and the one last remembered.
    async fn write_producer_status(
        &self,
        key: &ObjectKey,
        object: &crd::MetricsProducer,
        spec: &core::MetricsProducerSpec,
        status: core::MetricsProducerStatus,
        remembered: Option<&core::MetricsProducerStatus>,
    ) {
        let status = crd::MetricsProducerStatus {
            kind: crd::producer_kind(spec).map(str::to_string),
            value: Some(crd::summarize_values(&status.values)),
            core: status,
        };
        let changed = object.status.as_ref() != Some(&status) && remembered != Some(&status.core);
        lock(&self.mp_status).insert(key.clone(), status.core.clone());
        if changed {
            let patch = status_patch(&status, &["lastError", "nextScheduleChange"]);
            if let Err(e) = self.patch_status::<crd::MetricsProducer>(key, &patch).await {
                tracing::warn!(producer = %key, error = %e, "status patch failed; the next evaluation writes it again");
                lock(&self.mp_status).remove(key);
            }
        }
    }

    /// Marks every autoscaler with an exact selector on one of `series`.
    fn wake_readers(&self, series: &[Series]) {
        let names: HashSet<&str> = series.iter().map(|(n, _)| n.as_str()).collect();
        for ha in self.autoscalers.all() {
            let reads = ha
                .spec
                .metrics
                .iter()
                .filter_map(|m| m.prometheus.as_ref())
                .any(|p| {
                    exact_selector(&p.query).is_some_and(|sel| {
                        names.contains(sel.name.as_str())
                            && series.iter().any(|(n, labels)| {
                                *n == sel.name && sel.matchers.iter().all(|m| labels.contains(m))
                            })
                    })
                });
            if reads {
                self.autoscalers.mark(key_of(&ha.metadata));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::truncated;

    #[test]
    fn event_notes_are_cut_to_a_kilobyte_at_a_character_boundary() {
        assert_eq!(truncated("short".into(), 1024), "short");
        let long = "é".repeat(600); // 1,200 bytes
        let cut = truncated(long, 1024);
        assert!(cut.len() <= 1024, "{}", cut.len());
        assert!(cut.ends_with("...") && cut.starts_with('é'));
    }
}
