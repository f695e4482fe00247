//! [`Manifests`]: the three kinds of objects, loaded from a YAML stream as
//! users write them for `kubectl apply`.

use karpenter_core::api::v1alpha1::{HorizontalAutoscaler, MetricsProducer, ScalableNodeGroup};
use serde::Deserialize;

use crate::error::SimError;

/// MetricsProducers, HorizontalAutoscalers and ScalableNodeGroups, in the
/// order they appear.
///
/// ```
/// use karpenter_fake::Manifests;
///
/// let m = Manifests::from_yaml(r#"
/// apiVersion: autoscaling.karpenter.sh/v1alpha1
/// kind: ScalableNodeGroup
/// metadata: {name: ml-training}
/// spec: {type: FakeNodeGroup, id: ml-training}
/// ---
/// apiVersion: autoscaling.karpenter.sh/v1alpha1
/// kind: MetricsProducer
/// metadata: {name: ml-training-queue}
/// spec:
///   queue: {type: FakeQueue, id: ml-training-queue}
/// "#)?;
/// assert_eq!(m.node_groups.len(), 1);
/// assert_eq!(m.producers.len(), 1);
///
/// let err = Manifests::from_yaml("kind: Deployment\nmetadata: {name: web}").unwrap_err();
/// assert!(err.to_string().contains("use MetricsProducer, HorizontalAutoscaler or ScalableNodeGroup"));
/// # Ok::<(), karpenter_fake::SimError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Manifests {
    /// The MetricsProducers.
    pub producers: Vec<MetricsProducer>,
    /// The HorizontalAutoscalers.
    pub autoscalers: Vec<HorizontalAutoscaler>,
    /// The ScalableNodeGroups.
    pub node_groups: Vec<ScalableNodeGroup>,
}

impl Manifests {
    /// Parses a YAML stream of documents separated by `---`. Empty documents
    /// are skipped; any other kind is an error naming the document.
    pub fn from_yaml(yaml: &str) -> Result<Self, SimError> {
        let mut out = Self::default();
        for (i, doc) in serde_yaml::Deserializer::from_str(yaml).enumerate() {
            let index = i + 1;
            let value = serde_yaml::Value::deserialize(doc).map_err(|source| SimError::Yaml {
                index,
                what: "unparsable YAML".to_string(),
                source,
            })?;
            if value.is_null() {
                continue;
            }
            let kind = value
                .get("kind")
                .and_then(serde_yaml::Value::as_str)
                .unwrap_or_default()
                .to_string();
            let name = value
                .get("metadata")
                .and_then(|m| m.get("name"))
                .and_then(serde_yaml::Value::as_str)
                .unwrap_or("<unnamed>")
                .to_string();
            let what = format!("{kind} {name}");
            let err = |source| SimError::Yaml {
                index,
                what: what.clone(),
                source,
            };
            match kind.as_str() {
                "MetricsProducer" => out
                    .producers
                    .push(serde_yaml::from_value(value).map_err(err)?),
                "HorizontalAutoscaler" => out
                    .autoscalers
                    .push(serde_yaml::from_value(value).map_err(err)?),
                "ScalableNodeGroup" => out
                    .node_groups
                    .push(serde_yaml::from_value(value).map_err(err)?),
                _ => return Err(SimError::UnknownKind { index, kind }),
            }
        }
        Ok(out)
    }

    /// Appends every object of `other`.
    pub fn extend(&mut self, other: Manifests) {
        self.producers.extend(other.producers);
        self.autoscalers.extend(other.autoscalers);
        self.node_groups.extend(other.node_groups);
    }
}
