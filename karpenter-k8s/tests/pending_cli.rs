//! `karpenter pending` end to end: a kubectl List and the groups' manifests
//! in, the assignment and the reasons out (text and `--json`), and exit code
//! 2 with the object and field named for bad input.

// Test helpers outside #[test] fns may unwrap: a failure there is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::{karpenter, stderr};

const SNAPSHOT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/pending-snapshot.json"
);
const GROUPS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/pending-groups.yaml"
);

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).to_string()
}

/// Writes `text` to a fresh temporary file and returns its path.
fn temp(name: &str, text: &str) -> String {
    let dir = std::env::temp_dir().join(format!("karpenter-pending-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

const ONE_GROUP: &str = "
kind: MetricsProducer
metadata: {name: web-pending}
spec: {pendingCapacity: {nodeSelector: {group: web}}}
";

/// A List with one Ready `group: web` node of 4 cpu / 16Gi and `items`.
fn list(items: &str) -> String {
    format!(
        r#"{{"apiVersion": "v1", "kind": "List", "items": [
  {{"kind": "Node", "metadata": {{"name": "web-1", "labels": {{"group": "web"}}}},
   "status": {{"allocatable": {{"cpu": "4", "memory": "16Gi", "pods": "110"}},
              "conditions": [{{"type": "Ready", "status": "True"}}]}}}}{}{items}
]}}"#,
        if items.is_empty() { "" } else { ",\n" }
    )
}

