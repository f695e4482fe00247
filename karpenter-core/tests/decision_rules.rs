//! Table-driven tests of the decision engine, one per rule of
//! `docs/decisions.md` (the Kubernetes HPA rules and where karpenter-rs
//! differs). Each case is named after the rule it pins.

// Test helpers outside #[test] fns may unwrap: a failure there is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{DateTime, Duration, TimeZone, Utc};
use karpenter_core::api::Quantity;
use karpenter_core::api::v1alpha1::{
    Behavior, HorizontalAutoscalerSpec, Recommendation, ScaleEvent, ScalingHistory, ScalingPolicy,
    ScalingPolicySelect, ScalingPolicyType, ScalingRules,
};
use karpenter_core::autoscaler::{
    Decision, DecisionInput, MetricOutcome, Observation, TargetState, decide,
};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 10, 0).unwrap()
}

fn ago(seconds: i64) -> DateTime<Utc> {
    t0() - Duration::seconds(seconds)
}

/// A metric as JSON: (source, target type, target number).
fn metric(source: &str, type_: &str, value: f64) -> serde_json::Value {
    let target = serde_json::json!({"type": type_, "value": value});
    match source {
        "cloudWatch" => {
            serde_json::json!({"cloudWatch": {"namespace": "AWS/SQS", "metricName": "m", "target": target}})
        }
        "custom" => serde_json::json!({"custom": {"type": "Datadog", "target": target}}),
        _ => serde_json::json!({"prometheus": {"query": "q", "target": target}}),
    }
}

