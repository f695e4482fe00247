//! `karpenter simulate` end to end: the README's scenarios, the JSON
//! contract, determinism, variants, `--out`, `--schema` and exit codes.

// Test helpers outside #[test] fns may unwrap: a failure there is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::{karpenter, stderr};

fn scenario(name: &str) -> String {
    format!(
        "{}/../examples/scenarios/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

fn json(args: &[&str]) -> (Vec<u8>, serde_json::Value) {
    let out = karpenter(args, "");
    assert!(out.status.success(), "{}", stderr(&out));
    let v = serde_json::from_slice(&out.stdout).unwrap();
    (out.stdout, v)
}

#[test]
fn the_queue_burst_scenario_prints_the_documented_json_fields_the_same_every_time() {
    let path = scenario("queue-burst.yaml");
    let (first, v) = json(&["simulate", "--json", &path]);
    let (second, _) = json(&["simulate", &path, "--json"]);
    assert_eq!(first, second, "the same seed gives the same bytes");
    assert_eq!(v["apiVersion"], "simulate.karpenter.sh/v1");
    assert_eq!(v["kind"], "Scorecard");
    assert_eq!(v["scenario"], "queue-burst");
    assert_eq!(v["seed"], 42);
    assert_eq!(v["tickSeconds"], 15.0);
    let run = &v["runs"][0];
    assert_eq!(run["name"], "baseline");
    assert_eq!(run["paretoBetter"], false);
    assert_eq!(run["ticks"], 241);
    // Sorted: whether serde_json keeps insertion order depends on features
    // other crates of the workspace switch on (kube's `preserve_order`).
    let fields = |o: &serde_json::Value| -> Vec<String> {
        let mut keys: Vec<String> = o.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        keys
    };
    assert_eq!(
        fields(&run["nodeGroups"][0]),
        [
            "name",
            "nodeSeconds",
            "peakNodes",
            "recordedNodeSeconds",
            "scaleDowns",
            "scaleUps"
        ]
    );
    assert_eq!(
        fields(&run["queues"][0]),
        ["maxLength", "maxWaitSeconds", "messageWaitSeconds", "name"]
    );
    assert_eq!(
        fields(&run["pods"]),
        ["maxPendingPods", "pendingPodSeconds"]
    );
    assert_eq!(fields(&run["totals"]), ["nodeSeconds", "waitingSeconds"]);
    // The burst is worked off: 2,400 messages, at most 600 nodes asked for.
    assert_eq!(run["queues"][0]["maxLength"], 2400);
    assert_eq!(run["nodeGroups"][0]["peakNodes"], 600);
    assert!(run["nodeGroups"][0]["nodeSeconds"].as_f64().unwrap() > 0.0);
}

#[test]
fn the_business_hours_scenario_backtests_the_recorded_replicas() {
    let (_, v) = json(&["simulate", "--json", &scenario("business-hours.yaml")]);
    let group = &v["runs"][0]["nodeGroups"][0];
    assert_eq!(group["name"], "office");
    // The recording: 30 nodes for 10 hours and 6 for 14, on each of the
    // three days the run spans (its last sample, 07:55 UTC on the 5th,
    // holds until the last tick at 08:00).
    let recorded = group["recordedNodeSeconds"].as_f64().unwrap();
    assert_eq!(recorded, 3.0 * (30.0 * 10.0 + 6.0 * 14.0) * 3600.0);
    let text = karpenter(&["simulate", &scenario("business-hours.yaml")], "");
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(
        text.contains("backtest: the recorded replicas used 1152.00 node-hours"),
        "{text}"
    );
}

#[test]
fn three_variants_including_pid_side_by_side_with_charts() {
    let out_dir =
        std::env::temp_dir().join(format!("karpenter-simulate-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out_dir);
    let variant = |name: &str| format!("{name}={}", scenario(&format!("variants/{name}.yaml")));
    let (pid, quick, five) = (
        variant("pid"),
        variant("quick-scale-down"),
        variant("five-per-node"),
    );
    let base = scenario("daily-queue.yaml");
    let out = out_dir.display().to_string();
    let args = [
        "simulate",
        base.as_str(),
        "--variant",
        pid.as_str(),
        "--variant",
        quick.as_str(),
        "--variant",
        five.as_str(),
        "--out",
        out.as_str(),
    ];
    let text = karpenter(&args, "");
    assert!(text.status.success(), "{}", stderr(&text));
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(
        text.contains("| run | node-hours | message wait (h) |"),
        "{text}"
    );
    for name in ["baseline", "pid", "quick-scale-down", "five-per-node"] {
        assert!(text.contains(&format!("\n| {name} | ")), "{text}");
        for ext in ["csv", "svg"] {
            let f = out_dir.join(format!("daily-queue.{name}.{ext}"));
            assert!(f.exists(), "{}", f.display());
        }
    }
    let overlay = std::fs::read_to_string(out_dir.join("daily-queue.comparison.svg")).unwrap();
    assert!(overlay.starts_with("<svg"));
    let csv = std::fs::read_to_string(out_dir.join("daily-queue.comparison.csv")).unwrap();
    assert!(csv.starts_with("time,elapsed_seconds,baseline.ready_nodes,pid.ready_nodes,quick-scale-down.ready_nodes,five-per-node.ready_nodes,"));

    let mut json_args = args[..8].to_vec();
    json_args.push("--json");
    let (_, v) = json(&json_args);
    let runs = v["runs"].as_array().unwrap();
    let names: Vec<&str> = runs.iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        ["baseline", "pid", "quick-scale-down", "five-per-node"]
    );
    // paretoBetter is exactly "no worse on both totals, better on one".
    let totals = |r: &serde_json::Value| {
        (
            r["totals"]["nodeSeconds"].as_f64().unwrap(),
            r["totals"]["waitingSeconds"].as_f64().unwrap(),
        )
    };
    let (bn, bw) = totals(&runs[0]);
    for r in &runs[1..] {
        let (n, w) = totals(r);
        let better = n <= bn && w <= bw && (n < bn || w < bw);
        assert_eq!(r["paretoBetter"], better, "{}", r["name"]);
        assert_ne!((n, w), (bn, bw), "{} changes something", r["name"]);
    }
    let _ = std::fs::remove_dir_all(&out_dir);
}

#[test]
fn schema_prints_the_json_schema_of_the_format() {
    let (_, v) = json(&["simulate", "--schema"]);
    assert_eq!(
        v["title"],
        "karpenter simulate scenario (simulate.karpenter.sh/v1)"
    );
    let required: Vec<&str> = v["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    for field in [
        "apiVersion",
        "kind",
        "start",
        "duration",
        "nodeGroups",
        "manifests",
    ] {
        assert!(required.contains(&field), "{required:?}");
    }
    assert!(v["properties"]["queues"].is_object());
}

#[test]
fn bad_input_exits_2_with_the_file_line_and_field() {
    let dir = std::env::temp_dir().join(format!("karpenter-simulate-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.yaml");
    std::fs::write(
        &bad,
        "apiVersion: simulate.karpenter.sh/v1\nkind: Scenario\nstart: \"2026-03-02T09:00:00Z\"\nduration: 1h\nnodeGroups: [{name: w, replica: 2}]\nmanifests: []\n",
    )
    .unwrap();
    let out = karpenter(&["simulate", bad.to_str().unwrap()], "");
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.starts_with("error: invalid scenario:\n"), "{err}");
    assert!(
        err.contains("bad.yaml:5: nodeGroups[0].replica: unknown field, did you mean `replicas`?"),
        "{err}"
    );

    let out = karpenter(
        &[
            "simulate",
            &scenario("queue-burst.yaml"),
            "--variant",
            "nope",
        ],
        "",
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("expected NAME=PATCH.yaml"),
        "{}",
        stderr(&out)
    );

    let patch = dir.join("patch.yaml");
    std::fs::write(
        &patch,
        "kind: HorizontalAutoscaler\nmetadata: {name: ml-training}\nspec:\n  maxReplicas: -3\n",
    )
    .unwrap();
    let v = format!("small={}", patch.display());
    let out = karpenter(
        &["simulate", &scenario("queue-burst.yaml"), "--variant", &v],
        "",
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains(
            "patch.yaml:4: document 1: spec.maxReplicas: after the patch: must be >= 1, got -3"
        ),
        "{}",
        stderr(&out)
    );

    let out = karpenter(
        &["simulate", dir.join("missing.yaml").to_str().unwrap()],
        "",
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("cannot read"), "{}", stderr(&out));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_readme_comparison_table_is_what_the_command_prints() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    let variant = |name: &str| format!("{name}={}", scenario(&format!("variants/{name}.yaml")));
    let (pid, quick, five) = (
        variant("pid"),
        variant("quick-scale-down"),
        variant("five-per-node"),
    );
    let base = scenario("daily-queue.yaml");
    let out = karpenter(
        &[
            "simulate",
            &base,
            "--variant",
            &pid,
            "--variant",
            &quick,
            "--variant",
            &five,
        ],
        "",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8(out.stdout).unwrap();
    let table: Vec<&str> = text.lines().filter(|l| l.starts_with('|')).collect();
    assert_eq!(table.len(), 6, "{text}");
    for row in table {
        assert!(
            readme.contains(row),
            "README.md lacks the row {row:?}; update it from:\n{text}"
        );
    }
}

#[test]
fn schema_wins_over_a_scenario_argument() {
    let (_, v) = json(&["simulate", &scenario("queue-burst.yaml"), "--schema"]);
    assert_eq!(
        v["title"],
        "karpenter simulate scenario (simulate.karpenter.sh/v1)"
    );
}

#[test]
fn the_pending_pods_scenario_reaches_the_size_its_pods_need() {
    let (_, v) = json(&["simulate", "--json", &scenario("pending-pods.yaml")]);
    let run = &v["runs"][0];
    let group = &run["nodeGroups"][0];
    // 120 pods at noon, 8 to a node (4 cpu / 500m): 15 nodes, then back
    // down with the curve.
    assert_eq!(group["peakNodes"], 15);
    assert!(group["scaleDowns"].as_u64().unwrap() > 0, "{group}");
    // Pods wait only for nodes to launch (60 s), never for a missing
    // node: under an hour in total over the day (28.6 pod-hours with the
    // default scale-up tolerance).
    let pending = run["pods"]["pendingPodSeconds"].as_f64().unwrap();
    assert!(pending < 3600.0, "{pending}");
}
