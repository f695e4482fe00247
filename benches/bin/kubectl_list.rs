//! Writes a synthetic `kubectl get nodes,pods,daemonsets -A -o json` (or
//! `-o yaml`) List to stdout, shaped like real API output (managed fields,
//! annotations, owner references, container statuses, node images), for
//! measuring `karpenter pending` on large inputs; and, with `--groups FILE`,
//! the MetricsProducers of its node groups.
//!
//! ```text
//! cargo run --release -p karpenter-benches --bin kubectl-list -- 5000 150000 --groups /tmp/groups.yaml > /tmp/list.json
//! ```
//!
//! Seeded (the same arguments give the same bytes): 20 node groups
//! (`karpenter.sh/node-group: g0..g19`), nodes of 4 to 32 cpu, 3% of pods
//! pending and unschedulable, the rest running; sizes as
//! `karpenter_benches::cluster`.

use std::io::{BufWriter, Write};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};

const GROUPS: usize = 20;

fn node(rng: &mut ChaCha8Rng, i: usize) -> Value {
    let cpus = [4, 8, 16, 32][rng.random_range(0..4)];
    let name = format!(
        "ip-10-{}-{}-{}.ec2.internal",
        i / 65536,
        (i / 256) % 256,
        i % 256
    );
    let images: Vec<Value> = (0..12)
        .map(|k| {
            json!({"names": [format!("123456789012.dkr.ecr.us-east-1.amazonaws.com/team-{k}/service@sha256:{:064x}", rng.random::<u64>()),
                             format!("123456789012.dkr.ecr.us-east-1.amazonaws.com/team-{k}/service:v1.{k}.0")],
                   "sizeBytes": rng.random_range(10_000_000..900_000_000u64)})
        })
        .collect();
    let ready = if rng.random_range(0..100) < 97 {
        "True"
    } else {
        "False"
    };
    let conditions: Vec<Value> = ["MemoryPressure", "DiskPressure", "PIDPressure"]
        .iter()
        .map(|t| json!({"type": t, "status": "False", "reason": format!("KubeletHasNo{t}"), "message": "kubelet has sufficient resources",
                        "lastHeartbeatTime": "2026-03-04T08:00:00Z", "lastTransitionTime": "2026-03-01T08:00:00Z"}))
        .chain(std::iter::once(json!({"type": "Ready", "status": ready, "reason": "KubeletReady", "message": "kubelet is posting ready status"})))
        .collect();
    json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {
            "name": name, "uid": format!("{:032x}", rng.random::<u128>()), "resourceVersion": rng.random::<u32>().to_string(),
            "creationTimestamp": "2026-03-01T08:00:00Z",
            "labels": {"karpenter.sh/node-group": format!("g{}", i % GROUPS), "kubernetes.io/hostname": name,
                       "topology.kubernetes.io/zone": format!("us-east-1{}", ['a', 'b', 'c'][i % 3]),
                       "node.kubernetes.io/instance-type": format!("m5.{}xlarge", cpus / 4), "kubernetes.io/os": "linux",
                       "kubernetes.io/arch": "amd64", "eks.amazonaws.com/nodegroup": format!("g{}", i % GROUPS)},
            "annotations": {"node.alpha.kubernetes.io/ttl": "0", "volumes.kubernetes.io/controller-managed-attach-detach": "true"}
        },
        "spec": {"providerID": format!("aws:///us-east-1a/i-{:017x}", rng.random::<u64>())},
        "status": {
            "capacity": {"cpu": cpus.to_string(), "memory": format!("{}Ki", cpus * 4 * 1024 * 1024), "pods": "110"},
            "allocatable": {"cpu": format!("{}m", cpus * 1000 - 80), "memory": format!("{}Ki", cpus * 4 * 1024 * 1024 - 600_000), "pods": "110"},
            "conditions": conditions,
            "images": images,
            "nodeInfo": {"kubeletVersion": "v1.31.4-eks-aeac579", "containerRuntimeVersion": "containerd://1.7.25", "osImage": "Amazon Linux 2023"}
        }
    })
}

