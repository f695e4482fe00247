//! Table tests of the two decision features selected in the manifest:
//! `spec.fallback` (what to do when no metric can be read) and
//! `spec.algorithm` (Proportional or PID). Every expected number is
//! computed by hand in the case's comment.

// Test helpers outside #[test] fns may unwrap: a failure there is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{DateTime, Duration, TimeZone, Utc};
use karpenter_core::api::v1alpha1::{
    HorizontalAutoscaler, HorizontalAutoscalerSpec, Recommendation, ScalingHistory,
};
use karpenter_core::autoscaler::{Decision, DecisionInput, Observation, TargetState, decide};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 10, 0).unwrap()
}

fn failed() -> Observation {
    Observation::Error("connection refused".to_string())
}

/// A spec with one Value metric (target 10) per `metrics`, min 1, `max`,
/// and the extra fields in `extra` (fallback, algorithm, behavior).
fn spec(metrics: usize, max: i32, extra: serde_json::Value) -> HorizontalAutoscalerSpec {
    let metric =
        serde_json::json!({"prometheus": {"query": "q", "target": {"type": "Value", "value": 10}}});
    let mut doc = serde_json::json!({
        "scaleTargetRef": {"kind": "ScalableNodeGroup", "name": "ng"},
        "minReplicas": 1,
        "maxReplicas": max,
        "metrics": vec![metric; metrics],
    });
    if let (Some(doc), Some(extra)) = (doc.as_object_mut(), extra.as_object()) {
        for (k, v) in extra {
            doc.insert(k.clone(), v.clone());
        }
    }
    serde_json::from_value(doc).unwrap()
}

