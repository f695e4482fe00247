//! The in-memory driver: holds MetricsProducers, HorizontalAutoscalers and
//! ScalableNodeGroups and, one tick at a time, runs the
//! [reconcile functions](crate::reconcile) over them, as the Kubernetes
//! controllers do on watch events and intervals. Simulations and examples
//! use it; nothing here knows about Kubernetes.
//!
//! [`Runner::tick`] does, in order:
//!
//! 1. **Producers**: one cluster snapshot if any producer needs it (and,
//!    for `pendingCapacity` producers, one [`PendingAssignment`] of the
//!    pending pods to all their groups), then [`reconcile_producer`] for
//!    each; gauges go to the [`MetricSink`].
//! 2. **Node groups**: [`reconcile_node_group`] for each: the provider's
//!    sizes into status, `spec.replicas` pushed where it differs (an intent
//!    a failed write left behind is retried here).
//! 3. **Autoscalers**: [`reconcile_autoscaler`] for each, with its target
//!    ScalableNodeGroup behind a [`ScaleTarget`] (spec from the object,
//!    status from step 2); a decided size is written to the node group's
//!    `spec.replicas`.
//! 4. **Node groups whose `spec.replicas` changed in step 3** are
//!    reconciled again, as a watch event would trigger, so a decision
//!    reaches the cloud in the same tick.
//!
//! Within each step, objects are reconciled concurrently (at most
//! [`Runner::with_concurrency`] at once, so one slow provider does not stall
//! the others) and their outcomes applied in the runner's order, so results
//! never depend on timing: a simulation is byte-identical for its seed.
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

use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures_util::{StreamExt, stream};
use indexmap::IndexMap;

use crate::api::v1alpha1::{HorizontalAutoscaler, MetricsProducer, ScalableNodeGroup};
use crate::autoscaler::Decision;
use crate::cluster::{ClusterSnapshot, ClusterState};
use crate::error::Error;
use crate::producers::{Gauge, MetricSink, PendingAssignment, ProducerContext, export};
use crate::provider::{
    NodeGroupReplicas, ProviderError, ProviderErrorKind, ProviderRegistry, ProviderResult, Scale,
    ScaleTarget,
};
use crate::reconcile::{
    AutoscalerContext, KeyRef, NodeGroupContext, ObjectKey, ReconcileError, ScaleWrite,
    reconcile_autoscaler, reconcile_node_group, reconcile_producer,
};
use crate::retry::RetryPolicy;

/// The kind a HorizontalAutoscaler's `scaleTargetRef` must name here.
const SCALABLE_NODE_GROUP: &str = "ScalableNodeGroup";

/// Reconciles in flight at once within a step, by default.
pub const DEFAULT_CONCURRENCY: usize = 16;

/// What one producer did in a tick.
#[derive(Debug, Clone, PartialEq)]
pub struct ProducerReport {
    /// The MetricsProducer.
    pub producer: ObjectKey,
    /// The gauges it exported (empty when it failed).
    pub gauges: Vec<Gauge>,
}

/// What one autoscaler did in a tick.
#[derive(Debug, Clone, PartialEq)]
pub struct AutoscalerReport {
    /// The HorizontalAutoscaler.
    pub autoscaler: ObjectKey,
    /// Its target ScalableNodeGroup.
    pub target: ObjectKey,
    /// One reading per metric, in spec order (empty if the target could not
    /// be read).
    pub readings: Vec<ProviderResult<f64>>,
    /// The decision; `None` when the target could not be read.
    pub decision: Option<Decision>,
}

/// A node group's desired size, written to its provider in a tick.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rescale {
    /// The ScalableNodeGroup.
    pub node_group: ObjectKey,
    /// The provider's desired size before the write.
    pub from: i32,
    /// The desired size written.
    pub to: i32,
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
    /// Node groups whose desired size was written to the provider.
    pub rescales: Vec<Rescale>,
    /// Everything that failed, typed (with the provider error's kind and
    /// cause); the loop carries on past each.
    pub errors: Vec<ReconcileError>,
}

impl TickReport {
    /// The report of the autoscaler `namespace/name`.
    pub fn autoscaler(&self, namespace: &str, name: &str) -> Option<&AutoscalerReport> {
        self.autoscalers
            .iter()
            .find(|a| *a.autoscaler.namespace == *namespace && *a.autoscaler.name == *name)
    }

