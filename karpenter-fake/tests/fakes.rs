//! The fakes one by one: node group, queue, metric store, cluster, provider,
//! manifests, timeline.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on purpose.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use karpenter_core::api::v1alpha1::{Metric, QueueSpec, ScalableNodeGroupSpec};
use karpenter_core::cluster::{ClusterState, PodPhase, Resources, Taint, TaintEffect, Toleration};
use karpenter_core::provider::{
    MetricSource, NodeGroup, ProviderErrorKind, ProviderRegistry, Queue, ReplicaBounds,
};
use karpenter_fake::{
    Call, Column, FakeCluster, FakeMetricStore, FakeNodeGroup, FakeProvider, FakeQueue, Fault,
    Manifests, NodeTemplate, Row, SimClock, SimError, Timeline, pending_pod,
};

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 5, 0, 0, 0).unwrap()
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

#[tokio::test]
async fn node_group_launches_after_the_delay_and_terminates_after_its_delay() {
    let clock = SimClock::new(start());
    let g = FakeNodeGroup::builder("g")
        .launch_delay(secs(60))
        .termination_delay(secs(30))
        .replicas(2)
        .build(&clock);
    g.set_replicas(5).await.unwrap();
    let r = g.replicas().await.unwrap();
    assert_eq!((r.desired, r.ready), (5, 2));
    assert!(!g.stabilized().await.unwrap().stabilized);
    clock.advance(secs(59));
    assert_eq!(g.ready(), 2);
    clock.advance(secs(1));
    assert_eq!(g.ready(), 5);
    assert!(g.stabilized().await.unwrap().stabilized);

    // Scale-down: out of service at once, billed until terminated.
    g.set_replicas(1).await.unwrap();
    assert_eq!((g.ready(), g.terminating()), (1, 4));
    let s = g.stabilized().await.unwrap();
    assert_eq!(s.message, "4 nodes terminating");
    clock.advance(secs(30));
    assert_eq!(g.terminating(), 0);
    // 2 nodes × 60 s + 3 launching × 60 s + 1 × 30 s + 4 terminating × 30 s.
    let expected = (2.0 * 60.0 + 3.0 * 60.0 + 30.0 + 4.0 * 30.0) / 3600.0;
    assert!(
        (g.node_hours() - expected).abs() < 1e-9,
        "{}",
        g.node_hours()
    );
}

#[tokio::test]
async fn node_group_scale_down_cancels_launches_first() {
    let clock = SimClock::new(start());
    let g = FakeNodeGroup::builder("g").replicas(3).build(&clock);
    g.set_replicas(10).await.unwrap();
    g.set_replicas(5).await.unwrap();
    assert_eq!((g.ready(), g.launching(), g.terminating()), (3, 2, 0));
    g.set_replicas(2).await.unwrap();
    assert_eq!((g.ready(), g.launching(), g.terminating()), (2, 0, 1));
    // Idempotent.
    g.set_replicas(2).await.unwrap();
    assert_eq!(g.desired(), 2);
}

#[tokio::test]
async fn node_group_capacity_ceiling_fails_like_insufficient_capacity() {
    let clock = SimClock::new(start());
    let g = FakeNodeGroup::builder("gpu").capacity(8).build(&clock);
    let err = g.set_replicas(12).await.unwrap_err();
    assert_eq!(err.kind, ProviderErrorKind::InsufficientCapacity);
    assert!(err.is_retryable());
    assert!(err.message.contains("\"gpu\""), "{}", err.message);
    assert!(err.message.contains("launched 8 of 12"), "{}", err.message);
    assert_eq!(g.desired(), 8);
    g.set_capacity(None);
    g.set_replicas(12).await.unwrap();
    assert_eq!(g.desired(), 12);
}

#[tokio::test]
async fn node_group_bounds_are_enforced_and_reported() {
    let clock = SimClock::new(start());
    let g = FakeNodeGroup::builder("g").bounds(1, 10).build(&clock);
    assert_eq!(
        g.bounds().await.unwrap(),
        Some(ReplicaBounds { min: 1, max: 10 })
    );
    let err = g.set_replicas(11).await.unwrap_err();
    assert_eq!(err.kind, ProviderErrorKind::OutOfBounds);
    assert!(err.message.contains("[1, 10]"), "{}", err.message);
    assert!(!err.is_retryable());
    assert_eq!(g.desired(), 0);
}

