//! Running a [`Prepared`] scenario on the fakes and scoring it.

use std::collections::BTreeMap;
use std::sync::Arc;

use karpenter_core::cluster::Resources;
use karpenter_core::provider::NodeTemplate;

use super::load::{Object, Prepared};
use super::scorecard::{NodeGroupScore, PodScore, QueueScore, Scorecard, Totals};
use super::time::At;
use super::{Allocatable, ScenarioError};
use crate::{
    FakeCluster, FakeNodeGroup, FakeQueue, Progress, SimClock, Simulation, SimulationReport,
    Timeline,
};

/// The label every simulated node carries, naming its node group.
pub const NODE_GROUP_LABEL: &str = "karpenter.sh/node-group";

/// How to run a scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunOptions {
    /// Keep the timeline (for `--out`); off, a long run saves memory.
    pub record_timeline: bool,
    /// Whether to show a progress bar (on long runs when stderr is a
    /// terminal).
    pub progress: Progress,
}

impl Default for RunOptions {
    /// No timeline, no progress bar.
    fn default() -> Self {
        Self {
            record_timeline: false,
            progress: Progress::Never,
        }
    }
}

/// What a run produced.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    /// The score.
    pub scorecard: Scorecard,
    /// The timeline, when [`RunOptions::record_timeline`] was set.
    pub timeline: Option<Timeline>,
    /// The simulation's own report (first errors, final sizes).
    pub report: SimulationReport,
}

