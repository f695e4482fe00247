//! The fake API server against kube's real client: typed calls, dynamic
//! objects, subresources, discovery, watches, faults, the request log and
//! the HTTP server with a kubeconfig.

// Test helpers outside #[test] fns may unwrap: a failure there is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use futures_util::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use karpenter_k8s::fake_api::{FakeApi, Fault, Verb, fixtures};
use kube::api::{
    Api, DeleteParams, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams, PostParams,
};
use kube::runtime::watcher;
use serde_json::{Value, json};

fn client(api: &FakeApi) -> kube::Client {
    kube::Client::new(api.service(), "default")
}

fn status_of(err: kube::Error) -> (u16, String) {
    match err {
        kube::Error::Api(s) => (s.code, s.reason.clone()),
        other => panic!("expected an API error, got {other:?}"),
    }
}

fn sng(name: &str, replicas: i64) -> Value {
    json!({"apiVersion": "autoscaling.karpenter.sh/v1alpha1", "kind": "ScalableNodeGroup",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"replicas": replicas, "type": "Fake", "id": name}})
}

async fn sng_api(client: kube::Client) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk("autoscaling.karpenter.sh", "v1alpha1", "ScalableNodeGroup");
    let (resource, caps) = kube::discovery::pinned_kind(&client, &gvk).await.unwrap();
    assert_eq!(resource.plural, "scalablenodegroups");
    assert_eq!(caps.scope, kube::discovery::Scope::Namespaced);
    Api::namespaced_with(client, "default", &resource)
}

#[tokio::test]
async fn typed_pods_create_get_list_patch_delete() {
    let api = FakeApi::new();
    let pods: Api<Pod> = Api::default_namespaced(client(&api));
    for i in 0..5 {
        let pod: Pod = serde_json::from_value(fixtures::pod(
            "default",
            &format!("web-{i}"),
            Some("n1"),
            &[("cpu", "1")],
            false,
        ))
        .unwrap();
        let created = pods.create(&PostParams::default(), &pod).await.unwrap();
        assert_eq!(
            created.metadata.resource_version.as_deref(),
            Some((i + 1).to_string().as_str())
        );
        assert!(created.metadata.uid.is_some());
    }
    let dup: Pod =
        serde_json::from_value(fixtures::pod("default", "web-0", None, &[], false)).unwrap();
    assert_eq!(
        status_of(pods.create(&PostParams::default(), &dup).await.unwrap_err()),
        (409, "AlreadyExists".into())
    );
    assert_eq!(
        status_of(pods.get("nope").await.unwrap_err()),
        (404, "NotFound".into())
    );

    // Paginated by two: 2 + 2 + 1, names in order.
    let mut names = Vec::new();
    let mut lp = ListParams::default().limit(2);
    let mut pages = 0;
    loop {
        let page = pods.list(&lp).await.unwrap();
        pages += 1;
        names.extend(page.items.iter().map(|p| p.metadata.name.clone().unwrap()));
        match page.metadata.continue_.filter(|c| !c.is_empty()) {
            Some(token) => lp = lp.continue_token(&token),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(names, ["web-0", "web-1", "web-2", "web-3", "web-4"]);

    let merge = json!({"metadata": {"labels": {"tier": "front"}}});
    let patched = pods
        .patch("web-1", &PatchParams::default(), &Patch::Merge(&merge))
        .await
        .unwrap();
    assert_eq!(patched.metadata.labels.unwrap()["tier"], "front");
    let apply = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web-2", "annotations": {"owner": "me"}}});
    let applied = pods
        .patch(
            "web-2",
            &PatchParams::apply("test").force(),
            &Patch::Apply(&apply),
        )
        .await
        .unwrap();
    assert_eq!(applied.metadata.annotations.unwrap()["owner"], "me");
    // Apply creates a missing object, as server-side apply does.
    let apply_new = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "solo"}, "spec": {"containers": [{"name": "c"}]}});
    pods.patch(
        "solo",
        &PatchParams::apply("test"),
        &Patch::Apply(&apply_new),
    )
    .await
    .unwrap();

    let selected = pods
        .list(&ListParams::default().labels("tier=front"))
        .await
        .unwrap();
    assert_eq!(selected.items.len(), 1);
    let by_name = pods
        .list(&ListParams::default().fields("metadata.name=web-3"))
        .await
        .unwrap();
    assert_eq!(by_name.items[0].metadata.name.as_deref(), Some("web-3"));

    pods.delete("web-0", &DeleteParams::default())
        .await
        .unwrap();
    assert!(api.get("pods", Some("default"), "web-0").is_none());
    assert_eq!(
        pods.list(&ListParams::default()).await.unwrap().items.len(),
        5
    );
}

