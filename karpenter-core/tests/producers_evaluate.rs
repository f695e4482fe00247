//! `producers::evaluate`: gathering inputs through the SPI (mockall mocks),
//! errors that name the producer, and export to a metric sink.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on purpose.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use karpenter_core::api::v1alpha1::{ConditionStatus, MetricsProducer};
use karpenter_core::cluster::{
    ClusterSnapshot, ClusterState, MockClusterState, Node, Pod, PodPhase, Resources,
};
use karpenter_core::producers::{
    PendingAssignment, ProducerContext, ProducerError, evaluate, export,
};
use karpenter_core::provider::{
    MockCloudProvider, MockQueue, ProviderError, ProviderErrorKind, ProviderRegistry, Queue,
};
use karpenter_core::retry::{RetryPolicy, Retrying};

mod common;
use common::Recorder;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 9, 17, 0, 0).unwrap()
}

fn producer(json: serde_json::Value) -> MetricsProducer {
    serde_json::from_value(json).unwrap()
}

fn queue_producer() -> MetricsProducer {
    producer(serde_json::json!({
        "metadata": {"name": "orders", "namespace": "shop"},
        "spec": {"queue": {"type": "AWSSQSQueue", "id": "arn:aws:sqs:us-west-2:1234567890:orders"}}
    }))
}

/// A registry whose only provider serves `AWSSQSQueue` with `queue`.
fn registry_with(queue: MockQueue) -> ProviderRegistry {
    let queue: Arc<dyn Queue> = Arc::new(queue);
    let mut cloud = MockCloudProvider::new();
    cloud.expect_name().return_const("mock".to_string());
    cloud.expect_node_group_types().returning(Vec::new);
    cloud.expect_metric_source_types().returning(Vec::new);
    cloud
        .expect_queue_types()
        .returning(|| vec!["AWSSQSQueue".to_string()]);
    cloud.expect_validate_queue().returning(|_| Ok(()));
    cloud.expect_queue().returning(move |_| Ok(queue.clone()));
    let mut registry = ProviderRegistry::new();
    registry.register(Arc::new(cloud)).unwrap();
    registry
}

fn no_jitter() -> RetryPolicy {
    RetryPolicy {
        jitter: 0.0,
        seed: Some(1),
        ..RetryPolicy::default()
    }
}

fn value(out: &[karpenter_core::producers::Gauge], name: &str) -> f64 {
    out.iter()
        .find(|g| g.name == name)
        .unwrap_or_else(|| panic!("no gauge {name}"))
        .value
}

#[tokio::test(start_paused = true)]
async fn queue_gauges_and_status() {
    let mut q = MockQueue::new();
    q.expect_length().returning(|| Ok(12));
    q.expect_oldest_message_age()
        .returning(|| Ok(Some(Duration::from_secs(90))));
    let registry = registry_with(q);
    let ctx = ProducerContext::new(now(), &registry);
    let out = evaluate(&queue_producer(), &ctx).await.unwrap();

    assert_eq!(value(&out.gauges, "karpenter_queue_length"), 12.0);
    assert_eq!(
        value(&out.gauges, "karpenter_queue_oldest_message_age_seconds"),
        90.0
    );
    for g in &out.gauges {
        assert_eq!(
            *g.labels,
            [
                ("name".to_string(), "orders".to_string()),
                ("namespace".to_string(), "shop".to_string())
            ]
        );
    }
    assert_eq!(out.status.values["length"], "12");
    assert_eq!(out.status.values["oldestMessageAge"], "90s");
    assert_eq!(out.status.next_schedule_change, None);
    assert_eq!(out.status.last_error, None);
    let c = &out.status.conditions[0];
    assert_eq!((&*c.type_, c.status), ("Calculable", ConditionStatus::True));
}

