//! The pending-capacity recipe through the whole loop: a node group scales
//! from zero to exactly the nodes its pending pods need (nodes still
//! booting hold the pods, so nothing is added twice), and back to zero on
//! low reservation.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on purpose.

use std::time::Duration;

use chrono::{TimeZone, Utc};
use karpenter_core::cluster::Resources;
use karpenter_fake::{FakeCluster, FakeNodeGroup, NodeTemplate, SimClock, Simulation};

const GIB: i64 = 1 << 30;

const MANIFESTS: &str = r#"
kind: ScalableNodeGroup
metadata: {name: batch}
spec: {type: FakeNodeGroup, id: batch}
---
kind: MetricsProducer
metadata: {name: batch-pending}
spec:
  pendingCapacity:
    nodeSelector: {group: batch}
    scalableNodeGroupRef: {name: batch}
---
kind: MetricsProducer
metadata: {name: batch-reserved}
spec:
  reservedCapacity:
    nodeSelector: {group: batch}
---
kind: HorizontalAutoscaler
metadata: {name: batch}
spec:
  scaleTargetRef: {kind: ScalableNodeGroup, name: batch}
  minReplicas: 0
  maxReplicas: 50
  metrics:
  - prometheus:
      query: karpenter_pending_capacity_desired_nodes{name="batch-pending"}
      target: {type: AverageValue, value: 1}
    role: ScaleUpOnly
  - prometheus:
      query: karpenter_reserved_capacity_cpu_utilization{name="batch-reserved"}
      target: {type: Utilization, value: 60}
    role: ScaleDownOnly
  behavior:
    scaleUp: {tolerance: 0}
"#;

/// The batch group (8-cpu nodes, launching in `launch_delay`), its cluster,
/// and a simulation of `manifests` in which `pods(elapsed)` 3-cpu pods
/// (two per node) are wanted.
fn batch(
    manifests: &str,
    launch_delay: Duration,
    pods: fn(Duration) -> usize,
) -> (FakeNodeGroup, FakeCluster, Simulation) {
    let start = Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap();
    let clock = SimClock::new(start);
    let template = NodeTemplate::new(Resources::new(8_000, 32 * GIB, 110)).label("group", "batch");
    let group = FakeNodeGroup::builder("batch")
        .launch_delay(launch_delay)
        .template(template.clone())
        .build(&clock);
    let cluster = FakeCluster::new(&clock);
    cluster.add_node_group(&group, template);
    let sim = Simulation::builder(&clock)
        .manifests(manifests)
        .unwrap()
        .node_group(group.clone())
        .cluster(cluster.clone())
        .on_step(move |ctx| {
            if let Some(c) = ctx.cluster {
                let wanted = pods(ctx.elapsed);
                c.scale_workload("default", "job", wanted, Resources::new(3_000, 4 * GIB, 1));
            }
        })
        .build()
        .unwrap();
    (group, cluster, sim)
}

#[tokio::test]
async fn scales_from_zero_to_exactly_what_pending_pods_need_and_back() {
    // Five 3-cpu pods for 20 minutes: two per 8-cpu node, 3 nodes.
    let (group, cluster, mut sim) = batch(MANIFESTS, Duration::from_secs(180), |elapsed| {
        if elapsed < Duration::from_secs(20 * 60) {
            5
        } else {
            0
        }
    });

    // First tick: the pods are pending, the template comes from the
    // provider, and the group is asked for 3 nodes.
    sim.step().await;
    assert_eq!(group.desired(), 3);
    let status = sim
        .runner()
        .producer("default", "batch-pending")
        .unwrap()
        .status
        .clone()
        .unwrap();
    assert_eq!(
        status.values["template"],
        "provider (ScalableNodeGroup batch)"
    );
    assert_eq!(
        status.values["nodes"],
        "registered 0, upcoming 0, new 3, desired 3"
    );

    // While the nodes boot (3 minutes), they hold the pods: no more nodes.
    let report = sim.run_for(Duration::from_secs(150)).await;
    assert_eq!(report.node_groups[0].peak_desired, 3);
    assert_eq!(cluster.pending_pods(), 5);
    let status = sim
        .runner()
        .producer("default", "batch-pending")
        .unwrap()
        .status
        .clone()
        .unwrap();
    assert_eq!(
        status.values["nodes"],
        "registered 0, upcoming 3, new 0, desired 3"
    );
    assert_eq!(status.values["pods"], "5 (5 on upcoming nodes)");

    // Ready: every pod runs, still 3 nodes.
    sim.run_for(Duration::from_secs(60)).await;
    assert_eq!(cluster.pending_pods(), 0);
    assert_eq!(group.ready(), 3);

    // The pods end at 20 minutes; reservation 0% scales the group to zero
    // after the 5-minute scale-down window.
    let report = sim.run_for(Duration::from_secs(30 * 60)).await;
    assert_eq!(report.node_groups[0].peak_desired, 3);
    assert_eq!(report.node_groups[0].final_desired, 0);
}

