//! The scorecard: what a run cost and how long work waited, with field
//! names that are a contract (`docs/simulate.md`).

use std::fmt::Write as _;

use serde::Serialize;

/// One node group's score.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeGroupScore {
    /// The node group's name.
    pub name: String,
    /// Every node from the request that launched it until its termination
    /// completed, launching and terminating included (what the cloud bills),
    /// in seconds.
    pub node_seconds: f64,
    /// Most nodes billed (launching, ready or terminating) at a tick.
    pub peak_nodes: i32,
    /// Ticks at which the desired size went up.
    pub scale_ups: u64,
    /// Ticks at which the desired size went down.
    pub scale_downs: u64,
    /// Backtest: node-seconds of the replicas a replayed file recorded over
    /// the same span (`null` when no file records them).
    pub recorded_node_seconds: Option<f64>,
}

/// One queue's score.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueScore {
    /// The queue's name.
    pub name: String,
    /// The integral of the queue's length over time: the sum of every
    /// message's wait, in message-seconds.
    pub message_wait_seconds: f64,
    /// The longest any message waited (processed or still waiting at the
    /// end), in seconds.
    pub max_wait_seconds: f64,
    /// Most messages waiting at a tick.
    pub max_length: u64,
}

/// The pods' score (zeros when the scenario has no pods).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PodScore {
    /// The integral of the number of pending (unschedulable) pods over
    /// time, in pod-seconds.
    pub pending_pod_seconds: f64,
    /// Most pods pending at a tick.
    pub max_pending_pods: usize,
}

/// Sums over the whole run, the two axes of a comparison.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Totals {
    /// `nodeSeconds` of every node group.
    pub node_seconds: f64,
    /// `messageWaitSeconds` of every queue plus `pendingPodSeconds`.
    pub waiting_seconds: f64,
}

/// What one run of a scenario scored.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Scorecard {
    /// Ticks run.
    pub ticks: u64,
    /// Per node group, in the scenario's order.
    pub node_groups: Vec<NodeGroupScore>,
    /// Per queue, in the scenario's order.
    pub queues: Vec<QueueScore>,
    /// Pending pods.
    pub pods: PodScore,
    /// The comparison axes.
    pub totals: Totals,
    /// Errors the controllers reported during the run (unreadable metrics,
    /// failed scale-ups...), counted per tick.
    pub errors: u64,
}

/// One run in a [`ScorecardDocument`].
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Run {
    /// `baseline`, or the variant's name.
    pub name: String,
    /// Whether this run is Pareto-better than the baseline: no worse on
    /// node-seconds and on waiting, and better on at least one.
    pub pareto_better: bool,
    /// The score.
    #[serde(flatten)]
    pub scorecard: Scorecard,
}

/// What `karpenter simulate --json` prints.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScorecardDocument {
    /// `simulate.karpenter.sh/v1`.
    pub api_version: &'static str,
    /// `Scorecard`.
    pub kind: &'static str,
    /// The scenario's name.
    pub scenario: String,
    /// The seed.
    pub seed: u64,
    /// The simulated start (RFC 3339).
    pub start: String,
    /// The last tick's instant (RFC 3339).
    pub end: String,
    /// The tick, in seconds.
    pub tick_seconds: f64,
    /// The baseline first, then each variant in the order given.
    pub runs: Vec<Run>,
}

/// Whether `a` is Pareto-better than `b` on (node-seconds, waiting): no
/// worse on either, better on at least one.
///
/// ```
/// use karpenter_fake::scenario::{Totals, pareto_better};
///
/// let t = |n, w| Totals { node_seconds: n, waiting_seconds: w };
/// assert!(pareto_better(&t(10.0, 5.0), &t(10.0, 6.0)));
/// assert!(!pareto_better(&t(9.0, 7.0), &t(10.0, 6.0))); // a trade-off
/// assert!(!pareto_better(&t(10.0, 6.0), &t(10.0, 6.0))); // the same
/// ```
pub fn pareto_better(a: &Totals, b: &Totals) -> bool {
    a.node_seconds <= b.node_seconds
        && a.waiting_seconds <= b.waiting_seconds
        && (a.node_seconds < b.node_seconds || a.waiting_seconds < b.waiting_seconds)
}

