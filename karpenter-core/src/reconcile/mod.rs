//! One reconcile function per object kind, kube-rs style: the object and a
//! context in; the new status, the outcome of the one write it made, and
//! (for producers) the gauges out. Nothing shared is mutated: the caller
//! writes the status back (a status patch in Kubernetes, a field in the
//! in-memory [`Runner`](crate::runner::Runner)).
//!
//! | kind | function | reads | writes |
//! |---|---|---|---|
//! | MetricsProducer | [`reconcile_producer`] | its queue or the cluster snapshot, the clock | nothing (returns gauges) |
//! | HorizontalAutoscaler | [`reconcile_autoscaler`] | its [`ScaleTarget`](crate::provider::ScaleTarget), each metric | the target's replicas |
//! | ScalableNodeGroup | [`reconcile_node_group`] | the provider's sizes and stabilization | the provider's desired size |
//!
//! Provider handles come from the
//! [`ProviderRegistry`](crate::provider::ProviderRegistry), already wrapped
//! in retries and timeouts; a failure that outlasts the retries is in the
//! outcome (typed, with its kind and cause) and the status, and the next
//! reconcile tries again.
//!
//! ```
//! use std::sync::Arc;
//! use chrono::{TimeZone, Utc};
//! use karpenter_core::api::v1alpha1::HorizontalAutoscaler;
//! use karpenter_core::provider::{MockScaleTarget, ProviderRegistry, Scale};
//! use karpenter_core::reconcile::{reconcile_autoscaler, AutoscalerContext};
//!
//! let ha: HorizontalAutoscaler = serde_json::from_value(serde_json::json!({
//!     "metadata": {"name": "workers"},
//!     "spec": {
//!         "scaleTargetRef": {"kind": "ScalableNodeGroup", "name": "workers"},
//!         "minReplicas": 1, "maxReplicas": 10,
//!         "metrics": [{"prometheus": {"query": "q", "target": {"type": "AverageValue", "value": 4}}}]
//!     }
//! }))?;
//! // A target that is at 3 replicas and refuses to be read is not needed:
//! let mut target = MockScaleTarget::new();
//! target.expect_scale().returning(|| Ok(Scale { spec_replicas: 3, status_replicas: 3, selector: None }));
//! // No metric source is registered: the metric is unreadable, nothing changes.
//! let registry = ProviderRegistry::new();
//! let now = Utc.with_ymd_and_hms(2026, 1, 5, 0, 0, 0).unwrap();
//! # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
//! let out = reconcile_autoscaler(&ha, &AutoscalerContext { now, target: &target, providers: &registry }).await;
//! assert_eq!(out.status.desired_replicas, 3);
//! assert!(out.write.is_none());
//! assert!(out.errors[0].to_string().contains("spec.metrics[0]"));
//! # });
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod autoscaler;
mod node_group;
mod producer;

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Utc};

pub use autoscaler::{AutoscalerContext, AutoscalerOutcome, reconcile_autoscaler};
pub use node_group::{NodeGroupContext, NodeGroupOutcome, reconcile_node_group};
pub use producer::{ProducerOutcome, reconcile_producer};

use crate::api::v1alpha1::{Condition, ConditionStatus, ObjectMeta, set_condition};
use crate::producers::ProducerError;
use crate::provider::{ProviderError, ProviderErrorKind, ProviderResult};

/// `namespace/name` of an object (namespace `default` when the object has
/// none). Cheap to clone (shared strings): reports carry one per object per
/// tick.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectKey {
    /// Namespace.
    pub namespace: Arc<str>,
    /// Name.
    pub name: Arc<str>,
}

impl ObjectKey {
    /// `namespace/name`.
    pub fn new(namespace: &str, name: &str) -> Self {
        Self {
            namespace: Arc::from(namespace),
            name: Arc::from(name),
        }
    }

    /// The key of the object with `meta`.
    pub fn of(meta: &ObjectMeta) -> Self {
        Self::new(
            meta.namespace.as_deref().unwrap_or("default"),
            meta.name.as_deref().unwrap_or(""),
        )
    }
}

