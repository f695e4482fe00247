//! The engine on history that cannot be right and on state that must stay
//! serializable: entries dated after now are ignored (and the explanation
//! says so), PID state never holds NaN or ±Inf, and nothing panics.

// Test helpers outside #[test] fns may unwrap: a failure there is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{DateTime, Duration, TimeZone, Utc};
use karpenter_core::api::parse;
use karpenter_core::api::v1alpha1::{
    AlgorithmState, HorizontalAutoscalerSpec, Recommendation, ScaleEvent, ScalingHistory,
};
use karpenter_core::autoscaler::{
    Autoscaler, DecisionInput, Observation, Pid, PidGains, TargetState, decide,
};
use proptest::prelude::*;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 10, 0).unwrap()
}

fn spec(min: i32, max: i32, type_: &str) -> HorizontalAutoscalerSpec {
    parse::from_json_str(
        &serde_json::json!({
            "scaleTargetRef": {"kind": "ScalableNodeGroup", "name": "ng"},
            "minReplicas": min, "maxReplicas": max,
            "metrics": [{"prometheus": {"query": "q", "target": {"type": type_, "value": 10}}}]
        })
        .to_string(),
    )
    .unwrap()
}

#[test]
fn future_recommendations_and_events_are_ignored_and_explained() {
    let spec = spec(0, 100, "Value");
    let history = ScalingHistory {
        // A recommendation of 100 an hour from now would hold a scale-down
        // at 5 for the whole window.
        recommendations: vec![Recommendation {
            time: now() + Duration::hours(1),
            replicas: 100,
        }],
        // A scale-up of 96 in the future would put the start of the
        // policy period at 5 − 96 = −91 replicas.
        scale_events: vec![ScaleEvent {
            time: now() + Duration::seconds(5),
            change: 96,
        }],
        algorithm_state: vec![],
        failed_reads: 0,
    };
    let d = decide(&DecisionInput {
        spec: &spec,
        target: TargetState {
            spec_replicas: 5,
            status_replicas: 5,
        },
        observations: &[Observation::Value(4.0)], // ratio 0.4 of 5 ready → 2
        history: Some(&history),
        now: now(),
    });
    let text = d.explain().join("\n");
    assert!(
        text.contains("ignored 1 recommendation(s) and 1 scale event(s) dated after now"),
        "{text}"
    );
    assert!(!text.contains("-91"), "{text}");
    assert!(d.history.recommendations.iter().all(|r| r.time <= now()));
    assert!(d.history.scale_events.iter().all(|e| e.time <= now()));
    // The future recommendation no longer holds the count; the default
    // 300 s down window is empty otherwise, so 2 it is.
    assert_eq!(d.desired_replicas, 2, "{text}");
}

#[test]
fn pid_state_stays_finite_even_with_absurd_gains() {
    let spec = spec(1, 50, "Value");
    for gains in [
        PidGains {
            ki: f64::NAN,
            ..PidGains::default()
        },
        PidGains {
            ki: 1e308,
            integral_limit: f64::INFINITY,
            ..PidGains::default()
        },
        PidGains {
            kp: f64::NAN,
            kd: f64::INFINITY,
            max_output: -5.0,
            ..PidGains::default()
        },
    ] {
        let engine = Autoscaler::new(Pid::new(gains));
        let mut history: Option<ScalingHistory> = Some(ScalingHistory {
            algorithm_state: vec![AlgorithmState {
                integral: 1e300,
                last_error: Some(1e300),
                last_time: Some(now() - Duration::seconds(10)),
            }],
            ..ScalingHistory::default()
        });
        for i in 0..5 {
            let d = engine.decide(&DecisionInput {
                spec: &spec,
                target: TargetState {
                    spec_replicas: 5,
                    status_replicas: 5,
                },
                observations: &[Observation::Value(1e6)],
                history: history.as_ref(),
                now: now() + Duration::seconds(15 * i),
            });
            assert!((1..=50).contains(&d.desired_replicas), "{gains:?}: {d:?}");
            for s in &d.history.algorithm_state {
                assert!(s.integral.is_finite(), "{gains:?}: {s:?}");
                assert!(s.last_error.is_none_or(f64::is_finite), "{gains:?}: {s:?}");
            }
            // It reads back as it was written.
            let json = serde_json::to_string(&d.history).unwrap();
            let back: ScalingHistory = parse::from_json_str(&json).unwrap();
            assert_eq!(back, d.history);
            history = Some(back);
        }
    }
}

#[test]
fn a_null_integral_reads_as_no_state() {
    let s: AlgorithmState = parse::from_json_str(r#"{"integral": null}"#).unwrap();
    assert_eq!(s, AlgorithmState::default());
}

proptest! {
    /// History entries anywhere in time, the past or the future: the
    /// decision stays in [min, max], keeps no future entry, and says when
    /// it dropped some.
    #[test]
    fn history_from_any_time_is_handled(
        min in 0i32..5,
        span in 1i32..50,
        current_offset in 0i32..60,
        observed in 0.0f64..2000.0,
        recs in prop::collection::vec((-3600i64..3600, 0i32..200), 0..10),
        events in prop::collection::vec((-3600i64..3600, -100i32..100), 0..10),
    ) {
        let max = min + span;
        let current = min + current_offset % (span + 1);
        let spec = spec(min, max, "AverageValue");
        let future = recs.iter().any(|(a, _)| *a < 0) || events.iter().any(|(a, c)| *a < 0 && *c != 0);
        let history = ScalingHistory {
            recommendations: recs
                .iter()
                .map(|&(a, r)| Recommendation { time: now() - Duration::seconds(a), replicas: r })
                .collect(),
            scale_events: events
                .iter()
                .filter(|(_, c)| *c != 0)
                .map(|&(a, c)| ScaleEvent { time: now() - Duration::seconds(a), change: c })
                .collect(),
            algorithm_state: vec![],
            failed_reads: 0,
        };
        let d = decide(&DecisionInput {
            spec: &spec,
            target: TargetState { spec_replicas: current, status_replicas: current },
            observations: &[Observation::Value(observed)],
            history: Some(&history),
            now: now(),
        });
        prop_assert!((min..=max).contains(&d.desired_replicas), "{:?}", d.explain());
        prop_assert!(d.history.recommendations.iter().all(|r| r.time <= now()));
        prop_assert!(d.history.scale_events.iter().all(|e| e.time <= now()));
        let said = d.explain().iter().any(|l| l.contains("dated after now"));
        prop_assert_eq!(said, future);
    }
}
