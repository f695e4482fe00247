//! The whole controller (`Controller::run`: watches, caches, the three
//! loops) against the in-memory API server `fake_api`:
//!
//! - pods going unschedulable reach the node group through the
//!   pending-capacity producer, the in-process gauge read, the autoscaler's
//!   scale write and the node group's reconcile;
//! - a node group's `status.replicas` counts its instances whose Node is
//!   Ready (matched by `spec.providerID`);
//! - a deleted producer's gauges disappear; an object that does not
//!   deserialize is left out without breaking the watch;
//! - every request the controllers made is allowed by the ClusterRole and
//!   Role in `deploy/base`, and every rule there is used.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on purpose.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use karpenter_core::async_trait;
use karpenter_core::provider::{
    CloudProvider, InstanceLifecycle, NodeGroup, NodeGroupInstance, NodeGroupReplicas,
    ProviderRegistry, ProviderResult, Stabilization,
};
use karpenter_fake::{FakeMetricStore, FakeNodeGroup, FakeProvider, SimClock};
use karpenter_k8s::controller::leader::{LeaderElector, LeaseTimings};
use karpenter_k8s::controller::{Controller, ControllerConfig, NodeGroupsAndQueues};
use karpenter_k8s::fake_api::{FakeApi, RequestRecord, fixtures};
use karpenter_k8s::prometheus::Metrics;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

const GROUP: &str = "autoscaling.karpenter.sh/v1alpha1";

fn fake_group(id: &str, replicas: i32) -> FakeNodeGroup {
    let clock = SimClock::new(chrono::Utc::now());
    FakeNodeGroup::builder(id).replicas(replicas).build(&clock)
}

fn registry_with(groups: &[FakeNodeGroup]) -> ProviderRegistry {
    let provider = FakeProvider::new(FakeMetricStore::new());
    for g in groups {
        provider.add_node_group(g.clone());
    }
    let mut registry = ProviderRegistry::new();
    registry
        .register(Arc::new(NodeGroupsAndQueues(Arc::new(provider))))
        .unwrap();
    registry
}

struct Running {
    controller: Arc<Controller>,
    metrics: Arc<Metrics>,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    async fn start(api: &FakeApi, registry: ProviderRegistry, config: ControllerConfig) -> Self {
        let client = kube::Client::new(api.service(), "default");
        let metrics = Arc::new(Metrics::new());
        let controller =
            Arc::new(Controller::new(client, registry, metrics.clone(), None, config).unwrap());
        let stop = CancellationToken::new();
        let task = {
            let (c, s) = (controller.clone(), stop.clone());
            tokio::spawn(async move { c.run(s).await })
        };
        wait_until("the watches sync", Duration::from_secs(10), || {
            controller.is_synced()
        })
        .await;
        Self {
            controller,
            metrics,
            stop,
            task,
        }
    }

    async fn stop(self) {
        self.stop.cancel();
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .expect("the controller stops within 10 s of its shutdown")
            .unwrap();
    }
}

async fn wait_until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < timeout,
            "timed out after {timeout:?} waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn node_group_object(name: &str, replicas: i32) -> Value {
    json!({"apiVersion": GROUP, "kind": "ScalableNodeGroup",
           "metadata": {"name": name, "namespace": "default"},
           "spec": {"type": "FakeNodeGroup", "id": name, "replicas": replicas}})
}

/// Node `web-1` of group `web`, Ready, with a pod that leaves no room on
/// it.
fn full_web_node(api: &FakeApi) {
    let node = fixtures::node(
        "web-1",
        "4",
        "16Gi",
        110,
        &[("group", "web")],
        true,
        Some("fake:///web/web-1"),
    );
    api.upsert("nodes", node).unwrap();
    let busy = fixtures::pod(
        "default",
        "busy-1",
        Some("web-1"),
        &[("cpu", "3500m")],
        false,
    );
    api.upsert("pods", busy).unwrap();
}

