//! The manifests under `deploy/`: every kustomization renders with
//! `kubectl kustomize`, and what it renders is what the controller needs and
//! no more: the generated CRDs unchanged, a locked-down Deployment whose
//! arguments are flags of `karpenter controller`, probes on the health port,
//! the ClusterRole's exact rules, and an IAM policy with exactly the AWS
//! actions the providers call.
//!
//! Needs `kubectl` (Debian's package; `.ci/run` installs it). Without it the
//! rendering tests print a loud SKIPPED message, and fail under CI (`CI` set).

// Test helpers outside #[test] fns may unwrap: a failure there is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

/// The flags of `karpenter controller` that take a value (`--flag=value`).
const VALUE_FLAGS: &[&str] = &[
    "--prometheus-url",
    "--prometheus-token-file",
    "--prometheus-ca-file",
    "--metrics-bind-address",
    "--health-probe-bind-address",
    "--leader-election-namespace",
    "--leader-election-id",
    "--namespace",
    "--log-format",
    "--sync-period",
    "--node-group-sync-period",
    "--history-persist-interval",
];

/// The flags of `karpenter controller` that take none.
const SWITCHES: &[&str] = &["--leader-elect"];

/// The ClusterRole `karpenter` of deploy/base: exactly these rules, in this
/// order (one API group and one kind of access per rule).
fn expected_cluster_rules() -> Value {
    json!([
        {"apiGroups": ["autoscaling.karpenter.sh"],
         "resources": ["horizontalautoscalers", "metricsproducers", "scalablenodegroups"],
         "verbs": ["list", "watch"]},
        {"apiGroups": ["autoscaling.karpenter.sh"],
         "resources": ["horizontalautoscalers/status", "metricsproducers/status", "scalablenodegroups/status"],
         "verbs": ["patch"]},
        {"apiGroups": ["autoscaling.karpenter.sh"],
         "resources": ["scalablenodegroups/scale"],
         "verbs": ["get", "patch"]},
        {"apiGroups": [""], "resources": ["nodes", "pods"], "verbs": ["list", "watch"]},
        {"apiGroups": ["apps"], "resources": ["daemonsets"], "verbs": ["list", "watch"]},
        {"apiGroups": ["events.k8s.io"], "resources": ["events"], "verbs": ["create", "patch"]},
    ])
}

/// The rule deploy/components/scale-apps adds.
fn scale_apps_rule() -> Value {
    json!({"apiGroups": ["apps"],
           "resources": ["deployments/scale", "statefulsets/scale"],
           "verbs": ["get", "patch"]})
}

fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy")
}

/// `kubectl`, if it is on PATH; otherwise a loud message, and a failure
/// under CI.
fn kubectl() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let found = std::env::split_paths(&path)
        .map(|d| d.join("kubectl"))
        .find(|p| p.is_file());
    if found.is_none() {
        eprintln!(
            "\n==========\nSKIPPED: `kubectl` is not on PATH, so the deploy/ manifests were not rendered.\nInstall it with `apt-get install -y kubectl` (the Debian package); .ci/run does.\n==========\n"
        );
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set and kubectl is missing: .ci/run must install it"
        );
    }
    found
}

/// `kubectl kustomize DIR`, parsed into one value per document.
fn render(kubectl: &Path, dir: &Path) -> Vec<Value> {
    let out = Command::new(kubectl)
        .arg("kustomize")
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "kubectl kustomize {} failed:\n{}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    serde_saphyr::from_multiple::<Value>(&text)
        .unwrap()
        .into_iter()
        .filter(|d| !d.is_null())
        .collect()
}

fn of_kind<'a>(docs: &'a [Value], kind: &str) -> Vec<&'a Value> {
    docs.iter().filter(|d| d["kind"] == kind).collect()
}

fn one<'a>(docs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    let found: Vec<&Value> = of_kind(docs, kind)
        .into_iter()
        .filter(|d| d["metadata"]["name"] == name)
        .collect();
    assert_eq!(
        found.len(),
        1,
        "{kind} {name}: {} in the render",
        found.len()
    );
    found[0]
}

/// The port of a `host:port` bind address.
fn port_of(addr: &str) -> i64 {
    addr.rsplit_once(':').unwrap().1.parse().unwrap()
}

