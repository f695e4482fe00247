//! How fast is the simulator? A week of 100 node groups at a 15 s tick.
//!
//! Each of the 100 node groups has its own queue (work arriving on a daily
//! curve, each group's curve shifted by a different phase), a queue
//! MetricsProducer and a HorizontalAutoscaler (one node per 10 messages,
//! 0..200 nodes): 100 producers, 100 autoscalers and 100 node groups, ticked
//! 40,321 times. It prints the wall time; BENCHMARKS.md records it.
//!
//! ```text
//! cargo run -p karpenter-examples --example sim_scale [-- --groups N --days D]
//! ```

use std::f64::consts::PI;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use karpenter_examples::utc;
use karpenter_fake::{FakeNodeGroup, FakeQueue, Progress, SimClock, Simulation, human_duration};

fn manifests(group: usize) -> String {
    let name = format!("group-{group:03}");
    let mut yaml = String::new();
    let _ = write!(
        yaml,
        r#"
kind: ScalableNodeGroup
metadata: {{name: {name}}}
spec: {{type: FakeNodeGroup, id: {name}}}
---
kind: MetricsProducer
metadata: {{name: {name}-queue}}
spec:
  queue: {{type: FakeQueue, id: {name}-queue}}
---
kind: HorizontalAutoscaler
metadata: {{name: {name}}}
spec:
  scaleTargetRef: {{kind: ScalableNodeGroup, name: {name}}}
  minReplicas: 0
  maxReplicas: 200
  metrics:
  - prometheus:
      query: karpenter_queue_length{{name="{name}-queue"}}
      target: {{type: AverageValue, value: 10}}
---
"#
    );
    yaml
}

fn arg(name: &str, default: u64) -> Result<u64, String> {
    let args: Vec<String> = std::env::args().collect();
    match args.iter().position(|a| a == name) {
        None => Ok(default),
        Some(i) => args
            .get(i + 1)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| format!("{name} needs a whole number, e.g. {name} {default}")),
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let groups = usize::try_from(arg("--groups", 100)?)?;
    let days = arg("--days", 7)?;
    let start = utc(2026, 3, 2, 0, 0)?;
    let clock = SimClock::new(start);

    let mut builder = Simulation::builder(&clock).seed(1).record_timeline(false);
    for g in 0..groups {
        let name = format!("group-{g:03}");
        let group = FakeNodeGroup::builder(name.clone())
            .launch_delay(Duration::from_secs(90))
            .record_calls(false)
            .build(&clock);
        let phase = 2.0 * PI * g as f64 / groups.max(1) as f64;
        let queue = FakeQueue::builder(format!("{name}-queue"))
            .arrivals(move |t| {
                let hours = (t - start).num_seconds() as f64 / 3600.0;
                // Up to 5 messages/s, following the day.
                2.5 * (1.0 - (2.0 * PI * hours / 24.0 + phase).cos())
            })
            .consumers(&group, 0.05)
            .build(&clock);
        builder = builder
            .manifests(&manifests(g))?
            .node_group(group)
            .queue(queue);
    }
    let mut sim = builder.progress(Progress::Auto).build()?;

    let wall = Instant::now();
    let report = sim.run_for(Duration::from_secs(days * 86_400)).await;
    let elapsed = wall.elapsed();

    let peak: i32 = report
        .node_groups
        .iter()
        .map(|g| g.peak_ready)
        .max()
        .unwrap_or(0);
    let node_hours: f64 = report.node_groups.iter().map(|g| g.node_hours).sum();
    println!(
        "{groups} node groups, {} simulated in {} steps of {}: {:.2} s wall ({:.1} µs per autoscaler tick)",
        human_duration((report.end - report.start).to_std().unwrap_or_default()),
        report.steps,
        human_duration(report.tick),
        elapsed.as_secs_f64(),
        elapsed.as_secs_f64() * 1e6 / (report.steps as f64 * groups.max(1) as f64)
    );
    println!(
        "largest group peaked at {peak} nodes; {node_hours:.0} node-hours in total; {} runner errors",
        report.errors
    );
    Ok(())
}
