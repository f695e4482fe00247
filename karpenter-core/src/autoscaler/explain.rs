//! The explanation of a decision: the ordered steps that produced the number.

use std::fmt;

use super::algorithm::Rule;
use super::behavior::Direction;
use crate::api::v1alpha1::{
    FallbackBehavior, MetricTargetType, ScalingPolicySelect, ScalingPolicyType,
};

/// One step of a decision. `Display` renders it as a sentence.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// No history existed: the current count was recorded as the first
    /// recommendation, so a restart never scales down at once.
    SeededHistory {
        /// The recorded count.
        replicas: i32,
    },
    /// History entries dated after the decision instant were dropped (they
    /// cannot be right: they would block a scale-up or undo changes that
    /// never happened).
    IgnoredFutureHistory {
        /// Recommendations dropped.
        recommendations: usize,
        /// Scale events dropped.
        scale_events: usize,
        /// Algorithm states reset (their last time was after now).
        algorithm_states: usize,
    },
    /// `current = 0` with `minReplicas > 0`: autoscaling is paused.
    Paused,
    /// The current count was outside `[min, max]` and is corrected at once.
    OutOfRange {
        /// Current count.
        current: i32,
        /// minReplicas.
        min: i32,
        /// maxReplicas.
        max: i32,
        /// Corrected count.
        desired: i32,
    },
    /// One metric's recommendation.
    MetricRecommendation {
        /// Index in `spec.metrics`.
        index: usize,
        /// Target type.
        target_type: MetricTargetType,
        /// Observed value.
        observed: f64,
        /// Target value.
        target: f64,
        /// Usage ratio.
        ratio: f64,
        /// Recommended replicas.
        replicas: i32,
        /// The rule applied.
        rule: Rule,
    },
    /// One metric could not be used.
    MetricFailed {
        /// Index in `spec.metrics`.
        index: usize,
        /// Condition reason, e.g. `FailedGetPrometheusMetric`.
        reason: String,
        /// What went wrong.
        message: String,
    },
    /// A metric with a role recommended the other way (or the current
    /// count) and abstained.
    MetricAbstained {
        /// Index in `spec.metrics`.
        index: usize,
        /// Its role.
        role: crate::api::v1alpha1::MetricRole,
        /// Its recommendation.
        replicas: i32,
        /// The current count.
        current: i32,
    },
    /// Every usable metric abstained: nothing changes.
    AllAbstained {
        /// The current count, kept.
        current: i32,
    },
    /// The largest recommendation was taken.
    Combined {
        /// Index of the winning metric.
        winner: usize,
        /// Its recommendation.
        replicas: i32,
        /// How many metrics gave a recommendation.
        valid: usize,
    },
    /// No metric could be read: nothing changes.
    NoValidMetric,
    /// Some metrics failed and the others want to scale down: nothing
    /// changes (a partial read never scales down).
    PartialReadNoScaleDown {
        /// The largest valid recommendation.
        proposal: i32,
        /// The current count, kept.
        current: i32,
    },
    /// Every metric failed `threshold` consecutive times: `spec.fallback`
    /// gives the recommendation, which then goes through stabilization,
    /// the policies and the clamp like any other.
    Fallback {
        /// Consecutive decisions in which every metric failed, this one included.
        failed_reads: u32,
        /// `fallback.failureThreshold`.
        threshold: u32,
        /// `fallback.behavior`.
        behavior: FallbackBehavior,
        /// `fallback.replicas`.
        replicas: i32,
        /// The current count.
        current: i32,
        /// The resulting recommendation.
        recommendation: i32,
    },
    /// Stabilization windows.
    Stabilization {
        /// The prenormalized recommendation.
        desired: i32,
        /// Lowest recommendation in the scale-up window.
        up_recommendation: i32,
        /// Highest recommendation in the scale-down window.
        down_recommendation: i32,
        /// Scale-up window, seconds.
        up_window: i64,
        /// Scale-down window, seconds.
        down_window: i64,
        /// The stabilized count.
        stabilized: i32,
    },
    /// A rate-limiting policy bounded (or could have bounded) the change.
    Policy {
        /// Direction.
        direction: Direction,
        /// selectPolicy.
        select: ScalingPolicySelect,
        /// The chosen policy, if any (`None` when Disabled).
        policy: Option<(usize, ScalingPolicyType, i32, i32)>,
        /// Replicas at the start of the chosen policy's period.
        start: i64,
        /// The resulting bound (after "never reverse").
        limit: i32,
    },
    /// The count was limited by policies or by `[min, max]`.
    Limited {
        /// `ScaleUpLimit`, `TooManyReplicas`, `ScaleDownLimit` or `TooFewReplicas`.
        reason: &'static str,
        /// Before.
        from: i32,
        /// After.
        to: i32,
        /// The resolved minReplicas.
        min: i32,
        /// maxReplicas.
        max: i32,
    },
    /// The final count.
    Final {
        /// The current count.
        current: i32,
        /// The decided count.
        desired: i32,
    },
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::SeededHistory { replicas } => write!(
                f,
                "first decision since start: recorded the current count {replicas} as a recommendation"
            ),
            Self::IgnoredFutureHistory { recommendations, scale_events, algorithm_states } => {
                let mut parts = Vec::new();
                if *recommendations > 0 {
                    parts.push(format!("{recommendations} recommendation(s)"));
                }
                if *scale_events > 0 {
                    parts.push(format!("{scale_events} scale event(s)"));
                }
                if *algorithm_states > 0 {
                    parts.push(format!("{algorithm_states} algorithm state(s)"));
                }
                write!(
                    f,
                    "ignored {} dated after now: history cannot come from the future (a clock that went back, or an edited status)",
                    parts.join(" and ")
                )
            }
            Self::Paused => f.write_str(
                "scaling is paused: the target has 0 replicas and minReplicas > 0 (set minReplicas: 0 to scale from zero)",
            ),
            Self::OutOfRange { current, min, max, desired } => write!(
                f,
                "current count {current} is outside [{min}, {max}]: corrected to {desired} at once (no windows or policies)"
            ),
            Self::MetricRecommendation { index, target_type, observed, target, ratio, replicas, rule } => {
                let unit = if *target_type == MetricTargetType::Utilization { "%" } else { "" };
                let saturated = if *replicas == i32::MAX {
                    " (saturated at the i32 maximum)"
                } else {
                    ""
                };
                write!(
                    f,
                    "metrics[{index}]: observed {observed} against {} target {target}{unit}, usage ratio {ratio:.4}: recommends {replicas}{saturated} ({})",
                    target_type.as_str(),
                    rule.describe()
                )
            }
            Self::MetricFailed { index, reason, message } => {
                write!(f, "metrics[{index}]: not usable ({reason}): {message}")
            }
            Self::MetricAbstained { index, role, replicas, current } => write!(
                f,
                "metrics[{index}] is {}: its {replicas} against current {current} abstains",
                role.as_str()
            ),
            Self::AllAbstained { current } => write!(
                f,
                "every usable metric abstained (its role points the other way): keeping {current}"
            ),
            Self::Combined { winner, replicas, valid } => write!(
                f,
                "largest recommendation wins: metrics[{winner}] with {replicas} (of {valid} usable metric{})",
                if *valid == 1 { "" } else { "s" }
            ),
            Self::NoValidMetric => f.write_str("no metric could be used: the count stays as it is"),
            Self::PartialReadNoScaleDown { proposal, current } => write!(
                f,
                "some metrics failed and the others recommend {proposal} < current {current}: a partial read never scales down, keeping {current}"
            ),
            Self::Fallback { failed_reads, threshold, behavior, replicas, current, recommendation } => write!(
                f,
                "fallback: no metric could be read in {failed_reads} consecutive decisions (failureThreshold {threshold}): {} of fallback.replicas {replicas} and current {current} recommends {recommendation}",
                behavior.as_str()
            ),
            Self::Stabilization { desired, up_recommendation, down_recommendation, up_window, down_window, stabilized } => {
                if stabilized == desired {
                    write!(
                        f,
                        "stabilization: {desired} is within [{up_recommendation}, {down_recommendation}] (lowest of the last {up_window}s, highest of the last {down_window}s): unchanged"
                    )
                } else if stabilized < desired {
                    write!(
                        f,
                        "stabilization: the lowest recommendation of the last {up_window}s is {up_recommendation}: {desired} held to {stabilized}"
                    )
                } else {
                    write!(
                        f,
                        "stabilization: the highest recommendation of the last {down_window}s is {down_recommendation}: {desired} held to {stabilized}"
                    )
                }
            }
            Self::Policy { direction, select, policy, start, limit } => match policy {
                None => write!(
                    f,
                    "scale-{} policies: selectPolicy Disabled, no scaling {} (limit {limit})",
                    direction.as_str(),
                    direction.as_str()
                ),
                Some((i, t, v, p)) => {
                    let amount = match t {
                        ScalingPolicyType::Count => format!("{v} replicas"),
                        ScalingPolicyType::Percent => format!("{v}%"),
                    };
                    write!(
                        f,
                        "scale-{} policies ({select:?}): policies[{i}] allows {amount} per {p}s from {start} replicas at the start of the period: limit {limit}",
                        direction.as_str()
                    )
                }
            },
            Self::Limited { reason, from, to, min, max } => {
                write!(f, "limited ({reason}): {from} → {to}, ")?;
                match *reason {
                    super::reasons::TOO_MANY_REPLICAS => write!(f, "clamped to maxReplicas {max}"),
                    super::reasons::TOO_FEW_REPLICAS => write!(f, "raised to minReplicas {min}"),
                    super::reasons::SCALE_UP_LIMIT => write!(
                        f,
                        "the scale-up policies allow at most {to} now (maxReplicas {max} is not reached)"
                    ),
                    _ => write!(
                        f,
                        "the scale-down policies allow at least {to} now (minReplicas {min} is not reached)"
                    ),
                }
            }
            Self::Final { current, desired } => {
                if current == desired {
                    write!(f, "decision: keep {current} replicas")
                } else {
                    write!(f, "decision: scale from {current} to {desired} replicas")
                }
            }
        }
    }
}
