//! Property tests of the decision engine's invariants.

// Test helpers outside #[test] fns may unwrap: a failure there is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{DateTime, Duration, TimeZone, Utc};
use karpenter_core::api::v1alpha1::{
    Behavior, HorizontalAutoscalerSpec, Recommendation, ScaleEvent, ScalingHistory, ScalingPolicy,
    ScalingPolicySelect, ScalingPolicyType, ScalingRules,
};
use karpenter_core::autoscaler::{
    DecisionInput, Observation, ResolvedBehavior, TargetState, decide, decide_into,
};
use proptest::prelude::*;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap()
}

fn policy() -> impl Strategy<Value = ScalingPolicy> {
    (
        prop_oneof![
            Just(ScalingPolicyType::Count),
            Just(ScalingPolicyType::Percent)
        ],
        1..300i32,
        1..180i32,
    )
        .prop_map(|(type_, value, period_seconds)| ScalingPolicy {
            type_,
            value,
            period_seconds,
        })
}

fn rules() -> impl Strategy<Value = Option<ScalingRules>> {
    proptest::option::of(
        (
            proptest::option::of(0..600i32),
            proptest::option::of(prop_oneof![
                Just(ScalingPolicySelect::Max),
                Just(ScalingPolicySelect::Min),
                Just(ScalingPolicySelect::Disabled)
            ]),
            proptest::option::of(proptest::collection::vec(policy(), 1..4)),
        )
            .prop_map(|(w, s, p)| ScalingRules {
                stabilization_window_seconds: w,
                select_policy: s,
                policies: p,
                tolerance: None,
            }),
    )
}

#[derive(Debug, Clone)]
struct Input {
    spec: HorizontalAutoscalerSpec,
    current: i32,
    status: i32,
    observations: Vec<Observation>,
    history: Option<ScalingHistory>,
}

fn input() -> impl Strategy<Value = Input> {
    let metric = (0..3usize, 1..100u32).prop_map(|(t, target)| {
        let type_ = ["Value", "AverageValue", "Utilization"][t];
        serde_json::json!({"prometheus": {"query": "q", "target": {"type": type_, "value": target}}})
    });
    let observation = prop_oneof![
        4 => (0.0..2000.0f64).prop_map(Observation::Value),
        1 => Just(Observation::Error("unreadable".to_string())),
    ];
    // spec.algorithm: omitted, Proportional, or PID with random gains.
    let algorithm = prop_oneof![
        Just(serde_json::Value::Null),
        Just(serde_json::json!({"type": "Proportional"})),
        (
            0.0..2.0f64,
            0.0..0.05f64,
            0.0..5.0f64,
            0.0..2.0f64,
            -1.0..-0.01f64,
            0.1..20.0f64
        )
            .prop_map(
                |(kp, ki, kd, limit, min_out, max_out)| serde_json::json!({"type": "PID", "pid": {
                "kp": format!("{kp:.3}"), "ki": format!("{ki:.4}"), "kd": format!("{kd:.2}"),
                "integralLimit": format!("{limit:.2}"), "minOutput": format!("{min_out:.2}"),
                "maxOutput": format!("{max_out:.2}")}})
            ),
    ];
    // spec.fallback: omitted, or any threshold, count and behavior.
    let fallback = proptest::option::of((1..5i32, 0..80i32, 0..4usize).prop_map(|(t, r, b)| {
        let mut f = serde_json::json!({"failureThreshold": t, "replicas": r});
        if let Some(behavior) = [
            None,
            Some("currentReplicasIfHigher"),
            Some("static"),
            Some("currentReplicasIfLower"),
        ][b]
        {
            f["behavior"] = serde_json::json!(behavior);
        }
        f
    }));
    (
        (
            0..6i32,
            0..60i32,
            proptest::collection::vec(metric, 1..4),
            proptest::option::of((rules(), rules())),
            algorithm,
            fallback,
        ),
        0..1000i32,
        0..80i32,
        proptest::collection::vec(observation, 3),
        proptest::option::of((
            proptest::collection::vec((0..900i64, 0..80i32), 0..25),
            proptest::collection::vec((0..900i64, -30..30i32), 0..10),
            0..6u32,
        )),
    )
        .prop_map(
            |(
                (min, span, metrics, behavior, algorithm, fallback),
                cur,
                status,
                observations,
                history,
            )| {
                let max = (min + span).max(1);
                let n = metrics.len();
                let mut doc = serde_json::json!({
                    "scaleTargetRef": {"kind": "ScalableNodeGroup", "name": "ng"},
                    "minReplicas": min, "maxReplicas": max, "metrics": metrics,
                });
                if !algorithm.is_null() {
                    doc["algorithm"] = algorithm;
                }
                if let Some(f) = fallback {
                    doc["fallback"] = f;
                }
                let spec: HorizontalAutoscalerSpec = serde_json::from_value(doc).unwrap();
                let spec = HorizontalAutoscalerSpec {
                    behavior: behavior.map(|(u, d)| Behavior {
                        scale_up: u,
                        scale_down: d,
                    }),
                    ..spec
                };
                let history = history.map(|(recs, events, failed_reads)| ScalingHistory {
                    recommendations: recs
                        .into_iter()
                        .map(|(a, r)| Recommendation {
                            time: now() - Duration::seconds(a),
                            replicas: r,
                        })
                        .collect(),
                    scale_events: events
                        .into_iter()
                        .filter(|(_, c)| *c != 0)
                        .map(|(a, c)| ScaleEvent {
                            time: now() - Duration::seconds(a),
                            change: c,
                        })
                        .collect(),
                    algorithm_state: vec![],
                    failed_reads,
                });
                // current within [min, max]
                let current = min + cur % (max - min + 1);
                Input {
                    spec,
                    current,
                    status,
                    observations: observations[..n].to_vec(),
                    history,
                }
            },
        )
}

