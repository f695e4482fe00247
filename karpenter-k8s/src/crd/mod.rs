//! The three custom resources of `autoscaling.karpenter.sh/v1alpha1` as
//! Kubernetes objects, and their CustomResourceDefinitions.
//!
//! Each type here wraps the core type's spec and status (core stays free of
//! kube and k8s-openapi) with the full Kubernetes [`ObjectMeta`], and
//! implements [`kube::Resource`] (namespaced), [`HasSpec`] and
//! [`HasStatus`], so `kube::Api<ScalableNodeGroup>` works as for any
//! derived type, and [`CustomResourceExt`], whose `crd()` is the complete
//! definition: structural schema, CEL rules, status (and for node groups,
//! scale) subresources, printer columns, short names and the `karpenter`
//! category. [`all`] returns the three; `karpenter crds` prints them.
//!
//! The statuses add a few fields to core's for `kubectl get` and the scale
//! subresource: [`ScalableNodeGroupStatus::selector`],
//! [`HorizontalAutoscalerStatus::ready_replicas`],
//! [`MetricsProducerStatus::kind`] and [`MetricsProducerStatus::value`].
//! Core's status types ignore them when they read an object.
//!
//! ```
//! use kube::{CustomResourceExt, Resource};
//! use karpenter_k8s::crd::ScalableNodeGroup;
//!
//! assert_eq!(ScalableNodeGroup::crd_name(), "scalablenodegroups.autoscaling.karpenter.sh");
//! assert_eq!(ScalableNodeGroup::api_version(&()), "autoscaling.karpenter.sh/v1alpha1");
//! let crd = karpenter_k8s::crd::scalable_node_group_crd().unwrap();
//! let scale = crd.spec.versions[0].subresources.as_ref().unwrap().scale.as_ref().unwrap();
//! assert_eq!(scale.spec_replicas_path, ".spec.replicas");
//! ```

pub mod cli;
mod schema;
pub mod structural;

use std::borrow::Cow;
use std::collections::BTreeMap;

use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceColumnDefinition, CustomResourceDefinition, CustomResourceDefinitionNames,
    CustomResourceDefinitionSpec, CustomResourceDefinitionVersion, CustomResourceSubresourceScale,
    CustomResourceSubresourceStatus, CustomResourceSubresources, CustomResourceValidation,
    JSONSchemaProps,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use karpenter_core::api::v1alpha1 as core;
use kube::core::object::{HasSpec, HasStatus};
use kube::core::{CustomResourceExt, Resource};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

pub use cli::CrdsCommand;
use schema::{Edits, Rule, structural_schema_for};

/// The API group: `autoscaling.karpenter.sh`.
pub const GROUP: &str = core::GROUP;
/// The version: `v1alpha1`.
pub const VERSION: &str = core::VERSION;
/// The category every kind is in: `kubectl get karpenter` lists them all.
pub const CATEGORY: &str = "karpenter";

/// The label EKS puts on the nodes of a managed node group, with the
/// group's name as value.
pub const EKS_NODEGROUP_LABEL: &str = "eks.amazonaws.com/nodegroup";

/// Why a CustomResourceDefinition could not be built. Both are bugs in
/// this crate (the definitions are built from types compiled into it), not
/// bad input; the CRD tests keep them from shipping.
#[derive(Debug, thiserror::Error)]
pub enum CrdError {
    /// A schema edit names a field the core type does not have (renamed?).
    #[error(
        "the {kind} schema has no field at {paths}; update the edits in karpenter-k8s/src/crd/mod.rs to the core type's fields"
    )]
    MissingField {
        /// The kind whose schema was edited.
        kind: &'static str,
        /// The paths that were not found, comma-separated.
        paths: String,
    },
    /// The schema does not fit k8s-openapi's `JSONSchemaProps`.
    #[error("the {kind} schema is not a valid JSONSchemaProps: {source}")]
    Schema {
        /// The kind whose schema failed.
        kind: &'static str,
        /// The decoding error.
        #[source]
        source: serde_json::Error,
    },
    /// A definition could not be written as YAML.
    #[error("cannot write the {kind} CustomResourceDefinition as YAML: {message}")]
    Yaml {
        /// The kind being written.
        kind: String,
        /// The serializer's message.
        message: String,
    },
}

