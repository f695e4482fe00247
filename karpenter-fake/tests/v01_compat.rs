//! Karpenter v0.1 compatibility: the v0.1 "scaling with a queue" manifests,
//! which omit `minReplicas` (a plain int32 with no default in v0.1, so 0),
//! scale the group from zero up through a burst of messages and back down
//! to zero. With the Kubernetes HPA default of 1 the group would stay
//! paused at zero (current 0 with minReplicas 1 is `ScalingDisabled`).

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on purpose.

use std::time::Duration;

use chrono::{TimeZone, Utc};
use karpenter_fake::{FakeNodeGroup, FakeQueue, SimClock, Simulation};

/// The v0.1 example as written for v0.1 (scaleTargetRef with apiVersion,
/// target `value` for an AverageValue, no `minReplicas`, no `behavior`),
/// with the fake provider's types in place of AWSEKSNodeGroup and
/// AWSSQSQueue.
const V01_QUEUE_MANIFESTS: &str = r#"
apiVersion: autoscaling.karpenter.sh/v1alpha1
kind: ScalableNodeGroup
metadata:
  name: ml-training-capacity
  namespace: default
spec:
  type: FakeNodeGroup
  id: ml-training-capacity
---
apiVersion: autoscaling.karpenter.sh/v1alpha1
kind: MetricsProducer
metadata:
  name: ml-training-queue
  namespace: default
spec:
  queue:
    type: FakeQueue
    id: ml-training-queue
---
apiVersion: autoscaling.karpenter.sh/v1alpha1
kind: HorizontalAutoscaler
metadata:
  name: ml-training-capacity
  namespace: default
spec:
  scaleTargetRef:
    apiVersion: autoscaling.karpenter.sh/v1alpha1
    kind: ScalableNodeGroup
    name: ml-training-capacity
  maxReplicas: 1000
  metrics:
    - prometheus:
        query: karpenter_queue_length{name="ml-training-queue"}
        target:
          type: AverageValue
          value: 4
"#;

#[tokio::test]
async fn a_v01_queue_autoscaler_without_min_replicas_scales_from_zero_and_back() {
    assert!(!V01_QUEUE_MANIFESTS.contains("minReplicas"));
    let start = Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap();
    let clock = SimClock::new(start);
    let group = FakeNodeGroup::builder("ml-training-capacity")
        .launch_delay(Duration::from_secs(60))
        .build(&clock);
    let queue = FakeQueue::builder("ml-training-queue")
        .burst(start + chrono::Duration::minutes(2), 400)
        .consumers(&group, 1.0 / 20.0) // a node finishes a message every 20 s
        .build(&clock);
    let mut sim = Simulation::builder(&clock)
        .seed(7)
        .manifests(V01_QUEUE_MANIFESTS)
        .unwrap()
        .node_group(group)
        .queue(queue)
        .build()
        .unwrap();
    let report = sim.run_for(Duration::from_secs(45 * 60)).await;

    assert_eq!(report.errors, 0, "{:?}", report.first_errors);
    let g = &report.node_groups[0];
    // Up from zero: one node per 4 messages, 400 messages → 100 nodes.
    assert_eq!(g.peak_desired, 100, "{report}");
    assert!(g.peak_ready > 0, "{report}");
    // Every message handled, and the group back at zero.
    let q = &report.queues[0];
    assert_eq!(
        (q.arrived, q.processed, q.final_length),
        (400, 400, 0),
        "{report}"
    );
    assert_eq!((g.final_desired, g.final_ready), (0, 0), "{report}");
}
