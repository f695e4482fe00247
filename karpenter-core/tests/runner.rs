//! `runner::Runner`, the in-memory driver: one tick runs producers, node
//! groups, autoscalers and the node groups they changed, against mockall
//! mocks of the provider SPI.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on purpose.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use karpenter_core::api::v1alpha1::{
    ConditionStatus, HorizontalAutoscaler, MetricsProducer, ScalableNodeGroup,
};
use karpenter_core::cluster::{ClusterSnapshot, MockClusterState};
use karpenter_core::provider::{
    MetricSource, MockCloudProvider, MockMetricSource, MockNodeGroup, MockQueue, NodeGroup,
    NodeGroupReplicas, ProviderError, ProviderErrorKind, ProviderRegistry, Queue, Stabilization,
};
use karpenter_core::reconcile::ObjectKey;
use karpenter_core::retry::RetryPolicy;
use karpenter_core::runner::{Rescale, Runner};

mod common;
use common::Recorder;

fn t(seconds: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap() + chrono::Duration::seconds(seconds)
}

fn autoscaler(min: i32, max: i32, target_type: &str, target: f64) -> HorizontalAutoscaler {
    serde_json::from_value(serde_json::json!({
        "metadata": {"name": "ml-training", "namespace": "default"},
        "spec": {
            "scaleTargetRef": {"kind": "ScalableNodeGroup", "name": "ml-training"},
            "minReplicas": min, "maxReplicas": max,
            "metrics": [{"prometheus": {
                "query": "karpenter_queue_length{name=\"ml-training-queue\"}",
                "target": {"type": target_type, "value": target}}}]
        }
    }))
    .unwrap()
}

fn node_group(replicas: Option<i32>) -> ScalableNodeGroup {
    let mut spec = serde_json::json!({"type": "MockGroup", "id": "asg-1"});
    if let Some(r) = replicas {
        spec["replicas"] = r.into();
    }
    serde_json::from_value(serde_json::json!({
        "metadata": {"name": "ml-training", "namespace": "default"},
        "spec": spec
    }))
    .unwrap()
}

/// A node group mock reporting `desired`/`ready` and stable.
fn group(desired: i32, ready: i32) -> MockNodeGroup {
    let mut g = MockNodeGroup::new();
    g.expect_replicas()
        .returning(move || Ok(NodeGroupReplicas { desired, ready }));
    g.expect_stabilized().returning(|| {
        Ok(Stabilization {
            stabilized: true,
            message: String::new(),
        })
    });
    g
}

fn metric(value: Result<f64, ProviderError>) -> MockMetricSource {
    let mut m = MockMetricSource::new();
    m.expect_value().returning(move |_| value.clone());
    m
}

/// A provider serving node group type `MockGroup` (built `builds` times at
/// most), the `prometheus` source and queue type `MockQueue`.
fn registry(
    group: Option<MockNodeGroup>,
    source: Option<MockMetricSource>,
    queue: Option<MockQueue>,
) -> ProviderRegistry {
    let group: Option<Arc<dyn NodeGroup>> = group.map(|g| Arc::new(g) as Arc<dyn NodeGroup>);
    let source: Option<Arc<dyn MetricSource>> =
        source.map(|s| Arc::new(s) as Arc<dyn MetricSource>);
    let queue: Option<Arc<dyn Queue>> = queue.map(|q| Arc::new(q) as Arc<dyn Queue>);
    let mut cloud = MockCloudProvider::new();
    cloud.expect_name().return_const("mock".to_string());
    cloud
        .expect_node_group_types()
        .returning(|| vec!["MockGroup".to_string()]);
    cloud
        .expect_metric_source_types()
        .returning(|| vec!["prometheus".to_string()]);
    cloud
        .expect_queue_types()
        .returning(|| vec!["MockQueue".to_string()]);
    cloud.expect_validate_node_group().returning(|_| Ok(()));
    cloud.expect_validate_queue().returning(|_| Ok(()));
    if let Some(g) = group {
        cloud.expect_node_group().returning(move |_| Ok(g.clone()));
    }
    if let Some(s) = source {
        cloud
            .expect_metric_source()
            .returning(move |_| Ok(s.clone()));
    }
    if let Some(q) = queue {
        cloud.expect_queue().returning(move |_| Ok(q.clone()));
    }
    let mut registry = ProviderRegistry::new();
    registry.register(Arc::new(cloud)).unwrap();
    registry
}

