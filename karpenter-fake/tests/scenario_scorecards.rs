//! Scorecards of small scenarios, computed by hand (each test says how),
//! and the determinism of the scorecard.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on purpose.

use std::path::Path;

use karpenter_fake::scenario::{
    NodeGroupScore, PodScore, Prepared, QueueScore, RunOptions, Scorecard, Totals,
};

fn dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/scenarios"))
}

async fn score(scenario: &str) -> Scorecard {
    let prepared = Prepared::from_str(scenario, "test.yaml", dir()).unwrap();
    prepared
        .run(&RunOptions::default())
        .await
        .unwrap()
        .scorecard
}

/// 40 messages land at the start. One node per 10 messages (AverageValue
/// 10), nodes ready 30 s after the request, each working off 0.25 message/s
/// (15 per node per 15 s tick), gone 30 s after removal. Ticks every 15 s
/// for 7 minutes: 29 ticks (0 s to 420 s).
///
/// - t=0: 40 waiting, 0 ready: ceil(40/10) = 4; the Count 4 policy allows
///   it. 4 nodes launch (billed from now), ready at t=30.
/// - t=15, t=30: nothing worked off yet (no node ready before t=30).
/// - t=45: 4 × 15 × 0.25 = 15 processed, each waited 45 s; 25 left.
/// - t=60: 15 more (waited 60 s), 10 left. t=75: the last 10 (waited 75 s).
/// - The down window (300 s) holds 4 while a recommendation of 4 is in it:
///   the last 4 is from t=30, so at t=330 the highest is t=45's 3 (→ 3), at
///   t=345 t=60's 1 (→ 1), at t=360 0 (→ 0).
/// - Billed: 4 nodes from t=0; removed at 330, 345, 345, 360, each billed
///   30 s more: 360 + 375 + 375 + 390 = 1500 node-seconds.
/// - Waiting: 15 × 45 + 15 × 60 + 10 × 75 = 2325 message-seconds.
#[tokio::test]
async fn a_single_burst() {
    let card = score(
        r#"
apiVersion: simulate.karpenter.sh/v1
kind: Scenario
start: "2026-03-02T09:00:00Z"
duration: 7m
nodeGroups: [{name: w, launchDelay: 30s, terminationDelay: 30s}]
queues:
- name: q
  bursts: [{at: 0s, messages: 40}]
  consumers: [{nodeGroup: w, messagesPerSecond: 0.25}]
manifests:
- kind: HorizontalAutoscaler
  metadata: {name: w}
  spec:
    scaleTargetRef: {kind: ScalableNodeGroup, name: w}
    maxReplicas: 10
    metrics: [{prometheus: {query: 'karpenter_queue_length{name="q"}', target: {type: AverageValue, value: 10}}}]
"#,
    )
    .await;
    assert_eq!(
        card,
        Scorecard {
            ticks: 29,
            node_groups: vec![NodeGroupScore {
                name: "w".into(),
                node_seconds: 1500.0,
                peak_nodes: 4,
                scale_ups: 1,
                scale_downs: 3,
                recorded_node_seconds: None,
            }],
            queues: vec![QueueScore {
                name: "q".into(),
                message_wait_seconds: 2325.0,
                max_wait_seconds: 75.0,
                max_length: 40,
            }],
            pods: PodScore {
                pending_pod_seconds: 0.0,
                max_pending_pods: 0,
            },
            totals: Totals {
                node_seconds: 1500.0,
                waiting_seconds: 2325.0,
            },
            errors: 0,
        }
    );
}

