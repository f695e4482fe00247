//! Metrics producers: turn the world into numbers.
//!
//! Each producer kind is a pure computation over its inputs
//! ([`queue`], [`reserved_capacity`], [`schedule`], [`pending_capacity`]);
//! [`evaluate`] gathers the inputs of one [`MetricsProducer`] through the
//! provider SPI and returns its [`Gauge`] samples and a human-readable
//! [`MetricsProducerStatus`]. A runner fetches one [`ClusterSnapshot`] per
//! tick and evaluates many producers against it, then hands the gauges to a
//! [`MetricSink`] (the Prometheus registry, the fake metric store).
//!
//! `pendingCapacity` producers share one computation: a pod that fits
//! several node groups counts for one. The runner computes the
//! [`PendingAssignment`] once per snapshot from all of them
//! ([`PendingAssignment::gather`]) and passes it in
//! [`ProducerContext::pending`]; each producer reads its own group.
//!
//! Every gauge carries the producer's `name` and `namespace` labels
//! (namespace `default` when the object has none).
//!
//! ```
//! use std::collections::BTreeMap;
//! use chrono::{TimeZone, Utc};
//! use karpenter_core::api::v1alpha1::MetricsProducer;
//! use karpenter_core::cluster::{ClusterSnapshot, Node, Pod, PodPhase, Resources};
//! use karpenter_core::producers::{evaluate, ProducerContext};
//! use karpenter_core::provider::ProviderRegistry;
//!
//! let producer: MetricsProducer = serde_json::from_value(serde_json::json!({
//!     "metadata": {"name": "ml-training-capacity", "namespace": "karpenter"},
//!     "spec": {"reservedCapacity": {"nodeSelector": {"group": "ml-training"}}}
//! })).unwrap();
//! let node = Node {
//!     name: "n1".into(),
//!     labels: BTreeMap::from([("group".to_string(), "ml-training".to_string())]),
//!     allocatable: Resources::new(16_000, 64 << 30, 110),
//!     taints: vec![],
//!     ready: true,
//!     unschedulable: false,
//! };
//! let pod = Pod {
//!     namespace: "default".into(),
//!     name: "trainer".into(),
//!     node_name: Some("n1".into()),
//!     requests: Resources::new(10_000, 16 << 30, 1),
//!     phase: PodPhase::Running,
//!     unschedulable: false,
//!     node_selector: BTreeMap::new(),
//!     tolerations: vec![],
//!     ..Pod::default()
//! };
//! let snapshot = ClusterSnapshot { nodes: vec![node], pods: vec![pod], daemon_sets: vec![] };
//! let registry = ProviderRegistry::new();
//! let ctx = ProducerContext::new(Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(), &registry)
//!     .with_cluster(&snapshot);
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let out = evaluate(&producer, &ctx).await.unwrap();
//! assert_eq!(out.status.values["cpu"], "62.50%, 10/16");
//! let util = out.gauges.iter()
//!     .find(|g| g.name == "karpenter_reserved_capacity_cpu_utilization").unwrap();
//! assert_eq!(util.value, 0.625);
//! assert!(util.labels.contains(&("namespace".to_string(), "karpenter".to_string())));
//! # });
//! ```

pub mod pending_capacity;
pub mod queue;
pub mod reserved_capacity;
pub mod schedule;

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::api::v1alpha1::{Condition, ConditionStatus, MetricsProducer, MetricsProducerStatus};
use crate::cluster::ClusterSnapshot;
use crate::provider::{ProviderError, ProviderRegistry};

pub use pending_capacity::PendingAssignment;
pub use queue::QueueReading;
pub use reserved_capacity::ReservedCapacity;
pub use schedule::{Schedule, ScheduleError, ScheduledValue};

/// One gauge sample.
#[derive(Debug, Clone, PartialEq)]
pub struct Gauge {
    /// Metric name, e.g. `karpenter_queue_length`.
    pub name: &'static str,
    /// Labels; always the producer's `name` and `namespace`.
    pub labels: Labels,
    /// The value.
    pub value: f64,
}

/// Where gauges go: the Prometheus registry of the controller, the fake
/// metric store, a test recorder.
pub trait MetricSink: Send + Sync {
    /// Sets the gauge `name` with `labels` to `value`, creating it if needed.
    fn set_gauge(&self, name: &str, labels: &[(String, String)], value: f64);
}

/// Sets every gauge of `gauges` in `sink`.
pub fn export(sink: &dyn MetricSink, gauges: &[Gauge]) {
    for g in gauges {
        sink.set_gauge(g.name, &g.labels, g.value);
    }
}