fn fast_retry(attempts: u32) -> RetryPolicy {
    RetryPolicy {
        max_attempts: attempts,
        initial_backoff: Duration::ZERO,
        max_backoff: Duration::ZERO,
        jitter: 0.0,
        seed: Some(1),
        ..RetryPolicy::default()
    }
}

fn runner(registry: ProviderRegistry) -> Runner {
    Runner::new(registry, Arc::new(Recorder::default())).with_retry(fast_retry(2))
}

#[tokio::test]
async fn scales_from_a_metric_and_writes_the_node_group() {
    let mut g = group(0, 0);
    g.expect_set_replicas()
        .withf(|r| *r == 4)
        .times(1)
        .returning(|_| Ok(()));
    let mut r = runner(registry(Some(g), Some(metric(Ok(2400.0))), None));
    r.add_node_group(node_group(None)).unwrap();
    r.add_autoscaler(autoscaler(0, 1000, "AverageValue", 4.0))
        .unwrap();

    let report = r.tick(t(0)).await;

    assert!(report.is_ok(), "{:?}", report.errors);
    assert_eq!(
        report.rescales,
        vec![Rescale {
            node_group: ObjectKey::new("default", "ml-training"),
            from: 0,
            to: 4
        }]
    );
    let a = report.autoscaler("default", "ml-training").unwrap();
    assert_eq!(a.readings, vec![Ok(2400.0)]);
    assert_eq!(a.decision.as_ref().unwrap().desired_replicas, 4);

    // The intent is on the target's spec, the decision in the status.
    let sng = r.node_group("default", "ml-training").unwrap();
    assert_eq!(sng.spec.replicas, Some(4));
    assert_eq!(sng.status.as_ref().unwrap().replicas, Some(0));
    let status = r
        .autoscaler("default", "ml-training")
        .unwrap()
        .status
        .clone()
        .unwrap();
    assert_eq!((status.current_replicas, status.desired_replicas), (0, 4));
    assert_eq!(status.last_scale_time, Some(t(0)));
    assert_eq!(status.current_metrics[0].value, Some(2400.0));
    assert_eq!(status.current_metrics[0].recommendation, Some(600));
    let history = status.history.unwrap();
    assert!(!history.recommendations.is_empty());
    assert_eq!(history.scale_events.len(), 1);
    let able = status
        .conditions
        .iter()
        .find(|c| c.type_ == "AbleToScale")
        .unwrap();
    assert_eq!(able.status, ConditionStatus::True);
    assert_eq!(able.last_transition_time, Some(t(0)));
}

