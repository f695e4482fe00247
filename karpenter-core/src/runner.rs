//! The whole loop, one tick at a time: producers → metrics → decisions →
//! node groups.
//!
//! A [`Runner`] holds the three kinds of objects (MetricsProducers,
//! HorizontalAutoscalers, ScalableNodeGroups), the [`ProviderRegistry`] that
//! builds their cloud objects, an optional [`ClusterState`], the
//! [`MetricSink`] that receives producer gauges, and the [`RetryPolicy`] every
//! provider call goes through. [`Runner::tick`] does, in order:
//!
//! 1. **Producers.** Fetch one cluster snapshot if any producer needs it,
//!    evaluate every producer, export its gauges to the sink and store its
//!    status.
//! 2. **Autoscalers.** For each HorizontalAutoscaler: read each metric from
//!    the source its kind names (a failed read becomes
//!    [`Observation::Error`]; the engine never scales down on it), read the
//!    target ScalableNodeGroup (`spec.replicas`, initialised from the node
//!    group's desired size when unset, and the ready nodes as its status),
//!    [`decide`] with the persisted history, and write the decision to the
//!    ScalableNodeGroup's `spec.replicas` and the autoscaler's status.
//! 3. **Node groups.** For each ScalableNodeGroup with `spec.replicas` set:
//!    when the cloud's desired size differs, set it through the retry helper.
//!    A failed write keeps the intent in `spec.replicas`, so the next tick
//!    tries again; it is reported in the [`TickReport`] and in the object's
//!    status.
//!
//! Nothing here knows about Kubernetes: the controllers in `karpenter-k8s`
//! and the simulation in `karpenter-fake` drive the same code.
//!
//! A caller that ticks in a loop should use [`Runner::tick_into`] with one
//! [`TickReport`] it keeps: the report's storage (observations, decisions,
//! gauges) is then reused from tick to tick instead of allocated anew.
//!
//! ```
//! use std::sync::Arc;
//! use chrono::{TimeZone, Utc};
//! use karpenter_core::producers::MetricSink;
//! use karpenter_core::provider::ProviderRegistry;
//! use karpenter_core::runner::Runner;
//!
//! struct Discard;
//! impl MetricSink for Discard {
//!     fn set_gauge(&self, _: &str, _: &[(String, String)], _: f64) {}
//! }
//!
//! let mut runner = Runner::new(ProviderRegistry::new(), Arc::new(Discard));
//! runner.add_autoscaler(serde_json::from_value(serde_json::json!({
//!     "metadata": {"name": "ml-training"},
//!     "spec": {
//!         "scaleTargetRef": {"kind": "ScalableNodeGroup", "name": "ml-training"},
//!         "minReplicas": 0, "maxReplicas": 10,
//!         "metrics": [{"prometheus": {"query": "q", "target": {"type": "AverageValue", "value": 4}}}]
//!     }
//! }))?)?;
//! # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
//! let report = runner.tick(Utc.with_ymd_and_hms(2026, 1, 5, 0, 0, 0).unwrap()).await;
//! // The target does not exist: reported, nothing scaled.
//! assert!(report.errors[0].to_string().contains("does not exist"));
//! assert!(report.rescales.is_empty());
//! # });
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::api::v1alpha1::{
    Condition, ConditionStatus, HorizontalAutoscaler, HorizontalAutoscalerStatus, MetricStatus,
    MetricsProducer, MetricsProducerStatus, ObjectMeta, ScalableNodeGroup, ScalableNodeGroupStatus,
    set_condition,
};
use crate::autoscaler::{
    Decision, DecisionInput, MetricOutcome, Observation, TargetState, decide_into, reasons,
};
use crate::cluster::{ClusterSnapshot, ClusterState};
use crate::error::Error;
use crate::producers::{
    Gauge, MetricSink, ProducerCache, ProducerContext, computed_condition, evaluate_cached, export,
};
use crate::provider::{
    MetricSource, NodeGroup, NodeGroupReplicas, ProviderRegistry, Stabilization,
};
use crate::retry::{RetryPolicy, retry};

/// The kind a HorizontalAutoscaler's `scaleTargetRef` must name.
const SCALABLE_NODE_GROUP: &str = "ScalableNodeGroup";

/// What one producer did in a tick.
#[derive(Debug, Clone, PartialEq)]
pub struct ProducerReport {
    /// `namespace/name` of the MetricsProducer (shared with the runner:
    /// cloning it is a reference count).
    pub producer: Arc<str>,
    /// The gauges it exported (empty when it failed).
    pub gauges: Vec<Gauge>,
    /// Why it failed, if it did.
    pub error: Option<String>,
}

