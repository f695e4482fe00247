//! Scale three node groups up for the pods the scheduler cannot place, and
//! down again when their reservation is low.
//!
//! Carol runs a mixed cluster: `general` nodes (4 cpu / 16 GiB, zone
//! us-east-1a), `highmem` nodes (8 cpu / 64 GiB, us-east-1b) and `gpu`
//! nodes (8 cpu / 32 GiB, tainted `nvidia.com/gpu:NoSchedule`), which
//! start at zero: their shape comes from the provider's node template.
//! Every group has a `pendingCapacity` producer and a `reservedCapacity`
//! producer; its HorizontalAutoscaler scales **up only** on the pending
//! producer's desired size (`AverageValue` 1) and **down only** on reserved
//! cpu below 60%. A `kube-proxy` DaemonSet runs on every node and a device
//! plugin on GPU nodes; new nodes are sized after them.
//!
//! Over four simulated hours:
//! - 0:00 `web` (1 cpu / 2 GiB, no constraints): 12 replicas; they fit
//!   general and highmem, least waste picks the group;
//! - 0:10 `analytics` (2 cpu / 24 GiB, `nodeSelector: {memory: high}`);
//! - 0:20 `train` (6 cpu / 24 GiB, tolerates the GPU taint, selects
//!   `accelerator`): the gpu group scales from zero;
//! - 0:30 `zonal-api` (500m / 1 GiB, required affinity `zone In
//!   [us-east-1a]`): general, the only untainted group in that zone;
//! - 0:30 `giant` (16 cpu / 128 GiB): fits no group; the producers' status
//!   says why, per group;
//! - 1:30 analytics and training end, 2:30 web drops to 4: the groups
//!   scale down on low reservation, gpu back to zero.
//!
//! ```text
//! cargo run -p karpenter-examples --example pending_pods [-- --out DIR]
//! ```
//!
//! What to look for: each group grows within a tick or two of its pods
//! turning pending and never adds nodes twice for the same pods while the
//! first ones boot (nodes asked for but not ready absorb pods first); the
//! gpu group goes 0 → 4 → 0; `giant` stays pending and is explained.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use karpenter_core::cluster::{
    DaemonSet, NodeSelector, NodeSelectorOperator, NodeSelectorRequirement, NodeSelectorTerm, Pod,
    Resources, Taint, TaintEffect, Toleration,
};
use karpenter_examples::{output_dir, print_summary, utc, write_outputs};
use karpenter_fake::{FakeCluster, FakeNodeGroup, NodeTemplate, SimClock, Simulation, pending_pod};

const GIB: i64 = 1 << 30;
const MIB: i64 = 1 << 20;
const GROUP: &str = "karpenter.sh/node-group";
const ZONE: &str = "topology.kubernetes.io/zone";