/// One message per second arrives, stamped at the end of each 15 s tick
/// (15 per tick); 2 nodes, held at 2 (minReplicas = maxReplicas = 2), each
/// working off 0.5/s: 15 per tick, exactly the arrivals. From t=30 to
/// t=600 each tick processes the 15 that arrived one tick earlier, after
/// 15 s: 39 ticks × 15 × 15 s = 8775 message-seconds; the 15 that arrive
/// at t=600 have waited 0. Nodes: 2 × 600 s = 1200.
#[tokio::test]
async fn a_constant_rate() {
    let card = score(
        r#"
apiVersion: simulate.karpenter.sh/v1
kind: Scenario
start: "2026-03-02T09:00:00Z"
duration: 10m
nodeGroups: [{name: w, replicas: 2}]
queues:
- name: q
  arrivals: {constant: 1}
  consumers: [{nodeGroup: w, messagesPerSecond: 0.5}]
manifests:
- kind: HorizontalAutoscaler
  metadata: {name: w}
  spec:
    scaleTargetRef: {kind: ScalableNodeGroup, name: w}
    minReplicas: 2
    maxReplicas: 2
    metrics: [{prometheus: {query: 'karpenter_queue_length{name="q"}', target: {type: AverageValue, value: 10}}}]
"#,
    )
    .await;
    assert_eq!(card.ticks, 41);
    assert_eq!(
        card.node_groups[0],
        NodeGroupScore {
            name: "w".into(),
            node_seconds: 1200.0,
            peak_nodes: 2,
            scale_ups: 0,
            scale_downs: 0,
            recorded_node_seconds: None,
        }
    );
    assert_eq!(
        card.queues[0],
        QueueScore {
            name: "q".into(),
            message_wait_seconds: 8775.0,
            max_wait_seconds: 15.0,
            max_length: 15,
        }
    );
    assert_eq!(card.totals.waiting_seconds, 8775.0);
}

/// `ten-points.csv`: a load of 10, 20, 30, 40, 30, 20, 10, 10, 10, 10 at
/// one-minute steps, with the replicas that were running then (2, 2, 3, 4,
/// 4, 3, 2, 2, 2, 2). One node per 10 of load (AverageValue 10), no
/// scale-down window, nodes ready at once; a 1-minute tick, 10 ticks.
///
/// - t=0: ratio 10 / (10 × 1) = 1, within tolerance: 1.
/// - then ceil(load / 10) as the ratio leaves tolerance: 2, 3, 4, 3, 2, 1,
///   and 1 (within tolerance) for the last three.
/// - Simulated: 60 × (1 + 2 + 3 + 4 + 3 + 2) + 180 × 1 = 1080 node-seconds;
///   3 scale-ups, 3 scale-downs, peak 4.
/// - Recorded: 60 × (2 + 2 + 3 + 4 + 4 + 3 + 2 + 2 + 2) = 1440 over the
///   same 540 s.
#[tokio::test]
async fn a_replayed_csv_of_ten_points_and_its_backtest() {
    let card = score(
        r#"
apiVersion: simulate.karpenter.sh/v1
kind: Scenario
start: "2026-03-02T09:00:00Z"
duration: 9m
tick: 1m
nodeGroups: [{name: web, replicas: 1, launchDelay: 0s, terminationDelay: 0s}]
metrics:
- query: sum(rate(requests_total{job="web"}[1m]))
  csv: ten-points.csv
manifests:
- kind: HorizontalAutoscaler
  metadata: {name: web}
  spec:
    scaleTargetRef: {kind: ScalableNodeGroup, name: web}
    minReplicas: 1
    maxReplicas: 10
    metrics: [{prometheus: {query: 'sum(rate(requests_total{job="web"}[1m]))', target: {type: AverageValue, value: 10}}}]
    behavior: {scaleDown: {stabilizationWindowSeconds: 0}}
"#,
    )
    .await;
    assert_eq!(card.ticks, 10);
    assert_eq!(
        card.node_groups[0],
        NodeGroupScore {
            name: "web".into(),
            node_seconds: 1080.0,
            peak_nodes: 4,
            scale_ups: 3,
            scale_downs: 3,
            recorded_node_seconds: Some(1440.0),
        }
    );
    assert_eq!(card.errors, 0);
}

const JITTERY: &str = r#"
apiVersion: simulate.karpenter.sh/v1
kind: Scenario
start: "2026-03-02T09:00:00Z"
duration: 2h
seed: SEED
nodeGroups: [{name: w, launchDelay: {min: 30s, max: 120s}, terminationDelay: {min: 10s, max: 60s}}]
queues:
- name: q
  arrivals: {daily: {min: 0.5, max: 4, peak: "10:00"}}
  poisson: true
  bursts: [{at: 20m, messages: 500}]
  consumers: [{nodeGroup: w, messagesPerSecond: 0.1}]