// ---- the three kinds -----------------------------------------------------

/// Implements the Kubernetes traits and serde for a wrapper of a core spec
/// and a status.
macro_rules! custom_resource {
    ($ty:ident, $core:ident, $spec:ty, $status:ty, $kind:literal, $plural:literal, $crd:ident) => {
        impl $ty {
            /// The core object the reconcile functions take.
            pub fn to_core(&self) -> core::$core {
                core::$core {
                    api_version: core::API_VERSION.to_string(),
                    kind: $kind.to_string(),
                    metadata: core_meta(&self.metadata),
                    spec: self.spec.clone(),
                    status: self.status.as_ref().map(|s| s.core.clone()),
                }
            }

            /// A new object named `name` in `namespace`, with no status.
            pub fn new(namespace: &str, name: &str, spec: $spec) -> Self {
                Self {
                    metadata: ObjectMeta {
                        name: Some(name.to_string()),
                        namespace: Some(namespace.to_string()),
                        ..ObjectMeta::default()
                    },
                    spec,
                    status: None,
                }
            }
        }

        impl Resource for $ty {
            type DynamicType = ();
            type Scope = NamespaceResourceScope;

            fn kind(_: &()) -> Cow<'_, str> {
                Cow::Borrowed($kind)
            }
            fn group(_: &()) -> Cow<'_, str> {
                Cow::Borrowed(GROUP)
            }
            fn version(_: &()) -> Cow<'_, str> {
                Cow::Borrowed(VERSION)
            }
            fn plural(_: &()) -> Cow<'_, str> {
                Cow::Borrowed($plural)
            }
            fn meta(&self) -> &ObjectMeta {
                &self.metadata
            }
            fn meta_mut(&mut self) -> &mut ObjectMeta {
                &mut self.metadata
            }
        }

        impl HasSpec for $ty {
            type Spec = $spec;
            fn spec(&self) -> &$spec {
                &self.spec
            }
            fn spec_mut(&mut self) -> &mut $spec {
                &mut self.spec
            }
        }

        impl HasStatus for $ty {
            type Status = $status;
            fn status(&self) -> Option<&$status> {
                self.status.as_ref()
            }
            fn status_mut(&mut self) -> &mut Option<$status> {
                &mut self.status
            }
        }

        impl Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
                use serde::ser::SerializeStruct;
                let fields = if self.status.is_some() { 5 } else { 4 };
                let mut obj = ser.serialize_struct($kind, fields)?;
                obj.serialize_field("apiVersion", core::API_VERSION)?;
                obj.serialize_field("kind", $kind)?;
                obj.serialize_field("metadata", &self.metadata)?;
                obj.serialize_field("spec", &self.spec)?;
                if let Some(status) = &self.status {
                    obj.serialize_field("status", status)?;
                }
                obj.end()
            }
        }

        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                // `apiVersion` and `kind` are the API server's to check.
                #[derive(Deserialize)]
                struct Wire {
                    #[serde(default)]
                    metadata: ObjectMeta,
                    spec: $spec,
                    #[serde(default)]
                    status: Option<$status>,
                }
                let w = Wire::deserialize(d)?;
                Ok(Self {
                    metadata: w.metadata,
                    spec: w.spec,
                    status: w.status,
                })
            }
        }

        impl CustomResourceExt for $ty {
            /// The complete definition (see [`all`]).
            #[allow(clippy::expect_used)]
            fn crd() -> CustomResourceDefinition {
                // Built from types compiled into this crate: an error is a
                // bug that the crds tests catch, never bad input.
                $crd().expect("the CRD is built from this crate's own types (see the crd tests)")
            }
            fn crd_name() -> &'static str {
                concat!($plural, ".autoscaling.karpenter.sh")
            }
            fn api_resource() -> kube::core::ApiResource {
                kube::core::ApiResource::erase::<Self>(&())
            }
            fn shortnames() -> &'static [&'static str] {
                Self::SHORT_NAMES
            }
        }
    };
}