/// A seed for the `n`th generator of kind `kind` (SplitMix64 of the mix).
fn derive(seed: u64, kind: u64, n: u64) -> u64 {
    let mut z =
        seed ^ kind.wrapping_mul(0xA076_1D64_78BD_642F) ^ n.wrapping_mul(0xE703_7ED1_A0B4_28DB);
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn resources(a: &Allocatable) -> Resources {
    Resources::new(
        a.cpu.milli_value(),
        a.memory.milli_value().div_euclid(1000),
        a.pods.unwrap_or(110),
    )
}

impl Prepared {
    /// Runs the scenario on the fakes, deterministically for its seed, and
    /// scores it.
    pub async fn run(&self, options: &RunOptions) -> Result<RunOutcome, ScenarioError> {
        let mut sim = self.simulation(options)?;
        let end = At::After(self.scenario.duration.0).resolve(self.scenario.start);
        let report = sim.run_until(end).await;
        let scorecard = self.score(&report);
        Ok(RunOutcome {
            scorecard,
            timeline: sim.timeline().cloned(),
            report,
        })
    }

    /// The simulation [`run`](Self::run) drives, built and ready for its
    /// first step at the scenario's start: the fakes, the manifests in the
    /// runner, and the hooks that set pod counts and replayed metrics.
    pub fn simulation(&self, options: &RunOptions) -> Result<Simulation, ScenarioError> {
        let s = &self.scenario;
        let start = s.start;
        let clock = SimClock::new(start);

        let mut groups = Vec::with_capacity(s.node_groups.len());
        let mut cluster: Option<FakeCluster> = None;
        for g in &s.node_groups {
            let (launch, launch_jitter) = g.launch_delay.map_or(
                (
                    std::time::Duration::from_secs(60),
                    std::time::Duration::ZERO,
                ),
                |d| d.base_and_jitter(),
            );
            let (term, term_jitter) = g.termination_delay.map_or(
                (
                    std::time::Duration::from_secs(30),
                    std::time::Duration::ZERO,
                ),
                |d| d.base_and_jitter(),
            );
            let mut b = FakeNodeGroup::builder(g.name.clone())
                .launch_delay(launch)
                .launch_jitter(launch_jitter)
                .termination_delay(term)
                .termination_jitter(term_jitter)
                .replicas(g.replicas)
                .record_calls(false);
            if let Some(c) = g.capacity {
                b = b.capacity(c);
            }
            let template = g.allocatable.as_ref().map(|a| {
                let mut t = NodeTemplate::new(resources(a)).label(NODE_GROUP_LABEL, &g.name);
                for (k, v) in &g.labels {
                    t = t.label(k, v);
                }
                t
            });
            if let Some(t) = &template {
                b = b.template(t.clone());
            }
            let group = b.build(&clock);
            if let Some(t) = template {
                cluster
                    .get_or_insert_with(|| FakeCluster::new(&clock))
                    .add_node_group(&group, t);
            }
            groups.push(group);
        }

        let mut queues = Vec::with_capacity(s.queues.len());
        for (i, q) in s.queues.iter().enumerate() {
            let mut b = FakeQueue::builder(q.name.clone()).messages(q.initial);
            if let Some(Some(curve)) = self.arrivals.get(i) {
                let curve = Arc::new(curve.clone());
                b = b.arrivals(move |t| curve.at(t));
            }
            if q.poisson {
                b = b.poisson(derive(s.seed, 3, i as u64));
            }
            for burst in &q.bursts {
                b = b.burst(burst.at.resolve(start), burst.messages);
            }
            for c in &q.consumers {
                if let Some(g) = s
                    .node_groups
                    .iter()
                    .position(|g| g.name == c.node_group)
                    .and_then(|j| groups.get(j))
                {
                    b = b.consumers(g, c.messages_per_second);
                }
            }
            queues.push(b.build(&clock));
        }

        let mut builder = Simulation::builder(&clock)
            .seed(s.seed)
            .tick(self.tick)
            .progress(options.progress)
            .record_timeline(options.record_timeline);
        for m in &self.manifests {
            builder = match &m.object {
                Object::Autoscaler(o) => builder.autoscaler(o.clone()),
                Object::Producer(o) => builder.producer(o.clone()),
                Object::NodeGroup(o) => builder.scalable_node_group(o.clone()),
            };
        }
        for g in &groups {
            builder = builder.node_group(g.clone());
        }
        for q in &queues {
            builder = builder.queue(q.clone());
        }
        if let Some(c) = &cluster {
            builder = builder.cluster(c.clone());
        }
        // Pods: each workload's count, set when it changes.
        if !s.pods.is_empty() {
            let workloads: Vec<_> = s
                .pods
                .iter()
                .zip(self.pods.iter().cloned())
                .map(|(w, curve)| {
                    (
                        w.namespace.clone().unwrap_or_else(|| "default".to_string()),
                        w.name.clone(),
                        Resources::new(
                            w.requests.cpu.milli_value(),
                            w.requests.memory.milli_value().div_euclid(1000),
                            1,
                        ),
                        w.node_selector.clone(),
                        curve,
                    )
                })
                .collect();
            let mut last: Vec<Option<usize>> = vec![None; workloads.len()];
            builder = builder.on_step(move |ctx| {
                let Some(cluster) = ctx.cluster else {
                    return;
                };
                for ((ns, name, requests, selector, curve), last) in
                    workloads.iter().zip(last.iter_mut())
                {
                    let v = curve.at(ctx.now);
                    let n = if v.is_finite() && v > 0.0 {
                        v.round() as usize
                    } else {
                        0
                    };
                    if *last != Some(n) {
                        cluster.scale_workload_with(ns, name, n, *requests, selector);
                        *last = Some(n);
                    }
                }
            });
        }
        // Replayed metrics: the exact query text answers the sample of now.
        if !self.metrics.is_empty() {
            let replays: Vec<_> = self
                .metrics
                .iter()
                .map(|m| (m.query.clone(), m.series.clone(), m.lookback))
                .collect();
            builder = builder.on_step(move |ctx| {
                for (query, series, lookback) in &replays {
                    ctx.metrics
                        .set_answer(query, series.value_at(ctx.now, *lookback));
                }
            });
        }
        Ok(builder.build()?)
    }

    fn score(&self, report: &SimulationReport) -> Scorecard {
        let s = &self.scenario;
        let by_name: BTreeMap<&str, &crate::GroupSummary> = report
            .node_groups
            .iter()
            .map(|g| (g.node_group.rsplit('/').next().unwrap_or(&g.node_group), g))
            .collect();
        let node_groups: Vec<NodeGroupScore> = s
            .node_groups
            .iter()
            .map(|g| {
                let summary = by_name.get(g.name.as_str());
                NodeGroupScore {
                    name: g.name.clone(),
                    node_seconds: summary.map_or(0.0, |x| x.node_seconds),
                    peak_nodes: summary.map_or(0, |x| x.peak_nodes),
                    scale_ups: summary.map_or(0, |x| x.scale_ups),
                    scale_downs: summary.map_or(0, |x| x.scale_downs),
                    recorded_node_seconds: self
                        .metrics
                        .iter()
                        .find(|m| m.node_group.as_deref() == Some(g.name.as_str()))
                        .and_then(|m| m.series.replica_seconds(report.start, report.end)),
                }
            })
            .collect();
        let queues: Vec<QueueScore> = report
            .queues
            .iter()
            .map(|q| QueueScore {
                name: q.queue.clone(),
                message_wait_seconds: q.wait_seconds,
                max_wait_seconds: q.longest_wait_seconds,
                max_length: q.peak_length,
            })
            .collect();
        let pods = report.pods.as_ref().map_or(
            PodScore {
                pending_pod_seconds: 0.0,
                max_pending_pods: 0,
            },
            |p| PodScore {
                pending_pod_seconds: p.pending_pod_seconds,
                max_pending_pods: p.peak_pending,
            },
        );
        let totals = Totals {
            node_seconds: node_groups.iter().map(|g| g.node_seconds).sum(),
            waiting_seconds: queues.iter().map(|q| q.message_wait_seconds).sum::<f64>()
                + pods.pending_pod_seconds,
        };
        Scorecard {
            ticks: report.steps,
            node_groups,
            queues,
            pods,
            totals,
            errors: report.errors,
        }
    }
}
