use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Condition, ObjectMeta};
use crate::api::Quantity;

/// Scales a target (anything with a `scale` subresource, usually a
/// [`ScalableNodeGroup`](super::ScalableNodeGroup)) from metrics, with the
/// Kubernetes HorizontalPodAutoscaler v2 decision semantics.
///
/// ```
/// use karpenter_core::api::v1alpha1::HorizontalAutoscaler;
///
/// let ha: HorizontalAutoscaler = serde_json::from_str(r#"{
///   "apiVersion": "autoscaling.karpenter.sh/v1alpha1",
///   "kind": "HorizontalAutoscaler",
///   "metadata": {"name": "ml-training", "namespace": "default"},
///   "spec": {
///     "scaleTargetRef": {"kind": "ScalableNodeGroup", "name": "ml-training"},
///     "minReplicas": 0, "maxReplicas": 1000,
///     "metrics": [{"prometheus": {
///       "query": "karpenter_queue_length{name=\"ml-training-queue\"}",
///       "target": {"type": "AverageValue", "value": 4}}}]
///   }
/// }"#).unwrap();
/// assert_eq!(ha.spec.max_replicas, 1000);
/// assert!(ha.validate().is_ok());
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HorizontalAutoscaler {
    /// `autoscaling.karpenter.sh/v1alpha1`.
    #[serde(default = "default_api_version")]
    pub api_version: String,
    /// `HorizontalAutoscaler`.
    #[serde(default = "default_ha_kind")]
    pub kind: String,
    /// Object metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// What to scale and how.
    pub spec: HorizontalAutoscalerSpec,
    /// What the controller observed and decided last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<HorizontalAutoscalerStatus>,
}

pub(crate) fn default_api_version() -> String {
    super::API_VERSION.to_string()
}

fn default_ha_kind() -> String {
    "HorizontalAutoscaler".to_string()
}

/// The desired behaviour of a [`HorizontalAutoscaler`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HorizontalAutoscalerSpec {
    /// The object to scale; it must have a `scale` subresource.
    pub scale_target_ref: CrossVersionObjectReference,
    /// Lower bound of the replicas the autoscaler sets. Omitted means 0, as
    /// in Karpenter v0.1 (the Kubernetes HPA defaults to 1): node groups scale
    /// to zero and back. Every metric source here is a scalar, which can
    /// scale from zero; set `minReplicas: 1` to keep at least one node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_replicas: Option<i32>,
    /// Upper bound of the replicas the autoscaler sets; at least 1 and at
    /// least `minReplicas`.
    pub max_replicas: i32,
    /// The metrics whose largest recommendation wins.
    #[serde(default)]
    pub metrics: Vec<Metric>,
    /// Stabilization windows, rate-limiting policies and tolerances for each
    /// direction. Omitted means the HPA defaults (see [`Behavior`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub behavior: Option<Behavior>,
    /// How each metric's reading becomes a recommendation. Omitted means
    /// `Proportional` (the Kubernetes HPA rules).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub algorithm: Option<AlgorithmSpec>,
    /// What to do when no metric can be read for a while. Omitted means
    /// nothing changes while every metric is unreadable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback: Option<Fallback>,
}

/// Selects the per-metric algorithm of a [`HorizontalAutoscaler`].
///
/// ```
/// use karpenter_core::api::v1alpha1::{AlgorithmSpec, AlgorithmType};
///
/// let a: AlgorithmSpec = serde_json::from_value(serde_json::json!({
///     "type": "PID",
///     "pid": {"kp": "0.8", "ki": "0.002", "integralLimit": "0.5", "maxOutput": 9}
/// })).unwrap();
/// assert_eq!(a.type_, AlgorithmType::Pid);
/// assert_eq!(a.pid.unwrap().ki.unwrap().as_f64(), 0.002);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AlgorithmSpec {
    /// `Proportional` (default) or `PID`.
    #[serde(rename = "type")]
    pub type_: AlgorithmType,
    /// The PID controller's gains and limits; only with `type: PID`. An
    /// omitted field takes its default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<PidSpec>,
}

/// The per-metric algorithm.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum AlgorithmType {
    /// The Kubernetes HPA rules: `ceil(ratio × ready)` or `ceil(total / target)`.
    #[default]
    Proportional,
    /// A proportional-integral-derivative controller on the usage ratio.
    #[serde(rename = "PID")]
    Pid,
}

