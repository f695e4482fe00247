//! Per-metric recommendation algorithms.
//!
//! An [`Algorithm`] turns one metric reading into a recommended replica
//! count. [`Proportional`] is the Kubernetes HPA rule set with the
//! karpenter-rs differences (`docs/decisions.md`, "Per-metric rules");
//! [`Pid`](super::Pid) plugs in through the
//! same signature.

use chrono::{DateTime, Utc};

use crate::api::v1alpha1::{AlgorithmState, MetricTargetType};

/// Everything an algorithm may look at for one metric.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MetricContext {
    /// How observed and target compare.
    pub target_type: MetricTargetType,
    /// The observed value (finite). For `Utilization`, a fraction (0.6).
    pub observed: f64,
    /// The target (finite, > 0). For `Utilization`, a percent (60).
    pub target: f64,
    /// The target's `spec.replicas`.
    pub current_replicas: i32,
    /// The target's `status.replicas` (ready nodes).
    pub status_replicas: i32,
    /// The autoscaler's resolved `minReplicas`.
    pub min_replicas: i32,
    /// The autoscaler's `maxReplicas`.
    pub max_replicas: i32,
    /// Tolerance above 1 (scale-up direction).
    pub tolerance_up: f64,
    /// Tolerance below 1 (scale-down direction).
    pub tolerance_down: f64,
    /// The decision instant.
    pub now: DateTime<Utc>,
}

impl MetricContext {
    /// The usage ratio: observed / target, with `Utilization` as
    /// 100·fraction / percent and `AverageValue` per ready replica.
    pub fn usage_ratio(&self) -> f64 {
        match self.target_type {
            MetricTargetType::Value => self.observed / self.target,
            MetricTargetType::Utilization => 100.0 * self.observed / self.target,
            MetricTargetType::AverageValue => {
                self.observed / (self.target * f64::from(self.status_replicas))
            }
        }
    }

    /// Whether `ratio` is within `[1 − tolDown, 1 + tolUp]` (inclusive; NaN
    /// never is).
    pub fn within_tolerance(&self, ratio: f64) -> bool {
        1.0 - self.tolerance_down <= ratio && ratio <= 1.0 + self.tolerance_up
    }

    /// Whether nodes are still launching (status < spec): the ready count is
    /// a partial view (`docs/decisions.md`, "Per-metric rules").
    pub fn launching(&self) -> bool {
        self.status_replicas < self.current_replicas
    }
}

/// Which rule produced a recommendation (for the explanation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rule {
    /// Ratio within tolerance: no change (the current count).
    WithinTolerance,
    /// `AverageValue` within tolerance: the status count (ready nodes).
    WithinToleranceStatusCount,
    /// `ceil(ratio × ready replicas)` (`Value`, `Utilization`).
    RatioTimesReady,
    /// `ceil(ratio)` from zero replicas, no tolerance (`Value`, `Utilization`).
    FromZero,
    /// `ceil(total / target)` (`AverageValue`).
    TotalOverTarget,
    /// A proposal below current while nodes launch, raised to current
    /// (`docs/decisions.md`, "Per-metric rules").
    HeldWhileLaunching,
    /// A PID controller's output.
    Pid,
}

impl Rule {
    /// A short human description.
    pub fn describe(self) -> &'static str {
        match self {
            Self::WithinTolerance => "ratio within tolerance: keep the current count",
            Self::WithinToleranceStatusCount => "ratio within tolerance: the ready count",
            Self::RatioTimesReady => "ceil(ratio × ready replicas)",
            Self::FromZero => "from zero replicas: ceil(ratio), no tolerance",
            Self::TotalOverTarget => "ceil(total / target)",
            Self::HeldWhileLaunching => {
                "nodes still launching: no scale-down on a partial view, keep the current count"
            }
            Self::Pid => "PID on the usage ratio",
        }
    }
}

/// One metric's recommendation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AlgorithmOutput {
    /// Recommended replicas (>= 0).
    pub replicas: i32,
    /// The usage ratio the recommendation was computed from.
    pub ratio: f64,
    /// The rule that produced it.
    pub rule: Rule,
}

