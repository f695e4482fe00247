//! [`reconcile_autoscaler`]: one HorizontalAutoscaler.

use chrono::{DateTime, Utc};

use super::{ObjectKey, ReconcileError, ScaleWrite, condition, merge_conditions};
use crate::api::v1alpha1::{
    ConditionStatus, HorizontalAutoscaler, HorizontalAutoscalerSpec, HorizontalAutoscalerStatus,
    MetricStatus,
};
use crate::autoscaler::{
    Decision, DecisionInput, MetricOutcome, Observation, TargetState, decide_into, reasons,
};
use crate::provider::{
    ProviderError, ProviderErrorKind, ProviderRegistry, ProviderResult, Scale, ScaleTarget,
};

/// What [`reconcile_autoscaler`] needs besides the object.
#[derive(Clone, Copy)]
pub struct AutoscalerContext<'a> {
    /// The decision instant.
    pub now: DateTime<Utc>,
    /// The object `spec.scaleTargetRef` names.
    pub target: &'a dyn ScaleTarget,
    /// Where metric sources come from (by source type).
    pub providers: &'a ProviderRegistry,
}

/// What reconciling one HorizontalAutoscaler gave.
#[derive(Debug, Clone, PartialEq)]
pub struct AutoscalerOutcome {
    /// The status to store: current and desired replicas, `lastScaleTime`,
    /// each metric's last reading, conditions (merged with the previous
    /// ones) and the history the next decision needs.
    pub status: HorizontalAutoscalerStatus,
    /// The decision; `None` when the target could not be read. Its
    /// `history` has been moved into `status.history`, so it is empty here.
    pub decision: Option<Decision>,
    /// Each metric's reading, in spec order (empty when the target could not
    /// be read).
    pub readings: Vec<ProviderResult<f64>>,
    /// The write to the target, when the decision changed its size.
    pub write: Option<ScaleWrite>,
    /// What failed: the target read or write, unusable metrics.
    pub errors: Vec<ReconcileError>,
}

/// Reads the target's scale and every metric, decides with the engine
/// ([`decide`](crate::autoscaler::decide)), writes the new size to the target when it changed, and
/// returns the next status.
///
/// - Target unreadable: `AbleToScale=False` (`FailedGetScale`), nothing else
///   changes.
/// - A metric unreadable: it never pulls the count down (the engine's rule);
///   it is in `errors` and in `status.currentMetrics`.
/// - Write failed: `AbleToScale=False` (`FailedUpdateScale`), no scale event
///   or `lastScaleTime` is recorded, `desiredReplicas` stays the target's
///   current size; the next reconcile decides again.
///
/// See the [module docs](super) for an example.
pub async fn reconcile_autoscaler(
    ha: &HorizontalAutoscaler,
    ctx: &AutoscalerContext<'_>,
) -> AutoscalerOutcome {
    let previous = ha.status.as_ref();
    let scale = match ctx.target.scale().await {
        Ok(scale) => scale,
        Err(e) => return target_unreadable(ObjectKey::of(&ha.metadata), previous, e, ctx.now),
    };

    let readings = read_metrics(&ha.spec, ctx.providers).await;
    let observations: Vec<Observation> = readings
        .iter()
        .map(|r| match r {
            Ok(v) => Observation::Value(*v),
            Err(e) => Observation::Error(e.to_string()),
        })
        .collect();
    let mut decision = Decision::default();
    decide_into(
        &DecisionInput {
            spec: &ha.spec,
            target: TargetState {
                spec_replicas: scale.spec_replicas,
                status_replicas: scale.status_replicas,
            },
            observations: &observations,
            history: None,
            now: ctx.now,
        },
        previous.and_then(|s| s.history.clone()),
        &mut decision,
    );
    let write = write_scale(ctx.target, &mut decision, &scale, ctx.now).await;

    let mut errors = metric_errors(ha, &decision, &readings);
    if let Some(ScaleWrite {
        to, result: Err(e), ..
    }) = &write
    {
        errors.push(ReconcileError::Provider {
            kind: "HorizontalAutoscaler",
            object: ObjectKey::of(&ha.metadata),
            operation: format!("writing {to} replicas to the target").into(),
            source: e.clone(),
        });
    }
    let status = next_status(ha, &mut decision, &readings, write.as_ref(), ctx.now);
    AutoscalerOutcome {
        status,
        decision: Some(decision),
        readings,
        write,
        errors,
    }
}

