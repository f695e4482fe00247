//! `decide_document` on arbitrary numbers anywhere a number goes: it never
//! panics, and a decision it accepts stays within [minReplicas,
//! maxReplicas] unless the explanation says the target was paused or out
//! of range.

// Test helpers outside #[test] fns may unwrap: a failure there is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use proptest::prelude::*;
use serde_json::json;

use karpenter_k8s::decide::decide_document;

/// Mostly values in `lo..hi`, sometimes any i32 (extremes included).
fn int(lo: i32, hi: i32) -> impl Strategy<Value = i32> {
    prop_oneof![
        8 => lo..hi,
        1 => prop_oneof![Just(i32::MAX), Just(i32::MIN), Just(0), Just(-1)],
        1 => any::<i32>(),
    ]
}

fn any_number() -> impl Strategy<Value = f64> {
    prop_oneof![
        8 => 0.0f64..1000.0,
        1 => prop_oneof![Just(0.0), Just(-1.0), Just(1e300), Just(f64::MAX), Just(f64::MIN_POSITIVE)],
        1 => any::<f64>().prop_filter("JSON numbers are finite", |v| v.is_finite()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn any_numbers_never_panic_and_stay_in_range(
        min in int(0, 4),
        max in int(1, 60),
        spec_replicas in int(0, 70),
        status_replicas in int(0, 70),
        target in any_number(),
        observed in any_number(),
        type_ in prop_oneof![Just("Value"), Just("AverageValue"), Just("Utilization")],
        window in int(0, 3601),
        policy_value in int(1, 1000),
        period in int(1, 1801),
        tolerance in prop_oneof![4 => 0.0f64..2.0, 1 => any_number()],
        rec_age in int(0, 1000),
        rec_replicas in int(0, 100),
        event_age in int(0, 1000),
        event_change in int(-50, 50),
    ) {
        let now = "2026-01-01T00:10:00Z";
        let at = |age: i32| {
            let base = chrono::DateTime::parse_from_rfc3339(now).unwrap();
            chrono::Duration::try_seconds(i64::from(age).rem_euclid(100_000))
                .and_then(|d| base.checked_sub_signed(d))
                .map_or_else(|| now.to_string(), |t| t.to_rfc3339())
        };
        let doc = json!({
            "now": now,
            "autoscaler": {
                "metadata": {"name": "w"},
                "spec": {
                    "scaleTargetRef": {"kind": "ScalableNodeGroup", "name": "w"},
                    "minReplicas": min,
                    "maxReplicas": max,
                    "metrics": [{"prometheus": {"query": "q", "target": {"type": type_, "value": target}}}],
                    "behavior": {
                        "scaleUp": {
                            "stabilizationWindowSeconds": window,
                            "policies": [{"type": "Percent", "value": policy_value, "periodSeconds": period}],
                            "tolerance": tolerance,
                        },
                        "scaleDown": {"policies": [{"type": "Pods", "value": policy_value, "periodSeconds": period}]},
                    },
                },
            },
            "target": {"specReplicas": spec_replicas, "statusReplicas": status_replicas},
            "observations": [{"value": observed}],
            "history": {
                "recommendations": [{"time": at(rec_age), "replicas": rec_replicas}],
                "scaleEvents": [{"time": at(event_age), "change": event_change}],
            },
        });
        let result = decide_document(&doc.to_string());
        if let Ok(out) = result {
            let text = out.explanation.join("\n");
            let exempt = text.contains("scaling is paused") || text.contains("is outside [");
            prop_assert!(
                exempt || (min..=max).contains(&out.desired_replicas),
                "{} not in [{min}, {max}]:\n{text}",
                out.desired_replicas
            );
            // The out-of-range correction lands in range too.
            if text.contains("is outside [") {
                prop_assert!((min..=max).contains(&out.desired_replicas), "{text}");
            }
        }
    }
}
