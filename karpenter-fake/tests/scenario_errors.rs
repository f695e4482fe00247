//! Malformed scenarios: every problem names the file, the line and the
//! field, and says what to write; nothing panics.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on purpose.

use std::path::Path;

use karpenter_fake::scenario::{Prepared, ScenarioError, Series};
use proptest::prelude::*;

fn dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/scenarios"))
}

fn problems(scenario: &str) -> Vec<String> {
    match Prepared::from_str(scenario, "s.yaml", dir()) {
        Ok(_) => panic!("accepted:\n{scenario}"),
        Err(ScenarioError::Invalid(list)) => list.iter().map(ToString::to_string).collect(),
        Err(e) => panic!("{e}"),
    }
}

const HEAD: &str = "apiVersion: simulate.karpenter.sh/v1\nkind: Scenario\nstart: \"2026-03-02T09:00:00Z\"\nduration: 10m\n";

#[test]
fn an_unknown_field_names_its_line_and_the_closest_field() {
    let got = problems(&format!(
        "{HEAD}nodeGroups:\n  - name: w\n    lauchDelay: 30s\nmanifests: []\n"
    ));
    assert_eq!(
        got,
        vec![
            "s.yaml:7: nodeGroups[0].lauchDelay: unknown field, did you mean `launchDelay`? (column 5)"
        ]
    );
}

#[test]
fn a_bad_duration_names_its_line() {
    let got = problems(&format!(
        "{HEAD}nodeGroups:\n  - name: w\n    launchDelay: {{min: 30s, max: soon}}\nmanifests: []\n"
    ));
    assert_eq!(got.len(), 1);
    assert!(
        got[0].starts_with("s.yaml:7: nodeGroups[0].launchDelay.max: expected a duration such as 15s, 10m, 1h30m or 7d, or a number of seconds, got \"soon\""),
        "{got:?}"
    );
}

#[test]
fn problems_after_parsing_name_their_line_too() {
    let got = problems(&format!(
        r#"{HEAD}tick: 0s
nodeGroups:
  - name: w
    launchDelay: {{min: 90s, max: 30s}}
queues:
  - name: q
    arrivals: {{daily: {{min: 5, max: 1, peak: "25:00", timezone: Mars/Olympus}}}}
    consumers:
      - nodeGroup: workers
        messagesPerSecond: 0
manifests:
  - kind: HorizontalAutoscaler
    metadata: {{name: w}}
    spec:
      scaleTargetRef: {{kind: ScalableNodeGroup, name: w}}
      maxReplicas: 0
      metrics:
        - prometheus: {{query: q, target: {{type: Value, value: 1}}}}
  - kind: Deployment
    metadata: {{name: web}}
"#
    ));
    assert_eq!(
        got,
        vec![
            "s.yaml:5: tick: must be between 1s and 1d; 15s is the HPA sync period",
            "s.yaml:8: nodeGroups[0].launchDelay: min must be <= max",
            "s.yaml:13: queues[0].consumers[0].nodeGroup: no node group is named \"workers\"; did you mean \"w\"?",
            "s.yaml:14: queues[0].consumers[0].messagesPerSecond: must be a number > 0 (messages one ready node processes per second), got 0",
            "s.yaml:11: queues[0].arrivals.daily: min 5 must be <= max 1",
            "s.yaml:11: queues[0].arrivals.daily.peak: must be a local time HH:MM, e.g. \"14:00\"",
            "s.yaml:11: queues[0].arrivals.daily.timezone: \"Mars/Olympus\" is not an IANA time zone name; use one such as America/Los_Angeles, Europe/Berlin or UTC (case-sensitive)",
            "s.yaml:20: manifests[0].spec.maxReplicas: must be >= 1, got 0",
            "s.yaml:23: manifests[1].kind: kind \"Deployment\" is not simulated; use HorizontalAutoscaler, MetricsProducer or ScalableNodeGroup (apiVersion autoscaling.karpenter.sh/v1alpha1), or {path: file.yaml}",
        ]
    );
}