/// The labels every gauge of `producer` carries: `name` and `namespace`.
pub fn producer_labels(name: &str, namespace: &str) -> Labels {
    Arc::new([
        ("name".to_string(), name.to_string()),
        ("namespace".to_string(), namespace.to_string()),
    ])
}

/// A gauge's labels, sorted by name; shared (cloning is a reference count),
/// since every gauge of a producer carries the same ones.
pub type Labels = Arc<[(String, String)]>;

/// Everything a producer evaluation may need, passed in so that evaluation
/// is deterministic and testable.
#[derive(Debug, Clone, Copy)]
pub struct ProducerContext<'a> {
    /// The evaluation instant (schedules are evaluated at it).
    pub now: DateTime<Utc>,
    /// Providers that build queues from specs (already wrapped in retries
    /// and timeouts by the registry).
    pub providers: &'a ProviderRegistry,
    /// The cluster snapshot of this tick, for `reservedCapacity`; fetch one
    /// per tick and share it between producers.
    pub cluster: Option<&'a ClusterSnapshot>,
    /// Why there is no snapshot, when reading it failed: reported by the
    /// producers that need one.
    pub cluster_error: Option<&'a ProviderError>,
    /// The joint assignment of pending pods to the `pendingCapacity`
    /// producers' groups, computed once per snapshot from every one of them
    /// ([`PendingAssignment::gather`] or
    /// [`compute`](PendingAssignment::compute)).
    pub pending: Option<&'a PendingAssignment>,
    /// Reserved capacity already summed by the caller, one per node
    /// selector (a watch-fed
    /// [`ReservedCapacityIndex`](reserved_capacity::ReservedCapacityIndex) keeps these current
    /// without a full snapshot). A `reservedCapacity` producer whose
    /// selector is here reads it instead of summing `cluster`; the others
    /// sum `cluster` as before.
    pub reserved: &'a [ReservedCapacity],
}

impl<'a> ProducerContext<'a> {
    /// A context at `now` with no cluster snapshot.
    pub fn new(now: DateTime<Utc>, providers: &'a ProviderRegistry) -> Self {
        Self {
            now,
            providers,
            cluster: None,
            cluster_error: None,
            pending: None,
            reserved: &[],
        }
    }

    /// The same context with reserved capacity summed by the caller (see
    /// [`reserved`](Self::reserved)).
    pub fn with_reserved(mut self, reserved: &'a [ReservedCapacity]) -> Self {
        self.reserved = reserved;
        self
    }

    /// The same context with the tick's cluster snapshot.
    pub fn with_cluster(mut self, snapshot: &'a ClusterSnapshot) -> Self {
        self.cluster = Some(snapshot);
        self
    }

    /// The same context with the tick's pending-pod assignment, which
    /// `pendingCapacity` producers read their group from.
    pub fn with_pending(mut self, assignment: &'a PendingAssignment) -> Self {
        self.pending = Some(assignment);
        self
    }

    /// The same context, recording that reading the snapshot failed.
    pub fn with_cluster_error(mut self, error: &'a ProviderError) -> Self {
        self.cluster_error = Some(error);
        self
    }
}

/// What one evaluation produced.
#[derive(Debug, Clone, PartialEq)]
pub struct ProducerOutput {
    /// Gauge samples to export.
    pub gauges: Vec<Gauge>,
    /// Human-readable values, the next schedule change, and a `Calculable=True`
    /// condition stamped with the evaluation instant (merge it into the stored
    /// status with [`crate::api::v1alpha1::set_condition`] to keep transition
    /// times).
    pub status: MetricsProducerStatus,
    /// A failure that left part of the values unknown while the rest were
    /// computed (a queue whose length was read but whose oldest message age
    /// could not be): also in `status.lastError` and the `Calculable`
    /// condition (reason `PartiallyComputed`).
    pub partial_error: Option<ProducerError>,
}