/// What one autoscaler did in a tick.
#[derive(Debug, Clone, PartialEq)]
pub struct AutoscalerReport {
    /// `namespace/name` of the HorizontalAutoscaler.
    pub autoscaler: Arc<str>,
    /// `namespace/name` of its target ScalableNodeGroup.
    pub target: Arc<str>,
    /// One reading per metric, in spec order (empty if the target could not
    /// be read).
    pub observations: Vec<Observation>,
    /// The decision; `None` when the target could not be read. Its
    /// `history` has been moved into the autoscaler's `status.history`, so
    /// it is empty here.
    pub decision: Option<Decision>,
}

/// A node group's desired size, written in a tick.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rescale {
    /// `namespace/name` of the ScalableNodeGroup.
    pub node_group: Arc<str>,
    /// The cloud's desired size before the write.
    pub from: i32,
    /// The desired size written.
    pub to: i32,
}

/// Something that went wrong in a tick, naming the object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TickError {
    /// `MetricsProducer`, `HorizontalAutoscaler` or `ScalableNodeGroup`.
    pub kind: &'static str,
    /// `namespace/name` of the object.
    pub object: Arc<str>,
    /// What failed and what to do.
    pub message: String,
}

impl fmt::Display for TickError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.kind, self.object, self.message)
    }
}

/// What one [`Runner::tick`] did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TickReport {
    /// The tick's instant.
    pub now: DateTime<Utc>,
    /// Per producer, in the runner's order.
    pub producers: Vec<ProducerReport>,
    /// Per autoscaler, in the runner's order.
    pub autoscalers: Vec<AutoscalerReport>,
    /// Node groups whose desired size was written.
    pub rescales: Vec<Rescale>,
    /// Everything that failed; the loop carries on past each.
    pub errors: Vec<TickError>,
}

impl TickReport {
    /// The report of the autoscaler `namespace/name`.
    pub fn autoscaler(&self, namespace: &str, name: &str) -> Option<&AutoscalerReport> {
        self.autoscalers
            .iter()
            .find(|a| a.autoscaler.split_once('/') == Some((namespace, name)))
    }

    /// Whether nothing failed.
    pub fn is_ok(&self) -> bool {
        self.errors.is_empty()
    }
}

fn namespace(meta: &ObjectMeta) -> &str {
    meta.namespace.as_deref().unwrap_or("default")
}

fn name(meta: &ObjectMeta) -> &str {
    meta.name.as_deref().unwrap_or("")
}

fn key(meta: &ObjectMeta) -> Arc<str> {
    Arc::from(format!("{}/{}", namespace(meta), name(meta)))
}

fn same(meta: &ObjectMeta, ns: &str, n: &str) -> bool {
    namespace(meta) == ns && name(meta) == n
}

fn condition(
    type_: &'static str,
    status: ConditionStatus,
    reason: &'static str,
    message: impl Into<Cow<'static, str>>,
) -> Condition {
    Condition {
        type_: Cow::Borrowed(type_),
        status,
        reason: Cow::Borrowed(reason),
        message: message.into(),
        last_transition_time: None,
    }
}

/// Sets `new` unless an identical condition (type, status, reason, message)
/// is already there: saves the clone on the many ticks where nothing changed.
fn merge_condition(conditions: &mut Vec<Condition>, new: &Condition, now: DateTime<Utc>) {
    let unchanged = conditions.iter().any(|c| {
        same_text(&c.type_, &new.type_)
            && c.status == new.status
            && same_text(&c.reason, &new.reason)
            && same_text(&c.message, &new.message)
    });
    if !unchanged {
        set_condition(conditions, new.clone(), now);
    }
}

/// `a == b`, without comparing bytes when both are the same text (a
/// condition copied from the same constant, the common case every tick).
fn same_text(a: &str, b: &str) -> bool {
    (a.len() == b.len() && std::ptr::eq(a.as_ptr(), b.as_ptr())) || a == b
}

/// Whether `conditions` already holds `type_` with this status and reason
/// (the message is then not rebuilt).
fn has_condition(
    conditions: &[Condition],
    type_: &str,
    status: ConditionStatus,
    reason: &str,
) -> bool {
    conditions
        .iter()
        .any(|c| same_text(&c.type_, type_) && c.status == status && same_text(&c.reason, reason))
}

struct ProducerEntry {
    object: MetricsProducer,
    key: Arc<str>,
    /// Labels and queue handle, built on the first evaluation.
    cache: ProducerCache,
}

struct AutoscalerEntry {
    object: HorizontalAutoscaler,
    key: Arc<str>,
    /// `namespace/name` of the target, in the autoscaler's namespace.
    target_key: Arc<str>,
    /// The target's index in `node_groups` and the
    /// [`Runner::node_groups_version`] it was looked up at.
    target_index: Option<(u64, Option<usize>)>,
    /// Retry operation name of each metric read, built once.
    metric_ops: Vec<String>,
}

