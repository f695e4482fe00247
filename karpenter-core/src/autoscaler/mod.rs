//! The decision engine: `desired = f(spec, target, observations, history, now)`.
//!
//! A pure, deterministic function that follows the Kubernetes
//! HorizontalPodAutoscaler v2 controller, with the differences listed in
//! `docs/decisions.md` ("Where karpenter-rs differs"):
//!
//! 1. each metric gives a recommendation from the [`Algorithm`]
//!    ([`Proportional`] by default);
//! 2. the largest recommendation wins; a metric that cannot be read never
//!    pulls the decision down, and if none can be read nothing changes;
//! 3. stabilization windows and rate-limiting policies (the behavior, HPA
//!    defaults when omitted) shape the change;
//! 4. the result is clamped to `[minReplicas, maxReplicas]`.
//!
//! The [`Decision`] carries the number, the three conditions with upstream
//! reason strings, the updated history to persist, and the ordered
//! [`Step`]s that explain it.
//!
//! ```
//! use chrono::{TimeZone, Utc};
//! use karpenter_core::api::v1alpha1::HorizontalAutoscalerSpec;
//! use karpenter_core::autoscaler::{decide, DecisionInput, Observation, TargetState};
//!
//! let spec: HorizontalAutoscalerSpec = serde_json::from_value(serde_json::json!({
//!     "scaleTargetRef": {"kind": "ScalableNodeGroup", "name": "web"},
//!     "minReplicas": 1, "maxReplicas": 10,
//!     "metrics": [{"prometheus": {"query": "cpu", "target": {"type": "Utilization", "value": 60}}}]
//! })).unwrap();
//! let d = decide(&DecisionInput {
//!     spec: &spec,
//!     target: TargetState { spec_replicas: 4, status_replicas: 4 },
//!     observations: &[Observation::Value(0.9)], // 90% against a 60% target
//!     history: None,
//!     now: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
//! });
//! assert_eq!(d.desired_replicas, 6); // ceil(1.5 × 4)
//! assert_eq!(d.condition("AbleToScale").unwrap().reason, "SucceededRescale");
//! ```

mod algorithm;
mod behavior;
mod explain;
mod pid;

use std::borrow::Cow;

use chrono::{DateTime, Utc};

pub use algorithm::{Algorithm, AlgorithmOutput, MetricContext, Proportional, Rule};
pub use behavior::{
    DEFAULT_SCALE_DOWN_POLICIES, DEFAULT_SCALE_DOWN_WINDOW_SECONDS, DEFAULT_SCALE_UP_POLICIES,
    DEFAULT_SCALE_UP_WINDOW_SECONDS, DEFAULT_TOLERANCE, Direction, PolicyBound, RateLimit,
    ResolvedBehavior, ResolvedRules, Stabilized, rate_limit, record_recommendation,
    record_scale_event, stabilize,
};
pub use explain::Step;
pub use pid::{Pid, PidGains};

use crate::api::v1alpha1::{
    AlgorithmState, AlgorithmType, Condition, ConditionStatus, Fallback, HorizontalAutoscalerSpec,
    ScalingHistory,
};

/// Condition types and reasons, as the Kubernetes HPA spells them.
pub mod reasons {
    /// Condition: whether the target can be read and written.
    pub const ABLE_TO_SCALE: &str = "AbleToScale";
    /// Condition: whether a metric produced a recommendation.
    pub const SCALING_ACTIVE: &str = "ScalingActive";
    /// Condition: whether the count was limited by policies or bounds.
    pub const SCALING_LIMITED: &str = "ScalingLimited";