/// Why a producer could not be evaluated. Every message names the producer
/// (`namespace/name`) and what to do.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ProducerError {
    /// A provider call failed (after retries, if retryable).
    #[error("MetricsProducer {producer}: {what} failed: {error}")]
    Provider {
        /// `namespace/name` of the producer.
        producer: String,
        /// The call, e.g. `reading queue AWSSQSQueue/orders`.
        what: String,
        /// The provider's error, with its kind and cause.
        #[source]
        error: ProviderError,
    },
    /// The spec cannot be evaluated.
    #[error("MetricsProducer {producer}: {field} is invalid: {message}")]
    InvalidSpec {
        /// `namespace/name` of the producer.
        producer: String,
        /// JSON path of the field, e.g. `spec.scheduleSpec.timezone`.
        field: String,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// Reading the cluster snapshot a producer needs failed.
    #[error("MetricsProducer {producer}: reading the cluster snapshot failed: {error}")]
    ClusterSnapshot {
        /// `namespace/name` of the producer.
        producer: String,
        /// The error reading the snapshot, with its kind and cause.
        #[source]
        error: ProviderError,
    },
    /// `reservedCapacity` or `pendingCapacity` was evaluated without a
    /// cluster snapshot.
    #[error(
        "MetricsProducer {producer}: spec.{kind} needs a cluster snapshot, but none was given; fetch one with ClusterState::snapshot and pass it in ProducerContext::cluster"
    )]
    NoClusterSnapshot {
        /// `namespace/name` of the producer.
        producer: String,
        /// `reservedCapacity` or `pendingCapacity`.
        kind: &'static str,
    },
    /// `pendingCapacity` was evaluated without the joint assignment, or
    /// with one computed without this producer.
    #[error(
        "MetricsProducer {producer}: spec.pendingCapacity needs the pending-pod assignment of this snapshot computed with every pendingCapacity producer, this one included; compute it with PendingAssignment::gather and pass it in ProducerContext::pending"
    )]
    NoPendingAssignment {
        /// `namespace/name` of the producer.
        producer: String,
    },
}

impl ProducerError {
    /// `namespace/name` of the producer that failed.
    pub fn producer(&self) -> &str {
        match self {
            Self::Provider { producer, .. }
            | Self::ClusterSnapshot { producer, .. }
            | Self::InvalidSpec { producer, .. }
            | Self::NoClusterSnapshot { producer, .. }
            | Self::NoPendingAssignment { producer } => producer,
        }
    }

    /// Whether evaluating again later may succeed without a spec change.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Provider { error, .. } | Self::ClusterSnapshot { error, .. } => {
                error.is_retryable()
            }
            Self::NoClusterSnapshot { .. } | Self::NoPendingAssignment { .. } => true,
            Self::InvalidSpec { .. } => false,
        }
    }

    /// A status recording this failure at `now`: `lastError` and
    /// `Calculable=False`, no values.
    pub fn to_status(&self, now: DateTime<Utc>) -> MetricsProducerStatus {
        let reason = match self {
            Self::Provider { .. } => "ProviderError",
            Self::ClusterSnapshot { .. } => "ClusterSnapshotFailed",
            Self::InvalidSpec { .. } => "InvalidSpec",
            Self::NoClusterSnapshot { .. } => "NoClusterSnapshot",
            Self::NoPendingAssignment { .. } => "NoPendingAssignment",
        };
        MetricsProducerStatus {
            values: BTreeMap::new(),
            next_schedule_change: None,
            conditions: vec![calculable(
                ConditionStatus::False,
                reason,
                self.to_string(),
                now,
            )],
            last_error: Some(self.to_string()),
        }
    }
}

/// The snapshot of `ctx`, or the error a producer of `kind` reports.
fn cluster<'a>(
    ctx: &ProducerContext<'a>,
    kind: &'static str,
    id: &dyn Fn() -> String,
) -> Result<&'a ClusterSnapshot, ProducerError> {
    match (ctx.cluster, ctx.cluster_error) {
        (Some(snapshot), _) => Ok(snapshot),
        (None, Some(error)) => Err(ProducerError::ClusterSnapshot {
            producer: id(),
            error: error.clone(),
        }),
        (None, None) => Err(ProducerError::NoClusterSnapshot {
            producer: id(),
            kind,
        }),
    }
}

fn calculable(
    status: ConditionStatus,
    reason: &'static str,
    message: impl Into<std::borrow::Cow<'static, str>>,
    now: DateTime<Utc>,
) -> Condition {
    Condition {
        type_: "Calculable".into(),
        status,
        reason: reason.into(),
        message: message.into(),
        last_transition_time: Some(now),
    }
}

