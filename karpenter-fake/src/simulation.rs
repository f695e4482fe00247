//! [`Simulation`]: the runner and the fakes, driven in simulated time.

use std::fmt;
use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use indicatif::{ProgressBar, ProgressStyle};
use karpenter_core::api::v1alpha1::{
    HorizontalAutoscaler, MetricTargetType, MetricsProducer, ScalableNodeGroup,
};
use karpenter_core::provider::{CallPolicy, CloudProvider, ProviderRegistry};
use karpenter_core::reconcile::ObjectKey;
use karpenter_core::retry::RetryPolicy;
use karpenter_core::runner::{Runner, TickReport};

use crate::clock::{SimClock, add, seconds_between, to_delta};
use crate::cluster::FakeCluster;
use crate::error::SimError;
use crate::manifests::Manifests;
use crate::metric_store::FakeMetricStore;
use crate::node_group::FakeNodeGroup;
use crate::provider::FakeProvider;
use crate::queue::FakeQueue;
use crate::timeline::{Column, Row, Timeline};

/// Runs longer than this many steps show a progress bar (when stderr is a
/// terminal): about two simulated days at the default tick.
const PROGRESS_MIN_STEPS: u64 = 10_000;

/// What a step hook sees: the instant and the fakes, to change the world
/// (add pods, push messages, change capacity) before the runner's tick.
#[derive(Debug)]
pub struct StepContext<'a> {
    /// The step's simulated time.
    pub now: DateTime<Utc>,
    /// Time since the simulation started.
    pub elapsed: Duration,
    /// The node groups, in the order they were added.
    pub node_groups: &'a [FakeNodeGroup],
    /// The queues, in the order they were added.
    pub queues: &'a [FakeQueue],
    /// The cluster, if one was added.
    pub cluster: Option<&'a FakeCluster>,
    /// The metric store.
    pub metrics: &'a FakeMetricStore,
}

type Hook = Box<dyn FnMut(&StepContext<'_>) + Send>;

/// Whether to show a progress bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// When stderr is a terminal and the run is long (the default).
    Auto,
    /// Never.
    Never,
}

/// Configures a [`Simulation`]; see [`Simulation::builder`].
pub struct SimulationBuilder {
    clock: SimClock,
    seed: u64,
    tick: Duration,
    manifests: Manifests,
    node_groups: Vec<FakeNodeGroup>,
    queues: Vec<FakeQueue>,
    cluster: Option<FakeCluster>,
    hooks: Vec<Hook>,
    progress: Progress,
    record: bool,
    retry: Option<RetryPolicy>,
    providers: Vec<Arc<dyn CloudProvider>>,
}

impl fmt::Debug for SimulationBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimulationBuilder")
            .field("seed", &self.seed)
            .field("tick", &self.tick)
            .field("manifests", &self.manifests)
            .field("node_groups", &self.node_groups)
            .field("queues", &self.queues)
            .finish_non_exhaustive()
    }
}

impl SimulationBuilder {
    /// Seed of every random choice (launch jitter, random faults, retry
    /// jitter). The same seed and inputs give the same timeline, byte for
    /// byte. Default 0.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Time between two runner ticks (default 15 s, the HPA sync period).
    pub fn tick(mut self, tick: Duration) -> Self {
        self.tick = tick;
        self
    }

    /// Adds the objects of a YAML stream (see [`Manifests::from_yaml`]).
    pub fn manifests(mut self, yaml: &str) -> Result<Self, SimError> {
        self.manifests.extend(Manifests::from_yaml(yaml)?);
        Ok(self)
    }

    /// Adds a MetricsProducer.
    pub fn producer(mut self, producer: MetricsProducer) -> Self {
        self.manifests.producers.push(producer);
        self
    }

    /// Adds a HorizontalAutoscaler.
    pub fn autoscaler(mut self, autoscaler: HorizontalAutoscaler) -> Self {
        self.manifests.autoscalers.push(autoscaler);
        self
    }

    /// Adds a ScalableNodeGroup object.
    pub fn scalable_node_group(mut self, node_group: ScalableNodeGroup) -> Self {
        self.manifests.node_groups.push(node_group);
        self
    }

    /// Serves a fake node group (ScalableNodeGroups of type `FakeNodeGroup`
    /// name it by id).
    pub fn node_group(mut self, group: FakeNodeGroup) -> Self {
        self.node_groups.push(group);
        self
    }

    /// Serves a fake queue (queue producers of type `FakeQueue` name it by
    /// id); the simulation advances it every step.
    pub fn queue(mut self, queue: FakeQueue) -> Self {
        self.queues.push(queue);
        self
    }

