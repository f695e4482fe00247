//! Inputs shared by the criterion benches in `benches/benches/`.
//!
//! Run them with `cargo bench -p karpenter-benches`; the figures and the
//! machine they were taken on are in `BENCHMARKS.md`.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, TimeZone, Utc};
use karpenter_core::api::v1alpha1::{
    HorizontalAutoscalerSpec, Recommendation, ScaleEvent, ScalingHistory,
};
use karpenter_core::api::v1alpha1::{PendingCapacitySpec, ScalableNodeGroupRef};
use karpenter_core::autoscaler::{Observation, TargetState};
use karpenter_core::cluster::{
    ClusterSnapshot, Container, DaemonSet, InitContainer, Node, NodeSelector, NodeSelectorOperator,
    NodeSelectorRequirement, NodeSelectorTerm, Pod, PodPhase, Resources, Taint, TaintEffect,
    Toleration, UnevaluatedConstraints,
};
use karpenter_core::producers::pending_capacity::{NodeGroupLink, PendingCapacityInput};
use karpenter_core::provider::NodeTemplate;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The instant every bench decides at.
pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0)
        .single()
        .unwrap_or_default()
}

/// One autoscaler's inputs.
#[derive(Debug, Clone)]
pub struct BenchCase {
    /// The spec: two metrics, default behavior.
    pub spec: HorizontalAutoscalerSpec,
    /// The target's replicas.
    pub target: TargetState,
    /// One observation per metric.
    pub observations: Vec<Observation>,
    /// A full 300 s history at a 15 s sync.
    pub history: ScalingHistory,
}

/// A case with two metrics (queue length as AverageValue, cpu as
/// Utilization), default behavior, and a full 300 s history at a 15 s sync
/// (20 recommendations, a few scale events). `seed` varies the numbers.
pub fn case(seed: u32) -> BenchCase {
    let spec = serde_json::json!({
        "scaleTargetRef": {"kind": "ScalableNodeGroup", "name": format!("ng-{seed}")},
        "minReplicas": 0,
        "maxReplicas": 1000,
        "metrics": [
            {"prometheus": {"query": format!("karpenter_queue_length{{name=\"q-{seed}\"}}"),
                            "target": {"type": "AverageValue", "value": 4}}},
            {"prometheus": {"query": format!("karpenter_reserved_capacity_cpu_utilization{{name=\"ng-{seed}\"}}"),
                            "target": {"type": "Utilization", "value": 60}}}
        ]
    });
    let spec: HorizontalAutoscalerSpec = serde_json::from_value(spec).unwrap_or_else(|e| {
        // The JSON above is a constant; failing here is a bug in this file.
        panic!("bench spec does not parse: {e}")
    });
    let current = 20 + (seed % 50) as i32;
    let history = ScalingHistory {
        recommendations: (0..20)
            .map(|i| Recommendation {
                time: now() - Duration::seconds(15 * (20 - i)),
                replicas: current + ((seed + i as u32) % 7) as i32 - 3,
            })
            .collect(),
        scale_events: vec![
            ScaleEvent {
                time: now() - Duration::seconds(10),
                change: 2,
            },
            ScaleEvent {
                time: now() - Duration::seconds(5),
                change: -1,
            },
        ],
        algorithm_state: vec![],
        failed_reads: 0,
    };
    BenchCase {
        spec,
        target: TargetState {
            spec_replicas: current,
            status_replicas: current,
        },
        observations: vec![
            Observation::Value(f64::from(current * 4 + (seed % 40) as i32)),
            Observation::Value(0.45 + f64::from(seed % 30) / 100.0),
        ],
        history,
    }
}

const MIB: i64 = 1 << 20;
const GIB: i64 = 1 << 30;

/// Node shapes (allocatable cpu millis, memory bytes) and their weights.
const NODE_SHAPES: [((i64, i64), u32); 4] = [
    ((4_000, 16 * GIB), 3),
    ((8_000, 32 * GIB), 4),
    ((16_000, 64 * GIB), 2),
    ((32_000, 128 * GIB), 1),
];

/// Pod sizes (effective cpu millis, memory bytes) and their weights, in
/// percent: most pods are small, few are large, as in real clusters.
const POD_SIZES: [((i64, i64), u32); 7] = [
    ((100, 128 * MIB), 30),
    ((250, 512 * MIB), 25),
    ((500, GIB), 20),
    ((1_000, 2 * GIB), 12),
    ((2_000, 4 * GIB), 8),
    ((4_000, 16 * GIB), 4),
    ((8_000, 32 * GIB), 1),
];