impl AutoscalerEntry {
    fn new(object: HorizontalAutoscaler) -> Self {
        let key = key(&object.metadata);
        let metric_ops = object
            .spec
            .metrics
            .iter()
            .enumerate()
            .map(|(m, metric)| {
                let kind = metric.source().map_or("no", |(k, _)| k.type_name());
                format!("reading spec.metrics[{m}] ({kind} source) of HorizontalAutoscaler {key}")
            })
            .collect();
        let target_key = Arc::from(format!(
            "{}/{}",
            namespace(&object.metadata),
            object.spec.scale_target_ref.name
        ));
        Self {
            object,
            key,
            target_key,
            target_index: None,
            metric_ops,
        }
    }
}

/// `"set replicas to {n} of {describe}"`, formatted only if an error needs it.
struct SetReplicasOp<'a>(i32, &'a str);

impl fmt::Display for SetReplicasOp<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "set replicas to {} of {}", self.0, self.1)
    }
}

/// A ScalableNodeGroup, its cached cloud handle, and text built once.
struct NodeGroupEntry {
    object: ScalableNodeGroup,
    key: Arc<str>,
    /// `ScalableNodeGroup ns/name (type id)`, for operation names.
    describe: String,
    /// Retry operation name of `replicas()`.
    get_op: String,
    /// Retry operation name of `stabilized()`.
    stabilized_op: String,
    handle: Option<Arc<dyn NodeGroup>>,
    /// Reason and size of the last successful `AbleToScale`, so an unchanged
    /// condition is not rebuilt every tick.
    able: Option<(&'static str, i32)>,
}

impl NodeGroupEntry {
    fn new(object: ScalableNodeGroup) -> Self {
        let key = key(&object.metadata);
        let describe = format!(
            "ScalableNodeGroup {key} ({} {})",
            object.spec.type_, object.spec.id
        );
        Self {
            get_op: format!("get replicas of {describe}"),
            stabilized_op: format!("get stabilization of {describe}"),
            object,
            key,
            describe,
            handle: None,
            able: None,
        }
    }
}

/// Drives producers, autoscalers and node groups, one tick at a time.
/// See the [module docs](self).
pub struct Runner {
    producers: Vec<ProducerEntry>,
    autoscalers: Vec<AutoscalerEntry>,
    node_groups: Vec<NodeGroupEntry>,
    registry: ProviderRegistry,
    cluster: Option<Arc<dyn ClusterState>>,
    sink: Arc<dyn MetricSink>,
    retry: RetryPolicy,
    metric_sources: BTreeMap<String, Arc<dyn MetricSource>>,
    /// Index in `node_groups` of each `namespace/name`.
    node_group_index: HashMap<Arc<str>, usize>,
    /// Bumped whenever `node_group_index` changes, so autoscalers may cache
    /// their target's index.
    node_groups_version: u64,
    /// Per tick: the cloud's replicas of each node group (kept between
    /// ticks for its storage only).
    observed: Observed,
    /// The previous report's autoscaler entries during a tick (their
    /// observations and decisions are storage for this tick's), and an
    /// empty vector with capacity between ticks.
    recycled: Vec<AutoscalerReport>,
    /// The same for producer reports (their gauge vectors).
    recycled_producers: Vec<ProducerReport>,
}

impl fmt::Debug for Runner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runner")
            .field(
                "producers",
                &self.producers.iter().map(|e| &e.key).collect::<Vec<_>>(),
            )
            .field(
                "autoscalers",
                &self.autoscalers.iter().map(|e| &e.key).collect::<Vec<_>>(),
            )
            .field(
                "node_groups",
                &self.node_groups.iter().map(|e| &e.key).collect::<Vec<_>>(),
            )
            .field("registry", &self.registry)
            .field("cluster", &self.cluster.is_some())
            .field("retry", &self.retry)
            .finish()
    }
}

/// Per tick: the cloud's replicas of each node group, read at most once.
type Observed = Vec<Option<Result<NodeGroupReplicas, String>>>;

impl Runner {
    /// A runner with no objects, no cluster and the default retry policy.
    pub fn new(registry: ProviderRegistry, sink: Arc<dyn MetricSink>) -> Self {
        Self {
            producers: Vec::new(),
            autoscalers: Vec::new(),
            node_groups: Vec::new(),
            registry,
            cluster: None,
            sink,
            retry: RetryPolicy::default(),
            metric_sources: BTreeMap::new(),
            node_group_index: HashMap::new(),
            node_groups_version: 0,
            observed: Vec::new(),
            recycled: Vec::new(),
            recycled_producers: Vec::new(),
        }
    }

    /// Sets the cluster that `reservedCapacity` (and later `pendingCapacity`)
    /// producers read.
    pub fn with_cluster(mut self, cluster: Arc<dyn ClusterState>) -> Self {
        self.cluster = Some(cluster);
        self
    }

    /// Sets the retry policy of every provider call.
    pub fn with_retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// The provider registry.
    pub fn registry(&self) -> &ProviderRegistry {
        &self.registry
    }

    /// The retry policy of provider calls.
    pub fn retry_policy(&self) -> &RetryPolicy {
        &self.retry
    }

