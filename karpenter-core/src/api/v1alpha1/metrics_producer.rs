use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::horizontal_autoscaler::default_api_version;
use super::{Condition, ObjectMeta};

/// Turns the world into numbers, exported as Prometheus gauges labelled with
/// the producer's `name` and `namespace`. Exactly one producer kind is set.
///
/// ```
/// use karpenter_core::api::v1alpha1::MetricsProducer;
///
/// let mp: MetricsProducer = serde_json::from_str(r#"{
///   "metadata": {"name": "ml-training-queue"},
///   "spec": {"queue": {"type": "AWSSQSQueue",
///            "id": "arn:aws:sqs:us-west-2:1234567890:ml-training-queue"}}
/// }"#).unwrap();
/// assert!(mp.spec.queue.is_some());
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MetricsProducer {
    /// `autoscaling.karpenter.sh/v1alpha1`.
    #[serde(default = "default_api_version")]
    pub api_version: String,
    /// `MetricsProducer`.
    #[serde(default = "default_kind")]
    pub kind: String,
    /// Object metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// Which producer.
    pub spec: MetricsProducerSpec,
    /// The last computed values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<MetricsProducerStatus>,
}

fn default_kind() -> String {
    "MetricsProducer".to_string()
}

/// Exactly one of the producer kinds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MetricsProducerSpec {
    /// Queue length and oldest message age.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<QueueSpec>,
    /// Reserved / capacity / utilization of cpu, memory and pods on the
    /// selected nodes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reserved_capacity: Option<ReservedCapacitySpec>,
    /// Replicas by time of day, week and year.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule_spec: Option<ScheduleSpec>,
    /// Nodes a group must add so that the pending pods that fit it can run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_capacity: Option<PendingCapacitySpec>,
}

/// A queue to measure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct QueueSpec {
    /// Queue type: `AWSSQSQueue`, or any type a registered provider claims.
    #[serde(rename = "type")]
    pub type_: String,
    /// The queue's URL, ARN or name, as the provider understands it.
    pub id: String,
}

/// Nodes whose reserved capacity to measure.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReservedCapacitySpec {
    /// Label selector (all labels must match) of the nodes to measure.
    #[serde(default)]
    pub node_selector: BTreeMap<String, String>,
}

/// Nodes whose pending pods to count.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PendingCapacitySpec {
    /// Label selector (all labels must match) of the node group's nodes.
    #[serde(default)]
    pub node_selector: BTreeMap<String, String>,
}

/// A weekly/yearly schedule of replicas.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScheduleSpec {
    /// IANA time zone the patterns are read in, e.g. `America/Los_Angeles`.
    /// Defaults to `UTC`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// Replicas when no behavior is active.
    pub default_replicas: i32,
    /// Time ranges with their replicas; the first active one wins.
    #[serde(default)]
    pub behaviors: Vec<ScheduledBehavior>,
}

/// Replicas between a start and an end pattern.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScheduledBehavior {
    /// Replicas while active.
    pub replicas: i32,
    /// When it becomes active.
    pub start: Pattern,
    /// When it stops being active.
    pub end: Pattern,
}

/// A strongly typed time pattern. Each field is a list (YAML list, a number,
/// or a comma-separated string such as `Mon,Tue`); missing `minutes` and
/// `hours` mean 0, other missing fields mean "any".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Pattern {
    /// Minutes of the hour, 0..=59.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minutes: Option<PatternList>,
    /// Hours of the day, 0..=23.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hours: Option<PatternList>,
    /// Days of the month, 1..=31.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub days: Option<PatternList>,
    /// Months: 1..=12 or `Jan`..`Dec`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub months: Option<PatternList>,
    /// Weekdays: `Sun`..`Sat` (full names accepted) or 0..=6 with 0 = Sunday.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weekdays: Option<PatternList>,
}

/// A list of pattern elements as written: `9`, `"Mon,Tue"` or `[Mon, Tue]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum PatternList {
    /// A single number, e.g. `hours: 9`.
    Number(i64),
    /// Comma-separated elements, e.g. `weekdays: Mon,Tue,Wed`.
    Text(String),
    /// A YAML/JSON list of numbers or names.
    List(Vec<PatternElement>),
}

/// One element of a [`PatternList`] list form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum PatternElement {
    /// A number.
    Number(i64),
    /// A name, e.g. `Mon` or `Jan`.
    Name(String),
}

impl PatternList {
    /// The elements as strings, trimmed, in order.
    pub fn elements(&self) -> Vec<String> {
        match self {
            Self::Number(n) => vec![n.to_string()],
            Self::Text(s) => s.split(',').map(|e| e.trim().to_string()).collect(),
            Self::List(items) => items
                .iter()
                .map(|e| match e {
                    PatternElement::Number(n) => n.to_string(),
                    PatternElement::Name(s) => s.trim().to_string(),
                })
                .collect(),
        }
    }
}

/// The last values a producer computed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MetricsProducerStatus {
    /// Human-readable last values, e.g. `cpu: "62.50%, 10/16"`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub values: BTreeMap<String, String>,
    /// For schedules: when the scheduled replicas next change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_schedule_change: Option<DateTime<Utc>>,
    /// `Active`, and `Calculable` when values could be computed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// The last error, if the last computation failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}
