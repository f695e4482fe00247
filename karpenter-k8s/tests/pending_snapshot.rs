//! `pending::snapshot::read_list`: what is read from each kind of object,
//! against hand-written kubectl output.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on purpose.

use std::collections::BTreeMap;

use karpenter_core::cluster::{
    NodeSelectorOperator, Resources, TaintEffect, Toleration, UnevaluatedConstraints,
};
use karpenter_k8s::pending::snapshot::{SnapshotError, read_list};

const GIB: i64 = 1 << 30;
const MIB: i64 = 1 << 20;

fn read(json: &str) -> karpenter_k8s::pending::snapshot::ListSnapshot {
    read_list(json.as_bytes()).unwrap()
}

const PENDING: &str = r#""status": {"phase": "Pending", "conditions": [
    {"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}]}"#;

#[test]
fn nodes_keep_labels_allocatable_taints_readiness_and_cordon() {
    let list = read(
        r#"{"kind": "List", "items": [
      {"kind": "Node", "metadata": {"name": "n1", "labels": {"zone": "a"}, "annotations": {"x": "y"}},
       "spec": {"unschedulable": true, "taints": [
          {"key": "dedicated", "value": "gpu", "effect": "NoSchedule"},
          {"key": "spot", "effect": "PreferNoSchedule", "timeAdded": null}]},
       "status": {"allocatable": {"cpu": "3920m", "memory": "15Gi", "pods": "58", "ephemeral-storage": "95Gi"},
                  "conditions": [{"type": "Ready", "status": "False"}]}},
      {"kind": "Node", "metadata": {"name": "n2", "labels": null},
       "status": {"allocatable": {"cpu": 2, "memory": "1000000000"},
                  "conditions": [{"type": "DiskPressure", "status": "True"}, {"type": "Ready", "status": "True"}]}}
    ]}"#,
    );
    let [n1, n2] = &list.snapshot.nodes[..] else {
        panic!("{list:?}")
    };
    assert_eq!(n1.labels, BTreeMap::from([("zone".into(), "a".into())]));
    assert_eq!(n1.allocatable, Resources::new(3_920, 15 * GIB, 58));
    assert_eq!(n1.taints.len(), 2);
    assert_eq!(n1.taints[0].to_string(), "dedicated=gpu:NoSchedule");
    assert_eq!(n1.taints[1].effect, TaintEffect::PreferNoSchedule);
    assert!(!n1.ready && n1.unschedulable);
    assert!(n2.labels.is_empty());
    // No pods entry: 0 slots. Plain bytes stay bytes.
    assert_eq!(n2.allocatable, Resources::new(2_000, 1_000_000_000, 0));
    assert!(n2.ready && !n2.unschedulable);
}

#[test]
fn pending_pods_get_their_effective_request_and_constraints() {
    let list = read(&format!(
        r#"{{"kind": "List", "items": [
      {{"kind": "Pod", "metadata": {{"name": "web-0", "namespace": "shop"}},
        "spec": {{
          "initContainers": [
            {{"name": "proxy", "restartPolicy": "Always", "resources": {{"requests": {{"cpu": "100m", "memory": "128Mi"}}}}}},
            {{"name": "migrate", "resources": {{"requests": {{"cpu": "2", "memory": "64Mi"}}}}}}
          ],
          "containers": [
            {{"name": "app", "resources": {{"requests": {{"cpu": "500m", "memory": "1Gi"}}, "limits": {{"cpu": "1"}}}}}},
            {{"name": "log", "resources": {{}}}}
          ],
          "overhead": {{"cpu": "10m", "memory": "1Mi"}},
          "nodeSelector": {{"disk": "ssd"}},
          "tolerations": [
            {{"key": "dedicated", "operator": "Equal", "value": "web", "effect": "NoSchedule"}},
            {{"operator": "Exists"}},
            {{"key": "spot", "value": "yes"}}
          ],
          "affinity": {{
            "nodeAffinity": {{
              "requiredDuringSchedulingIgnoredDuringExecution": {{"nodeSelectorTerms": [
                {{"matchExpressions": [{{"key": "zone", "operator": "In", "values": ["a", "b"]}},
                                       {{"key": "cpus", "operator": "Gt", "values": ["4"]}}]}},
                {{"matchFields": [{{"key": "metadata.name", "operator": "NotIn", "values": ["n9"]}}]}}
              ]}},
              "preferredDuringSchedulingIgnoredDuringExecution": [{{"weight": 1, "preference": {{}}}}]
            }},
            "podAntiAffinity": {{"preferredDuringSchedulingIgnoredDuringExecution": []}}
          }},
          "topologySpreadConstraints": [{{"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "ScheduleAnyway"}}]
        }},
        {PENDING}}}
    ]}}"#
    ));
    let pod = &list.snapshot.pods[0];
    assert_eq!(
        (pod.namespace.as_str(), pod.name.as_str()),
        ("shop", "web-0")
    );
    // Running together: app 500m + proxy 100m = 600m; the migrate init
    // container runs with the proxy: 2000m + 100m = 2100m, the larger.
    // Memory: 1Gi + 128Mi against 64Mi + 128Mi. Plus the overhead.
    assert_eq!(
        pod.requests,
        Resources::new(2_110, GIB + 128 * MIB + MIB, 1)
    );
    assert_eq!(
        pod.node_selector,
        BTreeMap::from([("disk".into(), "ssd".into())])
    );
    assert_eq!(
        pod.tolerations,
        vec![
            Toleration {
                key: Some("dedicated".into()),
                exists: false,
                value: "web".into(),
                effect: Some(TaintEffect::NoSchedule)
            },
            Toleration {
                key: None,
                exists: true,
                value: String::new(),
                effect: None
            },
            Toleration {
                key: Some("spot".into()),
                exists: false,
                value: "yes".into(),
                effect: None
            },
        ]
    );
    let affinity = pod.required_node_affinity.as_ref().unwrap();
    assert_eq!(affinity.terms.len(), 2);
    assert_eq!(
        affinity.terms[0].match_expressions[1].operator,
        NodeSelectorOperator::Gt
    );
    assert_eq!(affinity.terms[1].match_fields[0].key, "metadata.name");
    // Preferred terms and ScheduleAnyway spreads are not constraints.
    assert_eq!(pod.unevaluated, UnevaluatedConstraints::default());
}

