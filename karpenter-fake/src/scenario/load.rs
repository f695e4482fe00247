//! [`Prepared`]: a scenario read, checked and ready to run.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use karpenter_core::api::parse::{self, ParseError, closest};
use karpenter_core::api::v1alpha1::{
    HorizontalAutoscaler, MetricsProducer, ObjectMeta, QueueSpec, ScalableNodeGroup,
    ScalableNodeGroupSpec,
};

use super::curve::{Compiled, parse_hhmm};
use super::locate::LineIndex;
use super::series::Series;
use super::{
    API_VERSION, Curve, KIND, Problem, QueueWorkload, Scenario, ScenarioError, SeriesFile,
};
use crate::metric_store::Selector;
use crate::provider::{NODE_GROUP_TYPE, QUEUE_TYPE};

/// The default tick: the HPA sync period.
pub(crate) const DEFAULT_TICK: Duration = Duration::from_secs(15);
/// How old a replayed sample may be (Prometheus's default lookback).
pub(crate) const DEFAULT_LOOKBACK: Duration = Duration::from_secs(300);
/// The most pods one workload may have (each is an object in the
/// simulated cluster).
const MAX_PODS_PER_WORKLOAD: usize = 100_000;
/// The most nodes a node group with `allocatable` may reach (each is an
/// object in the simulated cluster).
const MAX_CLUSTER_NODES: i32 = 100_000;
/// The largest file a scenario may name (scenarios, manifests, series).
const MAX_FILE_BYTES: u64 = 256 * 1024 * 1024;

/// Where a manifest came from, to name it in messages and to patch it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Origin {
    /// `manifests[index]` of the scenario.
    Inline { index: usize },
    /// Document `doc` of the file `manifests[index].path`.
    File {
        index: usize,
        file: String,
        doc: usize,
        line_offset: usize,
        text: String,
    },
    /// Created because no manifest named a node group or queue.
    Generated,
}

/// A manifest, typed, with its JSON form (what variants patch).
#[derive(Debug, Clone)]
pub(crate) struct Manifest {
    pub(crate) origin: Origin,
    pub(crate) json: serde_json::Value,
    pub(crate) object: Object,
}

/// One of the three kinds.
#[derive(Debug, Clone)]
#[allow(clippy::large_enum_variant)]
pub(crate) enum Object {
    Autoscaler(HorizontalAutoscaler),
    Producer(MetricsProducer),
    NodeGroup(ScalableNodeGroup),
}

impl Object {
    fn meta(&self) -> &ObjectMeta {
        match self {
            Self::Autoscaler(o) => &o.metadata,
            Self::Producer(o) => &o.metadata,
            Self::NodeGroup(o) => &o.metadata,
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Self::Autoscaler(_) => "HorizontalAutoscaler",
            Self::Producer(_) => "MetricsProducer",
            Self::NodeGroup(_) => "ScalableNodeGroup",
        }
    }
}

/// A replayed metric, loaded.
#[derive(Debug, Clone)]
pub(crate) struct LoadedMetric {
    pub(crate) query: String,
    pub(crate) series: Arc<Series>,
    pub(crate) lookback: chrono::TimeDelta,
    /// The node group its recorded replicas belong to (backtest).
    pub(crate) node_group: Option<String>,
}

/// A scenario read, checked and ready to [`run`](Prepared::run): its files
/// loaded, its curves compiled, its manifests typed and validated, and the
/// ScalableNodeGroups and queue producers it implies created.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub(crate) scenario: Scenario,
    pub(crate) name: String,
    pub(crate) file: String,
    pub(crate) index: LineIndex,
    pub(crate) manifests: Vec<Manifest>,
    pub(crate) arrivals: Vec<Option<Compiled>>,
    pub(crate) pods: Vec<Compiled>,
    pub(crate) metrics: Vec<LoadedMetric>,
    pub(crate) tick: Duration,
}

/// Collects problems of one file.
pub(crate) struct Problems<'a> {
    pub(crate) file: &'a str,
    pub(crate) index: &'a LineIndex,
    pub(crate) list: Vec<Problem>,
}

impl Problems<'_> {
    pub(crate) fn push(&mut self, path: impl Into<String>, message: impl Into<String>) {
        let path = path.into();
        self.list.push(Problem {
            file: self.file.to_string(),
            line: self.index.line_of(&path),
            path,
            message: message.into(),
        });
    }
}

/// A parse error of `file` as a problem.
pub(crate) fn parse_problem(file: &str, e: &ParseError, prefix: &str) -> Problem {
    let path = match (prefix.is_empty(), e.path.is_empty()) {
        (true, _) => e.path.clone(),
        (false, true) => prefix.to_string(),
        (false, false) => format!("{prefix}.{}", e.path),
    };
    let location = match e.column {
        Some(c) => format!(" (column {c})"),
        None => String::new(),
    };
    Problem {
        file: file.to_string(),
        line: e.line,
        path,
        message: format!("{}{location}", e.message),
    }
}

