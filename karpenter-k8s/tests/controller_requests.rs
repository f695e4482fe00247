//! The controllers against kube's mock service (`tower-test`): each test
//! drives one reconcile and answers every API request it makes, asserting
//! the exact requests: the scale subresource read and write, the status
//! patches and their content, the Events, the Lease calls.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on purpose.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use http::{Method, Request, Response, StatusCode};
use karpenter_core::producers::{Gauge, producer_labels};
use karpenter_core::provider::{CallPolicy, ProviderRegistry};
use karpenter_core::reconcile::ObjectKey;
use karpenter_core::retry::RetryPolicy;
use karpenter_fake::{FakeMetricStore, FakeNodeGroup, FakeProvider, SimClock};
use karpenter_k8s::controller::leader::{Attempt, LeaderElector, LeaseTimings};
use karpenter_k8s::controller::{Controller, ControllerConfig, NodeGroupsAndQueues};
use karpenter_k8s::crd;
use karpenter_k8s::prometheus::Metrics;
use kube::client::Body;
use serde_json::{Value, json};
use tower_test::mock::{Handle, SendResponse};

type ApiHandle = Handle<Request<Body>, Response<Body>>;

const HA_PATH: &str =
    "/apis/autoscaling.karpenter.sh/v1alpha1/namespaces/default/horizontalautoscalers/workers";
const SCALE_PATH: &str =
    "/apis/autoscaling.karpenter.sh/v1alpha1/namespaces/default/scalablenodegroups/workers/scale";
const SNG_PATH: &str =
    "/apis/autoscaling.karpenter.sh/v1alpha1/namespaces/default/scalablenodegroups/workers";
const EVENTS_PATH: &str = "/apis/events.k8s.io/v1/namespaces/default/events";

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 30, 12, 0, 0).unwrap()
}

fn mock() -> (kube::Client, ApiHandle) {
    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    (kube::Client::new(service, "default"), handle)
}

/// One request: its method, path (with query) and JSON body. A test that
/// checks no request follows drops its controller first: the mock's
/// `next_request` answers `None` once the last client is gone.
struct Seen {
    method: Method,
    path: String,
    content_type: String,
    body: Value,
    respond: SendResponse<Response<Body>>,
}

async fn next(handle: &mut ApiHandle) -> Seen {
    let (request, respond) = tokio::time::timeout(Duration::from_secs(30), handle.next_request())
        .await
        .expect("a request within 30 s")
        .expect("the client is alive");
    let method = request.method().clone();
    let path = request
        .uri()
        .path_and_query()
        .map(ToString::to_string)
        .unwrap_or_default();
    let content_type = request
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let bytes = http_body_util::BodyExt::collect(request.into_body())
        .await
        .unwrap()
        .to_bytes();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap()
    };
    Seen {
        method,
        path,
        content_type,
        body,
        respond,
    }
}

fn reply(respond: SendResponse<Response<Body>>, status: StatusCode, body: &Value) {
    respond.send_response(
        Response::builder()
            .status(status)
            .body(Body::from(serde_json::to_vec(body).unwrap()))
            .unwrap(),
    );
}

/// Answers a create with what it sent, as the API server does.
fn echo(r: Seen) {
    let body = r.body.clone();
    reply(r.respond, StatusCode::CREATED, &body);
}

fn scale(replicas: i32, ready: i32) -> Value {
    json!({"apiVersion": "autoscaling/v1", "kind": "Scale",
           "metadata": {"name": "workers", "namespace": "default", "resourceVersion": "5"},
           "spec": {"replicas": replicas}, "status": {"replicas": ready}})
}

fn status_error(code: u16, reason: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Status", "status": "Failure", "code": code,
           "reason": reason, "message": format!("injected {reason}")})
}