#[test]
fn references_between_the_scenario_and_the_manifests_are_checked() {
    let got = problems(&format!(
        r#"{HEAD}nodeGroups: [{{name: web}}]
metrics:
  - query: 'sum(rate(requests_total[1m]))'
    csv: ten-points.csv
manifests:
  - kind: HorizontalAutoscaler
    metadata: {{name: web}}
    spec:
      scaleTargetRef: {{kind: ScalableNodeGroup, name: wbe}}
      maxReplicas: 10
      metrics:
        - prometheus: {{query: 'sum(rate(requests_total[5m]))', target: {{type: Value, value: 1}}}}
  - kind: ScalableNodeGroup
    metadata: {{name: api}}
    spec: {{type: AWSEC2AutoScalingGroup, id: api-asg}}
"#
    ));
    assert_eq!(
        got,
        vec![
            "s.yaml:18: manifests[1].metadata.name: ScalableNodeGroup \"api\" has no node group in the scenario: add nodeGroups: [{name: api}] (known: web)",
            "s.yaml:13: manifests[0].spec.scaleTargetRef.name: no ScalableNodeGroup or scenario node group is named \"wbe\"; did you mean \"web\"?",
            "s.yaml:16: manifests[0].spec.metrics[0].prometheus.query: query \"sum(rate(requests_total[5m]))\" is not supported: functions such as sum(...); the fake metric store resolves exact selectors only: a metric name with optional label=\"value\" matchers, e.g. karpenter_queue_length{name=\"ml-training-queue\"}. Either replay it (scenario metrics: [{query: ..., csv: file.csv}], the query text exactly) or query a gauge of a MetricsProducer of the scenario",
            "s.yaml:7: metrics[0].query: no autoscaler metric has this exact prometheus.query text, so the replay would answer nothing; the closest is \"sum(rate(requests_total[5m]))\" (the text must match exactly)",
        ]
    );
}

#[test]
fn files_the_scenario_names_are_reported_with_their_own_lines() {
    let got = problems(&format!(
        r#"{HEAD}nodeGroups: [{{name: w}}]
queues: [{{name: jobs, consumers: [{{nodeGroup: w, messagesPerSecond: 1}}]}}]
metrics:
  - {{query: load, csv: bad-value.csv}}
  - {{query: other, csv: missing.csv}}
manifests:
  - path: bad-manifests.yaml
"#
    ));
    assert_eq!(got.len(), 3, "{got:?}");
    assert!(
        got[0].ends_with("tests/scenarios/bad-value.csv:3: value \"abc\" is not a finite number; leave it empty for a gap (no sample at this time)"),
        "{got:?}"
    );
    assert!(
        got[1].starts_with("s.yaml:9: metrics[1].csv: cannot read ")
            && got[1].contains("missing.csv"),
        "{got:?}"
    );
    assert!(
        got[2].ends_with("tests/scenarios/bad-manifests.yaml:10: document 2: spec.maxReplica: unknown field, did you mean `maxReplicas`?"),
        "{got:?}"
    );
}

#[test]
fn the_version_and_kind_are_checked() {
    let got = problems(
        "apiVersion: simulate.karpenter.sh/v2\nkind: Scenery\nstart: \"2026-03-02T09:00:00Z\"\nduration: 1h\nnodeGroups: [{name: w}]\nmanifests: []\n",
    );
    assert_eq!(
        got,
        vec![
            "s.yaml:1: apiVersion: must be simulate.karpenter.sh/v1 (the only version of the scenario format), got \"simulate.karpenter.sh/v2\"",
            "s.yaml:2: kind: must be Scenario, got \"Scenery\"",
        ]
    );
}

