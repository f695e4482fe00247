//! [`FakeProvider`]: the fakes behind core's [`CloudProvider`] factory.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use karpenter_core::api::v1alpha1::{QueueSpec, ScalableNodeGroupSpec};
use karpenter_core::provider::{
    CloudProvider, MetricSource, NodeGroup, ProviderError, ProviderErrorKind, ProviderResult, Queue,
};

use crate::metric_store::FakeMetricStore;
use crate::node_group::FakeNodeGroup;
use crate::queue::FakeQueue;

/// `spec.type` of ScalableNodeGroups served by [`FakeProvider`].
pub const NODE_GROUP_TYPE: &str = "FakeNodeGroup";
/// `spec.queue.type` of MetricsProducers served by [`FakeProvider`].
pub const QUEUE_TYPE: &str = "FakeQueue";
/// The metric source type served by [`FakeProvider`]'s metric store.
pub const METRIC_SOURCE_TYPE: &str = "prometheus";

#[derive(Default)]
struct Objects {
    node_groups: BTreeMap<String, FakeNodeGroup>,
    queues: BTreeMap<String, FakeQueue>,
}

/// A [`CloudProvider`] serving fakes: node groups of type
/// [`FakeNodeGroup`](NODE_GROUP_TYPE), queues of type
/// [`FakeQueue`](QUEUE_TYPE) and the `prometheus` metric source (answered by
/// a [`FakeMetricStore`]). Objects are found by `spec.id`; add them before
/// the runner first asks for them.
///
/// ```
/// use std::sync::Arc;
/// use chrono::{TimeZone, Utc};
/// use karpenter_core::api::v1alpha1::ScalableNodeGroupSpec;
/// use karpenter_core::provider::ProviderRegistry;
/// use karpenter_fake::{FakeMetricStore, FakeNodeGroup, FakeProvider, SimClock};
///
/// let clock = SimClock::new(Utc.with_ymd_and_hms(2026, 1, 5, 0, 0, 0).unwrap());
/// let provider = FakeProvider::new(FakeMetricStore::new());
/// provider.add_node_group(FakeNodeGroup::builder("ml-training").build(&clock));
/// let mut registry = ProviderRegistry::new();
/// registry.register(Arc::new(provider)).unwrap();
///
/// let spec = |id: &str| ScalableNodeGroupSpec { type_: "FakeNodeGroup".into(), id: id.into(), replicas: None };
/// assert!(registry.node_group(&spec("ml-training")).is_ok());
/// let err = registry.node_group(&spec("ml-trainnig")).err().unwrap();
/// assert!(err.to_string().contains("known: ml-training"));
/// ```
pub struct FakeProvider {
    metrics: FakeMetricStore,
    objects: Mutex<Objects>,
}

impl std::fmt::Debug for FakeProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let o = self.lock();
        f.debug_struct("FakeProvider")
            .field("node_groups", &o.node_groups.keys().collect::<Vec<_>>())
            .field("queues", &o.queues.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl FakeProvider {
    /// A provider whose `prometheus` source is `metrics`.
    pub fn new(metrics: FakeMetricStore) -> Self {
        Self {
            metrics,
            objects: Mutex::new(Objects::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Objects> {
        self.objects.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Serves `group` for ScalableNodeGroups whose `spec.id` is its id.
    pub fn add_node_group(&self, group: FakeNodeGroup) {
        self.lock()
            .node_groups
            .insert(group.id().to_string(), group);
    }

    /// Serves `queue` for queue producers whose `spec.queue.id` is its id.
    pub fn add_queue(&self, queue: FakeQueue) {
        self.lock().queues.insert(queue.id().to_string(), queue);
    }

    /// The metric store behind the `prometheus` source.
    pub fn metrics(&self) -> &FakeMetricStore {
        &self.metrics
    }
}

fn not_found<T>(what: &str, id: &str, known: &BTreeMap<String, T>, add: &str) -> ProviderError {
    let known: Vec<&str> = known.keys().map(String::as_str).collect();
    let known = if known.is_empty() {
        "none".to_string()
    } else {
        known.join(", ")
    };
    ProviderError::new(
        ProviderErrorKind::NotFound,
        format!(
            "the fake provider has no {what} with id {id:?} (known: {known}); add it with FakeProvider::{add} or fix spec.id"
        ),
    )
}

impl CloudProvider for FakeProvider {
    fn name(&self) -> String {
        "fake".to_string()
    }

    fn node_group_types(&self) -> Vec<String> {
        vec![NODE_GROUP_TYPE.to_string()]
    }

    fn queue_types(&self) -> Vec<String> {
        vec![QUEUE_TYPE.to_string()]
    }

    fn metric_source_types(&self) -> Vec<String> {
        vec![METRIC_SOURCE_TYPE.to_string()]
    }

    fn validate_node_group(&self, spec: &ScalableNodeGroupSpec) -> ProviderResult<()> {
        let o = self.lock();
        if o.node_groups.contains_key(&spec.id) {
            Ok(())
        } else {
            Err(not_found(
                "node group",
                &spec.id,
                &o.node_groups,
                "add_node_group",
            ))
        }
    }

    fn validate_queue(&self, spec: &QueueSpec) -> ProviderResult<()> {
        let o = self.lock();
        if o.queues.contains_key(&spec.id) {
            Ok(())
        } else {
            Err(not_found("queue", &spec.id, &o.queues, "add_queue"))
        }
    }

    fn node_group(&self, spec: &ScalableNodeGroupSpec) -> ProviderResult<Arc<dyn NodeGroup>> {
        let o = self.lock();
        match o.node_groups.get(&spec.id) {
            Some(g) => Ok(Arc::new(g.clone())),
            None => Err(not_found(
                "node group",
                &spec.id,
                &o.node_groups,
                "add_node_group",
            )),
        }
    }

    fn queue(&self, spec: &QueueSpec) -> ProviderResult<Arc<dyn Queue>> {
        let o = self.lock();
        match o.queues.get(&spec.id) {
            Some(q) => Ok(Arc::new(q.clone())),
            None => Err(not_found("queue", &spec.id, &o.queues, "add_queue")),
        }
    }

    fn metric_source(&self, source_type: &str) -> ProviderResult<Arc<dyn MetricSource>> {
        if source_type == METRIC_SOURCE_TYPE {
            Ok(Arc::new(self.metrics.clone()))
        } else {
            Err(ProviderError::new(
                ProviderErrorKind::UnsupportedType,
                format!(
                    "the fake provider serves metric source {METRIC_SOURCE_TYPE:?} only, not {source_type:?}; use a prometheus query"
                ),
            ))
        }
    }
}