/// A cloud node group whose size karpenter-rs controls, as stored by the API
/// server. Its `scale` subresource lets `kubectl scale` and any HPA-style
/// client set `.spec.replicas`.
#[derive(Debug, Clone, PartialEq)]
pub struct ScalableNodeGroup {
    /// Standard object metadata.
    pub metadata: ObjectMeta,
    /// Which node group, and how many nodes it should have.
    pub spec: core::ScalableNodeGroupSpec,
    /// What the controller observed.
    pub status: Option<ScalableNodeGroupStatus>,
}

impl ScalableNodeGroup {
    /// Short names: `kubectl get sng`.
    pub const SHORT_NAMES: &'static [&'static str] = &["sng"];
}

custom_resource!(
    ScalableNodeGroup,
    ScalableNodeGroup,
    core::ScalableNodeGroupSpec,
    ScalableNodeGroupStatus,
    "ScalableNodeGroup",
    "scalablenodegroups",
    scalable_node_group_crd
);

/// What the controller observed of a node group: core's status and the
/// label selector of the group's nodes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScalableNodeGroupStatus {
    /// Ready nodes, conditions and the last error.
    #[serde(flatten)]
    pub core: core::ScalableNodeGroupStatus,
    /// Label selector of the group's nodes, for the `scale` subresource's
    /// `status.selector` (e.g. `eks.amazonaws.com/nodegroup=ml-training`).
    /// Set only when the group's nodes carry a known label: see
    /// [`node_selector`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<String>,
}

/// The label selector of a node group's nodes, when its provider labels
/// them in a known way: an `AWSEKSNodeGroup` (name or ARN
/// `arn:aws:eks:REGION:ACCOUNT:nodegroup/CLUSTER/NAME/ID`) gives
/// `eks.amazonaws.com/nodegroup=NAME`. EC2 Auto Scaling groups and other
/// types put no standard label on their nodes: `None`, and the scale
/// subresource reports an empty selector.
///
/// ```
/// use karpenter_core::api::v1alpha1::ScalableNodeGroupSpec;
/// use karpenter_k8s::crd::node_selector;
///
/// let eks = ScalableNodeGroupSpec {
///     type_: "AWSEKSNodeGroup".into(),
///     id: "arn:aws:eks:us-west-2:1234567890:nodegroup/microservices/ml-training/abc".into(),
///     replicas: None,
/// };
/// assert_eq!(node_selector(&eks).as_deref(), Some("eks.amazonaws.com/nodegroup=ml-training"));
/// let asg = ScalableNodeGroupSpec { type_: "AWSEC2AutoScalingGroup".into(), id: "web".into(), replicas: None };
/// assert_eq!(node_selector(&asg), None);
/// ```
pub fn node_selector(spec: &core::ScalableNodeGroupSpec) -> Option<String> {
    if spec.type_ != "AWSEKSNodeGroup" {
        return None;
    }
    let name = match spec.id.strip_prefix("arn:") {
        // arn:PARTITION:eks:REGION:ACCOUNT:nodegroup/CLUSTER/NAME/ID
        Some(arn) => {
            let resource = arn.splitn(5, ':').nth(4)?;
            let mut parts = resource.split('/');
            (parts.next()? == "nodegroup").then_some(())?;
            parts.nth(1)?
        }
        None => spec.id.as_str(),
    };
    let valid = !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    valid.then(|| format!("{EKS_NODEGROUP_LABEL}={name}"))
}

/// Scales a target from metrics with the HPA v2 semantics, as stored by the
/// API server.
#[derive(Debug, Clone, PartialEq)]
pub struct HorizontalAutoscaler {
    /// Standard object metadata.
    pub metadata: ObjectMeta,
    /// What to scale and how.
    pub spec: core::HorizontalAutoscalerSpec,
    /// What the controller observed and decided last.
    pub status: Option<HorizontalAutoscalerStatus>,
}