    /// Whether nothing failed.
    pub fn is_ok(&self) -> bool {
        self.errors.is_empty()
    }
}

/// Drives producers, autoscalers and node groups, one tick at a time.
/// See the [module docs](self).
pub struct Runner {
    producers: IndexMap<ObjectKey, MetricsProducer>,
    autoscalers: IndexMap<ObjectKey, HorizontalAutoscaler>,
    node_groups: IndexMap<ObjectKey, ScalableNodeGroup>,
    registry: ProviderRegistry,
    cluster: Option<Arc<dyn ClusterState>>,
    sink: Arc<dyn MetricSink>,
    concurrency: usize,
}

impl fmt::Debug for Runner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runner")
            .field("producers", &self.producers.keys().collect::<Vec<_>>())
            .field("autoscalers", &self.autoscalers.keys().collect::<Vec<_>>())
            .field("node_groups", &self.node_groups.keys().collect::<Vec<_>>())
            .field("registry", &self.registry)
            .field("cluster", &self.cluster.is_some())
            .field("concurrency", &self.concurrency)
            .finish()
    }
}

impl Runner {
    /// A runner with no objects and no cluster. Provider handles come from
    /// `registry`, wrapped in its retries and timeouts.
    pub fn new(registry: ProviderRegistry, sink: Arc<dyn MetricSink>) -> Self {
        Self {
            producers: IndexMap::new(),
            autoscalers: IndexMap::new(),
            node_groups: IndexMap::new(),
            registry,
            cluster: None,
            sink,
            concurrency: DEFAULT_CONCURRENCY,
        }
    }

    /// Sets the cluster that `reservedCapacity` and `pendingCapacity`
    /// producers read.
    pub fn with_cluster(mut self, cluster: Arc<dyn ClusterState>) -> Self {
        self.cluster = Some(cluster);
        self
    }

    /// Sets the retry policy of every provider call (the registry's).
    pub fn with_retry(mut self, policy: RetryPolicy) -> Self {
        self.registry.calls_mut().retry = policy;
        self
    }

    /// Sets how many reconciles of one step run at once (at least 1).
    /// Results do not depend on it.
    pub fn with_concurrency(mut self, concurrency: usize) -> Self {
        self.concurrency = concurrency.max(1);
        self
    }

    /// The provider registry.
    pub fn registry(&self) -> &ProviderRegistry {
        &self.registry
    }

    /// Validates `producer` and adds it, replacing the one with the same
    /// namespace and name (keeping its status if `producer` has none).
    pub fn add_producer(&mut self, producer: MetricsProducer) -> Result<(), Error> {
        let key = ObjectKey::of(&producer.metadata);
        producer.validate().map_err(|errors| Error::Invalid {
            kind: "MetricsProducer",
            name: key.to_string(),
            errors,
        })?;
        if let Some(old) = self.producers.get(&key)
            && let Some(queue) = &old.spec.queue
            && producer.spec.queue.as_ref() != Some(queue)
        {
            self.registry.forget_queue(queue);
        }
        upsert(&mut self.producers, key, producer, |p| &mut p.status);
        Ok(())
    }

    /// Validates `autoscaler` and adds it, replacing the one with the same
    /// namespace and name (keeping its status, and so its history, if
    /// `autoscaler` has none: re-applying a manifest does not reset the
    /// stabilization window).
    pub fn add_autoscaler(&mut self, autoscaler: HorizontalAutoscaler) -> Result<(), Error> {
        let key = ObjectKey::of(&autoscaler.metadata);
        autoscaler.validate().map_err(|errors| Error::Invalid {
            kind: "HorizontalAutoscaler",
            name: key.to_string(),
            errors,
        })?;
        upsert(&mut self.autoscalers, key, autoscaler, |a| &mut a.status);
        Ok(())
    }

    /// Validates `node_group` and adds it, replacing the one with the same
    /// namespace and name (keeping its status if `node_group` has none).
    pub fn add_node_group(&mut self, node_group: ScalableNodeGroup) -> Result<(), Error> {
        let key = ObjectKey::of(&node_group.metadata);
        node_group.validate().map_err(|errors| Error::Invalid {
            kind: "ScalableNodeGroup",
            name: key.to_string(),
            errors,
        })?;
        if let Some(old) = self.node_groups.get(&key)
            && (&old.spec.type_, &old.spec.id) != (&node_group.spec.type_, &node_group.spec.id)
        {
            self.registry.forget_node_group(&old.spec);
        }
        upsert(&mut self.node_groups, key, node_group, |n| &mut n.status);
        Ok(())
    }