/// The checks every rendering of the base must pass; `dir` names it in
/// failure messages.
fn check_common(dir: &str, docs: &[Value]) {
    // The namespace, and everything namespaced in it.
    let ns = one(docs, "Namespace", "karpenter");
    assert_eq!(
        ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"], "restricted",
        "{dir}"
    );
    for d in docs {
        let kind = d["kind"].as_str().unwrap();
        let namespaced = !matches!(
            kind,
            "Namespace" | "CustomResourceDefinition" | "ClusterRole" | "ClusterRoleBinding"
        );
        assert_eq!(
            d["metadata"].get("namespace").is_some(),
            namespaced,
            "{dir}: {kind} {}",
            d["metadata"]["name"]
        );
        if namespaced {
            assert_eq!(d["metadata"]["namespace"], "karpenter", "{dir}: {kind}");
        }
    }

    check_crds(dir, docs);

    // RBAC: the service account, bound to the ClusterRole and the lease Role.
    one(docs, "ServiceAccount", "karpenter");
    let subject =
        json!([{"kind": "ServiceAccount", "name": "karpenter", "namespace": "karpenter"}]);
    let crb = one(docs, "ClusterRoleBinding", "karpenter");
    assert_eq!(crb["subjects"], subject, "{dir}");
    assert_eq!(
        crb["roleRef"],
        json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "karpenter"}),
        "{dir}"
    );
    let role = one(docs, "Role", "karpenter-leader-election");
    assert_eq!(
        role["rules"],
        json!([{"apiGroups": ["coordination.k8s.io"], "resources": ["leases"],
                "verbs": ["get", "create", "update"]}]),
        "{dir}"
    );
    let rb = one(docs, "RoleBinding", "karpenter-leader-election");
    assert_eq!(rb["subjects"], subject, "{dir}");
    assert_eq!(
        rb["roleRef"],
        json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "karpenter-leader-election"}),
        "{dir}"
    );

    // The Deployment.
    let dep = one(docs, "Deployment", "karpenter");
    let pod = &dep["spec"]["template"];
    assert_eq!(
        dep["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"], "karpenter",
        "{dir}"
    );
    assert_eq!(
        pod["metadata"]["labels"]["app.kubernetes.io/name"],
        "karpenter"
    );
    let spec = &pod["spec"];
    assert_eq!(spec["serviceAccountName"], "karpenter", "{dir}");
    let psc = &spec["securityContext"];
    assert_eq!(psc["runAsNonRoot"], true, "{dir}");
    assert_eq!(psc["runAsUser"], 65532, "{dir}");
    assert_eq!(psc["seccompProfile"]["type"], "RuntimeDefault", "{dir}");
    let containers = spec["containers"].as_array().unwrap();
    assert_eq!(containers.len(), 1, "{dir}");
    let c = &containers[0];
    let sc = &c["securityContext"];
    assert_eq!(sc["runAsNonRoot"], true, "{dir}");
    assert_eq!(sc["runAsUser"], 65532, "{dir}");
    assert_eq!(sc["readOnlyRootFilesystem"], true, "{dir}");
    assert_eq!(sc["allowPrivilegeEscalation"], false, "{dir}");
    assert_eq!(sc["capabilities"], json!({"drop": ["ALL"]}), "{dir}");
    assert_eq!(sc["seccompProfile"]["type"], "RuntimeDefault", "{dir}");
    assert!(
        sc.get("privileged")
            .is_none_or(|p| p.as_bool() == Some(false)),
        "{dir}"
    );
    let res = &c["resources"];
    for (what, field) in [
        ("requests", "cpu"),
        ("requests", "memory"),
        ("limits", "memory"),
    ] {
        assert!(
            res[what][field].is_string(),
            "{dir}: resources.{what}.{field}"
        );
    }

    // Arguments: the subcommand, then flags of `karpenter controller` only.
    let args: Vec<&str> = c["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert!(
        c.get("command").is_none(),
        "{dir}: the image's entrypoint runs /karpenter"
    );
    assert_eq!(args.first(), Some(&"controller"), "{dir}: {args:?}");
    let mut seen = BTreeSet::new();
    let value_of = |flag: &str| -> Option<String> {
        args.iter()
            .find_map(|a| a.strip_prefix(&format!("{flag}=")).map(str::to_string))
    };
    for arg in &args[1..] {
        let name = arg.split_once('=').map_or(*arg, |(n, _)| n);
        if arg.contains('=') {
            assert!(
                VALUE_FLAGS.contains(&name),
                "{dir}: {arg:?} is not a flag of `karpenter controller` that takes a value"
            );
        } else {
            assert!(
                SWITCHES.contains(&name),
                "{dir}: {arg:?} is not a switch of `karpenter controller` (write value flags as --flag=value)"
            );
        }
        assert!(seen.insert(name), "{dir}: {name} given twice");
    }
    assert!(seen.contains("--leader-elect"), "{dir}: {args:?}");
    assert!(
        value_of("--log-format").is_none_or(|f| f == "text" || f == "json"),
        "{dir}"
    );
    let metrics_port = value_of("--metrics-bind-address").map_or(8080, |a| port_of(&a));
    let health_port = value_of("--health-probe-bind-address").map_or(8081, |a| port_of(&a));

    // Ports and probes.
    let ports = c["ports"].as_array().unwrap();
    let port_named = |name: &str| -> i64 {
        ports
            .iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("{dir}: no container port {name}"))["containerPort"]
            .as_i64()
            .unwrap()
    };
    let resolve = |port: &Value| -> i64 {
        port.as_i64()
            .unwrap_or_else(|| port_named(port.as_str().unwrap()))
    };
    assert_eq!(port_named("http-metrics"), metrics_port, "{dir}");
    for (probe, path) in [("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")] {
        let get = &c[probe]["httpGet"];
        assert_eq!(get["path"], path, "{dir}: {probe}");
        assert_eq!(resolve(&get["port"]), health_port, "{dir}: {probe}");
    }

    // The downward API.
    let env = c["env"].as_array().unwrap();
    for (name, field) in [
        ("POD_NAME", "metadata.name"),
        ("POD_NAMESPACE", "metadata.namespace"),
    ] {
        let var = env
            .iter()
            .find(|e| e["name"] == name)
            .unwrap_or_else(|| panic!("{dir}: no {name}"));
        assert_eq!(var["valueFrom"]["fieldRef"]["fieldPath"], field, "{dir}");
    }

    // The metrics Service: scraped by annotation, on the metrics port.
    let svc = one(docs, "Service", "karpenter");
    let ann = &svc["metadata"]["annotations"];
    assert_eq!(ann["prometheus.io/scrape"], "true", "{dir}");
    assert_eq!(ann["prometheus.io/path"], "/metrics", "{dir}");
    assert_eq!(ann["prometheus.io/port"], metrics_port.to_string(), "{dir}");
    assert_eq!(
        svc["spec"]["selector"],
        pod["metadata"]["labels"]["app.kubernetes.io/name"]
            .as_str()
            .map(|n| json!({"app.kubernetes.io/name": n}))
            .unwrap(),
        "{dir}"
    );
    let svc_ports = svc["spec"]["ports"].as_array().unwrap();
    assert_eq!(svc_ports.len(), 1, "{dir}");
    assert_eq!(svc_ports[0]["name"], "http-metrics", "{dir}");
    assert_eq!(resolve(&svc_ports[0]["targetPort"]), metrics_port, "{dir}");
}