fn pod(rng: &mut ChaCha8Rng, i: usize, nodes: usize) -> Value {
    let sizes = [
        (100, 128),
        (250, 512),
        (500, 1024),
        (1000, 2048),
        (2000, 4096),
        (4000, 16384),
        (8000, 32768),
    ];
    let weights = [30, 25, 20, 12, 8, 4, 1];
    let mut pick = rng.random_range(0..100);
    let mut k = 0;
    while pick >= weights[k] {
        pick -= weights[k];
        k += 1;
    }
    let (cpu, mem) = sizes[k];
    let pending = rng.random_range(0..100) < 3;
    let app = format!("service-{}", i % 500);
    let ns = format!("team-{}", i % 40);
    let container = |name: &str, cpu: i64, mem: i64| {
        json!({
            "name": name, "image": format!("123456789012.dkr.ecr.us-east-1.amazonaws.com/{ns}/{app}:v2.{}", i % 17),
            "imagePullPolicy": "IfNotPresent",
            "env": (0..6).map(|e| json!({"name": format!("ENV_VAR_{e}"), "value": format!("value-{e}-{i}")})).collect::<Vec<_>>(),
            "ports": [{"containerPort": 8080, "name": "http", "protocol": "TCP"}],
            "resources": {"requests": {"cpu": format!("{cpu}m"), "memory": format!("{mem}Mi")}, "limits": {"memory": format!("{mem}Mi")}},
            "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080, "scheme": "HTTP"}, "periodSeconds": 10},
            "volumeMounts": [{"name": "kube-api-access", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount", "readOnly": true}],
            "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File"
        })
    };
    let mut spec = json!({
        "containers": [container("app", cpu * 3 / 4, mem * 3 / 4), container("sidecar", cpu - cpu * 3 / 4, mem - mem * 3 / 4)],
        "dnsPolicy": "ClusterFirst", "enableServiceLinks": true, "restartPolicy": "Always", "schedulerName": "default-scheduler",
        "serviceAccountName": "default", "terminationGracePeriodSeconds": 30, "priority": 0,
        "tolerations": [{"effect": "NoExecute", "key": "node.kubernetes.io/not-ready", "operator": "Exists", "tolerationSeconds": 300},
                        {"effect": "NoExecute", "key": "node.kubernetes.io/unreachable", "operator": "Exists", "tolerationSeconds": 300}],
        "volumes": [{"name": "kube-api-access", "projected": {"defaultMode": 420, "sources": [{"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}}]}}]
    });
    if rng.random_range(0..3) == 0 {
        spec["nodeSelector"] =
            json!({"karpenter.sh/node-group": format!("g{}", rng.random_range(0..GROUPS + 2))});
    }
    let status = if pending {
        json!({"phase": "Pending", "qosClass": "Burstable", "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
               "message": "0/5000 nodes are available: 5000 Insufficient cpu. preemption: 0/5000 nodes are available.", "lastTransitionTime": "2026-03-04T08:00:00Z"}]})
    } else {
        spec["nodeName"] = json!(format!("node-{}", rng.random_range(0..nodes.max(1))));
        let running_conditions: Vec<Value> = [
            "PodReadyToStartContainers",
            "Initialized",
            "Ready",
            "ContainersReady",
            "PodScheduled",
        ]
        .iter()
        .map(|t| json!({"type": t, "status": "True", "lastTransitionTime": "2026-03-04T07:00:05Z"}))
        .collect();
        let statuses: Vec<Value> = ["app", "sidecar"]
            .iter()
            .map(|c| json!({"name": c, "ready": true, "restartCount": 0, "started": true,
                "image": format!("{ns}/{app}:v2"), "imageID": format!("sha256:{:064x}", rng.random::<u64>()),
                "containerID": format!("containerd://{:064x}", rng.random::<u64>()),
                "state": {"running": {"startedAt": "2026-03-04T07:00:04Z"}}}))
            .collect();
        json!({"phase": "Running", "qosClass": "Burstable", "hostIP": "10.0.1.2", "podIP": "10.0.3.4", "startTime": "2026-03-04T07:00:00Z",
               "conditions": running_conditions, "containerStatuses": statuses})
    };
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {
            "name": format!("{app}-{:x}-{:05x}", rng.random::<u32>(), i), "namespace": ns,
            "uid": format!("{:032x}", rng.random::<u128>()), "resourceVersion": rng.random::<u32>().to_string(),
            "creationTimestamp": "2026-03-04T07:00:00Z", "generateName": format!("{app}-"),
            "labels": {"app": app, "pod-template-hash": format!("{:x}", rng.random::<u32>()), "team": ns, "tier": "backend", "version": "v2"},
            "annotations": {"kubectl.kubernetes.io/restartedAt": "2026-03-01T00:00:00Z", "prometheus.io/scrape": "true", "prometheus.io/port": "8080"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": format!("{app}-rs"), "uid": format!("{:032x}", rng.random::<u128>()),
                                 "controller": true, "blockOwnerDeletion": true}],
            "managedFields": [
                {"manager": "kube-controller-manager", "operation": "Update", "apiVersion": "v1", "time": "2026-03-04T07:00:00Z", "fieldsType": "FieldsV1",
                 "fieldsV1": {"f:metadata": {"f:generateName": {}, "f:labels": {".": {}, "f:app": {}, "f:pod-template-hash": {}}, "f:ownerReferences": {}},
                              "f:spec": {"f:containers": {"k:{\"name\":\"app\"}": {".": {}, "f:env": {}, "f:image": {}, "f:resources": {}}}}}},
                {"manager": "kubelet", "operation": "Update", "apiVersion": "v1", "time": "2026-03-04T07:00:05Z", "fieldsType": "FieldsV1", "subresource": "status",
                 "fieldsV1": {"f:status": {"f:conditions": {}, "f:containerStatuses": {}, "f:hostIP": {}, "f:phase": {}, "f:podIP": {}, "f:startTime": {}}}}
            ]
        },
        "spec": spec,
        "status": status
    })
}

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let num =
        |i: usize, default: usize| args.get(i).and_then(|a| a.parse().ok()).unwrap_or(default);
    let (nodes, pods) = (num(0, 5_000), num(1, 150_000));
    let yaml = args.iter().any(|a| a == "--yaml");
    if let Some(path) = args
        .iter()
        .position(|a| a == "--groups")
        .and_then(|i| args.get(i + 1))
    {
        let mut f = BufWriter::new(std::fs::File::create(path)?);
        for g in 0..GROUPS {
            writeln!(
                f,
                "kind: MetricsProducer\nmetadata: {{name: g{g}-pending}}\nspec: {{pendingCapacity: {{nodeSelector: {{karpenter.sh/node-group: g{g}}}}}}}\n---"
            )?;
        }
    }
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let mut out = BufWriter::with_capacity(1 << 20, std::io::stdout().lock());
    let items = (0..nodes)
        .map(|i| (true, i))
        .chain((0..pods).map(|i| (false, i)));
    if yaml {
        out.write_all(b"apiVersion: v1\nkind: List\nitems:\n")?;
    } else {
        out.write_all(b"{\"apiVersion\": \"v1\", \"kind\": \"List\", \"items\": [\n")?;
    }
    for (n, (is_node, i)) in items.enumerate() {
        let item = if is_node {
            node(&mut rng, i)
        } else {
            pod(&mut rng, i, nodes)
        };
        if yaml {
            let text = serde_saphyr::to_string(&item).map_err(std::io::Error::other)?;
            for (k, line) in text.lines().enumerate() {
                out.write_all(if k == 0 { b"- " } else { b"  " })?;
                out.write_all(line.as_bytes())?;
                out.write_all(b"\n")?;
            }
        } else {
            if n > 0 {
                out.write_all(b",\n")?;
            }
            serde_json::to_writer_pretty(&mut out, &item)?;
        }
    }
    if !yaml {
        out.write_all(b"\n], \"metadata\": {\"resourceVersion\": \"\"}}\n")?;
    }
    out.flush()
}