manifests:
- kind: HorizontalAutoscaler
  metadata: {name: w}
  spec:
    scaleTargetRef: {kind: ScalableNodeGroup, name: w}
    maxReplicas: 100
    metrics: [{prometheus: {query: 'karpenter_queue_length{name="q"}', target: {type: AverageValue, value: 5}}}]
"#;

async fn json_for(seed: u64) -> String {
    let card = score(&JITTERY.replace("SEED", &seed.to_string())).await;
    serde_json::to_string_pretty(&card).unwrap()
}

#[tokio::test]
async fn the_same_seed_gives_byte_identical_json_and_another_seed_does_not() {
    let a = json_for(7).await;
    let b = json_for(7).await;
    assert_eq!(a, b);
    let c = json_for(8).await;
    assert_ne!(a, c, "the seed drives the delays and the Poisson arrivals");
}

#[tokio::test]
async fn a_variant_identical_to_the_baseline_scores_identically() {
    let base = Prepared::from_str(&JITTERY.replace("SEED", "3"), "s.yaml", dir()).unwrap();
    // Sets what is already there (maxReplicas 100), and adds the default
    // algorithm explicitly: the same configuration.
    let same = base
        .with_patch(
            "kind: HorizontalAutoscaler\nmetadata: {name: w}\nspec: {maxReplicas: 100, algorithm: {type: Proportional}}\n",
            "same.yaml",
        )
        .unwrap();
    let options = RunOptions::default();
    let a = base.run(&options).await.unwrap().scorecard;
    let b = same.run(&options).await.unwrap().scorecard;
    assert_eq!(a, b);
    assert!(!karpenter_fake::scenario::pareto_better(
        &b.totals, &a.totals
    ));
    // A real change does change the score.
    let other = base
        .with_patch(
            "kind: HorizontalAutoscaler\nmetadata: {name: w}\nspec: {maxReplicas: 5}\n",
            "small.yaml",
        )
        .unwrap();
    let c = other.run(&options).await.unwrap().scorecard;
    assert_ne!(a, c);
}

/// One 2-cpu node, held at 1 (minReplicas = maxReplicas = 1). Pods of
/// 1 cpu: 2 until 1m, then 5; the 3 that do not fit are pending from t=60
/// to the end (t=120): 3 × 60 = 180 pod-seconds. One more pod needs a node
/// label no node has: pending for the whole 120 s. Total 300, at most 4 at
/// once. The node: 1 × 120 s.
#[tokio::test]
async fn pending_pods() {
    let card = score(
        r#"
apiVersion: simulate.karpenter.sh/v1
kind: Scenario
start: "2026-03-02T09:00:00Z"
duration: 2m
nodeGroups: [{name: web, replicas: 1, allocatable: {cpu: 2, memory: 4Gi}}]
pods:
- name: api
  requests: {cpu: 1, memory: 1Gi}
  replicas: {steps: [{at: 0s, value: 2}, {at: 1m, value: 5}]}
- name: batch
  requests: {cpu: 100m, memory: 128Mi}
  nodeSelector: {pool: gpu}
  replicas: {constant: 1}
manifests:
- kind: MetricsProducer
  metadata: {name: web-capacity}
  spec: {reservedCapacity: {nodeSelector: {karpenter.sh/node-group: web}}}
- kind: HorizontalAutoscaler
  metadata: {name: web}
  spec:
    scaleTargetRef: {kind: ScalableNodeGroup, name: web}
    minReplicas: 1
    maxReplicas: 1
    metrics: [{prometheus: {query: 'karpenter_reserved_capacity_cpu_utilization{name="web-capacity"}', target: {type: Utilization, value: 60}}}]
"#,
    )
    .await;
    assert_eq!(card.ticks, 9);
    assert_eq!(
        card.pods,
        PodScore {
            pending_pod_seconds: 300.0,
            max_pending_pods: 4,
        }
    );
    assert_eq!(card.node_groups[0].node_seconds, 120.0);
    assert_eq!(card.totals.waiting_seconds, 300.0);
    assert_eq!(card.errors, 0);
}
