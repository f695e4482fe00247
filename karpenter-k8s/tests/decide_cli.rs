//! `karpenter decide` end to end: the binary, its stdin/file input, its JSON
//! contract, `--explain`, and its exit code 2 on bad input.

// Test helpers outside #[test] fns may unwrap: a failure there is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::{EXAMPLE, karpenter, stderr};

#[test]
fn the_contract_example_decides_seven() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/decide-example.yaml"
    );
    let out = karpenter(&["decide", path], "");
    assert!(out.status.success(), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["desiredReplicas"], 7);
    assert_eq!(
        json["metrics"],
        serde_json::json!([{"recommendation": 7}, {"error": "query timed out"}])
    );
    let conditions = json["conditions"].as_array().unwrap();
    let find = |t: &str| conditions.iter().find(|c| c["type"] == t).unwrap().clone();
    assert_eq!(find("AbleToScale")["reason"], "SucceededRescale");
    assert_eq!(find("ScalingActive")["status"], "True");
    assert_eq!(find("ScalingActive")["reason"], "ValidMetricFound");
    assert_eq!(find("ScalingLimited")["reason"], "DesiredWithinRange");
    assert!(
        find("AbleToScale")["message"]
            .as_str()
            .unwrap()
            .contains('7')
    );
    assert_eq!(
        json["history"],
        serde_json::json!({
            "recommendations": [
                {"time": "2026-01-01T00:08:00Z", "replicas": 7},
                {"time": "2026-01-01T00:10:00Z", "replicas": 7}
            ],
            "scaleEvents": [{"time": "2026-01-01T00:10:00Z", "change": 2}]
        })
    );
    let explanation: Vec<String> = serde_json::from_value(json["explanation"].clone()).unwrap();
    assert!(
        explanation
            .iter()
            .any(|l| l.contains("FailedGetCloudWatchMetric"))
    );
    assert!(explanation.last().unwrap().contains("scale from 5 to 7"));
}

#[test]
fn stdin_and_explain_print_readable_text() {
    let out = karpenter(&["decide", "--explain"], EXAMPLE);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.starts_with("HorizontalAutoscaler default/web: scale from 5 to 7 replicas"),
        "{text}"
    );
    assert!(
        text.contains("Why:\n  1. metrics[0]: observed 8.6"),
        "{text}"
    );
    assert!(
        text.contains("AbleToScale=True (SucceededRescale)"),
        "{text}"
    );
    // `-` reads stdin too.
    assert!(karpenter(&["decide", "-"], EXAMPLE).status.success());
}

#[test]
fn json_input_works_like_yaml() {
    let value: serde_json::Value = karpenter_core::api::from_yaml_str(EXAMPLE).unwrap();
    let out = karpenter(&["decide"], &value.to_string());
    assert!(out.status.success(), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["desiredReplicas"], 7);
}

#[test]
fn absent_history_is_the_first_decision_and_status_history_is_used() {
    let no_history = EXAMPLE.split("\nhistory:").next().unwrap();
    let out = karpenter(&["decide"], no_history);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        json["explanation"][0]
            .as_str()
            .unwrap()
            .contains("first decision since start")
    );

    // The same history inside autoscaler.status is used when the top-level one is absent.
    let mut doc: serde_json::Value = karpenter_core::api::from_yaml_str(EXAMPLE).unwrap();
    let history = doc["history"].take();
    doc.as_object_mut().unwrap().remove("history");
    doc["autoscaler"]["status"] = serde_json::json!({"history": history});
    let out = karpenter(&["decide"], &doc.to_string());
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        json["history"]["recommendations"][0]["time"],
        "2026-01-01T00:08:00Z"
    );
}

#[test]
fn malformed_documents_exit_2_naming_the_field() {
    let cases: Vec<(String, Vec<&str>)> = vec![
        (
            EXAMPLE.replace("type: Value, value: 5", "type: Valu, value: 5"),
            vec![
                "`autoscaler.spec.metrics[0].prometheus.target.type`",
                "unknown value `Valu`, did you mean `Value`?",
            ],
        ),
        (
            EXAMPLE
                .replace("maxReplicas: 20", "maxReplicas: 0")
                .replace("  - error: \"query timed out\"\n", ""),
            vec![
                "autoscaler.spec.maxReplicas: must be >= 1, got 0",
                "observations: expected 2 entries",
            ],
        ),
        (
            EXAMPLE.replace("2026-01-01T00:10:00Z", "yesterday"),
            vec!["`now`: must be an RFC 3339 instant"],
        ),
        (
            EXAMPLE.replace("specReplicas: 5", "specReplicas: -1"),
            vec!["target.specReplicas: must be >= 0, got -1"],
        ),
        (
            EXAMPLE.replace("- value: 8.6", "- {value: 8.6, error: x}"),
            vec!["observations[0]: has both value and error"],
        ),
        (
            EXAMPLE.replace("- value: 8.6", "- {}"),
            vec!["observations[0]: needs exactly one of value"],
        ),
        (
            EXAMPLE.replace("target: {specReplicas", "targt: {specReplicas"),
            vec!["`targt`: unknown field, did you mean `target`?"],
        ),
        (String::new(), vec!["the document is empty"]),
        ("[1, 2]".to_string(), vec!["expected a mapping"]),
        ("{{{".to_string(), vec!["document"]),
    ];
    for (doc, needles) in cases {
        let out = karpenter(&["decide"], &doc);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "stderr: {err}");
        assert!(out.stdout.is_empty());
        assert!(!err.contains("panicked"), "{err}");
        for n in needles {
            assert!(err.contains(n), "missing {n:?} in stderr:\n{err}");
        }
    }
}

#[test]
fn an_unreadable_file_exits_2() {
    let out = karpenter(&["decide", "/nonexistent/decision.yaml"], "");
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("cannot read /nonexistent/decision.yaml"));
}

#[test]
fn metric_roles_are_read_and_an_abstention_is_reported() {
    // Pending capacity may only add nodes (it recommends the current 8:
    // abstains); low reservation may only remove them (recommends 6).
    let doc = r#"
now: "2026-01-01T00:10:00Z"
autoscaler:
  metadata: {name: gpu}
  spec:
    scaleTargetRef: {kind: ScalableNodeGroup, name: gpu}
    minReplicas: 0
    maxReplicas: 20
    behavior: {scaleDown: {stabilizationWindowSeconds: 0}}
    metrics:
      - prometheus: {query: 'karpenter_pending_capacity_desired_nodes{name="gpu"}', target: {type: AverageValue, value: 1}}
        role: ScaleUpOnly
      - prometheus: {query: 'karpenter_reserved_capacity_cpu_utilization{name="gpu"}', target: {type: Utilization, value: 60}}
        role: ScaleDownOnly
target: {specReplicas: 8, statusReplicas: 8}
observations: [{value: 8}, {value: 0.45}]
history: {recommendations: [], scaleEvents: []}
"#;
    let out = karpenter(&["decide"], doc);
    assert!(out.status.success(), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["desiredReplicas"], 6);
    assert_eq!(
        json["metrics"],
        serde_json::json!([{"abstained": 8}, {"recommendation": 6}])
    );
    let explanation = json["explanation"].as_array().unwrap();
    assert!(
        explanation.iter().any(|s| s
            .as_str()
            .unwrap()
            .contains("is ScaleUpOnly: its 8 against current 8 abstains")),
        "{explanation:?}"
    );
}