impl HorizontalAutoscaler {
    /// Short names: `kubectl get ha`.
    pub const SHORT_NAMES: &'static [&'static str] = &["ha"];
}

custom_resource!(
    HorizontalAutoscaler,
    HorizontalAutoscaler,
    core::HorizontalAutoscalerSpec,
    HorizontalAutoscalerStatus,
    "HorizontalAutoscaler",
    "horizontalautoscalers",
    horizontal_autoscaler_crd
);

/// What the controller observed and decided last: core's status and the
/// target's ready replicas.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HorizontalAutoscalerStatus {
    /// Replicas, metrics, conditions and the persisted history.
    #[serde(flatten)]
    pub core: core::HorizontalAutoscalerStatus,
    /// The target's ready replicas (its scale's `status.replicas`) when the
    /// autoscaler last read it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_replicas: Option<i32>,
}

/// Turns the world into Prometheus gauges, as stored by the API server.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricsProducer {
    /// Standard object metadata.
    pub metadata: ObjectMeta,
    /// Which producer.
    pub spec: core::MetricsProducerSpec,
    /// The last computed values.
    pub status: Option<MetricsProducerStatus>,
}

impl MetricsProducer {
    /// Short names: `kubectl get mp`.
    pub const SHORT_NAMES: &'static [&'static str] = &["mp"];
}

custom_resource!(
    MetricsProducer,
    MetricsProducer,
    core::MetricsProducerSpec,
    MetricsProducerStatus,
    "MetricsProducer",
    "metricsproducers",
    metrics_producer_crd
);

/// The last values a producer computed: core's status, the producer kind
/// and a one-line summary of the values, for `kubectl get`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MetricsProducerStatus {
    /// Values, next schedule change, conditions and the last error.
    #[serde(flatten)]
    pub core: core::MetricsProducerStatus,
    /// The producer kind: `queue`, `reservedCapacity`, `scheduleSpec` or
    /// `pendingCapacity` (see [`producer_kind`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The values on one line (see [`summarize_values`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// The kind of producer a spec sets, as its field is named; `None` unless
/// exactly one is set.
///
/// ```
/// use karpenter_core::api::v1alpha1::{MetricsProducerSpec, ReservedCapacitySpec};
///
/// let spec = MetricsProducerSpec { reserved_capacity: Some(ReservedCapacitySpec::default()), ..Default::default() };
/// assert_eq!(karpenter_k8s::crd::producer_kind(&spec), Some("reservedCapacity"));
/// assert_eq!(karpenter_k8s::crd::producer_kind(&MetricsProducerSpec::default()), None);
/// ```
pub fn producer_kind(spec: &core::MetricsProducerSpec) -> Option<&'static str> {
    let set: Vec<&'static str> = [
        (spec.queue.is_some(), "queue"),
        (spec.reserved_capacity.is_some(), "reservedCapacity"),
        (spec.schedule_spec.is_some(), "scheduleSpec"),
        (spec.pending_capacity.is_some(), "pendingCapacity"),
    ]
    .into_iter()
    .filter_map(|(is_set, kind)| is_set.then_some(kind))
    .collect();
    match set.as_slice() {
        [one] => Some(one),
        _ => None,
    }
}

/// A producer's status values on one line, `key: value` in key order,
/// separated by `; `.
///
/// ```
/// use std::collections::BTreeMap;
///
/// let values = BTreeMap::from([
///     ("cpu".to_string(), "62.50%, 10/16".to_string()),
///     ("pods".to_string(), "1.82%, 2/110".to_string()),
/// ]);
/// assert_eq!(karpenter_k8s::crd::summarize_values(&values), "cpu: 62.50%, 10/16; pods: 1.82%, 2/110");
/// ```
pub fn summarize_values(values: &BTreeMap<String, String>) -> String {
    values
        .iter()
        .map(|(k, v)| format!("{k}: {v}"))
        .collect::<Vec<_>>()
        .join("; ")
}