/// Turns one metric reading into a recommendation.
///
/// Implementations must be pure functions of the context and the state they
/// are given: the engine persists `state` in the autoscaler's status.
pub trait Algorithm: Send + Sync {
    /// A short name, e.g. `Proportional`.
    fn name(&self) -> &'static str;

    /// Whether the algorithm uses [`AlgorithmState`] (if not, the engine
    /// neither keeps nor persists any).
    fn is_stateful(&self) -> bool {
        false
    }

    /// The recommendation for one metric. `state` is this metric's state from
    /// the last decision (default when there was none); the algorithm may
    /// update it.
    fn recommend(&self, ctx: &MetricContext, state: &mut AlgorithmState) -> AlgorithmOutput;
}

/// Rounds up and saturates into `0..=i32::MAX` (NaN gives 0).
pub(crate) fn ceil_replicas(x: f64) -> i32 {
    let c = x.ceil();
    if c.is_nan() || c <= 0.0 {
        0
    } else if c >= f64::from(i32::MAX) {
        i32::MAX
    } else {
        c as i32
    }
}

/// The Kubernetes HPA proportional rules for scalar metrics, with the
/// karpenter-rs `Utilization` and launching-nodes rules (`docs/decisions.md`,
/// "Per-metric rules").
///
/// | target | ratio | within tolerance | otherwise |
/// |---|---|---|---|
/// | `Value` | v / t | current | ⌈ratio × ready⌉ (⌈ratio⌉ from zero, no tolerance) |
/// | `Utilization` | 100·f / T | current | ⌈ratio × ready⌉ |
/// | `AverageValue` | v / (t × ready) | ready (current while launching) | ⌈v / t⌉ |
///
/// While nodes are launching (ready < current), a `Value` or `Utilization`
/// proposal below current becomes current.
///
/// ```
/// use chrono::Utc;
/// use karpenter_core::api::v1alpha1::{AlgorithmState, MetricTargetType};
/// use karpenter_core::autoscaler::{Algorithm, MetricContext, Proportional};
///
/// let ctx = MetricContext {
///     target_type: MetricTargetType::AverageValue, observed: 2400.0, target: 4.0,
///     current_replicas: 0, status_replicas: 0, min_replicas: 0, max_replicas: 1000,
///     tolerance_up: 0.1, tolerance_down: 0.1, now: Utc::now(),
/// };
/// assert_eq!(Proportional.recommend(&ctx, &mut AlgorithmState::default()).replicas, 600);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Proportional;

impl Algorithm for Proportional {
    fn name(&self) -> &'static str {
        "Proportional"
    }

    fn recommend(&self, ctx: &MetricContext, _state: &mut AlgorithmState) -> AlgorithmOutput {
        let ratio = ctx.usage_ratio();
        let out = |replicas, rule| AlgorithmOutput {
            replicas,
            ratio,
            rule,
        };
        match ctx.target_type {
            MetricTargetType::Value | MetricTargetType::Utilization => {
                if ctx.current_replicas == 0 {
                    return out(ceil_replicas(ratio), Rule::FromZero);
                }
                if ctx.within_tolerance(ratio) {
                    return out(ctx.current_replicas, Rule::WithinTolerance);
                }
                let proposal = ceil_replicas(ratio * f64::from(ctx.status_replicas.max(0)));
                if ctx.launching() && proposal < ctx.current_replicas {
                    return out(ctx.current_replicas, Rule::HeldWhileLaunching);
                }
                out(proposal, Rule::RatioTimesReady)
            }
            MetricTargetType::AverageValue => {
                if ctx.within_tolerance(ratio) {
                    if ctx.launching() {
                        return out(ctx.current_replicas, Rule::WithinTolerance);
                    }
                    return out(ctx.status_replicas.max(0), Rule::WithinToleranceStatusCount);
                }
                out(
                    ceil_replicas(ctx.observed / ctx.target),
                    Rule::TotalOverTarget,
                )
            }
        }
    }
}