/// Evaluates one producer: reads its inputs (the queue through the provider
/// registry, which retries; the cluster snapshot from `ctx.cluster`; the
/// clock from `ctx.now`) and returns its gauges and status.
///
/// Fails when the spec does not set exactly one producer kind, when
/// `metadata.name` is missing, when a provider call fails, when
/// `reservedCapacity` or `pendingCapacity` is given no snapshot, and when
/// `pendingCapacity` is given no [`PendingAssignment`] that includes it
/// (`ctx.pending`). See the [module docs](self) for an example.
pub async fn evaluate(
    producer: &MetricsProducer,
    ctx: &ProducerContext<'_>,
) -> Result<ProducerOutput, ProducerError> {
    let namespace = producer.metadata.namespace.as_deref().unwrap_or("default");
    let Some(name) = producer.metadata.name.as_deref().filter(|n| !n.is_empty()) else {
        return Err(ProducerError::InvalidSpec {
            producer: format!("{namespace}/<unnamed>"),
            field: "metadata.name".to_string(),
            message: "is required: gauges are labelled with it; give the MetricsProducer a name"
                .to_string(),
        });
    };
    // Only error paths need the object's key.
    let id = || format!("{namespace}/{name}");
    let spec = &producer.spec;
    let kinds = [
        (spec.queue.is_some(), "queue"),
        (spec.reserved_capacity.is_some(), "reservedCapacity"),
        (spec.schedule_spec.is_some(), "scheduleSpec"),
        (spec.pending_capacity.is_some(), "pendingCapacity"),
    ];
    if kinds.iter().filter(|(set, _)| *set).count() != 1 {
        let set: Vec<&str> = kinds.iter().filter(|(s, _)| *s).map(|(_, k)| *k).collect();
        let message = if set.is_empty() {
            "sets no producer; set exactly one of queue, reservedCapacity, scheduleSpec, pendingCapacity".to_string()
        } else {
            format!("sets {}; set exactly one of them", set.join(", "))
        };
        return Err(ProducerError::InvalidSpec {
            producer: id(),
            field: "spec".to_string(),
            message,
        });
    }
    let labels = producer_labels(name, namespace);

    let mut partial_error = None;
    // Something the values need said beside them (no capacity to compare
    // against, a selector that matches nothing).
    let mut note: Option<String> = None;
    let (values, gauges, next_schedule_change) = if let Some(q) = &spec.queue {
        let provider_err = |what: &str, error| ProducerError::Provider {
            producer: id(),
            what: format!("{what} queue {}/{}", q.type_, q.id),
            error,
        };
        let queue_handle = ctx
            .providers
            .queue(q)
            .map_err(|e| provider_err("reading", e))?;
        let reading = queue::read(queue_handle.as_ref())
            .await
            .map_err(|e| provider_err("reading", e))?;
        if let queue::OldestMessageAge::Unreadable(e) = &reading.oldest_message_age {
            partial_error = Some(provider_err("reading the oldest message age of", e.clone()));
        }
        (reading.status_values(), reading.gauges(&labels), None)
    } else if let Some(rc) = &spec.reserved_capacity {
        let snapshot = cluster(ctx, "reservedCapacity", &id)?;
        let rc = match ctx
            .reserved
            .iter()
            .find(|r| r.node_selector == rc.node_selector)
        {
            Some(summed) => summed.clone(),
            None => ReservedCapacity::compute(snapshot, &rc.node_selector),
        };
        note = rc.message();
        (rc.status_values(), rc.gauges(&labels), None)
    } else if let Some(s) = &spec.schedule_spec {
        let (value, next_change) =
            schedule::evaluate_spec(s, ctx.now).map_err(|e| ProducerError::InvalidSpec {
                producer: id(),
                field: format!("spec.scheduleSpec.{}", e.field),
                message: e.message,
            })?;
        (value.status_values(), value.gauges(&labels), next_change)
    } else {
        cluster(ctx, "pendingCapacity", &id)?;
        let found = ctx.pending.and_then(|a| {
            let index = a
                .groups()
                .iter()
                .position(|g| g.namespace == namespace && g.name == name)?;
            Some((a, index))
        });
        let Some((assignment, index)) = found else {
            return Err(ProducerError::NoPendingAssignment { producer: id() });
        };
        let group = &assignment.groups()[index];
        note = group.message();
        (assignment.status_values(index), group.gauges(&labels), None)
    };
    let condition = match (&partial_error, note) {
        (None, None) => calculable(
            ConditionStatus::True,
            "ValuesComputed",
            // A stable message: the status changes only when values do.
            "the producer's values were computed",
            ctx.now,
        ),
        (None, Some(note)) => calculable(
            ConditionStatus::True,
            "ValuesComputed",
            format!("the producer's values were computed; {note}"),
            ctx.now,
        ),
        (Some(e), _) => calculable(
            ConditionStatus::True,
            "PartiallyComputed",
            format!("some values could not be computed: {e}"),
            ctx.now,
        ),
    };
    Ok(ProducerOutput {
        gauges,
        status: MetricsProducerStatus {
            values,
            next_schedule_change,
            conditions: vec![condition],
            last_error: partial_error.as_ref().map(ToString::to_string),
        },
        partial_error,
    })
}