fn hours(seconds: f64) -> String {
    format!("{:.2}", seconds / 3600.0)
}

fn duration(seconds: f64) -> String {
    let d = std::time::Duration::from_secs_f64(seconds.max(0.0).round());
    crate::simulation::human_duration(d)
}

impl ScorecardDocument {
    /// The runs as a Markdown table, one row per run (what the README
    /// shows): node-hours, message-hours waited, pending pod-hours, peak
    /// nodes, scale-ups and downs, and whether the run is Pareto-better
    /// than the baseline.
    pub fn comparison_table(&self) -> String {
        let mut out = String::new();
        out.push_str("| run | node-hours | message wait (h) | pending pods (h) | longest wait | peak nodes | scale-ups / downs | Pareto-better |\n");
        out.push_str("|---|---:|---:|---:|---:|---:|---:|---|\n");
        for r in &self.runs {
            let s = &r.scorecard;
            let message_wait: f64 = s.queues.iter().map(|q| q.message_wait_seconds).sum();
            let longest = s
                .queues
                .iter()
                .map(|q| q.max_wait_seconds)
                .fold(0.0, f64::max);
            let peak: i32 = s.node_groups.iter().map(|g| g.peak_nodes).sum();
            let ups: u64 = s.node_groups.iter().map(|g| g.scale_ups).sum();
            let downs: u64 = s.node_groups.iter().map(|g| g.scale_downs).sum();
            let better = if r.name == "baseline" {
                "(baseline)"
            } else if r.pareto_better {
                "yes"
            } else {
                "no"
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} / {} | {} |",
                r.name,
                hours(s.totals.node_seconds),
                hours(message_wait),
                hours(s.pods.pending_pod_seconds),
                duration(longest),
                peak,
                ups,
                downs,
                better
            );
        }
        out
    }

    /// One run's scorecard as readable text.
    pub fn run_text(&self, run: &Run) -> String {
        let s = &run.scorecard;
        let mut out = String::new();
        for g in &s.node_groups {
            let _ = writeln!(
                out,
                "  node group {}: {} node-hours (launching and terminating included), peak {} nodes, {} scale-ups, {} scale-downs",
                g.name,
                hours(g.node_seconds),
                g.peak_nodes,
                g.scale_ups,
                g.scale_downs
            );
            if let Some(recorded) = g.recorded_node_seconds {
                let change = if recorded > 0.0 {
                    format!(
                        " ({:+.1} %)",
                        (g.node_seconds - recorded) / recorded * 100.0
                    )
                } else {
                    String::new()
                };
                let _ = writeln!(
                    out,
                    "    backtest: the recorded replicas used {} node-hours; simulated {}{change}",
                    hours(recorded),
                    hours(g.node_seconds)
                );
            }
        }
        for q in &s.queues {
            let _ = writeln!(
                out,
                "  queue {}: {} message-hours waited, longest wait {}, at most {} messages",
                q.name,
                hours(q.message_wait_seconds),
                duration(q.max_wait_seconds),
                q.max_length
            );
        }
        if s.pods.max_pending_pods > 0 || s.pods.pending_pod_seconds > 0.0 {
            let _ = writeln!(
                out,
                "  pods: {} pod-hours pending, at most {} pending",
                hours(s.pods.pending_pod_seconds),
                s.pods.max_pending_pods
            );
        }
        let _ = writeln!(
            out,
            "  total: {} node-hours, {} hours of waiting (messages + pending pods){}",
            hours(s.totals.node_seconds),
            hours(s.totals.waiting_seconds),
            if s.errors > 0 {
                format!("; {} controller errors", s.errors)
            } else {
                String::new()
            }
        );
        out
    }
}