    /// The target could not be read.
    pub const FAILED_GET_SCALE: &str = "FailedGetScale";
    /// The target was read.
    pub const SUCCEEDED_GET_SCALE: &str = "SucceededGetScale";
    /// A new count was written.
    pub const SUCCEEDED_RESCALE: &str = "SucceededRescale";
    /// Writing the new count failed.
    pub const FAILED_UPDATE_SCALE: &str = "FailedUpdateScale";
    /// Stabilization did not change the recommendation.
    pub const READY_FOR_NEW_SCALE: &str = "ReadyForNewScale";
    /// The up window held the count down.
    pub const SCALE_UP_STABILIZED: &str = "ScaleUpStabilized";
    /// The down window held the count up.
    pub const SCALE_DOWN_STABILIZED: &str = "ScaleDownStabilized";
    /// A metric gave a recommendation.
    pub const VALID_METRIC_FOUND: &str = "ValidMetricFound";
    /// Target at 0 with minReplicas > 0.
    pub const SCALING_DISABLED: &str = "ScalingDisabled";
    /// A metric has no (or an unknown) source or target.
    pub const INVALID_METRIC_SOURCE_TYPE: &str = "InvalidMetricSourceType";
    /// The count is within the allowed range.
    pub const DESIRED_WITHIN_RANGE: &str = "DesiredWithinRange";
    /// Clamped to maxReplicas.
    pub const TOO_MANY_REPLICAS: &str = "TooManyReplicas";
    /// Clamped to minReplicas.
    pub const TOO_FEW_REPLICAS: &str = "TooFewReplicas";
    /// Limited by a scale-up policy.
    pub const SCALE_UP_LIMIT: &str = "ScaleUpLimit";
    /// Limited by a scale-down policy.
    pub const SCALE_DOWN_LIMIT: &str = "ScaleDownLimit";

    /// Condition (only with `spec.fallback`): whether the fallback count
    /// replaces the metrics' recommendation.
    pub const FALLBACK: &str = "Fallback";
    /// Every metric failed `failureThreshold` consecutive times: the
    /// fallback count is used.
    pub const FALLBACK_ACTIVE: &str = "FallbackActive";
    /// Some metric could be read (or the failures have not reached the
    /// threshold yet): no fallback.
    pub const FALLBACK_INACTIVE: &str = "FallbackInactive";
}

/// One reading of one metric.
#[derive(Debug, Clone, PartialEq)]
pub enum Observation {
    /// The metric's current value.
    Value(f64),
    /// Why the metric could not be read.
    Error(String),
}

/// The scale target as the autoscaler sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TargetState {
    /// The target's `spec.replicas` ("current").
    pub spec_replicas: i32,
    /// The target's `status.replicas` (ready nodes).
    pub status_replicas: i32,
}

/// Everything one decision depends on.
#[derive(Debug, Clone, Copy)]
pub struct DecisionInput<'a> {
    /// The autoscaler's spec (validated; invalid values never panic but may
    /// make metrics unusable).
    pub spec: &'a HorizontalAutoscalerSpec,
    /// The target's replicas.
    pub target: TargetState,
    /// One observation per `spec.metrics` entry, same order. A missing
    /// observation counts as a failed read.
    pub observations: &'a [Observation],
    /// The history from the last decision; `None` means the first decision
    /// since start (the current count is seeded as a recommendation).
    pub history: Option<&'a ScalingHistory>,
    /// The decision instant.
    pub now: DateTime<Utc>,
}

/// The outcome for one metric.
#[derive(Debug, Clone, PartialEq)]
pub enum MetricOutcome {
    /// The metric's recommendation.
    Recommendation {
        /// Recommended replicas.
        replicas: i32,
        /// The observed value it came from.
        value: f64,
    },
    /// Why the metric gave none.
    Error {
        /// Condition reason, e.g. `FailedGetPrometheusMetric`.
        reason: String,
        /// What went wrong.
        message: String,
    },
    /// The metric's role made it abstain: its recommendation pointed the
    /// other way, or was the current count.
    Abstained {
        /// The recommendation it would have made.
        replicas: i32,
        /// The observed value it came from.
        value: f64,
    },
}

/// A decision and everything needed to act on it and explain it. (The
/// default value is an empty decision of 0 replicas, useful only as storage
/// for [`decide_into`].)
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Decision {
    /// The replicas to set on the target.
    pub desired_replicas: i32,
    /// The target's replicas when the decision was made.
    pub current_replicas: i32,
    /// Per metric, in spec order.
    pub metrics: Vec<MetricOutcome>,
    /// The conditions this decision sets (`AbleToScale`, and `ScalingActive`
    /// and `ScalingLimited` when the decision reached them), without
    /// transition times: merge them into the status with
    /// [`set_condition`](crate::api::v1alpha1::set_condition).
    pub conditions: Vec<Condition>,
    /// The history to persist for the next decision.
    pub history: ScalingHistory,
    /// The steps that produced the number, in order.
    pub explanation: Vec<Step>,
    /// The first metric failure, if any (the decision may still scale up).
    pub error: Option<String>,
}

impl Decision {
    /// Whether the target must be written (`desired != current`).
    pub fn rescale(&self) -> bool {
        self.desired_replicas != self.current_replicas
    }