#[tokio::test(start_paused = true)]
async fn an_empty_queue_has_age_zero() {
    let mut q = MockQueue::new();
    q.expect_length().returning(|| Ok(0));
    q.expect_oldest_message_age().returning(|| Ok(None));
    let registry = registry_with(q);
    let out = evaluate(&queue_producer(), &ProducerContext::new(now(), &registry))
        .await
        .unwrap();
    assert_eq!(value(&out.gauges, "karpenter_queue_length"), 0.0);
    assert_eq!(
        value(&out.gauges, "karpenter_queue_oldest_message_age_seconds"),
        0.0
    );
}

#[tokio::test(start_paused = true)]
async fn throttled_queue_reads_are_retried() {
    let mut q = MockQueue::new();
    let mut seq = mockall::Sequence::new();
    q.expect_length()
        .times(2)
        .in_sequence(&mut seq)
        .returning(|| {
            Err(ProviderError::new(
                ProviderErrorKind::Throttled,
                "Rate exceeded",
            ))
        });
    q.expect_length()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|| Ok(5));
    q.expect_oldest_message_age()
        .returning(|| Ok(Some(Duration::from_secs(3))));
    let mut registry = registry_with(q);
    registry.calls_mut().retry = no_jitter();
    let ctx = ProducerContext::new(now(), &registry);
    let start = tokio::time::Instant::now();
    let out = evaluate(&queue_producer(), &ctx).await.unwrap();
    assert_eq!(value(&out.gauges, "karpenter_queue_length"), 5.0);
    // Default backoffs 200 ms then 400 ms, on the paused clock.
    assert_eq!(start.elapsed(), Duration::from_millis(600));
}

#[tokio::test(start_paused = true)]
async fn a_provider_error_names_the_producer_and_the_queue() {
    let mut q = MockQueue::new();
    q.expect_length().times(1).returning(|| {
        Err(ProviderError::new(
            ProviderErrorKind::AccessDenied,
            "not authorized to sqs:GetQueueAttributes",
        ))
    });
    let registry = registry_with(q);
    let err = evaluate(&queue_producer(), &ProducerContext::new(now(), &registry))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ProducerError::Provider { error, .. } if error.kind == ProviderErrorKind::AccessDenied)
    );
    assert_eq!(err.producer(), "shop/orders");
    assert!(!err.is_retryable());
    let msg = err.to_string();
    assert!(msg.starts_with("MetricsProducer shop/orders: "), "{msg}");
    assert!(
        msg.contains("arn:aws:sqs:us-west-2:1234567890:orders"),
        "{msg}"
    );
    assert!(msg.contains("sqs:GetQueueAttributes"), "{msg}");

    let status = err.to_status(now());
    assert_eq!(status.last_error.as_deref(), Some(msg.as_str()));
    assert_eq!(status.conditions[0].status, ConditionStatus::False);
    assert_eq!(status.conditions[0].reason, "ProviderError");
}

#[tokio::test(start_paused = true)]
async fn an_unregistered_queue_type_is_a_provider_error() {
    let registry = ProviderRegistry::new();
    let p = producer(serde_json::json!({
        "metadata": {"name": "q"},
        "spec": {"queue": {"type": "RabbitMQ", "id": "jobs"}}
    }));
    let err = evaluate(&p, &ProducerContext::new(now(), &registry))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ProducerError::Provider { error, .. } if error.kind == ProviderErrorKind::UnsupportedType)
    );
    assert_eq!(err.producer(), "default/q");
    assert!(err.to_string().contains("RabbitMQ"), "{err}");
}

fn capacity_producer() -> MetricsProducer {
    producer(serde_json::json!({
        "metadata": {"name": "ml-capacity", "namespace": "karpenter"},
        "spec": {"reservedCapacity": {"nodeSelector": {"group": "ml"}}}
    }))
}

#[tokio::test]
async fn reserved_capacity_needs_a_snapshot() {
    let registry = ProviderRegistry::new();
    let err = evaluate(
        &capacity_producer(),
        &ProducerContext::new(now(), &registry),
    )
    .await
    .unwrap_err();
    assert_eq!(
        err,
        ProducerError::NoClusterSnapshot {
            producer: "karpenter/ml-capacity".to_string(),
            kind: "reservedCapacity",
        }
    );
    assert!(
        err.to_string().contains("ProducerContext::cluster"),
        "{err}"
    );
}

