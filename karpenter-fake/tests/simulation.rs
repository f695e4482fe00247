//! Whole-loop simulations: outcomes, not just that they ran.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on purpose.

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use karpenter_core::provider::ProviderErrorKind;
use karpenter_fake::{Call, FakeNodeGroup, FakeQueue, Fault, SimClock, Simulation, Timeline};

const LAUNCH_DELAY: Duration = Duration::from_secs(60);
const TASKS: u64 = 2_400;

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap()
}

fn secs(s: i64) -> chrono::Duration {
    chrono::Duration::seconds(s)
}

/// The manifests of the design's Alice: one node per 4 queued messages,
/// 0..1000 nodes, scale-up allowed to jump (+900% / +1000 per 15 s).
fn alice_manifests(scale_up_count: i32) -> String {
    format!(
        r#"
kind: ScalableNodeGroup
metadata: {{name: ml-training}}
spec: {{type: FakeNodeGroup, id: ml-training}}
---
kind: MetricsProducer
metadata: {{name: ml-training-queue}}
spec:
  queue: {{type: FakeQueue, id: ml-training-queue}}
---
kind: HorizontalAutoscaler
metadata: {{name: ml-training}}
spec:
  scaleTargetRef: {{kind: ScalableNodeGroup, name: ml-training}}
  minReplicas: 0
  maxReplicas: 1000
  metrics:
  - prometheus:
      query: karpenter_queue_length{{name="ml-training-queue"}}
      target: {{type: AverageValue, value: 4}}
  behavior:
    scaleUp:
      policies:
      - {{type: Percent, value: 900, periodSeconds: 15}}
      - {{type: Count, value: {scale_up_count}, periodSeconds: 15}}
"#
    )
}

struct Scenario {
    sim: Simulation,
    group: FakeNodeGroup,
    burst_at: DateTime<Utc>,
}

/// Alice's queue: `tasks` land at once at `burst_after`; each ready node
/// works off `per_node` tasks per second.
fn alice(
    seed: u64,
    tasks: u64,
    per_node: f64,
    jitter: Duration,
    configure: impl FnOnce(&FakeNodeGroup, DateTime<Utc>),
) -> Scenario {
    let clock = SimClock::new(start());
    let burst_at = start() + secs(60);
    let group = FakeNodeGroup::builder("ml-training")
        .launch_delay(LAUNCH_DELAY)
        .launch_jitter(jitter)
        .bounds(0, 1000)
        .build(&clock);
    configure(&group, burst_at);
    let queue = FakeQueue::builder("ml-training-queue")
        .burst(burst_at, tasks)
        .consumers(&group, per_node)
        .build(&clock);
    let sim = Simulation::builder(&clock)
        .seed(seed)
        .manifests(&alice_manifests(1000))
        .unwrap()
        .node_group(group.clone())
        .queue(queue)
        .build()
        .unwrap();
    Scenario {
        sim,
        group,
        burst_at,
    }
}

fn column(timeline: &Timeline, name: &str) -> Vec<(DateTime<Utc>, f64)> {
    let values = timeline.values(name).unwrap();
    timeline
        .rows()
        .iter()
        .zip(values)
        .map(|(r, v)| (r.time, v.unwrap_or(f64::NAN)))
        .collect()
}