/// `v` with every whole float written as an integer. kustomize re-serializes
/// the YAML, and writes the generator's `minimum: 0.0` as `minimum: 0`: the
/// same number to the API server, which reads both as a JSON number.
fn whole_numbers_as_integers(v: &Value) -> Value {
    match v {
        Value::Number(n) => match n.as_f64() {
            Some(f) if n.is_f64() && f.fract() == 0.0 && f.abs() < 9.0e15 => json!(f as i64),
            _ => v.clone(),
        },
        Value::Array(a) => Value::Array(a.iter().map(whole_numbers_as_integers).collect()),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, v)| (k.clone(), whole_numbers_as_integers(v)))
                .collect(),
        ),
        _ => v.clone(),
    }
}

/// The render holds exactly the CRDs of deploy/crds, each the same document
/// as the generated file: every key and value, numbers compared as numbers
/// (kustomize re-serializes; nothing else may change).
fn check_crds(dir: &str, docs: &[Value]) {
    let crds = deploy_dir().join("crds");
    let mut files = Vec::new();
    for entry in std::fs::read_dir(&crds).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml") {
            let text = std::fs::read_to_string(&path).unwrap();
            let doc: Value = serde_saphyr::from_str(&text).unwrap();
            files.push((path, doc));
        }
    }
    assert_eq!(files.len(), 3, "deploy/crds: {files:?}");
    let rendered = of_kind(docs, "CustomResourceDefinition");
    assert_eq!(
        rendered.len(),
        files.len(),
        "{dir}: the render must hold every CRD of deploy/crds (is deploy/crds/kustomization.yml stale?)"
    );
    for (path, doc) in &files {
        let name = doc["metadata"]["name"].as_str().unwrap();
        let r = one(docs, "CustomResourceDefinition", name);
        assert!(
            whole_numbers_as_integers(r) == whole_numbers_as_integers(doc),
            "{dir}: CRD {name} differs from {} (a label, namespace or patch touched it)",
            path.display()
        );
    }
}