/// Node groups: node label `group` is `g0` .. `g4`.
pub const GROUPS: usize = 5;

fn weighted<T: Copy + Default>(rng: &mut ChaCha8Rng, table: &[(T, u32)]) -> T {
    let total: u32 = table.iter().map(|(_, w)| w).sum();
    let mut pick = rng.random_range(0..total.max(1));
    let hit = table.iter().find(|&&(_, w)| {
        let inside = pick < w;
        pick = pick.saturating_sub(w);
        inside
    });
    // Only an empty table has no hit; the tables here are constants.
    hit.map(|&(v, _)| v).unwrap_or_default()
}

/// A seeded, reproducible cluster of `nodes` nodes and `pods` pods.
///
/// Distributions (the same `seed` gives the same snapshot):
/// - **nodes**: named `node-{i}`, five labels (`group` = `g{i % 5}`, zone
///   `a`/`b`/`c`, instance type, os, arch); allocatable by shape, weighted
///   4 cpu/16Gi 30%, 8/32Gi 40%, 16/64Gi 20%, 32/128Gi 10%, 110 pods; 5% not
///   Ready, 2% cordoned.
/// - **pod sizes** (the effective request), from 100m/128Mi to 8 cpu/32Gi,
///   weighted towards small: 100m/128Mi 30%, 250m/512Mi 25%, 500m/1Gi 20%,
///   1/2Gi 12%, 2/4Gi 8%, 4/16Gi 4%, 8/32Gi 1%.
/// - **containers**: two per pod, the app with 3/4 of the size and a helper
///   with the rest; 10% of pods also have an init container of half the
///   size (smaller than the apps, so the size stays the effective request).
/// - **phase and binding**: 90% Running on a uniformly random node, 3%
///   Pending and unbound, 7% Succeeded or Failed on a random node;
///   namespaces `ns-0` .. `ns-19`.
///
/// (Pods carry no labels: the snapshot's `Pod` has no labels field.)
pub fn cluster(seed: u64, nodes: usize, pods: usize) -> ClusterSnapshot {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let nodes: Vec<Node> = (0..nodes).map(|i| bench_node(&mut rng, i)).collect();
    let node_count = nodes.len();
    let pods = (0..pods)
        .map(|i| bench_pod(&mut rng, i, node_count))
        .collect();
    ClusterSnapshot {
        nodes,
        pods,
        daemon_sets: vec![],
    }
}

fn bench_node(rng: &mut ChaCha8Rng, i: usize) -> Node {
    let (cpu, memory) = weighted(rng, &NODE_SHAPES);
    let label = |k: &str, v: String| (k.to_string(), v);
    Node {
        name: format!("node-{i}"),
        labels: BTreeMap::from([
            label("group", format!("g{}", i % GROUPS)),
            label("topology.kubernetes.io/zone", format!("zone-{}", i % 3)),
            label(
                "node.kubernetes.io/instance-type",
                format!("m5.{}xlarge", cpu / 4_000),
            ),
            label("kubernetes.io/os", "linux".to_string()),
            label("kubernetes.io/arch", "amd64".to_string()),
        ]),
        allocatable: Resources::new(cpu, memory, 110),
        taints: vec![],
        ready: rng.random_range(0..100) >= 5,
        unschedulable: rng.random_range(0..100) < 2,
    }
}

fn bench_pod(rng: &mut ChaCha8Rng, i: usize, nodes: usize) -> Pod {
    let (cpu, memory) = weighted(rng, &POD_SIZES);
    let roll = rng.random_range(0..100);
    let phase = match roll {
        0..90 => PodPhase::Running,
        90..93 => PodPhase::Pending,
        93..97 => PodPhase::Succeeded,
        _ => PodPhase::Failed,
    };
    let node_name = (phase != PodPhase::Pending && nodes > 0)
        .then(|| format!("node-{}", rng.random_range(0..nodes)));
    let containers = vec![
        Container {
            name: "app".to_string(),
            requests: Resources::new(cpu * 3 / 4, memory * 3 / 4, 0),
        },
        Container {
            name: "helper".to_string(),
            requests: Resources::new(cpu - cpu * 3 / 4, memory - memory * 3 / 4, 0),
        },
    ];
    let init_containers = if rng.random_range(0..10) == 0 {
        vec![InitContainer {
            name: "init".to_string(),
            requests: Resources::new(cpu / 2, memory / 2, 0),
            sidecar: false,
        }]
    } else {
        vec![]
    };
    Pod {
        namespace: format!("ns-{}", i % 20),
        name: format!("pod-{i}"),
        node_name,
        phase,
        ..Pod::default()
    }
    .with_containers(containers, init_containers, Resources::default())
}