/// Reads `path`, at most [`MAX_FILE_BYTES`].
pub(crate) fn read_file(path: &Path) -> Result<String, ScenarioError> {
    use std::io::Read;
    let io = |source| ScenarioError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let mut text = String::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(io)?;
    if text.len() as u64 > MAX_FILE_BYTES {
        return Err(io(std::io::Error::other(
            "the file is larger than 256 MiB; check that the right file is named",
        )));
    }
    Ok(text)
}

fn tz_of(name: &Option<String>) -> Result<Tz, String> {
    match name {
        None => Ok(Tz::UTC),
        Some(n) => n.parse::<Tz>().map_err(|_| {
            format!(
                "{n:?} is not an IANA time zone name; use one such as America/Los_Angeles, Europe/Berlin or UTC (case-sensitive)"
            )
        }),
    }
}

fn did_you_mean(word: &str, known: &[&str]) -> String {
    match closest(word, known) {
        Some(s) => format!("; did you mean {s:?}?"),
        None if known.is_empty() => String::new(),
        None => format!(" (known: {})", known.join(", ")),
    }
}

impl Prepared {
    /// Reads and checks the scenario file at `path` (relative files it
    /// names are found beside it).
    pub fn from_file(path: &Path) -> Result<Self, ScenarioError> {
        let text = read_file(path)?;
        let base = path.parent().unwrap_or(Path::new(".")).to_path_buf();
        Self::from_str(&text, &path.display().to_string(), &base)
    }

    /// Reads and checks a scenario given as text; `file` names it in
    /// messages and `base_dir` is where its relative paths start.
    #[allow(clippy::should_implement_trait)]
    pub fn from_str(text: &str, file: &str, base_dir: &Path) -> Result<Self, ScenarioError> {
        let scenario: Scenario = parse::from_str(text)
            .map_err(|e| ScenarioError::Invalid(vec![parse_problem(file, &e, "")]))?;
        let index = LineIndex::new(text);
        let mut problems = Problems {
            file,
            index: &index,
            list: Vec::new(),
        };
        let tick = check_scenario(&scenario, &mut problems);
        let mut cache = SeriesCache::default();
        let arrivals = scenario
            .queues
            .iter()
            .enumerate()
            .map(|(i, q)| {
                q.arrivals.as_ref().and_then(|c| {
                    compile(
                        c,
                        &format!("queues[{i}].arrivals"),
                        true,
                        scenario.start,
                        base_dir,
                        &mut cache,
                        &mut problems,
                    )
                })
            })
            .collect();
        let pods: Vec<Compiled> = scenario
            .pods
            .iter()
            .enumerate()
            .filter_map(|(i, p)| {
                compile(
                    &p.replicas,
                    &format!("pods[{i}].replicas"),
                    true,
                    scenario.start,
                    base_dir,
                    &mut cache,
                    &mut problems,
                )
            })
            .collect();
        for (i, curve) in pods.iter().enumerate() {
            let most = curve.max_value();
            if most > MAX_PODS_PER_WORKLOAD as f64 {
                problems.push(
                    format!("pods[{i}].replicas"),
                    format!(
                        "the curve reaches {most} pods; at most {MAX_PODS_PER_WORKLOAD} pods per workload are simulated (each is an object): scale the workload down and its requests up"
                    ),
                );
            }
        }
        let metrics = load_metrics(&scenario, base_dir, &mut cache, &mut problems);
        let mut manifests = Vec::new();
        let mut file_problems = Vec::new();
        for (i, entry) in scenario.manifests.iter().enumerate() {
            load_manifest(
                i,
                entry,
                base_dir,
                &mut problems,
                &mut file_problems,
                &mut manifests,
            );
        }
        let name = scenario.name.clone().unwrap_or_else(|| {
            Path::new(file).file_stem().map_or_else(
                || "scenario".to_string(),
                |s| s.to_string_lossy().into_owned(),
            )
        });
        let mut list = problems.list;
        list.extend(file_problems);
        let mut prepared = Self {
            scenario,
            name,
            file: file.to_string(),
            index: index.clone(),
            manifests,
            arrivals,
            pods,
            metrics,
            tick,
        };
        if list.is_empty() {
            list.extend(prepared.link());
        }
        if list.is_empty() {
            Ok(prepared)
        } else {
            Err(ScenarioError::Invalid(list))
        }
    }

    /// The scenario's name (its `name`, or the file's name).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The scenario as read.
    pub fn scenario(&self) -> &Scenario {
        &self.scenario
    }

    /// The simulated start.
    pub fn start(&self) -> DateTime<Utc> {
        self.scenario.start
    }

    /// The tick.
    pub fn tick(&self) -> Duration {
        self.tick
    }