#[tokio::test]
async fn an_unreadable_metric_never_scales_down_and_is_reported() {
    let mut g = group(10, 10);
    g.expect_set_replicas().never();
    let unavailable = ProviderError::new(ProviderErrorKind::Unavailable, "prometheus is down");
    let mut r = runner(registry(Some(g), Some(metric(Err(unavailable))), None));
    r.add_node_group(node_group(Some(10))).unwrap();
    r.add_autoscaler(autoscaler(0, 100, "AverageValue", 4.0))
        .unwrap();

    let report = r.tick(t(0)).await;

    let a = report.autoscaler("default", "ml-training").unwrap();
    match &a.readings[0] {
        Err(e) => {
            assert_eq!(e.kind, ProviderErrorKind::Unavailable, "the kind is kept");
            assert!(e.message.contains("prometheus is down"), "{e}");
            assert!(e.message.contains("2 attempts"), "retried first: {e}");
        }
        other => panic!("expected an error, got {other:?}"),
    }
    assert_eq!(a.decision.as_ref().unwrap().desired_replicas, 10);
    assert!(report.rescales.is_empty());
    assert!(
        report
            .errors
            .iter()
            .any(|e| e.object_kind() == "HorizontalAutoscaler"
                && e.object().to_string() == "default/ml-training"
                && e.provider_kind() == Some(ProviderErrorKind::Unavailable)
                && e.is_retryable()),
        "{:?}",
        report.errors
    );
    let ha = r.autoscaler("default", "ml-training").unwrap();
    let status = ha.status.as_ref().unwrap();
    assert!(status.current_metrics[0].error.is_some());
    let active = status
        .conditions
        .iter()
        .find(|c| c.type_ == "ScalingActive")
        .unwrap();
    assert_eq!(active.status, ConditionStatus::False);
    assert_eq!(
        r.node_group("default", "ml-training")
            .unwrap()
            .spec
            .replicas,
        Some(10)
    );
}

#[tokio::test]
async fn a_failed_write_keeps_the_intent_and_the_next_tick_retries() {
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = calls.clone();
    let mut g = group(0, 0);
    // Throttled on both attempts of the first tick, accepted on the second.
    g.expect_set_replicas()
        .withf(|r| *r == 4)
        .times(3)
        .returning(move |_| {
            if seen.fetch_add(1, Ordering::SeqCst) < 2 {
                Err(ProviderError::new(
                    ProviderErrorKind::Throttled,
                    "Rate exceeded",
                ))
            } else {
                Ok(())
            }
        });
    let mut r = runner(registry(Some(g), Some(metric(Ok(16.0))), None));
    r.add_node_group(node_group(Some(0))).unwrap();
    r.add_autoscaler(autoscaler(0, 100, "AverageValue", 4.0))
        .unwrap();

    let first = r.tick(t(0)).await;
    assert!(first.rescales.is_empty());
    let err = first
        .errors
        .iter()
        .find(|e| e.object_kind() == "ScalableNodeGroup")
        .expect("the failed write is reported");
    assert_eq!(err.object().to_string(), "default/ml-training");
    assert_eq!(err.provider_kind(), Some(ProviderErrorKind::Throttled));
    assert!(err.to_string().contains("Rate exceeded"), "{err}");
    let sng = r.node_group("default", "ml-training").unwrap();
    assert_eq!(sng.spec.replicas, Some(4), "the intent is kept");
    let status = sng.status.as_ref().unwrap();
    assert!(
        status
            .last_error
            .as_deref()
            .unwrap()
            .contains("Rate exceeded")
    );
    let able = status
        .conditions
        .iter()
        .find(|c| c.type_ == "AbleToScale")
        .unwrap();
    assert_eq!(
        (able.status, &*able.reason),
        (ConditionStatus::False, "FailedUpdateScale")
    );

    let second = r.tick(t(15)).await;
    assert!(second.is_ok(), "{:?}", second.errors);
    assert_eq!(
        second.rescales,
        vec![Rescale {
            node_group: ObjectKey::new("default", "ml-training"),
            from: 0,
            to: 4
        }]
    );
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    let status = r
        .node_group("default", "ml-training")
        .unwrap()
        .status
        .clone()
        .unwrap();
    assert_eq!(status.last_error, None);
}