#[test]
fn unevaluated_constraints_are_recorded() {
    let pod = |spec: &str| {
        let list = read(&format!(
            r#"{{"kind": "List", "items": [{{"kind": "Pod", "metadata": {{"name": "p"}}, "spec": {spec}, {PENDING}}}]}}"#
        ));
        list.snapshot.pods[0].unevaluated
    };
    let cases = [
        (
            r#"{"affinity": {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [{"topologyKey": "zone"}]}}}"#,
            UnevaluatedConstraints {
                pod_affinity: true,
                ..Default::default()
            },
        ),
        (
            r#"{"affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [{"topologyKey": "kubernetes.io/hostname"}]}}}"#,
            UnevaluatedConstraints {
                pod_anti_affinity: true,
                ..Default::default()
            },
        ),
        // DoNotSchedule is the default.
        (
            r#"{"topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "zone"}]}"#,
            UnevaluatedConstraints {
                topology_spread: true,
                ..Default::default()
            },
        ),
        (
            r#"{"volumes": [{"name": "tmp", "emptyDir": {}}, {"name": "data", "persistentVolumeClaim": {"claimName": "d"}}]}"#,
            UnevaluatedConstraints {
                volumes: true,
                ..Default::default()
            },
        ),
        (
            r#"{"volumes": [{"name": "tmp", "emptyDir": {}}]}"#,
            UnevaluatedConstraints::default(),
        ),
    ];
    for (spec, want) in cases {
        assert_eq!(pod(spec), want, "{spec}");
    }
}

#[test]
fn only_pending_unschedulable_pods_are_kept() {
    let pod = |name: &str, node: &str, status: &str| {
        format!(
            r#"{{"kind": "Pod", "metadata": {{"name": "{name}"}}, "spec": {{"nodeName": "{node}"}}, "status": {status}}}"#
        )
    };
    let unschedulable =
        r#"[{"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}]"#;
    let items = [
        pod("running", "n1", r#"{"phase": "Running"}"#),
        pod("not-tried", "", r#"{"phase": "Pending"}"#),
        pod(
            "gated",
            "",
            r#"{"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}]}"#,
        ),
        pod(
            "bound",
            "n1",
            &format!(r#"{{"phase": "Pending", "conditions": {unschedulable}}}"#),
        ),
        pod(
            "yes",
            "",
            &format!(r#"{{"phase": "Pending", "conditions": {unschedulable}}}"#),
        ),
        r#"{"kind": "Service", "metadata": {"name": "web"}}"#.to_string(),
    ];
    let list = read(&format!(
        r#"{{"kind": "List", "items": [{}]}}"#,
        items.join(",")
    ));
    assert_eq!(list.pods, 5);
    assert_eq!(list.other_items, 1);
    let names: Vec<&str> = list.snapshot.pods.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["yes"]);
}

#[test]
fn daemon_sets_keep_their_template_requests_and_placement() {
    let list = read(
        r#"{"kind": "List", "items": [{"kind": "DaemonSet", "metadata": {"name": "agent", "namespace": "kube-system"},
        "spec": {"template": {"spec": {
          "nodeSelector": {"os": "linux"},
          "tolerations": [{"operator": "Exists"}],
          "containers": [{"resources": {"requests": {"cpu": "150m", "memory": "200Mi"}}}, {"resources": {"requests": {"cpu": "50m"}}}]
        }}}}]}"#,
    );
    let ds = &list.snapshot.daemon_sets[0];
    assert_eq!(ds.requests, Resources::new(200, 200 * MIB, 1));
    assert_eq!(
        ds.node_selector,
        BTreeMap::from([("os".into(), "linux".into())])
    );
    assert!(ds.tolerations[0].exists && ds.tolerations[0].key.is_none());
}

#[test]
fn quantities_round_up_like_kubernetes() {
    let list = read(&format!(
        r#"{{"kind": "List", "items": [{{"kind": "Pod", "metadata": {{"name": "p"}},
        "spec": {{"containers": [{{"resources": {{"requests": {{"cpu": "0.0001", "memory": "1.5"}}}}}}]}}, {PENDING}}}]}}"#
    ));
    // 0.1m rounds up to 1m, 1.5 bytes to 2.
    assert_eq!(list.snapshot.pods[0].requests, Resources::new(1, 2, 1));
}

#[test]
fn an_empty_list_and_a_list_of_other_kinds() {
    assert_eq!(read(r#"{"kind": "List", "items": []}"#).pods, 0);
    assert_eq!(read(r#"{"kind": "List", "items": null}"#).pods, 0);
    assert_eq!(read(r#"{"kind": "PodList", "items": []}"#).pods, 0);
    let yaml =
        "\u{feff}apiVersion: v1\nkind: List\nitems:\n- kind: ConfigMap\n  metadata: {name: x}\n";
    assert_eq!(read_list(yaml.as_bytes()).unwrap().other_items, 1);
    assert!(matches!(
        read_list("{}".as_bytes()),
        Err(SnapshotError::NotAList { kind: None })
    ));
    assert!(matches!(
        read_list("".as_bytes()),
        Err(SnapshotError::Empty)
    ));
}