#[tokio::test]
async fn alice_reaches_capacity_within_launch_delay_plus_a_minute_and_returns_to_zero() {
    let mut s = alice(42, TASKS, 1.0 / 120.0, Duration::ZERO, |_, _| {});
    let report = s.sim.run_for(Duration::from_secs(40 * 60)).await;
    let timeline = s.sim.timeline().unwrap();
    let needed = (TASKS / 4) as f64;

    // ≥ 95% of the needed nodes ready within launch delay + 60 s of the burst.
    let deadline = s.burst_at + secs(LAUNCH_DELAY.as_secs() as i64 + 60);
    let ready = column(timeline, "ml-training.ready_replicas");
    let best_in_time = ready
        .iter()
        .filter(|(t, _)| *t >= s.burst_at && *t <= deadline)
        .map(|(_, v)| *v)
        .fold(0.0, f64::max);
    assert!(
        best_in_time >= 0.95 * needed,
        "only {best_in_time} of {needed} nodes ready by {deadline}"
    );
    // Never more than needed.
    let g = &report.node_groups[0];
    assert_eq!(g.peak_desired, 600);
    assert_eq!(g.peak_ready, 600);
    assert!(g.time_to_capacity <= LAUNCH_DELAY + Duration::from_secs(15));

    // The queue drains, then the group goes back to zero and stays there.
    let q = &report.queues[0];
    assert_eq!((q.processed, q.final_length), (TASKS, 0));
    let drained_at = column(timeline, "ml-training-queue.queue_length")
        .into_iter()
        .find(|(t, v)| *t > s.burst_at && *v == 0.0)
        .map(|(t, _)| t)
        .unwrap();
    let desired = column(timeline, "ml-training.desired_replicas");
    let zero_from = drained_at + secs(300 + 15);
    for (t, v) in desired.iter().chain(ready.iter()) {
        if *t >= zero_from {
            assert_eq!(
                *v, 0.0,
                "still {v} nodes at {t}, queue drained at {drained_at}"
            );
        }
    }
    assert_eq!((g.final_desired, g.final_ready), (0, 0));
    assert_eq!(s.group.desired(), 0);
    assert_eq!(report.errors, 0, "{:?}", report.first_errors);
}

#[tokio::test]
async fn scale_down_waits_for_the_300s_stabilization_window() {
    // 400 tasks, 100 nodes, each node clears a task per second: the queue is
    // empty one tick after the nodes are ready.
    let mut s = alice(1, 400, 1.0, Duration::ZERO, |_, _| {});
    s.sim.run_for(Duration::from_secs(20 * 60)).await;
    let timeline = s.sim.timeline().unwrap();
    let metric = column(timeline, "ml-training.metric0");
    let desired = column(timeline, "ml-training.desired_replicas");
    let ready = column(timeline, "ml-training.ready_replicas");

    // The last tick at which the metric asked for 100 nodes.
    let last_high = metric
        .iter()
        .rev()
        .find(|(_, v)| *v >= 397.0)
        .map(|(t, _)| *t)
        .unwrap();
    assert!(last_high > s.burst_at, "the queue was read while full");
    for ((t, d), (_, r)) in desired.iter().zip(&ready) {
        if *t >= s.burst_at && *t < last_high + secs(300) {
            assert_eq!(
                *d, 100.0,
                "scaled down at {t}, inside the window of {last_high}"
            );
        }
        if *t >= last_high + secs(300) {
            assert_eq!((*d, *r), (0.0, 0.0), "not scaled down at {t}");
        }
    }
}

#[tokio::test]
async fn with_injected_throttling_the_group_converges_and_no_intent_is_lost() {
    let mut s = alice(7, TASKS, 1.0 / 120.0, Duration::ZERO, |group, burst_at| {
        // The whole first 45 s of the burst is throttled, and a third of all
        // other resizes too; reads time out now and then.
        group.fail_between(
            Call::SetReplicas,
            Fault::Throttle,
            burst_at,
            burst_at + secs(45),
        );
        group.fail_with_probability(Call::SetReplicas, Fault::Throttle, 0.3);
        group.fail_with_probability(Call::SetReplicas, Fault::TimeoutAfterApplying, 0.1);
        group.fail_with_probability(Call::Replicas, Fault::Timeout, 0.1);
    });

    let mut failed_writes = 0;
    for _ in 0..(40 * 4) {
        let report = s.sim.step().await.clone();
        let write_failed = report
            .errors
            .iter()
            .any(|e| e.object_kind() == "ScalableNodeGroup");
        failed_writes += usize::from(write_failed);
        let intent = s
            .sim
            .runner()
            .node_group("default", "ml-training")
            .unwrap()
            .spec
            .replicas;
        // After every tick, the cloud has the intent (once there is one: an
        // unset spec.replicas leaves the group alone), or the tick said why
        // not.
        if !write_failed && intent.is_some() {
            assert_eq!(
                Some(s.group.desired()),
                intent,
                "at {}: intent lost without an error",
                report.now
            );
        }
    }
    assert!(failed_writes >= 3, "the throttled window was reported");

    let report = s.sim.report();
    let g = &report.node_groups[0];
    assert_eq!(g.peak_ready, 600, "converged to the needed size");
    assert_eq!((g.final_desired, g.final_ready), (0, 0));
    assert_eq!(report.queues[0].processed, TASKS);
    let (calls, failed) = s.group.call_count(Call::SetReplicas);
    assert!(
        failed > 0 && calls > failed,
        "{calls} calls, {failed} failed"
    );
    // The throttled window delayed capacity, by no more than the window and
    // a tick.
    let ready = column(s.sim.timeline().unwrap(), "ml-training.ready_replicas");
    let full_at = ready.iter().find(|(_, v)| *v >= 600.0).unwrap().0;
    assert!(full_at >= s.burst_at + secs(45 + 60));
}