    /// The cluster producers read; the simulation schedules its pods every
    /// step.
    pub fn cluster(mut self, cluster: FakeCluster) -> Self {
        self.cluster = Some(cluster);
        self
    }

    /// Runs `hook` at the start of every step, before scheduling and the
    /// runner's tick: the place to change demand over time.
    pub fn on_step(mut self, hook: impl FnMut(&StepContext<'_>) + Send + 'static) -> Self {
        self.hooks.push(Box::new(hook));
        self
    }

    /// Whether to show a progress bar (default [`Progress::Auto`]).
    pub fn progress(mut self, progress: Progress) -> Self {
        self.progress = progress;
        self
    }

    /// Whether to record a [`Timeline`] (default `true`). Large, long runs
    /// that need only the [`SimulationReport`] can turn it off.
    pub fn record_timeline(mut self, record: bool) -> Self {
        self.record = record;
        self
    }

    /// The retry policy of provider calls. The default is 3 attempts with
    /// [`RetryPolicy::default`]'s backoff; either way the deadline is cut to
    /// half the tick ([`RetryPolicy::within`]) and seeded from the
    /// simulation's seed. Backoff sleeps advance the simulated clock, so a
    /// throttled call is retried a few hundred simulated milliseconds later;
    /// one that keeps failing is retried by the next tick.
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = Some(policy);
        self
    }

    /// Registers another provider beside the fake one, e.g. your own cloud's
    /// node groups (see the `custom_provider` example). It must not claim
    /// the fake's types (`FakeNodeGroup`, `FakeQueue`, `prometheus`).
    pub fn provider(mut self, provider: Arc<dyn CloudProvider>) -> Self {
        self.providers.push(provider);
        self
    }

    /// Validates the objects and wires the runner to the fakes.
    pub fn build(self) -> Result<Simulation, SimError> {
        if self.tick < Duration::from_secs(1) || self.tick > Duration::from_secs(86_400) {
            return Err(SimError::InvalidTick(self.tick));
        }
        let metrics = FakeMetricStore::new();
        let provider = FakeProvider::new(metrics.clone());
        for (i, g) in self.node_groups.iter().enumerate() {
            g.reseed(derive_seed(self.seed, 1, i));
            provider.add_node_group(g.clone());
        }
        for q in &self.queues {
            provider.add_queue(q.clone());
        }
        let policy = self
            .retry
            .unwrap_or_else(|| RetryPolicy {
                max_attempts: 3,
                ..RetryPolicy::default()
            })
            .within(self.tick)
            .with_seed(derive_seed(self.seed, 2, 0));
        // Backoff sleeps on the simulated clock; the fakes answer at once,
        // so no call needs a timeout.
        let mut registry = ProviderRegistry::new().with_calls(CallPolicy {
            clock: Arc::new(self.clock.clone()),
            retry: policy,
            timeout: None,
        });
        registry.register(Arc::new(provider))?;
        for p in self.providers {
            registry.register(p)?;
        }
        // The fakes answer at once: reconciling one object at a time costs
        // nothing in waiting and saves the concurrent machinery.
        let mut runner = Runner::new(registry, Arc::new(metrics.clone())).with_concurrency(1);
        if let Some(c) = &self.cluster {
            runner = runner.with_cluster(Arc::new(c.clone()));
        }
        let Manifests {
            producers,
            autoscalers,
            node_groups,
        } = self.manifests;
        for p in producers {
            runner.add_producer(p)?;
        }
        for n in node_groups {
            runner.add_node_group(n)?;
        }
        for a in autoscalers {
            runner.add_autoscaler(a)?;
        }

        let plan = Plan::new(
            &runner,
            &self.node_groups,
            &self.queues,
            self.cluster.is_some(),
        );
        let start = self.clock.now();
        let timeline = self.record.then(|| {
            Timeline::new(
                start,
                plan.columns.iter().map(|c| c.column.clone()).collect(),
            )
        });
        // The desired size before the first step: a change at the first
        // step counts as a scale-up or down.
        let groups = plan
            .groups
            .iter()
            .zip(runner.node_groups())
            .map(|(g, sng)| {
                let mut stats = GroupStats::new(g.key.clone(), g.fake);
                stats.previous_desired = sng.spec.replicas.or_else(|| {
                    g.fake
                        .and_then(|f| self.node_groups.get(f))
                        .map(FakeNodeGroup::desired)
                });
                stats
            })
            .collect();
        let queues = self
            .queues
            .iter()
            .map(|q| QueueStats {
                id: q.id().to_string(),
                ..QueueStats::default()
            })
            .collect();
        Ok(Simulation {
            clock: self.clock,
            seed: self.seed,
            tick: to_delta(self.tick),
            start,
            next: start,
            steps: 0,
            runner,
            metrics,
            node_groups: self.node_groups,
            queues: self.queues,
            cluster: self.cluster,
            hooks: self.hooks,
            progress: self.progress,
            timeline,
            plan,
            stats: Stats {
                groups,
                queues,
                pods: PodStats::default(),
                errors: 0,
                first_errors: Vec::new(),
            },
            last: None,
        })
    }
}