    /// The number of ticks a run takes (the first at the start, the last at
    /// or before the end).
    pub fn ticks(&self) -> u64 {
        let tick = self.tick.as_millis().max(1);
        u64::try_from(self.scenario.duration.0.as_millis() / tick)
            .unwrap_or(u64::MAX)
            .saturating_add(1)
    }

    /// Checks the manifests against the scenario and each other, creates the
    /// ScalableNodeGroups and queue producers no manifest gives, and points
    /// the manifests' node groups and queues at the fakes. Returns the
    /// problems found.
    pub(crate) fn link(&mut self) -> Vec<Problem> {
        let mut out = Vec::new();
        let group_names: Vec<&str> = self
            .scenario
            .node_groups
            .iter()
            .map(|g| g.name.as_str())
            .collect();
        let queue_names: Vec<&str> = self
            .scenario
            .queues
            .iter()
            .map(|q| q.name.as_str())
            .collect();
        let replayed: Vec<&str> = self.metrics.iter().map(|m| m.query.as_str()).collect();
        let mut problem = |origin: &Origin, path: &str, message: String| {
            out.push(manifest_problem(
                &self.file,
                &self.index,
                origin,
                path,
                message,
            ));
        };
        let mut named_groups = Vec::new();
        let mut named_queues = Vec::new();
        let mut keys: Vec<(String, String, String)> = Vec::new();
        for m in &mut self.manifests {
            let meta = m.object.meta();
            let key = (
                m.object.kind().to_string(),
                meta.namespace
                    .clone()
                    .unwrap_or_else(|| "default".to_string()),
                meta.name.clone().unwrap_or_default(),
            );
            if keys.contains(&key) {
                let message = format!(
                    "a second {} named {}/{}: names must be unique per kind and namespace",
                    key.0, key.1, key.2
                );
                problem(&m.origin, "metadata.name", message);
            }
            keys.push(key);
            match &mut m.object {
                Object::NodeGroup(ng) => {
                    let name = ng.metadata.name.clone().unwrap_or_default();
                    if group_names.contains(&name.as_str()) {
                        ng.spec.type_ = NODE_GROUP_TYPE.to_string();
                        ng.spec.id = name.clone();
                        named_groups.push(name);
                    } else {
                        let message = format!(
                            "ScalableNodeGroup {name:?} has no node group in the scenario: add nodeGroups: [{{name: {name}}}]{}",
                            did_you_mean(&name, &group_names)
                        );
                        problem(&m.origin, "metadata.name", message);
                    }
                }
                Object::Producer(p) => {
                    if let Some(queue) = &mut p.spec.queue {
                        let name = p.metadata.name.clone().unwrap_or_default();
                        if queue_names.contains(&name.as_str()) {
                            queue.type_ = QUEUE_TYPE.to_string();
                            queue.id = name.clone();
                            named_queues.push(name);
                        } else {
                            let message = format!(
                                "queue MetricsProducer {name:?} has no queue in the scenario: add queues: [{{name: {name}, consumers: [...]}}]{}",
                                did_you_mean(&name, &queue_names)
                            );
                            problem(&m.origin, "metadata.name", message);
                        }
                    }
                    if p.spec.reserved_capacity.is_some()
                        && !self
                            .scenario
                            .node_groups
                            .iter()
                            .any(|g| g.allocatable.is_some())
                    {
                        problem(
                            &m.origin,
                            "spec.reservedCapacity",
                            "reserved capacity needs nodes with allocatable resources: set nodeGroups[].allocatable (and pods to reserve them)".to_string(),
                        );
                    }
                }
                Object::Autoscaler(_) => {}
            }
        }
        // Every ScalableNodeGroup name, given or generated.
        let mut all_groups: Vec<String> = named_groups.clone();
        for g in &self.scenario.node_groups {
            if !named_groups.contains(&g.name) {
                all_groups.push(g.name.clone());
            }
        }
        let mut used_queries: Vec<String> = Vec::new();
        for m in &self.manifests {
            let Object::Autoscaler(ha) = &m.object else {
                continue;
            };
            let target = &ha.spec.scale_target_ref;
            if target.kind != "ScalableNodeGroup" {
                problem(
                    &m.origin,
                    "spec.scaleTargetRef.kind",
                    format!(
                        "the simulator scales ScalableNodeGroups only, got {:?}",
                        target.kind
                    ),
                );
            } else if !all_groups.contains(&target.name) {
                let known: Vec<&str> = all_groups.iter().map(String::as_str).collect();
                problem(
                    &m.origin,
                    "spec.scaleTargetRef.name",
                    format!(
                        "no ScalableNodeGroup or scenario node group is named {:?}{}",
                        target.name,
                        did_you_mean(&target.name, &known)
                    ),
                );
            }
            let materialized = self
                .scenario
                .node_groups
                .iter()
                .find(|g| g.name == target.name && g.allocatable.is_some());
            if let Some(g) = materialized
                && ha.spec.max_replicas > MAX_CLUSTER_NODES
                && g.capacity.is_none_or(|c| c > MAX_CLUSTER_NODES)
            {
                problem(
                    &m.origin,
                    "spec.maxReplicas",
                    format!(
                        "node group {:?} has allocatable, so each of its nodes is an object in the simulated cluster: at most {MAX_CLUSTER_NODES} are simulated; lower maxReplicas or set nodeGroups[].capacity",
                        g.name
                    ),
                );
            }
            for (i, metric) in ha.spec.metrics.iter().enumerate() {
                let path = format!("spec.metrics[{i}]");
                match &metric.prometheus {
                    Some(p) => {
                        used_queries.push(p.query.clone());
                        if !replayed.contains(&p.query.as_str())
                            && let Err(e) = Selector::parse(&p.query)
                        {
                            problem(
                                &m.origin,
                                &format!("{path}.prometheus.query"),
                                format!(
                                    "{e}. Either replay it (scenario metrics: [{{query: ..., csv: file.csv}}], the query text exactly) or query a gauge of a MetricsProducer of the scenario"
                                ),
                            );
                        }
                    }
                    None => problem(
                        &m.origin,
                        &path,
                        "the simulator reads prometheus metrics only (from the scenario's MetricsProducers or replayed series); use a prometheus source".to_string(),
                    ),
                }
            }
        }
        let used: Vec<&str> = used_queries.iter().map(String::as_str).collect();
        for (i, r) in self.metrics.iter().enumerate() {
            if !used.contains(&r.query.as_str()) {
                let path = format!("metrics[{i}].query");
                out.push(Problem {
                    file: self.file.clone(),
                    line: self.index.line_of(&path),
                    path,
                    message: format!(
                        "no autoscaler metric has this exact prometheus.query text, so the replay would answer nothing{}",
                        match closest(&r.query, &used) {
                            Some(s) => format!("; the closest is {s:?} (the text must match exactly)"),
                            None if used.is_empty() => String::new(),
                            None => format!("; the autoscalers query {}", used.iter().map(|u| format!("{u:?}")).collect::<Vec<_>>().join(", ")),
                        }
                    ),
                });
            }
        }
        if !out.is_empty() {
            return out;
        }
        // Create what no manifest gives.
        for g in &self.scenario.node_groups {
            if named_groups.contains(&g.name) {
                continue;
            }
            let ng = ScalableNodeGroup {
                api_version: karpenter_core::api::v1alpha1::API_VERSION.to_string(),
                kind: "ScalableNodeGroup".to_string(),
                metadata: ObjectMeta {
                    name: Some(g.name.clone()),
                    ..ObjectMeta::default()
                },
                spec: ScalableNodeGroupSpec {
                    type_: NODE_GROUP_TYPE.to_string(),
                    id: g.name.clone(),
                    replicas: Some(g.replicas),
                },
                status: None,
            };
            self.manifests.push(Manifest {
                origin: Origin::Generated,
                json: serde_json::to_value(&ng).unwrap_or_default(),
                object: Object::NodeGroup(ng),
            });
        }
        for q in &self.scenario.queues {
            if named_queues.contains(&q.name) {
                continue;
            }
            let mp: Result<MetricsProducer, _> = serde_json::from_value(serde_json::json!({
                "metadata": {"name": q.name},
                "spec": {"queue": QueueSpec { type_: QUEUE_TYPE.to_string(), id: q.name.clone(), include_in_flight: false }},
            }));
            if let Ok(mp) = mp {
                self.manifests.push(Manifest {
                    origin: Origin::Generated,
                    json: serde_json::to_value(&mp).unwrap_or_default(),
                    object: Object::Producer(mp),
                });
            }
        }
        out
    }
}