    /// The condition of type `type_`, if this decision set it.
    pub fn condition(&self, type_: &str) -> Option<&Condition> {
        self.conditions.iter().find(|c| c.type_ == type_)
    }

    /// The explanation as sentences.
    pub fn explain(&self) -> Vec<String> {
        self.explanation.iter().map(ToString::to_string).collect()
    }

    /// Records that writing `desired_replicas` to the target failed:
    /// `AbleToScale=False` with `FailedUpdateScale`, and the scale event the
    /// decision recorded is dropped (the change did not happen).
    pub fn record_write_failure(&mut self, message: &str, now: DateTime<Utc>) {
        if self.rescale()
            && let Some(pos) = self.history.scale_events.iter().rposition(|e| {
                e.time == now
                    && e.change == self.desired_replicas.saturating_sub(self.current_replicas)
            })
        {
            self.history.scale_events.remove(pos);
        }
        set(
            &mut self.conditions,
            reasons::ABLE_TO_SCALE,
            false,
            reasons::FAILED_UPDATE_SCALE,
            format!("the autoscaler was unable to update the target scale: {message}"),
        );
    }
}

/// The `ScalingActive` message naming the winning metric; a constant for
/// the first few (most autoscalers have one or two metrics), so a decision
/// does not format it every time.
fn valid_metric_message(winner: Option<usize>) -> Cow<'static, str> {
    let Some(winner) = winner else {
        return Cow::Borrowed(
            "every usable metric abstained (its role points the other way): the replica count stays as it is",
        );
    };
    const FIRST: [&str; 4] = [
        "the autoscaler was able to successfully calculate a replica count from metrics[0]",
        "the autoscaler was able to successfully calculate a replica count from metrics[1]",
        "the autoscaler was able to successfully calculate a replica count from metrics[2]",
        "the autoscaler was able to successfully calculate a replica count from metrics[3]",
    ];
    match FIRST.get(winner) {
        Some(m) => Cow::Borrowed(m),
        None => Cow::Owned(format!(
            "the autoscaler was able to successfully calculate a replica count from metrics[{winner}]"
        )),
    }
}

fn set(
    conditions: &mut Vec<Condition>,
    type_: &'static str,
    status: bool,
    reason: impl Into<Cow<'static, str>>,
    message: impl Into<Cow<'static, str>>,
) {
    let c = Condition {
        type_: Cow::Borrowed(type_),
        status: ConditionStatus::from_bool(status),
        reason: reason.into(),
        message: message.into(),
        last_transition_time: None,
    };
    match conditions.iter_mut().find(|x| x.type_ == type_) {
        Some(existing) => *existing = c,
        None => conditions.push(c),
    }
}

/// The decision engine, parameterised by its per-metric [`Algorithm`].
///
/// [`decide`] is `Autoscaler::new(Proportional).decide`.
#[derive(Debug, Clone, Default)]
pub struct Autoscaler<A: Algorithm = Proportional> {
    algorithm: A,
}

/// Decides with the algorithm `spec.algorithm` selects ([`Proportional`],
/// the Kubernetes HPA rules, when it is omitted; see [`SpecAlgorithm`]).
pub fn decide(input: &DecisionInput<'_>) -> Decision {
    Autoscaler::new(SpecAlgorithm::of(input.spec)).decide(input)
}

/// [`decide`] for callers that decide in a loop, such as the
/// [`Runner`](crate::runner::Runner): the history is moved in rather than
/// copied, and the decision is written into `out`, reusing its storage.
/// See [`Autoscaler::decide_into`].
pub fn decide_into(input: &DecisionInput<'_>, history: Option<ScalingHistory>, out: &mut Decision) {
    Autoscaler::new(SpecAlgorithm::of(input.spec)).decide_into(input, history, out);
}

/// The algorithm a spec's `algorithm` field selects: [`Proportional`] when
/// it is omitted or `type: Proportional`, [`Pid`] with the gains of
/// `algorithm.pid` (each omitted gain at its default) for `type: PID`.
///
/// ```
/// use karpenter_core::api::v1alpha1::HorizontalAutoscalerSpec;
/// use karpenter_core::autoscaler::{Algorithm, SpecAlgorithm};
///
/// let spec: HorizontalAutoscalerSpec = serde_json::from_value(serde_json::json!({
///     "scaleTargetRef": {"kind": "ScalableNodeGroup", "name": "ng"}, "maxReplicas": 10,
///     "metrics": [{"prometheus": {"query": "q", "target": {"type": "Value", "value": 1}}}],
///     "algorithm": {"type": "PID", "pid": {"kp": 1}}
/// })).unwrap();
/// let algorithm = SpecAlgorithm::of(&spec);
/// assert_eq!(algorithm.name(), "PID");
/// assert!(algorithm.is_stateful());
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SpecAlgorithm {
    /// The Kubernetes HPA rules.
    Proportional(Proportional),
    /// A PID controller.
    Pid(Pid),
}