/// A seed for stream `stream`, item `i`, derived from the simulation seed
/// (SplitMix64 finaliser), so adding a fake does not shift the others.
fn derive_seed(seed: u64, stream: u64, i: usize) -> u64 {
    let mut z = seed
        .wrapping_add(stream.wrapping_mul(0x9e37_79b9_7f4a_7c15))
        .wrapping_add((i as u64).wrapping_mul(0xbf58_476d_1ce4_e5b9));
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Where each timeline column's value comes from.
#[derive(Debug, Clone)]
enum Source {
    Desired(usize),
    Ready(usize),
    Metric(usize, usize),
    QueueLength(usize),
    PendingPods,
}

#[derive(Debug, Clone)]
struct PlannedColumn {
    column: Column,
    source: Source,
}

#[derive(Debug, Clone)]
struct PlannedGroup {
    key: String,
    /// Index of the fake node group serving it.
    fake: Option<usize>,
}

#[derive(Debug, Clone)]
struct Plan {
    columns: Vec<PlannedColumn>,
    groups: Vec<PlannedGroup>,
    /// `namespace/name` of each autoscaler, in runner order.
    autoscalers: Vec<ObjectKey>,
}

impl Plan {
    fn new(runner: &Runner, fakes: &[FakeNodeGroup], queues: &[FakeQueue], cluster: bool) -> Self {
        let mut columns = Vec::new();
        let mut groups = Vec::new();
        for (j, sng) in runner.node_groups().enumerate() {
            let name = sng.metadata.name.clone().unwrap_or_default();
            let fake = fakes.iter().position(|f| f.id() == sng.spec.id);
            groups.push(PlannedGroup {
                key: format!(
                    "{}/{name}",
                    sng.metadata.namespace.as_deref().unwrap_or("default")
                ),
                fake,
            });
            columns.push(PlannedColumn {
                column: Column::new(
                    format!("{name}.desired_replicas"),
                    "Nodes",
                    format!("{name} desired"),
                )
                .dashed(),
                source: Source::Desired(j),
            });
            columns.push(PlannedColumn {
                column: Column::new(
                    format!("{name}.ready_replicas"),
                    "Nodes",
                    format!("{name} ready"),
                ),
                source: Source::Ready(j),
            });
        }
        let mut autoscalers = Vec::new();
        for (i, ha) in runner.autoscalers().enumerate() {
            let name = ha.metadata.name.clone().unwrap_or_default();
            autoscalers.push(ObjectKey::of(&ha.metadata));
            for (m, metric) in ha.spec.metrics.iter().enumerate() {
                let Some((kind, target)) = metric.source() else {
                    continue;
                };
                let what = metric
                    .prometheus
                    .as_ref()
                    .map_or_else(|| kind.type_name().to_string(), |p| p.query.clone());
                let target_value = target.target_value();
                let mut column = Column::new(
                    format!("{name}.metric{m}"),
                    format!(
                        "{name} metrics[{m}]: {what} ({} {})",
                        target.type_.as_str(),
                        target_value.map_or_else(|| "?".to_string(), |v| v.to_string())
                    ),
                    match target.type_ {
                        MetricTargetType::Utilization => "observed, percent".to_string(),
                        _ => "observed".to_string(),
                    },
                );
                match target.type_ {
                    MetricTargetType::Utilization => {
                        column.chart_scale = 100.0;
                        column.target = target_value;
                    }
                    MetricTargetType::Value => column.target = target_value,
                    MetricTargetType::AverageValue => {}
                }
                columns.push(PlannedColumn {
                    column,
                    source: Source::Metric(i, m),
                });
            }
        }
        for (q, queue) in queues.iter().enumerate() {
            columns.push(PlannedColumn {
                column: Column::new(
                    format!("{}.queue_length", queue.id()),
                    "Queues (messages waiting)",
                    queue.id(),
                ),
                source: Source::QueueLength(q),
            });
        }
        if cluster {
            columns.push(PlannedColumn {
                column: Column::new(
                    "pending_pods",
                    "Pods pending (unschedulable)",
                    "pending pods",
                ),
                source: Source::PendingPods,
            });
        }
        Self {
            columns,
            groups,
            autoscalers,
        }
    }
}

#[derive(Debug, Clone)]
struct GroupStats {
    key: String,
    fake: Option<usize>,
    peak_ready: i32,
    peak_ready_at: Option<DateTime<Utc>>,
    peak_desired: i32,
    waiting_since: Option<DateTime<Utc>>,
    longest_wait: Duration,
    last_ready: i32,
    last_desired: i32,
    /// Node-seconds estimated from the sizes seen each step, for groups the
    /// fake does not serve (their billing is not visible).
    estimated_node_seconds: f64,
    /// Most nodes billed at a step (launching, ready, terminating).
    peak_billed: i32,
    /// Steps at which the desired size went up, and down.
    scale_ups: u64,
    scale_downs: u64,
    /// The desired size at the previous step.
    previous_desired: Option<i32>,
}

impl GroupStats {
    fn new(key: String, fake: Option<usize>) -> Self {
        Self {
            key,
            fake,
            peak_ready: 0,
            peak_ready_at: None,
            peak_desired: 0,
            waiting_since: None,
            longest_wait: Duration::ZERO,
            last_ready: 0,
            last_desired: 0,
            estimated_node_seconds: 0.0,
            peak_billed: 0,
            scale_ups: 0,
            scale_downs: 0,
            previous_desired: None,
        }
    }

    fn record(
        &mut self,
        now: DateTime<Utc>,
        desired: i32,
        ready: i32,
        billed: Option<i32>,
        tick_seconds: f64,
    ) {
        self.estimated_node_seconds += f64::from(desired.max(ready)) * tick_seconds;
        self.peak_billed = self
            .peak_billed
            .max(billed.unwrap_or_else(|| desired.max(ready)));
        match self.previous_desired {
            Some(p) if desired > p => self.scale_ups += 1,
            Some(p) if desired < p => self.scale_downs += 1,
            _ => {}
        }
        self.previous_desired = Some(desired);
        if ready > self.peak_ready || self.peak_ready_at.is_none() {
            self.peak_ready = ready;
            self.peak_ready_at = Some(now);
        }
        self.peak_desired = self.peak_desired.max(desired);
        self.last_ready = ready;
        self.last_desired = desired;
        match (ready < desired, self.waiting_since) {
            (true, None) => self.waiting_since = Some(now),
            (false, Some(since)) => {
                self.longest_wait = self.longest_wait.max(elapsed(since, now));
                self.waiting_since = None;
            }
            _ => {}
        }
    }
}

#[derive(Debug, Clone, Default)]
struct QueueStats {
    id: String,
    peak_length: u64,
    longest_wait: Duration,
}

#[derive(Debug, Clone, Default)]
struct PodStats {
    peak_pending: usize,
    pending_pod_seconds: f64,
    /// The previous step's instant and pending pods: each step's count
    /// holds until the next step.
    last: Option<(DateTime<Utc>, usize)>,
}

#[derive(Debug, Clone)]
struct Stats {
    groups: Vec<GroupStats>,
    queues: Vec<QueueStats>,
    pods: PodStats,
    errors: u64,
    first_errors: Vec<String>,
}

fn elapsed(from: DateTime<Utc>, to: DateTime<Utc>) -> Duration {
    (to - from).to_std().unwrap_or_default()
}

/// A node group's outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupSummary {
    /// `namespace/name` of the ScalableNodeGroup.
    pub node_group: String,
    /// Node-seconds billed: every node from the request that launched it
    /// until its termination completed (launching, ready and terminating),
    /// integrated exactly by the fake. For node groups of other providers,
    /// estimated as the larger of desired and ready at each step, times
    /// the tick.
    pub node_seconds: f64,
    /// Most nodes billed (launching, ready or terminating) at a step, after
    /// the step's decisions were applied.
    pub peak_nodes: i32,
    /// Steps at which the desired size (`spec.replicas`) went up.
    pub scale_ups: u64,
    /// Steps at which the desired size went down.
    pub scale_downs: u64,
    /// Most nodes ready at once.
    pub peak_ready: i32,
    /// Time since the start when `peak_ready` was first reached.
    pub peak_ready_after: Duration,
    /// Largest desired size the autoscaler set.
    pub peak_desired: i32,
    /// The longest span during which fewer nodes were ready than desired:
    /// how long demand waited for capacity.
    pub time_to_capacity: Duration,
    /// Node-hours billed (launching, ready and terminating nodes). For node
    /// groups of other providers, estimated as the larger of desired and
    /// ready at each step, times the tick.
    pub node_hours: f64,
    /// Ready nodes at the end.
    pub final_ready: i32,
    /// Desired size at the end.
    pub final_desired: i32,
}