/// An autoscaler of node group `workers` on the in-process queue gauge
/// (AverageValue 4 per node), 1..10.
fn autoscaler(status: Option<Value>) -> crd::HorizontalAutoscaler {
    let mut v = json!({
        "apiVersion": "autoscaling.karpenter.sh/v1alpha1", "kind": "HorizontalAutoscaler",
        "metadata": {"name": "workers", "namespace": "default", "uid": "ha-uid", "resourceVersion": "9"},
        "spec": {
            "scaleTargetRef": {"apiVersion": "autoscaling.karpenter.sh/v1alpha1", "kind": "ScalableNodeGroup", "name": "workers"},
            "minReplicas": 1, "maxReplicas": 10,
            "metrics": [{"prometheus": {"query": "karpenter_queue_length{name=\"jobs\"}",
                                        "target": {"type": "AverageValue", "value": 4}}}]
        }
    });
    if let Some(s) = status {
        v["status"] = s;
    }
    serde_json::from_value(v).unwrap()
}

fn controller(
    client: kube::Client,
    registry: ProviderRegistry,
    metrics: Arc<Metrics>,
) -> Arc<Controller> {
    with_clock(client, registry, metrics, Arc::new(SimClock::new(t0())))
}

fn with_clock(
    client: kube::Client,
    registry: ProviderRegistry,
    metrics: Arc<Metrics>,
    clock: Arc<SimClock>,
) -> Arc<Controller> {
    let c = Controller::new(client, registry, metrics, None, ControllerConfig::default()).unwrap();
    Arc::new(c.with_clock(clock))
}

/// Reconciles the autoscaler `default/workers` once, in the background.
fn sync_autoscaler(c: &Arc<Controller>) -> tokio::task::JoinHandle<()> {
    let c = c.clone();
    tokio::spawn(async move {
        c.reconcile_autoscaler(ObjectKey::new("default", "workers"))
            .await
    })
}

/// Reconciles the node group `default/workers` once, in the background.
fn sync_node_group(c: &Arc<Controller>) -> tokio::task::JoinHandle<()> {
    let c = c.clone();
    tokio::spawn(async move {
        c.reconcile_node_group(ObjectKey::new("default", "workers"))
            .await
    })
}

fn queue_metrics(length: f64) -> Arc<Metrics> {
    let metrics = Arc::new(Metrics::new());
    metrics.replace_producer(
        "default",
        "jobs",
        &[Gauge {
            name: "karpenter_queue_length",
            labels: producer_labels("jobs", "default"),
            value: length,
        }],
    );
    metrics
}

fn condition<'a>(status: &'a Value, type_: &str) -> &'a Value {
    status["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == type_)
        .unwrap_or_else(|| panic!("no {type_} condition in {status}"))
}