/// A schedule with 10 behaviors in `America/Los_Angeles`: business hours,
/// lunch and evening peaks, nightly batches across midnight, a weekend, one
/// that starts at 02:30 (inside the spring-forward gap of 8 March 2026), days
/// and weekdays together, and patterns with several hours and minutes.
pub fn schedule_spec_10_behaviors() -> karpenter_core::api::v1alpha1::ScheduleSpec {
    let weekdays = "Mon,Tue,Wed,Thu,Fri";
    let spec = serde_json::json!({
        "timezone": "America/Los_Angeles",
        "defaultReplicas": 2,
        "behaviors": [
            {"replicas": 40, "start": {"weekdays": weekdays, "hours": 12}, "end": {"weekdays": weekdays, "hours": 13}},
            {"replicas": 30, "start": {"hours": 2, "minutes": 30}, "end": {"hours": 3, "minutes": 30}},
            {"replicas": 25, "start": {"days": 1, "weekdays": "Mon", "hours": 7}, "end": {"days": 1, "weekdays": "Mon", "hours": 8}},
            {"replicas": 20, "start": {"weekdays": weekdays, "hours": 9}, "end": {"weekdays": weekdays, "hours": 17}},
            {"replicas": 15, "start": {"hours": "18,20", "minutes": "0,30"}, "end": {"hours": "19,21", "minutes": 15}},
            {"replicas": 12, "start": {"weekdays": "Sat", "hours": 10}, "end": {"weekdays": "Sun", "hours": 16}},
            {"replicas": 8, "start": {"hours": 23}, "end": {"hours": 5}},
            {"replicas": 6, "start": {"months": "Mar,Apr", "days": "5,10,15", "hours": 6}, "end": {"months": "Mar,Apr", "days": "6,11,16", "hours": 6}},
            {"replicas": 4, "start": {"weekdays": "Sun", "hours": 1, "minutes": "0,15,30,45"}, "end": {"weekdays": "Sun", "hours": 4}},
            {"replicas": 3, "start": {"months": 12, "days": 24}, "end": {"months": 12, "days": 27}}
        ]
    });
    serde_json::from_value(spec).unwrap_or_else(|e| {
        // The JSON above is a constant; failing here is a bug in this file.
        panic!("bench schedule does not parse: {e}")
    })
}

/// A week of 15 s ticks (40,320) from Thursday 5 March 2026 00:00 UTC,
/// across the Los Angeles spring-forward change of Sunday 8 March.
pub fn schedule_week_ticks() -> Vec<DateTime<Utc>> {
    let start = Utc
        .with_ymd_and_hms(2026, 3, 5, 0, 0, 0)
        .single()
        .unwrap_or_default();
    (0..7 * 24 * 60 * 4)
        .map(|i| start + Duration::seconds(15 * i))
        .collect()
}

/// Node groups and pending pods for the pending-capacity benches.
#[derive(Debug, Clone)]
pub struct PendingCase {
    /// The groups' Ready nodes and the pending pods (and one DaemonSet).
    pub snapshot: ClusterSnapshot,
    /// One `pendingCapacity` spec per group (`nodeSelector: {group: gN}`).
    pub specs: Vec<PendingCapacitySpec>,
    /// Per group: what its provider says (desired size, template).
    pub links: Vec<NodeGroupLink>,
}

impl PendingCase {
    /// The joint assignment's inputs, producer `gN-pending` per group.
    pub fn inputs(&self) -> Vec<PendingCapacityInput<'_>> {
        self.specs
            .iter()
            .zip(&self.links)
            .enumerate()
            .map(|(i, (spec, link))| {
                PendingCapacityInput::new("default", &format!("g{i}-pending"), spec, link.clone())
            })
            .collect()
    }
}

