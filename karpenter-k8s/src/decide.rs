//! `karpenter decide`: a dry run of one decision, from a YAML or JSON
//! document to the decision and its explanation.
//!
//! The input and output field names are a contract other tools rely on.
//!
//! ```
//! let input = r#"
//! now: "2026-01-01T00:10:00Z"
//! autoscaler:
//!   apiVersion: autoscaling.karpenter.sh/v1alpha1
//!   kind: HorizontalAutoscaler
//!   metadata: {name: web, namespace: default}
//!   spec:
//!     scaleTargetRef: {kind: ScalableNodeGroup, name: web}
//!     minReplicas: 1
//!     maxReplicas: 10
//!     metrics:
//!       - prometheus: {query: "load", target: {type: Value, value: 10}}
//! target: {specReplicas: 4, statusReplicas: 4}
//! observations: [{value: 15}]
//! "#;
//! let out = karpenter_k8s::decide::decide_document(input).unwrap();
//! assert_eq!(out.desired_replicas, 6);
//! ```

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use karpenter_core::api::parse::{self, ParseError, ParseErrorKind};
use karpenter_core::api::v1alpha1::{Condition, HorizontalAutoscaler, ScalingHistory};
use karpenter_core::autoscaler::{
    self, DecisionInput, MetricOutcome, Observation, Step, TargetState,
};

/// The largest input `karpenter decide` reads: 16 MiB. A real document is
/// a few kilobytes; the limit stops a runaway input (`/dev/zero`) early.
pub const MAX_INPUT_BYTES: usize = 16 * 1024 * 1024;

/// The input document.
///
/// Unknown fields are rejected at every level (the document's own fields,
/// `target`, `observations`, `history` and the autoscaler's `spec`), with the
/// path, line and column and the closest known field.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DecideDocument {
    /// The decision instant (RFC 3339, a year in 0000-9999).
    #[serde(deserialize_with = "karpenter_core::api::rfc3339::deserialize")]
    pub now: DateTime<Utc>,
    /// A HorizontalAutoscaler manifest; its status is optional.
    pub autoscaler: HorizontalAutoscaler,
    /// The target's replicas.
    pub target: TargetDocument,
    /// One per `spec.metrics` entry, same order.
    #[serde(default)]
    pub observations: Vec<ObservationDocument>,
    /// The history; absent means `autoscaler.status.history`, and if that
    /// is absent too, the first decision since start (seeded).
    #[serde(default)]
    pub history: Option<ScalingHistory>,
}

/// The target's replicas.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TargetDocument {
    /// `spec.replicas` of the target.
    pub spec_replicas: i32,
    /// `status.replicas` (ready nodes) of the target.
    pub status_replicas: i32,
}

/// One observation: exactly one of `value` and `error`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObservationDocument {
    /// The metric's value.
    #[serde(default)]
    pub value: Option<f64>,
    /// Why the metric could not be read.
    #[serde(default)]
    pub error: Option<String>,
}

/// One metric's outcome in the output.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum MetricOutput {
    /// The metric's recommendation.
    Recommendation(i32),
    /// Why it gave none.
    Error(String),
    /// What it recommended when its role made it abstain.
    Abstained(i32),
}

/// The output document.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DecideOutput {
    /// The replicas the autoscaler would set.
    pub desired_replicas: i32,
    /// Per metric, in spec order.
    pub metrics: Vec<MetricOutput>,
    /// The conditions the decision sets.
    pub conditions: Vec<Condition>,
    /// The steps that produced the number.
    pub explanation: Vec<String>,
    /// The history to persist for the next decision.
    pub history: ScalingHistory,
    #[serde(skip)]
    steps: Vec<Step>,
    #[serde(skip)]
    object: String,
    #[serde(skip)]
    current: i32,
}

