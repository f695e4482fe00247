//! The node groups `karpenter pending` assigns pods to, read from
//! manifests: MetricsProducers with `pendingCapacity`, the
//! ScalableNodeGroups they name, and `NodeTemplate` documents for groups
//! that have no Ready node (scale from zero).
//!
//! Offline there is no cloud provider to ask, so what the controller gets
//! from the provider comes from the files:
//! - the **desired size** of a group is its ScalableNodeGroup's
//!   `spec.replicas` (what `kubectl get scalablenodegroups -o yaml`
//!   shows); without it upcoming nodes are not counted;
//! - the **node template** is a `NodeTemplate` document named like the
//!   ScalableNodeGroup, in the same namespace:
//!
//! ```yaml
//! kind: NodeTemplate            # read by `karpenter pending` only
//! metadata: {name: gpu, namespace: ml}
//! allocatable: {cpu: "8", memory: 32Gi, pods: 110}
//! labels: {accelerator: nvidia-a10g}
//! taints: [{key: nvidia.com/gpu, effect: NoSchedule}]
//! ```
//!
//! A file is a YAML stream (`---` between documents), a JSON document, or a
//! `List` of objects (`kubectl get metricsproducers,scalablenodegroups -A
//! -o yaml`). Fields are strict: an unknown field is an error naming its
//! path, line and the closest known field. Other kinds of objects are
//! skipped.
//!
//! ```
//! use karpenter_k8s::pending::manifests::PendingInputs;
//!
//! let mut inputs = PendingInputs::default();
//! inputs.read("groups.yaml", r#"
//! kind: ScalableNodeGroup
//! metadata: {name: gpu, namespace: ml}
//! spec: {type: AWSEKSNodeGroup, id: gpu, replicas: 0}
//! ---
//! kind: NodeTemplate
//! metadata: {name: gpu, namespace: ml}
//! allocatable: {cpu: "8", memory: 32Gi}
//! taints: [{key: nvidia.com/gpu, effect: NoSchedule}]
//! "#)?;
//! let template = inputs.templates[0].template();
//! assert_eq!(template.allocatable.pods, 110);
//! assert_eq!(template.taints[0].to_string(), "nvidia.com/gpu:NoSchedule");
//!
//! let err = inputs.read("bad.yaml", "kind: NodeTemplate\nmetadata: {name: gpu}\nallocatable: {cpu: 8, memroy: 32Gi}\n").unwrap_err();
//! assert_eq!(
//!     err.to_string(),
//!     "bad.yaml: document 1 (NodeTemplate gpu): `allocatable.memroy`: unknown field, did you mean `memory`? (line 3, column 23)"
//! );
//! # Ok::<(), karpenter_k8s::pending::manifests::InputError>(())
//! ```

use std::collections::BTreeMap;

use karpenter_core::api::Quantity;
use karpenter_core::api::parse::{self, ParseError};
use karpenter_core::api::v1alpha1::{MetricsProducer, ObjectMeta, ScalableNodeGroup};
use karpenter_core::api::validation::ValidationErrors;
use karpenter_core::cluster::{Resources, Taint, TaintEffect};
use karpenter_core::producers::pending_capacity::{NodeGroupLink, PendingCapacityInput};
use karpenter_core::provider::{NodeTemplate, ProviderError, ProviderErrorKind};
use serde::Deserialize;

/// The kind of the template documents.
pub const NODE_TEMPLATE_KIND: &str = "NodeTemplate";

/// A node group's template for `karpenter pending`: what a new node offers
/// (see the [module docs](self)).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NodeTemplateDocument {
    /// Any value; conventionally left out.
    #[serde(default)]
    pub api_version: Option<String>,
    /// `NodeTemplate`.
    pub kind: String,
    /// `name` (the ScalableNodeGroup's) and `namespace` (default
    /// `default`).
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// What one node offers pods.
    pub allocatable: AllocatableDocument,
    /// The node's labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// The node's taints.
    #[serde(default)]
    pub taints: Vec<TaintDocument>,
}

/// `allocatable` of a [`NodeTemplateDocument`].
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllocatableDocument {
    /// Cores, e.g. `"7910m"` or `8`.
    pub cpu: Quantity,
    /// Bytes, e.g. `32Gi`.
    pub memory: Quantity,
    /// Pod slots (default 110, the kubelet's default).
    #[serde(default)]
    pub pods: Option<Quantity>,
}

/// A taint of a [`NodeTemplateDocument`].
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaintDocument {
    /// Key.
    pub key: String,
    /// Value (may be left out).
    #[serde(default)]
    pub value: String,
    /// Effect.
    pub effect: EffectDocument,
}