#[tokio::test]
async fn an_unset_spec_replicas_starts_from_the_node_groups_size() {
    let mut g = group(3, 3);
    g.expect_set_replicas().never();
    // 12 messages / 4 per node = 3 nodes: no change.
    let mut r = runner(registry(Some(g), Some(metric(Ok(12.0))), None));
    r.add_node_group(node_group(None)).unwrap();
    r.add_autoscaler(autoscaler(0, 100, "AverageValue", 4.0))
        .unwrap();

    let report = r.tick(t(0)).await;

    assert!(report.is_ok(), "{:?}", report.errors);
    let d = report.autoscalers[0].decision.as_ref().unwrap();
    assert_eq!((d.current_replicas, d.desired_replicas), (3, 3));
    // No change decided, so nothing is written: the spec stays unset and
    // the group's size alone.
    assert_eq!(
        r.node_group("default", "ml-training")
            .unwrap()
            .spec
            .replicas,
        None
    );
}

#[tokio::test]
async fn a_node_group_without_autoscaler_is_still_reconciled() {
    let mut g = group(2, 2);
    g.expect_set_replicas()
        .withf(|r| *r == 5)
        .times(1)
        .returning(|_| Ok(()));
    let mut r = runner(registry(Some(g), None, None));
    r.add_node_group(node_group(Some(5))).unwrap();
    let report = r.tick(t(0)).await;
    assert_eq!(report.rescales.len(), 1);
    assert!(report.autoscalers.is_empty());
}

#[tokio::test]
async fn a_missing_target_is_reported_with_the_fix() {
    let mut r = runner(registry(None, Some(metric(Ok(1.0))), None));
    r.add_autoscaler(autoscaler(0, 10, "AverageValue", 4.0))
        .unwrap();
    let report = r.tick(t(0)).await;
    let err = &report.errors[0];
    assert_eq!(err.object_kind(), "HorizontalAutoscaler");
    assert_eq!(err.provider_kind(), Some(ProviderErrorKind::NotFound));
    assert!(!err.is_retryable());
    let message = err.to_string();
    assert!(
        message.contains("does not exist") && message.contains("spec.scaleTargetRef.name"),
        "{message}"
    );
    assert_eq!(report.autoscalers[0].decision, None);
    let status = r
        .autoscaler("default", "ml-training")
        .unwrap()
        .status
        .clone()
        .unwrap();
    let able = &status.conditions[0];
    assert_eq!(
        (able.status, &*able.reason),
        (ConditionStatus::False, "FailedGetScale")
    );
}

#[tokio::test]
async fn producer_gauges_reach_the_sink_and_the_status() {
    // Reads: 12 messages, then 7, then a failure.
    let mut q = MockQueue::new();
    let mut lengths = vec![
        Err(ProviderError::new(
            ProviderErrorKind::NotFound,
            "queue gone",
        )),
        Ok(7),
        Ok(12),
    ];
    q.expect_length()
        .times(3)
        .returning(move || lengths.pop().unwrap());
    q.expect_oldest_message_age()
        .returning(|| Ok(Some(Duration::from_secs(90))));
    let sink = Arc::new(Recorder::default());
    let mut r = Runner::new(registry(None, None, Some(q)), sink.clone()).with_retry(fast_retry(1));
    let producer: MetricsProducer = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "ml-training-queue", "namespace": "default"},
        "spec": {"queue": {"type": "MockQueue", "id": "q-1"}}
    }))
    .unwrap();
    r.add_producer(producer).unwrap();

    let report = r.tick(t(0)).await;

    assert!(report.is_ok(), "{:?}", report.errors);
    let gauges = sink.0.lock().unwrap().clone();
    let labels = vec![
        ("name".to_string(), "ml-training-queue".to_string()),
        ("namespace".to_string(), "default".to_string()),
    ];
    assert!(gauges.contains(&("karpenter_queue_length".to_string(), labels.clone(), 12.0)));
    assert!(gauges.contains(&(
        "karpenter_queue_oldest_message_age_seconds".to_string(),
        labels,
        90.0
    )));
    assert_eq!(report.producers[0].gauges.len(), 2);
    let status = r
        .producer("default", "ml-training-queue")
        .unwrap()
        .status
        .clone()
        .unwrap();
    assert_eq!(status.values["length"], "12");
    assert_eq!(status.values["oldestMessageAge"], "90s");
    assert_eq!(status.last_error, None);
    assert_eq!(status.conditions[0].status, ConditionStatus::True);

    // The next reading replaces the values.
    assert!(r.tick(t(15)).await.is_ok());
    let status = r
        .producer("default", "ml-training-queue")
        .unwrap()
        .status
        .clone()
        .unwrap();
    assert_eq!(status.values["length"], "7");
    assert_eq!(status.values.len(), 2);

    // A failed read keeps the last good values beside the error.
    let report = r.tick(t(30)).await;
    assert_eq!(report.errors.len(), 1, "{:?}", report.errors);
    let status = r
        .producer("default", "ml-training-queue")
        .unwrap()
        .status
        .clone()
        .unwrap();
    assert_eq!(status.values["length"], "7");
    assert!(status.last_error.unwrap().contains("queue gone"));
    assert_eq!(status.conditions[0].status, ConditionStatus::False);
}