#[test]
fn the_base_renders_the_controller_locked_down() {
    let Some(kubectl) = kubectl() else { return };
    let docs = render(&kubectl, &deploy_dir().join("base"));
    check_common("base", &docs);
    assert_eq!(
        one(&docs, "ClusterRole", "karpenter")["rules"],
        expected_cluster_rules()
    );
    let kinds: BTreeSet<&str> = docs.iter().map(|d| d["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        BTreeSet::from([
            "ClusterRole",
            "ClusterRoleBinding",
            "CustomResourceDefinition",
            "Deployment",
            "Namespace",
            "Role",
            "RoleBinding",
            "Service",
            "ServiceAccount",
        ])
    );
    assert_eq!(docs.len(), 11, "3 CRDs and 8 other objects");
    let dep = one(&docs, "Deployment", "karpenter");
    assert_eq!(dep["spec"]["replicas"], 1);
    let c = &dep["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(
        c["resources"],
        json!({"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "512Mi"}})
    );
    assert!(
        c["args"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a.as_str().unwrap().starts_with("--prometheus-url=http://")),
        "the base points --prometheus-url at an example Prometheus"
    );
}

#[test]
fn the_aws_overlay_adds_irsa_and_the_region() {
    let Some(kubectl) = kubectl() else { return };
    let docs = render(&kubectl, &deploy_dir().join("overlays/aws"));
    check_common("overlays/aws", &docs);
    assert_eq!(
        one(&docs, "ClusterRole", "karpenter")["rules"],
        expected_cluster_rules()
    );
    let sa = one(&docs, "ServiceAccount", "karpenter");
    let arn = sa["metadata"]["annotations"]["eks.amazonaws.com/role-arn"]
        .as_str()
        .unwrap();
    assert!(arn.starts_with("arn:aws:iam::"), "{arn}");
    let env =
        one(&docs, "Deployment", "karpenter")["spec"]["template"]["spec"]["containers"][0]["env"]
            .as_array()
            .unwrap()
            .clone();
    assert!(
        env.iter()
            .any(|e| e["name"] == "AWS_REGION" && e["value"].is_string()),
        "{env:?}"
    );
}

#[test]
fn the_dev_overlay_renders() {
    let Some(kubectl) = kubectl() else { return };
    let docs = render(&kubectl, &deploy_dir().join("overlays/dev"));
    check_common("overlays/dev", &docs);
    let mut rules = expected_cluster_rules();
    rules.as_array_mut().unwrap().push(scale_apps_rule());
    assert_eq!(one(&docs, "ClusterRole", "karpenter")["rules"], rules);
    let c = &one(&docs, "Deployment", "karpenter")["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(c["image"], "karpenter:dev");
}

/// The path of `to` relative to the directory `from` (both absolute).
fn relative(from: &Path, to: &Path) -> PathBuf {
    let from: Vec<_> = from.components().collect();
    let to: Vec<_> = to.components().collect();
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut rel = PathBuf::new();
    for _ in common..from.len() {
        rel.push("..");
    }
    for c in &to[common..] {
        rel.push(c);
    }
    rel
}

#[test]
fn the_components_add_scale_access_and_a_service_monitor() {
    let Some(kubectl) = kubectl() else { return };
    // An overlay of the user's own, outside the repository, using both
    // components (kustomize wants relative paths).
    let deploy = deploy_dir().canonicalize().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let rel = relative(&dir.path().canonicalize().unwrap(), &deploy);
    std::fs::write(
        dir.path().join("kustomization.yaml"),
        format!(
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - {base}\ncomponents:\n  - {apps}\n  - {sm}\n",
            base = rel.join("base").display(),
            apps = rel.join("components/scale-apps").display(),
            sm = rel.join("components/servicemonitor").display(),
        ),
    )
    .unwrap();
    let docs = render(&kubectl, dir.path());
    check_common("base + components", &docs);
    let mut rules = expected_cluster_rules();
    rules.as_array_mut().unwrap().push(scale_apps_rule());
    assert_eq!(one(&docs, "ClusterRole", "karpenter")["rules"], rules);

    let sm = one(&docs, "ServiceMonitor", "karpenter");
    assert_eq!(sm["apiVersion"], "monitoring.coreos.com/v1");
    assert_eq!(sm["metadata"]["namespace"], "karpenter");
    let svc = one(&docs, "Service", "karpenter");
    assert_eq!(
        sm["spec"]["selector"]["matchLabels"],
        svc["metadata"]["labels"]["app.kubernetes.io/name"]
            .as_str()
            .map(|n| json!({"app.kubernetes.io/name": n}))
            .unwrap()
    );
    assert_eq!(
        sm["spec"]["endpoints"],
        json!([{"port": "http-metrics", "path": "/metrics", "interval": "15s"}])
    );
}

/// Every `Service:Operation` the AWS providers call: each SDK call in
/// karpenter-aws/src maps its error with
/// `map_sdk_error(e, object, "Operation", "service")`.
fn aws_actions_called() -> BTreeSet<String> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../karpenter-aws/src");
    let mut actions = BTreeSet::new();
    let mut calls = 0;
    let mut sends = 0;
    for entry in std::fs::read_dir(&src).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        // Unit tests at the end of a file are not provider calls.
        let text = text.split("#[cfg(test)]").next().unwrap();
        sends += text.matches(".send()").count();
        for (at, _) in text.match_indices("map_sdk_error(") {
            let args = &text[at..at + text[at..].find(')').unwrap()];
            let literals: Vec<&str> = args.split('"').skip(1).step_by(2).collect();
            if let [.., op, service] = literals[..] {
                calls += 1;
                actions.insert(format!("{service}:{op}"));
            }
        }
    }
    assert_eq!(
        calls, sends,
        "every SDK call (.send()) in karpenter-aws/src maps its error with map_sdk_error naming its operation"
    );
    actions
}

