//! Deterministic nodes, pods and clusters shaped like a real cluster's, so
//! that tests read realistic objects and memory measurements are honest
//! (a generated pod is 3–5 KB of JSON, as real pods are).
//!
//! ```
//! use karpenter_k8s::fake_api::{FakeApi, fixtures};
//!
//! let cluster = fixtures::cluster(6, 40, 7);
//! assert_eq!((cluster.nodes.len(), cluster.pods.len()), (6, 40));
//! assert_eq!(cluster.nodes[1]["metadata"]["labels"]["karpenter.sh/node-group"], "group-1");
//! let api = FakeApi::new();
//! cluster.load_into(&api).unwrap();
//! assert_eq!(api.list("pods", None).len(), 40);
//! ```

use serde_json::{Map, Value, json};

use super::{FakeApi, FakeApiError};

/// The label that names a node's group.
pub const NODE_GROUP_LABEL: &str = "karpenter.sh/node-group";

/// How many node groups [`cluster`] spreads its nodes over.
pub const NODE_GROUPS: usize = 4;

/// Node shapes per group: cpu, memory, pods.
const SHAPES: [(&str, &str, u32); NODE_GROUPS] = [
    ("4", "16Gi", 110),
    ("8", "32Gi", 110),
    ("16", "64Gi", 110),
    ("2", "8Gi", 58),
];
const CPU_REQUESTS: [&str; 4] = ["100m", "250m", "500m", "1"];
const MEMORY_REQUESTS: [&str; 4] = ["128Mi", "256Mi", "512Mi", "1Gi"];
const CREATED: &str = "2026-01-01T00:00:00Z";

fn labels_map(labels: &[(&str, &str)]) -> Map<String, Value> {
    labels
        .iter()
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect()
}

/// A Node with the given capacity (allocatable a little less), labels,
/// Ready condition and `spec.providerID`.
pub fn node(
    name: &str,
    cpu: &str,
    memory: &str,
    pods: u32,
    labels: &[(&str, &str)],
    ready: bool,
    provider_id: Option<&str>,
) -> Value {
    let mut all = labels_map(&[
        ("kubernetes.io/hostname", name),
        ("kubernetes.io/os", "linux"),
        ("kubernetes.io/arch", "amd64"),
        ("node.kubernetes.io/instance-type", "m5.xlarge"),
        ("topology.kubernetes.io/zone", "us-west-2a"),
    ]);
    all.extend(labels_map(labels));
    let condition = |type_: &str, status: bool, reason: &str| {
        json!({"type": type_, "status": if status { "True" } else { "False" }, "reason": reason,
            "lastHeartbeatTime": CREATED, "lastTransitionTime": CREATED, "message": format!("kubelet: {reason}")})
    };
    let mut spec = json!({});
    if let Some(id) = provider_id {
        spec["providerID"] = json!(id);
    }
    json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": all, "annotations": {"node.alpha.kubernetes.io/ttl": "0",
            "volumes.kubernetes.io/controller-managed-attach-detach": "true"}, "creationTimestamp": CREATED},
        "spec": spec,
        "status": {
            "capacity": {"cpu": cpu, "memory": memory, "pods": pods.to_string(), "ephemeral-storage": "104845292Ki"},
            "allocatable": {"cpu": cpu, "memory": memory, "pods": pods.to_string(), "ephemeral-storage": "95551679124"},
            "conditions": [
                condition("MemoryPressure", false, "KubeletHasSufficientMemory"),
                condition("DiskPressure", false, "KubeletHasNoDiskPressure"),
                condition("PIDPressure", false, "KubeletHasSufficientPID"),
                condition("Ready", ready, if ready { "KubeletReady" } else { "KubeletNotReady" }),
            ],
            "addresses": [{"type": "InternalIP", "address": "10.0.0.1"}, {"type": "Hostname", "address": name}],
            "nodeInfo": {"kubeletVersion": "v1.33.0", "containerRuntimeVersion": "containerd://1.7.0",
                "kernelVersion": "6.1.0", "osImage": "Debian GNU/Linux 12", "operatingSystem": "linux", "architecture": "amd64"},
        }
    })
}

