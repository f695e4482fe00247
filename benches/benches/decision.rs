//! Decision engine speed: one decision, and 10,000 autoscalers in one pass.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use karpenter_benches::{case, now};
use karpenter_core::autoscaler::{DecisionInput, decide};

fn one_decision(c: &mut Criterion) {
    let k = case(7);
    c.bench_function(
        "decide/two_metrics_default_behavior_full_300s_history",
        |b| {
            b.iter(|| {
                decide(black_box(&DecisionInput {
                    spec: &k.spec,
                    target: k.target,
                    observations: &k.observations,
                    history: Some(&k.history),
                    now: now(),
                }))
            })
        },
    );
}

fn ten_thousand(c: &mut Criterion) {
    let cases: Vec<_> = (0..10_000).map(case).collect();
    let mut group = c.benchmark_group("decide");
    group.sample_size(20);
    group.bench_function("10000_autoscalers_one_pass", |b| {
        b.iter(|| {
            let mut total = 0i64;
            for k in &cases {
                let d = decide(black_box(&DecisionInput {
                    spec: &k.spec,
                    target: k.target,
                    observations: &k.observations,
                    history: Some(&k.history),
                    now: now(),
                }));
                total += i64::from(d.desired_replicas);
            }
            total
        })
    });
    group.finish();
}

criterion_group!(benches, one_decision, ten_thousand);
criterion_main!(benches);