impl AlgorithmType {
    /// The API spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Proportional => "Proportional",
            Self::Pid => "PID",
        }
    }
}

/// Gains and limits of the `PID` algorithm. With the error
/// `e = usage ratio − 1`, the output is `u = kp·e + ki·∫e dt + kd·de/dt`,
/// clamped to `[minOutput, maxOutput]`, and the recommendation is
/// `ceil(ready × (1 + u))`. Every field is optional; the defaults are
/// those of `karpenter_core::autoscaler::PidGains`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PidSpec {
    /// Proportional gain, >= 0 (default 0.8).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kp: Option<Quantity>,
    /// Integral gain per second, >= 0 (default 0.002).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ki: Option<Quantity>,
    /// Derivative gain in seconds, >= 0 (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kd: Option<Quantity>,
    /// Anti-windup: `|ki·∫e dt|` never exceeds this, >= 0 (default 0.5).
    /// The integral also stops growing while the recommendation is pinned
    /// at `minReplicas` or `maxReplicas` in the error's direction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub integral_limit: Option<Quantity>,
    /// Lower output limit, in `[-1, 0)` (default -1): one decision never
    /// recommends less than `(1 + minOutput)×` the ready count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_output: Option<Quantity>,
    /// Upper output limit, > 0 (default 9): one decision never recommends
    /// more than `(1 + maxOutput)×` the ready count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_output: Option<Quantity>,
    /// Readings further apart than this many seconds restart the integral
    /// and derivative terms, >= 1 (default 600).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_gap_seconds: Option<i32>,
}

/// What to do when no metric can be read, in the manner of KEDA's
/// `fallback`: after `failureThreshold` consecutive decisions in which every
/// metric failed, the autoscaler recommends a count from `replicas` and
/// `behavior`; the first decision that reads any metric ends it.
///
/// ```
/// use karpenter_core::api::v1alpha1::{Fallback, FallbackBehavior};
///
/// let f: Fallback = serde_json::from_value(serde_json::json!({
///     "failureThreshold": 3, "replicas": 6
/// })).unwrap();
/// assert_eq!(f.behavior, None); // currentReplicasIfHigher
/// assert_eq!(FallbackBehavior::default().replicas(6, 4), 6);
/// assert_eq!(FallbackBehavior::default().replicas(6, 9), 9); // never down
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Fallback {
    /// Consecutive decisions in which every metric failed before the
    /// fallback applies; >= 1.
    pub failure_threshold: i32,
    /// The fallback replica count; >= 0.
    pub replicas: i32,
    /// How `replicas` combines with the current count. Omitted means
    /// `currentReplicasIfHigher`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub behavior: Option<FallbackBehavior>,
}

/// How a [`Fallback`]'s replicas combine with the current count.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum FallbackBehavior {
    /// `max(current, replicas)`: the fallback only ever adds nodes (the default).
    #[default]
    CurrentReplicasIfHigher,
    /// `replicas`, whatever the current count: may scale down without
    /// being able to read a metric.
    Static,
    /// `min(current, replicas)`: the fallback only ever removes nodes,
    /// without being able to read a metric.
    CurrentReplicasIfLower,
}

impl FallbackBehavior {
    /// The API spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CurrentReplicasIfHigher => "currentReplicasIfHigher",
            Self::Static => "static",
            Self::CurrentReplicasIfLower => "currentReplicasIfLower",
        }
    }

    /// The recommendation for a fallback of `replicas` with `current` replicas.
    pub fn replicas(self, replicas: i32, current: i32) -> i32 {
        match self {
            Self::CurrentReplicasIfHigher => replicas.max(current),
            Self::Static => replicas,
            Self::CurrentReplicasIfLower => replicas.min(current),
        }
    }

    /// Whether this behavior may recommend fewer replicas than current
    /// (scaling down without a readable metric).
    pub fn may_scale_down(self) -> bool {
        !matches!(self, Self::CurrentReplicasIfHigher)
    }
}

/// Identifies the object to scale.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CrossVersionObjectReference {
    /// API version of the referent, e.g. `autoscaling.karpenter.sh/v1alpha1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// Kind of the referent, e.g. `ScalableNodeGroup`.
    pub kind: String,
    /// Name of the referent, in the autoscaler's namespace.
    pub name: String,
}