#[tokio::test]
async fn stale_replace_is_a_conflict_and_status_is_kept_on_main_writes() {
    let api = FakeApi::new();
    api.upsert(
        "pods",
        fixtures::pod("default", "web-1", Some("n1"), &[("cpu", "1")], false),
    )
    .unwrap();
    let pods: Api<Pod> = Api::default_namespaced(client(&api));
    let mut stale = pods.get("web-1").await.unwrap();
    api.merge_patch(
        "pods",
        Some("default"),
        "web-1",
        &json!({"metadata": {"labels": {"x": "1"}}}),
    )
    .unwrap();
    stale.status.as_mut().unwrap().phase = Some("Failed".into());
    let (code, reason) = status_of(
        pods.replace("web-1", &PostParams::default(), &stale)
            .await
            .unwrap_err(),
    );
    assert_eq!((code, reason.as_str()), (409, "Conflict"));

    let mut fresh = pods.get("web-1").await.unwrap();
    fresh.status.as_mut().unwrap().phase = Some("Failed".into());
    let replaced = pods
        .replace("web-1", &PostParams::default(), &fresh)
        .await
        .unwrap();
    assert_eq!(
        replaced.status.unwrap().phase.as_deref(),
        Some("Running"),
        "a main write ignores .status"
    );
    fresh.metadata.resource_version = replaced.metadata.resource_version;
    let status = pods
        .replace_status("web-1", &PostParams::default(), &fresh)
        .await
        .unwrap();
    assert_eq!(status.status.unwrap().phase.as_deref(), Some("Failed"));
}

#[tokio::test]
async fn scalable_node_group_status_and_scale_subresources() {
    let api = FakeApi::new();
    api.upsert("scalablenodegroups", sng("g1", 2)).unwrap();
    let groups = sng_api(client(&api)).await;

    let scale = groups.get_scale("g1").await.unwrap();
    assert_eq!(scale.spec.unwrap().replicas, Some(2));
    let patch = json!({"spec": {"replicas": 5}});
    let scaled = groups
        .patch_scale("g1", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    assert_eq!(scaled.spec.unwrap().replicas, Some(5));
    assert_eq!(
        api.get("scalablenodegroups", Some("default"), "g1")
            .unwrap()["spec"]["replicas"],
        5
    );

    let status = json!({"status": {"replicas": 4, "selector": "karpenter.sh/node-group=g1"}});
    let patched = groups
        .patch_status("g1", &PatchParams::default(), &Patch::Merge(&status))
        .await
        .unwrap();
    assert_eq!(patched.data["status"]["replicas"], 4);
    let mut scale = groups.get_scale("g1").await.unwrap();
    let s = scale.status.clone().unwrap();
    assert_eq!(
        (s.replicas, s.selector.as_deref()),
        (4, Some("karpenter.sh/node-group=g1"))
    );

    // A spec patch carrying status leaves the status alone; a status patch
    // carrying spec leaves the spec alone.
    let both = json!({"spec": {"replicas": 6}, "status": {"replicas": 0}});
    let after = groups
        .patch("g1", &PatchParams::default(), &Patch::Merge(&both))
        .await
        .unwrap();
    assert_eq!(
        (
            after.data["spec"]["replicas"].as_i64(),
            after.data["status"]["replicas"].as_i64()
        ),
        (Some(6), Some(4))
    );
    let after = groups
        .patch_status(
            "g1",
            &PatchParams::default(),
            &Patch::Merge(&json!({"spec": {"replicas": 1}})),
        )
        .await
        .unwrap();
    assert_eq!(after.data["spec"]["replicas"], 6);
    // Created 1; the scale write and the spec patch changed the spec; the
    // status patches did not.
    assert_eq!(
        after.metadata.generation,
        Some(3),
        "generation counts spec changes only"
    );

    // A replace of the scale with a stale resourceVersion conflicts.
    scale.spec.as_mut().unwrap().replicas = Some(9);
    assert_eq!(
        status_of(
            groups
                .replace_scale("g1", &PostParams::default(), &scale)
                .await
                .unwrap_err()
        )
        .0,
        409
    );

    // Kinds without a scale subresource: 404.
    let producers: Api<DynamicObject> = Api::namespaced_with(
        client(&api),
        "default",
        &kube::discovery::ApiResource::from_gvk(&GroupVersionKind::gvk(
            "autoscaling.karpenter.sh",
            "v1alpha1",
            "MetricsProducer",
        )),
    );
    assert_eq!(
        status_of(producers.get_scale("g1").await.unwrap_err()).0,
        404
    );
}

#[tokio::test]
async fn deployment_scale_reports_the_match_labels_selector() {
    let api = FakeApi::new();
    api.upsert("deployments", json!({"metadata": {"name": "web", "namespace": "default"},
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}}}, "status": {"replicas": 2}}))
        .unwrap();
    let deployments: Api<Deployment> = Api::default_namespaced(client(&api));
    let scale = deployments.get_scale("web").await.unwrap();
    assert_eq!(scale.status.unwrap().selector.as_deref(), Some("app=web"));
    let patch = json!({"spec": {"replicas": 7}});
    deployments
        .patch_scale("web", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    assert_eq!(
        deployments.get("web").await.unwrap().spec.unwrap().replicas,
        Some(7)
    );
}