async fn csv_for(seed: u64) -> String {
    let mut s = alice(
        seed,
        TASKS,
        1.0 / 120.0,
        Duration::from_secs(30),
        |group, _| {
            group.fail_with_probability(Call::SetReplicas, Fault::Throttle, 0.2);
        },
    );
    s.sim.run_for(Duration::from_secs(20 * 60)).await;
    s.sim.timeline().unwrap().to_csv()
}

#[tokio::test]
async fn the_same_seed_gives_a_byte_identical_csv() {
    let a = csv_for(42).await;
    let b = csv_for(42).await;
    assert_eq!(a, b);
    assert!(a.lines().count() > 80);
    // And the seed matters: launch jitter and faults are drawn from it.
    let c = csv_for(43).await;
    assert_ne!(a, c);
}

#[tokio::test]
async fn default_behavior_doubles_from_zero() {
    // Without Alice's scale-up policy, the HPA default adds max(4, 100%) per
    // 15 s: 4, 8, 16, ... The example documents why Alice raises it.
    let clock = SimClock::new(start());
    let group = FakeNodeGroup::builder("ml-training").build(&clock);
    let queue = FakeQueue::builder("ml-training-queue")
        .burst(start(), TASKS)
        .build(&clock);
    let manifests = alice_manifests(1000).replace(
        "  behavior:\n    scaleUp:\n      policies:\n      - {type: Percent, value: 900, periodSeconds: 15}\n      - {type: Count, value: 1000, periodSeconds: 15}\n",
        "",
    );
    assert!(!manifests.contains("behavior"));
    let mut sim = Simulation::builder(&clock)
        .manifests(&manifests)
        .unwrap()
        .node_group(group)
        .queue(queue)
        .build()
        .unwrap();
    sim.run_for(Duration::from_secs(150)).await;
    let desired: Vec<f64> = sim
        .timeline()
        .unwrap()
        .values("ml-training.desired_replicas")
        .unwrap()
        .into_iter()
        .map(Option::unwrap)
        .collect();
    assert_eq!(
        desired,
        vec![
            4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 600.0, 600.0, 600.0
        ]
    );
}

#[tokio::test]
async fn a_capacity_ceiling_is_reported_every_tick_until_capacity_returns() {
    let clock = SimClock::new(start());
    let burst_at = start() + secs(60);
    let group = FakeNodeGroup::builder("ml-training")
        .launch_delay(LAUNCH_DELAY)
        .capacity(300)
        .build(&clock);
    let queue = FakeQueue::builder("ml-training-queue")
        .burst(burst_at, TASKS)
        .build(&clock); // nobody works: the demand stays
    let back_at = burst_at + secs(300);
    let mut sim = Simulation::builder(&clock)
        .manifests(&alice_manifests(1000))
        .unwrap()
        .node_group(group.clone())
        .queue(queue)
        .on_step(move |ctx| {
            if ctx.now == back_at {
                ctx.node_groups[0].set_capacity(None);
            }
        })
        .build()
        .unwrap();
    let mut capacity_errors = 0;
    while sim.clock().now() < back_at + secs(120) {
        let report = sim.step().await;
        let now = report.now;
        let short = report.errors.iter().any(|e| {
            e.object_kind() == "ScalableNodeGroup"
                && e.provider_kind() == Some(ProviderErrorKind::InsufficientCapacity)
                && e.to_string().contains("insufficient capacity")
        });
        if now >= burst_at && now < back_at {
            assert!(short, "not reported at {now}");
            capacity_errors += 1;
            assert!(group.desired() <= 300);
        }
    }
    assert_eq!(capacity_errors, 20);
    assert_eq!(
        group.ready(),
        600,
        "the kept intent was applied once capacity returned"
    );
    let status = sim
        .runner()
        .node_group("default", "ml-training")
        .unwrap()
        .status
        .clone()
        .unwrap();
    assert_eq!(status.last_error, None);
}
