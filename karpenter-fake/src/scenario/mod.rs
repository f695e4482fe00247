//! Scenario files: a workload, node groups and the manifests under test in
//! one YAML document, run on the fake and scored — what
//! `karpenter simulate` reads.
//!
//! A scenario (format `simulate.karpenter.sh/v1`, documented in
//! `docs/simulate.md`, JSON Schema from [`Scenario::json_schema`]) names a
//! start, a duration, a tick and a seed; node groups (launch and
//! termination delays, fixed or uniform; a capacity ceiling; node
//! allocatable); queues whose arrivals follow a [`Curve`] and that the
//! nodes of node groups work off; pods whose count follows a curve; metric
//! series replayed from CSV or Prometheus range JSON, each bound to the
//! exact `prometheus.query` text it answers; and the manifests.
//!
//! ```
//! use karpenter_fake::scenario::{Prepared, RunOptions};
//!
//! let scenario = r#"
//! apiVersion: simulate.karpenter.sh/v1
//! kind: Scenario
//! start: "2026-03-02T09:00:00Z"
//! duration: 30m
//! nodeGroups:
//! - {name: workers, launchDelay: 60s}
//! queues:
//! - name: jobs
//!   bursts: [{at: 1m, messages: 200}]
//!   consumers: [{nodeGroup: workers, messagesPerSecond: 0.05}]
//! manifests:
//! - kind: HorizontalAutoscaler
//!   metadata: {name: workers}
//!   spec:
//!     scaleTargetRef: {kind: ScalableNodeGroup, name: workers}
//!     maxReplicas: 50
//!     metrics:
//!     - prometheus:
//!         query: karpenter_queue_length{name="jobs"}
//!         target: {type: AverageValue, value: 10}
//! "#;
//! let prepared = Prepared::from_str(scenario, "scenario.yaml", ".".as_ref())?;
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let outcome = prepared.run(&RunOptions::default()).await?;
//! let card = &outcome.scorecard;
//! assert_eq!(card.queues[0].name, "jobs");
//! assert!(card.node_groups[0].peak_nodes > 0);
//! # Ok::<(), karpenter_fake::scenario::ScenarioError>(())
//! # })?;
//! # Ok::<(), karpenter_fake::scenario::ScenarioError>(())
//! ```

mod curve;
mod load;
mod locate;
mod run;
mod scorecard;
mod series;
mod time;
mod variant;

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use curve::{Curve, CurveStep, Daily, SeriesFile, Weekday, Weekly, Window};
pub use load::Prepared;
pub use locate::LineIndex;
pub use run::{RunOptions, RunOutcome};
pub use scorecard::{
    NodeGroupScore, PodScore, QueueScore, Run, Scorecard, ScorecardDocument, Totals, pareto_better,
};
pub use series::{Point, Series, SeriesError};
pub use time::{At, Delay, SimDuration};

use karpenter_core::api::Quantity;

/// The `apiVersion` of this format.
pub const API_VERSION: &str = "simulate.karpenter.sh/v1";
/// The `kind` of a scenario.
pub const KIND: &str = "Scenario";

/// A scenario file. See the [module docs](self) and `docs/simulate.md`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(title = "karpenter simulate scenario (simulate.karpenter.sh/v1)")]
pub struct Scenario {
    /// `simulate.karpenter.sh/v1`.
    pub api_version: String,
    /// `Scenario`.
    pub kind: String,
    /// A name for titles and the scorecard (default: the file's name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// What the scenario is about, shown in the human output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The simulated start, RFC 3339.
    #[serde(deserialize_with = "karpenter_core::api::rfc3339::deserialize")]
    #[schemars(with = "String")]
    pub start: DateTime<Utc>,
    /// How long to simulate.
    pub duration: SimDuration,
    /// Time between two decisions (default 15s, the HPA sync period); 1 s to 1 day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tick: Option<SimDuration>,
    /// Seed of every random draw (delays, Poisson arrivals, retry jitter);
    /// the same seed gives the same scorecard, byte for byte (default 0).
    #[serde(default)]
    pub seed: u64,
    /// The node groups. A ScalableNodeGroup manifest is simulated by the
    /// node group whose `name` is its `metadata.name`; a node group that no
    /// manifest names gets one (`spec.replicas` its `replicas`).
    pub node_groups: Vec<NodeGroup>,
    /// The queues. A `queue` MetricsProducer reads the queue whose `name`
    /// is its `metadata.name`; a queue no producer names gets one, in the
    /// `default` namespace.
    #[serde(default)]
    pub queues: Vec<QueueWorkload>,
    /// Pods whose count follows a curve, scheduled onto the nodes of node
    /// groups with `allocatable` (for `reservedCapacity` producers, and
    /// scored as pending pod time).
    #[serde(default)]
    pub pods: Vec<PodWorkload>,
    /// Recorded metrics replayed to the autoscalers.
    #[serde(default)]
    pub metrics: Vec<ReplayedMetric>,
    /// The manifests under test: HorizontalAutoscalers, MetricsProducers
    /// and ScalableNodeGroups, each inline or `{path: file.yaml}` (a YAML
    /// stream, relative to the scenario file).
    #[schemars(with = "Vec<ManifestEntry>")]
    pub manifests: Vec<serde_json::Value>,
}