/// One metric: exactly one source, each carrying its target.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Metric {
    /// An instant Prometheus query that must return exactly one sample.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prometheus: Option<PrometheusMetricSource>,
    /// A CloudWatch metric or metric-math expression.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloud_watch: Option<CloudWatchMetricSource>,
    /// A source implemented outside this crate, claimed by a registered
    /// provider through its `type`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom: Option<CustomMetricSource>,
    /// Which way this metric may move the count; omitted, both ways. A
    /// metric whose recommendation points the other way (or is the current
    /// count) abstains: it takes no part in the largest-recommendation rule,
    /// so it neither pins the current count nor pulls it its way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<MetricRole>,
}

/// Which way a [`Metric`] may move the replica count.
///
/// ```
/// use karpenter_core::api::v1alpha1::{Metric, MetricRole};
///
/// // Pending pods may only add nodes; low reservation may only remove them.
/// let m: Metric = serde_json::from_value(serde_json::json!({
///     "prometheus": {"query": "karpenter_pending_capacity_desired_nodes{name=\"gpu\"}",
///                    "target": {"type": "AverageValue", "value": 1}},
///     "role": "ScaleUpOnly"
/// })).unwrap();
/// assert_eq!(m.role, Some(MetricRole::ScaleUpOnly));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum MetricRole {
    /// Counts only when it recommends more than the current count.
    ScaleUpOnly,
    /// Counts only when it recommends fewer than the current count.
    ScaleDownOnly,
}

impl MetricRole {
    /// Whether a recommendation of `replicas` against `current` abstains.
    pub fn abstains(self, replicas: i32, current: i32) -> bool {
        match self {
            Self::ScaleUpOnly => replicas <= current,
            Self::ScaleDownOnly => replicas >= current,
        }
    }

    /// The API spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ScaleUpOnly => "ScaleUpOnly",
            Self::ScaleDownOnly => "ScaleDownOnly",
        }
    }
}

/// The kind of source a [`Metric`] reads from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricSourceKind<'a> {
    /// `prometheus`.
    Prometheus,
    /// `cloudWatch`.
    CloudWatch,
    /// `custom`, with its `type`.
    Custom(&'a str),
}

impl<'a> MetricSourceKind<'a> {
    /// The name providers claim in
    /// [`CloudProvider::metric_source_types`](crate::provider::CloudProvider::metric_source_types):
    /// `prometheus`, `cloudWatch`, or the custom source's `type`.
    pub fn type_name(&self) -> &'a str {
        match self {
            Self::Prometheus => "prometheus",
            Self::CloudWatch => "cloudWatch",
            Self::Custom(t) => t,
        }
    }

    /// The name used in condition reasons: `FailedGet{name}Metric`.
    pub fn reason_name(&self) -> &'a str {
        match self {
            Self::Prometheus => "Prometheus",
            Self::CloudWatch => "CloudWatch",
            Self::Custom(t) => t,
        }
    }
}

impl Metric {
    /// The populated sources, in field order (valid metrics have exactly one).
    pub fn sources(&self) -> impl Iterator<Item = (MetricSourceKind<'_>, &MetricTarget)> {
        let p = self
            .prometheus
            .as_ref()
            .map(|s| (MetricSourceKind::Prometheus, &s.target));
        let c = self
            .cloud_watch
            .as_ref()
            .map(|s| (MetricSourceKind::CloudWatch, &s.target));
        let x = self
            .custom
            .as_ref()
            .map(|s| (MetricSourceKind::Custom(s.type_.as_str()), &s.target));
        p.into_iter().chain(c).chain(x)
    }

    /// The first populated source and its target, if any.
    pub fn source(&self) -> Option<(MetricSourceKind<'_>, &MetricTarget)> {
        self.sources().next()
    }
}

/// A Prometheus instant query.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PrometheusMetricSource {
    /// PromQL; must evaluate to exactly one sample.
    pub query: String,
    /// The value the autoscaler aims for.
    pub target: MetricTarget,
}