/// A borrowed [`ObjectKey`], to look one up without building it. Hashes as
/// the owned key does (the namespace's text, then the name's).
#[derive(Debug, Clone, Copy, Hash)]
pub(crate) struct KeyRef<'a> {
    pub(crate) namespace: &'a str,
    pub(crate) name: &'a str,
}

impl indexmap::Equivalent<ObjectKey> for KeyRef<'_> {
    fn equivalent(&self, key: &ObjectKey) -> bool {
        *key.namespace == *self.namespace && *key.name == *self.name
    }
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// A write a reconcile made: the target's or node group's size from `from`
/// to `to`, and how it went.
#[derive(Debug, Clone, PartialEq)]
pub struct ScaleWrite {
    /// The size before the write.
    pub from: i32,
    /// The size written.
    pub to: i32,
    /// `Ok`, or why the write failed (after retries).
    pub result: ProviderResult<()>,
}

/// Why (part of) a reconcile failed. Each keeps the object, what was being
/// done, and the underlying error with its kind, so a caller can tell a
/// retryable failure from one that needs a fix.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ReconcileError {
    /// A provider or scale-target call failed (after retries).
    #[error("{kind} {object}: {operation} failed: {source}")]
    Provider {
        /// `MetricsProducer`, `HorizontalAutoscaler` or `ScalableNodeGroup`.
        kind: &'static str,
        /// The object reconciled.
        object: ObjectKey,
        /// What was being done, e.g. `setting the node group to 5 nodes`.
        operation: Cow<'static, str>,
        /// The provider's error.
        #[source]
        source: ProviderError,
    },
    /// A HorizontalAutoscaler's metric could not be used; the decision went
    /// on without it (never scaling down on a partial read).
    #[error(
        "HorizontalAutoscaler {object}: spec.metrics[{index}] is unusable ({reason}): {message}"
    )]
    Metric {
        /// The autoscaler.
        object: ObjectKey,
        /// Index of the metric in `spec.metrics`.
        index: usize,
        /// The condition reason, e.g. `FailedGetPrometheusMetric`.
        reason: String,
        /// What went wrong.
        message: String,
        /// The provider's error, when reading the metric failed.
        #[source]
        source: Option<ProviderError>,
    },
    /// A MetricsProducer could not be evaluated.
    #[error("{source}")]
    Producer {
        /// The producer.
        object: ObjectKey,
        /// Why.
        #[source]
        source: ProducerError,
    },
}

impl ReconcileError {
    /// The kind of the object: `MetricsProducer`, `HorizontalAutoscaler` or
    /// `ScalableNodeGroup`.
    pub fn object_kind(&self) -> &'static str {
        match self {
            Self::Provider { kind, .. } => kind,
            Self::Metric { .. } => "HorizontalAutoscaler",
            Self::Producer { .. } => "MetricsProducer",
        }
    }

    /// The object reconciled.
    pub fn object(&self) -> &ObjectKey {
        match self {
            Self::Provider { object, .. }
            | Self::Metric { object, .. }
            | Self::Producer { object, .. } => object,
        }
    }

    /// The provider error behind this one, if there is one.
    pub fn provider_error(&self) -> Option<&ProviderError> {
        match self {
            Self::Provider { source, .. } => Some(source),
            Self::Metric { source, .. } => source.as_ref(),
            Self::Producer { source, .. } => match source {
                ProducerError::Provider { error, .. }
                | ProducerError::ClusterSnapshot { error, .. } => Some(error),
                _ => None,
            },
        }
    }

    /// The kind of the provider error behind this one, if there is one.
    pub fn provider_kind(&self) -> Option<ProviderErrorKind> {
        self.provider_error().map(|e| e.kind)
    }

    /// Whether the next reconcile may succeed without a change to the spec
    /// or the cloud (throttling, timeouts, outages).
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Producer { source, .. } => source.is_retryable(),
            _ => self
                .provider_error()
                .is_some_and(ProviderError::is_retryable),
        }
    }
}

/// A condition with no transition time yet (set by [`merge_conditions`]).
pub(crate) fn condition(
    type_: &'static str,
    status: ConditionStatus,
    reason: &'static str,
    message: impl Into<Cow<'static, str>>,
) -> Condition {
    Condition {
        type_: Cow::Borrowed(type_),
        status,
        reason: Cow::Borrowed(reason),
        message: message.into(),
        last_transition_time: None,
    }
}

