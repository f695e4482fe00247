use std::borrow::Cow;
use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::de::IgnoredAny;
use serde::{Deserialize, Deserializer, Serialize};

/// The part of Kubernetes object metadata that karpenter-rs reads.
///
/// Every other standard metadata field (`uid`, `resourceVersion`,
/// `creationTimestamp`, `managedFields`, `ownerReferences`, `finalizers`,
/// `generateName`, `deletionTimestamp`, `deletionGracePeriodSeconds`,
/// `selfLink`, ...) is accepted and ignored, so a manifest fetched with
/// `kubectl get -o yaml` parses as it is. A field that is not Kubernetes
/// metadata (`metadata.nmae`) is rejected, with the closest known field.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, JsonSchema)]
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

/// Every field of Kubernetes `ObjectMeta`; the ones karpenter-rs does not
/// read are checked only for being there.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawObjectMeta {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    namespace: Option<String>,
    #[serde(default)]
    labels: Option<BTreeMap<String, String>>,
    #[serde(default)]
    annotations: Option<BTreeMap<String, String>>,
    #[serde(default)]
    generation: Option<i64>,
    #[serde(default, rename = "generateName")]
    _generate_name: IgnoredAny,
    #[serde(default, rename = "uid")]
    _uid: IgnoredAny,
    #[serde(default, rename = "resourceVersion")]
    _resource_version: IgnoredAny,
    #[serde(default, rename = "creationTimestamp")]
    _creation_timestamp: IgnoredAny,
    #[serde(default, rename = "deletionTimestamp")]
    _deletion_timestamp: IgnoredAny,
    #[serde(default, rename = "deletionGracePeriodSeconds")]
    _deletion_grace_period_seconds: IgnoredAny,
    #[serde(default, rename = "ownerReferences")]
    _owner_references: IgnoredAny,
    #[serde(default, rename = "finalizers")]
    _finalizers: IgnoredAny,
    #[serde(default, rename = "managedFields")]
    _managed_fields: IgnoredAny,
    #[serde(default, rename = "selfLink")]
    _self_link: IgnoredAny,
    #[serde(default, rename = "clusterName")]
    _cluster_name: IgnoredAny,
}

impl<'de> Deserialize<'de> for ObjectMeta {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = RawObjectMeta::deserialize(d)?;
        Ok(Self {
            name: raw.name,
            namespace: raw.namespace,
            labels: raw.labels.unwrap_or_default(),
            annotations: raw.annotations.unwrap_or_default(),
            generation: raw.generation,
        })
    }
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
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::api::rfc3339::deserialize_option"
    )]
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
