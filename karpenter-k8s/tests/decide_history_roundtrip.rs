//! The history a decision returns is always accepted as the input of the
//! next one: serialized as JSON (or YAML), parsed back through the decide
//! document, decided again without error.

// Test helpers outside #[test] fns may unwrap: a failure there is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{DateTime, Duration, TimeZone, Utc};
use proptest::prelude::*;
use serde_json::{Value, json};

use karpenter_k8s::decide::decide_document;

#[derive(Debug, Clone)]
struct Step {
    advance_seconds: i64,
    observation: Option<f64>,
    ready_fraction: f64,
    yaml: bool,
}

fn step() -> impl Strategy<Value = Step> {
    (
        0i64..900,
        prop_oneof![
            4 => (0.0f64..5000.0).prop_map(Some),
            1 => Just(None),
            1 => Just(Some(1e300)),
        ],
        0.0f64..=1.0,
        any::<bool>(),
    )
        .prop_map(
            |(advance_seconds, observation, ready_fraction, yaml)| Step {
                advance_seconds,
                observation,
                ready_fraction,
                yaml,
            },
        )
}

fn doc(
    spec: &Value,
    now: DateTime<Utc>,
    current: i32,
    ready: i32,
    observation: Option<f64>,
    history: Option<&Value>,
) -> Value {
    let mut d = json!({
        "now": now.to_rfc3339(),
        "autoscaler": {
            "apiVersion": "autoscaling.karpenter.sh/v1alpha1",
            "kind": "HorizontalAutoscaler",
            "metadata": {"name": "w"},
            "spec": spec,
        },
        "target": {"specReplicas": current, "statusReplicas": ready},
        "observations": [match observation {
            Some(v) => json!({"value": v}),
            None => json!({"error": "timed out"}),
        }],
    });
    if let Some(h) = history {
        d["history"] = h.clone();
    }
    d
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn returned_history_is_always_accepted_back(
        min in 0i32..3,
        span in 1i32..40,
        target_type in prop_oneof![Just("Value"), Just("AverageValue"), Just("Utilization")],
        target in 1u32..100,
        up_window in prop_oneof![Just(None), (0i32..600).prop_map(Some)],
        down_window in prop_oneof![Just(None), (0i32..600).prop_map(Some)],
        period in 1i32..1800,
        start in 0i32..50,
        steps in prop::collection::vec(step(), 1..8),
    ) {
        let max = min + span;
        let mut behavior = json!({
            "scaleUp": {"policies": [{"type": "Percent", "value": 100, "periodSeconds": period}]},
            "scaleDown": {},
        });
        if let Some(w) = up_window {
            behavior["scaleUp"]["stabilizationWindowSeconds"] = json!(w);
        }
        if let Some(w) = down_window {
            behavior["scaleDown"]["stabilizationWindowSeconds"] = json!(w);
        }
        let spec = json!({
            "scaleTargetRef": {"kind": "ScalableNodeGroup", "name": "w"},
            "minReplicas": min,
            "maxReplicas": max,
            "metrics": [{"prometheus": {"query": "q", "target": {"type": target_type, "value": target}}}],
            "behavior": behavior,
        });
        let mut now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let mut current = start;
        let mut history: Option<Value> = None;
        for s in steps {
            now += Duration::seconds(s.advance_seconds);
            let ready = (f64::from(current) * s.ready_fraction).floor() as i32;
            let d = doc(&spec, now, current, ready, s.observation, history.as_ref());
            let text = if s.yaml {
                serde_saphyr::to_string(&d).unwrap()
            } else {
                d.to_string()
            };
            let out = decide_document(&text)
                .map_err(|e| TestCaseError::fail(format!("{e}\n--- input:\n{text}")))?;
            let out_json = serde_json::to_value(&out).unwrap();
            history = Some(out_json["history"].clone());
            current = out.desired_replicas;
        }
    }
}