/// A taint effect as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum EffectDocument {
    /// `NoSchedule`.
    NoSchedule,
    /// `PreferNoSchedule`.
    PreferNoSchedule,
    /// `NoExecute`.
    NoExecute,
}

impl NodeTemplateDocument {
    /// `namespace/name`.
    pub fn key(&self) -> (String, String) {
        (
            self.metadata
                .namespace
                .clone()
                .unwrap_or_else(|| "default".to_string()),
            self.metadata.name.clone().unwrap_or_default(),
        )
    }

    /// The core template.
    pub fn template(&self) -> NodeTemplate {
        let whole = |q: &Quantity| {
            let n = q.nanos();
            let units = n / 1_000_000_000 + i128::from(n % 1_000_000_000 > 0);
            units.clamp(0, i128::from(i64::MAX)) as i64
        };
        let a = &self.allocatable;
        NodeTemplate {
            allocatable: Resources::new(
                a.cpu.milli_value().max(0),
                whole(&a.memory),
                a.pods.as_ref().map_or(110, whole),
            ),
            labels: self.labels.clone(),
            taints: self
                .taints
                .iter()
                .map(|t| Taint {
                    key: t.key.clone(),
                    value: t.value.clone(),
                    effect: match t.effect {
                        EffectDocument::NoSchedule => TaintEffect::NoSchedule,
                        EffectDocument::PreferNoSchedule => TaintEffect::PreferNoSchedule,
                        EffectDocument::NoExecute => TaintEffect::NoExecute,
                    },
                })
                .collect(),
        }
    }
}

/// Why a manifests file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// A document does not parse (unknown field, wrong type, syntax).
    #[error("{file}: document {index} ({what}): {source}")]
    Parse {
        /// The file, as given.
        file: String,
        /// 1-based document number in the file.
        index: usize,
        /// `kind name` of the object, as far as known.
        what: String,
        /// The parse error, with path, line and column.
        #[source]
        source: Box<ParseError>,
    },
    /// An object parsed but is not valid.
    #[error("{file}: {kind} {object}:\n{errors}")]
    Invalid {
        /// The file.
        file: String,
        /// `MetricsProducer` or `NodeTemplate`.
        kind: &'static str,
        /// `namespace/name`.
        object: String,
        /// Every problem, with its field.
        errors: ValidationErrors,
    },
}

/// Everything the manifests gave.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PendingInputs {
    /// The MetricsProducers with `pendingCapacity`.
    pub producers: Vec<MetricsProducer>,
    /// The ScalableNodeGroups.
    pub node_groups: Vec<ScalableNodeGroup>,
    /// The node templates.
    pub templates: Vec<NodeTemplateDocument>,
    /// Objects skipped: other kinds, producers of other kinds
    /// (`kind namespace/name`).
    pub skipped: Vec<String>,
}

/// A `List` of objects.
#[derive(Deserialize)]
struct ListDocument {
    #[serde(default)]
    items: Vec<serde_json::Value>,
}

/// Why one object could not be read, before the file and document are
/// known.
enum ObjectFailure {
    Parse {
        what: String,
        source: Box<ParseError>,
    },
    Invalid(InputError),
}

impl PendingInputs {
    /// Reads the documents of `text` (the contents of `file`) into `self`.
    pub fn read(&mut self, file: &str, text: &str) -> Result<(), InputError> {
        let docs: Vec<(usize, usize, &str)> = match parse::Format::detect(text) {
            parse::Format::Json => vec![(1, 0, text)],
            parse::Format::Yaml => parse::yaml_documents(text)
                .into_iter()
                .filter(|d| !d.is_empty())
                .map(|d| (d.index, d.line_offset, d.text))
                .collect(),
        };
        for (index, line_offset, doc) in docs {
            let located = |f: ObjectFailure| match f {
                ObjectFailure::Parse { what, source } => InputError::Parse {
                    file: file.to_string(),
                    index,
                    what,
                    source: Box::new((*source).offset_lines(line_offset)),
                },
                ObjectFailure::Invalid(e) => e,
            };
            let kind = parse::TypeMeta::of(doc)
                .map_err(|source| {
                    located(ObjectFailure::Parse {
                        what: "unparsable".to_string(),
                        source: Box::new(source),
                    })
                })?
                .kind
                .unwrap_or_default();
            if kind.ends_with("List") {
                let list: ListDocument = parse::from_str(doc).map_err(|source| {
                    located(ObjectFailure::Parse {
                        what: kind.clone(),
                        source: Box::new(source),
                    })
                })?;
                for (i, item) in list.items.iter().enumerate() {
                    let text = serde_json::to_string(item).unwrap_or_default();
                    self.read_object(file, &text).map_err(|f| match f {
                        ObjectFailure::Parse { what, source } => InputError::Parse {
                            file: file.to_string(),
                            index,
                            what: format!("items[{i}]: {what}"),
                            source,
                        },
                        ObjectFailure::Invalid(e) => e,
                    })?;
                }
            } else {
                self.read_object(file, doc).map_err(located)?;
            }
        }
        Ok(())
    }