/// `previous` with each of `updates` set into it: one entry per type, in
/// the previous order (new types last), the transition time kept unless the
/// status changed (as [`set_condition`] does). Only the conditions that are
/// not replaced are copied.
pub(crate) fn merge_conditions(
    previous: &[Condition],
    mut updates: Vec<Condition>,
    now: DateTime<Utc>,
) -> Vec<Condition> {
    let transition = |old: &Condition, new: &Condition| {
        if new.status == old.status {
            old.last_transition_time.or(Some(now))
        } else {
            Some(now)
        }
    };
    // The steady state: the same conditions as last time, in the same
    // order. The result is `updates` with the transition times set.
    if previous.len() == updates.len()
        && previous
            .iter()
            .zip(&updates)
            .all(|(o, u)| o.type_ == u.type_)
    {
        for (old, new) in previous.iter().zip(updates.iter_mut()) {
            new.last_transition_time = transition(old, new);
        }
        return updates;
    }
    let mut merged = Vec::with_capacity(previous.len() + updates.len());
    for old in previous {
        match updates.iter().position(|u| u.type_ == old.type_) {
            Some(i) => {
                let mut new = updates.remove(i);
                new.last_transition_time = transition(old, &new);
                merged.push(new);
            }
            None => merged.push(old.clone()),
        }
    }
    for new in updates {
        set_condition(&mut merged, new, now);
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(s: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 5, 0, 0, 0).unwrap() + chrono::Duration::seconds(s)
    }

    #[test]
    fn merging_equals_setting_each_condition_in_turn() {
        let c = |t: &'static str, st: ConditionStatus, r: &'static str| condition(t, st, r, "m");
        let mut previous = Vec::new();
        set_condition(&mut previous, c("A", ConditionStatus::True, "x"), at(0));
        set_condition(&mut previous, c("B", ConditionStatus::False, "y"), at(0));
        set_condition(&mut previous, c("C", ConditionStatus::True, "z"), at(0));
        let updates = [
            c("B", ConditionStatus::False, "y2"), // same status: time kept
            c("D", ConditionStatus::True, "new"), // new type: appended
            c("A", ConditionStatus::False, "x2"), // status changed: time now
        ];
        let mut expected = previous.clone();
        for u in updates.clone() {
            set_condition(&mut expected, u, at(30));
        }
        let merged = merge_conditions(&previous, updates.to_vec(), at(30));
        assert_eq!(merged, expected);
        assert_eq!(merged[0].last_transition_time, Some(at(30)));
        assert_eq!(merged[1].last_transition_time, Some(at(0)));
        assert_eq!(merged[3].type_, "D");
    }

    #[test]
    fn the_same_conditions_in_the_same_order_merge_as_set_condition_does() {
        let c = |t: &'static str, st: ConditionStatus, r: &'static str| condition(t, st, r, "m");
        let mut previous = Vec::new();
        set_condition(&mut previous, c("A", ConditionStatus::True, "x"), at(0));
        set_condition(&mut previous, c("B", ConditionStatus::False, "y"), at(0));
        previous[0].last_transition_time = None; // written by an older version
        let updates = [
            c("A", ConditionStatus::True, "x2"), // same status, no time: now
            c("B", ConditionStatus::True, "y2"), // status changed: now
        ];
        let mut expected = previous.clone();
        for u in updates.clone() {
            set_condition(&mut expected, u, at(30));
        }
        let merged = merge_conditions(&previous, updates.to_vec(), at(30));
        assert_eq!(merged, expected);
        assert_eq!(merged[0].reason, "x2");
        assert_eq!(merged[0].last_transition_time, Some(at(30)));
        assert_eq!(merged[1].last_transition_time, Some(at(30)));
        // Same status, time kept.
        let again = merge_conditions(&merged, updates.to_vec(), at(60));
        assert_eq!(again[1].last_transition_time, Some(at(30)));
        assert_eq!(again[0].last_transition_time, Some(at(30)));
    }
}

/// The code in `docs/reconcile.md` runs as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/reconcile.md")]
pub struct ReconcileGuide;
