//! Scale a node group from zero on a queue, and back to zero when it drains.
//!
//! This is Alice from the design: her ML training jobs arrive in bursts as
//! messages in a queue. 2,400 tasks land at once; she wants one node per 4
//! waiting messages, from 0 to 1,000 nodes. Nodes take 60 s to become ready
//! and each works off one task every 2 minutes.
//!
//! ```text
//! cargo run -p karpenter-examples --example queue_autoscaling [-- --out DIR]
//! ```
//!
//! What to look for in the chart: the group jumps to 600 desired at the
//! first tick after the burst, 600 nodes are ready 60 s later, the queue
//! drains, and the group follows it down to zero — each step down held back
//! by the 300 s scale-down stabilization window.

use std::time::{Duration, Instant};

use karpenter_examples::{output_dir, print_summary, utc, write_outputs};
use karpenter_fake::{FakeNodeGroup, FakeQueue, SimClock, Simulation, human_duration};

/// Alice's objects, as she would `kubectl apply` them. The node group and
/// queue types name the in-memory fakes; on AWS they would be
/// `AWSEKSNodeGroup` and `AWSSQSQueue` with ARNs.
const MANIFESTS: &str = r#"
apiVersion: autoscaling.karpenter.sh/v1alpha1
kind: ScalableNodeGroup
metadata:
  name: ml-training
  namespace: default
spec:
  type: FakeNodeGroup
  id: ml-training
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
  name: ml-training
  namespace: default
spec:
  scaleTargetRef:
    apiVersion: autoscaling.karpenter.sh/v1alpha1
    kind: ScalableNodeGroup
    name: ml-training
  minReplicas: 0
  maxReplicas: 1000
  metrics:
  - prometheus:
      query: karpenter_queue_length{name="ml-training-queue"}
      target:
        type: AverageValue
        value: 4
  # The HPA default scale-up policy adds max(4 nodes, 100%) per 15 s: from
  # zero that is 4, 8, 16, ... and 600 nodes only after 2 minutes of
  # doubling. Alice wants the whole burst served at once, so she allows up
  # to +900% or +1000 nodes per 15 s. Scale-down keeps the default: a 300 s
  # stabilization window, then up to 100% per 15 s.
  behavior:
    scaleUp:
      policies:
      - type: Percent
        value: 900
        periodSeconds: 15
      - type: Count
        value: 1000
        periodSeconds: 15
"#;

const TASKS: u64 = 2_400;
const LAUNCH_DELAY: Duration = Duration::from_secs(60);
/// Each node finishes one task every 2 minutes.
const TASKS_PER_NODE_PER_SECOND: f64 = 1.0 / 120.0;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = output_dir()?;
    let wall = Instant::now();

    let start = utc(2026, 3, 2, 9, 0)?;
    let burst_at = start + chrono::Duration::minutes(2);
    let clock = SimClock::new(start);
    let group = FakeNodeGroup::builder("ml-training")
        .launch_delay(LAUNCH_DELAY)
        .termination_delay(Duration::from_secs(30))
        .bounds(0, 1000)
        .build(&clock);
    let queue = FakeQueue::builder("ml-training-queue")
        .burst(burst_at, TASKS)
        .consumers(&group, TASKS_PER_NODE_PER_SECOND)
        .build(&clock);

    let mut sim = Simulation::builder(&clock)
        .seed(42)
        .manifests(MANIFESTS)?
        .node_group(group)
        .queue(queue)
        .build()?;
    let report = sim.run_for(Duration::from_secs(30 * 60)).await;

    let outputs = write_outputs(
        &sim,
        &out,
        "queue_autoscaling",
        "Alice: 2,400 queued tasks, one node per 4 messages (AverageValue 4), 0..1000 nodes",
    )?;
    println!(
        "Alice's queue: {TASKS} tasks land at {burst_at}; one node per 4 messages; nodes ready after 60 s."
    );
    // How long after the burst were 95% of the 600 needed nodes ready?
    let needed = (TASKS / 4) as f64;
    if let Some(timeline) = sim.timeline() {
        let ready = timeline
            .values("ml-training.ready_replicas")
            .unwrap_or_default();
        let reached = timeline
            .rows()
            .iter()
            .zip(ready)
            .find(|(row, v)| row.time >= burst_at && v.unwrap_or(0.0) >= 0.95 * needed);
        if let Some((row, _)) = reached {
            let after = (row.time - burst_at).to_std().unwrap_or_default();
            println!(
                "95% of the {needed} needed nodes were ready {} after the burst",
                human_duration(after)
            );
        }
    }
    print_summary(&report, &outputs, wall.elapsed());
    Ok(())
}