#[tokio::test]
async fn scale_up_reads_and_writes_the_scale_subresource_then_patches_status() {
    let (client, mut api) = mock();
    let c = controller(client, ProviderRegistry::new(), queue_metrics(20.0));
    c.autoscalers().apply(autoscaler(None));
    let run = sync_autoscaler(&c);

    let r = next(&mut api).await;
    assert_eq!((r.method.as_str(), r.path.as_str()), ("GET", SCALE_PATH));
    reply(r.respond, StatusCode::OK, &scale(2, 2));

    // 20 messages / 4 per node = 5 nodes.
    let r = next(&mut api).await;
    assert_eq!(r.method, Method::PATCH);
    assert!(r.path.starts_with(SCALE_PATH), "{}", r.path);
    assert_eq!(r.content_type, "application/merge-patch+json");
    assert_eq!(r.body, json!({"spec": {"replicas": 5}}));
    reply(r.respond, StatusCode::OK, &scale(5, 2));

    let r = next(&mut api).await;
    assert_eq!(r.method, Method::POST);
    assert!(r.path.starts_with(EVENTS_PATH), "{}", r.path);
    assert_eq!(r.body["reason"], "SuccessfulRescale");
    assert_eq!(r.body["type"], "Normal");
    assert_eq!(r.body["regarding"]["name"], "workers");
    assert!(
        r.body["note"].as_str().unwrap().starts_with("New size: 5"),
        "{}",
        r.body["note"]
    );
    echo(r);

    let r = next(&mut api).await;
    assert_eq!(r.method, Method::PATCH);
    assert!(
        r.path.starts_with(&format!("{HA_PATH}/status")),
        "{}",
        r.path
    );
    assert_eq!(r.content_type, "application/merge-patch+json");
    let status = &r.body["status"];
    assert_eq!(status["currentReplicas"], 2);
    assert_eq!(status["desiredReplicas"], 5);
    assert_eq!(status["readyReplicas"], 2);
    assert_eq!(status["currentMetrics"][0]["value"], 20.0);
    assert!(status["lastScaleTime"].is_string());
    assert_eq!(
        condition(status, "AbleToScale")["reason"],
        "SucceededRescale"
    );
    // The first write always carries the history: the size the window
    // started from, then this recommendation.
    let recs: Vec<&Value> = status["history"]["recommendations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["replicas"])
        .collect();
    assert_eq!(recs, [&json!(2), &json!(5)]);
    let mut stored = serde_json::to_value(autoscaler(None)).unwrap();
    stored["status"] = status.clone();
    reply(r.respond, StatusCode::OK, &stored);

    run.await.unwrap();
    drop(c);
    assert!(
        api.next_request().await.is_none(),
        "no request after the status patch"
    );
}

#[tokio::test]
async fn stabilization_holds_the_size_and_says_so() {
    let (client, mut api) = mock();
    // The queue drained to 4 (1 node), but 5 nodes were recommended 2 minutes ago:
    // the 5-minute scale-down window keeps 5.
    let c = controller(client, ProviderRegistry::new(), queue_metrics(4.0));
    let recent = (t0() - chrono::Duration::minutes(2)).to_rfc3339();
    c.autoscalers().apply(autoscaler(Some(json!({
        "currentReplicas": 5, "desiredReplicas": 5,
        "history": {"recommendations": [{"time": recent, "replicas": 5}]}
    }))));
    let run = sync_autoscaler(&c);
    let r = next(&mut api).await;
    assert_eq!((r.method.as_str(), r.path.as_str()), ("GET", SCALE_PATH));
    reply(r.respond, StatusCode::OK, &scale(5, 5));

    // No scale write: the next request is the status patch.
    let r = next(&mut api).await;
    assert_eq!(r.method, Method::PATCH);
    assert!(
        r.path.starts_with(&format!("{HA_PATH}/status")),
        "{}",
        r.path
    );
    let status = &r.body["status"];
    assert_eq!(status["desiredReplicas"], 5);
    assert_eq!(
        condition(status, "AbleToScale")["reason"],
        "ScaleDownStabilized"
    );
    reply(
        r.respond,
        StatusCode::OK,
        &serde_json::to_value(autoscaler(None)).unwrap(),
    );
    run.await.unwrap();
    drop(c);
    assert!(api.next_request().await.is_none());
}

#[tokio::test]
async fn an_unreadable_metric_never_scales_and_the_condition_and_an_event_say_why() {
    let (client, mut api) = mock();
    // Nothing exports the gauge and no Prometheus is configured.
    let c = controller(client, ProviderRegistry::new(), Arc::new(Metrics::new()));
    c.autoscalers().apply(autoscaler(None));
    let run = sync_autoscaler(&c);
    let r = next(&mut api).await;
    assert_eq!((r.method.as_str(), r.path.as_str()), ("GET", SCALE_PATH));
    reply(r.respond, StatusCode::OK, &scale(3, 3));

    let r = next(&mut api).await;
    assert_eq!(r.method, Method::POST, "a Warning event, no scale write");
    assert!(r.path.starts_with(EVENTS_PATH));
    assert_eq!(r.body["type"], "Warning");
    assert!(
        r.body["note"]
            .as_str()
            .unwrap()
            .contains("--prometheus-url"),
        "{}",
        r.body["note"]
    );
    echo(r);

    let r = next(&mut api).await;
    assert!(
        r.path.starts_with(&format!("{HA_PATH}/status")),
        "{}",
        r.path
    );
    let status = &r.body["status"];
    assert_eq!(status["desiredReplicas"], 3);
    let active = condition(status, "ScalingActive");
    assert_eq!(active["status"], "False");
    assert!(
        active["message"]
            .as_str()
            .unwrap()
            .contains("--prometheus-url"),
        "{active}"
    );
    reply(
        r.respond,
        StatusCode::OK,
        &serde_json::to_value(autoscaler(None)).unwrap(),
    );
    run.await.unwrap();
    drop(c);
    assert!(api.next_request().await.is_none());
}

/// An autoscaler allowed to remove one node per minute, with no
/// stabilization window: only the scale events in its history hold a
/// second scale-down back.
fn one_node_per_minute(status: Value) -> crd::HorizontalAutoscaler {
    let mut v = serde_json::to_value(autoscaler(None)).unwrap();
    v["spec"]["behavior"] = json!({"scaleDown": {"stabilizationWindowSeconds": 0,
        "policies": [{"type": "Pods", "value": 1, "periodSeconds": 60}]}});
    v["status"] = status;
    serde_json::from_value(v).unwrap()
}

#[tokio::test]
async fn a_restart_keeps_the_persisted_history_and_does_not_scale_down_early() {
    // The queue says 2 nodes (8 / 4); the group has 5. The last controller
    // removed a node 30 s ago and persisted that event; a fresh controller
    // (nothing in memory) must read it back and wait out the minute.
    let recent = (t0() - chrono::Duration::seconds(30)).to_rfc3339();
    let persisted = json!({
        "currentReplicas": 5, "desiredReplicas": 5, "lastScaleTime": recent,
        "history": {"recommendations": [{"time": recent, "replicas": 5}],
                    "scaleEvents": [{"time": recent, "change": -1}]}
    });
    let (client, mut api) = mock();
    let c = controller(client, ProviderRegistry::new(), queue_metrics(8.0));
    c.autoscalers().apply(one_node_per_minute(persisted));
    let run = sync_autoscaler(&c);
    let r = next(&mut api).await;
    reply(r.respond, StatusCode::OK, &scale(5, 5));
    let r = next(&mut api).await;
    assert!(
        r.path.starts_with(&format!("{HA_PATH}/status")),
        "no scale write: {} {}",
        r.method,
        r.path
    );
    assert_eq!(r.body["status"]["desiredReplicas"], 5);
    assert_eq!(
        condition(&r.body["status"], "ScalingLimited")["reason"],
        "ScaleDownLimit"
    );
    reply(
        r.respond,
        StatusCode::OK,
        &serde_json::to_value(autoscaler(None)).unwrap(),
    );
    run.await.unwrap();

    // The same object with its history lost would remove a node at once:
    // the history is what held it back.
    let (client, mut api) = mock();
    let c = controller(client, ProviderRegistry::new(), queue_metrics(8.0));
    c.autoscalers().apply(one_node_per_minute(
        json!({"currentReplicas": 5, "desiredReplicas": 5}),
    ));
    let run = sync_autoscaler(&c);
    let r = next(&mut api).await;
    reply(r.respond, StatusCode::OK, &scale(5, 5));
    let r = next(&mut api).await;
    assert_eq!(r.method, Method::PATCH);
    assert!(r.path.starts_with(SCALE_PATH), "{}", r.path);
    assert_eq!(r.body, json!({"spec": {"replicas": 4}}));
    reply(r.respond, StatusCode::OK, &scale(4, 5));
    drop(api);
    let _ = run.await;
}

#[tokio::test(start_paused = true)]
async fn a_conflict_on_the_status_patch_is_retried_with_the_same_content() {
    let (client, mut api) = mock();
    let c = controller(client, ProviderRegistry::new(), queue_metrics(12.0));
    c.autoscalers().apply(autoscaler(None));
    let run = sync_autoscaler(&c);
    let r = next(&mut api).await;
    reply(r.respond, StatusCode::OK, &scale(3, 3));
    // 12 / 4 = 3: no change, no write.
    let first = next(&mut api).await;
    assert!(
        first.path.starts_with(&format!("{HA_PATH}/status")),
        "{}",
        first.path
    );
    let sent = first.body.clone();
    reply(
        first.respond,
        StatusCode::CONFLICT,
        &status_error(409, "Conflict"),
    );
    let second = next(&mut api).await;
    assert!(
        second.path.starts_with(&format!("{HA_PATH}/status")),
        "{}",
        second.path
    );
    assert_eq!(second.body, sent, "the retry sends the same status");
    reply(
        second.respond,
        StatusCode::OK,
        &serde_json::to_value(autoscaler(None)).unwrap(),
    );
    run.await.unwrap();

    // The next sync changes nothing it decides on, and its history is not
    // due: the status it would write is the one written, so no patch.
    let run = sync_autoscaler(&c);
    let r = next(&mut api).await;
    assert_eq!((r.method.as_str(), r.path.as_str()), ("GET", SCALE_PATH));
    reply(r.respond, StatusCode::OK, &scale(3, 3));
    run.await.unwrap();
    drop(c);
    assert!(
        api.next_request().await.is_none(),
        "no status patch in a steady state"
    );
}

#[tokio::test]
async fn a_steady_autoscaler_writes_its_history_when_the_interval_is_due() {
    let (client, mut api) = mock();
    let clock = Arc::new(SimClock::new(t0()));
    let c = with_clock(
        client,
        ProviderRegistry::new(),
        queue_metrics(12.0),
        clock.clone(),
    );
    c.autoscalers().apply(autoscaler(None));
    let stored = serde_json::to_value(autoscaler(None)).unwrap();
    // First sync: status with history.
    let run = sync_autoscaler(&c);
    let r = next(&mut api).await;
    reply(r.respond, StatusCode::OK, &scale(3, 3));
    let r = next(&mut api).await;
    let first = r.body["status"]["history"]["recommendations"]
        .as_array()
        .unwrap()
        .len();
    reply(r.respond, StatusCode::OK, &stored);
    run.await.unwrap();
    // 15 s later: nothing changed, nothing written.
    clock.advance(Duration::from_secs(15));
    let run = sync_autoscaler(&c);
    let r = next(&mut api).await;
    reply(r.respond, StatusCode::OK, &scale(3, 3));
    run.await.unwrap();
    // 60 s after the last write: the history is due, with every
    // recommendation since.
    clock.advance(Duration::from_secs(45));
    let run = sync_autoscaler(&c);
    let r = next(&mut api).await;
    reply(r.respond, StatusCode::OK, &scale(3, 3));
    let r = next(&mut api).await;
    assert!(
        r.path.starts_with(&format!("{HA_PATH}/status")),
        "{}",
        r.path
    );
    let recs = r.body["status"]["history"]["recommendations"]
        .as_array()
        .unwrap();
    assert_eq!(
        recs.len(),
        first + 2,
        "one recommendation per sync since the first write: {recs:?}"
    );
    reply(r.respond, StatusCode::OK, &stored);
    run.await.unwrap();
}

fn node_group(replicas: i32) -> crd::ScalableNodeGroup {
    serde_json::from_value(json!({
        "metadata": {"name": "workers", "namespace": "default", "uid": "sng-uid", "resourceVersion": "4"},
        "spec": {"type": "FakeNodeGroup", "id": "workers", "replicas": replicas}
    }))
    .unwrap()
}

fn fake_registry(group: FakeNodeGroup) -> ProviderRegistry {
    let provider = FakeProvider::new(FakeMetricStore::new());
    provider.add_node_group(group);
    let clock = SimClock::new(t0());
    let calls = CallPolicy {
        clock: Arc::new(clock),
        retry: RetryPolicy {
            max_attempts: 1,
            ..RetryPolicy::default()
        },
        timeout: None,
    };
    let mut registry = ProviderRegistry::new().with_calls(calls);
    registry
        .register(Arc::new(NodeGroupsAndQueues(Arc::new(provider))))
        .unwrap();
    registry
}

#[tokio::test]
async fn a_node_group_is_set_to_spec_replicas_and_its_status_patched() {
    let clock = SimClock::new(t0());
    let group = FakeNodeGroup::builder("workers").replicas(2).build(&clock);
    let (client, mut api) = mock();
    let c = controller(
        client,
        fake_registry(group.clone()),
        Arc::new(Metrics::new()),
    );
    c.node_groups().apply(node_group(4));
    let run = sync_node_group(&c);
    let r = next(&mut api).await;
    assert!(r.path.starts_with(EVENTS_PATH), "{}", r.path);
    assert_eq!(r.body["reason"], "Scaled");
    assert!(
        r.body["note"].as_str().unwrap().contains("from 2 to 4"),
        "{}",
        r.body["note"]
    );
    echo(r);
    let r = next(&mut api).await;
    assert!(
        r.path.starts_with(&format!("{SNG_PATH}/status")),
        "{}",
        r.path
    );
    let status = &r.body["status"];
    assert_eq!(condition(status, "Active")["status"], "True");
    assert!(
        status.get("lastError").is_some_and(Value::is_null),
        "cleared: {status}"
    );
    reply(
        r.respond,
        StatusCode::OK,
        &serde_json::to_value(node_group(4)).unwrap(),
    );
    run.await.unwrap();
    assert_eq!(group.desired(), 4, "the provider was told");
}

#[tokio::test]
async fn a_provider_error_sets_the_condition_records_a_warning_and_is_retried() {
    let clock = SimClock::new(t0());
    // The cloud has room for 3 nodes only: asking for 5 launches one and
    // fails with a retryable insufficient-capacity error.
    let group = FakeNodeGroup::builder("workers")
        .replicas(2)
        .capacity(3)
        .build(&clock);
    let (client, mut api) = mock();
    let c = controller(
        client,
        fake_registry(group.clone()),
        Arc::new(Metrics::new()),
    );
    c.node_groups().apply(node_group(5));
    let run = sync_node_group(&c);
    let r = next(&mut api).await;
    assert_eq!(r.body["reason"], "FailedScale");
    assert_eq!(r.body["type"], "Warning");
    echo(r);
    let r = next(&mut api).await;
    let status = &r.body["status"];
    let able = condition(status, "AbleToScale");
    assert_eq!(
        (able["status"].as_str(), able["reason"].as_str()),
        (Some("False"), Some("FailedUpdateScale"))
    );
    assert!(
        status["lastError"]
            .as_str()
            .unwrap()
            .contains("insufficient capacity"),
        "{status}"
    );
    reply(
        r.respond,
        StatusCode::OK,
        &serde_json::to_value(node_group(5)).unwrap(),
    );
    run.await.unwrap();
    assert_eq!(group.desired(), 3, "what fitted was launched");

    // The intent stays in spec.replicas: the next reconcile tries again, and
    // once the cloud allows it the write goes through.
    group.set_capacity(None);
    let run = sync_node_group(&c);
    let r = next(&mut api).await;
    assert_eq!(r.body["reason"], "Scaled");
    echo(r);
    let r = next(&mut api).await;
    assert_eq!(
        condition(&r.body["status"], "AbleToScale")["status"],
        "True"
    );
    reply(
        r.respond,
        StatusCode::OK,
        &serde_json::to_value(node_group(5)).unwrap(),
    );
    run.await.unwrap();
    assert_eq!(group.desired(), 5);
}

fn lease(holder: &str, renewed: DateTime<Utc>, transitions: i32) -> Value {
    json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
           "metadata": {"name": "karpenter-leader", "namespace": "karpenter", "resourceVersion": "11"},
           "spec": {"holderIdentity": holder, "leaseDurationSeconds": 15,
                    "acquireTime": renewed.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
                    "renewTime": renewed.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
                    "leaseTransitions": transitions}})
}