/// A Deployment-owned Pod with two containers (the app, with `requests`,
/// and a small sidecar), bound to `node_name` and Running, or Pending.
/// An `unschedulable` pod is Pending with the `PodScheduled=False`,
/// reason `Unschedulable` condition the scheduler sets.
pub fn pod(
    namespace: &str,
    name: &str,
    node_name: Option<&str>,
    requests: &[(&str, &str)],
    unschedulable: bool,
) -> Value {
    let app = name.rsplit_once('-').map_or(name, |(a, _)| a);
    let requests: Map<String, Value> = requests
        .iter()
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect();
    let running = node_name.is_some() && !unschedulable;
    let condition = |type_: &str, ok: bool| json!({"type": type_, "status": if ok { "True" } else { "False" }, "lastTransitionTime": CREATED});
    let conditions = if running {
        json!([
            condition("Initialized", true),
            condition("Ready", true),
            condition("ContainersReady", true),
            condition("PodScheduled", true)
        ])
    } else if unschedulable {
        json!([{"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "lastTransitionTime": CREATED,
            "message": "0/3 nodes are available: 3 Insufficient cpu. preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod."}])
    } else {
        json!([])
    };
    let env: Vec<Value> = [
        "LOG_LEVEL",
        "HTTP_PORT",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "FEATURE_FLAGS",
        "REGION",
    ]
    .iter()
    .map(|k| json!({"name": k, "value": format!("{}-value", k.to_lowercase())}))
    .collect();
    let mut status = json!({"phase": if running { "Running" } else { "Pending" }, "conditions": conditions, "qosClass": "Burstable"});
    if running {
        status["hostIP"] = json!("10.0.0.1");
        status["podIP"] = json!("10.1.0.1");
        status["startTime"] = json!(CREATED);
        status["containerStatuses"] = json!([
            {"name": "app", "ready": true, "restartCount": 0, "image": format!("registry.example.com/{app}:1.4.2"),
             "imageID": format!("registry.example.com/{app}@sha256:{}", "a1".repeat(32)), "containerID": format!("containerd://{}", "b2".repeat(32)),
             "started": true, "state": {"running": {"startedAt": CREATED}}},
            {"name": "log-shipper", "ready": true, "restartCount": 0, "image": "registry.example.com/fluent-bit:3.0",
             "imageID": format!("registry.example.com/fluent-bit@sha256:{}", "c3".repeat(32)), "containerID": format!("containerd://{}", "d4".repeat(32)),
             "started": true, "state": {"running": {"startedAt": CREATED}}},
        ]);
    }
    let mut spec = json!({
        "containers": [
            {"name": "app", "image": format!("registry.example.com/{app}:1.4.2"), "imagePullPolicy": "IfNotPresent",
             "ports": [{"containerPort": 8080, "name": "http", "protocol": "TCP"}],
             "env": env, "resources": {"requests": requests.clone(), "limits": requests},
             "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080, "scheme": "HTTP"}, "periodSeconds": 10, "timeoutSeconds": 1,
                 "successThreshold": 1, "failureThreshold": 3},
             "volumeMounts": [{"name": "kube-api-access", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount", "readOnly": true}],
             "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File"},
            {"name": "log-shipper", "image": "registry.example.com/fluent-bit:3.0", "imagePullPolicy": "IfNotPresent",
             "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}},
             "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File"},
        ],
        "volumes": [{"name": "kube-api-access", "projected": {"defaultMode": 420, "sources": [
            {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
            {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
            {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}}]}}],
        "restartPolicy": "Always", "terminationGracePeriodSeconds": 30, "dnsPolicy": "ClusterFirst",
        "serviceAccountName": "default", "schedulerName": "default-scheduler", "priority": 0,
        "tolerations": [
            {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
            {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}],
    });
    if let (Some(node), false) = (node_name, unschedulable) {
        spec["nodeName"] = json!(node);
    }
    let fields = json!({"f:metadata": {"f:labels": {".": {}, "f:app": {}, "f:pod-template-hash": {}},
        "f:ownerReferences": {".": {}, "k:{\"uid\":\"owner\"}": {}}},
        "f:spec": {"f:containers": {"k:{\"name\":\"app\"}": {".": {}, "f:env": {}, "f:image": {}, "f:ports": {}, "f:resources": {}},
            "k:{\"name\":\"log-shipper\"}": {".": {}, "f:image": {}, "f:resources": {}}}, "f:dnsPolicy": {}, "f:restartPolicy": {}}});
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {
            "name": name, "namespace": namespace, "creationTimestamp": CREATED, "generateName": format!("{app}-7d9f8b6c5-"),
            "labels": {"app": app, "pod-template-hash": "7d9f8b6c5", "app.kubernetes.io/part-of": namespace},
            "annotations": {"kubectl.kubernetes.io/restartedAt": CREATED, "prometheus.io/scrape": "true", "prometheus.io/port": "8080"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": format!("{app}-7d9f8b6c5"),
                "uid": "5f0c3a1e-0000-4000-8000-000000000001", "controller": true, "blockOwnerDeletion": true}],
            "managedFields": [
                {"manager": "kube-controller-manager", "operation": "Update", "apiVersion": "v1", "time": CREATED, "fieldsType": "FieldsV1", "fieldsV1": fields},
                {"manager": "kubelet", "operation": "Update", "apiVersion": "v1", "time": CREATED, "fieldsType": "FieldsV1", "subresource": "status",
                 "fieldsV1": {"f:status": {"f:conditions": {}, "f:containerStatuses": {}, "f:phase": {}, "f:podIP": {}, "f:startTime": {}}}},
            ],
        },
        "spec": spec,
        "status": status,
    })
}