    /// Validates `producer` and adds it, replacing the one with the same
    /// namespace and name (keeping its status if `producer` has none).
    pub fn add_producer(&mut self, mut producer: MetricsProducer) -> Result<(), Error> {
        let key = key(&producer.metadata);
        producer.validate().map_err(|errors| Error::Invalid {
            kind: "MetricsProducer",
            name: key.to_string(),
            errors,
        })?;
        match self.producers.iter_mut().find(|e| e.key == key) {
            Some(entry) => {
                if producer.status.is_none() {
                    producer.status = entry.object.status.take();
                }
                entry.object = producer;
                entry.cache = ProducerCache::default();
            }
            None => self.producers.push(ProducerEntry {
                object: producer,
                key,
                cache: ProducerCache::default(),
            }),
        }
        Ok(())
    }

    /// Validates `autoscaler` and adds it, replacing the one with the same
    /// namespace and name (keeping its status, and so its history, if
    /// `autoscaler` has none: re-applying a manifest does not reset the
    /// stabilization window).
    pub fn add_autoscaler(&mut self, mut autoscaler: HorizontalAutoscaler) -> Result<(), Error> {
        let key = key(&autoscaler.metadata);
        autoscaler.validate().map_err(|errors| Error::Invalid {
            kind: "HorizontalAutoscaler",
            name: key.to_string(),
            errors,
        })?;
        match self.autoscalers.iter_mut().find(|e| e.key == key) {
            Some(entry) => {
                if autoscaler.status.is_none() {
                    autoscaler.status = entry.object.status.take();
                }
                *entry = AutoscalerEntry::new(autoscaler);
            }
            None => self.autoscalers.push(AutoscalerEntry::new(autoscaler)),
        }
        Ok(())
    }

    /// Validates `node_group` and adds it, replacing the one with the same
    /// namespace and name (keeping its status if `node_group` has none). The
    /// cloud handle is rebuilt when the type or id changed.
    pub fn add_node_group(&mut self, mut node_group: ScalableNodeGroup) -> Result<(), Error> {
        let key = key(&node_group.metadata);
        node_group.validate().map_err(|errors| Error::Invalid {
            kind: "ScalableNodeGroup",
            name: key.to_string(),
            errors,
        })?;
        match self.node_groups.iter_mut().find(|e| e.key == key) {
            Some(entry) => {
                if node_group.status.is_none() {
                    node_group.status = entry.object.status.take();
                }
                let keep_handle = node_group.spec.type_ == entry.object.spec.type_
                    && node_group.spec.id == entry.object.spec.id;
                let handle = entry.handle.take().filter(|_| keep_handle);
                *entry = NodeGroupEntry::new(node_group);
                entry.handle = handle;
            }
            None => {
                self.node_group_index.insert(key, self.node_groups.len());
                self.node_groups_version += 1;
                self.node_groups.push(NodeGroupEntry::new(node_group));
            }
        }
        Ok(())
    }

    /// Removes the producer `namespace/name`.
    pub fn remove_producer(&mut self, namespace: &str, name: &str) -> Option<MetricsProducer> {
        let i = self
            .producers
            .iter()
            .position(|e| same(&e.object.metadata, namespace, name))?;
        Some(self.producers.remove(i).object)
    }

    /// Removes the autoscaler `namespace/name`.
    pub fn remove_autoscaler(
        &mut self,
        namespace: &str,
        name: &str,
    ) -> Option<HorizontalAutoscaler> {
        let i = self
            .autoscalers
            .iter()
            .position(|e| same(&e.object.metadata, namespace, name))?;
        Some(self.autoscalers.remove(i).object)
    }

    /// Removes the node group `namespace/name` (the cloud group is left as
    /// it is).
    pub fn remove_node_group(&mut self, namespace: &str, name: &str) -> Option<ScalableNodeGroup> {
        let i = self
            .node_groups
            .iter()
            .position(|e| same(&e.object.metadata, namespace, name))?;
        let removed = self.node_groups.remove(i).object;
        self.node_group_index = self
            .node_groups
            .iter()
            .enumerate()
            .map(|(j, e)| (e.key.clone(), j))
            .collect();
        self.node_groups_version += 1;
        Some(removed)
    }

    /// The producers, in the order they were added.
    pub fn producers(&self) -> impl ExactSizeIterator<Item = &MetricsProducer> {
        self.producers.iter().map(|e| &e.object)
    }

    /// The autoscalers, in the order they were added.
    pub fn autoscalers(&self) -> impl ExactSizeIterator<Item = &HorizontalAutoscaler> {
        self.autoscalers.iter().map(|e| &e.object)
    }

    /// The node groups, in the order they were added.
    pub fn node_groups(&self) -> impl ExactSizeIterator<Item = &ScalableNodeGroup> {
        self.node_groups.iter().map(|e| &e.object)
    }

    /// The producer `namespace/name`.
    pub fn producer(&self, namespace: &str, name: &str) -> Option<&MetricsProducer> {
        self.producers()
            .find(|p| same(&p.metadata, namespace, name))
    }