#[tokio::test]
async fn one_cluster_snapshot_serves_every_producer_of_a_tick() {
    let mut cluster = MockClusterState::new();
    cluster
        .expect_snapshot()
        .times(2) // one per tick, for two producers
        .returning(|| Ok(ClusterSnapshot::default()));
    let mut r = runner(registry(None, None, None)).with_cluster(Arc::new(cluster));
    for name in ["a", "b"] {
        let p: MetricsProducer = serde_json::from_value(serde_json::json!({
            "metadata": {"name": name},
            "spec": {"reservedCapacity": {"nodeSelector": {"group": name}}}
        }))
        .unwrap();
        r.add_producer(p).unwrap();
    }
    assert!(r.tick(t(0)).await.is_ok());
    let report = r.tick(t(15)).await;
    assert!(report.is_ok(), "{:?}", report.errors);
    assert_eq!(report.producers.len(), 2);
}

#[tokio::test]
async fn a_failed_snapshot_fails_only_the_producers_that_need_it() {
    let mut cluster = MockClusterState::new();
    cluster.expect_snapshot().returning(|| {
        Err(ProviderError::new(
            ProviderErrorKind::AccessDenied,
            "nodes is forbidden",
        ))
    });
    let mut r = runner(registry(None, None, None)).with_cluster(Arc::new(cluster));
    let rc: MetricsProducer = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "capacity"},
        "spec": {"reservedCapacity": {"nodeSelector": {}}}
    }))
    .unwrap();
    let schedule: MetricsProducer = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "hours"},
        "spec": {"scheduleSpec": {"defaultReplicas": 3}}
    }))
    .unwrap();
    r.add_producer(rc).unwrap();
    r.add_producer(schedule).unwrap();

    let report = r.tick(t(0)).await;

    assert_eq!(report.errors.len(), 1);
    assert_eq!(report.errors[0].object().to_string(), "default/capacity");
    assert_eq!(
        report.errors[0].provider_kind(),
        Some(ProviderErrorKind::AccessDenied)
    );
    assert!(report.errors[0].to_string().contains("nodes is forbidden"));
    assert!(!report.producers[1].gauges.is_empty());
    let status = r
        .producer("default", "capacity")
        .unwrap()
        .status
        .clone()
        .unwrap();
    assert!(status.last_error.unwrap().contains("cluster snapshot"));
}

#[tokio::test]
async fn invalid_objects_are_rejected_naming_object_and_field() {
    let mut r = runner(registry(None, None, None));
    let err = r
        .add_autoscaler(autoscaler(5, 2, "AverageValue", 4.0))
        .unwrap_err()
        .to_string();
    assert!(err.contains("HorizontalAutoscaler"), "{err}");
    assert!(err.contains("default/ml-training"), "{err}");
    assert!(err.contains("spec.maxReplicas"), "{err}");
    assert_eq!(r.autoscalers().len(), 0);
}