impl SpecAlgorithm {
    /// The algorithm `spec.algorithm` selects.
    pub fn of(spec: &HorizontalAutoscalerSpec) -> Self {
        match &spec.algorithm {
            Some(a) if a.type_ == AlgorithmType::Pid => {
                Self::Pid(Pid::new(PidGains::from_spec(a.pid.as_ref())))
            }
            _ => Self::Proportional(Proportional),
        }
    }
}

impl Algorithm for SpecAlgorithm {
    fn name(&self) -> &'static str {
        match self {
            Self::Proportional(a) => a.name(),
            Self::Pid(a) => a.name(),
        }
    }

    fn is_stateful(&self) -> bool {
        match self {
            Self::Proportional(a) => a.is_stateful(),
            Self::Pid(a) => a.is_stateful(),
        }
    }

    fn recommend(&self, ctx: &MetricContext, state: &mut AlgorithmState) -> AlgorithmOutput {
        match self {
            Self::Proportional(a) => a.recommend(ctx, state),
            Self::Pid(a) => a.recommend(ctx, state),
        }
    }
}

impl<A: Algorithm> Autoscaler<A> {
    /// An engine using `algorithm` for every metric.
    pub fn new(algorithm: A) -> Self {
        Self { algorithm }
    }

    /// The algorithm.
    pub fn algorithm(&self) -> &A {
        &self.algorithm
    }

    /// Makes one decision (`docs/decisions.md`, "One decision").
    pub fn decide(&self, input: &DecisionInput<'_>) -> Decision {
        let mut decision = Decision::default();
        self.decide_into(input, input.history.cloned(), &mut decision);
        decision
    }