    /// Removes the producer `namespace/name`.
    pub fn remove_producer(&mut self, namespace: &str, name: &str) -> Option<MetricsProducer> {
        let removed = self.producers.shift_remove(&KeyRef { namespace, name })?;
        if let Some(queue) = &removed.spec.queue {
            self.registry.forget_queue(queue);
        }
        Some(removed)
    }

    /// Removes the autoscaler `namespace/name`.
    pub fn remove_autoscaler(
        &mut self,
        namespace: &str,
        name: &str,
    ) -> Option<HorizontalAutoscaler> {
        self.autoscalers.shift_remove(&KeyRef { namespace, name })
    }

    /// Removes the node group `namespace/name` (the cloud group is left as
    /// it is).
    pub fn remove_node_group(&mut self, namespace: &str, name: &str) -> Option<ScalableNodeGroup> {
        let removed = self.node_groups.shift_remove(&KeyRef { namespace, name })?;
        self.registry.forget_node_group(&removed.spec);
        Some(removed)
    }

    /// The producers, in the order they were added.
    pub fn producers(&self) -> impl ExactSizeIterator<Item = &MetricsProducer> {
        self.producers.values()
    }

    /// The autoscalers, in the order they were added.
    pub fn autoscalers(&self) -> impl ExactSizeIterator<Item = &HorizontalAutoscaler> {
        self.autoscalers.values()
    }

    /// The node groups, in the order they were added.
    pub fn node_groups(&self) -> impl ExactSizeIterator<Item = &ScalableNodeGroup> {
        self.node_groups.values()
    }

    /// The producer `namespace/name`.
    pub fn producer(&self, namespace: &str, name: &str) -> Option<&MetricsProducer> {
        self.producers.get(&KeyRef { namespace, name })
    }

    /// The autoscaler `namespace/name`.
    pub fn autoscaler(&self, namespace: &str, name: &str) -> Option<&HorizontalAutoscaler> {
        self.autoscalers.get(&KeyRef { namespace, name })
    }

    /// The node group `namespace/name`.
    pub fn node_group(&self, namespace: &str, name: &str) -> Option<&ScalableNodeGroup> {
        self.node_groups.get(&KeyRef { namespace, name })
    }

    /// Runs producers, node groups, autoscalers and the node groups they
    /// changed, once, at `now`. Never fails: every problem is in the report
    /// and in the objects' status, and the next tick tries again.
    pub async fn tick(&mut self, now: DateTime<Utc>) -> TickReport {
        let mut report = TickReport {
            now,
            producers: Vec::with_capacity(self.producers.len()),
            autoscalers: Vec::with_capacity(self.autoscalers.len()),
            ..TickReport::default()
        };
        self.run_producers(now, &mut report).await;
        let all: Vec<usize> = (0..self.node_groups.len()).collect();
        let observed = self.run_node_groups(now, &all, &mut report).await;
        let changed = self.run_autoscalers(now, &observed, &mut report).await;
        self.run_node_groups(now, &changed, &mut report).await;
        report
    }

