//! The three reconcile functions, each against a table of cases: read
//! failures, write failures, retryable and non-retryable errors, and the
//! conditions each leaves. Providers are mockall mocks behind a registry
//! with one attempt per call, so an error reaches the outcome as the
//! provider returned it.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on purpose.

use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use karpenter_core::api::v1alpha1::{
    ConditionStatus, HorizontalAutoscaler, MetricsProducer, ScalableNodeGroup,
};
use karpenter_core::clock::ManualClock;
use karpenter_core::producers::ProducerContext;
use karpenter_core::provider::{
    CallPolicy, MetricSource, MockCloudProvider, MockMetricSource, MockNodeGroup, MockQueue,
    MockScaleTarget, NodeGroup, NodeGroupReplicas, ProviderError, ProviderErrorKind,
    ProviderRegistry, Queue, Scale, Stabilization,
};
use karpenter_core::reconcile::{
    AutoscalerContext, NodeGroupContext, ReconcileError, reconcile_autoscaler,
    reconcile_node_group, reconcile_producer,
};
use karpenter_core::retry::RetryPolicy;

use ProviderErrorKind::{AccessDenied, NotFound, OutOfBounds, Throttled, Timeout, Unavailable};

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap()
}

fn err(kind: ProviderErrorKind) -> ProviderError {
    ProviderError::new(kind, format!("injected {kind:?}"))
}

/// A registry serving node group type `MockGroup`, queue type `MockQueue`
/// and the `prometheus` source, one attempt per call, no timeout.
fn registry(
    group: Option<MockNodeGroup>,
    queue: Option<MockQueue>,
    source: Option<MockMetricSource>,
) -> ProviderRegistry {
    let group: Option<Arc<dyn NodeGroup>> = group.map(|g| Arc::new(g) as _);
    let queue: Option<Arc<dyn Queue>> = queue.map(|q| Arc::new(q) as _);
    let source: Option<Arc<dyn MetricSource>> = source.map(|s| Arc::new(s) as _);
    let mut cloud = MockCloudProvider::new();
    cloud.expect_name().return_const("mock".to_string());
    cloud
        .expect_node_group_types()
        .returning(|| vec!["MockGroup".into()]);
    cloud
        .expect_queue_types()
        .returning(|| vec!["MockQueue".into()]);
    cloud
        .expect_metric_source_types()
        .returning(|| vec!["prometheus".into()]);
    cloud.expect_validate_node_group().returning(|_| Ok(()));
    cloud.expect_validate_queue().returning(|_| Ok(()));
    cloud.expect_node_group().returning(move |_| {
        group
            .clone()
            .ok_or_else(|| ProviderError::new(NotFound, "no such group"))
    });
    cloud.expect_queue().returning(move |_| {
        queue
            .clone()
            .ok_or_else(|| ProviderError::new(NotFound, "no such queue"))
    });
    cloud.expect_metric_source().returning(move |_| {
        source
            .clone()
            .ok_or_else(|| ProviderError::new(NotFound, "no source"))
    });
    let mut registry = ProviderRegistry::new().with_calls(CallPolicy {
        clock: Arc::new(ManualClock::new(now())),
        retry: RetryPolicy::no_retries(),
        timeout: None,
    });
    registry.register(Arc::new(cloud)).unwrap();
    registry
}

fn condition<'a>(
    conditions: &'a [karpenter_core::api::v1alpha1::Condition],
    type_: &str,
) -> Option<(ConditionStatus, &'a str)> {
    conditions
        .iter()
        .find(|c| c.type_ == type_)
        .map(|c| (c.status, &*c.reason))
}

fn kinds(errors: &[ReconcileError]) -> Vec<(Option<ProviderErrorKind>, bool)> {
    errors
        .iter()
        .map(|e| (e.provider_kind(), e.is_retryable()))
        .collect()
}

// ---- node group -----------------------------------------------------------

fn sng(replicas: Option<i32>) -> ScalableNodeGroup {
    let mut spec = serde_json::json!({"type": "MockGroup", "id": "asg-1"});
    if let Some(r) = replicas {
        spec["replicas"] = r.into();
    }
    serde_json::from_value(serde_json::json!({
        "metadata": {"name": "workers", "namespace": "default"}, "spec": spec
    }))
    .unwrap()
}

