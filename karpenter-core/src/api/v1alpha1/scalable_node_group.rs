use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::horizontal_autoscaler::default_api_version;
use super::{Condition, ObjectMeta};

/// A cloud node group whose size karpenter-rs controls. It has `status` and
/// `scale` subresources (`.spec.replicas` / `.status.replicas`).
///
/// ```
/// use karpenter_core::api::v1alpha1::ScalableNodeGroup;
///
/// let ng: ScalableNodeGroup = serde_json::from_str(r#"{
///   "metadata": {"name": "ml-training"},
///   "spec": {"type": "AWSEKSNodeGroup", "replicas": 1,
///            "id": "arn:aws:eks:us-west-2:1234567890:nodegroup/microservices/ml-training/abc"}
/// }"#).unwrap();
/// assert_eq!(ng.spec.type_, "AWSEKSNodeGroup");
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScalableNodeGroup {
    /// `autoscaling.karpenter.sh/v1alpha1`.
    #[serde(default = "default_api_version")]
    pub api_version: String,
    /// `ScalableNodeGroup`.
    #[serde(default = "default_kind")]
    pub kind: String,
    /// Object metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// Which node group, and how many nodes it should have.
    pub spec: ScalableNodeGroupSpec,
    /// What the controller observed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<ScalableNodeGroupStatus>,
}

fn default_kind() -> String {
    "ScalableNodeGroup".to_string()
}

/// The node group to control.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScalableNodeGroupSpec {
    /// Provider type: `AWSEC2AutoScalingGroup`, `AWSEKSNodeGroup`, or any type
    /// a registered provider claims.
    #[serde(rename = "type")]
    pub type_: String,
    /// The group's name or ARN, as the provider understands it.
    pub id: String,
    /// Desired number of nodes (the `scale` subresource's `spec.replicas`).
    /// `None` leaves the group's size alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
}

/// What the controller observed of the node group.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScalableNodeGroupStatus {
    /// Ready nodes (the `scale` subresource's `status.replicas`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    /// `Active`, `AbleToScale`, `Stabilized`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// The last error from the provider, if the last call failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}