    async fn run_producers(&mut self, now: DateTime<Utc>, report: &mut TickReport) {
        let needs_cluster = self
            .producers
            .values()
            .any(|p| p.spec.reserved_capacity.is_some() || p.spec.pending_capacity.is_some());
        let snapshot: Option<ProviderResult<ClusterSnapshot>> = match &self.cluster {
            Some(cluster) if needs_cluster => {
                let cluster = self
                    .registry
                    .calls()
                    .wrap(cluster.clone(), "cluster state".to_string());
                Some(cluster.snapshot().await)
            }
            _ => None,
        };
        // Pending pods are assigned to groups once, for every producer.
        let pending = match &snapshot {
            Some(Ok(s))
                if self
                    .producers
                    .values()
                    .any(|p| p.spec.pending_capacity.is_some()) =>
            {
                let node_groups = &self.node_groups;
                let find = |namespace: &str, name: &str| {
                    node_groups
                        .get(&KeyRef { namespace, name })
                        .map(|n| n.spec.clone())
                };
                Some(
                    PendingAssignment::gather(s, self.producers.values(), find, &self.registry)
                        .await,
                )
            }
            _ => None,
        };
        let mut ctx = ProducerContext::new(now, &self.registry);
        match &snapshot {
            Some(Ok(s)) => ctx = ctx.with_cluster(s),
            Some(Err(e)) => ctx = ctx.with_cluster_error(e),
            None => {}
        }
        if let Some(p) = &pending {
            ctx = ctx.with_pending(p);
        }
        let outcomes = concurrently(self.concurrency, self.producers.values(), |p| {
            reconcile_producer(p, &ctx)
        })
        .await;
        for ((key, producer), outcome) in self.producers.iter_mut().zip(outcomes) {
            export(self.sink.as_ref(), &outcome.gauges);
            producer.status = Some(outcome.status);
            report.errors.extend(outcome.error);
            report.producers.push(ProducerReport {
                producer: key.clone(),
                gauges: outcome.gauges,
            });
        }
    }

    /// Reconciles the node groups at `indices` (in order) and returns what
    /// each observed, by index into `node_groups`.
    async fn run_node_groups(
        &mut self,
        now: DateTime<Utc>,
        indices: &[usize],
        report: &mut TickReport,
    ) -> Vec<Option<ProviderResult<NodeGroupReplicas>>> {
        let ctx = NodeGroupContext {
            now,
            providers: &self.registry,
        };
        let node_groups = &self.node_groups;
        let selected = indices.iter().filter_map(|&j| node_groups.get_index(j));
        let outcomes = concurrently(self.concurrency, selected, |(_, sng)| {
            reconcile_node_group(sng, &ctx)
        })
        .await;
        let mut observed = vec![None; self.node_groups.len()];
        for (&j, outcome) in indices.iter().zip(outcomes) {
            let Some((key, sng)) = self.node_groups.get_index_mut(j) else {
                continue;
            };
            if let Some(ScaleWrite {
                from,
                to,
                result: Ok(()),
            }) = outcome.write
            {
                report.rescales.push(Rescale {
                    node_group: key.clone(),
                    from,
                    to,
                });
            }
            sng.status = Some(outcome.status);
            report.errors.extend(outcome.errors);
            if let Some(slot) = observed.get_mut(j) {
                *slot = Some(outcome.observed);
            }
        }
        observed
    }

    /// Reconciles every autoscaler against its target and returns the
    /// indices of the node groups whose `spec.replicas` changed.
    async fn run_autoscalers(
        &mut self,
        now: DateTime<Utc>,
        observed: &[Option<ProviderResult<NodeGroupReplicas>>],
        report: &mut TickReport,
    ) -> Vec<usize> {
        let targets: Vec<InMemoryTarget> = self
            .autoscalers
            .values()
            .map(|ha| self.target_of(ha, observed))
            .collect();
        let registry = &self.registry;
        let work = self.autoscalers.values().zip(&targets);
        let outcomes = concurrently(self.concurrency, work, |(ha, target)| async move {
            let ctx = AutoscalerContext {
                now,
                target,
                providers: registry,
            };
            reconcile_autoscaler(ha, &ctx).await
        })
        .await;
        let mut changed = Vec::new();
        for (((key, ha), target), outcome) in self.autoscalers.iter_mut().zip(targets).zip(outcomes)
        {
            if let (Some(j), Some(replicas)) = (target.index, target.written()) {
                if let Some((_, sng)) = self.node_groups.get_index_mut(j) {
                    sng.spec.replicas = Some(replicas);
                }
                changed.push(j);
            }
            ha.status = Some(outcome.status);
            report.errors.extend(outcome.errors);
            report.autoscalers.push(AutoscalerReport {
                autoscaler: key.clone(),
                target: target.key,
                readings: outcome.readings,
                decision: outcome.decision,
            });
        }
        changed.sort_unstable();
        changed.dedup();
        changed
    }