    /// Makes one decision from `history` (moved in, so not copied;
    /// `input.history` is ignored) into `out`, whose previous contents are
    /// replaced but whose storage (metrics, conditions, explanation) is
    /// reused. `out` ends up equal to what [`decide`](Self::decide) returns
    /// with `input.history` set to `history`.
    ///
    /// ```
    /// use chrono::{TimeZone, Utc};
    /// use karpenter_core::autoscaler::{decide, decide_into, DecisionInput, Observation, TargetState};
    /// use karpenter_core::api::v1alpha1::HorizontalAutoscalerSpec;
    ///
    /// let spec: HorizontalAutoscalerSpec = serde_json::from_value(serde_json::json!({
    ///     "scaleTargetRef": {"kind": "ScalableNodeGroup", "name": "workers"},
    ///     "minReplicas": 1, "maxReplicas": 10,
    ///     "metrics": [{"prometheus": {"query": "q", "target": {"type": "AverageValue", "value": 4}}}]
    /// }))?;
    /// let observations = [Observation::Value(20.0)];
    /// let mut input = DecisionInput {
    ///     spec: &spec,
    ///     target: TargetState { spec_replicas: 2, status_replicas: 2 },
    ///     observations: &observations,
    ///     history: None,
    ///     now: Utc.with_ymd_and_hms(2026, 1, 5, 0, 0, 0).unwrap(),
    /// };
    /// let first = decide(&input);
    /// assert_eq!(first.desired_replicas, 5);
    /// // The next decision, moving the history along instead of copying it.
    /// input.now += chrono::Duration::seconds(15);
    /// input.target = TargetState { spec_replicas: 5, status_replicas: 2 };
    /// let expected = decide(&DecisionInput { history: Some(&first.history), ..input });
    /// let mut next = first.clone(); // any decision: its storage is reused
    /// decide_into(&input, Some(first.history), &mut next);
    /// assert_eq!(next, expected);
    /// # Ok::<(), serde_json::Error>(())
    /// ```
    pub fn decide_into(
        &self,
        input: &DecisionInput<'_>,
        history: Option<ScalingHistory>,
        out: &mut Decision,
    ) {
        let spec = input.spec;
        let now = input.now;
        let current = input.target.spec_replicas;
        let min = spec
            .min_replicas
            .unwrap_or(crate::api::defaults::DEFAULT_MIN_REPLICAS);
        let max = spec.max_replicas;
        let behavior = ResolvedBehavior::resolve(spec.behavior.as_ref());

        let mut explanation = std::mem::take(&mut out.explanation);
        explanation.clear();
        explanation.reserve(spec.metrics.len() + 5);
        let mut conditions = std::mem::take(&mut out.conditions);
        conditions.clear();
        conditions.reserve(3);
        let mut history = match history {
            Some(h) => h,
            None => {
                explanation.push(Step::SeededHistory { replicas: current });
                ScalingHistory {
                    recommendations: vec![crate::api::v1alpha1::Recommendation {
                        time: now,
                        replicas: current,
                    }],
                    ..ScalingHistory::default()
                }
            }
        };
        // Entries in no window (or period) can never matter again: drop them
        // on every decision so the persisted status stays bounded.
        let (keep_recs, keep_events) = (
            behavior::cutoff(now, behavior.recommendation_retention_seconds()),
            behavior::cutoff(now, behavior.event_retention_seconds()),
        );
        // Entries dated after now cannot be right (a clock that went back,
        // a hand-edited status): they would block a scale-up or undo
        // changes that never happened. Drop them too, and say so. (One
        // pass per list: this runs on every decision.)
        let (mut future_recs, mut future_events) = (0usize, 0usize);
        history.recommendations.retain(|r| {
            if r.time > now {
                future_recs += 1;
                false
            } else {
                r.time > keep_recs
            }
        });
        history.scale_events.retain(|e| {
            if e.time > now {
                future_events += 1;
                false
            } else {
                e.time > keep_events
            }
        });
        let mut states = 0;
        for state in &mut history.algorithm_state {
            if state.last_time.is_some_and(|t| t > now) {
                *state = AlgorithmState::default();
                states += 1;
            }
        }
        if future_recs + future_events + states > 0 {
            explanation.push(Step::IgnoredFutureHistory {
                recommendations: future_recs,
                scale_events: future_events,
                algorithm_states: states,
            });
        }
        // AbleToScale is decided in steps but built once, at the end.
        let mut able: (&'static str, Cow<'static, str>) = (
            reasons::SUCCEEDED_GET_SCALE,
            Cow::Borrowed("the autoscaler was able to get the target's current scale"),
        );
        let decision = out;
        decision.desired_replicas = current;
        decision.current_replicas = current;
        decision.metrics.clear();
        decision.error = None;

        let desired = if current == 0 && min != 0 {
            set(
                &mut conditions,
                reasons::SCALING_ACTIVE,
                false,
                reasons::SCALING_DISABLED,
                "scaling is disabled since the replica count of the target is zero",
            );
            explanation.push(Step::Paused);
            current
        } else if current > max || current < min {
            let desired = if current > max { max } else { min };
            explanation.push(Step::OutOfRange {
                current,
                min,
                max,
                desired,
            });
            desired
        } else {
            let recommendation = self.recommend(
                input,
                min,
                max,
                &behavior,
                &mut history,
                &mut explanation,
                decision,
            );
            let fallback = match &spec.fallback {
                Some(f) => {
                    fallback_step(f, &decision.metrics, &mut history, current, &mut conditions)
                }
                None => {
                    history.failed_reads = 0;
                    None
                }
            };
            match recommendation {
                Err((reason, message)) => {
                    set(
                        &mut conditions,
                        reasons::SCALING_ACTIVE,
                        false,
                        reason,
                        format!(
                            "the autoscaler was unable to compute the replica count: {message}"
                        ),
                    );
                    match fallback {
                        Some((step, replicas)) => {
                            explanation.push(step);
                            normalize(
                                &behavior,
                                &mut history,
                                current,
                                replicas,
                                (min, max),
                                now,
                                (&mut able, &mut conditions),
                                &mut explanation,
                            )
                        }
                        None => current,
                    }
                }
                Ok((proposal, winner)) => {
                    set(
                        &mut conditions,
                        reasons::SCALING_ACTIVE,
                        true,
                        reasons::VALID_METRIC_FOUND,
                        valid_metric_message(winner),
                    );
                    normalize(
                        &behavior,
                        &mut history,
                        current,
                        proposal,
                        (min, max),
                        now,
                        (&mut able, &mut conditions),
                        &mut explanation,
                    )
                }
            }
        };

        if desired != current {
            record_scale_event(
                &behavior,
                &mut history.scale_events,
                desired.saturating_sub(current),
                now,
            );
            able = (
                reasons::SUCCEEDED_RESCALE,
                Cow::Owned(format!(
                    "the autoscaler was able to update the target scale to {desired}"
                )),
            );
        }
        conditions.insert(
            0,
            Condition {
                type_: Cow::Borrowed(reasons::ABLE_TO_SCALE),
                status: ConditionStatus::True,
                reason: Cow::Borrowed(able.0),
                message: able.1,
                last_transition_time: None,
            },
        );
        explanation.push(Step::Final { current, desired });
        decision.desired_replicas = desired;
        decision.conditions = conditions;
        decision.history = history;
        decision.explanation = explanation;
    }

