//! Scheduled capacity speed: a 10-behavior schedule evaluated (value and next
//! change) at every 15 s tick of a week that crosses behavior changes and the
//! Los Angeles spring-forward change.
//!
//! Each criterion iteration is **one** evaluation, at the next tick of the
//! week (wrapping around), so the reported time is the mean per evaluation:
//! - `schedule/evaluator_per_tick`: a [`ScheduleEvaluator`] kept across
//!   ticks (searches only when the value changes);
//! - `schedule/producer_per_tick`: `evaluate_spec`, what the producer calls
//!   every tick: the kept evaluator looked up by the spec's content;
//! - `schedule/uncached_per_tick`: `value_at` and `next_change` on a parsed
//!   `Schedule`, searching every time;
//! - `schedule/parse_and_uncached_per_tick`: `Schedule::new` too, as a
//!   producer that parses its spec every tick does.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use karpenter_benches::{schedule_spec_10_behaviors, schedule_week_ticks};
use karpenter_core::producers::schedule::{Schedule, ScheduleEvaluator, evaluate_spec};

fn per_tick(c: &mut Criterion) {
    let spec = schedule_spec_10_behaviors();
    let ticks = schedule_week_ticks();
    let Ok(schedule) = Schedule::new(&spec) else {
        panic!("the bench schedule is valid");
    };
    let mut group = c.benchmark_group("schedule");

    let mut evaluator = ScheduleEvaluator::new(schedule.clone());
    let mut i = 0;
    group.bench_function("evaluator_per_tick", |b| {
        b.iter(|| {
            i = (i + 1) % ticks.len();
            black_box(evaluator.evaluate(black_box(ticks[i])))
        })
    });

    let mut i = 0;
    group.bench_function("producer_per_tick", |b| {
        b.iter(|| {
            i = (i + 1) % ticks.len();
            black_box(evaluate_spec(black_box(&spec), black_box(ticks[i])).ok())
        })
    });

    let mut i = 0;
    group.bench_function("uncached_per_tick", |b| {
        b.iter(|| {
            i = (i + 1) % ticks.len();
            let t = black_box(ticks[i]);
            black_box((schedule.value_at(t), schedule.next_change(t)))
        })
    });

    let mut i = 0;
    group.bench_function("parse_and_uncached_per_tick", |b| {
        b.iter(|| {
            i = (i + 1) % ticks.len();
            let t = black_box(ticks[i]);
            let s = Schedule::new(black_box(&spec)).ok();
            black_box(s.map(|s| (s.value_at(t), s.next_change(t))))
        })
    });
    group.finish();
}

criterion_group!(benches, per_tick);
criterion_main!(benches);
