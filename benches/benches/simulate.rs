//! `karpenter simulate`'s fixed costs: reading and checking the 30-day
//! scenario of `benches/scenarios/thirty-days.yaml` and building its
//! simulation (the run itself is timed with the release binary; see
//! BENCHMARKS.md).

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};
use karpenter_fake::scenario::{Prepared, RunOptions};

fn scenario() -> &'static Path {
    Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/scenarios/thirty-days.yaml"
    ))
}

fn parse_and_setup(c: &mut Criterion) {
    let mut g = c.benchmark_group("simulate");
    g.bench_function("parse", |b| {
        b.iter(|| black_box(Prepared::from_file(scenario()).ok()));
    });
    g.bench_function("parse_and_setup", |b| {
        b.iter(|| {
            let p = Prepared::from_file(scenario()).ok();
            black_box(p.and_then(|p| p.simulation(&RunOptions::default()).ok()))
        });
    });
    g.finish();
}

criterion_group!(benches, parse_and_setup);
criterion_main!(benches);