    /// Per-metric recommendations combined ("Per-metric rules" and
    /// "Combining metrics" in `docs/decisions.md`). Returns
    /// the combined proposal and the winning metric, or the first failure's
    /// reason and message when nothing may change.
    #[allow(clippy::too_many_arguments)]
    fn recommend(
        &self,
        input: &DecisionInput<'_>,
        min: i32,
        max: i32,
        behavior: &ResolvedBehavior,
        history: &mut ScalingHistory,
        explanation: &mut Vec<Step>,
        decision: &mut Decision,
    ) -> Result<(i32, Option<usize>), (String, String)> {
        let spec = input.spec;
        let stateful = self.algorithm.is_stateful();
        if stateful {
            history
                .algorithm_state
                .resize(spec.metrics.len(), AlgorithmState::default());
        } else {
            history.algorithm_state.clear();
        }
        let mut best: Option<(i32, usize)> = None;
        let mut first_failure: Option<(String, String)> = None;
        let mut valid = 0;
        let mut abstained = 0;
        let current = input.target.spec_replicas;
        decision.metrics.reserve(spec.metrics.len());
        for (index, metric) in spec.metrics.iter().enumerate() {
            let outcome = match metric.source() {
                None => Err((
                    reasons::INVALID_METRIC_SOURCE_TYPE.to_string(),
                    format!(
                        "spec.metrics[{index}] has no source: set prometheus, cloudWatch or custom"
                    ),
                )),
                Some((kind, target)) => {
                    let failed = || format!("FailedGet{}Metric", kind.reason_name());
                    match (input.observations.get(index), target.target_value()) {
                        (_, None) => Err((
                            reasons::INVALID_METRIC_SOURCE_TYPE.to_string(),
                            format!("spec.metrics[{index}] target has no value: set target.value"),
                        )),
                        (_, Some(t)) if !(t.is_finite() && t > 0.0) => Err((
                            reasons::INVALID_METRIC_SOURCE_TYPE.to_string(),
                            format!("spec.metrics[{index}] target must be > 0, got {t}"),
                        )),
                        (None, _) => {
                            Err((failed(), format!("no observation for metrics[{index}]")))
                        }
                        (Some(Observation::Error(e)), _) => Err((failed(), e.clone())),
                        (Some(Observation::Value(v)), _) if !v.is_finite() => Err((
                            failed(),
                            format!("metrics[{index}] value is {v}, not a finite number"),
                        )),
                        (Some(Observation::Value(v)), Some(t)) => {
                            let ctx = MetricContext {
                                target_type: target.type_,
                                observed: *v,
                                target: t,
                                current_replicas: input.target.spec_replicas,
                                status_replicas: input.target.status_replicas,
                                min_replicas: min,
                                max_replicas: max,
                                tolerance_up: behavior.scale_up.tolerance,
                                tolerance_down: behavior.scale_down.tolerance,
                                now: input.now,
                            };
                            let mut scratch = AlgorithmState::default();
                            let state = if stateful {
                                &mut history.algorithm_state[index]
                            } else {
                                &mut scratch
                            };
                            let out = self.algorithm.recommend(&ctx, state);
                            // The state is persisted as JSON, which has no
                            // NaN or ±Inf: keep it finite so that it reads back.
                            if !state.integral.is_finite() {
                                state.integral = 0.0;
                            }
                            if state.last_error.is_some_and(|e| !e.is_finite()) {
                                state.last_error = None;
                            }
                            explanation.push(Step::MetricRecommendation {
                                index,
                                target_type: target.type_,
                                observed: *v,
                                target: t,
                                ratio: out.ratio,
                                replicas: out.replicas,
                                rule: out.rule,
                            });
                            Ok((out.replicas.max(0), *v))
                        }
                    }
                }
            };
            match outcome {
                Ok((replicas, value))
                    if metric.role.is_some_and(|r| r.abstains(replicas, current)) =>
                {
                    abstained += 1;
                    if let Some(role) = metric.role {
                        explanation.push(Step::MetricAbstained {
                            index,
                            role,
                            replicas,
                            current,
                        });
                    }
                    decision
                        .metrics
                        .push(MetricOutcome::Abstained { replicas, value });
                }
                Ok((replicas, value)) => {
                    valid += 1;
                    if best.is_none_or(|(b, _)| replicas > b) {
                        best = Some((replicas, index));
                    }
                    decision
                        .metrics
                        .push(MetricOutcome::Recommendation { replicas, value });
                }
                Err((reason, message)) => {
                    explanation.push(Step::MetricFailed {
                        index,
                        reason: reason.clone(),
                        message: message.clone(),
                    });
                    decision.metrics.push(MetricOutcome::Error {
                        reason: reason.clone(),
                        message: message.clone(),
                    });
                    if first_failure.is_none() {
                        decision.error = Some(format!("metrics[{index}]: {message}"));
                        first_failure = Some((reason, message));
                    }
                }
            }
        }
        match (best, first_failure) {
            (None, None) if abstained > 0 => {
                explanation.push(Step::AllAbstained { current });
                Ok((current, None))
            }
            (None, failure) => {
                explanation.push(Step::NoValidMetric);
                Err(failure.unwrap_or_else(|| {
                    (
                        reasons::INVALID_METRIC_SOURCE_TYPE.to_string(),
                        "spec.metrics is empty: add at least one metric".to_string(),
                    )
                }))
            }
            (Some((proposal, _)), Some(failure)) if proposal < current => {
                explanation.push(Step::PartialReadNoScaleDown { proposal, current });
                Err(failure)
            }
            (Some((replicas, winner)), _) => {
                explanation.push(Step::Combined {
                    winner,
                    replicas,
                    valid,
                });
                Ok((replicas, Some(winner)))
            }
        }
    }
}

