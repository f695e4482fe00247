use std::borrow::Cow;
use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The part of Kubernetes object metadata that karpenter-rs reads.
///
/// Unknown metadata fields (`uid`, `resourceVersion`, ...) are accepted and
/// ignored, so a manifest fetched from a cluster parses as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ObjectMeta {
    /// Object name, unique within its namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Namespace; `None` means the default namespace of the caller.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Labels.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// Generation of the spec, set by the API server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<i64>,
}

/// Status of a [`Condition`]: `True`, `False` or `Unknown`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum ConditionStatus {
    /// The condition holds.
    True,
    /// The condition does not hold.
    False,
    /// The controller cannot tell.
    Unknown,
}

impl ConditionStatus {
    /// `True` for `true`, `False` for `false`.
    pub fn from_bool(b: bool) -> Self {
        if b { Self::True } else { Self::False }
    }

    /// The Kubernetes spelling: `"True"`, `"False"` or `"Unknown"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::True => "True",
            Self::False => "False",
            Self::Unknown => "Unknown",
        }
    }
}

/// A Kubernetes-style status condition.
///
/// Each condition type appears at most once in a status; setting it again
/// replaces status, reason and message, and `lastTransitionTime` changes only
/// when the status changes (see [`set_condition`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// Condition type, e.g. `AbleToScale`.
    ///
    /// The text fields are `Cow<'static, str>`: the engine and the runner
    /// set most of them from constants, without allocating, on every
    /// decision; read ones are owned. Compare them with `==` against a
    /// `&str`, or borrow one with `&*condition.reason`.
    #[serde(rename = "type")]
    pub type_: Cow<'static, str>,
    /// `True`, `False` or `Unknown`.
    pub status: ConditionStatus,
    /// Machine-readable reason in CamelCase, e.g. `ScaleDownStabilized`.
    #[serde(default, skip_serializing_if = "str_is_empty")]
    pub reason: Cow<'static, str>,
    /// Human-readable explanation.
    #[serde(default, skip_serializing_if = "str_is_empty")]
    pub message: Cow<'static, str>,
    /// When the status last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<DateTime<Utc>>,
}

/// Sets `new` in `conditions`, replacing the entry of the same type.
///
/// The transition time of an existing entry is kept unless the status
/// changed; a new entry, or one whose status changed, gets `now`.
pub fn set_condition(conditions: &mut Vec<Condition>, mut new: Condition, now: DateTime<Utc>) {
    match conditions.iter_mut().find(|c| c.type_ == new.type_) {
        Some(existing) => {
            new.last_transition_time = if existing.status == new.status {
                existing.last_transition_time.or(Some(now))
            } else {
                Some(now)
            };
            *existing = new;
        }
        None => {
            new.last_transition_time = Some(now);
            conditions.push(new);
        }
    }
}

/// serde's `skip_serializing_if` passes `&Cow<str>`, so `str::is_empty`
/// does not fit.
#[allow(clippy::ptr_arg)]
fn str_is_empty(s: &Cow<'static, str>) -> bool {
    s.is_empty()
}