/// Why a document was rejected. Every variant is bad input (exit code 2).
#[derive(Debug, thiserror::Error)]
pub enum DecideError {
    /// The document does not parse into the expected shape: an unknown or
    /// missing field, a value of the wrong type, a YAML or JSON syntax error.
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// The input is larger than [`MAX_INPUT_BYTES`].
    #[error(
        "the input is larger than the limit of {limit} bytes (16 MiB); a decide document is a few kilobytes: check that the right file is given"
    )]
    TooLarge {
        /// The limit, [`MAX_INPUT_BYTES`].
        limit: usize,
    },
    /// The input is not UTF-8 text.
    #[error(
        "the input is not UTF-8 text (invalid byte at offset {offset}); save the document as UTF-8"
    )]
    NotUtf8 {
        /// Offset of the first invalid byte.
        offset: usize,
    },
    /// The document parsed but is not valid; every problem is listed.
    #[error("{}", .0.join("\n"))]
    Invalid(Vec<String>),
}

/// Reads a document from `reader`, at most [`MAX_INPUT_BYTES`] of it: a
/// longer input is [`DecideError::TooLarge`] after reading one byte past
/// the limit, whatever its real length (`/dev/zero` included).
pub fn read_document(reader: impl std::io::Read) -> Result<String, ReadError> {
    use std::io::Read;
    let mut bytes = Vec::new();
    reader
        .take(MAX_INPUT_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(ReadError::Io)?;
    if bytes.len() > MAX_INPUT_BYTES {
        return Err(ReadError::Invalid(DecideError::TooLarge {
            limit: MAX_INPUT_BYTES,
        }));
    }
    String::from_utf8(bytes).map_err(|e| {
        ReadError::Invalid(DecideError::NotUtf8 {
            offset: e.utf8_error().valid_up_to(),
        })
    })
}

/// Why [`read_document`] failed.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The reader failed.
    #[error(transparent)]
    Io(std::io::Error),
    /// What was read is not a document (too large, not UTF-8).
    #[error(transparent)]
    Invalid(DecideError),
}

/// Parses, validates and decides one document.
pub fn decide_document(text: &str) -> Result<DecideOutput, DecideError> {
    let doc = parse(text)?;
    validate(&doc)?;
    let observations: Vec<Observation> = doc
        .observations
        .iter()
        .map(|o| match (&o.value, &o.error) {
            (Some(v), _) => Observation::Value(*v),
            (None, Some(e)) => Observation::Error(e.clone()),
            (None, None) => Observation::Error("no value".to_string()),
        })
        .collect();
    let history = doc.history.as_ref().or_else(|| {
        doc.autoscaler
            .status
            .as_ref()
            .and_then(|s| s.history.as_ref())
    });
    let d = autoscaler::decide(&DecisionInput {
        spec: &doc.autoscaler.spec,
        target: TargetState {
            spec_replicas: doc.target.spec_replicas,
            status_replicas: doc.target.status_replicas,
        },
        observations: &observations,
        history,
        now: doc.now,
    });
    let meta = &doc.autoscaler.metadata;
    Ok(DecideOutput {
        desired_replicas: d.desired_replicas,
        metrics: d
            .metrics
            .iter()
            .map(|m| match m {
                MetricOutcome::Recommendation { replicas, .. } => {
                    MetricOutput::Recommendation(*replicas)
                }
                MetricOutcome::Error { message, .. } => MetricOutput::Error(message.clone()),
                MetricOutcome::Abstained { replicas, .. } => MetricOutput::Abstained(*replicas),
            })
            .collect(),
        explanation: d.explain(),
        conditions: d.conditions,
        history: d.history,
        steps: d.explanation,
        object: format!(
            "{}/{}",
            meta.namespace.as_deref().unwrap_or("default"),
            meta.name.as_deref().unwrap_or("<unnamed>")
        ),
        current: d.current_replicas,
    })
}

fn parse(text: &str) -> Result<DecideDocument, DecideError> {
    if text.len() > MAX_INPUT_BYTES {
        return Err(DecideError::TooLarge {
            limit: MAX_INPUT_BYTES,
        });
    }
    if parse::strip_bom(text).trim_start().starts_with('[') {
        return Err(DecideError::Parse(ParseError {
            kind: ParseErrorKind::InvalidType,
            path: String::new(),
            line: Some(1),
            column: Some(1),
            message: "expected a mapping with now, autoscaler, target and observations, got a list"
                .to_string(),
            suggestion: None,
        }));
    }
    parse::from_str(text).map_err(|mut e| {
        match e.kind {
            ParseErrorKind::Empty => {
                e.message = "the document is empty: give a YAML or JSON document with now, autoscaler, target and observations".to_string();
            }
            ParseErrorKind::InvalidType if e.path.is_empty() => {
                e.message = format!(
                    "expected a mapping with now, autoscaler, target and observations ({})",
                    e.message
                );
            }
            _ => {}
        }
        DecideError::Parse(e)
    })
}