/// A problem in manifest `m` at `path` (within the manifest).
pub(crate) fn manifest_problem(
    scenario_file: &str,
    index: &LineIndex,
    origin: &Origin,
    path: &str,
    message: String,
) -> Problem {
    match origin {
        Origin::Inline { index: i } => {
            let full = format!("manifests[{i}].{path}");
            Problem {
                file: scenario_file.to_string(),
                line: index.line_of(&full),
                path: full,
                message,
            }
        }
        Origin::File {
            file,
            doc,
            line_offset,
            text,
            ..
        } => Problem {
            file: file.clone(),
            line: LineIndex::new(text).offset(*line_offset).line_of(path),
            path: format!("document {doc}: {path}"),
            message,
        },
        Origin::Generated => Problem {
            file: scenario_file.to_string(),
            line: None,
            path: path.to_string(),
            message,
        },
    }
}

/// Checks the scenario's own fields; returns the tick.
fn check_scenario(s: &Scenario, p: &mut Problems<'_>) -> Duration {
    if s.api_version != API_VERSION {
        p.push(
            "apiVersion",
            format!(
                "must be {API_VERSION} (the only version of the scenario format), got {:?}",
                s.api_version
            ),
        );
    }
    if s.kind != KIND {
        p.push("kind", format!("must be {KIND}, got {:?}", s.kind));
    }
    let tick = s.tick.map_or(DEFAULT_TICK, |t| t.0);
    if tick < Duration::from_secs(1) || tick > Duration::from_secs(86_400) {
        p.push(
            "tick",
            "must be between 1s and 1d; 15s is the HPA sync period",
        );
    }
    if s.duration.0.is_zero() {
        p.push("duration", "must be more than 0, e.g. 2h");
    } else if s.duration.0 > Duration::from_secs(366 * 86_400) {
        p.push("duration", "must be at most a year (366d)");
    }
    if s.node_groups.is_empty() {
        p.push(
            "nodeGroups",
            "must list at least one node group, e.g. [{name: workers}]",
        );
    }
    let mut seen = Vec::new();
    for (i, g) in s.node_groups.iter().enumerate() {
        let path = format!("nodeGroups[{i}]");
        if g.name.trim().is_empty() {
            p.push(format!("{path}.name"), "must not be empty");
        } else if seen.contains(&g.name.as_str()) {
            p.push(
                format!("{path}.name"),
                format!("{:?} is listed twice; names must be unique", g.name),
            );
        }
        seen.push(g.name.as_str());
        for (field, delay) in [
            ("launchDelay", &g.launch_delay),
            ("terminationDelay", &g.termination_delay),
        ] {
            if let Some(super::Delay::Uniform { min, max }) = delay
                && min > max
            {
                p.push(format!("{path}.{field}"), "min must be <= max");
            }
        }
        if g.replicas < 0 {
            p.push(
                format!("{path}.replicas"),
                format!("must be >= 0, got {}", g.replicas),
            );
        }
        if let Some(c) = g.capacity {
            if c < 0 {
                p.push(format!("{path}.capacity"), format!("must be >= 0, got {c}"));
            } else if g.replicas > c {
                p.push(
                    format!("{path}.replicas"),
                    format!("{} is above the capacity {c}", g.replicas),
                );
            }
        }
        if let Some(a) = &g.allocatable {
            if !a.cpu.is_positive() {
                p.push(format!("{path}.allocatable.cpu"), "must be > 0, e.g. 16");
            }
            if !a.memory.is_positive() {
                p.push(
                    format!("{path}.allocatable.memory"),
                    "must be > 0, e.g. 64Gi",
                );
            }
            if a.pods.is_some_and(|n| n < 1) {
                p.push(
                    format!("{path}.allocatable.pods"),
                    "must be >= 1 (default 110)",
                );
            }
        }
    }
    let groups: Vec<&str> = s.node_groups.iter().map(|g| g.name.as_str()).collect();
    let mut seen = Vec::new();
    for (i, q) in s.queues.iter().enumerate() {
        check_queue(i, q, &groups, &mut seen, p);
    }
    let schedulable = s.node_groups.iter().any(|g| g.allocatable.is_some());
    let mut seen = Vec::new();
    for (i, w) in s.pods.iter().enumerate() {
        let path = format!("pods[{i}]");
        let key = (w.namespace.as_deref().unwrap_or("default"), w.name.as_str());
        if w.name.trim().is_empty() {
            p.push(format!("{path}.name"), "must not be empty");
        } else if seen.contains(&key) {
            p.push(
                format!("{path}.name"),
                format!("{:?} is listed twice in its namespace", w.name),
            );
        }
        seen.push(key);
        if !w.requests.cpu.is_positive() && !w.requests.memory.is_positive() {
            p.push(
                format!("{path}.requests"),
                "must request some cpu or memory, e.g. {cpu: 500m, memory: 1Gi}",
            );
        }
        if w.requests.cpu.is_negative() {
            p.push(format!("{path}.requests.cpu"), "must be >= 0");
        }
        if w.requests.memory.is_negative() {
            p.push(format!("{path}.requests.memory"), "must be >= 0");
        }
        if !schedulable {
            p.push(
                path.clone(),
                "no node group has allocatable resources, so no pod can ever run: set nodeGroups[].allocatable, e.g. {cpu: 16, memory: 64Gi}",
            );
        }
    }
    tick
}