#[tokio::test]
async fn node_group_faults_hit_the_chosen_calls_and_are_logged() {
    let clock = SimClock::new(start());
    let g = FakeNodeGroup::builder("g").build(&clock);
    g.fail_next(Call::Replicas, Fault::Timeout, 2);
    assert_eq!(
        g.replicas().await.unwrap_err().kind,
        ProviderErrorKind::Timeout
    );
    assert_eq!(
        g.replicas().await.unwrap_err().kind,
        ProviderErrorKind::Timeout
    );
    assert!(g.replicas().await.is_ok());
    // Other calls are unaffected.
    assert!(g.set_replicas(1).await.is_ok());

    g.fail_between(
        Call::SetReplicas,
        Fault::Throttle,
        start() + chrono::Duration::seconds(10),
        start() + chrono::Duration::seconds(20),
    );
    clock.advance(secs(10));
    assert_eq!(
        g.set_replicas(2).await.unwrap_err().kind,
        ProviderErrorKind::Throttled
    );
    clock.advance(secs(10));
    assert!(g.set_replicas(2).await.is_ok());

    // Applied, but the answer is lost.
    g.fail_next(Call::SetReplicas, Fault::TimeoutAfterApplying, 1);
    assert_eq!(
        g.set_replicas(3).await.unwrap_err().kind,
        ProviderErrorKind::Timeout
    );
    assert_eq!(g.desired(), 3);
    g.fail_next(
        Call::Stabilized,
        Fault::Error(ProviderErrorKind::AccessDenied),
        1,
    );
    assert_eq!(
        g.stabilized().await.unwrap_err().kind,
        ProviderErrorKind::AccessDenied
    );

    let log = g.calls();
    let summary: Vec<(Call, Option<i32>, Option<ProviderErrorKind>)> =
        log.iter().map(|c| (c.call, c.replicas, c.error)).collect();
    assert_eq!(
        summary,
        vec![
            (Call::Replicas, None, Some(ProviderErrorKind::Timeout)),
            (Call::Replicas, None, Some(ProviderErrorKind::Timeout)),
            (Call::Replicas, None, None),
            (Call::SetReplicas, Some(1), None),
            (
                Call::SetReplicas,
                Some(2),
                Some(ProviderErrorKind::Throttled)
            ),
            (Call::SetReplicas, Some(2), None),
            (Call::SetReplicas, Some(3), Some(ProviderErrorKind::Timeout)),
            (
                Call::Stabilized,
                None,
                Some(ProviderErrorKind::AccessDenied)
            ),
        ]
    );
    assert_eq!(log[4].at, start() + chrono::Duration::seconds(10));
    assert_eq!(g.call_count(Call::SetReplicas), (4, 2));
}

#[tokio::test]
async fn random_faults_and_jitter_follow_the_seed() {
    async fn run(seed: u64) -> (Vec<bool>, Vec<i32>) {
        let clock = SimClock::new(start());
        let g = FakeNodeGroup::builder("g")
            .launch_jitter(secs(30))
            .seed(seed)
            .build(&clock);
        g.fail_with_probability(Call::Replicas, Fault::Throttle, 0.5);
        let mut outcomes = Vec::new();
        for _ in 0..32 {
            outcomes.push(g.replicas().await.is_ok());
        }
        g.set_replicas(20).await.unwrap();
        let mut ready = Vec::new();
        for _ in 0..10 {
            clock.advance(secs(9));
            ready.push(g.ready());
        }
        (outcomes, ready)
    }
    let a = run(1).await;
    assert_eq!(a, run(1).await);
    assert_ne!(a, run(2).await);
    assert!(a.0.contains(&true) && a.0.contains(&false));
    // Jitter spreads readiness over [60 s, 90 s].
    assert_eq!(a.1[5], 0); // 54 s
    assert_eq!(a.1[9], 20); // 90 s
    assert!(a.1[7] > 0 && a.1[7] < 20, "{:?}", a.1); // 72 s
}

#[tokio::test]
async fn queue_arrivals_consumers_and_oldest_age() {
    let clock = SimClock::new(start());
    let workers = FakeNodeGroup::builder("w")
        .replicas(0)
        .launch_delay(secs(30))
        .build(&clock);
    let q = FakeQueue::builder("q")
        .arrivals(|_| 0.5)
        .burst(start() + chrono::Duration::seconds(60), 100)
        .consumers(&workers, 1.0)
        .build(&clock);
    clock.advance(secs(60));
    // 30 from the rate, 100 from the burst, nobody working.
    assert_eq!(q.length().await.unwrap(), 130);
    assert_eq!(q.arrived(), 130);
    assert_eq!(
        q.oldest_message_age().await.unwrap(),
        Some(Duration::ZERO),
        "the burst landed now and is the oldest present (rate arrivals are stamped at the end of each step)"
    );
    workers.set_replicas(2).await.unwrap();
    clock.advance(secs(30)); // nodes ready at the end of this span
    assert_eq!(q.len(), 145);
    clock.advance(secs(20)); // 2 nodes × 20 s = 40 done, 10 arrive
    assert_eq!(q.len(), 115);
    assert_eq!(q.processed(), 40);
    assert_eq!(q.oldest_age(), Some(secs(50)));
}