/// Instance shapes of the groups (cpu millis, memory bytes, type name) and
/// their weights: general purpose, memory- and compute-optimised, small to
/// large.
const INSTANCE_TYPES: [((i64, i64, &str), u32); 8] = [
    ((4_000, 16 * GIB, "m5.xlarge"), 3),
    ((8_000, 32 * GIB, "m5.2xlarge"), 4),
    ((16_000, 64 * GIB, "m5.4xlarge"), 3),
    ((32_000, 128 * GIB, "m5.8xlarge"), 1),
    ((8_000, 64 * GIB, "r5.2xlarge"), 2),
    ((16_000, 128 * GIB, "r5.4xlarge"), 1),
    ((8_000, 16 * GIB, "c5.2xlarge"), 2),
    ((16_000, 32 * GIB, "c5.4xlarge"), 2),
];

/// Workload classes a group is labelled with (`workload: <class>`).
const CLASSES: [&str; 5] = ["general", "web", "batch", "memory", "gpu"];

const ZONES: [&str; 3] = ["us-east-1a", "us-east-1b", "us-east-1c"];

fn label_map(pairs: &[(&str, String)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

/// A seeded, reproducible pending-capacity case: `groups` node groups and
/// `pods` pending-unschedulable pods.
///
/// Distributions (the same `seed` gives the same case):
/// - **groups** `g0` ..: labels `group: gN`, `topology.kubernetes.io/zone`
///   (`N % 3`), `workload` (one of general, web, batch, memory, gpu, by
///   `N % 5`), `node.kubernetes.io/instance-type` and `cpus` (the core
///   count, for `Gt`/`Lt`); instance types weighted m5.xlarge 3,
///   m5.2xlarge 4, m5.4xlarge 3, m5.8xlarge 1, r5.2xlarge 2, r5.4xlarge 1,
///   c5.2xlarge 2, c5.4xlarge 2 (110 pods each). The `gpu` groups (1 in 5)
///   are tainted `dedicated=gpu:NoSchedule`, one group in 10 more
///   `spot=true:PreferNoSchedule`. A quarter of the groups have no node
///   (scale from zero: the provider's template), the others 1 to 3 Ready
///   nodes; one group in three has 1 or 2 nodes upcoming (desired above
///   registered). One DaemonSet (100m / 128Mi) runs everywhere.
/// - **pod sizes** as for [`cluster`]: 100m/128Mi 30%, 250m/512Mi 25%,
///   500m/1Gi 20%, 1/2Gi 12%, 2/4Gi 8%, 4/16Gi 4%, 8/32Gi 1%.
/// - **node selectors** on a third of the pods: `workload` (60%), `zone`
///   (30%) or `instance-type` (10%) of a random group.
/// - **required node affinity** on a quarter: `zone In` two zones, `cpus
///   Gt 4`, `instance-type NotIn` one type, or two terms (`workload In
///   [batch]` OR `workload In [general]`).
/// - **tolerations** on a fifth: `dedicated=gpu` (Equal) for two thirds of
///   them, `dedicated Exists` for the rest.
/// - one pod in 20 has required pod anti-affinity (recorded, not
///   evaluated).
///
/// Pods that no group can take (a gpu-only selector without the
/// toleration, 8 cpu on 4-cpu groups only...) occur naturally.
pub fn pending_case(seed: u64, groups: usize, pods: usize) -> PendingCase {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut snapshot = ClusterSnapshot::default();
    let mut specs = Vec::with_capacity(groups);
    let mut links = Vec::with_capacity(groups);
    let mut types = Vec::with_capacity(groups);
    for g in 0..groups {
        let (cpu, memory, instance) = weighted(&mut rng, &INSTANCE_TYPES);
        types.push(instance);
        let class = CLASSES[g % CLASSES.len()];
        let labels = label_map(&[
            ("group", format!("g{g}")),
            ("topology.kubernetes.io/zone", ZONES[g % 3].to_string()),
            ("workload", class.to_string()),
            ("node.kubernetes.io/instance-type", instance.to_string()),
            ("cpus", (cpu / 1000).to_string()),
        ]);
        let mut taints = Vec::new();
        if class == "gpu" {
            taints.push(Taint {
                key: "dedicated".to_string(),
                value: "gpu".to_string(),
                effect: TaintEffect::NoSchedule,
            });
        }
        if g % 10 == 7 {
            taints.push(Taint {
                key: "spot".to_string(),
                value: "true".to_string(),
                effect: TaintEffect::PreferNoSchedule,
            });
        }
        let template = NodeTemplate {
            allocatable: Resources::new(cpu, memory, 110),
            labels: labels.clone(),
            taints: taints.clone(),
        };
        let registered = if rng.random_range(0..4) == 0 {
            0
        } else {
            rng.random_range(1..=3)
        };
        for n in 0..registered {
            snapshot.nodes.push(Node {
                name: format!("g{g}-node-{n}"),
                labels: labels.clone(),
                allocatable: template.allocatable,
                taints: taints.clone(),
                ready: true,
                unschedulable: false,
            });
        }
        let upcoming = if g % 3 == 0 {
            rng.random_range(1..=2)
        } else {
            0
        };
        links.push(NodeGroupLink::Found {
            name: format!("g{g}"),
            desired: Ok(registered + upcoming),
            template: (registered == 0).then_some(Ok(Some(template))),
        });
        specs.push(PendingCapacitySpec {
            node_selector: label_map(&[("group", format!("g{g}"))]),
            scalable_node_group_ref: Some(ScalableNodeGroupRef {
                name: format!("g{g}"),
            }),
        });
    }
    snapshot.daemon_sets.push(DaemonSet {
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
    snapshot.pods = (0..pods)
        .map(|i| pending_bench_pod(&mut rng, i, groups.max(1), &types))
        .collect();
    PendingCase {
        snapshot,
        specs,
        links,
    }
}

fn requirement(
    key: &str,
    operator: NodeSelectorOperator,
    values: &[&str],
) -> NodeSelectorRequirement {
    NodeSelectorRequirement {
        key: key.to_string(),
        operator,
        values: values.iter().map(|v| v.to_string()).collect(),
    }
}

fn term(requirements: Vec<NodeSelectorRequirement>) -> NodeSelectorTerm {
    NodeSelectorTerm {
        match_expressions: requirements,
        match_fields: vec![],
    }
}

fn pending_bench_pod(rng: &mut ChaCha8Rng, i: usize, groups: usize, types: &[&str]) -> Pod {
    let (cpu, memory) = weighted(rng, &POD_SIZES);
    let g = rng.random_range(0..groups);
    let mut node_selector = BTreeMap::new();
    if rng.random_range(0..3) == 0 {
        let (key, value) = match rng.random_range(0..10) {
            0..6 => ("workload", CLASSES[g % CLASSES.len()].to_string()),
            6..9 => ("topology.kubernetes.io/zone", ZONES[g % 3].to_string()),
            _ => (
                "node.kubernetes.io/instance-type",
                types.get(g).copied().unwrap_or("m5.xlarge").to_string(),
            ),
        };
        node_selector.insert(key.to_string(), value);
    }
    let required_node_affinity = (rng.random_range(0..4) == 0).then(|| {
        use NodeSelectorOperator::{Gt, In, NotIn};
        let terms = match rng.random_range(0..4) {
            0 => vec![term(vec![requirement(
                "topology.kubernetes.io/zone",
                In,
                &[ZONES[i % 3], ZONES[(i + 1) % 3]],
            )])],
            1 => vec![term(vec![requirement("cpus", Gt, &["4"])])],
            2 => vec![term(vec![requirement(
                "node.kubernetes.io/instance-type",
                NotIn,
                &[types.get(g).copied().unwrap_or("m5.xlarge")],
            )])],
            _ => vec![
                term(vec![requirement("workload", In, &["batch"])]),
                term(vec![requirement("workload", In, &["general"])]),
            ],
        };
        NodeSelector { terms }
    });
    let tolerations = if rng.random_range(0..5) == 0 {
        vec![if rng.random_range(0..3) < 2 {
            Toleration {
                key: Some("dedicated".to_string()),
                exists: false,
                value: "gpu".to_string(),
                effect: Some(TaintEffect::NoSchedule),
            }
        } else {
            Toleration {
                key: Some("dedicated".to_string()),
                exists: true,
                value: String::new(),
                effect: None,
            }
        }]
    } else {
        vec![]
    };
    Pod {
        namespace: format!("ns-{}", i % 20),
        name: format!("pending-{i}"),
        node_name: None,
        requests: Resources::new(cpu, memory, 1),
        phase: PodPhase::Pending,
        unschedulable: true,
        node_selector,
        tolerations,
        required_node_affinity,
        unevaluated: UnevaluatedConstraints {
            pod_anti_affinity: rng.random_range(0..20) == 0,
            ..UnevaluatedConstraints::default()
        },
        ..Pod::default()
    }
}