/// One ScalableNodeGroup, its two producers and its autoscaler.
fn manifests(group: &str, min: i32) -> String {
    format!(
        r#"
apiVersion: autoscaling.karpenter.sh/v1alpha1
kind: ScalableNodeGroup
metadata: {{name: {group}}}
spec: {{type: FakeNodeGroup, id: {group}}}
---
apiVersion: autoscaling.karpenter.sh/v1alpha1
kind: MetricsProducer
metadata: {{name: {group}-pending}}
spec:
  pendingCapacity:
    nodeSelector: {{{GROUP}: {group}}}
    scalableNodeGroupRef: {{name: {group}}}
---
apiVersion: autoscaling.karpenter.sh/v1alpha1
kind: MetricsProducer
metadata: {{name: {group}-reserved}}
spec:
  reservedCapacity:
    nodeSelector: {{{GROUP}: {group}}}
---
apiVersion: autoscaling.karpenter.sh/v1alpha1
kind: HorizontalAutoscaler
metadata: {{name: {group}}}
spec:
  scaleTargetRef: {{kind: ScalableNodeGroup, name: {group}}}
  minReplicas: {min}
  maxReplicas: 20
  metrics:
  - prometheus:
      query: karpenter_pending_capacity_desired_nodes{{name="{group}-pending"}}
      target: {{type: AverageValue, value: 1}}
    role: ScaleUpOnly
  - prometheus:
      query: karpenter_reserved_capacity_cpu_utilization{{name="{group}-reserved"}}
      target: {{type: Utilization, value: 60}}
    role: ScaleDownOnly
  behavior:
    scaleUp: {{tolerance: 0}}
"#
    )
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn gpu_toleration() -> Toleration {
    Toleration {
        key: Some("nvidia.com/gpu".to_string()),
        exists: true,
        value: String::new(),
        effect: Some(TaintEffect::NoSchedule),
    }
}

/// The pod templates of the workloads.
struct Workloads {
    web: Pod,
    analytics: Pod,
    train: Pod,
    zonal: Pod,
    giant: Pod,
}

fn workloads() -> Workloads {
    let pod = |name: &str, cpu: i64, memory: i64| {
        pending_pod("default", name, Resources::new(cpu, memory, 1))
    };
    let mut analytics = pod("analytics", 2_000, 24 * GIB);
    analytics.node_selector = labels(&[("memory", "high")]);
    let mut train = pod("train", 6_000, 24 * GIB);
    train.node_selector = labels(&[("accelerator", "nvidia-a10g")]);
    train.tolerations = vec![gpu_toleration()];
    let mut zonal = pod("zonal-api", 500, GIB);
    zonal.required_node_affinity = Some(NodeSelector {
        terms: vec![NodeSelectorTerm {
            match_expressions: vec![NodeSelectorRequirement {
                key: ZONE.to_string(),
                operator: NodeSelectorOperator::In,
                values: vec!["us-east-1a".to_string()],
            }],
            match_fields: vec![],
        }],
    });
    Workloads {
        web: pod("web", 1_000, 2 * GIB),
        analytics,
        train,
        zonal,
        giant: pod("giant", 16_000, 128 * GIB),
    }
}

/// Replicas of each workload `minutes` after the start.
fn demand(minutes: u64) -> [(&'static str, usize); 5] {
    let at = |from: u64, to: u64, n: usize| if (from..to).contains(&minutes) { n } else { 0 };
    [
        ("web", if minutes < 150 { 12 } else { 4 }),
        ("analytics", at(10, 90, 6)),
        ("train", at(20, 90, 4)),
        ("zonal-api", at(30, u64::MAX, 8)),
        ("giant", at(30, u64::MAX, 1)),
    ]
}

/// Prints each pending producer's status values.
fn print_pending(sim: &Simulation, when: &str) {
    println!("\n{when}:");
    for group in ["general", "gpu", "highmem"] {
        let name = format!("{group}-pending");
        let Some(status) = sim
            .runner()
            .producer("default", &name)
            .and_then(|p| p.status.as_ref())
        else {
            continue;
        };
        println!("  {name}:");
        for key in ["template", "pods", "nodes", "unschedulablePods"] {
            if let Some(v) = status.values.get(key) {
                println!("    {key}: {v}");
            }
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = output_dir()?;
    let wall = Instant::now();

    let start = utc(2026, 3, 4, 8, 0)?;
    let clock = SimClock::new(start);
    let general_t = NodeTemplate::new(Resources::new(4_000, 16 * GIB, 110))
        .label(GROUP, "general")
        .label(ZONE, "us-east-1a");
    let highmem_t = NodeTemplate::new(Resources::new(8_000, 64 * GIB, 110))
        .label(GROUP, "highmem")
        .label(ZONE, "us-east-1b")
        .label("memory", "high");
    let gpu_t = NodeTemplate::new(Resources::new(8_000, 32 * GIB, 110))
        .label(GROUP, "gpu")
        .label(ZONE, "us-east-1a")
        .label("accelerator", "nvidia-a10g")
        .taint(Taint {
            key: "nvidia.com/gpu".to_string(),
            value: String::new(),
            effect: TaintEffect::NoSchedule,
        });
    let group = |id: &str, replicas: i32, template: &NodeTemplate| {
        FakeNodeGroup::builder(id)
            .replicas(replicas)
            .launch_delay(Duration::from_secs(120))
            .launch_jitter(Duration::from_secs(30))
            .termination_delay(Duration::from_secs(60))
            .template(template.clone())
            .build(&clock)
    };
    let general = group("general", 2, &general_t);
    let highmem = group("highmem", 1, &highmem_t);
    let gpu = group("gpu", 0, &gpu_t);

    let cluster = FakeCluster::new(&clock);
    cluster.add_node_group(&general, general_t);
    cluster.add_node_group(&highmem, highmem_t);
    cluster.add_node_group(&gpu, gpu_t);
    cluster.add_daemon_set(DaemonSet {
        namespace: "kube-system".to_string(),
        name: "kube-proxy".to_string(),
        requests: Resources::new(100, 128 * MIB, 1),
        tolerations: vec![Toleration {
            key: None,
            exists: true,
            value: String::new(),
            effect: None,
        }],
        ..DaemonSet::default()
    });
    cluster.add_daemon_set(DaemonSet {
        namespace: "kube-system".to_string(),
        name: "nvidia-device-plugin".to_string(),
        requests: Resources::new(50, 64 * MIB, 1),
        node_selector: labels(&[("accelerator", "nvidia-a10g")]),
        tolerations: vec![gpu_toleration()],
        ..DaemonSet::default()
    });

    let pods = workloads();
    let mut builder = Simulation::builder(&clock).seed(11);
    for (name, min) in [("general", 1), ("highmem", 0), ("gpu", 0)] {
        builder = builder.manifests(&manifests(name, min))?;
    }
    let mut sim = builder
        .node_group(general)
        .node_group(highmem)
        .node_group(gpu)
        .cluster(cluster)
        .on_step(move |ctx| {
            let Some(cluster) = ctx.cluster else { return };
            for (name, replicas) in demand(ctx.elapsed.as_secs() / 60) {
                let template = match name {
                    "web" => &pods.web,
                    "analytics" => &pods.analytics,
                    "train" => &pods.train,
                    "zonal-api" => &pods.zonal,
                    _ => &pods.giant,
                };
                cluster.scale_workload_like("default", name, replicas, template);
            }
        })
        .build()?;

    println!(
        "Carol's cluster: general (4 cpu / 16 GiB), highmem (8 cpu / 64 GiB), gpu (8 cpu / 32 GiB, tainted, from zero)."
    );
    // Steps run at 0:00, 0:00:15, ... up to and including the end given.
    sim.run_for(Duration::from_secs(20 * 60 + 15)).await;
    print_pending(
        &sim,
        "At 0:20:15, one tick after the training pods turned pending: 4 GPU nodes asked for, booting, holding them",
    );
    sim.run_for(Duration::from_secs(19 * 60 + 30)).await;
    print_pending(&sim, "At 0:40, every workload placed but `giant`");
    let report = sim.run_for(Duration::from_secs(200 * 60)).await;

    let outputs = write_outputs(
        &sim,
        &out,
        "pending_pods",
        "Carol: three node groups scaled up on pending pods and down on low reservation",
    )?;
    println!();
    println!(
        "Errors below are the gpu group's reserved-utilization metric, which has no sample while the group has no node: reported, and never a reason to scale down."
    );
    print_summary(&report, &outputs, wall.elapsed());
    Ok(())
}
