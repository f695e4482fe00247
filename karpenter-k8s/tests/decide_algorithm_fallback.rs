//! `karpenter decide` with `spec.algorithm: PID` and `spec.fallback`: both
//! are selected from the manifest, validated with their field paths, and
//! their state round-trips through the printed history.

// Test helpers outside #[test] fns may unwrap: a failure there is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use karpenter_k8s::decide::{DecideError, decide_document};

const PID: &str = r#"
now: "2026-01-01T00:10:00Z"
autoscaler:
  kind: HorizontalAutoscaler
  metadata: {name: web}
  spec:
    scaleTargetRef: {kind: ScalableNodeGroup, name: web}
    minReplicas: 1
    maxReplicas: 100
    algorithm:
      type: PID
      pid: {kp: "0.5", ki: "0.01", integralLimit: 1}
    metrics:
      - prometheus: {query: load, target: {type: Value, value: 10}}
target: {specReplicas: 10, statusReplicas: 10}
observations: [{value: 20}]
"#;

#[test]
fn pid_from_the_manifest_and_its_state_round_trips() {
    // First decision, no state: 0.5 × 2 + 0.5 = 1.5 → 15.
    let first = decide_document(PID).unwrap();
    assert_eq!(first.desired_replicas, 15);
    let json = serde_json::to_value(&first).unwrap();
    assert_eq!(
        json["history"]["algorithmState"],
        serde_json::json!([{"integral": 0.0, "lastError": 1.0, "lastTime": "2026-01-01T00:10:00Z"}])
    );
    assert!(
        first
            .explanation
            .iter()
            .any(|l| l.contains("recommends 15 (PID on the usage ratio)")),
        "{:?}",
        first.explanation
    );
    // 15 s later with the printed history: integral 15, 1.5 + 0.15 = 1.65
    // of 10 ready → 17.
    let history = serde_json::to_string(&json["history"]).unwrap();
    let next = PID
        .replace("2026-01-01T00:10:00Z", "2026-01-01T00:10:15Z")
        .replace("specReplicas: 10", "specReplicas: 15")
        + &format!("history: {history}\n");
    let second = decide_document(&next).unwrap();
    assert_eq!(second.desired_replicas, 17);
}

const FALLBACK: &str = r#"
now: "2026-01-01T00:10:00Z"
autoscaler:
  kind: HorizontalAutoscaler
  metadata: {name: web}
  spec:
    scaleTargetRef: {kind: ScalableNodeGroup, name: web}
    minReplicas: 1
    maxReplicas: 100
    fallback: {failureThreshold: 2, replicas: 6}
    metrics:
      - prometheus: {query: load, target: {type: Value, value: 10}}
target: {specReplicas: 3, statusReplicas: 3}
observations: [{error: "connection refused"}]
history: {failedReads: 1}
"#;

#[test]
fn fallback_from_the_manifest() {
    // The second consecutive failure reaches failureThreshold 2:
    // max(3, 6) = 6, within the default +4 / +100 %.
    let out = decide_document(FALLBACK).unwrap();
    assert_eq!(out.desired_replicas, 6);
    let json = serde_json::to_value(&out).unwrap();
    assert_eq!(json["history"]["failedReads"], 2);
    let fallback = json["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "Fallback")
        .unwrap();
    assert_eq!(fallback["status"], "True");
    assert_eq!(fallback["reason"], "FallbackActive");
    let text = out.to_text();
    assert!(text.contains("Fallback=True (FallbackActive)"), "{text}");
    assert!(
        text.contains("currentReplicasIfHigher of fallback.replicas 6 and current 3 recommends 6"),
        "{text}"
    );
}

#[test]
fn algorithm_and_fallback_errors_name_the_field() {
    let bad = FALLBACK
        .replace(
            "fallback: {failureThreshold: 2, replicas: 6}",
            "fallback: {failureThreshold: 0, replicas: 6, behavior: static}\n    algorithm: {type: PID, pid: {maxOutput: -1}}",
        );
    match decide_document(&bad) {
        Err(DecideError::Invalid(problems)) => assert_eq!(
            problems,
            vec![
                "autoscaler.spec.algorithm.pid.maxOutput: must be > 0 (the most one decision may add, as a multiple of the ready count), got -1".to_string(),
                "autoscaler.spec.fallback.failureThreshold: must be >= 1 (consecutive decisions in which every metric failed), got 0".to_string(),
            ]
        ),
        other => panic!("{other:?}"),
    }
    let bad = FALLBACK.replace("replicas: 6}", "replicas: 6, behavior: Static}");
    match decide_document(&bad) {
        Err(DecideError::Parse(e)) => {
            assert_eq!(e.path, "autoscaler.spec.fallback.behavior");
            assert_eq!(e.line, Some(10));
            assert_eq!(e.suggestion.as_deref(), Some("static"));
        }
        other => panic!("{other:?}"),
    }
}
