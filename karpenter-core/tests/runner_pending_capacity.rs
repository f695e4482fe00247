//! `pendingCapacity` producers in the Runner: the assignment is computed once
//! per tick from every producer, the ScalableNodeGroup's provider gives the
//! desired size and the template, gauges reach the sink, and a producer with
//! a bad reference does not stop the others.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on purpose.

use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use karpenter_core::api::v1alpha1::{ConditionStatus, MetricsProducer, ScalableNodeGroup};
use karpenter_core::cluster::{
    ClusterSnapshot, DaemonSet, MockClusterState, Pod, PodPhase, Resources, Toleration,
};
use karpenter_core::provider::{
    MockCloudProvider, MockNodeGroup, NodeGroup, NodeGroupReplicas, NodeTemplate, ProviderRegistry,
    Stabilization,
};
use karpenter_core::retry::RetryPolicy;
use karpenter_core::runner::Runner;

mod common;
use common::Recorder;

const GIB: i64 = 1 << 30;

fn t(seconds: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap() + chrono::Duration::seconds(seconds)
}

fn producer(json: serde_json::Value) -> MetricsProducer {
    serde_json::from_value(json).unwrap()
}

fn registry(group: MockNodeGroup) -> ProviderRegistry {
    let group: Arc<dyn NodeGroup> = Arc::new(group);
    let mut cloud = MockCloudProvider::new();
    cloud.expect_name().return_const("mock".to_string());
    cloud
        .expect_node_group_types()
        .returning(|| vec!["MockGroup".to_string()]);
    cloud.expect_metric_source_types().returning(Vec::new);
    cloud.expect_queue_types().returning(Vec::new);
    cloud.expect_validate_node_group().returning(|_| Ok(()));
    cloud
        .expect_node_group()
        .returning(move |_| Ok(group.clone()));
    let mut registry = ProviderRegistry::new();
    registry.register(Arc::new(cloud)).unwrap();
    registry
}

fn pending(name: &str) -> Pod {
    Pod {
        namespace: "ml".to_string(),
        name: name.to_string(),
        requests: Resources::new(2_000, 4 * GIB, 1),
        phase: PodPhase::Pending,
        unschedulable: true,
        ..Pod::default()
    }
}

#[tokio::test]
async fn the_runner_assigns_once_per_tick_and_exports_the_gauges() {
    // No node yet: the provider's template (8 cpu) minus a DaemonSet of
    // 500m leaves 7.5 cpu. Desired 1, registered 0: one upcoming node takes
    // three 2-cpu pods; the other two need one new node.
    let snapshot = ClusterSnapshot {
        nodes: vec![],
        pods: (0..5).map(|i| pending(&format!("train-{i}"))).collect(),
        daemon_sets: vec![DaemonSet {
            namespace: "kube-system".to_string(),
            name: "kube-proxy".to_string(),
            requests: Resources::new(500, GIB, 1),
            tolerations: vec![Toleration {
                key: None,
                exists: true,
                value: String::new(),
                effect: None,
            }],
            ..DaemonSet::default()
        }],
    };
    let mut cluster = MockClusterState::new();
    cluster
        .expect_snapshot()
        .times(1)
        .returning(move || Ok(snapshot.clone()));
    let mut group = MockNodeGroup::new();
    group.expect_replicas().returning(|| {
        Ok(NodeGroupReplicas {
            desired: 1,
            ready: 0,
        })
    });
    group.expect_stabilized().returning(|| {
        Ok(Stabilization {
            stabilized: false,
            message: "1 node launching".to_string(),
        })
    });
    group.expect_template().times(1).returning(|| {
        Ok(Some(
            NodeTemplate::new(Resources::new(8_000, 32 * GIB, 110)).label("accelerator", "a10"),
        ))
    });

    let sink = Arc::new(Recorder::default());
    let mut r = Runner::new(registry(group), sink.clone())
        .with_retry(RetryPolicy {
            max_attempts: 1,
            ..RetryPolicy::default()
        })
        .with_cluster(Arc::new(cluster));
    let sng: ScalableNodeGroup = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "gpu", "namespace": "ml"},
        "spec": {"type": "MockGroup", "id": "gpu-asg"}
    }))
    .unwrap();
    r.add_node_group(sng).unwrap();
    r.add_producer(producer(serde_json::json!({
        "metadata": {"name": "gpu-pending", "namespace": "ml"},
        "spec": {"pendingCapacity": {
            "nodeSelector": {"group": "gpu"},
            "scalableNodeGroupRef": {"name": "gpu"}
        }}
    })))
    .unwrap();
    // A reference to a group that does not exist, and a selector that
    // matches nothing: reported in its status, not an error.
    r.add_producer(producer(serde_json::json!({
        "metadata": {"name": "typo-pending", "namespace": "ml"},
        "spec": {"pendingCapacity": {
            "nodeSelector": {"group": "gpuu"},
            "scalableNodeGroupRef": {"name": "gpuu"}
        }}
    })))
    .unwrap();
    r.add_producer(producer(serde_json::json!({
        "metadata": {"name": "hours", "namespace": "ml"},
        "spec": {"scheduleSpec": {"defaultReplicas": 3}}
    })))
    .unwrap();

    let report = r.tick(t(0)).await;
    assert!(report.is_ok(), "{:?}", report.errors);

    let recorded = sink.0.lock().unwrap().clone();
    let gauge = |producer: &str, name: &str| -> f64 {
        recorded
            .iter()
            .find(|(n, labels, _)| {
                n == name && labels.contains(&("name".to_string(), producer.to_string()))
            })
            .map(|(_, _, v)| *v)
            .unwrap()
    };
    assert_eq!(gauge("gpu-pending", "karpenter_pending_capacity_pods"), 5.0);
    assert_eq!(
        gauge("gpu-pending", "karpenter_pending_capacity_nodes"),
        1.0
    );
    assert_eq!(
        gauge("gpu-pending", "karpenter_pending_capacity_desired_nodes"),
        2.0
    );
    assert_eq!(
        gauge("typo-pending", "karpenter_pending_capacity_pods"),
        0.0
    );
    assert_eq!(gauge("hours", "karpenter_scheduled_replicas_value"), 3.0);

    let status = |name: &str| r.producer("ml", name).unwrap().status.clone().unwrap();
    let gpu = status("gpu-pending");
    assert_eq!(gpu.values["template"], "provider (ScalableNodeGroup gpu)");
    assert_eq!(gpu.values["pods"], "5 (3 on upcoming nodes)");
    assert_eq!(
        gpu.values["nodes"],
        "registered 0, upcoming 1, new 1, desired 2"
    );
    assert!(gpu.values["allocatable"].starts_with("cpu 7500m, memory 31Gi, pods 109 per new node"));
    assert_eq!(gpu.conditions[0].status, ConditionStatus::True);

    let typo = status("typo-pending");
    let message = &typo.values["message"];
    assert!(
        message.contains("nodeSelector {group: gpuu} matches no node"),
        "{message}"
    );
    assert!(
        message
            .contains("names ScalableNodeGroup \"gpuu\", which does not exist in namespace \"ml\""),
        "{message}"
    );
    assert!(typo.conditions[0].message.contains("does not exist"));
}