#[tokio::test]
async fn re_adding_an_autoscaler_without_status_keeps_its_history() {
    let mut g = group(0, 0);
    g.expect_set_replicas().returning(|_| Ok(()));
    let mut r = runner(registry(Some(g), Some(metric(Ok(2400.0))), None));
    r.add_node_group(node_group(None)).unwrap();
    r.add_autoscaler(autoscaler(0, 1000, "AverageValue", 4.0))
        .unwrap();
    r.tick(t(0)).await;
    let before = r.autoscalers().next().unwrap().status.clone();
    assert!(before.as_ref().unwrap().history.is_some());

    // `kubectl apply` of the same manifest: no status in it.
    r.add_autoscaler(autoscaler(0, 1000, "AverageValue", 4.0))
        .unwrap();
    assert_eq!(r.autoscalers().len(), 1);
    assert_eq!(r.autoscalers().next().unwrap().status, before);
    assert!(r.remove_autoscaler("default", "ml-training").is_some());
    assert_eq!(r.autoscalers().len(), 0);
}

#[tokio::test]
async fn removing_a_node_group_keeps_the_others_targets_right() {
    // Two node groups; the autoscaler targets the second. Removing the first
    // shifts the second's position: the autoscaler must still find it, and
    // then find nothing once it is removed too.
    let mut g = group(3, 3);
    g.expect_set_replicas().times(0);
    let mut r = runner(registry(Some(g), Some(metric(Ok(12.0))), None));
    let mut other = node_group(None);
    other.metadata.name = Some("other".to_string());
    r.add_node_group(other).unwrap();
    r.add_node_group(node_group(None)).unwrap();
    r.add_autoscaler(autoscaler(1, 10, "AverageValue", 4.0))
        .unwrap();

    assert!(r.remove_node_group("default", "other").is_some());
    let report = r.tick(t(0)).await;
    assert!(report.is_ok(), "{:?}", report.errors);
    assert_eq!(
        report.autoscalers[0].target.to_string(),
        "default/ml-training"
    );
    assert_eq!(
        report.autoscalers[0]
            .decision
            .as_ref()
            .map(|d| d.desired_replicas),
        Some(3)
    );

    assert!(r.remove_node_group("default", "ml-training").is_some());
    let report = r.tick(t(15)).await;
    assert!(
        report.errors[0].to_string().contains("does not exist"),
        "{:?}",
        report.errors
    );
}

/// A runner whose metric, queue and node group follow a script, and the
/// script's position (advance it between ticks): the metric reads
/// `metric_values[position]` (NaN: a failed read), the queue's length read
/// fails at positions 3 and 7, and the node group becomes what was last
/// written to it.
fn scripted_runner(metric_values: &'static [f64]) -> (Runner, Arc<AtomicUsize>) {
    let position = Arc::new(AtomicUsize::new(0));
    let mut m = MockMetricSource::new();
    let at = position.clone();
    m.expect_value().returning(move |_| {
        let v = metric_values[at.load(Ordering::SeqCst) % metric_values.len()];
        if v.is_nan() {
            Err(ProviderError::new(
                ProviderErrorKind::Other,
                "scrape failed",
            ))
        } else {
            Ok(v)
        }
    });
    let size = Arc::new(Mutex::new(1));
    let mut g = MockNodeGroup::new();
    let s = size.clone();
    g.expect_replicas().returning(move || {
        let n = *s.lock().unwrap();
        Ok(NodeGroupReplicas {
            desired: n,
            ready: n,
        })
    });
    let s = size.clone();
    g.expect_set_replicas().returning(move |n| {
        *s.lock().unwrap() = n;
        Ok(())
    });
    g.expect_stabilized().returning(|| {
        Ok(Stabilization {
            stabilized: true,
            message: String::new(),
        })
    });
    let mut q = MockQueue::new();
    let at = position.clone();
    q.expect_length().returning(move || {
        let i = at.load(Ordering::SeqCst);
        if i == 3 || i == 7 {
            Err(ProviderError::new(
                ProviderErrorKind::NotFound,
                "queue gone",
            ))
        } else {
            Ok(u64::try_from(i).unwrap() * 10)
        }
    });
    q.expect_oldest_message_age()
        .returning(|| Ok(Some(Duration::from_secs(30))));
    let mut r = Runner::new(
        registry(Some(g), Some(m), Some(q)),
        Arc::new(Recorder::default()),
    )
    .with_retry(fast_retry(1));
    r.add_node_group(node_group(None)).unwrap();
    r.add_autoscaler(autoscaler(0, 50, "AverageValue", 4.0))
        .unwrap();
    r.add_producer(
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "ml-training-queue", "namespace": "default"},
            "spec": {"queue": {"type": "MockQueue", "id": "q-1"}}
        }))
        .unwrap(),
    )
    .unwrap();
    (r, position)
}

