//! Inputs shared by the criterion benches in `benches/benches/`.
//!
//! Run them with `cargo bench -p karpenter-benches`; the figures and the
//! machine they were taken on are in `BENCHMARKS.md`.

use chrono::{DateTime, Duration, TimeZone, Utc};
use karpenter_core::api::v1alpha1::{
    HorizontalAutoscalerSpec, Recommendation, ScaleEvent, ScalingHistory,
};
use karpenter_core::autoscaler::{Observation, TargetState};

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