    /// The autoscaler `namespace/name`.
    pub fn autoscaler(&self, namespace: &str, name: &str) -> Option<&HorizontalAutoscaler> {
        self.autoscalers()
            .find(|a| same(&a.metadata, namespace, name))
    }

    /// The node group `namespace/name`.
    pub fn node_group(&self, namespace: &str, name: &str) -> Option<&ScalableNodeGroup> {
        self.node_groups()
            .find(|n| same(&n.metadata, namespace, name))
    }

    /// Runs producers, autoscalers and node groups once, at `now`. Never
    /// fails: every problem is in the report and in the objects' status,
    /// and the next tick tries again.
    pub async fn tick(&mut self, now: DateTime<Utc>) -> TickReport {
        let mut report = TickReport::default();
        self.tick_into(now, &mut report).await;
        report
    }

    /// [`tick`](Self::tick), writing the report into `report` (cleared
    /// first) so that a caller ticking in a loop reuses its storage.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use chrono::{TimeZone, Utc};
    /// # use karpenter_core::producers::MetricSink;
    /// # use karpenter_core::provider::ProviderRegistry;
    /// use karpenter_core::runner::{Runner, TickReport};
    /// # struct Discard;
    /// # impl MetricSink for Discard {
    /// #     fn set_gauge(&self, _: &str, _: &[(String, String)], _: f64) {}
    /// # }
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let mut runner = Runner::new(ProviderRegistry::new(), Arc::new(Discard));
    /// let mut report = TickReport::default();
    /// let mut now = Utc.with_ymd_and_hms(2026, 1, 5, 0, 0, 0).unwrap();
    /// for _ in 0..4 {
    ///     runner.tick_into(now, &mut report).await;
    ///     assert_eq!(report.now, now);
    ///     now += chrono::Duration::seconds(15);
    /// }
    /// # });
    /// ```
    pub async fn tick_into(&mut self, now: DateTime<Utc>, report: &mut TickReport) {
        report.now = now;
        std::mem::swap(&mut self.recycled_producers, &mut report.producers);
        report.producers.clear();
        // Last tick's autoscaler reports become storage for this tick's;
        // the two vectors swap roles every tick.
        std::mem::swap(&mut self.recycled, &mut report.autoscalers);
        report.autoscalers.clear();
        report.rescales.clear();
        report.errors.clear();
        report.producers.reserve(self.producers.len());
        report.autoscalers.reserve(self.autoscalers.len());
        self.run_producers(now, report).await;
        let mut observed = std::mem::take(&mut self.observed);
        observed.clear();
        observed.resize(self.node_groups.len(), None);
        for i in 0..self.autoscalers.len() {
            self.run_autoscaler(i, now, &mut observed, report).await;
        }
        for j in 0..self.node_groups.len() {
            self.reconcile_node_group(j, now, &mut observed, report)
                .await;
        }
        self.observed = observed;
        self.recycled.clear();
        self.recycled_producers.clear();
    }

    async fn run_producers(&mut self, now: DateTime<Utc>, report: &mut TickReport) {
        let needs = |p: &MetricsProducer| {
            p.spec.reserved_capacity.is_some() || p.spec.pending_capacity.is_some()
        };
        let snapshot: Option<Result<ClusterSnapshot, String>> = match (
            &self.cluster,
            self.producers.iter().any(|e| needs(&e.object)),
        ) {
            (Some(cluster), true) => Some(
                retry(&self.retry, "cluster snapshot", || cluster.snapshot())
                    .await
                    .map_err(|e| e.to_string()),
            ),
            _ => None,
        };
        let mut ctx = ProducerContext::new(now, &self.registry).with_retry(self.retry.clone());
        if let Some(Ok(snap)) = &snapshot {
            ctx = ctx.with_cluster(snap);
        }
        for (k, entry) in self.producers.iter_mut().enumerate() {
            let producer = &mut entry.object;
            // Storage of the report this one replaces.
            let mut gauges = self
                .recycled_producers
                .get_mut(k)
                .map(|old| std::mem::take(&mut old.gauges))
                .unwrap_or_default();
            // Updated in place on success, kept as they are on failure.
            let mut values = producer
                .status
                .as_mut()
                .map(|s| std::mem::take(&mut s.values))
                .unwrap_or_default();
            let result: Result<Option<DateTime<Utc>>, (String, MetricsProducerStatus)> =
                match (&snapshot, needs(producer)) {
                    (Some(Err(e)), true) => {
                        let message = format!(
                            "MetricsProducer {}: reading the cluster snapshot failed: {e}",
                            entry.key
                        );
                        let status = MetricsProducerStatus {
                            conditions: vec![condition(
                                "Calculable",
                                ConditionStatus::False,
                                "ClusterSnapshotFailed",
                                message.clone(),
                            )],
                            last_error: Some(message.clone()),
                            ..MetricsProducerStatus::default()
                        };
                        Err((message, status))
                    }
                    _ => {
                        evaluate_cached(producer, &ctx, &mut entry.cache, &mut values, &mut gauges)
                            .await
                            .map_err(|e| (e.to_string(), e.to_status(now)))
                    }
                };
            let status = producer.status.get_or_insert_with(Default::default);
            status.values = values;
            match result {
                Ok(next_schedule_change) => {
                    export(self.sink.as_ref(), &gauges);
                    merge_condition(&mut status.conditions, &computed_condition(now), now);
                    status.next_schedule_change = next_schedule_change;
                    status.last_error = None;
                    report.producers.push(ProducerReport {
                        producer: entry.key.clone(),
                        gauges,
                        error: None,
                    });
                }
                Err((message, failed)) => {
                    // The last good values stay; the error is recorded beside them.
                    for c in &failed.conditions {
                        merge_condition(&mut status.conditions, c, now);
                    }
                    status.last_error = failed.last_error;
                    report.errors.push(TickError {
                        kind: "MetricsProducer",
                        object: entry.key.clone(),
                        message: message.clone(),
                    });
                    gauges.clear();
                    report.producers.push(ProducerReport {
                        producer: entry.key.clone(),
                        gauges,
                        error: Some(message),
                    });
                }
            }
        }
    }