/// The outcome when the target's scale cannot be read.
fn target_unreadable(
    object: ObjectKey,
    previous: Option<&HorizontalAutoscalerStatus>,
    error: ProviderError,
    now: DateTime<Utc>,
) -> AutoscalerOutcome {
    let previous = previous.cloned().unwrap_or_default();
    let failed = condition(
        reasons::ABLE_TO_SCALE,
        ConditionStatus::False,
        reasons::FAILED_GET_SCALE,
        format!("the autoscaler was unable to get the target's current scale: {error}"),
    );
    let status = HorizontalAutoscalerStatus {
        conditions: merge_conditions(&previous.conditions, vec![failed], now),
        ..previous
    };
    AutoscalerOutcome {
        status,
        decision: None,
        readings: Vec::new(),
        write: None,
        errors: vec![ReconcileError::Provider {
            kind: "HorizontalAutoscaler",
            object,
            operation: "reading the target's scale".into(),
            source: error,
        }],
    }
}

/// Reads every metric of `spec` from the source its kind names, in spec
/// order.
async fn read_metrics(
    spec: &HorizontalAutoscalerSpec,
    providers: &ProviderRegistry,
) -> Vec<ProviderResult<f64>> {
    let mut readings = Vec::with_capacity(spec.metrics.len());
    for (index, metric) in spec.metrics.iter().enumerate() {
        let reading = match metric.source() {
            None => Err(ProviderError::new(
                ProviderErrorKind::UnsupportedType,
                format!(
                    "spec.metrics[{index}] has no source; set one of prometheus, cloudWatch or custom"
                ),
            )),
            Some((kind, _)) => match providers.metric_source(kind.type_name()) {
                Ok(source) => source.value(metric).await,
                Err(e) => Err(e),
            },
        };
        readings.push(reading);
    }
    readings
}

/// Writes the decided size to the target when it changed; a failed write
/// is recorded in the decision (`FailedUpdateScale`, no scale event).
async fn write_scale(
    target: &dyn ScaleTarget,
    decision: &mut Decision,
    scale: &Scale,
    now: DateTime<Utc>,
) -> Option<ScaleWrite> {
    if !decision.rescale() {
        return None;
    }
    let to = decision.desired_replicas;
    let result = target.set_replicas(to).await;
    if let Err(e) = &result {
        decision.record_write_failure(&e.to_string(), now);
    }
    Some(ScaleWrite {
        from: scale.spec_replicas,
        to,
        result,
    })
}

/// One error per metric the decision could not use.
fn metric_errors(
    ha: &HorizontalAutoscaler,
    decision: &Decision,
    readings: &[ProviderResult<f64>],
) -> Vec<ReconcileError> {
    decision
        .metrics
        .iter()
        .enumerate()
        .filter_map(|(index, outcome)| match outcome {
            MetricOutcome::Error { reason, message } => Some(ReconcileError::Metric {
                object: ObjectKey::of(&ha.metadata),
                index,
                reason: reason.clone(),
                message: message.clone(),
                source: readings.get(index).and_then(|r| r.clone().err()),
            }),
            MetricOutcome::Recommendation { .. } | MetricOutcome::Abstained { .. } => None,
        })
        .collect()
}

/// The status after `decision` (and its write); the decision's history
/// moves into it.
fn next_status(
    ha: &HorizontalAutoscaler,
    decision: &mut Decision,
    readings: &[ProviderResult<f64>],
    write: Option<&ScaleWrite>,
    now: DateTime<Utc>,
) -> HorizontalAutoscalerStatus {
    let previous = ha.status.as_ref();
    let wrote = write.map(|w| w.result.is_ok());
    HorizontalAutoscalerStatus {
        observed_generation: ha.metadata.generation,
        current_replicas: decision.current_replicas,
        // A failed write left the target where it was.
        desired_replicas: if wrote == Some(false) {
            decision.current_replicas
        } else {
            decision.desired_replicas
        },
        last_scale_time: if wrote == Some(true) {
            Some(now)
        } else {
            previous.and_then(|p| p.last_scale_time)
        },
        current_metrics: metric_statuses(decision, readings),
        conditions: merge_conditions(
            previous.map_or(&[][..], |p| &p.conditions),
            decision.conditions.clone(),
            now,
        ),
        history: Some(std::mem::take(&mut decision.history)),
    }
}

/// One [`MetricStatus`] per metric: its value, its recommendation, or why
/// it had none.
fn metric_statuses(decision: &Decision, readings: &[ProviderResult<f64>]) -> Vec<MetricStatus> {
    readings
        .iter()
        .enumerate()
        .map(|(m, reading)| {
            let mut status = MetricStatus {
                value: reading.as_ref().ok().copied(),
                recommendation: None,
                error: reading.as_ref().err().map(ToString::to_string),
                abstained: false,
            };
            match decision.metrics.get(m) {
                Some(MetricOutcome::Recommendation { replicas, .. }) => {
                    status.recommendation = Some(*replicas);
                }
                Some(MetricOutcome::Error { message, .. }) => status.error = Some(message.clone()),
                Some(MetricOutcome::Abstained { replicas, .. }) => {
                    status.recommendation = Some(*replicas);
                    status.abstained = true;
                }
                None => {}
            }
            status
        })
        .collect()
}