/// The pending-capacity recipe for group `web`.
fn recipe(api: &FakeApi) {
    api.upsert("metricsproducers", json!({"apiVersion": GROUP, "kind": "MetricsProducer",
        "metadata": {"name": "web-pending", "namespace": "default"},
        "spec": {"pendingCapacity": {"nodeSelector": {"group": "web"}, "scalableNodeGroupRef": {"name": "web"}}}}))
        .unwrap();
    api.upsert("horizontalautoscalers", json!({"apiVersion": GROUP, "kind": "HorizontalAutoscaler",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"scaleTargetRef": {"kind": "ScalableNodeGroup", "name": "web"},
                 "minReplicas": 1, "maxReplicas": 20,
                 "metrics": [{"prometheus": {"query": "karpenter_pending_capacity_desired_nodes{name=\"web-pending\"}",
                                             "target": {"type": "AverageValue", "value": 1}},
                              "role": "ScaleUpOnly"}],
                 "behavior": {"scaleUp": {"tolerance": 0}}}}))
        .unwrap();
}

/// Node group `web` (fake, 1 node) with the pending-capacity recipe, and the
/// controller running on `api`, driven by events only.
async fn start_web_recipe(api: &FakeApi) -> (Running, FakeNodeGroup) {
    api.upsert("scalablenodegroups", node_group_object("web", 1))
        .unwrap();
    recipe(api);
    let web = fake_group("web", 1);
    let running = Running::start(
        api,
        registry_with(std::slice::from_ref(&web)),
        event_driven(),
    )
    .await;
    (running, web)
}