struct Case {
    name: &'static str,
    min: Option<i32>,
    max: i32,
    metrics: Vec<serde_json::Value>,
    behavior: Option<Behavior>,
    current: i32,
    status: i32,
    observations: Vec<Observation>,
    /// None = first decision since start (seeded).
    history: Option<ScalingHistory>,
    want: i32,
    /// (condition type, status, reason) that must be present.
    want_conditions: Vec<(&'static str, &'static str, &'static str)>,
    /// Condition types that must be absent.
    absent: Vec<&'static str>,
    /// Per-metric recommendation (None = metric failed), when checked.
    want_metrics: Option<Vec<Option<i32>>>,
}

impl Default for Case {
    fn default() -> Self {
        Self {
            name: "",
            min: Some(1),
            max: 100,
            metrics: vec![metric("prometheus", "Value", 10.0)],
            behavior: None,
            current: 4,
            status: 4,
            observations: vec![],
            history: Some(ScalingHistory::default()),
            want: 0,
            want_conditions: vec![],
            absent: vec![],
            want_metrics: None,
        }
    }
}

fn spec_of(c: &Case) -> HorizontalAutoscalerSpec {
    let mut spec: HorizontalAutoscalerSpec = serde_json::from_value(serde_json::json!({
        "scaleTargetRef": {"kind": "ScalableNodeGroup", "name": "ng"},
        "maxReplicas": c.max,
        "metrics": c.metrics,
    }))
    .unwrap();
    spec.min_replicas = c.min;
    spec.behavior = c.behavior.clone();
    spec
}

fn run_case(c: &Case) -> Decision {
    let spec = spec_of(c);
    decide(&DecisionInput {
        spec: &spec,
        target: TargetState {
            spec_replicas: c.current,
            status_replicas: c.status,
        },
        observations: &c.observations,
        history: c.history.as_ref(),
        now: t0(),
    })
}

fn check(cases: Vec<Case>) {
    let mut failures = Vec::new();
    for c in &cases {
        let d = run_case(c);
        let mut problems = Vec::new();
        if d.desired_replicas != c.want {
            problems.push(format!("desired {} != want {}", d.desired_replicas, c.want));
        }
        for (type_, status, reason) in &c.want_conditions {
            match d.condition(type_) {
                Some(cond) if cond.status.as_str() == *status && cond.reason == *reason => {}
                other => problems.push(format!(
                    "condition {type_} want {status}/{reason}, got {:?}",
                    other.map(|c| (c.status, c.reason.clone()))
                )),
            }
        }
        for type_ in &c.absent {
            if d.condition(type_).is_some() {
                problems.push(format!("condition {type_} should not be set"));
            }
        }
        if let Some(want) = &c.want_metrics {
            let got: Vec<Option<i32>> = d
                .metrics
                .iter()
                .map(|m| match m {
                    MetricOutcome::Recommendation { replicas, .. } => Some(*replicas),
                    MetricOutcome::Error { .. } | MetricOutcome::Abstained { .. } => None,
                })
                .collect();
            if &got != want {
                problems.push(format!("metrics {got:?} != want {want:?}"));
            }
        }
        if !problems.is_empty() {
            failures.push(format!(
                "{}: {}\n  explanation:\n    {}",
                c.name,
                problems.join("; "),
                d.explain().join("\n    ")
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} case(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn v(x: f64) -> Observation {
    Observation::Value(x)
}

fn err(msg: &str) -> Observation {
    Observation::Error(msg.to_string())
}

fn rules(
    window: Option<i32>,
    select: Option<ScalingPolicySelect>,
    policies: Option<Vec<ScalingPolicy>>,
) -> ScalingRules {
    ScalingRules {
        stabilization_window_seconds: window,
        select_policy: select,
        policies,
        tolerance: None,
    }
}

fn count(value: i32, period: i32) -> ScalingPolicy {
    ScalingPolicy {
        type_: ScalingPolicyType::Count,
        value,
        period_seconds: period,
    }
}

fn percent(value: i32, period: i32) -> ScalingPolicy {
    ScalingPolicy {
        type_: ScalingPolicyType::Percent,
        value,
        period_seconds: period,
    }
}

fn history(recs: &[(i64, i32)], events: &[(i64, i32)]) -> Option<ScalingHistory> {
    Some(ScalingHistory {
        recommendations: recs
            .iter()
            .map(|&(a, r)| Recommendation {
                time: ago(a),
                replicas: r,
            })
            .collect(),
        scale_events: events
            .iter()
            .map(|&(a, c)| ScaleEvent {
                time: ago(a),
                change: c,
            })
            .collect(),
        algorithm_state: vec![],
        failed_reads: 0,
    })
}

/// Scale down allowed immediately: no stabilization window.
fn no_down_window() -> Option<Behavior> {
    Some(Behavior {
        scale_up: None,
        scale_down: Some(rules(Some(0), None, None)),
    })
}

/// No rate limit in either direction (to test the raw algorithm).
fn unlimited() -> Option<Behavior> {
    Some(Behavior {
        scale_up: Some(rules(None, None, Some(vec![count(1_000_000, 15)]))),
        scale_down: Some(rules(Some(0), None, Some(vec![percent(100, 15)]))),
    })
}

#[test]
fn s1_branches_paused_out_of_range_and_seeding() {
    check(vec![
        Case {
            name: "current_zero_with_min_positive_is_paused",
            current: 0,
            status: 0,
            observations: vec![v(1000.0)],
            want: 0,
            want_conditions: vec![
                ("ScalingActive", "False", "ScalingDisabled"),
                ("AbleToScale", "True", "SucceededGetScale"),
            ],
            absent: vec!["ScalingLimited"],
            ..Case::default()
        },
        Case {
            name: "current_above_max_is_corrected_at_once",
            max: 5,
            current: 8,
            status: 8,
            observations: vec![v(1000.0)],
            want: 5,
            want_conditions: vec![("AbleToScale", "True", "SucceededRescale")],
            absent: vec!["ScalingActive", "ScalingLimited"],
            ..Case::default()
        },
        Case {
            name: "current_below_min_is_corrected_at_once",
            min: Some(3),
            current: 1,
            status: 1,
            observations: vec![v(0.0)],
            want: 3,
            want_conditions: vec![("AbleToScale", "True", "SucceededRescale")],
            absent: vec!["ScalingActive", "ScalingLimited"],
            ..Case::default()
        },
        Case {
            // Karpenter v0.1: an omitted minReplicas means 0, not the HPA's 1.
            name: "min_replicas_defaults_to_zero",
            min: None,
            current: 3,
            status: 3,
            observations: vec![v(0.0)],
            behavior: no_down_window(),
            want: 0,
            want_conditions: vec![("ScalingLimited", "False", "DesiredWithinRange")],
            ..Case::default()
        },
        Case {
            name: "explicit_min_replicas_one_limits_the_scale_down",
            min: Some(1),
            current: 3,
            status: 3,
            observations: vec![v(0.0)],
            behavior: no_down_window(),
            want: 1,
            want_conditions: vec![("ScalingLimited", "True", "TooFewReplicas")],
            ..Case::default()
        },
        Case {
            name: "first_decision_seeds_current_into_the_down_window",
            current: 5,
            status: 5,
            observations: vec![v(4.0)], // ratio 0.4 → 2
            history: None,
            want: 5,
            want_conditions: vec![("AbleToScale", "True", "ScaleDownStabilized")],
            ..Case::default()
        },
        Case {
            name: "an_empty_existing_history_is_not_seeded",
            current: 5,
            status: 5,
            observations: vec![v(4.0)],
            history: Some(ScalingHistory::default()),
            want: 2,
            want_conditions: vec![("AbleToScale", "True", "SucceededRescale")],
            ..Case::default()
        },
    ]);
}

#[test]
fn s2_1_tolerance() {
    check(vec![
        Case {
            name: "ratio_exactly_1_1_is_inside_the_band",
            observations: vec![v(11.0)],
            want: 4,
            want_conditions: vec![("AbleToScale", "True", "ReadyForNewScale")],
            ..Case::default()
        },
        Case {
            name: "ratio_exactly_0_9_is_inside_the_band",
            observations: vec![v(9.0)],
            want: 4,
            ..Case::default()
        },
        Case {
            name: "ratio_just_above_the_band_scales",
            observations: vec![v(11.1)],
            want: 5,
            ..Case::default()
        },
        Case {
            name: "per_direction_scale_up_tolerance",
            observations: vec![v(14.0)],
            behavior: Some(Behavior {
                scale_up: Some(ScalingRules {
                    tolerance: Some(Quantity::parse("0.5").unwrap()),
                    ..Default::default()
                }),
                scale_down: None,
            }),
            want: 4,
            ..Case::default()
        },
        Case {
            name: "per_direction_scale_down_tolerance",
            current: 10,
            status: 10,
            observations: vec![v(8.0)],
            behavior: Some(Behavior {
                scale_up: None,
                scale_down: Some(ScalingRules {
                    stabilization_window_seconds: Some(0),
                    tolerance: Some(Quantity::parse("300m").unwrap()),
                    ..Default::default()
                }),
            }),
            want: 10,
            ..Case::default()
        },
        Case {
            name: "zero_tolerance_scales_on_any_difference",
            current: 10,
            status: 10,
            observations: vec![v(10.5)],
            behavior: Some(Behavior {
                scale_up: Some(ScalingRules {
                    tolerance: Some(Quantity::parse("0").unwrap()),
                    ..Default::default()
                }),
                scale_down: None,
            }),
            want: 11,
            ..Case::default()
        },
    ]);
}

#[test]
fn s2_4_value_target() {
    check(vec![
        Case {
            name: "value_multiplies_the_ready_count_not_current",
            current: 3,
            status: 1,
            observations: vec![v(50.0)], // ratio 5 × 1 ready
            want: 5,
            want_metrics: Some(vec![Some(5)]),
            ..Case::default()
        },
        Case {
            name: "value_below_current_while_launching_is_held_at_current",
            current: 3,
            status: 1,
            observations: vec![v(15.0)], // ceil(1.5 × 1) = 2 < 3
            want: 3,
            want_metrics: Some(vec![Some(3)]),
            ..Case::default()
        },
        Case {
            name: "value_scale_down_when_all_nodes_ready",
            current: 4,
            status: 4,
            observations: vec![v(5.0)], // ceil(0.5 × 4) = 2
            want: 2,
            ..Case::default()
        },
        Case {
            name: "value_from_zero_ignores_tolerance",
            min: Some(0),
            current: 0,
            status: 0,
            observations: vec![v(10.0)], // ratio exactly 1 → 1
            want: 1,
            ..Case::default()
        },
        Case {
            name: "value_from_zero_is_ceil_of_ratio",
            min: Some(0),
            current: 0,
            status: 0,
            observations: vec![v(25.0)],
            want: 3,
            ..Case::default()
        },
        Case {
            name: "value_scale_down_to_zero_needs_min_zero_and_a_zero_proposal",
            min: Some(0),
            current: 2,
            status: 2,
            observations: vec![v(0.0)],
            behavior: no_down_window(),
            want: 0,
            ..Case::default()
        },
        Case {
            name: "value_recommendation_saturates_at_i32_max",
            max: 1000,
            current: 1,
            status: 1,
            observations: vec![v(1e300)],
            behavior: unlimited(),
            want: 1000,
            want_metrics: Some(vec![Some(i32::MAX)]),
            want_conditions: vec![("ScalingLimited", "True", "TooManyReplicas")],
            ..Case::default()
        },
        Case {
            name: "utilization_is_a_fraction_against_a_percent",
            metrics: vec![metric("prometheus", "Utilization", 60.0)],
            observations: vec![v(0.9)], // 90% / 60% = 1.5 × 4
            want: 6,
            ..Case::default()
        },
        Case {
            name: "utilization_below_current_while_launching_is_held",
            metrics: vec![metric("prometheus", "Utilization", 60.0)],
            current: 10,
            status: 4,
            observations: vec![v(0.3)],
            want: 10,
            ..Case::default()
        },
    ]);
}

#[test]
fn s2_5_average_value_target() {
    let avg = || vec![metric("prometheus", "AverageValue", 4.0)];
    check(vec![
        Case {
            name: "average_value_is_ceil_of_total_over_target",
            metrics: avg(),
            max: 1000,
            current: 2,
            status: 2,
            observations: vec![v(2400.0)],
            behavior: unlimited(),
            want: 600,
            ..Case::default()
        },
        Case {
            name: "average_value_within_tolerance_returns_the_status_count",
            metrics: avg(),
            current: 4,
            status: 5,
            observations: vec![v(20.0)], // 20 / (4 × 5) = 1.0
            want: 5,
            want_metrics: Some(vec![Some(5)]),
            ..Case::default()
        },
        Case {
            name: "average_value_within_tolerance_while_launching_returns_current",
            metrics: avg(),
            current: 6,
            status: 2,
            observations: vec![v(8.0)], // 8 / (4 × 2) = 1.0
            want: 6,
            want_metrics: Some(vec![Some(6)]),
            ..Case::default()
        },
        Case {
            name: "average_value_outside_tolerance_ignores_launching_nodes",
            metrics: avg(),
            min: Some(0),
            current: 6,
            status: 2,
            observations: vec![v(0.0)], // emptied queue
            behavior: no_down_window(),
            want: 0,
            ..Case::default()
        },
        Case {
            name: "average_value_scales_from_zero_with_the_count_policy",
            metrics: avg(),
            min: Some(0),
            max: 1000,
            current: 0,
            status: 0,
            observations: vec![v(2400.0)],
            want: 4, // Count 4 beats Percent 100 of 0
            want_metrics: Some(vec![Some(600)]),
            want_conditions: vec![("ScalingLimited", "True", "ScaleUpLimit")],
            ..Case::default()
        },
        Case {
            name: "percent_only_scale_up_cannot_leave_zero",
            metrics: avg(),
            min: Some(0),
            max: 1000,
            current: 0,
            status: 0,
            observations: vec![v(2400.0)],
            behavior: Some(Behavior {
                scale_up: Some(rules(None, None, Some(vec![percent(100, 15)]))),
                scale_down: None,
            }),
            want: 0,
            ..Case::default()
        },
        Case {
            name: "average_value_zero_total_at_zero_stays_zero",
            metrics: avg(),
            min: Some(0),
            current: 0,
            status: 0,
            observations: vec![v(0.0)],
            want: 0,
            want_metrics: Some(vec![Some(0)]),
            ..Case::default()
        },
    ]);
}

#[test]
fn s3_several_metrics_and_failures() {
    check(vec![
        Case {
            name: "largest_recommendation_wins",
            metrics: vec![
                metric("prometheus", "Value", 10.0),
                metric("prometheus", "Value", 10.0),
            ],
            observations: vec![v(15.0), v(5.0)],
            want: 6,
            want_metrics: Some(vec![Some(6), Some(2)]),
            want_conditions: vec![("ScalingActive", "True", "ValidMetricFound")],
            ..Case::default()
        },
        Case {
            name: "all_metrics_failed_means_no_change",
            metrics: vec![
                metric("prometheus", "Value", 10.0),
                metric("prometheus", "Value", 10.0),
            ],
            observations: vec![err("timeout"), err("no sample")],
            want: 4,
            want_conditions: vec![
                ("ScalingActive", "False", "FailedGetPrometheusMetric"),
                ("AbleToScale", "True", "SucceededGetScale"),
            ],
            absent: vec!["ScalingLimited"],
            ..Case::default()
        },
        Case {
            name: "partial_read_never_scales_down",
            metrics: vec![
                metric("prometheus", "Value", 10.0),
                metric("cloudWatch", "Value", 10.0),
            ],
            current: 5,
            status: 5,
            observations: vec![v(4.0), err("throttled")],
            want: 5,
            want_conditions: vec![("ScalingActive", "False", "FailedGetCloudWatchMetric")],
            ..Case::default()
        },
        Case {
            name: "partial_read_may_scale_up",
            metrics: vec![
                metric("prometheus", "Value", 10.0),
                metric("cloudWatch", "Value", 10.0),
            ],
            current: 5,
            status: 5,
            observations: vec![v(16.0), err("throttled")],
            want: 8,
            want_conditions: vec![("ScalingActive", "True", "ValidMetricFound")],
            ..Case::default()
        },
        Case {
            name: "first_failure_in_spec_order_gives_the_reason",
            metrics: vec![
                metric("cloudWatch", "Value", 10.0),
                metric("custom", "Value", 10.0),
            ],
            observations: vec![err("a"), err("b")],
            want: 4,
            want_conditions: vec![("ScalingActive", "False", "FailedGetCloudWatchMetric")],
            ..Case::default()
        },
        Case {
            name: "custom_source_failure_reason_uses_its_type",
            metrics: vec![metric("custom", "Value", 10.0)],
            observations: vec![err("down")],
            want: 4,
            want_conditions: vec![("ScalingActive", "False", "FailedGetDatadogMetric")],
            ..Case::default()
        },
        Case {
            name: "nan_and_infinite_values_are_unreadable",
            metrics: vec![
                metric("prometheus", "Value", 10.0),
                metric("prometheus", "Value", 10.0),
            ],
            observations: vec![v(f64::NAN), v(f64::INFINITY)],
            want: 4,
            want_metrics: Some(vec![None, None]),
            want_conditions: vec![("ScalingActive", "False", "FailedGetPrometheusMetric")],
            ..Case::default()
        },
        Case {
            name: "a_missing_observation_is_unreadable",
            metrics: vec![
                metric("prometheus", "Value", 10.0),
                metric("prometheus", "Value", 10.0),
            ],
            current: 5,
            status: 5,
            observations: vec![v(1.0)],
            want: 5,
            want_metrics: Some(vec![Some(1), None]),
            ..Case::default()
        },
        Case {
            name: "no_metrics_means_no_change",
            metrics: vec![],
            observations: vec![],
            want: 4,
            want_conditions: vec![("ScalingActive", "False", "InvalidMetricSourceType")],
            ..Case::default()
        },
    ]);
}

#[test]
fn s4_2_stabilization() {
    check(vec![
        Case {
            name: "scale_down_takes_the_highest_recommendation_in_the_window",
            current: 8,
            status: 8,
            observations: vec![v(3.0)],
            history: history(&[(200, 8), (100, 6)], &[]),
            want: 8,
            want_conditions: vec![("AbleToScale", "True", "ScaleDownStabilized")],
            ..Case::default()
        },
        Case {
            name: "scale_down_to_the_highest_recent_below_current",
            current: 8,
            status: 8,
            observations: vec![v(3.0)], // ceil(0.3 × 8) = 3
            history: history(&[(200, 6), (100, 5)], &[]),
            want: 6,
            want_conditions: vec![("AbleToScale", "True", "SucceededRescale")],
            ..Case::default()
        },
        Case {
            name: "a_recommendation_exactly_one_window_old_is_outside",
            current: 8,
            status: 8,
            observations: vec![v(3.0)],
            history: history(&[(300, 8)], &[]),
            want: 3,
            ..Case::default()
        },
        Case {
            name: "scale_up_takes_the_lowest_recommendation_in_the_up_window",
            current: 1,
            status: 1,
            observations: vec![v(50.0)], // 5
            behavior: Some(Behavior {
                scale_up: Some(rules(Some(180), None, None)),
                scale_down: None,
            }),
            history: history(&[(120, 3)], &[]),
            want: 3,
            want_conditions: vec![("AbleToScale", "True", "SucceededRescale")],
            ..Case::default()
        },
        Case {
            name: "stabilization_never_moves_against_desired",
            current: 5,
            status: 5,
            observations: vec![v(6.0)], // 3
            behavior: Some(Behavior {
                scale_up: Some(rules(Some(60), None, None)),
                scale_down: Some(rules(Some(0), None, None)),
            }),
            history: history(&[(10, 7)], &[]),
            want: 3,
            ..Case::default()
        },
        Case {
            name: "zero_window_holds_nothing",
            current: 8,
            status: 8,
            observations: vec![v(3.0)],
            behavior: no_down_window(),
            history: history(&[(1, 8)], &[]),
            want: 3,
            ..Case::default()
        },
    ]);
}

#[test]
fn s4_2_history_records_the_prenormalized_recommendation() {
    let c = Case {
        metrics: vec![metric("prometheus", "AverageValue", 4.0)],
        min: Some(0),
        max: 1000,
        current: 0,
        status: 0,
        observations: vec![v(2400.0)],
        history: history(&[(400, 1), (100, 2)], &[]),
        ..Case::default()
    };
    let d = run_case(&c);
    assert_eq!(d.desired_replicas, 4);
    let recs: Vec<(DateTime<Utc>, i32)> = d
        .history
        .recommendations
        .iter()
        .map(|r| (r.time, r.replicas))
        .collect();
    // The 400 s-old entry is in no window any more and is dropped.
    assert_eq!(recs, vec![(ago(100), 2), (t0(), 600)]);
    assert_eq!(
        d.history.scale_events,
        vec![ScaleEvent {
            time: t0(),
            change: 4
        }]
    );
}

#[test]
fn s4_4_rate_limits() {
    check(vec![
        Case {
            name: "default_scale_up_is_max_of_4_and_100_percent",
            current: 10,
            status: 10,
            observations: vec![v(100.0)],
            want: 20,
            want_conditions: vec![("ScalingLimited", "True", "ScaleUpLimit")],
            ..Case::default()
        },
        Case {
            name: "select_policy_min_takes_the_least_change",
            current: 10,
            status: 10,
            observations: vec![v(100.0)],
            behavior: Some(Behavior {
                scale_up: Some(rules(None, Some(ScalingPolicySelect::Min), None)),
                scale_down: None,
            }),
            want: 14,
            ..Case::default()
        },
        Case {
            name: "select_policy_disabled_freezes_that_direction",
            current: 10,
            status: 10,
            observations: vec![v(2.0)],
            behavior: Some(Behavior {
                scale_up: None,
                scale_down: Some(rules(Some(0), Some(ScalingPolicySelect::Disabled), None)),
            }),
            want: 10,
            want_conditions: vec![("ScalingLimited", "True", "ScaleDownLimit")],
            ..Case::default()
        },
        Case {
            name: "period_start_counts_events_of_both_directions",
            current: 6,
            status: 6,
            observations: vec![v(200.0)],
            behavior: Some(Behavior {
                scale_up: Some(rules(None, None, Some(vec![percent(100, 60)]))),
                scale_down: None,
            }),
            history: history(&[], &[(10, 4), (5, -2)]), // start = 6 − 4 + 2 = 4
            want: 8,
            ..Case::default()
        },
        Case {
            name: "recent_scale_ups_freeze_but_never_reverse",
            current: 100,
            status: 100,
            max: 1000,
            observations: vec![v(2000.0)],
            behavior: Some(Behavior {
                scale_up: Some(rules(None, None, Some(vec![count(5, 60)]))),
                scale_down: None,
            }),
            history: history(&[], &[(30, 15)]), // 85 + 5 = 90, raised to 100
            want: 100,
            want_conditions: vec![("ScalingLimited", "True", "ScaleUpLimit")],
            ..Case::default()
        },
        Case {
            name: "an_event_exactly_one_period_old_does_not_count",
            current: 10,
            status: 10,
            observations: vec![v(100.0)],
            behavior: Some(Behavior {
                scale_up: Some(rules(None, None, Some(vec![count(4, 60)]))),
                scale_down: None,
            }),
            history: history(&[], &[(60, 4)]),
            want: 14,
            ..Case::default()
        },
        Case {
            name: "negative_scale_down_bounds_are_allowed_and_min_decides",
            min: Some(5),
            current: 10,
            status: 10,
            observations: vec![v(5.0)], // 5
            behavior: Some(Behavior {
                scale_up: None,
                scale_down: Some(rules(Some(0), None, Some(vec![count(370, 60)]))),
            }),
            want: 5,
            want_conditions: vec![("ScalingLimited", "False", "DesiredWithinRange")],
            ..Case::default()
        },
        Case {
            name: "percent_up_is_exact_50_plus_10_percent_is_55",
            current: 50,
            status: 50,
            observations: vec![v(20.0)],
            behavior: Some(Behavior {
                scale_up: Some(rules(None, None, Some(vec![percent(10, 60)]))),
                scale_down: None,
            }),
            want: 55,
            ..Case::default()
        },
        Case {
            name: "percent_down_is_exact_5_minus_80_percent_is_1",
            min: Some(0),
            current: 5,
            status: 5,
            observations: vec![v(0.0)],
            behavior: Some(Behavior {
                scale_up: None,
                scale_down: Some(rules(Some(0), None, Some(vec![percent(80, 60)]))),
            }),
            want: 1,
            want_conditions: vec![("ScalingLimited", "True", "ScaleDownLimit")],
            ..Case::default()
        },
        Case {
            name: "percent_down_10_minus_90_percent_is_1",
            min: Some(0),
            current: 10,
            status: 10,
            observations: vec![v(0.0)],
            behavior: Some(Behavior {
                scale_up: None,
                scale_down: Some(rules(Some(0), None, Some(vec![percent(90, 60)]))),
            }),
            want: 1,
            ..Case::default()
        },
        Case {
            name: "percent_up_25_plus_12_percent_is_28",
            current: 25,
            status: 25,
            observations: vec![v(20.0)],
            behavior: Some(Behavior {
                scale_up: Some(rules(None, None, Some(vec![percent(12, 60)]))),
                scale_down: None,
            }),
            want: 28,
            ..Case::default()
        },
        Case {
            name: "scale_down_count_policy_limits",
            current: 5,
            status: 5,
            observations: vec![v(2.0)],
            behavior: Some(Behavior {
                scale_up: None,
                scale_down: Some(rules(Some(0), None, Some(vec![count(1, 15)]))),
            }),
            want: 4,
            want_conditions: vec![("ScalingLimited", "True", "ScaleDownLimit")],
            ..Case::default()
        },
    ]);
}

#[test]
fn s4_3_scale_events_are_kept_for_the_longest_period_of_either_direction() {
    let c = Case {
        current: 10,
        status: 10,
        observations: vec![v(12.0)], // 12
        behavior: Some(Behavior {
            scale_up: Some(rules(None, None, Some(vec![count(4, 60)]))),
            scale_down: Some(rules(None, None, Some(vec![count(1, 600)]))),
        }),
        history: history(&[], &[(700, 1), (300, 2)]),
        ..Case::default()
    };
    let d = run_case(&c);
    assert_eq!(d.desired_replicas, 12);
    // The up event 300 s old is outside the up period (60 s) but inside the
    // down period (600 s): kept. The 700 s one is dropped.
    assert_eq!(
        d.history.scale_events,
        vec![
            ScaleEvent {
                time: ago(300),
                change: 2
            },
            ScaleEvent {
                time: t0(),
                change: 2
            }
        ]
    );
}

#[test]
fn s4_5_clamp() {
    check(vec![
        Case {
            name: "clamped_to_max_is_too_many_replicas",
            max: 10,
            current: 8,
            status: 8,
            observations: vec![v(100.0)],
            want: 10,
            want_conditions: vec![("ScalingLimited", "True", "TooManyReplicas")],
            ..Case::default()
        },
        Case {
            name: "clamped_to_min_is_too_few_replicas",
            min: Some(3),
            current: 5,
            status: 5,
            observations: vec![v(1.0)],
            want: 3,
            want_conditions: vec![("ScalingLimited", "True", "TooFewReplicas")],
            ..Case::default()
        },
        Case {
            name: "within_range_is_desired_within_range",
            current: 5,
            status: 5,
            observations: vec![v(10.0)],
            want: 5,
            want_conditions: vec![
                ("ScalingLimited", "False", "DesiredWithinRange"),
                ("AbleToScale", "True", "ReadyForNewScale"),
            ],
            ..Case::default()
        },
    ]);
}

#[test]
fn s5_omitted_behavior_uses_the_defaults_not_the_legacy_path() {
    // Legacy would double per decision with no memory; the defaults allow
    // max(+4, +100 %) within any 15 s: a second scale-up 5 s later is frozen.
    let c = Case {
        current: 8,
        status: 8,
        observations: vec![v(100.0)],
        history: history(&[], &[(5, 4)]), // 4 → 8 five seconds ago
        want: 8,
        want_conditions: vec![("ScalingLimited", "True", "ScaleUpLimit")],
        ..Case::default()
    };
    check(vec![c]);
}

#[test]
fn s7_write_failure_sets_failed_update_scale_and_forgets_the_event() {
    let c = Case {
        current: 4,
        status: 4,
        observations: vec![v(20.0)],
        ..Case::default()
    };
    let mut d = run_case(&c);
    assert_eq!(d.desired_replicas, 8);
    assert_eq!(d.history.scale_events.len(), 1);
    d.record_write_failure("throttled", t0());
    let cond = d.condition("AbleToScale").unwrap();
    assert_eq!(
        (cond.status.as_str(), &*cond.reason),
        ("False", "FailedUpdateScale")
    );
    assert!(cond.message.contains("throttled"));
    assert!(d.history.scale_events.is_empty());
}

#[test]
fn explanation_names_every_step() {
    let c = Case {
        metrics: vec![
            metric("prometheus", "Value", 10.0),
            metric("cloudWatch", "Value", 10.0),
        ],
        current: 10,
        status: 10,
        observations: vec![v(100.0), err("throttled")],
        history: None,
        ..Case::default()
    };
    let d = run_case(&c);
    let text = d.explain().join("\n");
    for needle in [
        "first decision since start",
        "metrics[0]: observed 100",
        "metrics[1]: not usable (FailedGetCloudWatchMetric): throttled",
        "largest recommendation wins: metrics[0] with 100",
        "stabilization",
        "scale-up policies (Max): policies[1] allows 100% per 15s",
        "limited (ScaleUpLimit): 100 → 20",
        "decision: scale from 10 to 20 replicas",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
    assert_eq!(d.error.as_deref(), Some("metrics[1]: throttled"));
}
