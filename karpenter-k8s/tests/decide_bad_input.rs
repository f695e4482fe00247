//! `karpenter decide` on input a fuzzer would write: closed pipes, full
//! disks, JSON escapes, byte-order marks, endless or deeply nested input,
//! history that cannot be right, values that must be named in messages.
//! Nothing may panic; every message names the field (or line and column)
//! and what to write instead.

// Test helpers outside #[test] fns may unwrap: a failure there is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::process::{Command, Stdio};

mod common;
use common::{EXAMPLE, karpenter, stderr};

use karpenter_k8s::decide::{DecideError, MAX_INPUT_BYTES, decide_document, read_document};

/// Runs `doc` and returns stderr, asserting exit status 2 and no panic.
fn rejected(doc: &str) -> String {
    let out = karpenter(&["decide"], doc);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "stderr: {err}");
    assert!(out.stdout.is_empty());
    assert!(!err.contains("panicked"), "{err}");
    assert!(!err.contains(".?"), "a path ends in `.?`: {err}");
    err
}

#[test]
fn a_closed_stdout_pipe_ends_quietly() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_karpenter"))
        .args(["decide", "--explain"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Close the read end of stdout before the child writes anything, as
    // `| head -c1` does once it has its byte.
    drop(child.stdout.take());
    child
        .stdin
        .take()
        .unwrap()
        .write_all(EXAMPLE.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let err = stderr(&out);
    assert!(err.is_empty(), "expected no message, got: {err}");
    // Exit 0 (or death by SIGPIPE, the other conventional behaviour).
    assert!(
        out.status.success() || out.status.code().is_none(),
        "{:?}",
        out.status
    );
}

#[test]
fn a_full_disk_is_a_clear_error_not_a_panic() {
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_karpenter"))
        .args(["decide"])
        .stdin(Stdio::piped())
        .stdout(Stdio::from(full))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(EXAMPLE.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("cannot write the decision"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn json_with_a_surrogate_pair_escape_is_valid() {
    // What Python's json.dumps writes for 🚀.
    let mut doc: serde_json::Value = karpenter_core::api::from_yaml_str(EXAMPLE).unwrap();
    doc["observations"][1]["error"] = serde_json::json!("timed out 🚀");
    let json = serde_json::to_string(&doc)
        .unwrap()
        .replace('🚀', "\\uD83D\\uDE80");
    assert!(json.contains("\\uD83D\\uDE80"));
    let out = karpenter(&["decide"], &json);
    assert!(out.status.success(), "{}", stderr(&out));
    let got: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(got["metrics"][1]["error"], "timed out 🚀");
}

#[test]
fn a_byte_order_mark_is_ignored_in_yaml_and_json() {
    let out = karpenter(&["decide"], &format!("\u{feff}{EXAMPLE}"));
    assert!(out.status.success(), "{}", stderr(&out));
    let got: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // Every line was read: the second metric's error and the history count.
    assert_eq!(got["desiredReplicas"], 7);
    assert_eq!(got["metrics"][1]["error"], "query timed out");

    let doc: serde_json::Value = karpenter_core::api::from_yaml_str(EXAMPLE).unwrap();
    let out = karpenter(&["decide"], &format!("\u{feff}{doc}"));
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn endless_input_stops_at_the_limit() {
    let out = karpenter(&["decide", "/dev/zero"], "");
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("16 MiB"), "{err}");
    assert!(!err.contains("panicked"), "{err}");

    // The library reads at most one byte past the limit.
    let e = read_document(std::io::repeat(b' ')).unwrap_err();
    assert!(e.to_string().contains(&MAX_INPUT_BYTES.to_string()), "{e}");
    let long = " ".repeat(MAX_INPUT_BYTES + 1);
    assert!(matches!(
        decide_document(&long),
        Err(DecideError::TooLarge { .. })
    ));
    // Not UTF-8.
    let e = read_document(&b"now: \xff\n"[..]).unwrap_err();
    assert!(e.to_string().contains("not UTF-8"), "{e}");
}

#[test]
fn deeply_nested_input_is_rejected_fast() {
    // 80 KB of nested lists, in an unknown field and in a free-form one.
    let depth = 40_000;
    let junk = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    let unknown = EXAMPLE.replace("observations:\n", &format!("junk: {junk}\nobservations:\n"));
    let err = rejected(&unknown);
    assert!(err.contains("`junk`: unknown field"), "{err}");
    assert!(err.contains("line 27"), "{err}");

    let params = EXAMPLE.replace(
        "          statistic: Sum\n",
        "          statistic: Sum\n          dimensions2: x\n",
    );
    let err = rejected(&params);
    assert!(err.contains("did you mean `dimensions`?"), "{err}");

    let free_form = EXAMPLE.replace(
        "      - cloudWatch:\n",
        &format!("      - custom: {{type: X, params: {{a: {junk}}}, target: {{type: Value, value: 1}}}}\n      - cloudWatch:\n"),
    );
    let err = rejected(&free_form);
    assert!(err.contains("nested more than 64 levels"), "{err}");

    // The same in JSON.
    let mut doc: serde_json::Value = karpenter_core::api::from_yaml_str(EXAMPLE).unwrap();
    doc["target"]["extra"] = serde_json::json!(0);
    let json = doc
        .to_string()
        .replace("\"extra\":0", &format!("\"extra\":{junk}"));
    let err = rejected(&json);
    assert!(err.contains("nested more than 64 levels"), "{err}");
}

#[test]
fn history_from_the_future_is_rejected_with_its_path() {
    let doc = EXAMPLE.replace(
        "recommendations: [{time: \"2026-01-01T00:08:00Z\", replicas: 7}]",
        "recommendations: [{time: \"2026-01-01T00:08:00Z\", replicas: 7}, {time: \"2026-01-01T01:00:00Z\", replicas: 1}]",
    );
    let err = rejected(&doc);
    assert!(
        err.contains("history.recommendations[1].time: is after now (2026-01-01T01:00:00Z > 2026-01-01T00:10:00Z)"),
        "{err}"
    );
    let doc = EXAMPLE.replace(
        "time: \"2026-01-01T00:09:30Z\"",
        "time: \"2026-01-02T00:00:00Z\"",
    );
    let err = rejected(&doc);
    assert!(
        err.contains("history.scaleEvents[0].time: is after now"),
        "{err}"
    );
}

#[test]
fn instants_outside_rfc_3339_years_are_rejected() {
    for (from, to, path) in [
        (
            "now: \"2026-01-01T00:10:00Z\"",
            "now: \"+10000-01-01T00:10:00Z\"",
            "`now`",
        ),
        (
            "time: \"2026-01-01T00:08:00Z\"",
            "time: \"-0001-01-01T00:08:00Z\"",
            "`history.recommendations[0].time`",
        ),
    ] {
        let err = rejected(&EXAMPLE.replace(from, to));
        assert!(err.contains(path), "{err}");
        assert!(err.contains("must be an RFC 3339 instant"), "{err}");
    }
}

#[test]
fn messages_name_the_field_and_the_fix_not_rust_types() {
    let cases: Vec<(String, Vec<&str>)> = vec![
        (
            EXAMPLE.replace("maxReplicas: 20", "maxReplicas:"),
            vec![
                "`autoscaler.spec.maxReplicas`: expected an integer",
                "got null",
                "write e.g. `maxReplicas: 10`",
            ],
        ),
        (
            EXAMPLE.replace("maxReplicas: 20", "maxReplicas: 99999999999999999999"),
            vec![
                "`autoscaler.spec.maxReplicas`: expected an integer between -2147483648 and 2147483647, got 99999999999999999999",
            ],
        ),
        (
            EXAMPLE.replace("minReplicas: 1", "minReplica: 1"),
            vec![
                "`autoscaler.spec.minReplica`: unknown field, did you mean `minReplicas`?",
                "line 13",
            ],
        ),
        (
            EXAMPLE.replace("{time: \"2026-01-01T00:08:00Z\"", "{time: *nowhere"),
            vec!["alias", "anchor", "line 31"],
        ),
        (
            EXAMPLE.replace("name: web\n", "name: \"we\u{1}b\"\n"),
            vec!["line 12", "control characters"],
        ),
        (
            EXAMPLE.replace(
                "metadata: {name: web, namespace: default}",
                "metadata: {name: web, nmae: x}",
            ),
            vec!["`autoscaler.metadata.nmae`: unknown field, did you mean `name`?"],
        ),
        (
            EXAMPLE.replace("scaleEvents: [{time", "scaleEvent: [{time"),
            vec!["`history.scaleEvent`: unknown field, did you mean `scaleEvents`?"],
        ),
        (
            EXAMPLE.replace("- value: 8.6", "- valeu: 8.6"),
            vec!["`observations[0].valeu`: unknown field, did you mean `value`?"],
        ),
        (
            EXAMPLE.replace(
                "type: Value, value: 5",
                &format!("type: Value, value: \"{}\"", "9".repeat(500)),
            ),
            vec!["`autoscaler.spec.metrics[0].prometheus.target.value`", "…"],
        ),
    ];
    for (doc, needles) in cases {
        let err = rejected(&doc);
        assert!(!err.contains("i32"), "{err}");
        assert!(!err.contains("u128"), "{err}");
        assert!(!err.contains("unit value"), "{err}");
        assert!(!err.contains("must be an RFC 3339"), "{err}");
        for n in needles {
            assert!(err.contains(n), "missing {n:?} in stderr:\n{err}");
        }
        for line in err.lines() {
            assert!(line.chars().count() < 400, "line too long: {line}");
        }
    }
}

#[test]
fn kubectl_metadata_and_status_are_accepted() {
    let doc = EXAMPLE.replace(
        "metadata: {name: web, namespace: default}",
        "metadata:\n    name: web\n    namespace: default\n    uid: 0b6f8a8e-1111-2222-3333-444455556666\n    resourceVersion: \"12345\"\n    generation: 3\n    creationTimestamp: \"2026-01-01T00:00:00Z\"\n    labels: {app: web}\n    annotations: {kubectl.kubernetes.io/last-applied-configuration: \"{}\"}\n    managedFields: [{manager: kubectl, operation: Apply, fieldsV1: {f:spec: {}}}]\n    ownerReferences: [{apiVersion: v1, kind: ConfigMap, name: x, uid: y}]\n    finalizers: [example.com/x]\n    generateName: web-\n    selfLink: /apis/x\n  status: {currentReplicas: 5, desiredReplicas: 5}",
    );
    let out = karpenter(&["decide"], &doc);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn a_saturated_recommendation_says_which_bound_applied() {
    let doc = EXAMPLE.replace("- value: 8.6", "- value: 1e300").replace(
        "specReplicas: 5, statusReplicas: 4",
        "specReplicas: 15, statusReplicas: 15",
    );
    let out = decide_document(&doc).unwrap();
    assert_eq!(out.desired_replicas, 20);
    let text = out.explanation.join("\n");
    assert!(
        text.contains("recommends 2147483647 (saturated at the i32 maximum)"),
        "{text}"
    );
    assert!(text.contains("clamped to maxReplicas 20"), "{text}");
}

#[test]
fn wrong_shapes_name_the_field_and_what_was_found() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "maxReplicas: 20",
            "maxReplicas: [1]",
            "`autoscaler.spec.maxReplicas`: expected a single value (a number or a string), got a list",
        ),
        (
            "target: {specReplicas: 5, statusReplicas: 4}",
            "target: 5",
            "`target`: expected a mapping, got 5; write e.g. `target: {specReplicas: 4, statusReplicas: 4}`",
        ),
        (
            "- value: 8.6",
            "- value: abc",
            "`observations[0].value`: expected a finite number, got abc",
        ),
        (
            "metadata: {name: web, namespace: default}",
            "metadata: {name: web, labels: [1]}",
            "`autoscaler.metadata.labels`: expected a mapping, got a list",
        ),
        (
            "history:\n",
            "history: 5\nx:\n",
            "`history`: expected a mapping, got 5",
        ),
        (
            "maxReplicas: 20",
            "maxReplicas: 20\n    behavior: {scaleUp: {policies: {type: Pods}}}",
            "`autoscaler.spec.behavior.scaleUp.policies`: expected a list, got a mapping",
        ),
    ];
    for (from, to, want) in cases {
        let err = rejected(&EXAMPLE.replace(from, to));
        assert!(err.contains(want), "missing {want:?} in:\n{err}");
        assert!(err.contains("(line "), "{err}");
    }
}

#[test]
fn json_messages_name_the_field_too() {
    let base: serde_json::Value = karpenter_core::api::from_yaml_str(EXAMPLE).unwrap();
    let cases: Vec<(serde_json::Value, &str)> = vec![
        (
            {
                let mut d = base.clone();
                d["autoscaler"]["spec"]["maxReplicas"] = serde_json::Value::Null;
                d
            },
            "`autoscaler.spec.maxReplicas`: expected an integer between -2147483648 and 2147483647, got null; write e.g. `maxReplicas: 10`",
        ),
        (
            {
                let mut d = base.clone();
                d["autoscaler"]["spec"]["minReplica"] = serde_json::json!(1);
                d
            },
            "`autoscaler.spec.minReplica`: unknown field, did you mean `minReplicas`?",
        ),
        (
            {
                let mut d = base.clone();
                d["target"] = serde_json::json!(5);
                d
            },
            "`target`: expected a mapping, got 5",
        ),
    ];
    for (doc, want) in cases {
        let err = rejected(&serde_json::to_string_pretty(&doc).unwrap());
        assert!(err.contains(want), "missing {want:?} in:\n{err}");
        assert!(err.contains("(line "), "{err}");
    }
    let err = rejected("{\"now\": \"\u{1}\"}");
    assert!(err.contains("line 1, column"), "{err}");
    assert!(err.contains("escape"), "{err}");
}

#[test]
fn the_help_names_the_input_limit_and_the_exit_codes() {
    let out = karpenter(&["decide", "--help"], "");
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("16 MiB"), "{help}");
    assert!(help.contains("Unknown fields are errors"), "{help}");
    assert!(help.contains("status 2"), "{help}");
}

#[test]
fn the_years_0000_and_9999_work_and_offsets_are_checked_in_utc() {
    let no_history = EXAMPLE.split("\nhistory:").next().unwrap();
    for now in ["0000-01-01T00:00:00Z", "9999-12-31T23:59:59Z"] {
        let doc = no_history.replace("2026-01-01T00:10:00Z", now);
        let out = decide_document(&doc).unwrap();
        // The history it returns is readable again.
        let json = serde_json::to_string(&out.history).unwrap();
        assert!(json.contains(now), "{json}");
    }
    let doc = no_history.replace("2026-01-01T00:10:00Z", "9999-12-31T23:59:59-01:00");
    let err = rejected(&doc);
    assert!(
        err.contains("outside those years in UTC, got \"9999-12-31T23:59:59-01:00\""),
        "{err}"
    );
}