/// One acquire-or-renew attempt of `elector`, in the background.
fn attempt(elector: &Arc<LeaderElector>) -> tokio::task::JoinHandle<Result<Attempt, kube::Error>> {
    let elector = elector.clone();
    tokio::spawn(async move { elector.try_acquire_or_renew().await })
}

#[tokio::test]
async fn leader_hand_over_through_the_lease() {
    const LEASE: &str = "/apis/coordination.k8s.io/v1/namespaces/karpenter/leases";
    let clock = Arc::new(SimClock::new(t0()));
    let (client, mut api) = mock();
    let elector = |who: &str| {
        LeaderElector::new(
            kube::Api::namespaced(client.clone(), "karpenter"),
            "karpenter-leader",
            who,
            LeaseTimings::default(),
            clock.clone(),
        )
    };
    let a = Arc::new(elector("replica-a"));
    let b = Arc::new(elector("replica-b"));

    // a: no Lease yet, so it creates one naming itself.
    let task = attempt(&a);
    let r = next(&mut api).await;
    assert_eq!(
        (r.method.as_str(), r.path.as_str()),
        ("GET", format!("{LEASE}/karpenter-leader").as_str())
    );
    reply(
        r.respond,
        StatusCode::NOT_FOUND,
        &status_error(404, "NotFound"),
    );
    let r = next(&mut api).await;
    assert_eq!(r.method, Method::POST);
    assert!(r.path.starts_with(LEASE));
    assert_eq!(r.body["spec"]["holderIdentity"], "replica-a");
    assert_eq!(r.body["spec"]["leaseDurationSeconds"], 15);
    let created = r.body.clone();
    reply(r.respond, StatusCode::CREATED, &created);
    assert_eq!(task.await.unwrap().unwrap(), Attempt::Leading);

    // b: a renewed 5 s ago; b follows and writes nothing.
    clock.advance(Duration::from_secs(5));
    let task = attempt(&b);
    let r = next(&mut api).await;
    assert_eq!(r.method, Method::GET);
    reply(r.respond, StatusCode::OK, &lease("replica-a", t0(), 0));
    assert_eq!(
        task.await.unwrap().unwrap(),
        Attempt::Following {
            holder: "replica-a".into()
        }
    );

    // a stops renewing; 16 s after its last renewal b takes over with a PUT
    // carrying the resourceVersion it read.
    clock.advance(Duration::from_secs(11));
    let task = attempt(&b);
    let r = next(&mut api).await;
    reply(r.respond, StatusCode::OK, &lease("replica-a", t0(), 0));
    let r = next(&mut api).await;
    assert_eq!(r.method, Method::PUT);
    assert!(r.path.starts_with(&format!("{LEASE}/karpenter-leader")));
    assert_eq!(r.body["metadata"]["resourceVersion"], "11");
    assert_eq!(r.body["spec"]["holderIdentity"], "replica-b");
    assert_eq!(r.body["spec"]["leaseTransitions"], 1);
    let replaced = r.body.clone();
    reply(r.respond, StatusCode::OK, &replaced);
    assert_eq!(task.await.unwrap().unwrap(), Attempt::Leading);

    // a comes back: b's Lease is fresh, so a follows.
    let task = attempt(&a);
    let r = next(&mut api).await;
    reply(
        r.respond,
        StatusCode::OK,
        &lease("replica-b", t0() + chrono::Duration::seconds(16), 1),
    );
    assert_eq!(
        task.await.unwrap().unwrap(),
        Attempt::Following {
            holder: "replica-b".into()
        }
    );

    // Two replicas racing for an expired Lease: the loser's PUT gets 409.
    clock.advance(Duration::from_secs(60));
    let task = attempt(&a);
    let r = next(&mut api).await;
    reply(
        r.respond,
        StatusCode::OK,
        &lease("replica-b", t0() + chrono::Duration::seconds(16), 1),
    );
    let r = next(&mut api).await;
    assert_eq!(r.method, Method::PUT);
    reply(
        r.respond,
        StatusCode::CONFLICT,
        &status_error(409, "Conflict"),
    );
    assert!(task.await.unwrap().is_err(), "a conflict is not leadership");
}

