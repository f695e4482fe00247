//! reservedCapacity speed: a full compute over 5,000 nodes / 150,000 pods,
//! and single watch events on the incremental index over the same cluster.
//! Building the snapshot and the index is outside the timings.
//!
//! `cargo bench -p karpenter-benches --bench reserved_capacity`

use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::OnceLock;

use criterion::{Criterion, criterion_group, criterion_main};
use karpenter_benches::cluster;
use karpenter_core::cluster::{ClusterSnapshot, Pod, PodPhase, Resources};
use karpenter_core::producers::reserved_capacity::{ReservedCapacity, ReservedCapacityIndex};

const NODES: usize = 5_000;
const PODS: usize = 150_000;

/// Built once, on first use, so a filtered run builds only what it needs.
fn snapshot() -> &'static ClusterSnapshot {
    static SNAPSHOT: OnceLock<ClusterSnapshot> = OnceLock::new();
    SNAPSHOT.get_or_init(|| cluster(42, NODES, PODS))
}

fn selector() -> BTreeMap<String, String> {
    BTreeMap::from([("group".to_string(), "g1".to_string())])
}

fn full_compute(c: &mut Criterion) {
    let mut group = c.benchmark_group("reserved_capacity");
    group.sample_size(20);
    group.bench_function("full_compute_5000_nodes_150000_pods", |b| {
        let snapshot = snapshot();
        let selector = selector();
        b.iter(|| ReservedCapacity::compute(black_box(snapshot), black_box(&selector)))
    });
    group.finish();
}

/// A running pod bound to `node`.
fn pod(name: &str, node: &str) -> Pod {
    Pod {
        namespace: "ns-0".to_string(),
        name: name.to_string(),
        node_name: Some(node.to_string()),
        requests: Resources::new(500, 1 << 30, 1),
        phase: PodPhase::Running,
        ..Pod::default()
    }
}

fn index_events(c: &mut Criterion) {
    let mut group = c.benchmark_group("reserved_capacity_index");
    // Node 1 is in group g1, the selected one; node 6 too.
    group.bench_function("update_pod_rebind", |b| {
        let mut index = ReservedCapacityIndex::new(snapshot(), &selector());
        let on = [pod("bench", "node-1"), pod("bench", "node-6")];
        index.apply_pod(&on[0]);
        let mut i = 0usize;
        b.iter(|| {
            i += 1;
            index.apply_pod(black_box(&on[i % 2]));
        })
    });
    group.bench_function("update_pod_terminal_and_back", |b| {
        let mut index = ReservedCapacityIndex::new(snapshot(), &selector());
        let mut done = pod("bench", "node-1");
        done.phase = PodPhase::Succeeded;
        let states = [pod("bench", "node-1"), done];
        index.apply_pod(&states[0]);
        let mut i = 0usize;
        b.iter(|| {
            i += 1;
            index.apply_pod(black_box(&states[i % 2]));
        })
    });
    // Two events per iteration: a new pod added, then deleted.
    group.bench_function("add_then_delete_pod_2_events", |b| {
        let mut index = ReservedCapacityIndex::new(snapshot(), &selector());
        let new = pod("bench-new", "node-1");
        b.iter(|| {
            index.apply_pod(black_box(&new));
            index.delete_pod(black_box("ns-0"), black_box("bench-new"));
        })
    });
    group.bench_function("cordon_uncordon_node", |b| {
        let mut index = ReservedCapacityIndex::new(snapshot(), &selector());
        let Some(node) = snapshot().nodes.get(1).cloned() else {
            return;
        };
        let mut cordoned = node.clone();
        cordoned.unschedulable = !node.unschedulable;
        let states = [cordoned, node];
        let mut i = 0usize;
        b.iter(|| {
            i += 1;
            index.apply_node(black_box(&states[i % 2]));
        })
    });
    group.finish();
}

criterion_group!(benches, full_compute, index_events);
criterion_main!(benches);
