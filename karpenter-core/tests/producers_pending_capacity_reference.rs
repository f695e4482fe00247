//! The joint assignment against a naive reference of its documented rules:
//! pods one by one, first fit over a plain list of nodes, every group
//! repacked every round. Random groups (shapes, labels, taints, upcoming
//! nodes, templates from nodes or providers) and random pods (few distinct
//! sizes, so that runs of identical pods occur, selectors, tolerations).
//! The fast implementation (batches of identical pods, a segment tree over
//! free capacity, repacking only the groups that lost pods) must place
//! every pod on the same group and node.

#![allow(clippy::unwrap_used, clippy::expect_used)]
// Tests fail loudly on purpose.
// The reference is written as plainly as possible: index loops included.
#![allow(clippy::needless_range_loop)]

use std::collections::BTreeMap;

use karpenter_core::api::v1alpha1::{PendingCapacitySpec, ScalableNodeGroupRef};
use karpenter_core::cluster::{
    ClusterSnapshot, Node, Pod, PodPhase, Resources, Taint, TaintEffect, Toleration,
};
use karpenter_core::producers::pending_capacity::{
    NodeGroupLink, PendingAssignment, PendingCapacityInput, Placement,
};
use karpenter_core::provider::NodeTemplate;
use proptest::prelude::*;

const GIB: i64 = 1 << 30;

#[derive(Debug, Clone)]
struct GroupGen {
    cpu: i64,
    memory: i64,
    pods: i64,
    zone: usize,
    tainted: bool,
    nodes: usize,
    upcoming: i32,
}

#[derive(Debug, Clone)]
struct PodGen {
    size: usize,
    zone: Option<usize>,
    tolerates: bool,
}

const SIZES: [(i64, i64); 5] = [
    (250, GIB / 2),
    (500, GIB),
    (1_000, 2 * GIB),
    (2_000, GIB),
    (3_000, 6 * GIB),
];

fn group_gen() -> impl Strategy<Value = GroupGen> {
    (
        1i64..=8,
        1i64..=16,
        3i64..=12,
        0usize..2,
        prop::bool::weighted(0.25),
        0usize..=2,
        0i32..=2,
    )
        .prop_map(
            |(cpu, memory, pods, zone, tainted, nodes, upcoming)| GroupGen {
                cpu: cpu * 1_000,
                memory: memory * GIB,
                pods,
                zone,
                tainted,
                nodes,
                upcoming,
            },
        )
}

fn pod_gen() -> impl Strategy<Value = PodGen> {
    (
        0usize..SIZES.len(),
        prop::option::weighted(0.3, 0usize..2),
        prop::bool::weighted(0.3),
    )
        .prop_map(|(size, zone, tolerates)| PodGen {
            size,
            zone,
            tolerates,
        })
}

struct Case {
    snapshot: ClusterSnapshot,
    specs: Vec<PendingCapacitySpec>,
    links: Vec<NodeGroupLink>,
}

fn build(groups: &[GroupGen], pods: &[PodGen]) -> Case {
    let mut snapshot = ClusterSnapshot::default();
    let mut specs = Vec::new();
    let mut links = Vec::new();
    for (g, spec_of) in groups.iter().enumerate() {
        let labels = BTreeMap::from([
            ("group".to_string(), format!("g{g}")),
            ("zone".to_string(), format!("z{}", spec_of.zone)),
        ]);
        let taints = if spec_of.tainted {
            vec![Taint {
                key: "dedicated".to_string(),
                value: String::new(),
                effect: TaintEffect::NoSchedule,
            }]
        } else {
            vec![]
        };
        let allocatable = Resources::new(spec_of.cpu, spec_of.memory, spec_of.pods);
        for n in 0..spec_of.nodes {
            snapshot.nodes.push(Node {
                name: format!("g{g}-{n}"),
                labels: labels.clone(),
                allocatable,
                taints: taints.clone(),
                ready: true,
                unschedulable: false,
            });
        }
        let template = NodeTemplate {
            allocatable,
            labels: labels.clone(),
            taints,
        };
        links.push(NodeGroupLink::Found {
            name: format!("g{g}"),
            desired: Ok(spec_of.nodes as i32 + spec_of.upcoming),
            template: (spec_of.nodes == 0).then_some(Ok(Some(template))),
        });
        specs.push(PendingCapacitySpec {
            node_selector: BTreeMap::from([("group".to_string(), format!("g{g}"))]),
            scalable_node_group_ref: Some(ScalableNodeGroupRef {
                name: format!("g{g}"),
            }),
        });
    }
    snapshot.pods = pods
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let (cpu, memory) = SIZES[p.size];
            Pod {
                namespace: "default".to_string(),
                name: format!("p{i}"),
                requests: Resources::new(cpu, memory, 1),
                phase: PodPhase::Pending,
                unschedulable: true,
                node_selector: p
                    .zone
                    .map(|z| BTreeMap::from([("zone".to_string(), format!("z{z}"))]))
                    .unwrap_or_default(),
                tolerations: if p.tolerates {
                    vec![Toleration {
                        key: Some("dedicated".to_string()),
                        exists: true,
                        value: String::new(),
                        effect: None,
                    }]
                } else {
                    vec![]
                },
                ..Pod::default()
            }
        })
        .collect();
    Case {
        snapshot,
        specs,
        links,
    }
}