fn run(i: &Input) -> karpenter_core::autoscaler::Decision {
    decide(&DecisionInput {
        spec: &i.spec,
        target: TargetState {
            spec_replicas: i.current,
            status_replicas: i.status,
        },
        observations: &i.observations,
        history: i.history.as_ref(),
        now: now(),
    })
}

/// An independent restatement of the policy bound: how far `result` may move
/// from `current` given the events in the history.
fn allowed(i: &Input, up: bool) -> i64 {
    let b = ResolvedBehavior::resolve(i.spec.behavior.as_ref());
    let rules = if up { &b.scale_up } else { &b.scale_down };
    let current = i64::from(i.current);
    if rules.select_policy == ScalingPolicySelect::Disabled {
        return current;
    }
    let events = i
        .history
        .as_ref()
        .map(|h| h.scale_events.clone())
        .unwrap_or_default();
    let bounds: Vec<i64> = rules
        .policies
        .iter()
        .map(|p| {
            let in_period =
                |e: &&ScaleEvent| (now() - e.time).num_seconds() < i64::from(p.period_seconds);
            let added: i64 = events
                .iter()
                .filter(in_period)
                .filter(|e| e.change > 0)
                .map(|e| i64::from(e.change))
                .sum();
            let removed: i64 = events
                .iter()
                .filter(in_period)
                .filter(|e| e.change < 0)
                .map(|e| -i64::from(e.change))
                .sum();
            let start = current - added + removed;
            let v = i64::from(p.value);
            match (up, p.type_) {
                (true, ScalingPolicyType::Count) => start + v,
                (false, ScalingPolicyType::Count) => start - v,
                (true, ScalingPolicyType::Percent) => (start * (100 + v) + 99).div_euclid(100),
                (false, ScalingPolicyType::Percent) => start * (100 - v) / 100,
            }
        })
        .collect();
    let most = if up {
        bounds.iter().max()
    } else {
        bounds.iter().min()
    };
    let least = if up {
        bounds.iter().min()
    } else {
        bounds.iter().max()
    };
    let raw = match rules.select_policy {
        ScalingPolicySelect::Min => *least.unwrap_or(&current),
        _ => *most.unwrap_or(&current),
    };
    if up {
        raw.max(current)
    } else {
        raw.min(current)
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn deciding_into_a_used_decision_is_the_same_decision(i in input(), other in input()) {
        // `decide_into` reuses whatever decision it is given as storage.
        let mut reused = run(&other);
        decide_into(
            &DecisionInput {
                spec: &i.spec,
                target: TargetState {
                    spec_replicas: i.current,
                    status_replicas: i.status,
                },
                observations: &i.observations,
                history: None,
                now: now(),
            },
            i.history.clone(),
            &mut reused,
        );
        prop_assert_eq!(reused, run(&i));
    }

    #[test]
    fn result_stays_within_min_and_max(i in input()) {
        let d = run(&i);
        let min = i.spec.min_replicas.unwrap_or(1);
        if i.current == 0 && min != 0 {
            prop_assert_eq!(d.desired_replicas, 0);
        } else {
            prop_assert!(d.desired_replicas >= min && d.desired_replicas <= i.spec.max_replicas,
                "{} outside [{}, {}]", d.desired_replicas, min, i.spec.max_replicas);
        }
    }

    #[test]
    fn never_more_change_than_the_policies_allow(i in input()) {
        let d = run(&i);
        let desired = i64::from(d.desired_replicas);
        if desired > i64::from(i.current) {
            prop_assert!(desired <= allowed(&i, true), "up to {} beyond {}", desired, allowed(&i, true));
        }
        if desired < i64::from(i.current) {
            let min = i64::from(i.spec.min_replicas.unwrap_or(1));
            prop_assert!(desired >= allowed(&i, false).max(min), "down to {} beyond {}", desired, allowed(&i, false));
        }
    }

    /// Unreadable metrics never scale down, whatever the algorithm and
    /// fallback, except with an explicit `static` or
    /// `currentReplicasIfLower` fallback (documented as opting in to
    /// scaling down blind).
    #[test]
    fn never_scales_down_when_a_metric_failed(i in input()) {
        let d = run(&i);
        let blind = i.spec.fallback.as_ref().is_some_and(|f| {
            f.behavior.is_some_and(|b| b.may_scale_down())
        });
        if !blind && i.observations.iter().any(|o| matches!(o, Observation::Error(_))) {
            prop_assert!(d.desired_replicas >= i.current, "{} < {}", d.desired_replicas, i.current);
        }
    }

    /// The opt-in fallbacks do scale down blind, but never below what the
    /// fallback asks for (or minReplicas), and never while any metric is read.
    #[test]
    fn blind_scale_down_only_to_the_fallback_count(i in input()) {
        let d = run(&i);
        let n = i.spec.metrics.len();
        let all_failed = i.observations[..n].iter().all(|o| matches!(o, Observation::Error(_)));
        if d.desired_replicas < i.current {
            let min = i.spec.min_replicas.unwrap_or(0);
            let fallback = i.spec.fallback.as_ref().filter(|_| all_failed);
            let has_value = i.observations.iter().any(|o| matches!(o, Observation::Value(_)));
            // Scaling down needs a reading, or an active opt-in fallback.
            prop_assert!(has_value || fallback.is_some_and(|f| f.behavior.is_some_and(|b| b.may_scale_down())));
            if !has_value && let Some(f) = fallback {
                prop_assert!(d.desired_replicas >= f.replicas.max(min));
            }
        }
    }

    #[test]
    fn identical_inputs_give_identical_outputs(i in input()) {
        prop_assert_eq!(run(&i), run(&i.clone()));
    }

    #[test]
    fn persisted_history_is_ordered_and_bounded(i in input()) {
        let d = run(&i);
        let b = ResolvedBehavior::resolve(i.spec.behavior.as_ref());
        for r in &d.history.recommendations[..d.history.recommendations.len().saturating_sub(1)] {
            prop_assert!((now() - r.time).num_seconds() < b.recommendation_retention_seconds().max(1) + 1);
        }
        for e in &d.history.scale_events {
            prop_assert!(e.time == now() || (now() - e.time).num_seconds() < b.event_retention_seconds() + 1);
        }
    }
}
