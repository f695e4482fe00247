//! `spec.fallback` and `spec.algorithm: PID` in whole-loop simulations.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on purpose.

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use karpenter_fake::{FakeNodeGroup, FakeQueue, SimClock, Simulation};

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap()
}

/// The metric `load` does not exist for the first ten minutes (every read
/// fails: the exporter is down), then reads 30 against a Value target of
/// 10.
#[tokio::test]
async fn fallback_holds_capacity_while_metrics_are_down_and_ends_on_the_first_read() {
    let clock = SimClock::new(start());
    let group = FakeNodeGroup::builder("web")
        .replicas(2)
        .launch_delay(Duration::from_secs(30))
        .build(&clock);
    let back_at = start() + chrono::Duration::minutes(10);
    let mut sim = Simulation::builder(&clock)
        .manifests(
            r#"
kind: ScalableNodeGroup
metadata: {name: web}
spec: {type: FakeNodeGroup, id: web, replicas: 2}
---
kind: HorizontalAutoscaler
metadata: {name: web}
spec:
  scaleTargetRef: {kind: ScalableNodeGroup, name: web}
  minReplicas: 1
  maxReplicas: 20
  fallback: {failureThreshold: 4, replicas: 5}
  metrics:
  - prometheus:
      query: load
      target: {type: Value, value: 10}
"#,
        )
        .unwrap()
        .node_group(group.clone())
        .on_step(move |ctx| {
            if ctx.now >= back_at {
                // 30 against 10: ratio 3.
                ctx.metrics.set("load", &[], 30.0);
            }
        })
        .build()
        .unwrap();
    let mut desired = Vec::new();
    for _ in 0..60 {
        sim.step().await;
        let ha = sim.runner().autoscalers().next().unwrap();
        let status = ha.status.as_ref().unwrap();
        let fallback = status
            .conditions
            .iter()
            .find(|c| c.type_ == "Fallback")
            .map(|c| c.status.as_str().to_string());
        desired.push((status.desired_replicas, fallback));
    }
    let at = |tick: usize| desired[tick].clone();
    // Ticks 0-2 (t = 0, 15, 30 s): 1-3 failed reads, below the threshold.
    for tick in 0..3 {
        assert_eq!(at(tick), (2, Some("False".into())), "tick {tick}");
    }
    // Tick 3 (45 s): the fourth failure: max(2, 5) = 5.
    assert_eq!(at(3), (5, Some("True".into())));
    // Held at 5 until the metric is back at tick 40 (10 min).
    for tick in 4..40 {
        assert_eq!(at(tick), (5, Some("True".into())), "tick {tick}");
    }
    // Tick 40: ratio 3 × 5 ready = 15, within +4 / +100 %: 10 (Percent
    // 100 of 5) — the larger of the default policies. Fallback ended.
    assert_eq!(at(40), (10, Some("False".into())));
}

/// A burst of 600 jobs, one node per 10 jobs (AverageValue 10), from 2
/// nodes, scale-up policies out of the way. Proportional asks for
/// ceil(600 / 10) = 60 at once. A proportional-only PID (kp 0.5, ki 0)
/// works on the ratio 600 / (10 × 2 ready) = 30: the error 29 is limited
/// to maxOutput 9, so it asks for ceil(2 × (1 + 0.5 × 9)) = 11, then climbs
/// as nodes become ready, and with kp < 1 it settles below the
/// proportional count. It still drains the queue, and keeps its state in
/// the autoscaler's history.
#[tokio::test]
async fn pid_from_the_manifest_drives_a_simulation() {
    async fn run(algorithm: &str) -> (i32, i32, u64, bool) {
        let clock = SimClock::new(start());
        let group = FakeNodeGroup::builder("workers")
            .replicas(2)
            .launch_delay(Duration::from_secs(60))
            .build(&clock);
        let queue = FakeQueue::builder("jobs")
            .burst(start() + chrono::Duration::minutes(1), 600)
            .consumers(&group, 0.05)
            .build(&clock);
        let mut sim = Simulation::builder(&clock)
            .seed(3)
            .manifests(&format!(
                r#"
kind: ScalableNodeGroup
metadata: {{name: workers}}
spec: {{type: FakeNodeGroup, id: workers, replicas: 2}}
---
kind: MetricsProducer
metadata: {{name: jobs}}
spec: {{queue: {{type: FakeQueue, id: jobs}}}}
---
kind: HorizontalAutoscaler
metadata: {{name: workers}}
spec:
  scaleTargetRef: {{kind: ScalableNodeGroup, name: workers}}
  minReplicas: 2
  maxReplicas: 100
  {algorithm}
  behavior:
    scaleUp:
      policies: [{{type: Count, value: 1000, periodSeconds: 15}}]
  metrics:
  - prometheus:
      query: karpenter_queue_length{{name="jobs"}}
      target: {{type: AverageValue, value: 10}}
"#
            ))
            .unwrap()
            .node_group(group)
            .queue(queue)
            .build()
            .unwrap();
        // The burst lands at 1 min; the tick at 1 min decides on it.
        sim.run_for(Duration::from_secs(60)).await;
        let first = sim
            .runner()
            .node_groups()
            .next()
            .unwrap()
            .spec
            .replicas
            .unwrap();
        let report = sim.run_for(Duration::from_secs(3600)).await;
        let ha = sim.runner().autoscalers().next().unwrap();
        let stateful = ha
            .status
            .as_ref()
            .and_then(|s| s.history.as_ref())
            .is_some_and(|h| !h.algorithm_state.is_empty());
        (
            first,
            report.node_groups[0].peak_desired,
            report.queues[0].processed,
            stateful,
        )
    }
    let (proportional_first, proportional_peak, proportional_done, proportional_state) =
        run("").await;
    let (pid_first, pid_peak, pid_done, pid_state) =
        run("algorithm: {type: PID, pid: {kp: \"0.5\", ki: 0}}").await;
    assert_eq!((proportional_first, pid_first), (60, 11));
    assert_eq!((proportional_done, pid_done), (600, 600));
    assert!(!proportional_state && pid_state);
    assert!(
        pid_peak < proportional_peak,
        "PID peak {pid_peak} vs Proportional {proportional_peak}"
    );
}