/// Counts the decisions in which every metric failed and sets the
/// `Fallback` condition (`docs/decisions.md`, "Fallback"). Returns the
/// fallback step and its recommendation when the fallback applies to this
/// decision.
fn fallback_step(
    fallback: &Fallback,
    metrics: &[MetricOutcome],
    history: &mut ScalingHistory,
    current: i32,
    conditions: &mut Vec<Condition>,
) -> Option<(Step, i32)> {
    let all_failed = !metrics.is_empty()
        && metrics
            .iter()
            .all(|m| matches!(m, MetricOutcome::Error { .. }));
    history.failed_reads = if all_failed {
        history.failed_reads.saturating_add(1)
    } else {
        0
    };
    let threshold = u32::try_from(fallback.failure_threshold.max(1)).unwrap_or(1);
    let failed = history.failed_reads;
    if failed < threshold {
        let message = if failed == 0 {
            "a metric was read: no fallback".to_string()
        } else {
            format!(
                "no metric could be read in {failed} consecutive decision(s); the fallback applies from {threshold}"
            )
        };
        set(
            conditions,
            reasons::FALLBACK,
            false,
            reasons::FALLBACK_INACTIVE,
            message,
        );
        return None;
    }
    let behavior = fallback.behavior.unwrap_or_default();
    let recommendation = behavior.replicas(fallback.replicas.max(0), current);
    set(
        conditions,
        reasons::FALLBACK,
        true,
        reasons::FALLBACK_ACTIVE,
        format!(
            "no metric could be read in {failed} consecutive decisions (failureThreshold {threshold}): recommending {recommendation} ({} of fallback.replicas {} and current {current}) until a metric is read",
            behavior.as_str(),
            fallback.replicas
        ),
    );
    let step = Step::Fallback {
        failed_reads: failed,
        threshold,
        behavior,
        replicas: fallback.replicas,
        current,
        recommendation,
    };
    Some((step, recommendation))
}

