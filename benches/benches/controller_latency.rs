//! Reaction latency of the controller, end to end on the fake provider: a
//! pod going unschedulable to the node group's `set_replicas` call.
//!
//! The whole controller runs (`Controller::run`: watches, caches, the three
//! loops) against the in-memory API server, with the default periods and
//! behavior and the pending-capacity recipe (`scaleUp.tolerance: 0`), over
//! 100 node groups, each with its full node, its pendingCapacity producer and
//! its autoscaler. Round `i` writes one unschedulable pod that only group `i`
//! can take (a nodeSelector) and waits for that group's `set_replicas(2)`:
//! each event is its autoscaler's first scale-up, which the default
//! behavior allows at once (a second one within 15 s would wait for the
//! scale-up rate limit, as the HPA's does). The clock starts when the pod is
//! written to the API server, a little before its watch event reaches the
//! controller, so the figures are an upper bound of the watch-to-write
//! latency.
//!
//! `cargo bench -p karpenter-benches --bench controller_latency`

#![allow(clippy::unwrap_used, clippy::expect_used)] // A harness: failures are loud.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use karpenter_core::api::v1alpha1::ScalableNodeGroupSpec;
use karpenter_core::async_trait;
use karpenter_core::provider::{
    CloudProvider, NodeGroup, NodeGroupReplicas, ProviderError, ProviderErrorKind,
    ProviderRegistry, ProviderResult, Stabilization,
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

struct Provider(HashMap<String, Arc<Timed>>);

impl CloudProvider for Provider {
    fn name(&self) -> String {
        "timed fake".into()
    }
    fn node_group_types(&self) -> Vec<String> {
        vec!["FakeNodeGroup".into()]
    }
    fn node_group(&self, spec: &ScalableNodeGroupSpec) -> ProviderResult<Arc<dyn NodeGroup>> {
        match self.0.get(&spec.id) {
            Some(g) => Ok(g.clone()),
            None => Err(ProviderError::new(
                ProviderErrorKind::NotFound,
                format!("no group {}", spec.id),
            )),
        }
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
    let clock = SimClock::new(chrono::Utc::now());
    let mut groups = HashMap::new();
    for g in 0..ROUNDS {
        let name = format!("g-{g}");
        api.upsert(
            "nodes",
            fixtures::node(
                &format!("{name}-1"),
                "4",
                "16Gi",
                110,
                &[("group", &name)],
                true,
                Some(&format!("fake:///{name}/1")),
            ),
        )
        .unwrap();
        api.upsert(
            "pods",
            fixtures::pod(
                "default",
                &format!("busy-{g}"),
                Some(&format!("{name}-1")),
                &[("cpu", "3500m")],
                false,
            ),
        )
        .unwrap();
        api.upsert(
            "scalablenodegroups",
            json!({"apiVersion": GROUP, "kind": "ScalableNodeGroup",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"type": "FakeNodeGroup", "id": name, "replicas": 1}}),
        )
        .unwrap();
        api.upsert("metricsproducers", json!({"apiVersion": GROUP, "kind": "MetricsProducer",
            "metadata": {"name": format!("{name}-pending"), "namespace": "default"},
            "spec": {"pendingCapacity": {"nodeSelector": {"group": name}, "scalableNodeGroupRef": {"name": name}}}}))
            .unwrap();
        api.upsert("horizontalautoscalers", json!({"apiVersion": GROUP, "kind": "HorizontalAutoscaler",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"scaleTargetRef": {"kind": "ScalableNodeGroup", "name": name},
                     "minReplicas": 1, "maxReplicas": 10,
                     "metrics": [{"prometheus": {"query": format!("karpenter_pending_capacity_desired_nodes{{name=\"{name}-pending\"}}"),
                                                 "target": {"type": "AverageValue", "value": 1}},
                                  "role": "ScaleUpOnly"}],
                     "behavior": {"scaleUp": {"tolerance": 0}}}}))
            .unwrap();
        groups.insert(
            name.clone(),
            Arc::new(Timed {
                inner: FakeNodeGroup::builder(&name).replicas(1).build(&clock),
                calls: Mutex::new(Vec::new()),
                called: Notify::new(),
            }),
        );
    }
    let mut registry = ProviderRegistry::new();
    registry
        .register(Arc::new(Provider(groups.clone())))
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
    let last = format!("g-{}-pending", ROUNDS - 1);
    while metrics
        .gauge_value(
            "karpenter_pending_capacity_desired_nodes",
            &[("name", &last), ("namespace", "default")],
        )
        .is_none()
    {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the controller did not start"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Let the first passes (every autoscaler deciding once) finish.
    tokio::time::sleep(Duration::from_secs(2)).await;

    let mut latencies = Vec::with_capacity(ROUNDS);
    for i in 0..ROUNDS {
        let name = format!("g-{i}");
        let group = &groups[&name];
        let mut pod = fixtures::pod(
            "default",
            &format!("batch-{i}"),
            None,
            &[("cpu", "3")],
            true,
        );
        pod["spec"]["nodeSelector"] = json!({"group": name});
        let written = Instant::now();
        api.upsert("pods", pod).unwrap();
        let deadline = written + Duration::from_secs(10);
        loop {
            let called = group.called.notified();
            tokio::pin!(called);
            called.as_mut().enable();
            if let Some(&(_, at)) = group.calls.lock().unwrap().iter().find(|(r, _)| *r == 2) {
                latencies.push(at - written);
                break;
            }
            assert!(
                Instant::now() < deadline,
                "round {i}: no set_replicas(2) on {name} within 10 s"
            );
            let _ = tokio::time::timeout(Duration::from_millis(50), called).await;
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