/// The part of the metadata core reads.
fn core_meta(meta: &ObjectMeta) -> core::ObjectMeta {
    core::ObjectMeta {
        name: meta.name.clone(),
        namespace: meta.namespace.clone(),
        labels: meta.labels.clone().unwrap_or_default(),
        annotations: meta.annotations.clone().unwrap_or_default(),
        generation: meta.generation,
    }
}

// ---- the definitions -----------------------------------------------------

/// The three CustomResourceDefinitions: ScalableNodeGroup,
/// HorizontalAutoscaler, MetricsProducer.
pub fn all() -> Result<Vec<CustomResourceDefinition>, CrdError> {
    Ok(vec![
        scalable_node_group_crd()?,
        horizontal_autoscaler_crd()?,
        metrics_producer_crd()?,
    ])
}

/// One printer column.
fn column(
    name: &str,
    type_: &str,
    json_path: &str,
    description: &str,
) -> CustomResourceColumnDefinition {
    CustomResourceColumnDefinition {
        name: name.to_string(),
        type_: type_.to_string(),
        json_path: json_path.to_string(),
        description: Some(description.to_string()),
        ..CustomResourceColumnDefinition::default()
    }
}

/// The `Age` column every kind ends with.
fn age() -> CustomResourceColumnDefinition {
    column(
        "Age",
        "date",
        ".metadata.creationTimestamp",
        "Time since the object was created.",
    )
}

/// What differs between the three definitions.
struct Definition {
    kind: &'static str,
    plural: &'static str,
    short_names: &'static [&'static str],
    description: &'static str,
    spec: Value,
    status: Value,
    columns: Vec<CustomResourceColumnDefinition>,
    scale: Option<CustomResourceSubresourceScale>,
}

impl Definition {
    /// The root schema: `apiVersion`, `kind`, `metadata` (the API server's
    /// own schema applies), `spec` (required) and `status`.
    fn root_schema(&self) -> Value {
        json!({
            "description": self.description,
            "type": "object",
            "required": ["spec"],
            "properties": {
                "apiVersion": {
                    "description": "autoscaling.karpenter.sh/v1alpha1",
                    "type": "string"
                },
                "kind": {
                    "description": self.kind,
                    "type": "string"
                },
                "metadata": {"type": "object"},
                "spec": self.spec,
                "status": self.status,
            }
        })
    }

