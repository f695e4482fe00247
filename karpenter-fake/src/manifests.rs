//! [`Manifests`]: the three kinds of objects, loaded from a YAML stream as
//! users write them for `kubectl apply`.

use karpenter_core::api::parse;
use karpenter_core::api::v1alpha1::{HorizontalAutoscaler, MetricsProducer, ScalableNodeGroup};

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
    ///
    /// Fields are strict: an unknown field anywhere in `spec` is an error
    /// naming its path, line and the closest known field
    /// ([`karpenter_core::api::parse`]). A document may also be JSON.
    ///
    /// ```
    /// use karpenter_fake::Manifests;
    ///
    /// let err = Manifests::from_yaml(
    ///     "kind: ScalableNodeGroup\nmetadata: {name: a}\nspec: {type: FakeNodeGroup, id: a, replica: 1}\n",
    /// )
    /// .unwrap_err();
    /// assert!(err.to_string().contains("`spec.replica`: unknown field, did you mean `replicas`? (line 3"));
    /// ```
    pub fn from_yaml(yaml: &str) -> Result<Self, SimError> {
        let mut out = Self::default();
        for doc in parse::yaml_documents(yaml) {
            if doc.is_empty() {
                continue;
            }
            let index = doc.index;
            let fail = |what: String| {
                move |source: parse::ParseError| SimError::Yaml {
                    index,
                    what,
                    source: Box::new(source.offset_lines(doc.line_offset)),
                }
            };
            let meta =
                parse::TypeMeta::of(doc.text).map_err(fail("unparsable YAML".to_string()))?;
            let kind = meta.kind.unwrap_or_default();
            let name = meta.name.unwrap_or_else(|| "<unnamed>".to_string());
            let what = format!("{kind} {name}");
            match kind.as_str() {
                "MetricsProducer" => out
                    .producers
                    .push(parse::from_str(doc.text).map_err(fail(what))?),
                "HorizontalAutoscaler" => out
                    .autoscalers
                    .push(parse::from_str(doc.text).map_err(fail(what))?),
                "ScalableNodeGroup" => out
                    .node_groups
                    .push(parse::from_str(doc.text).map_err(fail(what))?),
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