/// Stabilization, rate limits and clamping (`docs/decisions.md`, "Behavior").
#[allow(clippy::too_many_arguments)]
fn normalize(
    behavior: &ResolvedBehavior,
    history: &mut ScalingHistory,
    current: i32,
    desired: i32,
    (min, max): (i32, i32),
    now: DateTime<Utc>,
    (able, conditions): (&mut (&'static str, Cow<'static, str>), &mut Vec<Condition>),
    explanation: &mut Vec<Step>,
) -> i32 {
    let st = stabilize(behavior, &history.recommendations, current, desired, now);
    record_recommendation(behavior, &mut history.recommendations, desired, now);
    explanation.push(Step::Stabilization {
        desired,
        up_recommendation: st.up_recommendation,
        down_recommendation: st.down_recommendation,
        up_window: behavior.scale_up.stabilization_window_seconds,
        down_window: behavior.scale_down.stabilization_window_seconds,
        stabilized: st.replicas,
    });
    let s = st.replicas;
    if s != desired {
        let (reason, message) = if desired >= current {
            (
                reasons::SCALE_UP_STABILIZED,
                "recent recommendations were lower than current one, applying the lowest recent recommendation",
            )
        } else {
            (
                reasons::SCALE_DOWN_STABILIZED,
                "recent recommendations were higher than current one, applying the highest recent recommendation",
            )
        };
        *able = (reason, Cow::Borrowed(message));
    } else {
        *able = (
            reasons::READY_FOR_NEW_SCALE,
            Cow::Borrowed("recommended size matches current size"),
        );
    }

    let limited = if s > current {
        let rl = rate_limit(
            &behavior.scale_up,
            Direction::Up,
            &history.scale_events,
            current,
            now,
        );
        explanation.push(policy_step(&behavior.scale_up, Direction::Up, &rl));
        let (allowed, reason) = if rl.limit < max {
            (rl.limit, reasons::SCALE_UP_LIMIT)
        } else {
            (max, reasons::TOO_MANY_REPLICAS)
        };
        (s > allowed).then_some((allowed, reason))
    } else if s < current {
        let rl = rate_limit(
            &behavior.scale_down,
            Direction::Down,
            &history.scale_events,
            current,
            now,
        );
        explanation.push(policy_step(&behavior.scale_down, Direction::Down, &rl));
        let (allowed, reason) = if rl.limit > min {
            (rl.limit, reasons::SCALE_DOWN_LIMIT)
        } else {
            (min, reasons::TOO_FEW_REPLICAS)
        };
        (s < allowed).then_some((allowed, reason))
    } else {
        None
    };
    match limited {
        Some((allowed, reason)) => {
            explanation.push(Step::Limited {
                reason,
                from: s,
                to: allowed,
                min,
                max,
            });
            let message = match reason {
                reasons::SCALE_UP_LIMIT => {
                    "the desired replica count is increasing faster than the maximum scale rate"
                }
                reasons::TOO_MANY_REPLICAS => {
                    "the desired replica count is more than the maximum replica count"
                }
                reasons::SCALE_DOWN_LIMIT => {
                    "the desired replica count is decreasing faster than the maximum scale rate"
                }
                _ => "the desired replica count is less than the minimum replica count",
            };
            set(
                conditions,
                reasons::SCALING_LIMITED,
                true,
                reason,
                message.to_string(),
            );
            allowed
        }
        None => {
            set(
                conditions,
                reasons::SCALING_LIMITED,
                false,
                reasons::DESIRED_WITHIN_RANGE,
                "the desired count is within the acceptable range",
            );
            s
        }
    }
}

fn policy_step(rules: &ResolvedRules, direction: Direction, rl: &RateLimit) -> Step {
    let chosen = rl
        .chosen
        .and_then(|i| rules.policies.get(i).map(|p| (i, p)));
    Step::Policy {
        direction,
        select: rules.select_policy,
        policy: chosen.map(|(i, p)| (i, p.type_, p.value, p.period_seconds)),
        start: rl
            .chosen
            .and_then(|i| rl.bounds.iter().find(|b| b.index == i))
            .map_or(0, |b| b.start),
        limit: rl.limit,
    }
}

#[cfg(test)]
mod tests {
    use super::valid_metric_message;

    #[test]
    fn valid_metric_messages_name_the_winner_constant_or_formatted() {
        for winner in [0, 1, 2, 3, 4, 17] {
            assert_eq!(
                valid_metric_message(Some(winner)),
                format!(
                    "the autoscaler was able to successfully calculate a replica count from metrics[{winner}]"
                )
            );
        }
    }
}