/// Pods (snapshot index) with the node each goes on.
type Placed = Vec<(usize, usize)>;

fn fits(r: [i64; 3], free: [i64; 3]) -> bool {
    r[0] <= free[0] && r[1] <= free[1] && r[2] <= free[2]
}

fn sub(free: &mut [i64; 3], r: [i64; 3]) {
    for i in 0..3 {
        free[i] -= r[i];
    }
}

/// The documented rules, naively, on the groups as `computed` set them up
/// (templates and upcoming counts are checked by the hand-computed tests).
fn reference(snap: &ClusterSnapshot, computed: &PendingAssignment) -> Vec<Placement> {
    let groups = computed.groups();
    let req = |p: &Pod| [p.requests.cpu_millis, p.requests.memory_bytes, 1];
    let shape = |g: usize| {
        let a = groups[g].allocatable?;
        Some([a.cpu_millis, a.memory_bytes, a.pods])
    };
    let takes = |p: &Pod, g: usize| match (&groups[g].template, shape(g)) {
        (Some(t), Some(a)) => {
            p.placement_failure(&t.labels, &t.taints, "").is_none() && fits(req(p), a)
        }
        _ => false,
    };
    let mut order: Vec<usize> = (0..snap.pods.len()).collect();
    order.sort_by(|&a, &b| {
        let (ra, rb) = (req(&snap.pods[a]), req(&snap.pods[b]));
        (rb[0], rb[1]).cmp(&(ra[0], ra[1]))
    });
    let mut place = vec![Placement::Unfit; snap.pods.len()];
    for g in 0..groups.len() {
        let Some(a) = shape(g) else { continue };
        let mut bins = vec![a; usize::try_from(groups[g].upcoming).unwrap()];
        for &i in &order {
            if place[i] != Placement::Unfit || !takes(&snap.pods[i], g) {
                continue;
            }
            if let Some(b) = bins.iter().position(|f| fits(req(&snap.pods[i]), *f)) {
                sub(&mut bins[b], req(&snap.pods[i]));
                place[i] = Placement::Upcoming { group: g, node: b };
            }
        }
    }
    let mut done = vec![false; groups.len()];
    loop {
        // (group, waste, each pod with its node)
        let mut best: Option<(usize, f64, Placed)> = None;
        for g in 0..groups.len() {
            let Some(a) = shape(g) else { continue };
            if done[g] {
                continue;
            }
            let mut bins: Vec<[i64; 3]> = Vec::new();
            let mut used = [0i128; 3];
            let mut placed = Vec::new();
            for &i in &order {
                let p = &snap.pods[i];
                if place[i] != Placement::Unfit || !takes(p, g) {
                    continue;
                }
                let b = match bins.iter().position(|f| fits(req(p), *f)) {
                    Some(b) => b,
                    None => {
                        bins.push(a);
                        bins.len() - 1
                    }
                };
                sub(&mut bins[b], req(p));
                for (u, r) in used.iter_mut().zip(req(p)) {
                    *u += i128::from(r);
                }
                placed.push((i, b));
            }
            if placed.is_empty() {
                done[g] = true;
                continue;
            }
            let mut dominant = 0.0f64;
            for (u, al) in used.iter().zip(a) {
                if al > 0 {
                    dominant = dominant.max(*u as f64 / (bins.len() as f64 * al as f64));
                }
            }
            let waste = 1.0 - dominant;
            if best.as_ref().is_none_or(|(_, w, _)| waste < *w) {
                best = Some((g, waste, placed));
            }
        }
        let Some((g, _, placed)) = best else { break };
        for (i, b) in placed {
            place[i] = Placement::New { group: g, node: b };
        }
        done[g] = true;
    }
    place
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn the_fast_assignment_equals_the_reference(
        groups in prop::collection::vec(group_gen(), 1..6),
        pods in prop::collection::vec(pod_gen(), 0..60),
    ) {
        let case = build(&groups, &pods);
        let inputs: Vec<PendingCapacityInput<'_>> = case
            .specs
            .iter()
            .zip(&case.links)
            .enumerate()
            .map(|(g, (s, l))| PendingCapacityInput::new("default", &format!("g{g}"), s, l.clone()))
            .collect();
        let fast = PendingAssignment::compute(&case.snapshot, &inputs);
        let want = reference(&case.snapshot, &fast);
        let got: Vec<Placement> = fast.pods().iter().map(|p| p.placement).collect();
        prop_assert_eq!(&got, &want);
        // Node counts follow from the placements.
        for (g, group) in fast.groups().iter().enumerate() {
            let new = want
                .iter()
                .filter_map(|p| match p {
                    Placement::New { group, node } if *group == g => Some(node + 1),
                    _ => None,
                })
                .max()
                .unwrap_or(0);
            prop_assert_eq!(group.new_nodes, new as i64);
        }
    }
}