#[tokio::test(start_paused = true)]
async fn reserved_capacity_over_a_snapshot_fetched_through_the_spi() {
    let mut cluster = MockClusterState::new();
    let mut seq = mockall::Sequence::new();
    cluster
        .expect_snapshot()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|| {
            Err(ProviderError::new(
                ProviderErrorKind::Unavailable,
                "apiserver 503",
            ))
        });
    cluster
        .expect_snapshot()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|| {
            Ok(ClusterSnapshot {
                nodes: vec![Node {
                    name: "n1".into(),
                    labels: BTreeMap::from([("group".to_string(), "ml".to_string())]),
                    allocatable: Resources::new(4_000, 16 << 30, 110),
                    taints: vec![],
                    ready: true,
                    unschedulable: false,
                }],
                pods: vec![],
                daemon_sets: vec![],
            })
        });
    let cluster: Arc<dyn ClusterState> = Arc::new(cluster);
    let cluster = Retrying::new(
        cluster,
        no_jitter(),
        Arc::new(karpenter_core::clock::SystemClock),
        "cluster",
    );
    let snapshot = cluster.snapshot().await.unwrap();

    let registry = ProviderRegistry::new();
    let ctx = ProducerContext::new(now(), &registry).with_cluster(&snapshot);
    let out = evaluate(&capacity_producer(), &ctx).await.unwrap();
    assert_eq!(out.gauges.len(), 9);
    assert_eq!(
        value(&out.gauges, "karpenter_reserved_capacity_cpu_capacity"),
        4.0
    );
    assert_eq!(
        value(&out.gauges, "karpenter_reserved_capacity_cpu_utilization"),
        0.0
    );
    assert_eq!(out.status.values["cpu"], "0.00%, 0/4");
}

/// A caller that keeps reserved capacity summed (the controller's watch
/// caches) hands it in; a producer with another selector still sums the
/// snapshot.
#[tokio::test]
async fn reserved_capacity_summed_by_the_caller_is_used_for_its_selector() {
    use karpenter_core::producers::ReservedCapacity;
    let registry = ProviderRegistry::new();
    // The snapshot has no nodes: only the supplied sums can give capacity.
    let snapshot = ClusterSnapshot::default();
    let summed = [ReservedCapacity {
        reserved: Resources::new(3_000, 8 << 30, 30),
        capacity: Resources::new(4_000, 16 << 30, 110),
        nodes: 1,
        node_selector: BTreeMap::from([("group".to_string(), "ml".to_string())]),
    }];
    let ctx = ProducerContext::new(now(), &registry)
        .with_cluster(&snapshot)
        .with_reserved(&summed);
    let out = evaluate(&capacity_producer(), &ctx).await.unwrap();
    assert_eq!(
        value(&out.gauges, "karpenter_reserved_capacity_cpu_utilization"),
        0.75
    );
    assert_eq!(
        value(&out.gauges, "karpenter_reserved_capacity_pods_reserved"),
        30.0
    );

    let other = producer(serde_json::json!({
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"reservedCapacity": {"nodeSelector": {"group": "web"}}}
    }));
    let out = evaluate(&other, &ctx).await.unwrap();
    assert_eq!(
        value(&out.gauges, "karpenter_reserved_capacity_cpu_capacity"),
        0.0
    );
}

#[tokio::test]
async fn schedule_value_and_next_change() {
    let p = producer(serde_json::json!({
        "metadata": {"name": "office", "namespace": "karpenter"},
        "spec": {"scheduleSpec": {
            "timezone": "America/Los_Angeles",
            "defaultReplicas": 2,
            "behaviors": [{"replicas": 10,
                           "start": {"weekdays": "Mon,Tue,Wed,Thu,Fri", "hours": 9},
                           "end": {"weekdays": "Mon,Tue,Wed,Thu,Fri", "hours": 17}}]
        }}
    }));
    let registry = ProviderRegistry::new();
    // Monday 9 March 2026 10:00 PDT.
    let out = evaluate(&p, &ProducerContext::new(now(), &registry))
        .await
        .unwrap();
    assert_eq!(
        value(&out.gauges, "karpenter_scheduled_replicas_value"),
        10.0
    );
    assert_eq!(out.status.values["replicas"], "10");
    assert_eq!(
        out.status.next_schedule_change,
        Some(Utc.with_ymd_and_hms(2026, 3, 10, 0, 0, 0).unwrap())
    );
}