/// A generated cluster: see [`cluster`].
#[derive(Debug, Clone, PartialEq)]
pub struct Cluster {
    /// Nodes `node-00000`…, spread over [`NODE_GROUPS`] groups.
    pub nodes: Vec<Value>,
    /// Pods, Running and bound to the nodes in turn.
    pub pods: Vec<Value>,
}

impl Cluster {
    /// Stores every node and pod in `api`.
    pub fn load_into(&self, api: &FakeApi) -> Result<(), FakeApiError> {
        for node in &self.nodes {
            api.upsert("nodes", node.clone())?;
        }
        for pod in &self.pods {
            api.upsert("pods", pod.clone())?;
        }
        Ok(())
    }
}

/// SplitMix64: a few lines of deterministic randomness from a seed.
fn next(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn pick<'a>(state: &mut u64, from: &[&'a str]) -> &'a str {
    from[(next(state) % from.len() as u64) as usize]
}

/// `nodes` Ready nodes (node `i` in group `group-{i % 4}`, labelled
/// [`NODE_GROUP_LABEL`], with provider ID `fake:///group-K/node-i`) and
/// `pods` Running pods over 10 namespaces and 50 apps, bound to the nodes
/// in turn, requests drawn from `seed`. The same arguments give the same
/// cluster.
pub fn cluster(nodes: usize, pods: usize, seed: u64) -> Cluster {
    let mut rng = seed;
    let node_list: Vec<Value> = (0..nodes)
        .map(|i| {
            let g = i % NODE_GROUPS;
            let (cpu, memory, max_pods) = SHAPES[g];
            let (name, group) = (format!("node-{i:05}"), format!("group-{g}"));
            let provider_id = format!("fake:///{group}/{name}");
            node(
                &name,
                cpu,
                memory,
                max_pods,
                &[(NODE_GROUP_LABEL, &group)],
                true,
                Some(&provider_id),
            )
        })
        .collect();
    let pod_list = (0..pods)
        .map(|i| {
            let requests = [
                ("cpu", pick(&mut rng, &CPU_REQUESTS)),
                ("memory", pick(&mut rng, &MEMORY_REQUESTS)),
            ];
            let bound = (nodes > 0).then(|| format!("node-{:05}", i % nodes));
            pod(
                &format!("team-{}", i % 10),
                &format!("app-{}-{i:06}", i % 50),
                bound.as_deref(),
                &requests,
                false,
            )
        })
        .collect();
    Cluster {
        nodes: node_list,
        pods: pod_list,
    }
}

/// `count` unschedulable pods (`pending-{i}` in namespace `team-0`),
/// requests drawn from `seed`.
pub fn pending_pods(count: usize, seed: u64) -> Vec<Value> {
    let mut rng = seed ^ 0x5EED;
    (0..count)
        .map(|i| {
            let requests = [
                ("cpu", pick(&mut rng, &CPU_REQUESTS)),
                ("memory", pick(&mut rng, &MEMORY_REQUESTS)),
            ];
            pod("team-0", &format!("pending-{i:06}"), None, &requests, true)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pods_are_the_size_of_real_pods() {
        for p in cluster(3, 20, 1).pods.iter().chain(&pending_pods(3, 1)) {
            let size = serde_json::to_vec(p).unwrap().len();
            assert!((3000..=5000).contains(&size), "{size} bytes");
        }
    }

    #[test]
    fn unschedulable_pods_are_pending_with_the_scheduler_condition() {
        let p = pod("ns", "web-1", None, &[("cpu", "1")], true);
        assert_eq!(p["status"]["phase"], "Pending");
        assert_eq!(
            p["status"]["conditions"][0],
            json!({"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
            "lastTransitionTime": CREATED, "message": p["status"]["conditions"][0]["message"]})
        );
        assert!(p["spec"].get("nodeName").is_none());
        let running = pod("ns", "web-2", Some("n1"), &[("cpu", "1")], false);
        assert_eq!(
            (
                running["status"]["phase"].as_str(),
                running["spec"]["nodeName"].as_str()
            ),
            (Some("Running"), Some("n1"))
        );
        assert_eq!(
            running["spec"]["containers"][0]["resources"]["requests"]["cpu"],
            "1"
        );
    }

    #[test]
    fn clusters_are_deterministic_and_spread_over_groups() {
        assert_eq!(cluster(8, 30, 5), cluster(8, 30, 5));
        assert_ne!(cluster(8, 30, 5).pods, cluster(8, 30, 6).pods);
        let c = cluster(8, 30, 5);
        let groups: Vec<_> = c
            .nodes
            .iter()
            .map(|n| {
                n["metadata"]["labels"][NODE_GROUP_LABEL]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        assert_eq!(
            groups,
            [
                "group-0", "group-1", "group-2", "group-3", "group-0", "group-1", "group-2",
                "group-3"
            ]
        );
        assert_eq!(
            c.nodes[5]["spec"]["providerID"],
            "fake:///group-1/node-00005"
        );
        assert_eq!(c.pods[9]["spec"]["nodeName"], "node-00001");
        assert_eq!(c.pods[9]["metadata"]["namespace"], "team-9");
    }
}