#[tokio::test]
async fn idle_consumers_do_not_bank_work() {
    let clock = SimClock::new(start());
    let workers = FakeNodeGroup::builder("w").replicas(10).build(&clock);
    let q = FakeQueue::builder("q")
        .consumers(&workers, 1.0)
        .build(&clock);
    clock.advance(secs(600));
    assert!(q.is_empty());
    q.push(50);
    assert_eq!(q.len(), 50, "work done while idle is not credited");
    clock.advance(secs(3));
    assert_eq!(q.len(), 20);
    assert_eq!(q.oldest_age(), Some(secs(3)));
}

#[tokio::test]
async fn metric_store_answers_metric_specs_and_names_unsupported_sources() {
    let store = FakeMetricStore::new();
    store.set(
        "karpenter_queue_length",
        &[("name".to_string(), "q".to_string())],
        7.0,
    );
    let metric: Metric = serde_json::from_value(serde_json::json!({
        "prometheus": {"query": "karpenter_queue_length{name=\"q\"}",
                       "target": {"type": "AverageValue", "value": 4}}
    }))
    .unwrap();
    assert_eq!(store.value(&metric).await.unwrap(), 7.0);

    let unsupported: Metric = serde_json::from_value(serde_json::json!({
        "prometheus": {"query": "rate(karpenter_queue_length[5m])",
                       "target": {"type": "AverageValue", "value": 4}}
    }))
    .unwrap();
    let err = store.value(&unsupported).await.unwrap_err();
    assert_eq!(err.kind, ProviderErrorKind::InvalidId);
    assert!(
        err.message.contains("functions such as rate(...)"),
        "{}",
        err.message
    );

    let cloud_watch: Metric = serde_json::from_value(serde_json::json!({
        "cloudWatch": {"namespace": "AWS/SQS", "metricName": "X",
                       "target": {"type": "Value", "value": 4}}
    }))
    .unwrap();
    let err = store.value(&cloud_watch).await.unwrap_err();
    assert_eq!(err.kind, ProviderErrorKind::UnsupportedType);
    assert!(err.message.contains("\"cloudWatch\""), "{}", err.message);
}

#[tokio::test]
async fn cluster_schedules_first_fit_and_marks_the_rest_unschedulable() {
    let clock = SimClock::new(start());
    let g = FakeNodeGroup::builder("web").replicas(2).build(&clock);
    let gpu = FakeNodeGroup::builder("gpu").replicas(1).build(&clock);
    let cluster = FakeCluster::new(&clock);
    cluster.add_node_group(
        &g,
        NodeTemplate::new(Resources::new(4000, 8 << 30, 110)).label("group", "web"),
    );
    cluster.add_node_group(
        &gpu,
        NodeTemplate::new(Resources::new(8000, 32 << 30, 110))
            .label("group", "gpu")
            .taint(Taint {
                key: "nvidia.com/gpu".into(),
                value: String::new(),
                effect: TaintEffect::NoSchedule,
            }),
    );
    // 10 × 1 cpu: 8 fit the two web nodes; the gpu node is tainted.
    cluster.scale_workload("default", "web", 10, Resources::new(1000, 1 << 30, 1));
    // A pod for the gpu nodes.
    let mut trainer = pending_pod("ml", "trainer", Resources::new(6000, 1 << 30, 1));
    trainer.node_selector.insert("group".into(), "gpu".into());
    trainer.tolerations.push(Toleration {
        key: Some("nvidia.com/gpu".into()),
        exists: true,
        value: String::new(),
        effect: None,
    });
    cluster.add_pod(trainer);

    let outcome = cluster.schedule();
    assert_eq!((outcome.bound, outcome.unschedulable), (9, 2));
    assert_eq!(cluster.pending_pods(), 2);
    let snap = cluster.snapshot().await.unwrap();
    assert_eq!(snap.nodes.len(), 3);
    assert_eq!(snap.nodes[0].name, "web-0");
    let trainer = snap.pods.iter().find(|p| p.name == "trainer").unwrap();
    assert_eq!(trainer.node_name.as_deref(), Some("gpu-0"));
    let pending: Vec<&str> = snap
        .pods
        .iter()
        .filter(|p| p.unschedulable)
        .map(|p| p.name.as_str())
        .collect();
    assert_eq!(pending, vec!["web-8", "web-9"]);

    // A new node: the pending pods bind, after waiting 90 s.
    g.set_replicas(3).await.unwrap();
    clock.advance(secs(90));
    let outcome = cluster.schedule();
    assert_eq!((outcome.bound, outcome.unschedulable), (2, 0));
    assert_eq!(cluster.longest_pending(), secs(90));

    // Scale-down: the highest index goes, its pods are pending again.
    g.set_replicas(2).await.unwrap();
    let outcome = cluster.schedule();
    assert_eq!(outcome.evicted, 2);
    assert_eq!(cluster.pending_pods(), 2);

    // Workloads shrink newest first.
    cluster.scale_workload("default", "web", 7, Resources::new(1000, 1 << 30, 1));
    cluster.schedule();
    let snap = cluster.snapshot_now();
    assert_eq!(snap.pods.len(), 8);
    assert!(snap.pods.iter().all(|p| p.phase == PodPhase::Running));
    assert!(!snap.pods.iter().any(|p| p.name == "web-9"));
}

