//! Keep a node group at 60% reserved cpu and memory as demand grows and
//! shrinks through a day.
//!
//! This is Bob from the design: he runs web services on 16-cpu / 20 GiB
//! nodes and wants headroom for spikes: the pods' requests should fill about
//! 60% of the nodes' cpu and memory. A `reservedCapacity` MetricsProducer
//! measures what the pods reserve; the HorizontalAutoscaler has one
//! `Utilization` metric for cpu and one for memory, and the larger
//! recommendation wins. Pods of 1 cpu / 1 GiB follow a daily curve from 50
//! at midnight to 500 at noon, and a flash sale adds 500 more from 13:00 to
//! 13:45 — more than the 40% headroom holds, so some pods wait for nodes.
//!
//! ```text
//! cargo run -p karpenter-examples --example reserved_capacity [-- --out DIR]
//! ```
//!
//! What to look for: cpu utilization hovers around the 60% line (memory sits
//! lower, at ~48%, so cpu decides); the node count follows demand up within
//! a tick or two and follows it down after the 300 s stabilization window;
//! during the flash sale pods are pending until the new nodes are ready.

use std::f64::consts::PI;
use std::time::{Duration, Instant};

use karpenter_core::cluster::Resources;
use karpenter_examples::{output_dir, print_summary, utc, write_outputs};
use karpenter_fake::{FakeCluster, FakeNodeGroup, NodeTemplate, SimClock, Simulation};

const MANIFESTS: &str = r#"
apiVersion: autoscaling.karpenter.sh/v1alpha1
kind: ScalableNodeGroup
metadata:
  name: web
spec:
  type: FakeNodeGroup
  id: web
  replicas: 6
---
apiVersion: autoscaling.karpenter.sh/v1alpha1
kind: MetricsProducer
metadata:
  name: web-capacity
spec:
  reservedCapacity:
    nodeSelector:
      karpenter.sh/node-group: web
---
apiVersion: autoscaling.karpenter.sh/v1alpha1
kind: HorizontalAutoscaler
metadata:
  name: web
spec:
  scaleTargetRef:
    apiVersion: autoscaling.karpenter.sh/v1alpha1
    kind: ScalableNodeGroup
    name: web
  minReplicas: 3
  maxReplicas: 100
  metrics:
  - prometheus:
      query: karpenter_reserved_capacity_cpu_utilization{name="web-capacity"}
      target:
        type: Utilization
        value: 60
  - prometheus:
      query: karpenter_reserved_capacity_memory_utilization{name="web-capacity"}
      target:
        type: Utilization
        value: 60
"#;

const GIB: i64 = 1 << 30;

/// Pods wanted `hours` after midnight: 50 at midnight, 500 at noon, and 500
/// more during the 13:00-13:45 flash sale.
fn demand(hours: f64) -> usize {
    let sale = if (13.0..13.75).contains(&hours) {
        500.0
    } else {
        0.0
    };
    let pods = 50.0 + 450.0 * (1.0 - (2.0 * PI * hours / 24.0).cos()) / 2.0 + sale;
    // Non-negative and far below usize::MAX.
    pods.round() as usize
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = output_dir()?;
    let wall = Instant::now();

    let start = utc(2026, 3, 3, 0, 0)?;
    let clock = SimClock::new(start);
    let group = FakeNodeGroup::builder("web")
        .replicas(6)
        .launch_delay(Duration::from_secs(90))
        .termination_delay(Duration::from_secs(60))
        .build(&clock);
    let cluster = FakeCluster::new(&clock);
    cluster.add_node_group(
        &group,
        NodeTemplate::new(Resources::new(16_000, 20 * GIB, 110))
            .label("karpenter.sh/node-group", "web"),
    );

    let mut sim = Simulation::builder(&clock)
        .seed(7)
        .manifests(MANIFESTS)?
        .node_group(group)
        .cluster(cluster)
        .on_step(|ctx| {
            if let Some(cluster) = ctx.cluster {
                let pods = demand(ctx.elapsed.as_secs_f64() / 3600.0);
                cluster.scale_workload("default", "web", pods, Resources::new(1000, GIB, 1));
            }
        })
        .build()?;
    let report = sim.run_for(Duration::from_secs(24 * 3600)).await;

    let outputs = write_outputs(
        &sim,
        &out,
        "reserved_capacity",
        "Bob: 60% cpu and memory reservation on 16-cpu / 20 GiB nodes through a day",
    )?;
    println!(
        "Bob's web nodes: pods of 1 cpu / 1 GiB, 50 at midnight to 500 at noon, +500 from 13:00 to 13:45; target 60% reserved."
    );
    print_summary(&report, &outputs, wall.elapsed());
    Ok(())
}