    /// Node group `j` and its handle, built once through the registry (an
    /// associated function over the fields it needs, so that a caller may
    /// hold the result and `&self.retry` across a call).
    fn handle_of<'a>(
        node_groups: &'a mut [NodeGroupEntry],
        registry: &ProviderRegistry,
        j: usize,
    ) -> Result<(&'a dyn NodeGroup, &'a NodeGroupEntry), String> {
        let Some(entry) = node_groups.get_mut(j) else {
            return Err("the node group was removed".to_string());
        };
        if entry.handle.is_none() {
            let built = registry
                .node_group(&entry.object.spec)
                .map_err(|e| e.to_string())?;
            entry.handle = Some(built);
        }
        let entry: &'a NodeGroupEntry = entry;
        match &entry.handle {
            Some(handle) => Ok((handle.as_ref(), entry)),
            None => Err("the node group has no cloud handle".to_string()),
        }
    }

    /// The cloud's replicas of node group `j`, read once per tick.
    async fn observe(
        &mut self,
        j: usize,
        observed: &mut Observed,
    ) -> Result<NodeGroupReplicas, String> {
        if let Some(Some(r)) = observed.get(j) {
            return r.clone();
        }
        let result = match Self::handle_of(&mut self.node_groups, &self.registry, j) {
            Ok((handle, entry)) => retry(&self.retry, entry.get_op.as_str(), || handle.replicas())
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(e),
        };
        if let Some(slot) = observed.get_mut(j) {
            *slot = Some(result.clone());
        }
        result
    }

    /// The metric source serving `type_name`, built once through the
    /// registry (over the fields it needs, so a caller may hold `&self.autoscalers`).
    fn metric_source(
        sources: &mut BTreeMap<String, Arc<dyn MetricSource>>,
        registry: &ProviderRegistry,
        type_name: &str,
    ) -> Result<Arc<dyn MetricSource>, String> {
        if let Some(s) = sources.get(type_name) {
            return Ok(s.clone());
        }
        let source = registry
            .metric_source(type_name)
            .map_err(|e| e.to_string())?;
        sources.insert(type_name.to_string(), source.clone());
        Ok(source)
    }

    /// Finds the autoscaler's target and reads its replicas.
    async fn target(
        &mut self,
        i: usize,
        observed: &mut Observed,
    ) -> Result<(usize, NodeGroupReplicas), String> {
        let Some(entry) = self.autoscalers.get_mut(i) else {
            return Err("the autoscaler was removed".to_string());
        };
        let target = &entry.object.spec.scale_target_ref;
        if target.kind != SCALABLE_NODE_GROUP {
            return Err(format!(
                "spec.scaleTargetRef.kind is {:?}; the runner scales ScalableNodeGroups only, set kind: {SCALABLE_NODE_GROUP}",
                target.kind
            ));
        }
        let j = match entry.target_index {
            Some((version, j)) if version == self.node_groups_version => j,
            _ => {
                let j = self.node_group_index.get(&entry.target_key).copied();
                entry.target_index = Some((self.node_groups_version, j));
                j
            }
        };
        let Some(j) = j else {
            return Err(format!(
                "spec.scaleTargetRef names ScalableNodeGroup {:?}, which does not exist in namespace {:?}; create it or fix spec.scaleTargetRef.name",
                entry.object.spec.scale_target_ref.name,
                namespace(&entry.object.metadata)
            ));
        };
        match self.observe(j, observed).await {
            Ok(r) => Ok((j, r)),
            Err(e) => Err(format!("reading the target failed: {e}")),
        }
    }

    async fn run_autoscaler(
        &mut self,
        i: usize,
        now: DateTime<Utc>,
        observed: &mut Observed,
        report: &mut TickReport,
    ) {
        let Some(entry) = self.autoscalers.get(i) else {
            return;
        };
        let ha_key = entry.key.clone();
        let target_key = entry.target_key.clone();

        let (j, replicas) = match self.target(i, observed).await {
            Ok(t) => t,
            Err(message) => {
                if let Some(entry) = self.autoscalers.get_mut(i) {
                    let status = entry.object.status.get_or_insert_with(Default::default);
                    merge_condition(
                        &mut status.conditions,
                        &condition(
                            reasons::ABLE_TO_SCALE,
                            ConditionStatus::False,
                            reasons::FAILED_GET_SCALE,
                            format!(
                                "the autoscaler was unable to get the target's current scale: {message}"
                            ),
                        ),
                        now,
                    );
                }
                report.errors.push(TickError {
                    kind: "HorizontalAutoscaler",
                    object: ha_key.clone(),
                    message,
                });
                report.autoscalers.push(AutoscalerReport {
                    autoscaler: ha_key,
                    target: target_key,
                    observations: Vec::new(),
                    decision: None,
                });
                return;
            }
        };

        // The metrics: a failed read is an observation too.
        let metric_count = self
            .autoscalers
            .get(i)
            .map_or(0, |e| e.object.spec.metrics.len());
        // Storage of the report this one replaces.
        let k = report.autoscalers.len();
        let (mut observations, mut decision) = match self.recycled.get_mut(k) {
            Some(old) => (
                std::mem::take(&mut old.observations),
                old.decision.take().unwrap_or_default(),
            ),
            None => (Vec::new(), Decision::default()),
        };
        observations.clear();
        observations.reserve(metric_count);
        for m in 0..metric_count {
            let Some(kind) = self
                .autoscalers
                .get(i)
                .and_then(|e| e.object.spec.metrics.get(m))
                .map(|metric| metric.source().map(|(k, _)| k.type_name()))
            else {
                break;
            };
            let observation = match kind {
                None => Observation::Error(format!(
                    "spec.metrics[{m}] has no source; set one of prometheus, cloudWatch or custom"
                )),
                Some(kind) => {
                    match Self::metric_source(&mut self.metric_sources, &self.registry, kind) {
                        Err(e) => Observation::Error(e),
                        Ok(source) => {
                            let Some((metric, op)) = self.autoscalers.get(i).and_then(|e| {
                                Some((e.object.spec.metrics.get(m)?, e.metric_ops.get(m)?))
                            }) else {
                                break;
                            };
                            match retry(&self.retry, op, || source.value(metric)).await {
                                Ok(v) => Observation::Value(v),
                                Err(e) => Observation::Error(e.to_string()),
                            }
                        }
                    }
                }
            };
            observations.push(observation);
        }

        // The decision.
        let (Some(sng), Some(entry)) = (
            self.node_groups.get_mut(j).map(|e| &mut e.object),
            self.autoscalers.get_mut(i),
        ) else {
            return;
        };
        let ha = &mut entry.object;
        let spec_replicas = sng.spec.replicas.unwrap_or(replicas.desired);
        let history = ha.status.as_mut().and_then(|s| s.history.take());
        decide_into(
            &DecisionInput {
                spec: &ha.spec,
                target: TargetState {
                    spec_replicas,
                    status_replicas: replicas.ready,
                },
                observations: &observations,
                history: None,
                now,
            },
            history,
            &mut decision,
        );

        // The intent goes to the target's spec; the node group step writes it.
        sng.spec.replicas = Some(decision.desired_replicas);

        let status = ha
            .status
            .get_or_insert_with(HorizontalAutoscalerStatus::default);
        status.observed_generation = ha.metadata.generation;
        status.current_replicas = decision.current_replicas;
        status.desired_replicas = decision.desired_replicas;
        if decision.rescale() {
            status.last_scale_time = Some(now);
        }
        update_metric_statuses(&mut status.current_metrics, &decision, &observations);
        for c in &decision.conditions {
            merge_condition(&mut status.conditions, c, now);
        }
        status.history = Some(std::mem::take(&mut decision.history));

        if let Some(error) = &decision.error {
            report.errors.push(TickError {
                kind: "HorizontalAutoscaler",
                object: ha_key.clone(),
                message: error.clone(),
            });
        }
        report.autoscalers.push(AutoscalerReport {
            autoscaler: ha_key,
            target: target_key,
            observations,
            decision: Some(decision),
        });
    }

    async fn reconcile_node_group(
        &mut self,
        j: usize,
        now: DateTime<Utc>,
        observed: &mut Observed,
        report: &mut TickReport,
    ) {
        let Some(want) = self.node_groups.get(j).and_then(|e| e.object.spec.replicas) else {
            return;
        };
        let replicas = self.observe(j, observed).await;
        let write: Result<Option<i32>, String> = match &replicas {
            Err(e) => Err(e.clone()),
            Ok(r) if r.desired == want => Ok(None),
            Ok(r) => match Self::handle_of(&mut self.node_groups, &self.registry, j) {
                Err(e) => Err(e),
                Ok((handle, entry)) => {
                    let op = SetReplicasOp(want, &entry.describe);
                    retry(&self.retry, op, || handle.set_replicas(want))
                        .await
                        .map(|()| Some(r.desired))
                        .map_err(|e| e.to_string())
                }
            },
        };
        let stabilization: Option<Result<Stabilization, String>> = match &write {
            Ok(_) => match Self::handle_of(&mut self.node_groups, &self.registry, j) {
                Ok((handle, entry)) => Some(
                    retry(&self.retry, entry.stabilized_op.as_str(), || {
                        handle.stabilized()
                    })
                    .await
                    .map_err(|e| e.to_string()),
                ),
                Err(_) => None,
            },
            Err(_) => None,
        };

        let Some(entry) = self.node_groups.get_mut(j) else {
            return;
        };
        let found = entry.handle.is_some();
        let status = entry
            .object
            .status
            .get_or_insert_with(ScalableNodeGroupStatus::default);
        if let Ok(r) = &replicas {
            status.replicas = Some(r.ready);
        }
        let active = ConditionStatus::from_bool(found);
        let active_reason = if found {
            "NodeGroupFound"
        } else {
            "NodeGroupNotFound"
        };
        if !has_condition(&status.conditions, "Active", active, active_reason) {
            let message = if found {
                format!(
                    "{} {} is managed",
                    entry.object.spec.type_, entry.object.spec.id
                )
            } else {
                format!(
                    "{} {} is not served by any registered provider, or does not exist",
                    entry.object.spec.type_, entry.object.spec.id
                )
            };
            set_condition(
                &mut status.conditions,
                condition("Active", active, active_reason, message),
                now,
            );
        }
        match write {
            Ok(rescaled_from) => {
                status.last_error = None;
                let reason = if rescaled_from.is_some() {
                    reasons::SUCCEEDED_RESCALE
                } else {
                    reasons::SUCCEEDED_GET_SCALE
                };
                if entry.able != Some((reason, want)) {
                    set_condition(
                        &mut status.conditions,
                        condition(
                            reasons::ABLE_TO_SCALE,
                            ConditionStatus::True,
                            reason,
                            format!("the node group's desired size is {want}"),
                        ),
                        now,
                    );
                    entry.able = Some((reason, want));
                }
                if let Some(from) = rescaled_from {
                    report.rescales.push(Rescale {
                        node_group: entry.key.clone(),
                        from,
                        to: want,
                    });
                }
            }
            Err(message) => {
                entry.able = None;
                set_condition(
                    &mut status.conditions,
                    condition(
                        reasons::ABLE_TO_SCALE,
                        ConditionStatus::False,
                        reasons::FAILED_UPDATE_SCALE,
                        format!(
                            "could not set the node group to {want} nodes; the next tick tries again: {message}"
                        ),
                    ),
                    now,
                );
                status.last_error = Some(message.clone());
                report.errors.push(TickError {
                    kind: "ScalableNodeGroup",
                    object: entry.key.clone(),
                    message,
                });
            }
        }
        match stabilization {
            Some(Ok(s)) => {
                let (st, reason) = if s.stabilized {
                    (ConditionStatus::True, "Stabilized")
                } else {
                    (ConditionStatus::False, "ScalingInProgress")
                };
                merge_condition(
                    &mut status.conditions,
                    &condition("Stabilized", st, reason, s.message),
                    now,
                );
            }
            Some(Err(e)) => merge_condition(
                &mut status.conditions,
                &condition(
                    "Stabilized",
                    ConditionStatus::Unknown,
                    "FailedGetStabilization",
                    e,
                ),
                now,
            ),
            None => {}
        }
    }
}

/// Rewrites `statuses` in place (one per observation), reusing its storage
/// and cloning an error text only when it changed.
fn update_metric_statuses(
    statuses: &mut Vec<MetricStatus>,
    decision: &Decision,
    observations: &[Observation],
) {
    statuses.truncate(observations.len());
    for (m, obs) in observations.iter().enumerate() {
        let (value, mut error) = match obs {
            Observation::Value(v) => (Some(*v), None),
            Observation::Error(e) => (None, Some(e.as_str())),
        };
        let mut recommendation = None;
        match decision.metrics.get(m) {
            Some(MetricOutcome::Recommendation { replicas, .. }) => {
                recommendation = Some(*replicas)
            }
            Some(MetricOutcome::Error { message, .. }) => error = Some(message.as_str()),
            None => {}
        }
        if statuses.len() <= m {
            statuses.push(MetricStatus {
                value: None,
                recommendation: None,
                error: None,
            });
        }
        if let Some(status) = statuses.get_mut(m) {
            status.value = value;
            status.recommendation = recommendation;
            if status.error.as_deref() != error {
                status.error = error.map(str::to_string);
            }
        }
    }
}