/// A queue's outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueSummary {
    /// The queue's id.
    pub queue: String,
    /// Most messages waiting at once.
    pub peak_length: u64,
    /// The oldest any message got while waiting, as seen at the steps.
    pub longest_wait: Duration,
    /// Seconds waited by every message, summed (message-seconds: the
    /// integral of the queue's length over time); see
    /// [`FakeQueue::wait_seconds`].
    pub wait_seconds: f64,
    /// The longest any message waited (processed or still waiting at the
    /// end), in seconds.
    pub longest_wait_seconds: f64,
    /// Messages that arrived.
    pub arrived: u64,
    /// Messages processed.
    pub processed: u64,
    /// Messages waiting at the end.
    pub final_length: u64,
}

/// The pods' outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct PodSummary {
    /// Most pods pending (unschedulable) at once.
    pub peak_pending: usize,
    /// Pod-seconds spent pending: the integral of the pending pods from
    /// the first step to the last, each step's count holding until the next.
    pub pending_pod_seconds: f64,
    /// Pod-hours spent pending.
    pub pending_pod_hours: f64,
    /// The longest any pod waited to be scheduled.
    pub longest_pending: Duration,
}

/// What a simulation produced, in numbers; `Display` prints a short summary.
#[derive(Debug, Clone, PartialEq)]
pub struct SimulationReport {
    /// Simulated start.
    pub start: DateTime<Utc>,
    /// Simulated time of the last step.
    pub end: DateTime<Utc>,
    /// Steps run.
    pub steps: u64,
    /// The tick.
    pub tick: Duration,
    /// The seed.
    pub seed: u64,
    /// Per ScalableNodeGroup, in runner order.
    pub node_groups: Vec<GroupSummary>,
    /// Per queue, in the order added.
    pub queues: Vec<QueueSummary>,
    /// Pods, when the simulation has a cluster.
    pub pods: Option<PodSummary>,
    /// Errors reported by the runner, in all ticks.
    pub errors: u64,
    /// The first few distinct error messages.
    pub first_errors: Vec<String>,
}