#[tokio::test]
async fn concurrency_never_changes_results() {
    // Scale up, a failed metric read, scale down within and after the
    // window, failed queue reads: every kind of report entry changes.
    const VALUES: &[f64] = &[12.0, 40.0, f64::NAN, 100.0, 8.0, 0.0, 60.0, 4.0, 0.0, 0.0];
    let (one, one_at) = scripted_runner(VALUES);
    let (many, many_at) = scripted_runner(VALUES);
    let mut one = one.with_concurrency(1);
    let mut many = many.with_concurrency(8);
    let (mut rescales, mut errors) = (0, 0);
    for i in 0..40 {
        let now = t(i * 15);
        let expected = one.tick(now).await;
        assert_eq!(many.tick(now).await, expected, "tick {i}");
        rescales += expected.rescales.len();
        errors += expected.errors.len();
        one_at.fetch_add(1, Ordering::SeqCst);
        many_at.fetch_add(1, Ordering::SeqCst);
    }
    // The script did exercise rescales and failures.
    assert!(rescales >= 3, "{rescales} rescales");
    assert!(errors >= 4, "{errors} errors");
    // And the objects' states agree too.
    assert_eq!(
        one.autoscaler("default", "ml-training"),
        many.autoscaler("default", "ml-training")
    );
    assert_eq!(
        one.producer("default", "ml-training-queue"),
        many.producer("default", "ml-training-queue")
    );
}

#[tokio::test]
async fn a_target_created_after_its_autoscaler_is_found() {
    let mut g = group(2, 2);
    g.expect_set_replicas().times(1).returning(|_| Ok(()));
    let mut r = runner(registry(Some(g), Some(metric(Ok(12.0))), None));
    r.add_autoscaler(autoscaler(1, 10, "AverageValue", 4.0))
        .unwrap();
    let report = r.tick(t(0)).await;
    assert!(report.errors[0].to_string().contains("does not exist"));
    r.add_node_group(node_group(None)).unwrap();
    let report = r.tick(t(15)).await;
    assert!(report.is_ok(), "{:?}", report.errors);
    assert_eq!(
        report.autoscalers[0]
            .decision
            .as_ref()
            .map(|d| d.desired_replicas),
        Some(3)
    );
}

/// A node group whose calls take `delay` (on tokio's clock) and report a
/// stable size of 3.
struct Slow {
    delay: Duration,
}

#[async_trait::async_trait]
impl NodeGroup for Slow {
    async fn set_replicas(&self, _: i32) -> Result<(), ProviderError> {
        tokio::time::sleep(self.delay).await;
        Ok(())
    }

    async fn replicas(&self) -> Result<NodeGroupReplicas, ProviderError> {
        tokio::time::sleep(self.delay).await;
        Ok(NodeGroupReplicas {
            desired: 3,
            ready: 3,
        })
    }

    async fn stabilized(&self) -> Result<Stabilization, ProviderError> {
        Ok(Stabilization {
            stabilized: true,
            message: String::new(),
        })
    }
}

