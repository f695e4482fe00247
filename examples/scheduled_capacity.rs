//! Run more nodes during business hours, and let a queue add more on top.
//!
//! A team in Los Angeles wants 20 nodes from 09:00 to 17:00 on weekdays and
//! 2 otherwise, written as a `scheduleSpec` in `America/Los_Angeles`. The
//! same HorizontalAutoscaler also follows a queue: a nightly batch of 1,500
//! jobs lands at 01:00 local time, and a trickle of work arrives during the
//! day. The autoscaler takes the larger of the two recommendations, so the
//! schedule is a floor and the queue adds capacity above it.
//!
//! The simulated week runs from Thursday 5 to Thursday 12 March 2026 and
//! crosses the start of daylight saving time (Sunday 8 March, 02:00 PST →
//! 03:00 PDT): business hours begin at 17:00 UTC before it and at 16:00 UTC
//! after it. The example prints when each business day's scale-up started,
//! in local time and in UTC.
//!
//! ```text
//! cargo run -p karpenter-examples --example scheduled_capacity [-- --out DIR]
//! ```

use std::time::{Duration, Instant};

use chrono::{DateTime, Datelike, NaiveTime, TimeZone, Timelike, Utc, Weekday};
use chrono_tz::America::Los_Angeles;
use karpenter_examples::{output_dir, print_summary, utc, write_outputs};
use karpenter_fake::{FakeNodeGroup, FakeQueue, SimClock, Simulation};

const MANIFESTS: &str = r#"
apiVersion: autoscaling.karpenter.sh/v1alpha1
kind: ScalableNodeGroup
metadata:
  name: office
spec:
  type: FakeNodeGroup
  id: office
  replicas: 2
---
apiVersion: autoscaling.karpenter.sh/v1alpha1
kind: MetricsProducer
metadata:
  name: business-hours
spec:
  scheduleSpec:
    timezone: America/Los_Angeles
    defaultReplicas: 2
    behaviors:
    - replicas: 20
      start:
        weekdays: Mon,Tue,Wed,Thu,Fri
        hours: 9
      end:
        weekdays: Mon,Tue,Wed,Thu,Fri
        hours: 17
---
apiVersion: autoscaling.karpenter.sh/v1alpha1
kind: MetricsProducer
metadata:
  name: office-jobs
spec:
  queue:
    type: FakeQueue
    id: office-jobs
---
apiVersion: autoscaling.karpenter.sh/v1alpha1
kind: HorizontalAutoscaler
metadata:
  name: office
spec:
  scaleTargetRef:
    apiVersion: autoscaling.karpenter.sh/v1alpha1
    kind: ScalableNodeGroup
    name: office
  minReplicas: 1
  maxReplicas: 200
  metrics:
  # The schedule: AverageValue 1 means "one node per scheduled replica".
  - prometheus:
      query: karpenter_scheduled_replicas_value{name="business-hours"}
      target:
        type: AverageValue
        value: 1
  # The queue: one node per 10 waiting jobs.
  - prometheus:
      query: karpenter_queue_length{name="office-jobs"}
      target:
        type: AverageValue
        value: 10
"#;

/// Jobs per second arriving at `t`: one every 10 s during local business hours.
fn daytime_jobs(t: DateTime<Utc>) -> f64 {
    let local = t.with_timezone(&Los_Angeles);
    let weekday = !matches!(local.weekday(), Weekday::Sat | Weekday::Sun);
    if weekday && (9..17).contains(&local.hour()) {
        0.1
    } else {
        0.0
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = output_dir()?;
    let wall = Instant::now();

    // Thursday 5 March 2026, 00:00 PST.
    let start = utc(2026, 3, 5, 8, 0)?;
    let clock = SimClock::new(start);
    let group = FakeNodeGroup::builder("office")
        .replicas(2)
        .launch_delay(Duration::from_secs(90))
        .build(&clock);

    // The nightly batch: 1,500 jobs at 01:00 local time, every night.
    let mut queue = FakeQueue::builder("office-jobs")
        .arrivals(daytime_jobs)
        .consumers(&group, 1.0 / 120.0); // a node finishes a job every 2 minutes
    let one_am = NaiveTime::from_hms_opt(1, 0, 0).ok_or("01:00 is a time")?;
    for day in 0..8 {
        let date = (start.with_timezone(&Los_Angeles) + chrono::Duration::days(day)).date_naive();
        if let Some(at) = Los_Angeles
            .from_local_datetime(&date.and_time(one_am))
            .single()
        {
            queue = queue.burst(at.with_timezone(&Utc), 1_500);
        }
    }
    let queue = queue.build(&clock);

    let mut sim = Simulation::builder(&clock)
        .seed(11)
        .manifests(MANIFESTS)?
        .node_group(group)
        .queue(queue)
        .build()?;
    let report = sim.run_for(Duration::from_secs(7 * 86_400)).await;

    let outputs = write_outputs(
        &sim,
        &out,
        "scheduled_capacity",
        "Business hours in America/Los_Angeles (20 nodes) with a queue on top, across the DST change",
    )?;
    println!(
        "Business hours 09:00-17:00 America/Los_Angeles (20 nodes, else 2), max'd with a queue of nightly batches."
    );

    // When did each business day's scale-up start? Read it from the timeline.
    if let Some(timeline) = sim.timeline() {
        let scheduled = timeline.values("office.metric0").unwrap_or_default();
        let mut previous = 0.0;
        for (row, value) in timeline.rows().iter().zip(scheduled) {
            let value = value.unwrap_or(previous);
            if value >= 20.0 && previous < 20.0 {
                let local = row.time.with_timezone(&Los_Angeles);
                println!(
                    "  business hours began {} = {} UTC",
                    local.format("%a %d %b %H:%M %Z"),
                    row.time.format("%H:%M")
                );
            }
            previous = value;
        }
    }
    print_summary(&report, &outputs, wall.elapsed());
    Ok(())
}