impl SimulationReport {
    /// The summary of the node group `namespace/name`.
    pub fn node_group(&self, key: &str) -> Option<&GroupSummary> {
        self.node_groups.iter().find(|g| g.node_group == key)
    }
}

/// `1h 2m 3s`-style text for a duration, to the second.
pub fn human_duration(d: Duration) -> String {
    let s = d.as_secs();
    let (days, h, m, sec) = (s / 86_400, s / 3600 % 24, s / 60 % 60, s % 60);
    let mut out = String::new();
    for (v, unit) in [(days, "d"), (h, "h"), (m, "m"), (sec, "s")] {
        if v > 0 || (out.is_empty() && unit == "s") {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(&format!("{v}{unit}"));
        }
    }
    out
}

impl fmt::Display for SimulationReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "simulated {} in {} steps of {} (seed {}), {} runner errors",
            human_duration(elapsed(self.start, self.end)),
            self.steps,
            human_duration(self.tick),
            self.seed,
            self.errors
        )?;
        for g in &self.node_groups {
            writeln!(
                f,
                "  node group {}: peak {} ready nodes after {} (peak desired {}); longest wait for capacity {}; {:.1} node-hours; ends with {} ready / {} desired",
                g.node_group,
                g.peak_ready,
                human_duration(g.peak_ready_after),
                g.peak_desired,
                human_duration(g.time_to_capacity),
                g.node_hours,
                g.final_ready,
                g.final_desired
            )?;
        }
        for q in &self.queues {
            writeln!(
                f,
                "  queue {}: peak {} messages; oldest message waited {}; {} of {} processed, {} left",
                q.queue,
                q.peak_length,
                human_duration(q.longest_wait),
                q.processed,
                q.arrived,
                q.final_length
            )?;
        }
        if let Some(p) = &self.pods {
            writeln!(
                f,
                "  pods: peak {} pending; {:.1} pod-hours pending; longest wait {}",
                p.peak_pending,
                p.pending_pod_hours,
                human_duration(p.longest_pending)
            )?;
        }
        for e in &self.first_errors {
            writeln!(f, "  error: {e}")?;
        }
        Ok(())
    }
}