#[tokio::test]
async fn an_invalid_schedule_names_the_field() {
    let p = producer(serde_json::json!({
        "metadata": {"name": "office"},
        "spec": {"scheduleSpec": {"timezone": "Pacific Time", "defaultReplicas": 2}}
    }));
    let registry = ProviderRegistry::new();
    let err = evaluate(&p, &ProducerContext::new(now(), &registry))
        .await
        .unwrap_err();
    match &err {
        ProducerError::InvalidSpec {
            producer, field, ..
        } => {
            assert_eq!(producer, "default/office");
            assert_eq!(field, "spec.scheduleSpec.timezone");
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(err.to_string().contains("Pacific Time"), "{err}");
}

#[tokio::test]
async fn pending_capacity_needs_a_snapshot_and_the_joint_assignment() {
    let p = producer(serde_json::json!({
        "metadata": {"name": "pending", "namespace": "karpenter"},
        "spec": {"pendingCapacity": {"nodeSelector": {"group": "ml"}}}
    }));
    let registry = ProviderRegistry::new();
    let err = evaluate(&p, &ProducerContext::new(now(), &registry))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        ProducerError::NoClusterSnapshot {
            producer: "karpenter/pending".to_string(),
            kind: "pendingCapacity"
        }
    );
    assert!(
        err.to_string()
            .contains("spec.pendingCapacity needs a cluster snapshot"),
        "{err}"
    );

    // A snapshot but no assignment, or one computed without this producer.
    let snapshot = ClusterSnapshot::default();
    let ctx = ProducerContext::new(now(), &registry).with_cluster(&snapshot);
    let err = evaluate(&p, &ctx).await.unwrap_err();
    assert_eq!(
        err,
        ProducerError::NoPendingAssignment {
            producer: "karpenter/pending".to_string()
        }
    );
    assert!(err.is_retryable());
    assert_eq!(
        err.to_status(now()).conditions[0].reason,
        "NoPendingAssignment"
    );
    let others = PendingAssignment::compute(&snapshot, &[]);
    let err = evaluate(&p, &ctx.with_pending(&others)).await.unwrap_err();
    assert!(
        err.to_string().contains("PendingAssignment::gather"),
        "{err}"
    );
}

#[tokio::test]
async fn pending_capacity_reads_its_group_from_the_assignment() {
    let p = producer(serde_json::json!({
        "metadata": {"name": "pending", "namespace": "karpenter"},
        "spec": {"pendingCapacity": {"nodeSelector": {"group": "ml"}}}
    }));
    let registry = ProviderRegistry::new();
    let node = Node {
        name: "ml-1".to_string(),
        labels: BTreeMap::from([("group".to_string(), "ml".to_string())]),
        allocatable: Resources::new(4_000, 8 << 30, 110),
        taints: vec![],
        ready: true,
        unschedulable: false,
    };
    let pending = |name: &str| Pod {
        namespace: "default".to_string(),
        name: name.to_string(),
        requests: Resources::new(3_000, 1 << 30, 1),
        phase: PodPhase::Pending,
        unschedulable: true,
        ..Pod::default()
    };
    let snapshot = ClusterSnapshot {
        nodes: vec![node],
        pods: vec![pending("a"), pending("b")],
        daemon_sets: vec![],
    };
    let registry_ref = &registry;
    let assignment = PendingAssignment::gather(&snapshot, [&p], |_, _| None, registry_ref).await;
    let ctx = ProducerContext::new(now(), &registry)
        .with_cluster(&snapshot)
        .with_pending(&assignment);
    let out = evaluate(&p, &ctx).await.unwrap();
    let gauge = |name: &str| out.gauges.iter().find(|g| g.name == name).unwrap().value;
    // Two 3-cpu pods on 4-cpu nodes: 2 new nodes; 1 registered.
    assert_eq!(gauge("karpenter_pending_capacity_nodes"), 2.0);
    assert_eq!(gauge("karpenter_pending_capacity_pods"), 2.0);
    assert_eq!(gauge("karpenter_pending_capacity_desired_nodes"), 3.0);
    assert_eq!(out.status.values["template"], "node ml-1");
    assert_eq!(
        out.status.values["nodes"],
        "registered 1, upcoming unknown, new 2, desired 3"
    );
    // Without scalableNodeGroupRef, upcoming nodes are unknown: said so.
    let c = &out.status.conditions[0];
    assert_eq!(c.status, ConditionStatus::True);
    assert!(
        c.message
            .contains("set spec.pendingCapacity.scalableNodeGroupRef"),
        "{}",
        c.message
    );
    for g in &out.gauges {
        assert!(
            g.labels
                .contains(&("namespace".to_string(), "karpenter".to_string()))
        );
        assert!(
            g.labels
                .contains(&("name".to_string(), "pending".to_string()))
        );
    }
}

#[tokio::test]
async fn exactly_one_producer_kind_and_a_name_are_required() {
    let registry = ProviderRegistry::new();
    let ctx = ProducerContext::new(now(), &registry);

    let none = producer(serde_json::json!({"metadata": {"name": "x"}, "spec": {}}));
    let err = evaluate(&none, &ctx).await.unwrap_err();
    assert!(
        matches!(&err, ProducerError::InvalidSpec { field, .. } if field == "spec"),
        "{err}"
    );
    assert!(err.to_string().contains("set exactly one of"), "{err}");

    let two = producer(serde_json::json!({"metadata": {"name": "x"}, "spec": {
        "reservedCapacity": {}, "scheduleSpec": {"defaultReplicas": 1}}}));
    let err = evaluate(&two, &ctx).await.unwrap_err();
    assert!(
        err.to_string().contains("reservedCapacity, scheduleSpec"),
        "{err}"
    );

    let unnamed = producer(serde_json::json!({"spec": {"scheduleSpec": {"defaultReplicas": 1}}}));
    let err = evaluate(&unnamed, &ctx).await.unwrap_err();
    assert!(
        matches!(&err, ProducerError::InvalidSpec { field, .. } if field == "metadata.name"),
        "{err}"
    );
}

#[tokio::test]
async fn gauges_export_to_a_sink() {
    let p = producer(serde_json::json!({
        "metadata": {"name": "s", "namespace": "ns"},
        "spec": {"scheduleSpec": {"defaultReplicas": 3}}
    }));
    let registry = ProviderRegistry::new();
    let out = evaluate(&p, &ProducerContext::new(now(), &registry))
        .await
        .unwrap();
    let sink = Recorder::default();
    export(&sink, &out.gauges);
    let got = sink.0.into_inner().unwrap();
    assert_eq!(
        got,
        [(
            "karpenter_scheduled_replicas_value".to_string(),
            vec![
                ("name".to_string(), "s".to_string()),
                ("namespace".to_string(), "ns".to_string())
            ],
            3.0
        )]
    );
}

#[tokio::test]
async fn a_selector_matching_no_node_is_said_in_the_condition_and_gives_no_utilization() {
    let registry = ProviderRegistry::new();
    let snapshot = ClusterSnapshot::default();
    let ctx = ProducerContext::new(now(), &registry).with_cluster(&snapshot);
    let out = evaluate(&capacity_producer(), &ctx).await.unwrap();
    let calculable = &out.status.conditions[0];
    assert_eq!(calculable.reason, "ValuesComputed");
    assert!(
        calculable
            .message
            .contains("matches no ready, schedulable node"),
        "{}",
        calculable.message
    );
    assert!(
        out.gauges.iter().all(|g| !g.name.ends_with("_utilization")),
        "{:?}",
        out.gauges
    );
}