    /// The definition, with `edit` applied to the root schema.
    fn build(
        self,
        edit: impl FnOnce(&mut Edits<'_>),
    ) -> Result<CustomResourceDefinition, CrdError> {
        let mut root = self.root_schema();
        let mut edits = Edits::new(&mut root);
        edit(&mut edits);
        let missing = edits.missing();
        if !missing.is_empty() {
            return Err(CrdError::MissingField {
                kind: self.kind,
                paths: missing.join(", "),
            });
        }
        let schema: JSONSchemaProps =
            serde_json::from_value(root).map_err(|source| CrdError::Schema {
                kind: self.kind,
                source,
            })?;
        Ok(CustomResourceDefinition {
            metadata: ObjectMeta {
                name: Some(format!("{}.{GROUP}", self.plural)),
                ..ObjectMeta::default()
            },
            spec: CustomResourceDefinitionSpec {
                group: GROUP.to_string(),
                names: CustomResourceDefinitionNames {
                    kind: self.kind.to_string(),
                    list_kind: Some(format!("{}List", self.kind)),
                    plural: self.plural.to_string(),
                    singular: Some(self.kind.to_ascii_lowercase()),
                    short_names: Some(self.short_names.iter().map(|s| s.to_string()).collect()),
                    categories: Some(vec![CATEGORY.to_string()]),
                },
                scope: "Namespaced".to_string(),
                versions: vec![CustomResourceDefinitionVersion {
                    name: VERSION.to_string(),
                    served: true,
                    storage: true,
                    schema: Some(CustomResourceValidation {
                        open_api_v3_schema: Some(schema),
                    }),
                    subresources: Some(CustomResourceSubresources {
                        status: Some(CustomResourceSubresourceStatus(json!({}))),
                        scale: self.scale,
                    }),
                    additional_printer_columns: Some(self.columns),
                    ..CustomResourceDefinitionVersion::default()
                }],
                ..CustomResourceDefinitionSpec::default()
            },
            status: None,
        })
    }
}

/// The ScalableNodeGroup definition: status and scale subresources, columns
/// Type, Desired, Ready, Stabilized, Age.
pub fn scalable_node_group_crd() -> Result<CustomResourceDefinition, CrdError> {
    Definition {
        kind: "ScalableNodeGroup",
        plural: "scalablenodegroups",
        short_names: ScalableNodeGroup::SHORT_NAMES,
        description: "A cloud node group whose size karpenter-rs controls. Its scale subresource maps .spec.replicas (desired nodes), .status.replicas (ready nodes) and .status.selector (the label selector of its nodes, when its provider labels them).",
        spec: structural_schema_for::<core::ScalableNodeGroupSpec>(),
        status: structural_schema_for::<ScalableNodeGroupStatus>(),
        columns: vec![
            column("Type", "string", ".spec.type", "The provider type of the node group."),
            column("Desired", "integer", ".spec.replicas", "The number of nodes the group should have."),
            column("Ready", "integer", ".status.replicas", "Nodes that are ready."),
            column(
                "Stabilized",
                "string",
                ".status.conditions[?(@.type==\"Stabilized\")].status",
                "Whether the group is done adding or removing nodes.",
            ),
            age(),
        ],
        scale: Some(CustomResourceSubresourceScale {
            spec_replicas_path: ".spec.replicas".to_string(),
            status_replicas_path: ".status.replicas".to_string(),
            label_selector_path: Some(".status.selector".to_string()),
        }),
    }
    .build(|e| {
        e.set(
            &["spec", "replicas"],
            "description",
            json!("Desired number of nodes (the scale subresource's spec.replicas). Omitted, the controller leaves the group's size alone."),
        )
        .set(&["spec", "type"], "minLength", json!(1))
            .set(&["spec", "id"], "minLength", json!(1))
            .set(&["spec", "replicas"], "minimum", json!(0))
            .set(&["status", "replicas"], "minimum", json!(0));
    })
}

/// The CEL rules of one `behavior` direction (`scaleUp` / `scaleDown`).
const SCALING_RULES: &[Rule] = &[
    Rule {
        rule: "!has(self.stabilizationWindowSeconds) || (self.stabilizationWindowSeconds >= 0 && self.stabilizationWindowSeconds <= 3600)",
        message: "stabilizationWindowSeconds must be between 0 and 3600 (seconds)",
        field_path: Some(".stabilizationWindowSeconds"),
    },
    Rule {
        rule: "!has(self.tolerance) || !string(self.tolerance).startsWith('-')",
        message: "tolerance must be >= 0, e.g. 0.1 (written as a string: \"0.1\")",
        field_path: Some(".tolerance"),
    },
];

/// The CEL rules of one scaling policy.
const POLICY_RULES: &[Rule] = &[
    Rule {
        rule: "self.value > 0",
        message: "value must be > 0: the replicas (Count) or percent (Percent) one period may change",
        field_path: Some(".value"),
    },
    Rule {
        rule: "self.periodSeconds >= 1 && self.periodSeconds <= 1800",
        message: "periodSeconds must be between 1 and 1800 (seconds)",
        field_path: Some(".periodSeconds"),
    },
];

/// The HorizontalAutoscaler definition: status subresource, columns Min,
/// Desired, Max, Ready, Last Scale, Age.
pub fn horizontal_autoscaler_crd() -> Result<CustomResourceDefinition, CrdError> {
    Definition {
        kind: "HorizontalAutoscaler",
        plural: "horizontalautoscalers",
        short_names: HorizontalAutoscaler::SHORT_NAMES,
        description: "Scales a target with a scale subresource (usually a ScalableNodeGroup) from metrics, with the Kubernetes HorizontalPodAutoscaler v2 decision semantics.",
        spec: structural_schema_for::<core::HorizontalAutoscalerSpec>(),
        status: structural_schema_for::<HorizontalAutoscalerStatus>(),
        columns: vec![
            column("Min", "integer", ".spec.minReplicas", "Lower bound of the replicas set (omitted: 0)."),
            column("Desired", "integer", ".status.desiredReplicas", "The replicas last decided."),
            column("Max", "integer", ".spec.maxReplicas", "Upper bound of the replicas set."),
            column("Ready", "integer", ".status.readyReplicas", "The target's ready replicas when last read."),
            column("Last Scale", "date", ".status.lastScaleTime", "When the target's replicas were last changed."),
            age(),
        ],
        scale: None,
    }
    .build(|e| {
        let metric = ["spec", "metrics", "items"];
        let target_paths: [&[&str]; 3] = [
            &["spec", "metrics", "items", "prometheus", "target"],
            &["spec", "metrics", "items", "cloudWatch", "target"],
            &["spec", "metrics", "items", "custom", "target"],
        ];
        e.set(&["spec", "minReplicas"], "minimum", json!(0))
            .set(&["spec", "maxReplicas"], "minimum", json!(1))
            .rules(
                &["spec"],
                &[Rule {
                    rule: "!has(self.minReplicas) || self.minReplicas <= self.maxReplicas",
                    message: "minReplicas must be <= maxReplicas",
                    field_path: Some(".minReplicas"),
                }],
            )
            .set(&["spec", "scaleTargetRef", "kind"], "minLength", json!(1))
            .set(&["spec", "scaleTargetRef", "name"], "minLength", json!(1))
            // Core requires at least one metric; no default CPU metric.
            .remove(&["spec", "metrics"], "default")
            .require(&["spec"], "metrics")
            .set(&["spec", "metrics"], "minItems", json!(1))
            .set(&["spec", "metrics"], "maxItems", json!(MAX_METRICS))
            .rules(
                &metric,
                &[Rule {
                    rule: "(has(self.prometheus) ? 1 : 0) + (has(self.cloudWatch) ? 1 : 0) + (has(self.custom) ? 1 : 0) == 1",
                    message: "set exactly one metric source: prometheus, cloudWatch or custom (put each source in its own metric)",
                    field_path: None,
                }],
            )
            .set(
                &["spec", "metrics", "items", "custom"],
                "description",
                json!("A metric source implemented by a provider registered in the controller, which claims its type."),
            )
            .set(&["spec", "metrics", "items", "prometheus", "query"], "minLength", json!(1))
            .set(&["spec", "metrics", "items", "custom", "type"], "minLength", json!(1));
        for path in target_paths {
            e.rules(path, TARGET_RULES);
            let utilization = [path, &["averageUtilization"]].concat();
            e.set(&utilization, "minimum", json!(1));
        }
        for dir in ["scaleUp", "scaleDown"] {
            let rules = ["spec", "behavior", dir];
            let policies = ["spec", "behavior", dir, "policies"];
            let policy = ["spec", "behavior", dir, "policies", "items"];
            let policy_type = ["spec", "behavior", dir, "policies", "items", "type"];
            e.rules(&rules, SCALING_RULES)
                // Core reads the HPA spelling `Pods` as `Count`.
                .set(&policy_type, "enum", json!(["Count", "Percent", "Pods"]))
                .set(&policies, "minItems", json!(1))
                .set(&policies, "maxItems", json!(MAX_POLICIES))
                .rules(&policy, POLICY_RULES);
        }
    })
}

/// At most this many metrics per autoscaler: the API server needs a bound
/// to estimate the cost of the CEL rules on each.
pub const MAX_METRICS: usize = 32;
/// At most this many policies per direction (the same reason).
pub const MAX_POLICIES: usize = 16;
/// At most this many behaviors per schedule (the same reason).
pub const MAX_SCHEDULE_BEHAVIORS: usize = 256;

/// The CEL rules of a metric target.
const TARGET_RULES: &[Rule] = &[
    Rule {
        rule: "(has(self.value) ? 1 : 0) + (has(self.averageValue) ? 1 : 0) + (has(self.averageUtilization) ? 1 : 0) == 1",
        message: "set exactly one of value, averageValue or averageUtilization (value works for every type)",
        field_path: None,
    },
    Rule {
        rule: "!has(self.averageValue) || self.type == 'AverageValue'",
        message: "averageValue is only allowed with type AverageValue; use value",
        field_path: Some(".averageValue"),
    },
    Rule {
        rule: "!has(self.averageUtilization) || self.type == 'Utilization'",
        message: "averageUtilization is only allowed with type Utilization; use value",
        field_path: Some(".averageUtilization"),
    },
];

/// The MetricsProducer definition: status subresource, columns Kind, Value,
/// Age.
pub fn metrics_producer_crd() -> Result<CustomResourceDefinition, CrdError> {
    Definition {
        kind: "MetricsProducer",
        plural: "metricsproducers",
        short_names: MetricsProducer::SHORT_NAMES,
        description: "Turns the world (a queue, reserved capacity, a schedule, pending pods) into Prometheus gauges labelled with the producer's name and namespace. Exactly one producer kind is set.",
        spec: structural_schema_for::<core::MetricsProducerSpec>(),
        status: structural_schema_for::<MetricsProducerStatus>(),
        columns: vec![
            column("Kind", "string", ".status.kind", "The producer kind."),
            column("Value", "string", ".status.value", "The last computed values."),
            age(),
        ],
        scale: None,
    }
    .build(|e| {
        let behaviors = ["spec", "scheduleSpec", "behaviors"];
        e.rules(
            &["spec"],
            &[Rule {
                rule: "(has(self.queue) ? 1 : 0) + (has(self.reservedCapacity) ? 1 : 0) + (has(self.scheduleSpec) ? 1 : 0) + (has(self.pendingCapacity) ? 1 : 0) == 1",
                message: "set exactly one of queue, reservedCapacity, scheduleSpec or pendingCapacity (split several into one MetricsProducer each)",
                field_path: None,
            }],
        )
        .set(&["spec", "queue", "type"], "minLength", json!(1))
        .set(&["spec", "queue", "id"], "minLength", json!(1))
        .set(&["spec", "scheduleSpec", "defaultReplicas"], "minimum", json!(0))
        .set(&behaviors, "maxItems", json!(MAX_SCHEDULE_BEHAVIORS))
        .set(&["spec", "scheduleSpec", "behaviors", "items", "replicas"], "minimum", json!(0));
    })
}

/// The definitions as one YAML stream (`---` between documents), as
/// `karpenter crds` prints it.
pub fn to_yaml(crds: &[CustomResourceDefinition]) -> Result<String, CrdError> {
    let mut out = String::new();
    for crd in crds {
        out.push_str("---\n");
        out.push_str(&crd_yaml(crd)?);
    }
    Ok(out)
}

/// One definition as a YAML document (no `---`).
pub fn crd_yaml(crd: &CustomResourceDefinition) -> Result<String, CrdError> {
    let yaml = serde_saphyr::to_string(crd).map_err(|e| CrdError::Yaml {
        kind: crd.spec.names.kind.clone(),
        message: e.to_string(),
    })?;
    Ok(if yaml.ends_with('\n') {
        yaml
    } else {
        yaml + "\n"
    })
}

/// The file name `karpenter crds --dir` gives a definition:
/// `GROUP_PLURAL.yaml`, as controller-gen names them.
pub fn file_name(crd: &CustomResourceDefinition) -> String {
    format!("{}_{}.yaml", crd.spec.group, crd.spec.names.plural)
}
