//! pendingCapacity speed: the joint assignment of pending pods to node
//! groups (one `PendingAssignment::compute`, what a runner does once per
//! snapshot for all producers), at 1,000 to 100,000 pods over 50 groups and
//! at 10,000 pods over 10 to 200 groups. Building the case is outside the
//! timings; it has a bench of its own.
//!
//! `cargo bench -p karpenter-benches --bench pending_capacity`

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use karpenter_benches::pending_case;
use karpenter_core::producers::PendingAssignment;

fn assignment(c: &mut Criterion) {
    let mut group = c.benchmark_group("pending_capacity");
    group.sample_size(20);
    for pods in [1_000, 3_000, 10_000, 30_000, 100_000] {
        let case = pending_case(42, 50, pods);
        let inputs = case.inputs();
        group.bench_with_input(BenchmarkId::new("assign_50_groups", pods), &pods, |b, _| {
            b.iter(|| PendingAssignment::compute(black_box(&case.snapshot), black_box(&inputs)))
        });
    }
    for groups in [10, 25, 100, 200] {
        let case = pending_case(42, groups, 10_000);
        let inputs = case.inputs();
        group.bench_with_input(
            BenchmarkId::new("assign_10000_pods", groups),
            &groups,
            |b, _| {
                b.iter(|| PendingAssignment::compute(black_box(&case.snapshot), black_box(&inputs)))
            },
        );
    }
    group.finish();
}

fn generation(c: &mut Criterion) {
    let mut group = c.benchmark_group("pending_capacity_generator");
    group.sample_size(10);
    group.bench_function("build_10000_pods_50_groups", |b| {
        b.iter(|| pending_case(black_box(42), 50, 10_000))
    });
    group.finish();
}

criterion_group!(benches, assignment, generation);
criterion_main!(benches);