fn check_queue(
    i: usize,
    q: &QueueWorkload,
    groups: &[&str],
    seen: &mut Vec<String>,
    p: &mut Problems<'_>,
) {
    let path = format!("queues[{i}]");
    if q.name.trim().is_empty() {
        p.push(format!("{path}.name"), "must not be empty");
    } else if seen.contains(&q.name) {
        p.push(
            format!("{path}.name"),
            format!("{:?} is listed twice; names must be unique", q.name),
        );
    }
    seen.push(q.name.clone());
    if q.consumers.is_empty() {
        p.push(
            format!("{path}.consumers"),
            "must list who works the messages off, e.g. [{nodeGroup: workers, messagesPerSecond: 0.05}]",
        );
    }
    for (c, consumer) in q.consumers.iter().enumerate() {
        let cpath = format!("{path}.consumers[{c}]");
        if !groups.contains(&consumer.node_group.as_str()) {
            p.push(
                format!("{cpath}.nodeGroup"),
                format!(
                    "no node group is named {:?}{}",
                    consumer.node_group,
                    did_you_mean(&consumer.node_group, groups)
                ),
            );
        }
        if !(consumer.messages_per_second.is_finite() && consumer.messages_per_second > 0.0) {
            p.push(
                format!("{cpath}.messagesPerSecond"),
                format!(
                    "must be a number > 0 (messages one ready node processes per second), got {}",
                    consumer.messages_per_second
                ),
            );
        }
    }
}