struct NodeGroupCase {
    name: &'static str,
    spec_replicas: Option<i32>,
    /// `replicas()`: desired and ready, or an error.
    observed: Result<(i32, i32), ProviderErrorKind>,
    /// `set_replicas()`, when it is expected to be called.
    set: Option<Result<(), ProviderErrorKind>>,
    stabilized: Result<bool, ProviderErrorKind>,
    able: (ConditionStatus, &'static str),
    stabilized_condition: Option<(ConditionStatus, &'static str)>,
    /// The write: the size written and whether it succeeded.
    write: Option<(i32, bool)>,
    errors: Vec<(Option<ProviderErrorKind>, bool)>,
    status_replicas: Option<i32>,
}

#[tokio::test]
async fn node_group_table() {
    use ConditionStatus::{False, True, Unknown};
    let cases = [
        NodeGroupCase {
            name: "in sync: read only",
            spec_replicas: Some(3),
            observed: Ok((3, 2)),
            set: None,
            stabilized: Ok(false),
            able: (True, "SucceededGetScale"),
            stabilized_condition: Some((False, "ScalingInProgress")),
            write: None,
            errors: vec![],
            status_replicas: Some(2),
        },
        NodeGroupCase {
            name: "unset spec leaves the size alone",
            spec_replicas: None,
            observed: Ok((4, 4)),
            set: None,
            stabilized: Ok(true),
            able: (True, "SucceededGetScale"),
            stabilized_condition: Some((True, "Stabilized")),
            write: None,
            errors: vec![],
            status_replicas: Some(4),
        },
        NodeGroupCase {
            name: "spec differs: written",
            spec_replicas: Some(5),
            observed: Ok((3, 3)),
            set: Some(Ok(())),
            stabilized: Ok(false),
            able: (True, "SucceededRescale"),
            stabilized_condition: Some((False, "ScalingInProgress")),
            write: Some((5, true)),
            errors: vec![],
            status_replicas: Some(3),
        },
        NodeGroupCase {
            name: "write throttled: retryable, intent kept for the next reconcile",
            spec_replicas: Some(5),
            observed: Ok((3, 3)),
            set: Some(Err(Throttled)),
            stabilized: Ok(true),
            able: (False, "FailedUpdateScale"),
            stabilized_condition: None,
            write: Some((5, false)),
            errors: vec![(Some(Throttled), true)],
            status_replicas: Some(3),
        },
        NodeGroupCase {
            name: "write out of the cloud's bounds: reported, not retryable",
            spec_replicas: Some(500),
            observed: Ok((3, 3)),
            set: Some(Err(OutOfBounds)),
            stabilized: Ok(true),
            able: (False, "FailedUpdateScale"),
            stabilized_condition: None,
            write: Some((500, false)),
            errors: vec![(Some(OutOfBounds), false)],
            status_replicas: Some(3),
        },
        NodeGroupCase {
            name: "read timed out: nothing written",
            spec_replicas: Some(5),
            observed: Err(Timeout),
            set: None,
            stabilized: Ok(true),
            able: (False, "FailedGetScale"),
            stabilized_condition: None,
            write: None,
            errors: vec![(Some(Timeout), true)],
            status_replicas: None,
        },
        NodeGroupCase {
            name: "read denied: not retryable",
            spec_replicas: Some(5),
            observed: Err(AccessDenied),
            set: None,
            stabilized: Ok(true),
            able: (False, "FailedGetScale"),
            stabilized_condition: None,
            write: None,
            errors: vec![(Some(AccessDenied), false)],
            status_replicas: None,
        },
        NodeGroupCase {
            name: "stabilization unreadable: Unknown, not an error",
            spec_replicas: Some(3),
            observed: Ok((3, 3)),
            set: None,
            stabilized: Err(Unavailable),
            able: (True, "SucceededGetScale"),
            stabilized_condition: Some((Unknown, "FailedGetStabilization")),
            write: None,
            errors: vec![],
            status_replicas: Some(3),
        },
    ];
    for case in cases {
        let mut g = MockNodeGroup::new();
        let observed = case.observed;
        g.expect_replicas().returning(move || {
            observed
                .map(|(desired, ready)| NodeGroupReplicas { desired, ready })
                .map_err(err)
        });
        match case.set {
            Some(result) => {
                g.expect_set_replicas()
                    .times(1)
                    .returning(move |_| result.map_err(err));
            }
            None => {
                g.expect_set_replicas().never();
            }
        }
        let stabilized = case.stabilized;
        g.expect_stabilized().returning(move || {
            stabilized
                .map(|stabilized| Stabilization {
                    stabilized,
                    message: if stabilized { "" } else { "2 nodes launching" }.into(),
                })
                .map_err(err)
        });
        let registry = registry(Some(g), None, None);
        let object = sng(case.spec_replicas);
        let out = reconcile_node_group(
            &object,
            &NodeGroupContext {
                now: now(),
                providers: &registry,
            },
        )
        .await;
        let name = case.name;
        let conditions = &out.status.conditions;
        assert_eq!(
            condition(conditions, "Active"),
            Some((ConditionStatus::True, "NodeGroupFound")),
            "{name}"
        );
        assert_eq!(
            condition(conditions, "AbleToScale"),
            Some(case.able),
            "{name}"
        );
        assert_eq!(
            condition(conditions, "Stabilized"),
            case.stabilized_condition,
            "{name}"
        );
        assert_eq!(
            out.write.as_ref().map(|w| (w.to, w.result.is_ok())),
            case.write,
            "{name}"
        );
        assert_eq!(kinds(&out.errors), case.errors, "{name}");
        assert_eq!(out.status.replicas, case.status_replicas, "{name}");
        assert_eq!(
            out.status.last_error.is_some(),
            !case.errors.is_empty(),
            "{name}"
        );
        for e in &out.errors {
            let message = e.to_string();
            assert!(
                message.starts_with("ScalableNodeGroup default/workers: "),
                "{name}: {message}"
            );
            assert!(message.contains("injected"), "{name}: {message}");
        }
        // Every transition time is the reconcile's instant (first time seen).
        assert!(
            conditions
                .iter()
                .all(|c| c.last_transition_time == Some(now())),
            "{name}"
        );
    }
}

#[tokio::test]
async fn an_unserved_node_group_is_inactive_and_not_retryable() {
    let registry = ProviderRegistry::new();
    let out = reconcile_node_group(
        &sng(Some(3)),
        &NodeGroupContext {
            now: now(),
            providers: &registry,
        },
    )
    .await;
    assert_eq!(
        condition(&out.status.conditions, "Active"),
        Some((ConditionStatus::False, "NodeGroupNotFound"))
    );
    assert_eq!(
        kinds(&out.errors),
        vec![(Some(ProviderErrorKind::UnsupportedType), false)]
    );
    assert!(out.observed.is_err());
}

#[tokio::test]
async fn a_node_group_condition_keeps_its_transition_time_while_its_status_holds() {
    let mut g = MockNodeGroup::new();
    g.expect_replicas().returning(|| {
        Ok(NodeGroupReplicas {
            desired: 3,
            ready: 3,
        })
    });
    g.expect_stabilized().returning(|| {
        Ok(Stabilization {
            stabilized: true,
            message: String::new(),
        })
    });
    let registry = registry(Some(g), None, None);
    let mut object = sng(Some(3));
    let first = reconcile_node_group(
        &object,
        &NodeGroupContext {
            now: now(),
            providers: &registry,
        },
    )
    .await;
    object.status = Some(first.status);
    let later = now() + chrono::Duration::seconds(60);
    let second = reconcile_node_group(
        &object,
        &NodeGroupContext {
            now: later,
            providers: &registry,
        },
    )
    .await;
    assert!(
        second
            .status
            .conditions
            .iter()
            .all(|c| c.last_transition_time == Some(now()))
    );
}

// ---- autoscaler -----------------------------------------------------------

fn ha() -> HorizontalAutoscaler {
    serde_json::from_value(serde_json::json!({
        "metadata": {"name": "workers", "namespace": "default", "generation": 4},
        "spec": {
            "scaleTargetRef": {"kind": "ScalableNodeGroup", "name": "workers"},
            "minReplicas": 1, "maxReplicas": 20,
            "metrics": [{"prometheus": {"query": "jobs", "target": {"type": "AverageValue", "value": 4}}}]
        }
    }))
    .unwrap()
}

struct AutoscalerCase {
    name: &'static str,
    scale: Result<(i32, i32), ProviderErrorKind>,
    metric: Result<f64, ProviderErrorKind>,
    /// `set_replicas()`, when it is expected to be called: the size and the
    /// result.
    set: Option<(i32, Result<(), ProviderErrorKind>)>,
    able: (ConditionStatus, &'static str),
    active: Option<(ConditionStatus, &'static str)>,
    desired: i32,
    scaled: bool,
    errors: Vec<(Option<ProviderErrorKind>, bool)>,
}

#[tokio::test]
async fn autoscaler_table() {
    use ConditionStatus::{False, True};
    let cases = [
        AutoscalerCase {
            name: "scale up written",
            scale: Ok((2, 2)),
            metric: Ok(24.0),
            set: Some((6, Ok(()))),
            able: (True, "SucceededRescale"),
            active: Some((True, "ValidMetricFound")),
            desired: 6,
            scaled: true,
            errors: vec![],
        },
        AutoscalerCase {
            name: "no change: nothing written",
            scale: Ok((3, 3)),
            metric: Ok(12.0),
            set: None,
            able: (True, "ReadyForNewScale"),
            active: Some((True, "ValidMetricFound")),
            desired: 3,
            scaled: false,
            errors: vec![],
        },
        AutoscalerCase {
            name: "write conflict: retryable, no scale time",
            scale: Ok((2, 2)),
            metric: Ok(24.0),
            set: Some((6, Err(Unavailable))),
            able: (False, "FailedUpdateScale"),
            active: Some((True, "ValidMetricFound")),
            desired: 2,
            scaled: false,
            errors: vec![(Some(Unavailable), true)],
        },
        AutoscalerCase {
            name: "write denied: not retryable",
            scale: Ok((2, 2)),
            metric: Ok(24.0),
            set: Some((6, Err(AccessDenied))),
            able: (False, "FailedUpdateScale"),
            active: Some((True, "ValidMetricFound")),
            desired: 2,
            scaled: false,
            errors: vec![(Some(AccessDenied), false)],
        },
        AutoscalerCase {
            name: "target unreadable: nothing else happens",
            scale: Err(NotFound),
            metric: Ok(24.0),
            set: None,
            able: (False, "FailedGetScale"),
            active: None,
            desired: 0,
            scaled: false,
            errors: vec![(Some(NotFound), false)],
        },
        AutoscalerCase {
            name: "metric throttled: no change, retryable",
            scale: Ok((5, 5)),
            metric: Err(Throttled),
            set: None,
            able: (True, "SucceededGetScale"),
            active: Some((False, "FailedGetPrometheusMetric")),
            desired: 5,
            scaled: false,
            errors: vec![(Some(Throttled), true)],
        },
        AutoscalerCase {
            name: "metric NaN: unusable, no provider error",
            scale: Ok((5, 5)),
            metric: Ok(f64::NAN),
            set: None,
            able: (True, "SucceededGetScale"),
            active: Some((False, "FailedGetPrometheusMetric")),
            desired: 5,
            scaled: false,
            errors: vec![(None, false)],
        },
    ];
    for case in cases {
        let mut target = MockScaleTarget::new();
        let scale = case.scale;
        target.expect_scale().returning(move || {
            scale
                .map(|(spec_replicas, status_replicas)| Scale {
                    spec_replicas,
                    status_replicas,
                    selector: None,
                })
                .map_err(err)
        });
        match case.set {
            Some((size, result)) => {
                target
                    .expect_set_replicas()
                    .withf(move |r| *r == size)
                    .times(1)
                    .returning(move |_| result.map_err(err));
            }
            None => {
                target.expect_set_replicas().never();
            }
        }
        let mut source = MockMetricSource::new();
        let metric = case.metric;
        source
            .expect_value()
            .returning(move |_| metric.map_err(err));
        let registry = registry(None, None, Some(source));
        let object = ha();
        let out = reconcile_autoscaler(
            &object,
            &AutoscalerContext {
                now: now(),
                target: &target,
                providers: &registry,
            },
        )
        .await;
        let name = case.name;
        let conditions = &out.status.conditions;
        assert_eq!(
            condition(conditions, "AbleToScale"),
            Some(case.able),
            "{name}"
        );
        assert_eq!(
            condition(conditions, "ScalingActive"),
            case.active,
            "{name}"
        );
        assert_eq!(out.status.desired_replicas, case.desired, "{name}");
        assert_eq!(out.status.last_scale_time, case.scaled.then(now), "{name}");
        assert_eq!(kinds(&out.errors), case.errors, "{name}");
        if case.scale.is_ok() {
            assert_eq!(out.status.observed_generation, Some(4), "{name}");
            let history = out.status.history.as_ref().unwrap();
            // A scale event only for a write that happened.
            assert_eq!(
                history.scale_events.len(),
                usize::from(case.scaled),
                "{name}"
            );
            assert_eq!(out.status.current_metrics.len(), 1, "{name}");
        } else {
            assert!(out.decision.is_none(), "{name}");
            assert!(out.status.history.is_none(), "{name}");
        }
        for e in &out.errors {
            assert!(
                e.to_string()
                    .starts_with("HorizontalAutoscaler default/workers: "),
                "{name}: {e}"
            );
        }
    }
}

// ---- producer -------------------------------------------------------------

fn queue_producer() -> MetricsProducer {
    serde_json::from_value(serde_json::json!({
        "metadata": {"name": "jobs", "namespace": "default"},
        "spec": {"queue": {"type": "MockQueue", "id": "q-1"}}
    }))
    .unwrap()
}

/// Name, the queue's length read, its oldest-age read, the `Calculable`
/// condition, and the error's kind and whether it is retryable.
type ProducerCase = (
    &'static str,
    Result<u64, ProviderErrorKind>,
    Result<u64, ProviderErrorKind>,
    (ConditionStatus, &'static str),
    Option<(ProviderErrorKind, bool)>,
);

#[tokio::test]
async fn producer_table() {
    use ConditionStatus::{False, True};
    let cases: [ProducerCase; 4] = [
        ("read", Ok(12), Ok(30), (True, "ValuesComputed"), None),
        (
            "age unreadable: the length still counts",
            Ok(12),
            Err(Timeout),
            (True, "PartiallyComputed"),
            Some((Timeout, true)),
        ),
        (
            "throttled",
            Err(Throttled),
            Ok(30),
            (False, "ProviderError"),
            Some((Throttled, true)),
        ),
        (
            "denied",
            Err(AccessDenied),
            Ok(30),
            (False, "ProviderError"),
            Some((AccessDenied, false)),
        ),
    ];
    for (name, length, age, calculable, error) in cases {
        let mut q = MockQueue::new();
        q.expect_length().returning(move || length.map_err(err));
        q.expect_oldest_message_age().returning(move || {
            age.map(|s| Some(std::time::Duration::from_secs(s)))
                .map_err(err)
        });
        let registry = registry(None, Some(q), None);
        let mut object = queue_producer();
        // A previous good reading, kept on failure.
        object.status = Some(karpenter_core::api::v1alpha1::MetricsProducerStatus {
            values: [("length".to_string(), "7".to_string())].into(),
            ..Default::default()
        });
        let out = reconcile_producer(&object, &ProducerContext::new(now(), &registry)).await;
        assert_eq!(
            condition(&out.status.conditions, "Calculable"),
            Some(calculable),
            "{name}"
        );
        assert_eq!(
            out.error
                .as_ref()
                .and_then(|e| e.provider_kind().map(|k| (k, e.is_retryable()))),
            error,
            "{name}"
        );
        match (length, age) {
            (Ok(n), Ok(_)) => {
                assert_eq!(out.status.values["length"], n.to_string(), "{name}");
                assert_eq!(out.status.values["oldestMessageAge"], "30s", "{name}");
                assert_eq!(out.gauges.len(), 2, "{name}");
                assert_eq!(out.status.last_error, None, "{name}");
            }
            (Ok(n), Err(_)) => {
                assert_eq!(out.status.values["length"], n.to_string(), "{name}");
                assert!(
                    out.status.values["oldestMessageAge"].starts_with("unreadable: "),
                    "{name}"
                );
                assert_eq!(out.gauges.len(), 1, "{name}: the length gauge only");
                let e = out.error.unwrap().to_string();
                assert!(e.contains("oldest message age"), "{name}: {e}");
                assert_eq!(out.status.last_error, Some(e), "{name}");
            }
            (Err(_), _) => {
                assert_eq!(
                    out.status.values["length"], "7",
                    "{name}: last good value kept"
                );
                assert!(out.gauges.is_empty(), "{name}: no stale gauge");
                let e = out.error.unwrap().to_string();
                assert!(
                    e.starts_with("MetricsProducer default/jobs: "),
                    "{name}: {e}"
                );
                assert_eq!(out.status.last_error, Some(e), "{name}");
            }
        }
    }
}

#[tokio::test]
async fn a_failed_cluster_snapshot_names_its_cause_in_the_producer_status() {
    let registry = ProviderRegistry::new();
    let producer: MetricsProducer = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "capacity"},
        "spec": {"reservedCapacity": {"nodeSelector": {"group": "a"}}}
    }))
    .unwrap();
    let failure = ProviderError::new(Unavailable, "the API server is unreachable");
    let ctx = ProducerContext::new(now(), &registry).with_cluster_error(&failure);
    let out = reconcile_producer(&producer, &ctx).await;
    assert_eq!(
        condition(&out.status.conditions, "Calculable"),
        Some((ConditionStatus::False, "ClusterSnapshotFailed"))
    );
    let e = out.error.unwrap();
    assert_eq!(e.provider_kind(), Some(Unavailable));
    assert!(e.is_retryable());
    assert!(e.to_string().contains("API server is unreachable"), "{e}");
}