#[tokio::test]
async fn an_invalid_spec_is_reported_once_and_never_reconciled() {
    let (client, mut api) = mock();
    let c = controller(client, ProviderRegistry::new(), queue_metrics(20.0));
    let mut v = serde_json::to_value(autoscaler(None)).unwrap();
    v["spec"]["minReplicas"] = json!(5);
    v["spec"]["maxReplicas"] = json!(2);
    c.autoscalers()
        .apply(serde_json::from_value(v.clone()).unwrap());
    let run = sync_autoscaler(&c);
    // No scale read: a Warning Event, then the condition.
    let r = next(&mut api).await;
    assert!(r.path.starts_with(EVENTS_PATH), "{} {}", r.method, r.path);
    assert_eq!(r.body["reason"], "InvalidSpec");
    assert!(
        r.body["note"].as_str().unwrap().contains("maxReplicas"),
        "{}",
        r.body["note"]
    );
    echo(r);
    let r = next(&mut api).await;
    assert!(
        r.path.starts_with(&format!("{HA_PATH}/status")),
        "{}",
        r.path
    );
    let active = condition(&r.body["status"], "ScalingActive");
    assert_eq!(
        (active["status"].as_str(), active["reason"].as_str()),
        (Some("False"), Some("InvalidSpec"))
    );
    reply(r.respond, StatusCode::OK, &v);
    run.await.unwrap();

    // The next sync: nothing new to say, nothing written.
    sync_autoscaler(&c).await.unwrap();
    drop(c);
    assert!(
        api.next_request().await.is_none(),
        "no request for an unchanged invalid spec"
    );
}