    fn read_object(&mut self, file: &str, text: &str) -> Result<(), ObjectFailure> {
        let meta = parse::TypeMeta::of(text).map_err(|source| ObjectFailure::Parse {
            what: "unparsable".to_string(),
            source: Box::new(source),
        })?;
        let kind = meta.kind.clone().unwrap_or_default();
        let what = format!("{kind} {}", meta.name.as_deref().unwrap_or("<unnamed>"));
        let fail = |source: ParseError| ObjectFailure::Parse {
            what: what.clone(),
            source: Box::new(source),
        };
        match kind.as_str() {
            "MetricsProducer" => {
                let p: MetricsProducer = parse::from_str(text).map_err(fail)?;
                let key = key_of(&p.metadata);
                if p.spec.pending_capacity.is_none() {
                    self.skipped
                        .push(format!("MetricsProducer {key} (not pendingCapacity)"));
                    return Ok(());
                }
                p.validate().map_err(|errors| {
                    ObjectFailure::Invalid(InputError::Invalid {
                        file: file.to_string(),
                        kind: "MetricsProducer",
                        object: key,
                        errors,
                    })
                })?;
                self.producers.push(p);
            }
            "ScalableNodeGroup" => {
                let g: ScalableNodeGroup = parse::from_str(text).map_err(fail)?;
                self.node_groups.push(g);
            }
            NODE_TEMPLATE_KIND => {
                let t: NodeTemplateDocument = parse::from_str(text).map_err(fail)?;
                let mut errors = ValidationErrors::default();
                if t.metadata.name.as_deref().is_none_or(str::is_empty) {
                    errors.push(
                        "metadata.name",
                        "must be set to the name of the ScalableNodeGroup the template is for",
                    );
                }
                for (field, q) in [
                    ("cpu", &t.allocatable.cpu),
                    ("memory", &t.allocatable.memory),
                ] {
                    if q.is_negative() {
                        errors.push(
                            format!("allocatable.{field}"),
                            format!("must not be negative, got {}", q.as_str()),
                        );
                    }
                }
                if !errors.is_empty() {
                    return Err(ObjectFailure::Invalid(InputError::Invalid {
                        file: file.to_string(),
                        kind: "NodeTemplate",
                        object: key_of(&t.metadata),
                        errors,
                    }));
                }
                self.templates.push(t);
            }
            _ => self.skipped.push(what),
        }
        Ok(())
    }

    /// The joint assignment's inputs: one per `pendingCapacity` producer,
    /// its ScalableNodeGroup linked by `scalableNodeGroupRef` with the
    /// desired size from `spec.replicas` and the template from the
    /// `NodeTemplate` of the same name.
    pub fn assignment_inputs(&self) -> Vec<PendingCapacityInput<'_>> {
        self.producers
            .iter()
            .filter_map(|p| {
                let spec = p.spec.pending_capacity.as_ref()?;
                let namespace = p.metadata.namespace.as_deref().unwrap_or("default");
                let name = p.metadata.name.as_deref().unwrap_or_default();
                let link = match &spec.scalable_node_group_ref {
                    None => NodeGroupLink::Unset,
                    Some(r) => self.link(namespace, &r.name),
                };
                Some(PendingCapacityInput::new(namespace, name, spec, link))
            })
            .collect()
    }

    fn link(&self, namespace: &str, name: &str) -> NodeGroupLink {
        let same = |meta: &ObjectMeta| {
            meta.namespace.as_deref().unwrap_or("default") == namespace
                && meta.name.as_deref() == Some(name)
        };
        let Some(group) = self.node_groups.iter().find(|g| same(&g.metadata)) else {
            return NodeGroupLink::Missing {
                name: name.to_string(),
            };
        };
        let desired = group.spec.replicas.ok_or_else(|| {
            ProviderError::new(
                ProviderErrorKind::NotFound,
                format!(
                    "ScalableNodeGroup {namespace}/{name} has no spec.replicas in the given files; give the object as the cluster has it (kubectl get scalablenodegroups -o yaml)"
                ),
            )
        });
        let template = self
            .templates
            .iter()
            .find(|t| same(&t.metadata))
            .map(NodeTemplateDocument::template);
        NodeGroupLink::Found {
            name: name.to_string(),
            desired,
            template: Some(Ok(template)),
        }
    }
}

fn key_of(meta: &ObjectMeta) -> String {
    format!(
        "{}/{}",
        meta.namespace.as_deref().unwrap_or("default"),
        meta.name.as_deref().unwrap_or("<unnamed>")
    )
}
