//! CPU time of one full sync period of the controller: 1,000
//! MetricsProducers, 1,000 HorizontalAutoscalers and 1,000
//! ScalableNodeGroups on the fake provider, against the in-memory API
//! server served over HTTP on 127.0.0.1 from other threads.
//!
//! Method: the controller runs on a current-thread tokio runtime, so all
//! of its work (reconciles, the kube client's request building and response
//! parsing, hyper) is on this thread; the API server runs on its own
//! runtime's threads, so its cost is excluded. CPU time is this thread's
//! (`/proc/thread-self/schedstat`). After the watches sync and the first
//! passes have run, one sync period's work is measured: every producer,
//! then every autoscaler, then every node group, 16 at a time, once the
//! first passes and the writes they set off have settled (half a second
//! without a request); twice: the first period after the first passes'
//! scale-ups (two thirds of the groups were resized, so their node group
//! conditions change once more), then a steady one. The API requests of
//! each period are counted by the server.
//!
//! `cargo bench -p karpenter-benches --bench controller_sync`

#![allow(clippy::unwrap_used, clippy::expect_used)] // A harness: failures are loud.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use karpenter_core::provider::ProviderRegistry;
use karpenter_core::reconcile::ObjectKey;
use karpenter_fake::{FakeMetricStore, FakeNodeGroup, FakeProvider, SimClock};
use karpenter_k8s::controller::{Controller, ControllerConfig, NodeGroupsAndQueues};
use karpenter_k8s::fake_api::FakeApi;
use karpenter_k8s::prometheus::Metrics;
use serde_json::json;
use tokio_util::sync::CancellationToken;

const OBJECTS: usize = 1_000;
const GROUP: &str = "autoscaling.karpenter.sh/v1alpha1";

/// CPU time this thread has used.
fn thread_cpu() -> Duration {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap();
    let ns: u64 = text.split_whitespace().next().unwrap().parse().unwrap();
    Duration::from_nanos(ns)
}

fn fill(api: &FakeApi) {
    for i in 0..OBJECTS {
        api.upsert(
            "scalablenodegroups",
            json!({"apiVersion": GROUP, "kind": "ScalableNodeGroup",
            "metadata": {"name": format!("g-{i}"), "namespace": "default"},
            "spec": {"type": "FakeNodeGroup", "id": format!("g-{i}"), "replicas": 2}}),
        )
        .unwrap();
        api.upsert(
            "metricsproducers",
            json!({"apiVersion": GROUP, "kind": "MetricsProducer",
            "metadata": {"name": format!("p-{i}"), "namespace": "default"},
            "spec": {"scheduleSpec": {"timezone": "UTC", "defaultReplicas": 2 + i % 3}}}),
        )
        .unwrap();
        api.upsert("horizontalautoscalers", json!({"apiVersion": GROUP, "kind": "HorizontalAutoscaler",
            "metadata": {"name": format!("a-{i}"), "namespace": "default"},
            "spec": {"scaleTargetRef": {"kind": "ScalableNodeGroup", "name": format!("g-{i}")},
                     "minReplicas": 1, "maxReplicas": 10,
                     "metrics": [{"prometheus": {"query": format!("karpenter_scheduled_replicas_value{{name=\"p-{i}\"}}"),
                                                 "target": {"type": "AverageValue", "value": 1}}}]}}))
            .unwrap();
    }
}

fn main() {
    // The API server: its own runtime and threads.
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let api = FakeApi::new();
    fill(&api);
    let server = server_rt.block_on(api.serve_on_free_port()).unwrap();
    let addr = server.addr();

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let kubeconfig =
            kube::config::Kubeconfig::from_yaml(&karpenter_k8s::fake_api::kubeconfig_for(addr)).unwrap();
        let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
            .await
            .unwrap();
        let client = kube::Client::try_from(config).unwrap();
        let clock = SimClock::new(chrono::Utc::now());
        let fake = FakeProvider::new(FakeMetricStore::new());
        for i in 0..OBJECTS {
            fake.add_node_group(FakeNodeGroup::builder(format!("g-{i}")).replicas(2).build(&clock));
        }
        let mut registry = ProviderRegistry::new();
        registry.register(Arc::new(NodeGroupsAndQueues(Arc::new(fake)))).unwrap();
        let hour = Duration::from_secs(3600);
        let config = ControllerConfig {
            sync_period: hour,
            node_group_sync_period: hour,
            producer_sync_period: hour,
            ..ControllerConfig::default()
        };
        let controller = Arc::new(
            Controller::new(client, registry, Arc::new(Metrics::new()), None, config).unwrap(),
        );
        let stop = CancellationToken::new();
        let task = {
            let (c, s) = (controller.clone(), stop.clone());
            tokio::spawn(async move { c.run(s).await })
        };
        // The first passes: every autoscaler has decided once.
        let start = Instant::now();
        while api
            .list("horizontalautoscalers", Some("default"))
            .iter()
            .filter(|h| h["status"]["desiredReplicas"].is_number())
            .count()
            < OBJECTS
        {
            assert!(start.elapsed() < Duration::from_secs(300), "the first passes did not finish");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // ... and what their scale writes set off (the node groups'
        // reconciles): wait for half a second without a request.
        loop {
            api.reset_counts();
            tokio::time::sleep(Duration::from_millis(500)).await;
            if api.request_counts().values().all(|n| *n == 0) {
                break;
            }
            assert!(start.elapsed() < Duration::from_secs(300), "the controller never settled");
        }
        api.set_request_log(false);
        for pass in ["first period after the scale-ups", "steady state"] {
            api.reset_counts();
            let cpu0 = thread_cpu();
            let wall0 = Instant::now();
            controller.reconcile_producers().await;
            let producers_cpu = thread_cpu() - cpu0;
            let keys: Vec<ObjectKey> = (0..OBJECTS).map(|i| ObjectKey::new("default", &format!("a-{i}"))).collect();
            futures_util::stream::iter(keys.into_iter().map(|k| controller.reconcile_autoscaler(k)))
                .buffer_unordered(16)
                .collect::<Vec<()>>()
                .await;
            let autoscalers_cpu = thread_cpu() - cpu0 - producers_cpu;
            let keys: Vec<ObjectKey> = (0..OBJECTS).map(|i| ObjectKey::new("default", &format!("g-{i}"))).collect();
            futures_util::stream::iter(keys.into_iter().map(|k| controller.reconcile_node_group(k)))
                .buffer_unordered(16)
                .collect::<Vec<()>>()
                .await;
            let total_cpu = thread_cpu() - cpu0;
            let wall = wall0.elapsed();
            let node_groups_cpu = total_cpu - producers_cpu - autoscalers_cpu;
            let counts = api.request_counts();
            let requests: u64 = counts.values().sum();
            println!(
                "one sync period ({pass}), {OBJECTS} producers + {OBJECTS} autoscalers + {OBJECTS} node groups: controller thread CPU {:.0} ms (producers {:.0}, autoscalers {:.0}, node groups {:.0}), wall {:.0} ms, {requests} API requests",
                total_cpu.as_secs_f64() * 1e3,
                producers_cpu.as_secs_f64() * 1e3,
                autoscalers_cpu.as_secs_f64() * 1e3,
                node_groups_cpu.as_secs_f64() * 1e3,
                wall.as_secs_f64() * 1e3,
            );
            for (key, n) in counts.iter().filter(|(_, n)| **n > 0) {
                println!("  {n:>6} {key}");
            }
        }
        stop.cancel();
        let _ = task.await;
    });
    server_rt.block_on(server.shutdown());
}