#[tokio::test]
async fn watcher_sees_the_list_then_changes_and_relists_after_410() {
    let api = FakeApi::new();
    api.upsert(
        "pods",
        fixtures::pod("default", "a-1", Some("n1"), &[], false),
    )
    .unwrap();
    let pods: Api<Pod> = Api::default_namespaced(client(&api));
    let mut events = watcher(pods, watcher::Config::default()).boxed();
    let mut next = async || {
        tokio::time::timeout(Duration::from_secs(5), events.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap()
    };
    let name = |p: &Pod| p.metadata.name.clone().unwrap();
    assert!(matches!(next().await, watcher::Event::Init));
    assert!(matches!(next().await, watcher::Event::InitApply(p) if name(&p) == "a-1"));
    assert!(matches!(next().await, watcher::Event::InitDone));

    api.upsert("pods", fixtures::pod("default", "a-2", None, &[], true))
        .unwrap();
    assert!(matches!(next().await, watcher::Event::Apply(p) if name(&p) == "a-2"));
    api.merge_patch(
        "pods",
        Some("default"),
        "a-1",
        &json!({"metadata": {"labels": {"x": "y"}}}),
    )
    .unwrap();
    assert!(
        matches!(next().await, watcher::Event::Apply(p) if p.metadata.labels.as_ref().unwrap()["x"] == "y")
    );
    api.delete("pods", Some("default"), "a-2");
    assert!(matches!(next().await, watcher::Event::Delete(p) if name(&p) == "a-2"));

    // The server expires the watch with 410 Gone: the watcher reports the
    // error and lists again.
    api.expire_watches();
    loop {
        match tokio::time::timeout(Duration::from_secs(5), events.next())
            .await
            .unwrap()
            .unwrap()
        {
            Err(_) => continue,
            Ok(watcher::Event::Init) => break,
            Ok(other) => panic!("expected a relist, got {other:?}"),
        }
    }
    let mut next = async || {
        tokio::time::timeout(Duration::from_secs(5), events.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap()
    };
    assert!(matches!(next().await, watcher::Event::InitApply(p) if name(&p) == "a-1"));
    assert!(matches!(next().await, watcher::Event::InitDone));
    let lists = api
        .requests()
        .iter()
        .filter(|r| r.verb == Some(Verb::List) && r.resource.as_deref() == Some("pods"))
        .count();
    assert_eq!(lists, 2);
}

#[tokio::test]
async fn streaming_list_watcher_gets_initial_events_then_changes() {
    let api = FakeApi::new();
    api.upsert(
        "pods",
        fixtures::pod("default", "a-1", Some("n1"), &[], false),
    )
    .unwrap();
    let pods: Api<Pod> = Api::default_namespaced(client(&api));
    let mut events = watcher(pods, watcher::Config::default().streaming_lists()).boxed();
    let mut next = async || {
        tokio::time::timeout(Duration::from_secs(5), events.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap()
    };
    assert!(matches!(next().await, watcher::Event::Init));
    assert!(
        matches!(next().await, watcher::Event::InitApply(p) if p.metadata.name.as_deref() == Some("a-1"))
    );
    assert!(matches!(next().await, watcher::Event::InitDone));
    api.upsert("pods", fixtures::pod("default", "a-2", None, &[], true))
        .unwrap();
    assert!(
        matches!(next().await, watcher::Event::Apply(p) if p.metadata.name.as_deref() == Some("a-2"))
    );
    assert!(api.requests().iter().all(|r| r.verb == Some(Verb::Watch)));
}

#[tokio::test]
async fn watch_from_a_compacted_resource_version_is_gone() {
    let api = FakeApi::with_history(2);
    for i in 0..4 {
        api.upsert(
            "pods",
            fixtures::pod("default", &format!("p{i}"), None, &[], false),
        )
        .unwrap();
    }
    let c = client(&api);
    let watch = |rv: &str| {
        let req = hyper::Request::get(format!(
            "/api/v1/namespaces/default/pods?watch=true&resourceVersion={rv}&timeoutSeconds=1"
        ))
        .body(Vec::new())
        .unwrap();
        let c = c.clone();
        async move { c.request_text(req).await.unwrap() }
    };
    let gone: Value = serde_json::from_str(watch("1").await.lines().next().unwrap()).unwrap();
    assert_eq!(
        (
            gone["type"].as_str(),
            gone["object"]["code"].as_i64(),
            gone["object"]["reason"].as_str()
        ),
        (Some("ERROR"), Some(410), Some("Expired"))
    );
    // From rv 2 the history (rv 3 and 4) is complete.
    let text = watch("2").await;
    let events: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let names: Vec<_> = events
        .iter()
        .map(|e| {
            (
                e["type"].as_str().unwrap(),
                e["object"]["metadata"]["name"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(names, [("ADDED", "p2"), ("ADDED", "p3")]);
}

#[tokio::test]
async fn faults_fail_the_matching_requests_only() {
    let api = FakeApi::new();
    api.upsert("scalablenodegroups", sng("g1", 1)).unwrap();
    let groups = sng_api(client(&api)).await;
    api.inject(
        Fault::new(409, "Conflict")
            .verb(Verb::Patch)
            .resource("scalablenodegroups")
            .subresource("status")
            .times(2),
    );
    let status = Patch::Merge(json!({"status": {"replicas": 1}}));
    assert_eq!(
        status_of(
            groups
                .patch_status("g1", &PatchParams::default(), &status)
                .await
                .unwrap_err()
        ),
        (409, "Conflict".into())
    );
    // Another verb and the main resource are untouched by the fault.
    groups.get("g1").await.unwrap();
    groups
        .patch(
            "g1",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 2}})),
        )
        .await
        .unwrap();
    assert_eq!(
        status_of(
            groups
                .patch_status("g1", &PatchParams::default(), &status)
                .await
                .unwrap_err()
        )
        .0,
        409
    );
    groups
        .patch_status("g1", &PatchParams::default(), &status)
        .await
        .unwrap();

    api.inject(Fault::new(429, "TooManyRequests"));
    assert_eq!(
        status_of(groups.get("g1").await.unwrap_err()),
        (429, "TooManyRequests".into())
    );

    api.set_latency(Some(Duration::from_millis(30)));
    let started = std::time::Instant::now();
    groups.get("g1").await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(30));
}

#[tokio::test]
async fn the_request_log_names_verb_resource_subresource_and_body() {
    let api = FakeApi::new();
    api.upsert("scalablenodegroups", sng("g1", 1)).unwrap();
    let groups = sng_api(client(&api)).await;
    api.take_requests();
    api.reset_counts();
    groups
        .patch_status(
            "g1",
            &PatchParams::apply("karpenter").force(),
            &Patch::Apply(json!({"status": {"replicas": 3}})),
        )
        .await
        .unwrap();
    groups.list(&ListParams::default()).await.unwrap();
    let log = api.take_requests();
    assert_eq!(log.len(), 2);
    let r = &log[0];
    assert_eq!(
        (
            r.method.as_str(),
            r.verb,
            r.group.as_deref(),
            r.resource.as_deref(),
            r.subresource.as_deref(),
            r.namespace.as_deref(),
            r.name.as_deref()
        ),
        (
            "PATCH",
            Some(Verb::Patch),
            Some("autoscaling.karpenter.sh"),
            Some("scalablenodegroups"),
            Some("status"),
            Some("default"),
            Some("g1")
        )
    );
    assert_eq!(
        r.content_type.as_deref(),
        Some("application/apply-patch+yaml")
    );
    assert_eq!(r.body, Some(json!({"status": {"replicas": 3}})));
    assert!(
        r.query.contains("fieldManager=karpenter") && r.query.contains("force=true"),
        "{}",
        r.query
    );
    assert_eq!(r.status, 200);
    assert_eq!(log[1].verb, Some(Verb::List));
    assert!(api.requests().is_empty());
    let counts = api.request_counts();
    assert_eq!(
        (
            counts["patch scalablenodegroups/status"],
            counts["list scalablenodegroups"]
        ),
        (1, 1)
    );
}

#[tokio::test]
async fn discovery_lists_kinds_and_subresources() {
    let api = FakeApi::new();
    let c = client(&api);
    let core = c.list_core_api_resources("v1").await.unwrap();
    let names: Vec<_> = core.resources.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(
        names,
        ["pods", "pods/status", "nodes", "nodes/status", "events"]
    );
    let groups = c.list_api_groups().await.unwrap();
    assert!(
        groups
            .groups
            .iter()
            .any(|g| g.name == "autoscaling.karpenter.sh")
    );
    let karpenter = c
        .list_api_group_resources("autoscaling.karpenter.sh/v1alpha1")
        .await
        .unwrap();
    let scale = karpenter
        .resources
        .iter()
        .find(|r| r.name == "scalablenodegroups/scale")
        .unwrap();
    assert_eq!(
        (scale.kind.as_str(), scale.group.as_deref()),
        ("Scale", Some("autoscaling"))
    );
    assert_eq!(c.apiserver_version().await.unwrap().major, "1");
}

#[tokio::test]
async fn serves_http_with_a_kubeconfig() {
    let api = FakeApi::new();
    fixtures::cluster(2, 3, 1).load_into(&api).unwrap();
    let server = api.serve_on_free_port().await.unwrap();
    assert!(server.addr().ip().is_loopback());
    let kubeconfig = kube::config::Kubeconfig::from_yaml(&server.kubeconfig()).unwrap();
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
        .await
        .unwrap();
    let client = kube::Client::try_from(config).unwrap();
    let pods: Api<Pod> = Api::all(client.clone());
    assert_eq!(
        pods.list(&ListParams::default()).await.unwrap().items.len(),
        3
    );

    let nodes: Api<k8s_openapi::api::core::v1::Node> = Api::all(client);
    let mut events = watcher(nodes, watcher::Config::default()).boxed();
    let mut applied = 0;
    while applied < 3 {
        match tokio::time::timeout(Duration::from_secs(5), events.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap()
        {
            watcher::Event::InitApply(_) | watcher::Event::Apply(_) => {
                applied += 1;
                if applied == 2 {
                    api.upsert(
                        "nodes",
                        fixtures::node("node-new", "2", "8Gi", 58, &[], true, None),
                    )
                    .unwrap();
                }
            }
            _ => {}
        }
    }
    assert!(api.get("nodes", None, "node-new").is_some());
    server.shutdown().await;
}

#[tokio::test]
async fn the_cli_serves_a_generated_cluster_and_writes_a_kubeconfig() {
    use clap::Parser;
    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: karpenter_k8s::fake_api::FakeApiArgs,
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kubeconfig");
    let cli = Cli::try_parse_from([
        "fake-apiserver",
        "--nodes",
        "8",
        "--pods",
        "20",
        "--pending-pods",
        "3",
        "--seed",
        "4",
        "--kubeconfig-out",
        path.to_str().unwrap(),
    ])
    .unwrap();
    assert_eq!(cli.args.port, 0);
    let server = tokio::spawn(karpenter_k8s::fake_api::run_cli(cli.args));
    let mut text = String::new();
    for _ in 0..500 {
        if let Ok(t) = tokio::fs::read_to_string(&path).await {
            text = t;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let config = kube::Config::from_custom_kubeconfig(
        kube::config::Kubeconfig::from_yaml(&text).unwrap(),
        &Default::default(),
    )
    .await
    .unwrap();
    assert!(
        config
            .cluster_url
            .to_string()
            .starts_with("http://127.0.0.1:")
    );
    let client = kube::Client::try_from(config).unwrap();
    let pods: Api<Pod> = Api::all(client.clone());
    let all = pods.list(&ListParams::default()).await.unwrap();
    assert_eq!(all.items.len(), 23);
    let pending = all
        .items
        .iter()
        .filter(|p| p.status.as_ref().unwrap().phase.as_deref() == Some("Pending"))
        .count();
    assert_eq!(pending, 3);
    let nodes: Api<k8s_openapi::api::core::v1::Node> = Api::all(client);
    let group_1 = nodes
        .list(&ListParams::default().labels("karpenter.sh/node-group=group-1"))
        .await
        .unwrap();
    assert_eq!(group_1.items.len(), 2);
    server.abort();
}
