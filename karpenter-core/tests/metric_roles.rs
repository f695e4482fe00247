//! Metric roles: a scale-up-only or scale-down-only metric whose
//! recommendation points the other way (or is the current count) abstains
//! from the largest-recommendation rule instead of pinning the count.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on purpose.

use chrono::{DateTime, TimeZone, Utc};
use karpenter_core::api::v1alpha1::HorizontalAutoscalerSpec;
use karpenter_core::autoscaler::{
    Decision, DecisionInput, MetricOutcome, Observation, Step, TargetState, decide,
};

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap()
}

/// Two AverageValue-1 metrics (so a metric recommends exactly its observed
/// value), with the given roles, no down window so a scale-down shows at
/// once, and a history that does not hold the count up.
fn spec(roles: [Option<&str>; 2]) -> HorizontalAutoscalerSpec {
    let metric = |query: &str, role: Option<&str>| {
        let mut m = serde_json::json!({"prometheus": {"query": query,
            "target": {"type": "AverageValue", "value": 1}}});
        if let Some(r) = role {
            m["role"] = r.into();
        }
        m
    };
    serde_json::from_value(serde_json::json!({
        "scaleTargetRef": {"kind": "ScalableNodeGroup", "name": "g"},
        "minReplicas": 0, "maxReplicas": 100,
        "metrics": [metric("a", roles[0]), metric("b", roles[1])],
        "behavior": {"scaleDown": {"stabilizationWindowSeconds": 0}}
    }))
    .unwrap()
}

fn decide_with(
    spec: &HorizontalAutoscalerSpec,
    current: i32,
    observations: &[Observation],
) -> Decision {
    let history = karpenter_core::api::v1alpha1::ScalingHistory::default();
    decide(&DecisionInput {
        spec,
        target: TargetState {
            spec_replicas: current,
            status_replicas: current,
        },
        observations,
        history: Some(&history),
        now: now(),
    })
}

fn outcome_kinds(d: &Decision) -> Vec<&'static str> {
    d.metrics
        .iter()
        .map(|m| match m {
            MetricOutcome::Recommendation { .. } => "recommends",
            MetricOutcome::Error { .. } => "error",
            MetricOutcome::Abstained { .. } => "abstains",
        })
        .collect()
}

struct Case {
    name: &'static str,
    roles: [Option<&'static str>; 2],
    current: i32,
    /// Observed values (AverageValue 1: each recommends its value); `None`
    /// is a failed read.
    values: [Option<f64>; 2],
    desired: i32,
    kinds: [&'static str; 2],
    scaling_active: (&'static str, &'static str),
}

#[test]
fn roles_table() {
    let cases = [
        Case {
            name: "no roles: the largest wins and pins the count",
            roles: [None, None],
            current: 8,
            values: [Some(8.0), Some(5.0)],
            desired: 8,
            kinds: ["recommends", "recommends"],
            scaling_active: ("True", "ValidMetricFound"),
        },
        Case {
            name: "scale-up-only at current abstains: the scale-down-only metric removes nodes",
            roles: [Some("ScaleUpOnly"), Some("ScaleDownOnly")],
            current: 8,
            values: [Some(8.0), Some(5.0)],
            desired: 5,
            kinds: ["abstains", "recommends"],
            scaling_active: ("True", "ValidMetricFound"),
        },
        Case {
            name: "scale-up-only above current wins; scale-down-only above current abstains",
            roles: [Some("ScaleUpOnly"), Some("ScaleDownOnly")],
            current: 8,
            values: [Some(12.0), Some(9.0)],
            desired: 12,
            kinds: ["recommends", "abstains"],
            scaling_active: ("True", "ValidMetricFound"),
        },
        Case {
            name: "scale-down-only below current and a plain metric at current: the plain one pins",
            roles: [Some("ScaleDownOnly"), None],
            current: 8,
            values: [Some(3.0), Some(8.0)],
            desired: 8,
            kinds: ["recommends", "recommends"],
            scaling_active: ("True", "ValidMetricFound"),
        },
        Case {
            name: "every metric abstains: nothing changes",
            roles: [Some("ScaleUpOnly"), Some("ScaleDownOnly")],
            current: 8,
            values: [Some(2.0), Some(9.0)],
            desired: 8,
            kinds: ["abstains", "abstains"],
            scaling_active: ("True", "ValidMetricFound"),
        },
        Case {
            name: "abstained and failed: nothing changes, the failure says why",
            roles: [Some("ScaleUpOnly"), None],
            current: 8,
            values: [Some(8.0), None],
            desired: 8,
            kinds: ["abstains", "error"],
            scaling_active: ("False", "FailedGetPrometheusMetric"),
        },
        Case {
            name: "a partial read never scales down, roles or not",
            roles: [Some("ScaleDownOnly"), None],
            current: 8,
            values: [Some(3.0), None],
            desired: 8,
            kinds: ["recommends", "error"],
            scaling_active: ("False", "FailedGetPrometheusMetric"),
        },
        Case {
            name: "scale-up-only from zero",
            roles: [Some("ScaleUpOnly"), Some("ScaleDownOnly")],
            current: 0,
            values: [Some(3.0), Some(0.0)],
            desired: 3,
            kinds: ["recommends", "abstains"],
            scaling_active: ("True", "ValidMetricFound"),
        },
    ];
    for c in cases {
        let observations: Vec<Observation> = c
            .values
            .iter()
            .map(|v| match v {
                Some(v) => Observation::Value(*v),
                None => Observation::Error("scrape failed".to_string()),
            })
            .collect();
        let d = decide_with(&spec(c.roles), c.current, &observations);
        let name = c.name;
        assert_eq!(d.desired_replicas, c.desired, "{name}: {:#?}", d.explain());
        assert_eq!(outcome_kinds(&d), c.kinds, "{name}");
        let active = d.condition("ScalingActive").unwrap();
        assert_eq!(
            (active.status.as_str(), &*active.reason),
            c.scaling_active,
            "{name}"
        );
        let abstentions = d
            .explanation
            .iter()
            .filter(|s| matches!(s, Step::MetricAbstained { .. }))
            .count();
        assert_eq!(
            abstentions,
            c.kinds.iter().filter(|k| **k == "abstains").count(),
            "{name}"
        );
    }
}

#[test]
fn the_explanation_says_why_a_metric_abstained() {
    let d = decide_with(
        &spec([Some("ScaleUpOnly"), Some("ScaleDownOnly")]),
        8,
        &[Observation::Value(2.0), Observation::Value(9.0)],
    );
    let text = d.explain().join("\n");
    assert!(
        text.contains("metrics[0] is ScaleUpOnly: its 2 against current 8 abstains"),
        "{text}"
    );
    assert!(text.contains("every usable metric abstained"), "{text}");
    let active = d.condition("ScalingActive").unwrap();
    assert!(active.message.contains("abstained"), "{}", active.message);
}

#[test]
fn an_unknown_role_is_rejected_naming_the_field() {
    let err = karpenter_core::api::from_str::<HorizontalAutoscalerSpec>(
        r#"{"scaleTargetRef": {"kind": "ScalableNodeGroup", "name": "g"}, "maxReplicas": 3,
            "metrics": [{"prometheus": {"query": "q", "target": {"type": "Value", "value": 1}},
                         "role": "UpOnly"}]}"#,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("metrics[0].role"), "{err}");
    assert!(err.contains("ScaleUpOnly"), "{err}");
}