/// Periods long enough that only events drive the loops during a test.
fn event_driven() -> ControllerConfig {
    ControllerConfig {
        sync_period: Duration::from_secs(3600),
        node_group_sync_period: Duration::from_secs(3600),
        producer_sync_period: Duration::from_secs(3600),
        ..ControllerConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unschedulable_pods_reach_the_node_group_through_the_whole_controller() {
    let api = FakeApi::new();
    full_web_node(&api);
    let (running, web) = start_web_recipe(&api).await;
    // The first passes run at start: nothing is pending, the group stays at 1.
    wait_until(
        "the producer exports its gauge",
        Duration::from_secs(10),
        || {
            running.metrics.gauge_value(
                "karpenter_pending_capacity_desired_nodes",
                &[("name", "web-pending"), ("namespace", "default")],
            ) == Some(1.0)
        },
    )
    .await;
    assert_eq!(web.desired(), 1);

    // Three pods of 3 cpu each go unschedulable: one new node each.
    for i in 0..3 {
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
    }
    wait_until(
        "the node group is asked for 4 nodes",
        Duration::from_secs(10),
        || web.desired() == 4,
    )
    .await;
    // The write went through the autoscaler's scale subresource write.
    let sng = api
        .get("scalablenodegroups", Some("default"), "web")
        .unwrap();
    assert_eq!(sng["spec"]["replicas"], 4);
    wait_until(
        "the autoscaler's status says 4",
        Duration::from_secs(10),
        || {
            api.get("horizontalautoscalers", Some("default"), "web")
                .is_some_and(|ha| ha["status"]["desiredReplicas"] == 4)
        },
    )
    .await;
    // The Events are recorded right after the writes.
    let reasons = || -> Vec<String> {
        api.list("events.events.k8s.io", Some("default"))
            .iter()
            .filter_map(|e| e["reason"].as_str().map(str::to_string))
            .collect()
    };
    wait_until(
        "a SuccessfulRescale and a Scaled Event",
        Duration::from_secs(10),
        || {
            let r = reasons();
            r.iter().any(|x| x == "SuccessfulRescale") && r.iter().any(|x| x == "Scaled")
        },
    )
    .await;
    running.stop().await;
}

/// A node group that lists its instances, so the ready count comes from
/// the Nodes.
struct ListedGroup {
    inner: FakeNodeGroup,
    instances: Vec<&'static str>,
}

#[async_trait]
impl NodeGroup for ListedGroup {
    async fn set_replicas(&self, replicas: i32) -> ProviderResult<()> {
        self.inner.set_replicas(replicas).await
    }
    async fn replicas(&self) -> ProviderResult<NodeGroupReplicas> {
        self.inner.replicas().await
    }
    async fn stabilized(&self) -> ProviderResult<Stabilization> {
        self.inner.stabilized().await
    }
    async fn instances(&self) -> ProviderResult<Option<Vec<NodeGroupInstance>>> {
        Ok(Some(
            self.instances
                .iter()
                .map(|id| NodeGroupInstance {
                    provider_id: (*id).to_string(),
                    lifecycle: InstanceLifecycle::Running,
                    state: "InService".into(),
                })
                .collect(),
        ))
    }
}

struct ListedProvider(Arc<ListedGroup>);

impl CloudProvider for ListedProvider {
    fn name(&self) -> String {
        "listed".into()
    }
    fn node_group_types(&self) -> Vec<String> {
        vec!["FakeNodeGroup".into()]
    }
    fn node_group(
        &self,
        _: &karpenter_core::api::v1alpha1::ScalableNodeGroupSpec,
    ) -> ProviderResult<Arc<dyn NodeGroup>> {
        Ok(self.0.clone())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_group_ready_replicas_count_instances_whose_node_is_ready() {
    let api = FakeApi::new();
    for (name, ready) in [("a", true), ("b", false), ("c", true)] {
        api.upsert(
            "nodes",
            fixtures::node(
                name,
                "4",
                "16Gi",
                110,
                &[],
                ready,
                Some(&format!("fake:///{name}")),
            ),
        )
        .unwrap();
    }
    api.upsert("scalablenodegroups", node_group_object("web", 3))
        .unwrap();
    // Instances a, b and d: a is Ready, b is not, d has no Node yet; c is
    // Ready but another group's.
    let group = Arc::new(ListedGroup {
        inner: fake_group("web", 3),
        instances: vec!["fake:///a", "fake:///b", "fake:///d"],
    });
    let mut registry = ProviderRegistry::new();
    registry.register(Arc::new(ListedProvider(group))).unwrap();
    let running = Running::start(&api, registry, event_driven()).await;
    wait_until("status.replicas is 1", Duration::from_secs(10), || {
        api.get("scalablenodegroups", Some("default"), "web")
            .is_some_and(|s| s["status"]["replicas"] == 1)
    })
    .await;
    // The scale subresource serves it as the ready count.
    let sng = api
        .get("scalablenodegroups", Some("default"), "web")
        .unwrap();
    assert_eq!(
        sng["status"]["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["type"] == "Active")
            .unwrap()["status"],
        "True"
    );

    // Node b turns Ready: the count follows.
    api.upsert(
        "nodes",
        fixtures::node("b", "4", "16Gi", 110, &[], true, Some("fake:///b")),
    )
    .unwrap();
    // No reconcile is due (the periods are an hour): the Node event alone
    // recounts, without asking the provider.
    wait_until("status.replicas is 2", Duration::from_secs(10), || {
        api.get("scalablenodegroups", Some("default"), "web")
            .is_some_and(|s| s["status"]["replicas"] == 2)
    })
    .await;
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_producer_loses_its_gauges_and_a_bad_object_breaks_nothing() {
    let api = FakeApi::new();
    let producer = |name: &str, replicas: Value| {
        json!({"apiVersion": GROUP, "kind": "MetricsProducer", "metadata": {"name": name, "namespace": "default"},
               "spec": {"scheduleSpec": {"timezone": "UTC", "defaultReplicas": replicas}}})
    };
    api.upsert("metricsproducers", producer("steady", json!(3)))
        .unwrap();
    // Not a number: this object does not deserialize.
    api.upsert("metricsproducers", producer("broken", json!("three")))
        .unwrap();
    let running = Running::start(&api, ProviderRegistry::new(), event_driven()).await;
    let value = |m: &Metrics| {
        m.gauge_value(
            "karpenter_scheduled_replicas_value",
            &[("name", "steady"), ("namespace", "default")],
        )
    };
    wait_until("the good producer exports", Duration::from_secs(10), || {
        value(&running.metrics) == Some(3.0)
    })
    .await;
    assert_eq!(
        running.controller.producers().len(),
        1,
        "the bad object is left out"
    );
    let status = api
        .get("metricsproducers", Some("default"), "steady")
        .unwrap()["status"]
        .clone();
    assert_eq!(status["kind"], "scheduleSpec");

    api.delete("metricsproducers", Some("default"), "steady");
    wait_until("its gauge is removed", Duration::from_secs(10), || {
        value(&running.metrics).is_none()
    })
    .await;
    // Fixing the bad object brings it in.
    api.upsert("metricsproducers", producer("broken", json!(5)))
        .unwrap();
    wait_until(
        "the fixed producer exports",
        Duration::from_secs(10),
        || {
            running.metrics.gauge_value(
                "karpenter_scheduled_replicas_value",
                &[("name", "broken"), ("namespace", "default")],
            ) == Some(5.0)
        },
    )
    .await;
    running.stop().await;
}

// ------------------------------------------------------------------ RBAC

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Rule {
    group: String,
    resource: String,
    verb: String,
}

/// The rules of the ClusterRole and Role in `deploy/base`, one per
/// (group, resource, verb).
fn deploy_rules() -> BTreeSet<Rule> {
    let base = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/base");
    let mut rules = BTreeSet::new();
    for file in ["clusterrole.yaml", "role.yaml"] {
        let text = std::fs::read_to_string(format!("{base}/{file}")).unwrap();
        let doc: Value = serde_saphyr::from_str(&text).unwrap();
        for rule in doc["rules"].as_array().unwrap() {
            for g in rule["apiGroups"].as_array().unwrap() {
                for r in rule["resources"].as_array().unwrap() {
                    for v in rule["verbs"].as_array().unwrap() {
                        rules.insert(Rule {
                            group: g.as_str().unwrap().into(),
                            resource: r.as_str().unwrap().into(),
                            verb: v.as_str().unwrap().into(),
                        });
                    }
                }
            }
        }
    }
    rules
}

fn rule_of(r: &RequestRecord) -> Option<Rule> {
    let resource = r.resource.clone()?;
    let resource = match &r.subresource {
        Some(sub) => format!("{resource}/{sub}"),
        None => resource,
    };
    Some(Rule {
        group: r.group.clone().unwrap_or_default(),
        resource,
        verb: r.verb?.as_str().to_string(),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_is_allowed_by_deploy_rbac_and_every_rule_is_used() {
    let api = FakeApi::new();
    full_web_node(&api);
    api.upsert("daemonsets", json!({"apiVersion": "apps/v1", "kind": "DaemonSet",
        "metadata": {"name": "logs", "namespace": "kube-system"},
        "spec": {"template": {"spec": {"containers": [{"name": "c", "resources": {"requests": {"cpu": "100m"}}}]}}}}))
        .unwrap();
    let (running, web) = start_web_recipe(&api).await;
    api.upsert(
        "pods",
        fixtures::pod("default", "batch-0", None, &[("cpu", "3")], true),
    )
    .unwrap();
    wait_until(
        "the group is asked for 2 nodes",
        Duration::from_secs(10),
        || web.desired() == 2,
    )
    .await;
    // A second, identical Event is folded into a series: a patch.
    running.controller.node_groups().mark_all();
    api.upsert(
        "pods",
        fixtures::pod("default", "batch-1", None, &[("cpu", "3")], true),
    )
    .unwrap();
    wait_until(
        "the group is asked for 3 nodes",
        Duration::from_secs(10),
        || web.desired() == 3,
    )
    .await;
    running.stop().await;

    // Leader election: acquire, renew, release.
    let client = kube::Client::new(api.service(), "default");
    let elector = LeaderElector::new(
        kube::Api::namespaced(client, "karpenter"),
        "karpenter-leader",
        "replica-a",
        LeaseTimings::default(),
        Arc::new(karpenter_core::clock::SystemClock),
    );
    elector.try_acquire_or_renew().await.unwrap();
    elector.try_acquire_or_renew().await.unwrap();
    elector.release().await.unwrap();

    let rules = deploy_rules();
    let mut used = BTreeSet::new();
    for r in api.requests() {
        let Some(rule) = rule_of(&r) else {
            // Discovery documents: allowed to every authenticated user.
            assert!(
                r.path.starts_with("/api") && r.verb.is_some(),
                "not an API request: {r:?}"
            );
            continue;
        };
        assert!(
            rules.contains(&rule),
            "{} {} ({}) is not allowed by deploy/base: {rule:?}",
            r.method,
            r.path,
            r.query
        );
        used.insert(rule);
    }
    let unused: Vec<&Rule> = rules.difference(&used).collect();
    assert!(
        unused.is_empty(),
        "rules in deploy/base that no request used: {unused:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_kind_with_a_scale_subresource_can_be_the_target() {
    let api = FakeApi::new();
    api.upsert(
        "deployments",
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}}},
        "status": {"replicas": 2}}),
    )
    .unwrap();
    api.upsert(
        "metricsproducers",
        json!({"apiVersion": GROUP, "kind": "MetricsProducer",
        "metadata": {"name": "web-schedule", "namespace": "default"},
        "spec": {"scheduleSpec": {"timezone": "UTC", "defaultReplicas": 6}}}),
    )
    .unwrap();
    api.upsert("horizontalautoscalers", json!({"apiVersion": GROUP, "kind": "HorizontalAutoscaler",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                 "minReplicas": 1, "maxReplicas": 10,
                 "metrics": [{"prometheus": {"query": "karpenter_scheduled_replicas_value{name=\"web-schedule\"}",
                                             "target": {"type": "AverageValue", "value": 1}}}]}})).unwrap();
    let running = Running::start(&api, ProviderRegistry::new(), event_driven()).await;
    wait_until(
        "the Deployment is scaled to 6",
        Duration::from_secs(10),
        || {
            api.get("deployments", Some("default"), "web")
                .is_some_and(|d| d["spec"]["replicas"] == 6)
        },
    )
    .await;
    // Only the scale subresource was touched: read (once per decision; the
    // first may come before the producer's gauge exists) and written once.
    let calls: Vec<String> = api
        .requests()
        .iter()
        .filter(|r| r.resource.as_deref() == Some("deployments"))
        .map(RequestRecord::key)
        .collect();
    let writes = calls
        .iter()
        .filter(|k| *k == "patch deployments/scale")
        .count();
    assert_eq!(writes, 1, "{calls:?}");
    assert!(
        calls
            .iter()
            .all(|k| k == "get deployments/scale" || k == "patch deployments/scale"),
        "{calls:?}"
    );
    running.stop().await;
}

/// `karpenter controller --leader-elect` as the binary runs it: it takes
/// the Lease, runs, and on shutdown finishes and releases the Lease.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_controller_command_leads_and_releases_the_lease_on_shutdown() {
    use clap::Parser;
    use karpenter_k8s::controller::cli::{ControllerArgs, run_with};

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: ControllerArgs,
    }
    let api = FakeApi::new();
    let args = Cli::parse_from([
        "karpenter",
        "--leader-elect",
        "--leader-election-namespace=karpenter",
        "--metrics-bind-address=127.0.0.1:0",
        "--health-probe-bind-address=127.0.0.1:0",
    ])
    .args;
    let client = kube::Client::new(api.service(), "default");
    let stop = CancellationToken::new();
    let task = tokio::spawn(run_with(client, args, stop.clone()));
    let holder = || {
        api.get("leases", Some("karpenter"), "karpenter-leader")
            .and_then(|l| l["spec"]["holderIdentity"].as_str().map(str::to_string))
    };
    wait_until("the Lease is taken", Duration::from_secs(10), || {
        holder().is_some()
    })
    .await;
    // Leading: the controllers' watches run.
    wait_until("the watches list", Duration::from_secs(10), || {
        api.requests()
            .iter()
            .any(|r| r.resource.as_deref() == Some("horizontalautoscalers"))
    })
    .await;
    stop.cancel();
    let result = tokio::time::timeout(Duration::from_secs(15), task)
        .await
        .unwrap()
        .unwrap();
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(
        holder(),
        None,
        "the Lease is released for a standby to take at once"
    );
}