#[derive(Default)]
struct SeriesCache {
    loaded: BTreeMap<PathBuf, Option<Arc<Series>>>,
}

impl SeriesCache {
    /// Loads the series file `f`, recording a problem at `path` if it fails.
    fn load(
        &mut self,
        f: &SeriesFile,
        path: &str,
        base: &Path,
        p: &mut Problems<'_>,
    ) -> Option<Arc<Series>> {
        let (file, csv) = match (&f.csv, &f.prometheus) {
            (Some(c), None) => (c, true),
            (None, Some(j)) => (j, false),
            _ => {
                p.push(path, "must set exactly one of csv (time,value[,replicas]) and prometheus (a query_range JSON export)");
                return None;
            }
        };
        let full = base.join(file);
        if let Some(cached) = self.loaded.get(&full) {
            return cached.clone();
        }
        let field = if csv { "csv" } else { "prometheus" };
        let result = match read_file(&full) {
            Err(e) => {
                p.push(format!("{path}.{field}"), e.to_string());
                None
            }
            Ok(text) => {
                let parsed = if csv {
                    Series::from_csv(&text)
                } else {
                    Series::from_prometheus_json(&text)
                };
                match parsed {
                    Ok(s) => Some(Arc::new(s)),
                    Err(e) => {
                        p.list.push(Problem {
                            file: full.display().to_string(),
                            line: e.line,
                            path: String::new(),
                            message: e.message.clone(),
                        });
                        None
                    }
                }
            }
        };
        self.loaded.insert(full, result.clone());
        result
    }
}