#[tokio::test]
async fn provider_serves_fakes_by_id_and_says_what_it_knows() {
    let clock = SimClock::new(start());
    let provider = FakeProvider::new(FakeMetricStore::new());
    provider.add_node_group(FakeNodeGroup::builder("ml-training").build(&clock));
    provider.add_queue(FakeQueue::builder("jobs").build(&clock));
    let mut registry = ProviderRegistry::new();
    registry.register(Arc::new(provider)).unwrap();

    let spec = |id: &str| ScalableNodeGroupSpec {
        type_: "FakeNodeGroup".into(),
        id: id.into(),
        replicas: None,
    };
    let group = registry.node_group(&spec("ml-training")).unwrap();
    group.set_replicas(1).await.unwrap();
    let err = registry.node_group(&spec("nope")).err().unwrap();
    assert_eq!(err.kind, ProviderErrorKind::NotFound);
    assert!(
        err.message.contains("\"nope\"") && err.message.contains("known: ml-training"),
        "{}",
        err.message
    );
    let queue = registry
        .queue(&QueueSpec {
            type_: "FakeQueue".into(),
            id: "jobs".into(),
            include_in_flight: false,
        })
        .unwrap();
    assert_eq!(queue.length().await.unwrap(), 0);
    assert!(registry.metric_source("prometheus").is_ok());
    let err = registry.metric_source("cloudWatch").err().unwrap();
    assert_eq!(err.kind, ProviderErrorKind::UnsupportedType);
}

#[test]
fn manifests_load_every_kind_and_name_the_bad_document() {
    let m = Manifests::from_yaml(
        r#"
---
kind: ScalableNodeGroup
metadata: {name: a}
spec: {type: FakeNodeGroup, id: a}
---
# an empty document is skipped
---
kind: HorizontalAutoscaler
metadata: {name: a}
spec:
  scaleTargetRef: {kind: ScalableNodeGroup, name: a}
  maxReplicas: 3
  metrics: []
"#,
    )
    .unwrap();
    assert_eq!((m.node_groups.len(), m.autoscalers.len()), (1, 1));

    let err = Manifests::from_yaml(
        "kind: ScalableNodeGroup\nmetadata: {name: a}\nspec: {type: X, id: a}\n---\nkind: HorizontalAutoscaler\nmetadata: {name: web}\nspec: {maxReplicas: ten}\n",
    )
    .unwrap_err();
    assert!(matches!(err, SimError::Yaml { index: 2, .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("HorizontalAutoscaler web"), "{msg}");

    let err = Manifests::from_yaml("kind: Pod\nmetadata: {name: p}\n").unwrap_err();
    assert!(matches!(err, SimError::UnknownKind { index: 1, .. }));
}

#[test]
fn timeline_writes_csv_and_svg_files() {
    let dir = std::env::temp_dir().join(format!("karpenter-fake-timeline-{}", std::process::id()));
    let mut t = Timeline::new(
        start(),
        vec![
            Column::new("a,b", "Panel", "a"),
            Column::new("c", "Panel", "c").dashed(),
        ],
    );
    for i in 0..5 {
        t.push(Row {
            time: start() + chrono::Duration::seconds(15 * i),
            values: vec![Some(i as f64 * 0.5), if i == 2 { None } else { Some(1.0) }],
        });
    }
    let csv = t.to_csv();
    assert!(csv.starts_with("time,elapsed_seconds,\"a,b\",c\n"), "{csv}");
    assert!(csv.contains("2026-01-05T00:00:30Z,30,1,\n"), "{csv}");
    t.write_csv(dir.join("t.csv")).unwrap();
    t.write_svg(dir.join("nested/t.svg"), "A title").unwrap();
    let svg = std::fs::read_to_string(dir.join("nested/t.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("A title") && svg.contains("Panel"));
    assert_eq!(std::fs::read_to_string(dir.join("t.csv")).unwrap(), csv);
    std::fs::remove_dir_all(&dir).unwrap();
}