fn range(result: &str) -> String {
    format!(r#"{{"status":"success","data":{{"resultType":"matrix","result":{result}}}}}"#)
}

#[test]
fn prometheus_range_json_is_rejected_clearly() {
    let one = r#"[{"metric":{"job":"web"},"values":[[1772442000,"1"],[1772442060,"2"],[1772442120,"3"]]}]"#;
    let s = Series::from_prometheus_json(&range(one)).unwrap();
    assert_eq!(s.points().len(), 3);

    let cases: &[(String, &str)] = &[
        (
            range(
                r#"[{"metric":{"pod":"a"},"values":[[1,"1"]]},{"metric":{"pod":"b"},"values":[[1,"1"]]}]"#,
            ),
            "data.result has 2 series ({pod=\"a\"}, {pod=\"b\"}); a replayed query must give exactly one: aggregate it (e.g. sum(...)) or add label matchers",
        ),
        (
            range(
                r#"[{"metric":{},"values":[[1772442000,"1"],[1772442060,"NaN"],[1772442120,"3"]]}]"#,
            ),
            "data.result[0].values[1]: value \"NaN\" at 2026-03-02T09:01:00+00:00 is not a finite number; the replay needs a number at every sample: filter the query (e.g. `> -Inf`) or fix the source",
        ),
        (
            range(
                r#"[{"metric":{},"values":[[1772442000,"1"],[1772442060,"2"],[1772442120,"3"],[1772442600,"4"],[1772442660,"5"]]}]"#,
            ),
            "a gap in the samples: 2026-03-02T09:02:00+00:00 to 2026-03-02T09:10:00+00:00 is 8m, the step is 1m: the series was absent for a while (exporter down, target gone). The replay needs a continuous series: export a range without the gap, or convert it to CSV and leave the missing values empty to replay the gap on purpose",
        ),
        (
            r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"1"]}]}}"#.to_string(),
            "data.resultType is \"vector\", not \"matrix\": export with /api/v1/query_range (a range), not /api/v1/query (an instant)",
        ),
        (
            r#"{"status":"error","errorType":"bad_data","error":"parse error"}"#.to_string(),
            "status is \"error\" (not \"success\"): \"parse error\"; export a query that succeeded",
        ),
        (
            range("[]"),
            "data.result has no series: the query matched nothing in that range; check the query and the range",
        ),
    ];
    for (json, want) in cases {
        let err = Series::from_prometheus_json(json).unwrap_err();
        assert_eq!(err.to_string(), *want);
    }
}

#[test]
fn csv_series_problems_name_the_line() {
    let cases: &[(&str, &str)] = &[
        (
            "time,value\n",
            "the file has no samples; write one per line: time,value[,replicas]",
        ),
        (
            "when,how\n1,2\n",
            "line 1: the header \"when,how\" must name the columns time and value (and optionally replicas); or start with a sample such as 2026-03-02T09:00:00Z,12",
        ),
        (
            "1772442000,1\n1772442000,2\n",
            "line 2: time 2026-03-02T09:00:00+00:00 is not after the previous sample's (2026-03-02T09:00:00+00:00): sort the file by time and remove duplicates",
        ),
        (
            "1772442000,1\nyesterday,2\n",
            "line 2: time \"yesterday\" is neither RFC 3339 (2026-03-02T09:00:00Z) nor Unix seconds (1772442000)",
        ),
        ("1772442000,1,-2\n", "line 1: replicas \"-2\" must be >= 0"),
        (
            "1772442000,1,2,3\n",
            "line 1: expected 2 or 3 comma-separated fields (time,value[,replicas]), got 4: \"1772442000,1,2,3\"",
        ),
    ];
    for (csv, want) in cases {
        assert_eq!(
            Series::from_csv(csv).unwrap_err().to_string(),
            *want,
            "{csv}"
        );
    }
}

const VALID: &str = r#"apiVersion: simulate.karpenter.sh/v1
kind: Scenario
start: "2026-03-02T09:00:00Z"
duration: 10m
tick: 30s
seed: 1
nodeGroups:
  - {name: w, launchDelay: {min: 10s, max: 20s}, capacity: 5, allocatable: {cpu: 4, memory: 8Gi}}
queues:
  - name: q
    arrivals: {sum: [{constant: 1}, {steps: [{at: 2m, value: 3}]}, {weekly: {windows: [{days: [Mon], from: "09:00", to: "10:00", value: 1}]}}]}
    bursts: [{at: 1m, messages: 10}]
    consumers: [{nodeGroup: w, messagesPerSecond: 0.5}]
pods:
  - name: web
    requests: {cpu: 1, memory: 1Gi}
    replicas: {constant: 3}
metrics:
  - {query: load, csv: load.csv}