/// A CloudWatch metric (namespace + name + dimensions) or a metric-math
/// `expression`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CloudWatchMetricSource {
    /// e.g. `AWS/SQS`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// e.g. `ApproximateNumberOfMessagesVisible`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric_name: Option<String>,
    /// Dimension name → value.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub dimensions: BTreeMap<String, String>,
    /// `Average`, `Sum`, `Minimum`, `Maximum`, `SampleCount` or `pNN`.
    /// Default `Average`. Not used with `expression`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub statistic: Option<String>,
    /// Period in seconds (a multiple of 60, or 1/5/10/30 for high
    /// resolution). Default 60. The value read is the newest datapoint of
    /// the last 5 periods (at least the last 5 minutes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<i32>,
    /// Metric-math or Metrics Insights expression that yields exactly one
    /// series; exclusive with namespace/metricName.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expression: Option<String>,
    /// The value to use when CloudWatch has no datapoint in the window
    /// (like KEDA's `minMetricValue`), e.g. `0` for a metric that is only
    /// published while there is work. Omitted, no data is an error: the
    /// metric is unreadable, and an unreadable metric never scales down.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub no_data_value: Option<Quantity>,
    /// The value the autoscaler aims for.
    pub target: MetricTarget,
}

/// A metric source implemented by a provider outside this crate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CustomMetricSource {
    /// The source type a registered provider claims, e.g. `DatadogQuery`.
    #[serde(rename = "type")]
    pub type_: String,
    /// Source-specific parameters, passed to the provider as they are.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub params: BTreeMap<String, serde_json::Value>,
    /// The value the autoscaler aims for.
    pub target: MetricTarget,
}

/// How a metric's observed value is compared with its target.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum MetricTargetType {
    /// The observed value is compared with the target directly; the
    /// recommendation is `ceil(ratio × ready replicas)`.
    #[default]
    Value,
    /// The observed value is a total; the recommendation is
    /// `ceil(total / target)` (the one that scales from zero).
    AverageValue,
    /// The observed value is a fraction (0.6); the target a percent (60).
    Utilization,
}

impl MetricTargetType {
    /// The API spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Value => "Value",
            Self::AverageValue => "AverageValue",
            Self::Utilization => "Utilization",
        }
    }
}

/// The target of a metric.
///
/// Karpenter v0.1 put every target number in `value`; the HPA names
/// `averageValue` (for `AverageValue`) and `averageUtilization` (for
/// `Utilization`) are accepted too. Exactly one of the three must be set.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MetricTarget {
    /// `Value`, `AverageValue` or `Utilization`.
    #[serde(rename = "type")]
    pub type_: MetricTargetType,
    /// The target number (any target type; Karpenter v0.1 spelling).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Quantity>,
    /// The target per replica, for `AverageValue` (HPA spelling).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub average_value: Option<Quantity>,
    /// The target percent, for `Utilization` (HPA spelling).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub average_utilization: Option<i32>,
}

impl MetricTarget {
    /// The target number, whichever field holds it, as f64. `None` when no
    /// field is set (validation rejects that).
    pub fn target_value(&self) -> Option<f64> {
        if let Some(q) = &self.value {
            return Some(q.as_f64());
        }
        match self.type_ {
            MetricTargetType::AverageValue => self.average_value.as_ref().map(Quantity::as_f64),
            MetricTargetType::Utilization => self.average_utilization.map(f64::from),
            MetricTargetType::Value => None,
        }
    }
}

/// Scaling behavior in each direction. A direction that is omitted, and each
/// field omitted inside one, takes the HPA default:
///
/// | | stabilizationWindowSeconds | selectPolicy | policies | tolerance |
/// |---|---|---|---|---|
/// | scaleUp | 0 | Max | Count 4 per 15 s; Percent 100 per 15 s | 0.1 |
/// | scaleDown | 300 | Max | Percent 100 per 15 s | 0.1 |
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Behavior {
    /// Rules for adding replicas.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale_up: Option<ScalingRules>,
    /// Rules for removing replicas.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale_down: Option<ScalingRules>,
}

/// Rules for one direction of scaling.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScalingRules {
    /// Seconds of past recommendations to consider (0..=3600): scaling up
    /// takes the lowest, scaling down the highest recommendation in the window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stabilization_window_seconds: Option<i32>,
    /// Which policy wins when several apply: `Max` (most change, default),
    /// `Min` (least change) or `Disabled` (no scaling in this direction).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub select_policy: Option<ScalingPolicySelect>,
    /// Rate limits. Omitted means the defaults; an explicit empty list is
    /// invalid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policies: Option<Vec<ScalingPolicy>>,
    /// Usage ratios within `1 ± tolerance` mean "no change" (default 0.1,
    /// must be >= 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tolerance: Option<Quantity>,
}