/// A group of 14 nodes whose pods grow from 28 to 30 (two 3-cpu pods per
/// 8-cpu node): the recipe must add the 15th node. The default scale-up
/// tolerance (0.1) would hold it: 15 desired / 14 ready is a usage ratio of
/// 1.07, "no change". With `scaleUp.tolerance: 0` it is added.
async fn one_more_node_at_fourteen(manifests: &str) -> (i32, usize) {
    let (group, cluster, mut sim) = batch(manifests, Duration::from_secs(60), |elapsed| {
        if elapsed < Duration::from_secs(10 * 60) {
            28
        } else {
            30
        }
    });
    sim.run_for(Duration::from_secs(9 * 60)).await;
    assert_eq!((group.desired(), group.ready()), (14, 14));
    assert_eq!(cluster.pending_pods(), 0);
    sim.run_for(Duration::from_secs(5 * 60)).await;
    (group.desired(), cluster.pending_pods())
}

#[tokio::test]
async fn the_recipe_adds_one_node_to_a_large_group() {
    assert_eq!(one_more_node_at_fourteen(MANIFESTS).await, (15, 0));
}

#[tokio::test]
async fn without_a_zero_scale_up_tolerance_the_last_node_is_never_added() {
    let default_tolerance = MANIFESTS.replace("  behavior:\n    scaleUp: {tolerance: 0}\n", "");
    assert_ne!(default_tolerance, MANIFESTS);
    // Two pods stay pending on a group that is one node short.
    assert_eq!(one_more_node_at_fourteen(&default_tolerance).await, (14, 2));
}

#[test]
fn the_fake_scheduler_honours_daemon_sets_affinity_and_taints() {
    use karpenter_core::cluster::{
        DaemonSet, NodeSelector, NodeSelectorOperator, NodeSelectorRequirement, NodeSelectorTerm,
        Taint, TaintEffect,
    };
    use karpenter_fake::pending_pod;

    let clock = SimClock::new(Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap());
    let plain = FakeNodeGroup::builder("plain").replicas(1).build(&clock);
    let tainted = FakeNodeGroup::builder("tainted").replicas(1).build(&clock);
    let cluster = FakeCluster::new(&clock);
    cluster.add_node_group(
        &plain,
        NodeTemplate::new(Resources::new(4_000, 8 * GIB, 110)).label("zone", "a"),
    );
    cluster.add_node_group(
        &tainted,
        NodeTemplate::new(Resources::new(4_000, 8 * GIB, 110))
            .label("zone", "b")
            .taint(Taint {
                key: "dedicated".to_string(),
                value: String::new(),
                effect: TaintEffect::NoSchedule,
            }),
    );
    // 1 cpu set aside on every untainted node.
    cluster.add_daemon_set(DaemonSet {
        name: "agent".to_string(),
        requests: Resources::new(1_000, GIB, 1),
        ..DaemonSet::default()
    });
    // Three 1-cpu pods fit the plain node after the DaemonSet; a fourth
    // does not, and the tainted node is not tolerated.
    cluster.scale_workload("default", "web", 4, Resources::new(1_000, GIB, 1));
    let mut zonal = pending_pod("default", "zonal", Resources::new(100, GIB, 1));
    zonal.required_node_affinity = Some(NodeSelector {
        terms: vec![NodeSelectorTerm {
            match_expressions: vec![NodeSelectorRequirement {
                key: "zone".to_string(),
                operator: NodeSelectorOperator::In,
                values: vec!["b".to_string()],
            }],
            match_fields: vec![],
        }],
    });
    cluster.add_pod(zonal);
    let outcome = cluster.schedule();
    assert_eq!((outcome.bound, outcome.unschedulable), (3, 2));
    assert_eq!(cluster.snapshot_now().daemon_sets.len(), 1);
}