/// The whole loop — producers, metrics, decisions, node groups — and the
/// fakes, driven in simulated time.
///
/// Every step moves the [`SimClock`] by the tick, advances the queues, runs
/// the step hooks, schedules the cluster's pods, runs the core
/// [`Runner`]'s tick, and records a [`Timeline`] row. A run is
/// deterministic for a given seed: days of simulated time take seconds.
///
/// `run_*` need a Tokio runtime with its timer enabled (the retry helper
/// bounds each provider call with a timeout; `#[tokio::main]` and
/// `#[tokio::test]` enable it). Simulated time never waits on the wall
/// clock.
///
/// ```
/// use std::time::Duration;
/// use chrono::{TimeZone, Utc};
/// use karpenter_fake::{FakeNodeGroup, FakeQueue, SimClock, Simulation};
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let start = Utc.with_ymd_and_hms(2026, 1, 5, 9, 0, 0).unwrap();
/// let clock = SimClock::new(start);
/// let workers = FakeNodeGroup::builder("workers").build(&clock);
/// let jobs = FakeQueue::builder("jobs")
///     .burst(start + chrono::Duration::minutes(1), 80)
///     .consumers(&workers, 0.1)
///     .build(&clock);
/// let mut sim = Simulation::builder(&clock)
///     .seed(7)
///     .manifests(r#"
/// kind: ScalableNodeGroup
/// metadata: {name: workers}
/// spec: {type: FakeNodeGroup, id: workers}
/// ---
/// kind: MetricsProducer
/// metadata: {name: jobs}
/// spec: {queue: {type: FakeQueue, id: jobs}}
/// ---
/// kind: HorizontalAutoscaler
/// metadata: {name: workers}
/// spec:
///   scaleTargetRef: {kind: ScalableNodeGroup, name: workers}
///   minReplicas: 0
///   maxReplicas: 50
///   metrics:
///   - prometheus:
///       query: karpenter_queue_length{name="jobs"}
///       target: {type: AverageValue, value: 4}
/// "#)?
///     .node_group(workers.clone())
///     .queue(jobs.clone())
///     .build()?;
/// let report = sim.run_for(Duration::from_secs(30 * 60)).await;
/// assert_eq!(report.queues[0].processed, 80);
/// assert!(report.node_groups[0].peak_ready > 0);
/// println!("{report}");
/// # Ok::<(), karpenter_fake::SimError>(())
/// # }).unwrap();
/// ```
pub struct Simulation {
    clock: SimClock,
    seed: u64,
    tick: TimeDelta,
    start: DateTime<Utc>,
    next: DateTime<Utc>,
    steps: u64,
    runner: Runner,
    metrics: FakeMetricStore,
    node_groups: Vec<FakeNodeGroup>,
    queues: Vec<FakeQueue>,
    cluster: Option<FakeCluster>,
    hooks: Vec<Hook>,
    progress: Progress,
    timeline: Option<Timeline>,
    plan: Plan,
    stats: Stats,
    last: Option<TickReport>,
}

impl fmt::Debug for Simulation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Simulation")
            .field("seed", &self.seed)
            .field("now", &self.clock.now())
            .field("steps", &self.steps)
            .field("runner", &self.runner)
            .finish_non_exhaustive()
    }
}

impl Simulation {
    /// A builder for a simulation on `clock`, starting at the clock's time.
    pub fn builder(clock: &SimClock) -> SimulationBuilder {
        SimulationBuilder {
            clock: clock.clone(),
            seed: 0,
            tick: Duration::from_secs(15),
            manifests: Manifests::default(),
            node_groups: Vec::new(),
            queues: Vec::new(),
            cluster: None,
            hooks: Vec::new(),
            progress: Progress::Auto,
            record: true,
            retry: None,
            providers: Vec::new(),
        }
    }

    /// The clock.
    pub fn clock(&self) -> &SimClock {
        &self.clock
    }

    /// The runner, with every object's current spec and status.
    pub fn runner(&self) -> &Runner {
        &self.runner
    }

    /// The runner, to add, change or remove objects between steps.
    pub fn runner_mut(&mut self) -> &mut Runner {
        &mut self.runner
    }

    /// The metric store (producers' gauges).
    pub fn metrics(&self) -> &FakeMetricStore {
        &self.metrics
    }