/// How to choose among several policies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum ScalingPolicySelect {
    /// The policy allowing the most change.
    Max,
    /// The policy allowing the least change.
    Min,
    /// No scaling in this direction.
    Disabled,
}

/// A rate limit: at most `value` replicas (`Count`) or `value` percent
/// (`Percent`) of change within any `periodSeconds`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScalingPolicy {
    /// `Count` (HPA: `Pods`) or `Percent`.
    #[serde(rename = "type")]
    pub type_: ScalingPolicyType,
    /// Replicas or percent; must be > 0.
    pub value: i32,
    /// The period the limit applies to, 1..=1800 seconds.
    pub period_seconds: i32,
}

/// The unit of a [`ScalingPolicy`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum ScalingPolicyType {
    /// A number of replicas. The HPA spelling `Pods` is accepted.
    #[serde(alias = "Pods")]
    Count,
    /// A percent of the replicas at the start of the period.
    Percent,
}

/// What the autoscaler observed and decided last.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HorizontalAutoscalerStatus {
    /// The spec generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// When the target's replicas were last changed.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::api::rfc3339::deserialize_option"
    )]
    pub last_scale_time: Option<DateTime<Utc>>,
    /// The target's replicas when the autoscaler last looked.
    #[serde(default)]
    pub current_replicas: i32,
    /// The replicas the autoscaler last decided.
    #[serde(default)]
    pub desired_replicas: i32,
    /// The last reading of each metric, in spec order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub current_metrics: Vec<MetricStatus>,
    /// `AbleToScale`, `ScalingActive`, `ScalingLimited`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// The recommendations and scale events that stabilization and policies
    /// need, so a restarted controller keeps its windows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history: Option<ScalingHistory>,
}

/// The last reading of one metric.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MetricStatus {
    /// The observed value, when it could be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    /// The replicas this metric alone recommends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recommendation: Option<i32>,
    /// Why the metric could not be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Whether the metric's role made it abstain from this decision (its
    /// recommendation pointed the other way).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub abstained: bool,
}

/// The memory of an autoscaler: past recommendations (for stabilization
/// windows) and past scale events (for rate-limiting policies).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScalingHistory {
    /// Past unstabilized recommendations, oldest first.
    #[serde(default)]
    pub recommendations: Vec<Recommendation>,
    /// Past changes of the target's replicas, oldest first.
    #[serde(default)]
    pub scale_events: Vec<ScaleEvent>,
    /// State kept by stateful algorithms (e.g. PID), one entry per metric.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub algorithm_state: Vec<AlgorithmState>,
    /// Consecutive decisions in which every metric failed, counted only
    /// when `spec.fallback` is set (0 otherwise, and not written).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub failed_reads: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// One recommendation at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Recommendation {
    /// When it was made (RFC 3339, a year in 0000-9999).
    #[serde(deserialize_with = "crate::api::rfc3339::deserialize")]
    pub time: DateTime<Utc>,
    /// The recommended replicas.
    pub replicas: i32,
}

/// One change of the target's replicas: `+n` scaled up by n, `-n` down by n.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScaleEvent {
    /// When the change was written (RFC 3339, a year in 0000-9999).
    #[serde(deserialize_with = "crate::api::rfc3339::deserialize")]
    pub time: DateTime<Utc>,
    /// Signed change in replicas.
    pub change: i32,
}

/// Per-metric state of a stateful algorithm.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AlgorithmState {
    /// Accumulated integral term. Always finite; `null` reads as 0 (no
    /// state), so the state a decision wrote can always be read back.
    #[serde(default, deserialize_with = "finite_or_zero")]
    pub integral: f64,
    /// The error at the previous decision, for the derivative term.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<f64>,
    /// When the previous decision was made.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::api::rfc3339::deserialize_option"
    )]
    pub last_time: Option<DateTime<Utc>>,
}

/// A number that must be finite; `null`, NaN and ±Inf read as 0.
fn finite_or_zero<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?
        .filter(|v| v.is_finite())
        .unwrap_or(0.0))
}
