//! Reaction latency of the controller, end to end on the fake provider: a
//! pod going unschedulable to the node group's `set_replicas` call.
//!
//! The whole controller runs (`Controller::run`: watches, caches, the three
//! loops) against the in-memory API server, with the default periods and
//! behavior and the pending-capacity recipe (`scaleUp.tolerance: 0`). Each
//! of 100 rounds writes one more unschedulable pod that needs a node of its
//! own and waits for the group's `set_replicas(n + 1)`. The clock starts
//! when the pod is written to the API server, a little before its watch
//! event reaches the controller, so the figures are an upper bound of the
//! watch-to-write latency.
//!
//! `cargo bench -p karpenter-benches --bench controller_latency`

#![allow(clippy::unwrap_used, clippy::expect_used)] // A harness: failures are loud.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use karpenter_core::api::v1alpha1::ScalableNodeGroupSpec;
use karpenter_core::async_trait;
use karpenter_core::provider::{
    CloudProvider, NodeGroup, NodeGroupReplicas, ProviderRegistry, ProviderResult, Stabilization,
};
use karpenter_fake::{FakeNodeGroup, SimClock};
use karpenter_k8s::controller::{Controller, ControllerConfig};
use karpenter_k8s::fake_api::{FakeApi, fixtures};
use karpenter_k8s::prometheus::Metrics;
use serde_json::json;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

const ROUNDS: usize = 100;
const GROUP: &str = "autoscaling.karpenter.sh/v1alpha1";

/// The fake group, recording when each `set_replicas` arrived.
struct Timed {
    inner: FakeNodeGroup,
    calls: Mutex<Vec<(i32, Instant)>>,
    called: Notify,
}

#[async_trait]
impl NodeGroup for Timed {
    async fn set_replicas(&self, replicas: i32) -> ProviderResult<()> {
        let at = Instant::now();
        let result = self.inner.set_replicas(replicas).await;
        self.calls.lock().unwrap().push((replicas, at));
        self.called.notify_waiters();
        result
    }
    async fn replicas(&self) -> ProviderResult<NodeGroupReplicas> {
        self.inner.replicas().await
    }
    async fn stabilized(&self) -> ProviderResult<Stabilization> {
        self.inner.stabilized().await
    }
}

struct Provider(Arc<Timed>);

impl CloudProvider for Provider {
    fn name(&self) -> String {
        "timed fake".into()
    }
    fn node_group_types(&self) -> Vec<String> {
        vec!["FakeNodeGroup".into()]
    }
    fn node_group(&self, _: &ScalableNodeGroupSpec) -> ProviderResult<Arc<dyn NodeGroup>> {
        Ok(self.0.clone())
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run());
}

async fn run() {
    let api = FakeApi::new();
    api.upsert(
        "nodes",
        fixtures::node(
            "web-1",
            "4",
            "16Gi",
            110,
            &[("group", "web")],
            true,
            Some("fake:///web/web-1"),
        ),
    )
    .unwrap();
    api.upsert(
        "pods",
        fixtures::pod(
            "default",
            "busy-1",
            Some("web-1"),
            &[("cpu", "3500m")],
            false,
        ),
    )
    .unwrap();
    api.upsert(
        "scalablenodegroups",
        json!({"apiVersion": GROUP, "kind": "ScalableNodeGroup",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"type": "FakeNodeGroup", "id": "web", "replicas": 1}}),
    )
    .unwrap();
    api.upsert("metricsproducers", json!({"apiVersion": GROUP, "kind": "MetricsProducer",
        "metadata": {"name": "web-pending", "namespace": "default"},
        "spec": {"pendingCapacity": {"nodeSelector": {"group": "web"}, "scalableNodeGroupRef": {"name": "web"}}}}))
        .unwrap();
    api.upsert("horizontalautoscalers", json!({"apiVersion": GROUP, "kind": "HorizontalAutoscaler",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"scaleTargetRef": {"kind": "ScalableNodeGroup", "name": "web"},
                 "minReplicas": 1, "maxReplicas": 1000,
                 "metrics": [{"prometheus": {"query": "karpenter_pending_capacity_desired_nodes{name=\"web-pending\"}",
                                             "target": {"type": "AverageValue", "value": 1}},
                              "role": "ScaleUpOnly"}],
                 "behavior": {"scaleUp": {"tolerance": 0}}}}))
        .unwrap();

    let clock = SimClock::new(chrono::Utc::now());
    let group = Arc::new(Timed {
        inner: FakeNodeGroup::builder("web").replicas(1).build(&clock),
        calls: Mutex::new(Vec::new()),
        called: Notify::new(),
    });
    let mut registry = ProviderRegistry::new();
    registry
        .register(Arc::new(Provider(group.clone())))
        .unwrap();
    let metrics = Arc::new(Metrics::new());
    let client = kube::Client::new(api.service(), "default");
    let controller = Arc::new(
        Controller::new(
            client,
            registry,
            metrics.clone(),
            None,
            ControllerConfig::default(),
        )
        .unwrap(),
    );
    let stop = CancellationToken::new();
    let task = {
        let (c, s) = (controller.clone(), stop.clone());
        tokio::spawn(async move { c.run(s).await })
    };
    let start = Instant::now();
    while metrics
        .gauge_value(
            "karpenter_pending_capacity_desired_nodes",
            &[("name", "web-pending"), ("namespace", "default")],
        )
        .is_none()
    {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the controller did not start"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    let mut latencies = Vec::with_capacity(ROUNDS);
    for i in 0..ROUNDS {
        let want = i32::try_from(i).unwrap() + 2;
        let called = group.called.notified();
        tokio::pin!(called);
        called.as_mut().enable();
        let written = Instant::now();
        api.upsert(
            "pods",
            fixtures::pod(
                "default",
                &format!("batch-{i}"),
                None,
                &[("cpu", "3")],
                true,
            ),
        )
        .unwrap();
        let deadline = written + Duration::from_secs(10);
        loop {
            if let Some(&(_, at)) = group.calls.lock().unwrap().iter().find(|(r, _)| *r == want) {
                latencies.push(at - written);
                break;
            }
            assert!(
                Instant::now() < deadline,
                "round {i}: no set_replicas({want}) within 10 s"
            );
            let _ = tokio::time::timeout(Duration::from_millis(50), called.as_mut()).await;
            called.set(group.called.notified());
            called.as_mut().enable();
        }
    }
    stop.cancel();
    let _ = task.await;

    latencies.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let mean = latencies.iter().map(|d| ms(*d)).sum::<f64>() / latencies.len() as f64;
    println!(
        "controller reaction latency, pod unschedulable -> set_replicas, {ROUNDS} events: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms, mean {:.2} ms",
        ms(percentile(&latencies, 50.0)),
        ms(percentile(&latencies, 99.0)),
        ms(latencies[latencies.len() - 1]),
        mean
    );
    assert!(
        percentile(&latencies, 99.0) < Duration::from_secs(1),
        "p99 is over the 1 s target"
    );
}