manifests:
  - kind: HorizontalAutoscaler
    metadata: {name: w}
    spec:
      scaleTargetRef: {kind: ScalableNodeGroup, name: w}
      maxReplicas: 5
      fallback: {failureThreshold: 2, replicas: 1}
      metrics:
        - prometheus: {query: 'karpenter_queue_length{name="q"}', target: {type: AverageValue, value: 5}}
        - prometheus: {query: load, target: {type: Value, value: 10}}
"#;

#[tokio::test]
async fn the_valid_base_of_the_fuzz_runs() {
    let p = Prepared::from_str(VALID, "s.yaml", dir()).unwrap();
    let out = p.run(&Default::default()).await.unwrap();
    assert_eq!(out.scorecard.ticks, 21);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    /// Any text: an error or a scenario, never a panic.
    #[test]
    fn arbitrary_text_never_panics(text in ".{0,400}") {
        let _ = Prepared::from_str(&text, "s.yaml", dir());
    }

    /// A valid scenario with one line deleted, duplicated or cut: an error
    /// naming a line, or a scenario that runs; never a panic.
    #[test]
    fn mutated_scenarios_never_panic(line in 0usize..30, how in 0u8..3, cut in 0usize..40) {
        let mut lines: Vec<String> = VALID.lines().map(String::from).collect();
        let i = line % lines.len();
        match how {
            0 => { lines.remove(i); }
            1 => { let l = lines[i].clone(); lines.insert(i, l); }
            _ => { let l = &lines[i]; let c = cut.min(l.len()); let cut_at = l.char_indices().map(|(j, _)| j).take_while(|j| *j <= c).last().unwrap_or(0); lines[i] = l[..cut_at].to_string(); }
        }
        let text = lines.join("\n");
        match Prepared::from_str(&text, "s.yaml", dir()) {
            Ok(p) => {
                let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
                let _ = rt.block_on(p.run(&Default::default()));
            }
            Err(ScenarioError::Invalid(list)) => {
                prop_assert!(!list.is_empty());
                for p in &list {
                    prop_assert!(!p.message.is_empty());
                }
            }
            Err(e) => prop_assert!(false, "unexpected error kind: {e}"),
        }
    }
}

#[test]
fn scenarios_too_large_to_simulate_are_refused_before_they_run() {
    let got = problems(&format!(
        r#"{HEAD}nodeGroups: [{{name: w, allocatable: {{cpu: 4, memory: 8Gi}}}}]
pods:
  - name: web
    requests: {{cpu: 1, memory: 1Gi}}
    replicas: {{sum: [{{constant: 60000}}, {{daily: {{min: 0, max: 50000}}}}]}}
manifests:
  - kind: HorizontalAutoscaler
    metadata: {{name: w}}
    spec:
      scaleTargetRef: {{kind: ScalableNodeGroup, name: w}}
      maxReplicas: 1000000
      metrics: [{{prometheus: {{query: 'karpenter_reserved_capacity_cpu_utilization{{name="x"}}', target: {{type: Utilization, value: 60}}}}}}]
"#
    ));
    assert_eq!(
        got,
        vec![
            "s.yaml:9: pods[0].replicas: the curve reaches 110000 pods; at most 100000 pods per workload are simulated (each is an object): scale the workload down and its requests up"
        ]
    );
    let got = problems(&format!(
        r#"{HEAD}nodeGroups: [{{name: w, allocatable: {{cpu: 4, memory: 8Gi}}}}]
manifests:
  - kind: HorizontalAutoscaler
    metadata: {{name: w}}
    spec:
      scaleTargetRef: {{kind: ScalableNodeGroup, name: w}}
      maxReplicas: 1000000
      metrics: [{{prometheus: {{query: 'karpenter_queue_length{{name="x"}}', target: {{type: AverageValue, value: 60}}}}}}]
"#
    ));
    assert_eq!(
        got,
        vec![
            "s.yaml:11: manifests[0].spec.maxReplicas: node group \"w\" has allocatable, so each of its nodes is an object in the simulated cluster: at most 100000 are simulated; lower maxReplicas or set nodeGroups[].capacity"
        ]
    );
}