/// Checks and compiles a curve; `non_negative` rejects values below 0.
fn compile(
    c: &Curve,
    path: &str,
    non_negative: bool,
    start: DateTime<Utc>,
    base: &Path,
    cache: &mut SeriesCache,
    p: &mut Problems<'_>,
) -> Option<Compiled> {
    let value_ok = |v: f64| v.is_finite() && (!non_negative || v >= 0.0);
    let bad_value = |v: f64| {
        format!(
            "must be a finite number{}, got {v}",
            if non_negative { " >= 0" } else { "" }
        )
    };
    match c {
        Curve::Constant(v) => {
            if !value_ok(*v) {
                p.push(format!("{path}.constant"), bad_value(*v));
                return None;
            }
            Some(Compiled::Constant(*v))
        }
        Curve::Steps(steps) => {
            let mut out = Vec::with_capacity(steps.len());
            let mut ok = true;
            for (i, s) in steps.iter().enumerate() {
                if !value_ok(s.value) {
                    p.push(format!("{path}.steps[{i}].value"), bad_value(s.value));
                    ok = false;
                }
                out.push((s.at, s.value));
            }
            if steps.is_empty() {
                p.push(
                    format!("{path}.steps"),
                    "must list at least one step, e.g. [{at: 0s, value: 1}]",
                );
                ok = false;
            }
            let mut resolved: Vec<(DateTime<Utc>, f64)> = out
                .into_iter()
                .map(|(at, v)| (at.resolve(start), v))
                .collect();
            resolved.sort_by_key(|s| s.0);
            ok.then_some(Compiled::Steps(resolved))
        }
        Curve::Daily(d) => {
            let mut ok = true;
            for (field, v) in [("min", d.min), ("max", d.max)] {
                if !value_ok(v) {
                    p.push(format!("{path}.daily.{field}"), bad_value(v));
                    ok = false;
                }
            }
            if d.min > d.max {
                p.push(
                    format!("{path}.daily"),
                    format!("min {} must be <= max {}", d.min, d.max),
                );
                ok = false;
            }
            let peak = match &d.peak {
                None => Some(720),
                Some(t) => parse_hhmm(t).filter(|m| *m < 1440),
            };
            if peak.is_none() {
                p.push(
                    format!("{path}.daily.peak"),
                    "must be a local time HH:MM, e.g. \"14:00\"",
                );
                ok = false;
            }
            let tz = match tz_of(&d.timezone) {
                Ok(tz) => Some(tz),
                Err(m) => {
                    p.push(format!("{path}.daily.timezone"), m);
                    None
                }
            };
            match (ok, peak, tz) {
                (true, Some(peak), Some(tz)) => Some(Compiled::Daily {
                    min: d.min,
                    max: d.max,
                    peak_minutes: f64::from(peak),
                    tz,
                }),
                _ => None,
            }
        }
        Curve::Weekly(w) => {
            let mut ok = true;
            if !value_ok(w.default) {
                p.push(format!("{path}.weekly.default"), bad_value(w.default));
                ok = false;
            }
            let tz = match tz_of(&w.timezone) {
                Ok(tz) => Some(tz),
                Err(m) => {
                    p.push(format!("{path}.weekly.timezone"), m);
                    None
                }
            };
            let mut windows = Vec::new();
            for (i, win) in w.windows.iter().enumerate() {
                let wpath = format!("{path}.weekly.windows[{i}]");
                let from = parse_hhmm(&win.from).filter(|m| *m < 1440);
                let to = parse_hhmm(&win.to);
                if from.is_none() {
                    p.push(
                        format!("{wpath}.from"),
                        "must be a local time HH:MM, e.g. \"09:00\"",
                    );
                }
                if to.is_none() {
                    p.push(
                        format!("{wpath}.to"),
                        "must be a local time HH:MM (or 24:00), e.g. \"17:00\"",
                    );
                }
                if let (Some(f), Some(t)) = (from, to)
                    && f >= t
                {
                    p.push(format!("{wpath}.to"), format!("must be after from ({}); a window does not cross midnight: split it in two", win.from));
                    ok = false;
                }
                if win.days.is_empty() {
                    p.push(
                        format!("{wpath}.days"),
                        "must list at least one day, e.g. [Mon, Tue, Wed, Thu, Fri]",
                    );
                    ok = false;
                }
                if !value_ok(win.value) {
                    p.push(format!("{wpath}.value"), bad_value(win.value));
                    ok = false;
                }
                let days = win.days.iter().fold(0u8, |acc, d| acc | d.bit());
                if let (Some(f), Some(t)) = (from, to) {
                    windows.push((days, f, t, win.value));
                } else {
                    ok = false;
                }
            }
            match (ok, tz) {
                (true, Some(tz)) => Some(Compiled::Weekly {
                    tz,
                    default: w.default,
                    windows,
                }),
                _ => None,
            }
        }
        Curve::Series(f) => {
            let s = cache.load(f, &format!("{path}.series"), base, p)?;
            if non_negative && s.points().iter().filter_map(|pt| pt.value).any(|v| v < 0.0) {
                p.push(
                    format!("{path}.series"),
                    "the series has negative values; a rate or a count must be >= 0",
                );
                return None;
            }
            Some(Compiled::Series(s))
        }
        Curve::Sum(parts) => {
            if parts.is_empty() {
                p.push(format!("{path}.sum"), "must list at least one curve");
                return None;
            }
            let compiled: Vec<Option<Compiled>> = parts
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    compile(
                        c,
                        &format!("{path}.sum[{i}]"),
                        non_negative,
                        start,
                        base,
                        cache,
                        p,
                    )
                })
                .collect();
            compiled
                .into_iter()
                .collect::<Option<Vec<_>>>()
                .map(Compiled::Sum)
        }
    }
}

fn load_metrics(
    s: &Scenario,
    base: &Path,
    cache: &mut SeriesCache,
    p: &mut Problems<'_>,
) -> Vec<LoadedMetric> {
    let end = super::time::At::After(s.duration.0).resolve(s.start);
    let groups: Vec<&str> = s.node_groups.iter().map(|g| g.name.as_str()).collect();
    let mut out = Vec::new();
    let mut seen: Vec<&str> = Vec::new();
    for (i, m) in s.metrics.iter().enumerate() {
        let path = format!("metrics[{i}]");
        if m.query.trim().is_empty() {
            p.push(
                format!("{path}.query"),
                "must be the exact prometheus.query text of an autoscaler metric",
            );
        } else if seen.contains(&m.query.as_str()) {
            p.push(
                format!("{path}.query"),
                "this query is replayed twice; keep one",
            );
        }
        seen.push(m.query.as_str());
        let file = SeriesFile {
            csv: m.csv.clone(),
            prometheus: m.prometheus.clone(),
        };
        let Some(series) = cache.load(&file, &path, base, p) else {
            continue;
        };
        if let Some((first, last)) = series.span()
            && (last < s.start || first > end)
        {
            p.push(
                path.clone(),
                format!(
                    "the series covers {} to {}, outside the scenario's {} to {}: set start inside the recording",
                    first.to_rfc3339(),
                    last.to_rfc3339(),
                    s.start.to_rfc3339(),
                    end.to_rfc3339()
                ),
            );
        }
        let node_group = match (&m.node_group, series.has_replicas()) {
            (Some(g), _) if !groups.contains(&g.as_str()) => {
                p.push(
                    format!("{path}.nodeGroup"),
                    format!("no node group is named {g:?}{}", did_you_mean(g, &groups)),
                );
                None
            }
            (Some(g), true) => Some(g.clone()),
            (Some(_), false) => {
                p.push(format!("{path}.nodeGroup"), "the file records no replicas (a third CSV column, replicas), so there is nothing to backtest against");
                None
            }
            (None, true) if groups.len() == 1 => groups.first().map(|g| (*g).to_string()),
            (None, true) => {
                p.push(
                    format!("{path}.nodeGroup"),
                    "the file records replicas: name the node group they belong to",
                );
                None
            }
            (None, false) => None,
        };
        out.push(LoadedMetric {
            query: m.query.clone(),
            series,
            lookback: chrono::TimeDelta::from_std(m.lookback.map_or(DEFAULT_LOOKBACK, |l| l.0))
                .unwrap_or(chrono::TimeDelta::MAX),
            node_group,
        });
    }
    out
}