    /// The in-memory scale target of `ha`: its ScalableNodeGroup's
    /// `spec.replicas` (the provider's desired size while unset) and the
    /// ready nodes observed this tick.
    fn target_of(
        &self,
        ha: &HorizontalAutoscaler,
        observed: &[Option<ProviderResult<NodeGroupReplicas>>],
    ) -> InMemoryTarget {
        let target_ref = &ha.spec.scale_target_ref;
        let wanted = KeyRef {
            namespace: ha.metadata.namespace.as_deref().unwrap_or("default"),
            name: &target_ref.name,
        };
        let found = self.node_groups.get_full(&wanted);
        let key = found.map_or_else(
            || ObjectKey::new(wanted.namespace, wanted.name),
            |(_, key, _)| key.clone(),
        );
        let scale = if target_ref.kind != SCALABLE_NODE_GROUP {
            Err(ProviderError::new(
                ProviderErrorKind::UnsupportedType,
                format!(
                    "spec.scaleTargetRef.kind is {:?}; the in-memory runner scales ScalableNodeGroups only, set kind: {SCALABLE_NODE_GROUP}",
                    target_ref.kind
                ),
            ))
        } else {
            match found {
                None => Err(ProviderError::new(
                    ProviderErrorKind::NotFound,
                    format!(
                        "spec.scaleTargetRef names ScalableNodeGroup {:?}, which does not exist in namespace {:?}; create it or fix spec.scaleTargetRef.name",
                        key.name, key.namespace
                    ),
                )),
                Some((j, _, sng)) => match observed.get(j).cloned().flatten() {
                    Some(Ok(r)) => Ok(Scale {
                        spec_replicas: sng.spec.replicas.unwrap_or(r.desired),
                        status_replicas: r.ready,
                        selector: None,
                    }),
                    Some(Err(e)) => Err(e.context("reading the target's node group")),
                    None => Err(ProviderError::new(
                        ProviderErrorKind::Unavailable,
                        "the target's node group was not observed this tick",
                    )),
                },
            }
        };
        InMemoryTarget {
            key,
            index: found.map(|(j, _, _)| j),
            scale,
            written: Mutex::new(None),
        }
    }
}

/// Inserts `object` at `key`, keeping its place and, when `object` has no
/// status, the status of the one it replaces.
fn upsert<T, S>(
    map: &mut IndexMap<ObjectKey, T>,
    key: ObjectKey,
    mut object: T,
    status: impl Fn(&mut T) -> &mut Option<S>,
) {
    if let Some(old) = map.get_mut(&key)
        && status(&mut object).is_none()
    {
        std::mem::swap(status(&mut object), status(old));
    }
    map.insert(key, object);
}

/// A ScalableNodeGroup as an autoscaler's [`ScaleTarget`]: the scale read
/// at the start of the step, and the write recorded for the runner to apply
/// in order.
struct InMemoryTarget {
    key: ObjectKey,
    index: Option<usize>,
    scale: ProviderResult<Scale>,
    written: Mutex<Option<i32>>,
}

impl InMemoryTarget {
    fn written(&self) -> Option<i32> {
        *self.written.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[async_trait]
impl ScaleTarget for InMemoryTarget {
    async fn scale(&self) -> ProviderResult<Scale> {
        self.scale.clone()
    }

    async fn set_replicas(&self, replicas: i32) -> ProviderResult<()> {
        *self.written.lock().unwrap_or_else(|e| e.into_inner()) = Some(replicas);
        Ok(())
    }
}

/// Runs `f` over `items` with at most `limit` futures in flight, and returns
/// the outputs in the order of `items`, whatever order they finished in.
/// A limit of 1 is a plain loop.
async fn concurrently<I, F, Fut>(limit: usize, items: I, mut f: F) -> Vec<Fut::Output>
where
    I: IntoIterator,
    F: FnMut(I::Item) -> Fut,
    Fut: Future,
{
    let items = items.into_iter();
    if limit <= 1 {
        let mut outputs = Vec::with_capacity(items.size_hint().0);
        for item in items {
            outputs.push(f(item).await);
        }
        return outputs;
    }
    let mut outputs: Vec<(usize, Fut::Output)> = stream::iter(items.enumerate())
        .map(|(i, item)| {
            let fut = f(item);
            async move { (i, fut.await) }
        })
        .buffer_unordered(limit.max(1))
        .collect()
        .await;
    outputs.sort_by_key(|(i, _)| *i);
    outputs.into_iter().map(|(_, output)| output).collect()
}