    /// The fake node group with id `id`.
    pub fn node_group(&self, id: &str) -> Option<&FakeNodeGroup> {
        self.node_groups.iter().find(|g| g.id() == id)
    }

    /// The fake queue with id `id`.
    pub fn queue(&self, id: &str) -> Option<&FakeQueue> {
        self.queues.iter().find(|q| q.id() == id)
    }

    /// The cluster, if one was added.
    pub fn cluster(&self) -> Option<&FakeCluster> {
        self.cluster.as_ref()
    }

    /// The timeline so far (`None` if recording is off).
    pub fn timeline(&self) -> Option<&Timeline> {
        self.timeline.as_ref()
    }

    /// The runner's report of the last step.
    pub fn last_tick(&self) -> Option<&TickReport> {
        self.last.as_ref()
    }

    /// Steps run so far.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// Runs one step at the next tick instant (the first step runs at the
    /// start time) and returns the runner's report.
    pub async fn step(&mut self) -> &TickReport {
        let now = self.next;
        self.clock.set(now);
        for q in &self.queues {
            q.advance_to(now);
        }
        if !self.hooks.is_empty() {
            let ctx = StepContext {
                now,
                elapsed: elapsed(self.start, now),
                node_groups: &self.node_groups,
                queues: &self.queues,
                cluster: self.cluster.as_ref(),
                metrics: &self.metrics,
            };
            for hook in &mut self.hooks {
                hook(&ctx);
            }
        }
        if let Some(c) = &self.cluster {
            c.schedule();
        }
        let report = self.runner.tick(now).await;
        self.record(now, &report);
        self.steps += 1;
        self.next = add(now, self.tick);
        self.last.insert(report)
    }

    /// Runs steps until the simulated time passes `start + elapsed + duration`
    /// (steps at every tick instant up to and including the end), and
    /// returns the report of everything so far.
    pub async fn run_for(&mut self, duration: Duration) -> SimulationReport {
        let end = add(self.next, to_delta(duration));
        self.run_until(end).await
    }

    /// Runs steps at every tick instant up to and including `end`.
    pub async fn run_until(&mut self, end: DateTime<Utc>) -> SimulationReport {
        let remaining = if end >= self.next {
            let ticks = (end - self.next).num_milliseconds() / self.tick.num_milliseconds().max(1);
            u64::try_from(ticks).unwrap_or(0) + 1
        } else {
            0
        };
        let bar = self.progress_bar(remaining);
        while self.next <= end {
            let before = self.next;
            self.step().await;
            bar.inc(1);
            if self.next <= before {
                // The clock saturated at the end of representable time.
                break;
            }
        }
        bar.finish_and_clear();
        self.report()
    }