fn as_json_text(value: &serde_json::Value) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

/// Parses one manifest given as JSON into its kind.
pub(crate) fn typed(value: &serde_json::Value) -> Result<Object, (String, String)> {
    let kind = value.get("kind").and_then(|k| k.as_str()).unwrap_or("");
    let text = as_json_text(value);
    let err = |e: ParseError| (e.path.clone(), e.message);
    match kind {
        "HorizontalAutoscaler" => parse::from_json_str(&text)
            .map(Object::Autoscaler)
            .map_err(err),
        "MetricsProducer" => parse::from_json_str(&text)
            .map(Object::Producer)
            .map_err(err),
        "ScalableNodeGroup" => parse::from_json_str(&text)
            .map(Object::NodeGroup)
            .map_err(err),
        other => Err((
            "kind".to_string(),
            format!(
                "{} is not simulated; use HorizontalAutoscaler, MetricsProducer or ScalableNodeGroup (apiVersion autoscaling.karpenter.sh/v1alpha1), or {{path: file.yaml}}",
                if other.is_empty() {
                    "a manifest without kind".to_string()
                } else {
                    format!("kind {other:?}")
                }
            ),
        )),
    }
}

/// Validation problems of a typed object, as (path, message).
pub(crate) fn validation(object: &Object) -> Vec<(String, String)> {
    let result = match object {
        Object::Autoscaler(o) => o.validate(),
        Object::Producer(o) => o.validate(),
        Object::NodeGroup(o) => o.validate(),
    };
    result
        .err()
        .map(|e| e.errors.into_iter().map(|f| (f.path, f.message)).collect())
        .unwrap_or_default()
}

fn load_manifest(
    i: usize,
    entry: &serde_json::Value,
    base: &Path,
    p: &mut Problems<'_>,
    file_problems: &mut Vec<Problem>,
    out: &mut Vec<Manifest>,
) {
    let prefix = format!("manifests[{i}]");
    if let Some(obj) = entry.as_object()
        && obj.contains_key("path")
    {
        let Some(file) = obj
            .get("path")
            .and_then(|v| v.as_str())
            .filter(|_| obj.len() == 1)
        else {
            p.push(prefix, "a file entry is {path: file.yaml} and nothing else; put inline manifests in their own entries");
            return;
        };
        let full = base.join(file);
        let text = match read_file(&full) {
            Ok(t) => t,
            Err(e) => {
                p.push(format!("{prefix}.path"), e.to_string());
                return;
            }
        };
        let shown = full.display().to_string();
        for doc in parse::yaml_documents(&text) {
            if doc.is_empty() {
                continue;
            }
            let located = |path: String, message: String| Problem {
                file: shown.clone(),
                line: LineIndex::new(doc.text)
                    .offset(doc.line_offset)
                    .line_of(&path),
                path: format!("document {}: {path}", doc.index),
                message,
            };
            let json: serde_json::Value = match parse::from_str(doc.text) {
                Ok(v) => v,
                Err(e) => {
                    let e = e.offset_lines(doc.line_offset);
                    file_problems.push(parse_problem(
                        &shown,
                        &e,
                        &format!("document {}", doc.index),
                    ));
                    continue;
                }
            };
            match typed(&json) {
                Err((path, message)) => file_problems.push(located(path, message)),
                Ok(object) => {
                    for (path, message) in validation(&object) {
                        file_problems.push(located(path, message));
                    }
                    out.push(Manifest {
                        origin: Origin::File {
                            index: i,
                            file: shown.clone(),
                            doc: doc.index,
                            line_offset: doc.line_offset,
                            text: doc.text.to_string(),
                        },
                        json,
                        object,
                    });
                }
            }
        }
        return;
    }
    match typed(entry) {
        Err((path, message)) => p.push(format!("{prefix}.{path}"), message),
        Ok(object) => {
            for (path, message) in validation(&object) {
                p.push(format!("{prefix}.{path}"), message);
            }
            out.push(Manifest {
                origin: Origin::Inline { index: i },
                json: entry.clone(),
                object,
            });
        }
    }
}