/// A runner over `groups` node groups, each answering after 10 s.
fn slow_runner(groups: usize, concurrency: usize) -> Runner {
    let slow: Arc<dyn NodeGroup> = Arc::new(Slow {
        delay: Duration::from_secs(10),
    });
    let mut cloud = MockCloudProvider::new();
    cloud.expect_name().return_const("slow".to_string());
    cloud
        .expect_node_group_types()
        .returning(|| vec!["MockGroup".to_string()]);
    cloud.expect_queue_types().returning(Vec::new);
    cloud.expect_metric_source_types().returning(Vec::new);
    cloud.expect_validate_node_group().returning(|_| Ok(()));
    cloud
        .expect_node_group()
        .returning(move |_| Ok(slow.clone()));
    let mut registry = ProviderRegistry::new();
    registry.calls_mut().timeout = None;
    registry.register(Arc::new(cloud)).unwrap();
    let mut r = runner(registry).with_concurrency(concurrency);
    for g in 0..groups {
        let mut ng = node_group(Some(3));
        ng.metadata.name = Some(format!("group-{g}"));
        r.add_node_group(ng).unwrap();
    }
    r
}

#[tokio::test(start_paused = true)]
async fn a_slow_provider_does_not_hold_up_the_others() {
    // Four node groups whose reads each take 10 s: one at a time that is
    // 40 s per tick, four at a time 10 s.
    for (concurrency, expected) in [(1, 40), (2, 20), (4, 10), (16, 10)] {
        let mut r = slow_runner(4, concurrency);
        let start = tokio::time::Instant::now();
        let report = r.tick(t(0)).await;
        assert!(report.is_ok(), "{:?}", report.errors);
        assert_eq!(
            start.elapsed(),
            Duration::from_secs(expected),
            "concurrency {concurrency}"
        );
        assert_eq!(r.node_groups().count(), 4);
        assert!(
            r.node_groups()
                .all(|n| n.status.as_ref().and_then(|s| s.replicas) == Some(3))
        );
    }
}

#[tokio::test]
async fn a_producer_pointed_at_another_queue_drops_the_old_handle() {
    let builds = Arc::new(AtomicUsize::new(0));
    let counted = builds.clone();
    let mut cloud = MockCloudProvider::new();
    cloud.expect_name().return_const("mock".to_string());
    cloud.expect_node_group_types().returning(Vec::new);
    cloud.expect_metric_source_types().returning(Vec::new);
    cloud
        .expect_queue_types()
        .returning(|| vec!["MockQueue".to_string()]);
    cloud.expect_validate_queue().returning(|_| Ok(()));
    cloud.expect_queue().returning(move |_| {
        counted.fetch_add(1, Ordering::SeqCst);
        let mut q = MockQueue::new();
        q.expect_length().returning(|| Ok(0));
        Ok(Arc::new(q) as Arc<dyn Queue>)
    });
    let mut registry = ProviderRegistry::new();
    registry.register(Arc::new(cloud)).unwrap();
    let mut r = runner(registry);
    let producer = |id: &str| -> MetricsProducer {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "jobs"},
            "spec": {"queue": {"type": "MockQueue", "id": id}}
        }))
        .unwrap()
    };
    // q-1 is built once and kept across ticks and a re-apply of the same spec.
    r.add_producer(producer("q-1")).unwrap();
    assert!(r.tick(t(0)).await.is_ok());
    r.add_producer(producer("q-1")).unwrap();
    assert!(r.tick(t(15)).await.is_ok());
    assert_eq!(builds.load(Ordering::SeqCst), 1);
    // Pointed at q-2 and back: q-1's handle was dropped, so it is built again.
    r.add_producer(producer("q-2")).unwrap();
    assert!(r.tick(t(30)).await.is_ok());
    r.add_producer(producer("q-1")).unwrap();
    assert!(r.tick(t(45)).await.is_ok());
    assert_eq!(builds.load(Ordering::SeqCst), 3);
}
