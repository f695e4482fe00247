//! [`reconcile_producer`]: one MetricsProducer.

use super::{ObjectKey, ReconcileError, merge_conditions};
use crate::api::v1alpha1::{MetricsProducer, MetricsProducerStatus};
use crate::producers::{Gauge, ProducerContext, evaluate};

/// What reconciling one MetricsProducer gave.
#[derive(Debug, Clone, PartialEq)]
pub struct ProducerOutcome {
    /// The status to store: the new values (or, on failure, the last good
    /// ones beside `lastError`), conditions merged with the previous ones.
    pub status: MetricsProducerStatus,
    /// The gauges to export (empty when the producer failed: a stale value
    /// is not re-exported).
    pub gauges: Vec<Gauge>,
    /// Why it failed, if it did.
    pub error: Option<ReconcileError>,
}

/// Evaluates `producer` (see [`evaluate`]) and turns the result into its
/// next status and gauges.
///
/// On failure the last computed values stay in the status, `lastError` and
/// `Calculable=False` say why, and no gauge is returned. A partial failure
/// (a queue's length read, its oldest message age not) keeps what was
/// computed, exports its gauges and reports the error
/// (`Calculable=True`, reason `PartiallyComputed`).
///
/// ```
/// use chrono::{TimeZone, Utc};
/// use karpenter_core::api::v1alpha1::MetricsProducer;
/// use karpenter_core::producers::ProducerContext;
/// use karpenter_core::provider::ProviderRegistry;
/// use karpenter_core::reconcile::reconcile_producer;
///
/// let producer: MetricsProducer = serde_json::from_value(serde_json::json!({
///     "metadata": {"name": "business-hours"},
///     "spec": {"scheduleSpec": {"timezone": "UTC", "defaultReplicas": 1,
///         "behaviors": [{"replicas": 5, "start": {"hours": [9]}, "end": {"hours": [17]}}]}}
/// }))?;
/// let registry = ProviderRegistry::new();
/// let now = Utc.with_ymd_and_hms(2026, 1, 5, 10, 0, 0).unwrap();
/// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
/// let out = reconcile_producer(&producer, &ProducerContext::new(now, &registry)).await;
/// assert_eq!(out.gauges[0].value, 5.0);
/// assert_eq!(out.status.conditions[0].reason, "ValuesComputed");
/// # });
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub async fn reconcile_producer(
    producer: &MetricsProducer,
    ctx: &ProducerContext<'_>,
) -> ProducerOutcome {
    let previous = producer.status.as_ref();
    let previous_conditions = previous.map_or(&[][..], |s| s.conditions.as_slice());
    match evaluate(producer, ctx).await {
        Ok(out) => ProducerOutcome {
            status: MetricsProducerStatus {
                conditions: merge_conditions(previous_conditions, out.status.conditions, ctx.now),
                ..out.status
            },
            gauges: out.gauges,
            error: out.partial_error.map(|source| ReconcileError::Producer {
                object: ObjectKey::of(&producer.metadata),
                source,
            }),
        },
        Err(e) => {
            let failed = e.to_status(ctx.now);
            let status = MetricsProducerStatus {
                values: previous.map(|s| s.values.clone()).unwrap_or_default(),
                next_schedule_change: previous.and_then(|s| s.next_schedule_change),
                conditions: merge_conditions(previous_conditions, failed.conditions, ctx.now),
                last_error: failed.last_error,
            };
            ProducerOutcome {
                status,
                gauges: Vec::new(),
                error: Some(ReconcileError::Producer {
                    object: ObjectKey::of(&producer.metadata),
                    source: e,
                }),
            }
        }
    }
}