fn validate(doc: &DecideDocument) -> Result<(), DecideError> {
    let mut problems: Vec<String> = Vec::new();
    if let Err(errors) = doc.autoscaler.validate() {
        problems.extend(
            errors
                .errors
                .iter()
                .map(|e| format!("autoscaler.{}: {}", e.path, e.message)),
        );
    }
    let t = doc.target;
    if t.spec_replicas < 0 {
        problems.push(format!(
            "target.specReplicas: must be >= 0, got {}",
            t.spec_replicas
        ));
    }
    if t.status_replicas < 0 {
        problems.push(format!(
            "target.statusReplicas: must be >= 0, got {}",
            t.status_replicas
        ));
    }
    check_history(doc, &mut problems);
    let want = doc.autoscaler.spec.metrics.len();
    if doc.observations.len() != want {
        problems.push(format!(
            "observations: expected {want} entr{} (one per autoscaler.spec.metrics entry, same order), got {}",
            if want == 1 { "y" } else { "ies" },
            doc.observations.len()
        ));
    }
    for (i, o) in doc.observations.iter().enumerate() {
        match (&o.value, &o.error) {
            (Some(_), Some(_)) => problems.push(format!(
                "observations[{i}]: has both value and error: keep exactly one"
            )),
            (None, None) => problems.push(format!(
                "observations[{i}]: needs exactly one of value (a number) or error (a message)"
            )),
            _ => {}
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(DecideError::Invalid(problems))
    }
}

/// History entries dated after `now` cannot be right: they would block a
/// scale-up or undo changes that never happened. Each is reported with its
/// path.
fn check_history(doc: &DecideDocument, problems: &mut Vec<String>) {
    let (history, path) = match (&doc.history, doc.autoscaler.status.as_ref()) {
        (Some(h), _) => (h, "history"),
        (None, Some(status)) => match &status.history {
            Some(h) => (h, "autoscaler.status.history"),
            None => return,
        },
        (None, None) => return,
    };
    let now = doc.now;
    let future = |t: DateTime<Utc>| {
        format!(
            "is after now ({} > {}): a past decision cannot be dated in the future; fix this time or now",
            t.to_rfc3339_opts(SecondsFormat::AutoSi, true),
            now.to_rfc3339_opts(SecondsFormat::AutoSi, true)
        )
    };
    for (i, r) in history.recommendations.iter().enumerate() {
        if r.time > now {
            problems.push(format!(
                "{path}.recommendations[{i}].time: {}",
                future(r.time)
            ));
        }
    }
    for (i, e) in history.scale_events.iter().enumerate() {
        if e.time > now {
            problems.push(format!("{path}.scaleEvents[{i}].time: {}", future(e.time)));
        }
    }
    for (i, a) in history.algorithm_state.iter().enumerate() {
        if let Some(t) = a.last_time
            && t > now
        {
            problems.push(format!(
                "{path}.algorithmState[{i}].lastTime: {}",
                future(t)
            ));
        }
    }
}

impl DecideOutput {
    /// The decision as readable text (`--explain`).
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let verdict = if self.desired_replicas == self.current {
            format!("keep {} replicas", self.current)
        } else {
            format!(
                "scale from {} to {} replicas",
                self.current, self.desired_replicas
            )
        };
        out.push_str(&format!(
            "HorizontalAutoscaler {}: {verdict}\n\nWhy:\n",
            self.object
        ));
        for (i, step) in self.steps.iter().enumerate() {
            out.push_str(&format!("  {}. {step}\n", i + 1));
        }
        out.push_str("\nConditions:\n");
        for c in &self.conditions {
            out.push_str(&format!(
                "  {}={} ({}): {}\n",
                c.type_,
                c.status.as_str(),
                c.reason,
                c.message
            ));
        }
        out
    }
}