    fn progress_bar(&self, steps: u64) -> ProgressBar {
        if self.progress == Progress::Never
            || steps < PROGRESS_MIN_STEPS
            || !std::io::stderr().is_terminal()
        {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::new(steps);
        if let Ok(style) = ProgressStyle::with_template(
            "simulating {bar:40} {percent:>3}% ({pos}/{len} steps, {elapsed} elapsed, eta {eta})",
        ) {
            bar.set_style(style);
        }
        bar
    }

    fn record(&mut self, now: DateTime<Utc>, report: &TickReport) {
        let runner = &self.runner;
        let sngs: Vec<&ScalableNodeGroup> = runner.node_groups().collect();
        let fake_of = |j: usize| -> Option<&FakeNodeGroup> {
            let f = self.plan.groups.get(j).and_then(|g| g.fake)?;
            self.node_groups.get(f)
        };
        let ready_of = |j: usize| -> Option<i32> {
            match fake_of(j) {
                Some(g) => Some(g.ready_at(now)),
                None => sngs
                    .get(j)
                    .and_then(|s| s.status.as_ref())
                    .and_then(|s| s.replicas),
            }
        };
        // The intent in spec.replicas; while it is unset (nothing has asked
        // for a size yet), the fake group's own desired size.
        let desired_of = |j: usize| -> Option<i32> {
            sngs.get(j)
                .and_then(|s| s.spec.replicas)
                .or_else(|| fake_of(j).map(FakeNodeGroup::desired))
        };

        let tick_seconds = self.tick.num_milliseconds() as f64 / 1000.0;
        for (j, g) in self.stats.groups.iter_mut().enumerate() {
            let ready = ready_of(j).unwrap_or(0);
            let desired = desired_of(j).unwrap_or(ready);
            let billed = fake_of(j).map(|f| f.billing_at(now).1);
            g.record(now, desired, ready, billed, tick_seconds);
        }
        for (q, stats) in self.queues.iter().zip(self.stats.queues.iter_mut()) {
            let (length, oldest) = q.length_and_oldest_age_at(now);
            stats.peak_length = stats.peak_length.max(length);
            stats.longest_wait = stats.longest_wait.max(oldest.unwrap_or_default());
        }
        let pending = self.cluster.as_ref().map(FakeCluster::pending_pods);
        if let Some(p) = pending {
            self.stats.pods.peak_pending = self.stats.pods.peak_pending.max(p);
            if let Some((then, pending)) = self.stats.pods.last {
                self.stats.pods.pending_pod_seconds +=
                    pending as f64 * seconds_between(then, now).max(0.0);
            }
            self.stats.pods.last = Some((now, p));
        }
        self.stats.errors += report.errors.len() as u64;
        for e in &report.errors {
            if self.stats.first_errors.len() >= 5 {
                break;
            }
            let text = e.to_string();
            if !self.stats.first_errors.contains(&text) {
                self.stats.first_errors.push(text);
            }
        }

        let Some(timeline) = &mut self.timeline else {
            return;
        };
        let observation = |i: usize, m: usize| -> Option<f64> {
            let key = self.plan.autoscalers.get(i)?;
            let a = match report.autoscalers.get(i) {
                Some(a) if a.autoscaler == *key => a,
                _ => report.autoscalers.iter().find(|a| a.autoscaler == *key)?,
            };
            a.readings.get(m)?.as_ref().ok().copied()
        };
        let values = self
            .plan
            .columns
            .iter()
            .map(|c| match c.source {
                Source::Desired(j) => desired_of(j).map(f64::from),
                Source::Ready(j) => ready_of(j).map(f64::from),
                Source::Metric(i, m) => observation(i, m),
                Source::QueueLength(q) => self.queues.get(q).map(|q| q.len() as f64),
                Source::PendingPods => pending.map(|p| p as f64),
            })
            .collect();
        timeline.push(Row { time: now, values });
    }

    /// The report of everything run so far.
    pub fn report(&self) -> SimulationReport {
        let end = self.next - self.tick;
        let node_groups = self
            .stats
            .groups
            .iter()
            .map(|g| {
                let fake = g.fake.and_then(|f| self.node_groups.get(f));
                let still_waiting = g.waiting_since.map_or(Duration::ZERO, |s| elapsed(s, end));
                let node_seconds =
                    fake.map_or(g.estimated_node_seconds, FakeNodeGroup::node_seconds);
                GroupSummary {
                    node_group: g.key.clone(),
                    node_seconds,
                    peak_nodes: g.peak_billed,
                    scale_ups: g.scale_ups,
                    scale_downs: g.scale_downs,
                    peak_ready: g.peak_ready,
                    peak_ready_after: g
                        .peak_ready_at
                        .map_or(Duration::ZERO, |t| elapsed(self.start, t)),
                    peak_desired: g.peak_desired,
                    time_to_capacity: g.longest_wait.max(still_waiting),
                    node_hours: node_seconds / 3600.0,
                    final_ready: g.last_ready,
                    final_desired: g.last_desired,
                }
            })
            .collect();
        let queues = self
            .queues
            .iter()
            .zip(&self.stats.queues)
            .map(|(q, s)| QueueSummary {
                queue: s.id.clone(),
                peak_length: s.peak_length,
                longest_wait: s.longest_wait,
                wait_seconds: q.wait_seconds(),
                longest_wait_seconds: q.longest_wait_seconds(),
                arrived: q.arrived(),
                processed: q.processed(),
                final_length: q.len(),
            })
            .collect();
        let pods = self.cluster.as_ref().map(|c| PodSummary {
            peak_pending: self.stats.pods.peak_pending,
            pending_pod_seconds: self.stats.pods.pending_pod_seconds,
            pending_pod_hours: self.stats.pods.pending_pod_seconds / 3600.0,
            longest_pending: c.longest_pending(),
        });
        SimulationReport {
            start: self.start,
            end: end.max(self.start),
            steps: self.steps,
            tick: self.tick.to_std().unwrap_or_default(),
            seed: self.seed,
            node_groups,
            queues,
            pods,
            errors: self.stats.errors,
            first_errors: self.stats.first_errors.clone(),
        }
    }

    /// Seconds of simulated time since the start.
    pub fn elapsed_seconds(&self) -> f64 {
        seconds_between(self.start, self.clock.now())
    }
}