struct FallbackCase {
    name: &'static str,
    fallback: serde_json::Value,
    max: i32,
    current: i32,
    observations: Vec<Observation>,
    /// `failedReads` in the history before the decision.
    failed_before: u32,
    /// Recommendations in the history: (seconds ago, replicas).
    recommendations: Vec<(i64, i32)>,
    want: i32,
    want_failed_after: u32,
    /// (status, reason) of the `Fallback` condition; None = absent.
    want_fallback: Option<(&'static str, &'static str)>,
    /// (type, status, reason) that must also be present.
    want_conditions: Vec<(&'static str, &'static str, &'static str)>,
}

impl Default for FallbackCase {
    fn default() -> Self {
        Self {
            name: "",
            fallback: serde_json::json!({"failureThreshold": 3, "replicas": 6}),
            max: 10,
            current: 4,
            observations: vec![failed()],
            failed_before: 0,
            recommendations: vec![],
            want: 0,
            want_failed_after: 0,
            want_fallback: None,
            want_conditions: vec![],
        }
    }
}

fn run_fallback(c: &FallbackCase) -> Decision {
    let extra = if c.fallback.is_null() {
        serde_json::json!({})
    } else {
        serde_json::json!({"fallback": c.fallback})
    };
    let spec = spec(c.observations.len(), c.max, extra);
    let history = ScalingHistory {
        recommendations: c
            .recommendations
            .iter()
            .map(|&(ago, replicas)| Recommendation {
                time: t0() - Duration::seconds(ago),
                replicas,
            })
            .collect(),
        failed_reads: c.failed_before,
        ..ScalingHistory::default()
    };
    decide(&DecisionInput {
        spec: &spec,
        target: TargetState {
            spec_replicas: c.current,
            status_replicas: c.current,
        },
        observations: &c.observations,
        history: Some(&history),
        now: t0(),
    })
}

#[test]
fn fallback_table() {
    let cases = vec![
        FallbackCase {
            name: "below the threshold nothing changes and the count grows",
            failed_before: 1,
            want: 4,
            want_failed_after: 2,
            want_fallback: Some(("False", "FallbackInactive")),
            want_conditions: vec![("ScalingActive", "False", "FailedGetPrometheusMetric")],
            ..FallbackCase::default()
        },
        FallbackCase {
            // max(4, 6) = 6; the default policies allow max(4+4, 2×4) = 8.
            name: "reaching the threshold: currentReplicasIfHigher (default) scales up to replicas",
            failed_before: 2,
            want: 6,
            want_failed_after: 3,
            want_fallback: Some(("True", "FallbackActive")),
            want_conditions: vec![
                ("ScalingActive", "False", "FailedGetPrometheusMetric"),
                ("AbleToScale", "True", "SucceededRescale"),
            ],
            ..FallbackCase::default()
        },
        FallbackCase {
            // max(8, 6) = 8: the default never scales down.
            name: "currentReplicasIfHigher keeps a higher current count",
            current: 8,
            failed_before: 5,
            want: 8,
            want_failed_after: 6,
            want_fallback: Some(("True", "FallbackActive")),
            ..FallbackCase::default()
        },
        FallbackCase {
            // static: 6; no recommendation in the 300 s window, policy
            // Percent 100 allows down to 0: 6.
            name: "static scales down blind when nothing in the window holds it",
            fallback: serde_json::json!({"failureThreshold": 3, "replicas": 6, "behavior": "static"}),
            current: 8,
            failed_before: 2,
            want: 6,
            want_failed_after: 3,
            want_fallback: Some(("True", "FallbackActive")),
            ..FallbackCase::default()
        },
        FallbackCase {
            // The scale-down window's highest recommendation, 8 from 60 s
            // ago, holds the static 6 at 8.
            name: "static goes through the scale-down stabilization window",
            fallback: serde_json::json!({"failureThreshold": 3, "replicas": 6, "behavior": "static"}),
            current: 8,
            failed_before: 2,
            recommendations: vec![(60, 8)],
            want: 8,
            want_failed_after: 3,
            want_fallback: Some(("True", "FallbackActive")),
            want_conditions: vec![("AbleToScale", "True", "ScaleDownStabilized")],
            ..FallbackCase::default()
        },
        FallbackCase {
            // min(4, 6) = 4.
            name: "currentReplicasIfLower never scales up",
            fallback: serde_json::json!({"failureThreshold": 1, "replicas": 6, "behavior": "currentReplicasIfLower"}),
            current: 4,
            want: 4,
            want_failed_after: 1,
            want_fallback: Some(("True", "FallbackActive")),
            ..FallbackCase::default()
        },
        FallbackCase {
            // min(9, 6) = 6.
            name: "currentReplicasIfLower scales down blind",
            fallback: serde_json::json!({"failureThreshold": 1, "replicas": 6, "behavior": "currentReplicasIfLower"}),
            current: 9,
            want: 6,
            want_failed_after: 1,
            want_fallback: Some(("True", "FallbackActive")),
            ..FallbackCase::default()
        },
        FallbackCase {
            // max(8, 50) = 50; policies allow 16; maxReplicas 10 wins.
            name: "the fallback count is clamped to maxReplicas",
            fallback: serde_json::json!({"failureThreshold": 1, "replicas": 50}),
            current: 8,
            want: 10,
            want_failed_after: 1,
            want_fallback: Some(("True", "FallbackActive")),
            want_conditions: vec![("ScalingLimited", "True", "TooManyReplicas")],
            ..FallbackCase::default()
        },
        FallbackCase {
            // max(2, 50) = 50; policies: Count 4 → 6, Percent 100 → 4; Max → 6.
            name: "the fallback count is rate-limited by the scale-up policies",
            fallback: serde_json::json!({"failureThreshold": 1, "replicas": 50}),
            max: 100,
            current: 2,
            want: 6,
            want_failed_after: 1,
            want_fallback: Some(("True", "FallbackActive")),
            want_conditions: vec![("ScalingLimited", "True", "ScaleUpLimit")],
            ..FallbackCase::default()
        },
        FallbackCase {
            // static 0 is below minReplicas 1.
            name: "a static fallback below minReplicas is raised to it",
            fallback: serde_json::json!({"failureThreshold": 1, "replicas": 0, "behavior": "static"}),
            current: 4,
            want: 1,
            want_failed_after: 1,
            want_fallback: Some(("True", "FallbackActive")),
            want_conditions: vec![("ScalingLimited", "True", "TooFewReplicas")],
            ..FallbackCase::default()
        },
        FallbackCase {
            // Value 20 against 10 with 4 ready: ceil(2 × 4) = 8.
            name: "the first good read ends the fallback",
            failed_before: 7,
            observations: vec![Observation::Value(20.0)],
            want: 8,
            want_failed_after: 0,
            want_fallback: Some(("False", "FallbackInactive")),
            want_conditions: vec![("ScalingActive", "True", "ValidMetricFound")],
            ..FallbackCase::default()
        },
        FallbackCase {
            // One metric read (ratio 0.5 → 2 < current): a partial read
            // never scales down, and it is not "every metric failed".
            name: "a partial read ends the fallback and does not scale down",
            failed_before: 7,
            observations: vec![Observation::Value(5.0), failed()],
            want: 4,
            want_failed_after: 0,
            want_fallback: Some(("False", "FallbackInactive")),
            want_conditions: vec![("ScalingActive", "False", "FailedGetPrometheusMetric")],
            ..FallbackCase::default()
        },
        FallbackCase {
            name: "without spec.fallback nothing is counted and no condition is set",
            fallback: serde_json::Value::Null,
            failed_before: 0,
            want: 4,
            want_failed_after: 0,
            want_fallback: None,
            ..FallbackCase::default()
        },
        FallbackCase {
            // current 0 with minReplicas 1: paused, no metric is read, the
            // count is neither advanced nor reset.
            name: "a paused autoscaler leaves the count alone",
            current: 0,
            failed_before: 2,
            want: 0,
            want_failed_after: 2,
            want_fallback: None,
            want_conditions: vec![("ScalingActive", "False", "ScalingDisabled")],
            ..FallbackCase::default()
        },
    ];
    let mut failures = Vec::new();
    for c in &cases {
        let d = run_fallback(c);
        let mut problems = Vec::new();
        if d.desired_replicas != c.want {
            problems.push(format!("desired {} != {}", d.desired_replicas, c.want));
        }
        if d.history.failed_reads != c.want_failed_after {
            problems.push(format!(
                "failedReads {} != {}",
                d.history.failed_reads, c.want_failed_after
            ));
        }
        let got = d
            .condition("Fallback")
            .map(|f| (f.status.as_str(), f.reason.to_string()));
        let want = c.want_fallback.map(|(s, r)| (s, r.to_string()));
        if got != want {
            problems.push(format!("Fallback condition {got:?} != {want:?}"));
        }
        for (type_, status, reason) in &c.want_conditions {
            match d.condition(type_) {
                Some(x) if x.status.as_str() == *status && x.reason == *reason => {}
                other => problems.push(format!(
                    "{type_}: {:?} != {status}/{reason}",
                    other.map(|x| (x.status, x.reason.clone()))
                )),
            }
        }
        if !problems.is_empty() {
            failures.push(format!("{}: {}", c.name, problems.join("; ")));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn fallback_applies_after_exactly_failure_threshold_failed_decisions() {
    let spec = spec(
        1,
        10,
        serde_json::json!({"fallback": {"failureThreshold": 3, "replicas": 6}}),
    );
    let observations = [failed()];
    let mut history: Option<ScalingHistory> = None;
    let mut current = 2;
    let mut trace = Vec::new();
    for i in 0..4 {
        let d = decide(&DecisionInput {
            spec: &spec,
            target: TargetState {
                spec_replicas: current,
                status_replicas: current,
            },
            observations: &observations,
            history: history.as_ref(),
            now: t0() + Duration::seconds(15 * i),
        });
        current = d.desired_replicas;
        trace.push((d.history.failed_reads, current));
        history = Some(d.history);
    }
    // 1 and 2 failures: no change; the third: max(2, 6) = 6 (+4 allowed);
    // the fourth keeps 6.
    assert_eq!(trace, vec![(1, 2), (2, 2), (3, 6), (4, 6)]);
}

#[test]
fn fallback_is_explained() {
    let d = run_fallback(&FallbackCase {
        failed_before: 2,
        ..FallbackCase::default()
    });
    let text = d.explain().join("\n");
    assert!(
        text.contains("fallback: no metric could be read in 3 consecutive decisions (failureThreshold 3): currentReplicasIfHigher of fallback.replicas 6 and current 4 recommends 6"),
        "{text}"
    );
}

fn pid_spec(pid: serde_json::Value, behavior: serde_json::Value) -> HorizontalAutoscalerSpec {
    spec(
        1,
        1000,
        serde_json::json!({"algorithm": {"type": "PID", "pid": pid}, "behavior": behavior}),
    )
}

/// One PID decision: (current, ready, observed against target 10).
fn pid_decide(
    spec: &HorizontalAutoscalerSpec,
    current: i32,
    ready: i32,
    observed: f64,
    history: Option<&ScalingHistory>,
    at: i64,
) -> Decision {
    decide(&DecisionInput {
        spec,
        target: TargetState {
            spec_replicas: current,
            status_replicas: ready,
        },
        observations: &[Observation::Value(observed)],
        history,
        now: t0() + Duration::seconds(at),
    })
}

#[test]
fn pid_table() {
    let no_down_window = serde_json::json!({"scaleDown": {"stabilizationWindowSeconds": 0}});
    struct PidCase {
        name: &'static str,
        pid: serde_json::Value,
        current: i32,
        observed: f64,
        want: i32,
    }
    let cases = [
        PidCase {
            // Ratio 2: kp·r + (1 − kp) = 2, the proportional rule:
            // ceil(2 × 10) = 20.
            name: "kp 1, ki kd 0 is the proportional rule",
            pid: serde_json::json!({"kp": 1, "ki": 0, "kd": 0}),
            current: 10,
            observed: 20.0,
            want: 20,
        },
        PidCase {
            // 0.5 × 2 + 0.5 = 1.5 → 15 (first decision: no integral).
            name: "kp 0.5 on ratio 2",
            pid: serde_json::json!({"kp": "0.5", "ki": 0}),
            current: 10,
            observed: 20.0,
            want: 15,
        },
        PidCase {
            // Ratio 5, kp 1 → 5, limited to 1 + maxOutput = 2 → 20.
            name: "maxOutput limits the output",
            pid: serde_json::json!({"kp": 1, "ki": 0, "maxOutput": 1}),
            current: 10,
            observed: 50.0,
            want: 20,
        },
        PidCase {
            // Ratio 0.2, kp 1 → 0.2, limited to 1 + minOutput = 0.5 → 5
            // (Proportional would say 2).
            name: "minOutput limits the output downwards",
            pid: serde_json::json!({"kp": 1, "ki": 0, "minOutput": "-0.5"}),
            current: 10,
            observed: 2.0,
            want: 5,
        },
        PidCase {
            // Ratio 1.05 is within the 0.1 tolerance: hold.
            name: "within tolerance holds",
            pid: serde_json::json!({}),
            current: 10,
            observed: 10.5,
            want: 10,
        },
    ];
    let mut failures = Vec::new();
    for c in &cases {
        let spec = pid_spec(c.pid.clone(), no_down_window.clone());
        let d = pid_decide(&spec, c.current, c.current, c.observed, None, 0);
        if d.desired_replicas != c.want {
            failures.push(format!("{}: {} != {}", c.name, d.desired_replicas, c.want));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn pid_integral_accumulates_between_decisions_and_is_persisted() {
    let spec = pid_spec(
        serde_json::json!({"kp": "0.5", "ki": "0.01", "integralLimit": 1}),
        serde_json::json!({}),
    );
    // First decision, no state: 0.5 × 2 + 0.5 = 1.5 → 15.
    let first = pid_decide(&spec, 10, 10, 20.0, None, 0);
    assert_eq!(first.desired_replicas, 15);
    assert_eq!(first.history.algorithm_state[0].integral, 0.0);
    // 15 s later, still 10 ready (5 launching), same reading: e = 1,
    // integral 0 + 1 × 15 = 15 (bound 1 / 0.01 = 100), output
    // 1.5 + 0.01 × 15 = 1.65 → ceil(16.5) = 17.
    let second = pid_decide(&spec, 15, 10, 20.0, Some(&first.history), 15);
    assert_eq!(second.desired_replicas, 17);
    assert_eq!(second.history.algorithm_state[0].integral, 15.0);
}

#[test]
fn pid_anti_windup_bounds_the_integral() {
    // kp 0, ki 0.1, integralLimit 0.2: the integral is bounded to
    // 0.2 / 0.1 = 2. Ratio 1.5 (e = 0.5): 0.5 × 15 = 7.5 → 2; output
    // 1 + 0.1 × 2 = 1.2 → 12.
    let spec = pid_spec(
        serde_json::json!({"kp": 0, "ki": "0.1", "integralLimit": "0.2"}),
        serde_json::json!({}),
    );
    let first = pid_decide(&spec, 10, 10, 15.0, None, 0);
    assert_eq!(first.desired_replicas, 10);
    let second = pid_decide(&spec, 10, 10, 15.0, Some(&first.history), 15);
    assert_eq!(second.history.algorithm_state[0].integral, 2.0);
    assert_eq!(second.desired_replicas, 12);
}

#[test]
fn proportional_is_the_default_and_explicit_proportional_is_the_same() {
    let implicit = spec(1, 100, serde_json::json!({}));
    let explicit = spec(
        1,
        100,
        serde_json::json!({"algorithm": {"type": "Proportional"}}),
    );
    for observed in [0.0, 5.0, 13.0, 40.0] {
        let a = pid_decide(&implicit, 10, 10, observed, None, 0);
        let b = pid_decide(&explicit, 10, 10, observed, None, 0);
        assert_eq!(a, b, "observed {observed}");
        assert!(a.history.algorithm_state.is_empty());
    }
}

#[test]
fn algorithm_and_fallback_are_validated_with_their_paths() {
    let ha: HorizontalAutoscaler = karpenter_core::api::from_str(
        r#"
apiVersion: autoscaling.karpenter.sh/v1alpha1
kind: HorizontalAutoscaler
metadata: {name: web}
spec:
  scaleTargetRef: {kind: ScalableNodeGroup, name: web}
  maxReplicas: 10
  metrics:
  - prometheus: {query: q, target: {type: Value, value: 10}}
  algorithm:
    type: PID
    pid: {kp: -1, ki: 0, kd: "-0.5", integralLimit: -2, minOutput: -2, maxOutput: 0, maxGapSeconds: 0}
  fallback: {failureThreshold: 0, replicas: -1, behavior: static}
"#,
    )
    .unwrap();
    let errors = ha.validate().unwrap_err().to_string();
    assert_eq!(
        errors,
        "\
spec.algorithm.pid.kp: must be >= 0, got -1
spec.algorithm.pid.kd: must be >= 0, got -0.5
spec.algorithm.pid.integralLimit: must be >= 0, got -2
spec.algorithm.pid.maxOutput: must be > 0 (the most one decision may add, as a multiple of the ready count), got 0
spec.algorithm.pid.minOutput: must be >= -1 and < 0 (-1 allows scaling to zero, -0.5 at most halves the ready count), got -2
spec.algorithm.pid.maxGapSeconds: must be >= 1, got 0
spec.fallback.failureThreshold: must be >= 1 (consecutive decisions in which every metric failed), got 0
spec.fallback.replicas: must be >= 0, got -1"
    );

    let ha: HorizontalAutoscaler = karpenter_core::api::from_str(
        r#"
kind: HorizontalAutoscaler
metadata: {name: web}
spec:
  scaleTargetRef: {kind: ScalableNodeGroup, name: web}
  maxReplicas: 10
  metrics: [{prometheus: {query: q, target: {type: Value, value: 10}}}]
  algorithm: {type: Proportional, pid: {kp: 1}}
"#,
    )
    .unwrap();
    assert_eq!(
        ha.validate().unwrap_err().to_string(),
        "spec.algorithm.pid: is only allowed with type PID; set type: PID, or remove pid to use Proportional"
    );

    // Misspellings are parse errors with the line and the closest name.
    let err = karpenter_core::api::from_str::<HorizontalAutoscaler>(
        "kind: HorizontalAutoscaler\nmetadata: {name: web}\nspec:\n  scaleTargetRef: {kind: ScalableNodeGroup, name: web}\n  maxReplicas: 10\n  fallback: {failureTreshold: 3, replicas: 2}\n",
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "`spec.fallback.failureTreshold`: unknown field, did you mean `failureThreshold`? (line 6, column 14)"
    );
    let err = karpenter_core::api::from_str::<HorizontalAutoscaler>(
        "kind: HorizontalAutoscaler\nmetadata: {name: web}\nspec:\n  scaleTargetRef: {kind: ScalableNodeGroup, name: web}\n  maxReplicas: 10\n  algorithm: {type: Pid}\n",
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("unknown value `Pid`, did you mean `PID`?"),
        "{err}"
    );
}