/// One entry of [`Scenario::manifests`] (for the JSON Schema).
#[derive(Debug, Clone, JsonSchema)]
#[serde(untagged)]
#[allow(dead_code, clippy::large_enum_variant)]
enum ManifestEntry {
    /// A file of manifests.
    Path(ManifestPath),
    /// An inline HorizontalAutoscaler.
    HorizontalAutoscaler(karpenter_core::api::v1alpha1::HorizontalAutoscaler),
    /// An inline MetricsProducer.
    MetricsProducer(karpenter_core::api::v1alpha1::MetricsProducer),
    /// An inline ScalableNodeGroup.
    ScalableNodeGroup(karpenter_core::api::v1alpha1::ScalableNodeGroup),
}

/// `{path: file.yaml}` in [`Scenario::manifests`].
#[derive(Debug, Clone, JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct ManifestPath {
    /// A YAML stream of manifests, relative to the scenario file.
    path: PathBuf,
}

/// A simulated node group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NodeGroup {
    /// The ScalableNodeGroup's `metadata.name`.
    pub name: String,
    /// From the request for a node until it is ready (default 60s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launch_delay: Option<Delay>,
    /// From a node's removal until it stops being billed (default 30s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub termination_delay: Option<Delay>,
    /// The most nodes the cloud can run for this group; a scale-up beyond
    /// it launches what fits and fails with insufficient capacity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity: Option<i32>,
    /// Ready nodes at the start (default 0).
    #[serde(default)]
    pub replicas: i32,
    /// What pods may request on one node; needed to schedule `pods`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allocatable: Option<Allocatable>,
    /// Node labels, beside `karpenter.sh/node-group: <name>`, which every
    /// node has.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

/// Allocatable resources of one node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Allocatable {
    /// CPU, e.g. `16` or `15500m`.
    pub cpu: Quantity,
    /// Memory, e.g. `64Gi`.
    pub memory: Quantity,
    /// Pods (default 110).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pods: Option<i64>,
}

/// A queue and its workload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct QueueWorkload {
    /// The queue MetricsProducer's `metadata.name`.
    pub name: String,
    /// Messages waiting at the start (default 0).
    #[serde(default)]
    pub initial: u64,
    /// Messages per second arriving (default none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arrivals: Option<Curve>,
    /// Draw each tick's arrivals from a Poisson distribution around the
    /// rate (default false: the rate exactly, fractions carried over).
    #[serde(default)]
    pub poisson: bool,
    /// Messages that land at once.
    #[serde(default)]
    pub bursts: Vec<Burst>,
    /// Who works the messages off.
    pub consumers: Vec<Consumer>,
}

/// Messages landing at once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Burst {
    /// When.
    pub at: At,
    /// How many.
    pub messages: u64,
}

/// Nodes of a node group working off a queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Consumer {
    /// The node group (its `name`).
    pub node_group: String,
    /// Messages each ready node processes per second (e.g. 0.05: one every
    /// 20 s).
    pub messages_per_second: f64,
}

/// Pods like a Deployment's: `replicas` of them, each with `requests`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PodWorkload {
    /// The workload's name; pods are `{name}-{n}`.
    pub name: String,
    /// Namespace (default `default`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// What each pod requests.
    pub requests: Requests,
    /// Node labels a pod needs.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub node_selector: BTreeMap<String, String>,
    /// The number of pods over time, rounded to the nearest whole pod.
    pub replicas: Curve,
}

/// Resource requests of one pod.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Requests {
    /// CPU, e.g. `500m`.
    pub cpu: Quantity,
    /// Memory, e.g. `1Gi`.
    pub memory: Quantity,
}

/// A recorded metric replayed to the autoscalers: at each tick, the
/// `prometheus` metric whose `query` is exactly this text reads the latest
/// sample within `lookback` (a gap, or no sample, is a failed read).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReplayedMetric {
    /// The exact `prometheus.query` text of the autoscaler metric it answers.
    pub query: String,
    /// A CSV file `time,value[,replicas]`, relative to the scenario file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub csv: Option<PathBuf>,
    /// The JSON body of a Prometheus `/api/v1/query_range` answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prometheus: Option<PathBuf>,
    /// How old a sample may be and still answer (default 5m, as Prometheus).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lookback: Option<SimDuration>,
    /// Backtest: the node group whose replicas the file's `replicas` column
    /// recorded (default: the only node group).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_group: Option<String>,
}

/// Why a scenario could not be loaded or run. `Display` names the file,
/// the line and the field.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The scenario (or a file it names) has problems; every one is listed.
    #[error("{}", render_problems(.0))]
    Invalid(Vec<Problem>),
    /// The simulation could not be built or its outputs written.
    #[error(transparent)]
    Sim(#[from] crate::SimError),
}

/// One problem, where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The file.
    pub file: String,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// The field's path in the file's document, e.g. `nodeGroups[0].launchDelay`.
    pub path: String,
    /// What is wrong and what to write instead.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        f.write_str(": ")?;
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)
    }
}

fn render_problems(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

impl Scenario {
    /// The JSON Schema of the format (what `karpenter simulate --schema`
    /// prints).
    ///
    /// ```
    /// let schema = karpenter_fake::scenario::Scenario::json_schema();
    /// assert_eq!(schema["properties"]["apiVersion"]["type"], "string");
    /// assert!(schema["required"].as_array().unwrap().iter().any(|f| f == "nodeGroups"));
    /// ```
    pub fn json_schema() -> serde_json::Value {
        serde_json::to_value(schemars::schema_for!(Scenario)).unwrap_or_default()
    }
}
