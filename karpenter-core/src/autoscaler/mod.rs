//! The decision engine (placeholder being written; the public types below are the contract).

use chrono::{DateTime, Utc};

use crate::api::v1alpha1::{Condition, HorizontalAutoscalerSpec, ScalingHistory};

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
    /// The autoscaler's spec.
    pub spec: &'a HorizontalAutoscalerSpec,
    /// The target's replicas.
    pub target: TargetState,
    /// One observation per `spec.metrics` entry, same order.
    pub observations: &'a [Observation],
    /// The history from the last decision; `None` = first decision since start.
    pub history: Option<&'a ScalingHistory>,
    /// The decision instant.
    pub now: DateTime<Utc>,
}

/// The outcome for one metric.
#[derive(Debug, Clone, PartialEq)]
pub enum MetricOutcome {
    /// The metric's recommendation.
    Recommendation(i32),
    /// Why the metric gave none.
    Error(String),
}

/// A decision.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// The replicas to set.
    pub desired_replicas: i32,
    /// Per metric, in spec order.
    pub metrics: Vec<MetricOutcome>,
    /// `AbleToScale`, `ScalingActive`, `ScalingLimited`.
    pub conditions: Vec<Condition>,
    /// The updated history.
    pub history: ScalingHistory,
}

/// Decides with the proportional algorithm.
pub fn decide(input: &DecisionInput<'_>) -> Decision {
    Decision {
        desired_replicas: input.target.spec_replicas,
        metrics: Vec::new(),
        conditions: Vec::new(),
        history: input.history.cloned().unwrap_or_default(),
    }
}