fn pending_pod(name: &str, requests: &str) -> String {
    format!(
        r#"{{"kind": "Pod", "metadata": {{"name": "{name}", "namespace": "default"}},
   "spec": {{"containers": [{{"name": "app", "resources": {{"requests": {requests}}}}}]}},
   "status": {{"phase": "Pending", "conditions": [{{"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}}]}}}}"#
    )
}

#[test]
fn the_fixture_cluster_is_explained_in_text() {
    let out = karpenter(&["pending", SNAPSHOT, "-f", GROUPS], "");
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    for want in [
        "Snapshot: 4 nodes, 10 pods (7 pending unschedulable), 2 DaemonSets",
        "  default/general-pending (ScalableNodeGroup general)\n    template:  node ip-10-0-1-10\n    new node:  cpu 3820m, memory 15232Mi, pods 109 for pods (after 1 DaemonSet(s))\n    nodes:     2 registered + 1 upcoming + 0 new = 3 desired\n    pods:      3 (3 on upcoming nodes)\n",
        "    template:  provider (ScalableNodeGroup gpu)\n    new node:  cpu 7760m, memory 30528Mi, pods 56 for pods (after 2 DaemonSet(s))\n    nodes:     0 registered + 0 upcoming + 1 new = 1 desired\n",
        "  ml/train-0           -> default/gpu-pending, new node 1\n",
        "  default/db-0         -> default/general-pending, upcoming node 1 (not evaluated: required pod anti-affinity, volume zones (PersistentVolumeClaims))\n",
        "Pods that fit no node group (2), first failed predicate per group:\n",
        "  default/giant-0 (cpu 16, memory 128Gi):\n    default/general-pending: cpu 16 > allocatable 3820m\n    default/gpu-pending: taint nvidia.com/gpu:NoSchedule not tolerated\n    default/highmem-pending: cpu 16 > allocatable 7820m\n",
        "    default/highmem-pending: affinity topology.kubernetes.io/zone In [us-east-1c] not matched (node has topology.kubernetes.io/zone=us-east-1b)\n",
    ] {
        assert!(text.contains(want), "missing:\n{want}\nin:\n{text}");
    }
}

#[test]
fn json_has_the_documented_fields() {
    let out = karpenter(&["pending", SNAPSHOT, "-f", GROUPS, "--json"], "");
    assert!(out.status.success(), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        json["snapshot"],
        serde_json::json!({"nodes": 4, "pods": 10, "pendingPods": 7, "daemonSets": 2})
    );
    assert_eq!(json["unfitPods"], 2);
    let groups = json["groups"].as_array().unwrap();
    let names: Vec<&str> = groups
        .iter()
        .map(|g| g["producer"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "default/general-pending",
            "default/gpu-pending",
            "default/highmem-pending"
        ]
    );
    assert_eq!(
        groups[1],
        serde_json::json!({
            "producer": "default/gpu-pending",
            "scalableNodeGroup": "gpu",
            "template": {"source": "provider", "name": "gpu", "reason": null},
            "allocatable": {"cpu": "7760m", "memory": "30528Mi", "pods": 56},
            "daemonSets": 2,
            "registeredNodes": 0,
            "upcomingNodes": 0,
            "newNodes": 1,
            "desiredNodes": 1,
            "pods": 1,
            "podsOnUpcomingNodes": 0,
            "waste": groups[1]["waste"].clone(),
            "messages": []
        })
    );
    // 6 of 7.76 cpu (77%), 24Gi of 30528Mi memory (80.5%): memory is the
    // dominant resource.
    let waste = groups[1]["waste"].as_f64().unwrap();
    assert!(
        (waste - (1.0 - 24_576.0 / 30_528.0)).abs() < 1e-12,
        "{waste}"
    );
    let pods = json["pods"].as_array().unwrap();
    let pod = |name: &str| pods.iter().find(|p| p["pod"] == name).unwrap().clone();
    assert_eq!(
        pod("default/web-2"),
        serde_json::json!({
            "pod": "default/web-2",
            "requests": {"cpu": "1", "memory": "2Gi", "pods": 1},
            "producer": "default/general-pending",
            "node": {"kind": "upcoming", "index": 0},
            "unevaluatedConstraints": [],
            "reasons": []
        })
    );
    let giant = pod("default/giant-0");
    assert_eq!(giant["producer"], serde_json::Value::Null);
    assert_eq!(
        giant["reasons"][1],
        serde_json::json!({"producer": "default/gpu-pending", "reason": "taint nvidia.com/gpu:NoSchedule not tolerated"})
    );
}

#[test]
fn yaml_and_stdin_give_the_same_answer_as_json() {
    let json_text = std::fs::read_to_string(SNAPSHOT).unwrap();
    let value: serde_json::Value = serde_json::from_str(&json_text).unwrap();
    let yaml = serde_saphyr::to_string(&value).unwrap();
    let from_json = karpenter(&["pending", SNAPSHOT, "-f", GROUPS, "--json"], "");
    let from_yaml = karpenter(&["pending", "-", "-f", GROUPS, "--json"], &yaml);
    assert!(from_yaml.status.success(), "{}", stderr(&from_yaml));
    assert_eq!(stdout(&from_json), stdout(&from_yaml));
}

#[test]
fn a_snapshot_that_is_not_a_list_is_rejected() {
    let groups = temp("one-group.yaml", ONE_GROUP);
    let cases = [
        (
            r#"{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web-0"}, "spec": {}}"#,
            "the snapshot is a Pod, not a List: give the output of `kubectl get nodes,pods,daemonsets -A -o json`",
        ),
        (
            r#"[{"kind": "Node"}]"#,
            "the snapshot is an object without kind and items, not a List",
        ),
        ("just text", "not a List"),
        ("  \n", "the snapshot is empty"),
        (
            r#"{"kind": "List", "items": [{"kind": "Node", "metadata": "oops"}]}"#,
            "items[0].metadata: invalid type: string \"oops\"",
        ),
        (r#"{"kind": "List", "items": [}"#, "(line 1, column 28)"),
    ];
    for (input, want) in cases {
        let out = karpenter(&["pending", "-", "-f", &groups], input);
        assert_eq!(out.status.code(), Some(2), "{input}");
        let err = stderr(&out);
        assert!(err.contains(want), "{input}:\n{err}");
        assert!(
            err.starts_with("error: invalid input for karpenter pending:"),
            "{err}"
        );
    }
}

#[test]
fn bad_fields_name_the_object_and_the_field() {
    let groups = temp("one-group-2.yaml", ONE_GROUP);
    let mut bad_toleration = pending_pod("tol", r#"{"cpu": "1"}"#);
    bad_toleration = bad_toleration.replace(
        r#""containers""#,
        r#""tolerations": [{"key": "k", "operator": "Exsts"}], "containers""#,
    );
    let cases = [
        (
            pending_pod("web-0", r#"{"cpu": "500m", "memory": "12 apples"}"#),
            "items[1] Pod default/web-0: spec.containers[0].resources.requests.memory: \"12 apples\" is not a quantity",
        ),
        (
            bad_toleration,
            "items[1] Pod default/tol: spec.tolerations[0].operator: \"Exsts\" is not a toleration operator; use Exists or Equal",
        ),
        (
            r#"{"kind": "Node", "metadata": {"name": "n2"}, "spec": {"taints": [{"key": "a", "effect": "NoScheduled"}]},
                "status": {"allocatable": {"cpu": "four"}}}"#
                .to_string(),
            "items[1] Node n2: status.allocatable.cpu: \"four\" is not a quantity",
        ),
        (
            r#"{"kind": "DaemonSet", "metadata": {"name": "agent", "namespace": "kube-system"},
                "spec": {"template": {"spec": {"containers": [{"name": "a", "resources": {"requests": {"cpu": "1x"}}}]}}}}"#
                .to_string(),
            "items[1] DaemonSet kube-system/agent: spec.template.spec.containers[0].resources.requests.cpu: \"1x\" is not a quantity",
        ),
    ];
    for (item, want) in cases {
        let out = karpenter(&["pending", "-", "-f", &groups], &list(&item));
        assert_eq!(out.status.code(), Some(2), "{item}");
        let err = stderr(&out);
        assert!(err.contains(want), "{item}:\n{err}");
    }
    // The bad taint effect of n2 is listed too.
    let node = r#"{"kind": "Node", "metadata": {"name": "n2"}, "spec": {"taints": [{"key": "a", "effect": "NoScheduled"}]}}"#;
    let err = stderr(&karpenter(&["pending", "-", "-f", &groups], &list(node)));
    assert!(
        err.contains(
            "items[1] Node n2: spec.taints[0].effect: \"NoScheduled\" is not a taint effect"
        ),
        "{err}"
    );
}

#[test]
fn many_bad_objects_are_counted_and_the_first_listed() {
    let groups = temp("one-group-3.yaml", ONE_GROUP);
    let items: Vec<String> = (0..25)
        .map(|i| pending_pod(&format!("p{i}"), r#"{"cpu": "lots"}"#))
        .collect();
    let out = karpenter(&["pending", "-", "-f", &groups], &list(&items.join(",\n")));
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("items[20] Pod default/p19:"), "{err}");
    assert!(!err.contains("default/p20:"), "{err}");
    assert!(err.contains("... and 5 more"), "{err}");
}

#[test]
fn running_pods_are_counted_not_read() {
    // A running pod's bad quantity is not read: only pending pods matter.
    let groups = temp("one-group-4.yaml", ONE_GROUP);
    let running = r#"{"kind": "Pod", "metadata": {"name": "r", "namespace": "default"},
        "spec": {"nodeName": "web-1", "containers": [{"resources": {"requests": {"cpu": "bad"}}}]},
        "status": {"phase": "Running"}}"#;
    let item = format!(
        "{running},\n{}",
        pending_pod("p", r#"{"cpu": 1.5, "memory": 1073741824}"#)
    );
    let out = karpenter(&["pending", "-", "-f", &groups, "--json"], &list(&item));
    assert!(out.status.success(), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["snapshot"]["pods"], 2);
    assert_eq!(json["snapshot"]["pendingPods"], 1);
    // Numbers are quantities too: 1.5 cpu, 1Gi.
    assert_eq!(
        json["pods"][0]["requests"],
        serde_json::json!({"cpu": "1500m", "memory": "1Gi", "pods": 1})
    );
    assert_eq!(json["groups"][0]["newNodes"], 1);
}

#[test]
fn bad_manifests_are_rejected_with_the_field() {
    let snapshot = temp("snap.json", &list(""));
    let cases = [
        (
            "kind: MetricsProducer\nmetadata: {name: a}\nspec: {pendingCapacity: {nodeSelector: {}, scalableNodeGroupRf: {name: a}}}\n",
            "`spec.pendingCapacity.scalableNodeGroupRf`: unknown field, did you mean `scalableNodeGroupRef`?",
        ),
        (
            "kind: NodeTemplate\nmetadata: {name: gpu}\nallocatable: {cpu: 8, memory: 32Gi}\ntaints: [{key: a, effect: NoSchedul}]\n",
            "did you mean `NoSchedule`?",
        ),
        (
            "kind: NodeTemplate\nmetadata: {name: gpu}\nallocatable: {cpu: 8, memory: lots}\n",
            "allocatable.memory",
        ),
        (
            "kind: NodeTemplate\nallocatable: {cpu: -1, memory: 1Gi}\n",
            "metadata.name: must be set to the name of the ScalableNodeGroup",
        ),
        (
            "kind: MetricsProducer\nmetadata: {name: a}\nspec: {queue: {type: AWSSQSQueue, id: q}}\n",
            "the manifests have no MetricsProducer with spec.pendingCapacity",
        ),
        (
            "kind: MetricsProducer\nmetadata: {name: a}\nspec: {pendingCapacity: {scalableNodeGroupRef: {name: Bad_Name}}}\n",
            "spec.pendingCapacity.scalableNodeGroupRef.name: must be the name of a ScalableNodeGroup",
        ),
    ];
    for (i, (manifest, want)) in cases.iter().enumerate() {
        let file = temp(&format!("bad-{i}.yaml"), manifest);
        let out = karpenter(&["pending", &snapshot, "-f", &file], "");
        assert_eq!(out.status.code(), Some(2), "{manifest}");
        let err = stderr(&out);
        assert!(err.contains(want), "{manifest}:\n{err}");
    }
    let out = karpenter(
        &["pending", &snapshot, "-f", "/nonexistent/groups.yaml"],
        "",
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("cannot read /nonexistent/groups.yaml"));
    let out = karpenter(&["pending", "/nonexistent/snap.json", "-f", GROUPS], "");
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("cannot read /nonexistent/snap.json"));
}

#[test]
fn a_list_of_manifests_is_read_too() {
    let snapshot = temp("snap-2.json", &list(&pending_pod("p", r#"{"cpu": "1"}"#)));
    let groups = temp(
        "groups-list.yaml",
        "apiVersion: v1\nkind: List\nitems:\n- kind: MetricsProducer\n  metadata: {name: web-pending}\n  spec: {pendingCapacity: {nodeSelector: {group: web}, scalableNodeGroupRef: {name: web}}}\n- kind: ScalableNodeGroup\n  metadata: {name: web}\n  spec: {type: AWSEC2AutoScalingGroup, id: web, replicas: 2}\n",
    );
    let out = karpenter(&["pending", &snapshot, "-f", &groups, "--json"], "");
    assert!(out.status.success(), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // Desired 2 from spec.replicas, 1 registered: the pod goes on the upcoming node.
    assert_eq!(json["groups"][0]["upcomingNodes"], 1);
    assert_eq!(json["groups"][0]["podsOnUpcomingNodes"], 1);
    assert_eq!(json["groups"][0]["desiredNodes"], 2);
}