#[test]
fn the_iam_policy_grants_exactly_what_the_aws_providers_call() {
    let text = std::fs::read_to_string(deploy_dir().join("aws/iam-policy.json")).unwrap();
    let policy: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(policy["Version"], "2012-10-17");
    let mut granted = BTreeSet::new();
    for st in policy["Statement"].as_array().unwrap() {
        assert_eq!(st["Effect"], "Allow", "{st}");
        assert!(st.get("NotAction").is_none() && st.get("NotResource").is_none());
        for a in st["Action"].as_array().unwrap() {
            let a = a.as_str().unwrap();
            assert!(!a.contains('*'), "no wildcard actions: {a}");
            assert!(granted.insert(a.to_string()), "{a} granted twice");
        }
    }
    let called = aws_actions_called();
    // Hand-listed too, so a parsing slip in aws_actions_called cannot make
    // both sides empty.
    let expected: BTreeSet<String> = [
        "autoscaling:DescribeAutoScalingGroups",
        "autoscaling:DescribeLaunchConfigurations",
        "autoscaling:SetDesiredCapacity",
        "cloudwatch:GetMetricData",
        "ec2:DescribeInstanceTypes",
        "ec2:DescribeLaunchTemplateVersions",
        "eks:DescribeNodegroup",
        "eks:DescribeUpdate",
        "eks:UpdateNodegroupConfig",
        "sqs:GetQueueAttributes",
        "sqs:GetQueueUrl",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(called, expected, "the operations karpenter-aws calls");
    assert_eq!(
        granted, called,
        "deploy/aws/iam-policy.json must grant exactly the operations karpenter-aws calls"
    );
}
