//! The `pendingCapacity` producer's joint assignment: predicates, templates,
//! DaemonSets, upcoming nodes, first-fit decreasing packing, least waste
//! and the reports, each against hand-computed expectations.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on purpose.

use std::collections::BTreeMap;

use karpenter_core::api::v1alpha1::{PendingCapacitySpec, ScalableNodeGroupRef};
use karpenter_core::cluster::{
    ClusterSnapshot, DaemonSet, Node, NodeSelector, NodeSelectorOperator, NodeSelectorRequirement,
    NodeSelectorTerm, Pod, PodPhase, Resources, Taint, TaintEffect, Toleration,
    UnevaluatedConstraints, untolerated_taint,
};
use karpenter_core::producers::pending_capacity::{
    NodeGroupLink, NotFit, PendingAssignment, PendingCapacityInput, Placement, TemplateSource,
};
use karpenter_core::provider::{NodeTemplate, ProviderError, ProviderErrorKind};

const GIB: i64 = 1 << 30;
const MIB: i64 = 1 << 20;

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn node(name: &str, group: &str, cpu: i64, memory: i64) -> Node {
    Node {
        name: name.to_string(),
        labels: labels(&[("group", group), ("kubernetes.io/hostname", name)]),
        allocatable: Resources::new(cpu, memory, 110),
        taints: vec![],
        ready: true,
        unschedulable: false,
    }
}

fn taint(key: &str, value: &str, effect: TaintEffect) -> Taint {
    Taint {
        key: key.to_string(),
        value: value.to_string(),
        effect,
    }
}

fn pending(name: &str, cpu: i64, memory: i64) -> Pod {
    Pod {
        namespace: "default".to_string(),
        name: name.to_string(),
        requests: Resources::new(cpu, memory, 1),
        phase: PodPhase::Pending,
        unschedulable: true,
        ..Pod::default()
    }
}

fn req(key: &str, op: NodeSelectorOperator, values: &[&str]) -> NodeSelectorRequirement {
    NodeSelectorRequirement {
        key: key.to_string(),
        operator: op,
        values: values.iter().map(|v| v.to_string()).collect(),
    }
}

fn term(reqs: Vec<NodeSelectorRequirement>) -> NodeSelectorTerm {
    NodeSelectorTerm {
        match_expressions: reqs,
        match_fields: vec![],
    }
}

fn spec(group: &str) -> PendingCapacitySpec {
    PendingCapacitySpec {
        node_selector: labels(&[("group", group)]),
        scalable_node_group_ref: None,
    }
}

fn snapshot(nodes: Vec<Node>, pods: Vec<Pod>) -> ClusterSnapshot {
    ClusterSnapshot {
        nodes,
        pods,
        daemon_sets: vec![],
    }
}

fn found(name: &str, desired: i32, template: Option<NodeTemplate>) -> NodeGroupLink {
    NodeGroupLink::Found {
        name: name.to_string(),
        desired: Ok(desired),
        template: Some(Ok(template)),
    }
}

/// Producers named after their group (`{group}-pending`), all unlinked.
fn assign(snap: &ClusterSnapshot, specs: &[(&str, &PendingCapacitySpec)]) -> PendingAssignment {
    let inputs: Vec<PendingCapacityInput<'_>> = specs
        .iter()
        .map(|(name, s)| PendingCapacityInput::new("default", name, s, NodeGroupLink::Unset))
        .collect();
    PendingAssignment::compute(snap, &inputs)
}

/// `(pods, new nodes, pods on upcoming)` of producer `name`.
fn counts(a: &PendingAssignment, name: &str) -> (usize, i64, usize) {
    let g = a.group("default", name).unwrap();
    (g.pods, g.new_nodes, g.pods_on_upcoming)
}

/// The group name each pod (by snapshot index) went to, `-` for none.
fn groups_of(a: &PendingAssignment) -> Vec<(usize, String)> {
    a.pods()
        .iter()
        .map(|p| {
            let g = p
                .placement
                .group()
                .map_or("-".to_string(), |g| a.groups()[g].name.clone());
            (p.pod, g)
        })
        .collect()
}

// ---------------------------------------------------------------- predicates

#[test]
fn tolerations_against_taints() {
    let gpu = taint("dedicated", "gpu", TaintEffect::NoSchedule);
    let tol =
        |key: Option<&str>, exists: bool, value: &str, effect: Option<TaintEffect>| Toleration {
            key: key.map(str::to_string),
            exists,
            value: value.to_string(),
            effect,
        };
    // (toleration, tolerates dedicated=gpu:NoSchedule)
    let cases = [
        (tol(Some("dedicated"), false, "gpu", None), true),
        (tol(Some("dedicated"), false, "ml", None), false),
        (tol(Some("dedicated"), true, "", None), true),
        (
            tol(Some("dedicated"), true, "", Some(TaintEffect::NoSchedule)),
            true,
        ),
        (
            tol(Some("dedicated"), true, "", Some(TaintEffect::NoExecute)),
            false,
        ),
        (tol(Some("other"), true, "", None), false),
        (tol(None, true, "", None), true),
        (tol(Some(""), true, "", None), true),
        (tol(None, false, "", None), false),
        (tol(None, true, "", Some(TaintEffect::NoExecute)), false),
    ];
    for (i, (t, want)) in cases.iter().enumerate() {
        assert_eq!(t.tolerates(&gpu), *want, "case {i}: {t:?}");
    }
    // PreferNoSchedule never blocks; NoExecute does.
    let soft = taint("spot", "", TaintEffect::PreferNoSchedule);
    let hard = taint("evict", "", TaintEffect::NoExecute);
    assert_eq!(untolerated_taint(&[], std::slice::from_ref(&soft)), None);
    assert_eq!(
        untolerated_taint(&[], &[soft.clone(), hard.clone()]),
        Some(&hard)
    );
    assert_eq!(hard.to_string(), "evict:NoExecute");
    assert_eq!(gpu.to_string(), "dedicated=gpu:NoSchedule");
}

#[test]
fn affinity_operators() {
    use NodeSelectorOperator::*;
    let node = labels(&[("zone", "a"), ("cpus", "8"), ("gen", "x7")]);
    // (requirement, matches the node)
    let cases = [
        (req("zone", In, &["a", "b"]), true),
        (req("zone", In, &["b"]), false),
        (req("missing", In, &["a"]), false),
        (req("zone", NotIn, &["b"]), true),
        (req("zone", NotIn, &["a"]), false),
        (req("missing", NotIn, &["a"]), true),
        (req("zone", Exists, &[]), true),
        (req("missing", Exists, &[]), false),
        (req("missing", DoesNotExist, &[]), true),
        (req("zone", DoesNotExist, &[]), false),
        (req("cpus", Gt, &["4"]), true),
        (req("cpus", Gt, &["8"]), false),
        (req("cpus", Lt, &["16"]), true),
        (req("cpus", Lt, &["8"]), false),
        (req("gen", Gt, &["1"]), false),       // not an integer label
        (req("cpus", Gt, &["1", "2"]), false), // Gt needs one value
        (req("cpus", Lt, &["x"]), false),
        (req("missing", Lt, &["9"]), false),
    ];
    for (i, (r, want)) in cases.iter().enumerate() {
        let sel = NodeSelector {
            terms: vec![term(vec![r.clone()])],
        };
        assert_eq!(sel.matches(&node, "n1"), *want, "case {i}: {r}");
    }
    // AND within a term, OR across terms.
    let and = NodeSelector {
        terms: vec![term(vec![req("zone", In, &["a"]), req("cpus", Gt, &["8"])])],
    };
    assert!(!and.matches(&node, "n1"));
    let or = NodeSelector {
        terms: vec![
            term(vec![req("zone", In, &["a"]), req("cpus", Gt, &["8"])]),
            term(vec![req("gen", In, &["x7"])]),
        ],
    };
    assert!(or.matches(&node, "n1"));
    // No terms, or an empty term: no node.
    assert!(!NodeSelector { terms: vec![] }.matches(&node, "n1"));
    assert!(
        !NodeSelector {
            terms: vec![term(vec![])]
        }
        .matches(&node, "n1")
    );
    // matchFields on metadata.name.
    let pinned = NodeSelector {
        terms: vec![NodeSelectorTerm {
            match_expressions: vec![],
            match_fields: vec![req("metadata.name", In, &["n1"])],
        }],
    };
    assert!(pinned.matches(&node, "n1"));
    assert!(!pinned.matches(&node, "n2"));
    assert!(!pinned.matches(&node, ""), "a new node has no name yet");
}

#[test]
fn first_failed_predicate_messages() {
    use NodeSelectorOperator::*;
    let template_labels = labels(&[("zone", "us-east-1b"), ("disk", "hdd")]);
    let gpu = taint("dedicated", "gpu", TaintEffect::NoSchedule);
    let mut p = pending("p", 100, MIB);
    p.node_selector = labels(&[("disk", "ssd")]);
    p.required_node_affinity = Some(NodeSelector {
        terms: vec![term(vec![req("zone", In, &["us-east-1a"])])],
    });
    // Taints come first, then the node selector, then affinity.
    let cases: Vec<(Vec<Taint>, bool, &str)> = vec![
        (
            vec![gpu.clone()],
            true,
            "taint dedicated=gpu:NoSchedule not tolerated",
        ),
        (
            vec![],
            true,
            "nodeSelector disk=ssd not matched (node has disk=hdd)",
        ),
        (
            vec![],
            false,
            "affinity zone In [us-east-1a] not matched (node has zone=us-east-1b)",
        ),
    ];
    for (taints, selector, want) in cases {
        let mut pod = p.clone();
        if !selector {
            pod.node_selector.clear();
        }
        let got = pod
            .placement_failure(&template_labels, &taints, "")
            .unwrap();
        assert_eq!(got.to_string(), want);
    }
    // Two terms: the first term's first failure, and how many terms failed.
    let mut two = pending("two", 100, MIB);
    two.required_node_affinity = Some(NodeSelector {
        terms: vec![
            term(vec![req("zone", In, &["us-east-1a"])]),
            term(vec![req("gpu", Exists, &[])]),
        ],
    });
    assert_eq!(
        two.placement_failure(&template_labels, &[], "")
            .unwrap()
            .to_string(),
        "affinity zone In [us-east-1a] not matched (node has zone=us-east-1b); none of its 2 terms matched"
    );
    // A DaemonSet pod pinned to an existing node.
    let mut ds_pod = pending("ds", 100, MIB);
    ds_pod.required_node_affinity = Some(NodeSelector {
        terms: vec![NodeSelectorTerm {
            match_expressions: vec![],
            match_fields: vec![req("metadata.name", In, &["ip-10-0-0-1"])],
        }],
    });
    assert_eq!(
        ds_pod
            .placement_failure(&template_labels, &[], "")
            .unwrap()
            .to_string(),
        "affinity metadata.name In [ip-10-0-0-1] not matched (a new node's name is not known in advance)"
    );
}

#[test]
fn resource_messages_name_the_resource_and_both_amounts() {
    let snap = snapshot(
        vec![node("small-1", "small", 4_000, 4 * GIB)],
        vec![
            pending("big-memory", 1_000, 6 * GIB),
            pending("big-cpu", 6_500, GIB),
        ],
    );
    let s = spec("small");
    let a = assign(&snap, &[("small", &s)]);
    assert_eq!(a.unfit_count(), 2);
    let why = |i: usize| a.reasons(&snap.pods[i])[0].as_ref().unwrap().to_string();
    assert_eq!(why(0), "memory 6Gi > allocatable 4Gi");
    assert_eq!(why(1), "cpu 6500m > allocatable 4");
}

// ------------------------------------------------------------------ templates

#[test]
fn template_from_the_smallest_named_ready_uncordoned_node() {
    let mut cordoned = node("a-cordoned", "web", 16_000, 64 * GIB);
    cordoned.unschedulable = true;
    let mut not_ready = node("a-not-ready", "web", 16_000, 64 * GIB);
    not_ready.ready = false;
    let mut chosen = node("b-node", "web", 4_000, 16 * GIB);
    chosen.taints = vec![
        taint("node.kubernetes.io/not-ready", "", TaintEffect::NoExecute),
        taint("team", "web", TaintEffect::PreferNoSchedule),
    ];
    let later = node("c-node", "web", 8_000, 32 * GIB);
    let other = node("a-other", "db", 2_000, 2 * GIB);
    let snap = snapshot(vec![cordoned, not_ready, later, chosen, other], vec![]);
    let s = spec("web");
    let a = assign(&snap, &[("web", &s)]);
    let g = a.group("default", "web").unwrap();
    assert_eq!(
        g.template_source,
        TemplateSource::Node("b-node".to_string())
    );
    let t = g.template.as_ref().unwrap();
    assert_eq!(t.allocatable, Resources::new(4_000, 16 * GIB, 110));
    // The hostname and the condition taint are the node's, not the group's.
    assert_eq!(t.labels, labels(&[("group", "web")]));
    assert_eq!(
        t.taints,
        vec![taint("team", "web", TaintEffect::PreferNoSchedule)]
    );
    // Registered: the three Ready nodes (cordoned included).
    assert_eq!(g.registered, 3);
    assert_eq!(a.status_values(0)["template"], "node b-node");
}

#[test]
fn scale_from_zero_uses_the_provider_template_with_the_selector_labels() {
    let gpu_taint = taint("nvidia.com/gpu", "", TaintEffect::NoSchedule);
    let template = NodeTemplate::new(Resources::new(8_000, 32 * GIB, 110))
        .label("accelerator", "nvidia")
        .taint(gpu_taint.clone());
    let mut trainer = pending("trainer", 6_000, 24 * GIB);
    trainer.node_selector = labels(&[("group", "gpu"), ("accelerator", "nvidia")]);
    trainer.tolerations = vec![Toleration {
        key: Some("nvidia.com/gpu".to_string()),
        exists: true,
        value: String::new(),
        effect: Some(TaintEffect::NoSchedule),
    }];
    let plain = pending("plain", 1_000, GIB);
    let snap = snapshot(vec![], vec![trainer, plain]);
    let mut s = spec("gpu");
    s.scalable_node_group_ref = Some(ScalableNodeGroupRef {
        name: "gpu".to_string(),
    });
    let input = PendingCapacityInput::new("ml", "gpu-pending", &s, found("gpu", 0, Some(template)));
    let a = PendingAssignment::compute(&snap, &[input]);
    let g = a.group("ml", "gpu-pending").unwrap();
    assert_eq!(
        g.template_source,
        TemplateSource::Provider("gpu".to_string())
    );
    assert_eq!(
        g.template.as_ref().unwrap().labels,
        labels(&[("accelerator", "nvidia"), ("group", "gpu")])
    );
    assert_eq!(
        (g.pods, g.new_nodes, g.registered, g.upcoming),
        (1, 1, 0, 0)
    );
    assert_eq!(g.desired_nodes(), 1);
    assert_eq!(
        a.status_values(0)["template"],
        "provider (ScalableNodeGroup gpu)"
    );
    // The plain pod does not tolerate the GPU taint.
    assert_eq!(
        a.reasons(&snap.pods[1])[0].as_ref().unwrap().to_string(),
        "taint nvidia.com/gpu:NoSchedule not tolerated"
    );
}

#[test]
fn no_template_is_reported_with_the_fix() {
    let snap = snapshot(vec![], vec![pending("p", 100, MIB)]);
    let s = spec("gpu");
    let cases: Vec<(NodeGroupLink, &str)> = vec![
        (
            NodeGroupLink::Unset,
            "scalableNodeGroupRef is not set; set it to the group's ScalableNodeGroup",
        ),
        (
            NodeGroupLink::Missing {
                name: "gpu".to_string(),
            },
            "names ScalableNodeGroup \"gpu\", which does not exist in namespace \"default\"",
        ),
        (
            found("gpu", 0, None),
            "the provider of ScalableNodeGroup \"gpu\" has no node template",
        ),
        (
            NodeGroupLink::Found {
                name: "gpu".to_string(),
                desired: Ok(0),
                template: Some(Err(ProviderError::new(
                    ProviderErrorKind::Throttled,
                    "rate exceeded",
                ))),
            },
            "reading the node template of ScalableNodeGroup \"gpu\" failed: rate exceeded",
        ),
    ];
    for (link, want) in cases {
        let input = PendingCapacityInput::new("default", "gpu-pending", &s, link);
        let a = PendingAssignment::compute(&snap, &[input]);
        let g = &a.groups()[0];
        assert!(
            matches!(&g.template_source, TemplateSource::None(m) if m.contains(want)),
            "{:?}",
            g.template_source
        );
        let status = a.status_values(0);
        assert!(
            status["template"].starts_with("none: nodeSelector {group: gpu} matches no node and "),
            "{status:?}"
        );
        assert!(status["message"].contains(want), "{status:?}");
        assert_eq!((g.pods, g.new_nodes), (0, 0));
        assert_eq!(a.reasons(&snap.pods[0]), vec![Some(NotFit::NoTemplate)]);
        // Gauges are still exported: nothing fits, the size stays.
        assert_eq!(g.desired_nodes(), 0);
    }
}

#[test]
fn a_selector_that_matches_no_node_is_a_message_and_others_keep_working() {
    let snap = snapshot(
        vec![node("web-1", "web", 4_000, 8 * GIB)],
        vec![pending("p", 1_000, GIB)],
    );
    let typo = spec("wbe");
    let web = spec("web");
    let a = assign(&snap, &[("typo", &typo), ("web", &web)]);
    let s = a.status_values(0);
    assert!(
        s["message"].contains("nodeSelector {group: wbe} matches no node"),
        "{s:?}"
    );
    assert_eq!(counts(&a, "web"), (1, 1, 0));
    assert_eq!(counts(&a, "typo"), (0, 0, 0));
}

#[test]
fn daemon_sets_that_land_on_a_new_node_are_taken_from_its_allocatable() {
    let mut gpu_node = node("gpu-1", "gpu", 4_000, 16 * GIB);
    gpu_node.taints = vec![taint("dedicated", "gpu", TaintEffect::NoSchedule)];
    let everywhere = Toleration {
        key: None,
        exists: true,
        value: String::new(),
        effect: None,
    };
    let ds = |name: &str, cpu: i64, memory: i64| DaemonSet {
        namespace: "kube-system".to_string(),
        name: name.to_string(),
        requests: Resources::new(cpu, memory, 1),
        ..DaemonSet::default()
    };
    let daemon_sets = vec![
        // Tolerates everything: lands.
        DaemonSet {
            tolerations: vec![everywhere],
            ..ds("kube-proxy", 100, 256 * MIB)
        },
        // Does not tolerate the taint: stays off.
        ds("log-agent", 200, 512 * MIB),
        // Selects GPU nodes and tolerates them: lands.
        DaemonSet {
            node_selector: labels(&[("group", "gpu")]),
            tolerations: vec![Toleration {
                key: Some("dedicated".to_string()),
                exists: false,
                value: "gpu".to_string(),
                effect: Some(TaintEffect::NoSchedule),
            }],
            ..ds("gpu-plugin", 250, 256 * MIB)
        },
        // Required affinity to another zone: stays off.
        DaemonSet {
            tolerations: vec![Toleration {
                key: None,
                exists: true,
                value: String::new(),
                effect: None,
            }],
            required_node_affinity: Some(NodeSelector {
                terms: vec![term(vec![req("zone", NodeSelectorOperator::In, &["b"])])],
            }),
            ..ds("zonal", 1_000, GIB)
        },
    ];
    let tolerant = |name: &str, cpu: i64| {
        let mut p = pending(name, cpu, GIB);
        p.tolerations = vec![Toleration {
            key: Some("dedicated".to_string()),
            exists: true,
            value: String::new(),
            effect: None,
        }];
        p
    };
    let snap = ClusterSnapshot {
        nodes: vec![gpu_node],
        pods: vec![tolerant("fits", 3_650), tolerant("too-big", 3_700)],
        daemon_sets,
    };
    let s = spec("gpu");
    let a = assign(&snap, &[("gpu", &s)]);
    let g = a.group("default", "gpu").unwrap();
    assert_eq!(g.daemon_sets, 2);
    assert_eq!(g.daemon_set_requests, Resources::new(350, 512 * MIB, 2));
    assert_eq!(
        g.allocatable,
        Some(Resources::new(3_650, 16 * GIB - 512 * MIB, 108))
    );
    assert_eq!(
        a.status_values(0)["allocatable"],
        "cpu 3650m, memory 15872Mi, pods 108 per new node (after 2 DaemonSet(s) requesting cpu 350m, memory 512Mi, pods 2)"
    );
    assert_eq!(counts(&a, "gpu"), (1, 1, 0));
    assert_eq!(
        a.reasons(&snap.pods[1])[0].as_ref().unwrap().to_string(),
        "cpu 3700m > allocatable 3650m"
    );
}

#[test]
fn daemon_sets_that_leave_nothing_are_reported() {
    let snap = ClusterSnapshot {
        nodes: vec![node("tiny-1", "tiny", 500, GIB)],
        pods: vec![pending("p", 10, MIB)],
        daemon_sets: vec![DaemonSet {
            name: "hog".to_string(),
            requests: Resources::new(600, 0, 1),
            ..DaemonSet::default()
        }],
    };
    let s = spec("tiny");
    let a = assign(&snap, &[("tiny", &s)]);
    let g = &a.groups()[0];
    assert_eq!(g.allocatable.unwrap().cpu_millis, -100);
    assert!(
        g.message()
            .unwrap()
            .contains("a new node offers nothing for pods"),
        "{g:?}"
    );
    assert_eq!(a.unfit_count(), 1);
    assert_eq!(
        a.reasons(&snap.pods[0])[0].as_ref().unwrap().to_string(),
        "cpu 10m > allocatable -100m"
    );
}

// ------------------------------------------------------------------- packing

#[test]
fn first_fit_decreasing_packs_largest_first() {
    // In creation order first fit would use 4 nodes (1+1+1 | 2 | 3 | 3);
    // largest first: 3+1 | 3+1 | 2+1 = 3 nodes.
    let pods = [1_000, 1_000, 1_000, 2_000, 3_000, 3_000]
        .iter()
        .enumerate()
        .map(|(i, cpu)| pending(&format!("p{i}"), *cpu, MIB))
        .collect();
    let snap = snapshot(vec![node("w-1", "w", 4_000, 16 * GIB)], pods);
    let s = spec("w");
    let a = assign(&snap, &[("w", &s)]);
    assert_eq!(counts(&a, "w"), (6, 3, 0));
    // p4 (3 cpu) opens node 0, p5 node 1, p3 (2) node 2; the 1s fill 0, 1, 2.
    let nodes: Vec<Placement> = a.pods().iter().map(|p| p.placement).collect();
    let new = |node| Placement::New { group: 0, node };
    assert_eq!(nodes, vec![new(0), new(1), new(2), new(2), new(0), new(1)]);
    let g = &a.groups()[0];
    // 11 of 12 cpu used: waste 1/12.
    assert!((g.waste.unwrap() - 1.0 / 12.0).abs() < 1e-12);
}

#[test]
fn memory_and_pod_slots_bound_the_packing_too() {
    // 8 cpu / 8Gi / 3 pod slots per node.
    let mut n = node("m-1", "m", 8_000, 8 * GIB);
    n.allocatable.pods = 3;
    let pods = vec![
        pending("a", 500, 5 * GIB),
        pending("b", 500, 5 * GIB),
        pending("c", 100, 10),
        pending("d", 100, 10),
        pending("e", 100, 10),
        pending("f", 100, 10),
    ];
    let snap = snapshot(vec![n], pods);
    let s = spec("m");
    let a = assign(&snap, &[("m", &s)]);
    // a | b (memory), then c, d fill a's node (3 slots), e, f fill b's.
    assert_eq!(counts(&a, "m"), (6, 2, 0));
    let g = &a.groups()[0];
    // Slots are the dominant resource: 6 of 6 used, waste 0.
    assert_eq!(g.waste, Some(0.0));
}

#[test]
fn upcoming_nodes_absorb_pods_before_new_nodes() {
    let snap = snapshot(
        vec![node("w-1", "w", 4_000, 16 * GIB)],
        (0..5)
            .map(|i| pending(&format!("p{i}"), 2_000, GIB))
            .collect(),
    );
    let mut s = spec("w");
    s.scalable_node_group_ref = Some(ScalableNodeGroupRef {
        name: "w".to_string(),
    });
    // Desired 3, registered 1: 2 upcoming nodes hold 4 of the 5 pods.
    let input = PendingCapacityInput::new("default", "w", &s, found("w", 3, None));
    let a = PendingAssignment::compute(&snap, &[input]);
    let g = a.group("default", "w").unwrap();
    assert_eq!((g.registered, g.upcoming, g.new_nodes), (1, 2, 1));
    assert_eq!((g.pods, g.pods_on_upcoming), (5, 4));
    assert_eq!(g.desired_nodes(), 4);
    assert_eq!(
        a.status_values(0)["nodes"],
        "registered 1, upcoming 2, new 1, desired 4"
    );
    assert_eq!(a.status_values(0)["pods"], "5 (4 on upcoming nodes)");
    let gauges = g.gauges(&karpenter_core::producers::producer_labels("w", "default"));
    let values: Vec<(&str, f64)> = gauges.iter().map(|g| (g.name, g.value)).collect();
    assert_eq!(
        values,
        vec![
            ("karpenter_pending_capacity_nodes", 1.0),
            ("karpenter_pending_capacity_pods", 5.0),
            ("karpenter_pending_capacity_desired_nodes", 4.0),
        ]
    );

    // A desired size below the registered nodes (a scale-down in flight):
    // no upcoming node.
    let input = PendingCapacityInput::new("default", "w", &s, found("w", 0, None));
    let a = PendingAssignment::compute(&snap, &[input]);
    let g = &a.groups()[0];
    assert_eq!((g.upcoming, g.new_nodes, g.desired_nodes()), (0, 3, 4));

    // A failed read of the desired size: upcoming unknown, said so.
    let broken = NodeGroupLink::Found {
        name: "w".to_string(),
        desired: Err(ProviderError::new(ProviderErrorKind::Timeout, "timed out")),
        template: None,
    };
    let input = PendingCapacityInput::new("default", "w", &s, broken);
    let a = PendingAssignment::compute(&snap, &[input]);
    assert_eq!(a.groups()[0].upcoming, 0);
    assert!(
        a.status_values(0)["message"]
            .contains("reading the desired size of ScalableNodeGroup \"w\" failed")
    );
    assert!(a.status_values(0)["nodes"].contains("upcoming unknown"));
}

// ---------------------------------------------------------- joint assignment

#[test]
fn least_waste_picks_the_group_and_each_pod_counts_once() {
    // Six 2-cpu / 1Gi pods fit both groups.
    // narrow (4 cpu): 3 nodes, 12/12 cpu -> waste 0.
    // wide (8 cpu / 16Gi): 2 nodes, 12/16 cpu -> waste 0.25.
    let snap = snapshot(
        vec![
            node("narrow-1", "narrow", 4_000, 16 * GIB),
            node("wide-1", "wide", 8_000, 16 * GIB),
        ],
        (0..6)
            .map(|i| pending(&format!("p{i}"), 2_000, GIB))
            .collect(),
    );
    let (narrow, wide) = (spec("narrow"), spec("wide"));
    let a = assign(&snap, &[("wide", &wide), ("narrow", &narrow)]);
    assert_eq!(counts(&a, "narrow"), (6, 3, 0));
    assert_eq!(counts(&a, "wide"), (0, 0, 0));
    assert_eq!(a.groups()[0].waste, Some(0.0));

    // Seven pods: narrow needs 4 nodes (14/16, waste 1/8), wide 2 nodes
    // (14/16, waste 1/8): a tie, won by the name that sorts first.
    let snap7 = snapshot(
        snap.nodes.clone(),
        (0..7)
            .map(|i| pending(&format!("p{i}"), 2_000, GIB))
            .collect(),
    );
    let a = assign(&snap7, &[("wide", &wide), ("narrow", &narrow)]);
    assert_eq!(counts(&a, "narrow"), (7, 4, 0));
    assert_eq!(counts(&a, "wide"), (0, 0, 0));

    // A pod only the wide group can take goes there, whoever wins the rest.
    let mut big = pending("big", 6_000, GIB);
    big.namespace = "ml".to_string();
    let mut pods = snap.pods.clone();
    pods.push(big);
    let snap8 = snapshot(snap.nodes.clone(), pods);
    let a = assign(&snap8, &[("wide", &wide), ("narrow", &narrow)]);
    // Round 1: narrow packs the six 2-cpu pods with waste 0 and wins;
    // round 2: wide takes the 6-cpu pod alone (1 node, 6/8 -> 0.25).
    assert_eq!(counts(&a, "narrow"), (6, 3, 0));
    assert_eq!(counts(&a, "wide"), (1, 1, 0));
    assert_eq!(a.unfit_count(), 0);
}

#[test]
fn the_winning_group_takes_what_it_packed_and_the_rest_is_packed_again() {
    // wide (8 cpu): 3-cpu pods pack 2 per node (6/8, waste 0.25);
    // odd (6 cpu): 2 per node (6/6, waste 0) but only takes pods tolerating
    // its taint. The tolerating pods go to odd; the others to wide.
    let mut odd_node = node("odd-1", "odd", 6_000, 16 * GIB);
    odd_node.taints = vec![taint("odd", "", TaintEffect::NoSchedule)];
    let tolerating = |name: &str| {
        let mut p = pending(name, 3_000, GIB);
        p.tolerations = vec![Toleration {
            key: Some("odd".to_string()),
            exists: true,
            value: String::new(),
            effect: None,
        }];
        p
    };
    let snap = snapshot(
        vec![node("wide-1", "wide", 8_000, 16 * GIB), odd_node],
        vec![
            tolerating("t0"),
            pending("p0", 3_000, GIB),
            tolerating("t1"),
            pending("p1", 3_000, GIB),
            pending("p2", 3_000, GIB),
        ],
    );
    let (wide, odd) = (spec("wide"), spec("odd"));
    let a = assign(&snap, &[("wide", &wide), ("odd", &odd)]);
    assert_eq!(counts(&a, "odd"), (2, 1, 0));
    assert_eq!(counts(&a, "wide"), (3, 2, 0));
    assert_eq!(
        groups_of(&a),
        vec![
            (0, "odd".to_string()),
            (1, "wide".to_string()),
            (2, "odd".to_string()),
            (3, "wide".to_string()),
            (4, "wide".to_string()),
        ]
    );
}

#[test]
fn upcoming_nodes_of_any_group_come_before_least_waste() {
    // The 4-cpu group has the least waste, but the 8-cpu group already has
    // an upcoming node: two 2-cpu pods... four of them fill it.
    let snap = snapshot(
        vec![
            node("narrow-1", "narrow", 4_000, 16 * GIB),
            node("wide-1", "wide", 8_000, 16 * GIB),
        ],
        (0..6)
            .map(|i| pending(&format!("p{i}"), 2_000, GIB))
            .collect(),
    );
    let narrow = spec("narrow");
    let mut wide = spec("wide");
    wide.scalable_node_group_ref = Some(ScalableNodeGroupRef {
        name: "wide".to_string(),
    });
    let inputs = [
        PendingCapacityInput::new("default", "narrow", &narrow, NodeGroupLink::Unset),
        PendingCapacityInput::new("default", "wide", &wide, found("wide", 2, None)),
    ];
    let a = PendingAssignment::compute(&snap, &inputs);
    assert_eq!(counts(&a, "wide"), (4, 0, 4));
    assert_eq!(counts(&a, "narrow"), (2, 1, 0));
    assert_eq!(a.group("default", "wide").unwrap().desired_nodes(), 2);
}

#[test]
fn pods_that_fit_no_group_are_counted_with_a_reason_per_group() {
    let mut gpu_node = node("gpu-1", "gpu", 8_000, 32 * GIB);
    gpu_node.taints = vec![taint("dedicated", "gpu", TaintEffect::NoSchedule)];
    let mut zonal = pending("zonal", 1_000, GIB);
    zonal.required_node_affinity = Some(NodeSelector {
        terms: vec![term(vec![req(
            "zone",
            NodeSelectorOperator::In,
            &["us-east-1a"],
        )])],
    });
    let snap = snapshot(
        vec![node("web-1", "web", 4_000, 4 * GIB), gpu_node],
        vec![
            pending("huge", 2_000, 6 * GIB),
            zonal,
            pending("ok", 1_000, GIB),
        ],
    );
    let (web, gpu) = (spec("web"), spec("gpu"));
    let a = assign(&snap, &[("web", &web), ("gpu", &gpu)]);
    assert_eq!(a.unfit_count(), 2);
    assert_eq!(counts(&a, "web"), (1, 1, 0));
    // Groups in name order: gpu, web.
    let texts = |i: usize| -> Vec<String> {
        a.reasons(&snap.pods[i])
            .into_iter()
            .map(|r| r.unwrap().to_string())
            .collect()
    };
    assert_eq!(
        texts(0),
        vec![
            "taint dedicated=gpu:NoSchedule not tolerated",
            "memory 6Gi > allocatable 4Gi",
        ]
    );
    assert_eq!(
        texts(1),
        vec![
            "taint dedicated=gpu:NoSchedule not tolerated",
            "affinity zone In [us-east-1a] not matched (node has no label zone)",
        ]
    );
    // Each producer's status counts them and says why not here.
    assert_eq!(
        a.status_values(1)["unschedulablePods"],
        "2 pending pod(s) fit no node group: default/huge (here: memory 6Gi > allocatable 4Gi), default/zonal (here: affinity zone In [us-east-1a] not matched (node has no label zone))"
    );
    assert!(a.status_values(0)["unschedulablePods"].starts_with("2 pending pod(s) fit no node group: default/huge (here: taint dedicated=gpu:NoSchedule not tolerated)"));
}

#[test]
fn unevaluated_constraints_are_packed_on_the_rest_and_reported() {
    let mut db = pending("db-0", 1_000, GIB);
    db.unevaluated = UnevaluatedConstraints {
        pod_anti_affinity: true,
        volumes: true,
        ..UnevaluatedConstraints::default()
    };
    let snap = snapshot(vec![node("w-1", "w", 4_000, 8 * GIB)], vec![db]);
    let s = spec("w");
    let a = assign(&snap, &[("w", &s)]);
    assert_eq!(counts(&a, "w"), (1, 1, 0));
    assert_eq!(
        a.status_values(0)["unevaluatedConstraints"],
        "1 pod(s) counted here have constraints that are not evaluated: default/db-0 (required pod anti-affinity, volume zones (PersistentVolumeClaims))"
    );
}

#[test]
fn only_pending_unschedulable_pods_count() {
    let mut running = pending("running", 1_000, GIB);
    running.phase = PodPhase::Running;
    running.node_name = Some("w-1".to_string());
    running.unschedulable = false;
    let mut not_yet_tried = pending("fresh", 1_000, GIB);
    not_yet_tried.unschedulable = false;
    let mut bound = pending("bound", 1_000, GIB);
    bound.node_name = Some("w-1".to_string());
    let mut failed = pending("failed", 1_000, GIB);
    failed.phase = PodPhase::Failed;
    let snap = snapshot(
        vec![node("w-1", "w", 4_000, 8 * GIB)],
        vec![
            running,
            not_yet_tried,
            bound,
            failed,
            pending("yes", 1_000, GIB),
        ],
    );
    let s = spec("w");
    let a = assign(&snap, &[("w", &s)]);
    assert_eq!(a.pods().len(), 1);
    assert_eq!(a.pods()[0].pod, 4);
    assert_eq!(counts(&a, "w"), (1, 1, 0));
}

#[test]
fn input_order_does_not_matter_and_a_producer_counts_once() {
    let snap = snapshot(
        vec![
            node("a-1", "a", 4_000, 16 * GIB),
            node("b-1", "b", 4_000, 16 * GIB),
            node("c-1", "c", 8_000, 8 * GIB),
        ],
        (0..9)
            .map(|i| pending(&format!("p{i}"), 1_000 * (1 + i % 3), GIB * (1 + i % 2)))
            .collect(),
    );
    let (sa, sb, sc) = (spec("a"), spec("b"), spec("c"));
    let one = assign(&snap, &[("a", &sa), ("b", &sb), ("c", &sc)]);
    let two = assign(&snap, &[("c", &sc), ("a", &sa), ("b", &sb), ("a", &sa)]);
    assert_eq!(one, two);
    assert_eq!(one.groups().len(), 3);
    // Identical groups a and b: a wins every tie, b gets nothing.
    assert_eq!(counts(&one, "b"), (0, 0, 0));
    let total: usize = one.groups().iter().map(|g| g.pods).sum();
    assert_eq!(total, 9);
}

#[test]
fn negative_requests_count_as_zero_and_nothing_panics() {
    let snap = snapshot(
        vec![node("w-1", "w", 4_000, 8 * GIB)],
        vec![
            pending("neg", -5_000, -GIB),
            pending("max", i64::MAX, i64::MAX),
        ],
    );
    let s = spec("w");
    let a = assign(&snap, &[("w", &s)]);
    assert_eq!(counts(&a, "w"), (1, 1, 0));
    assert_eq!(a.unfit_count(), 1);
    assert_eq!(
        a.reasons(&snap.pods[1])[0].as_ref().unwrap().to_string(),
        "cpu 9223372036854775807m > allocatable 4"
    );
}

#[test]
fn nodes_that_are_not_ready_give_no_template_and_are_not_registered() {
    let mut booting = node("w-1", "w", 4_000, 8 * GIB);
    booting.ready = false;
    let snap = snapshot(vec![booting], vec![pending("p", 1_000, GIB)]);
    let s = spec("w");
    let a = assign(&snap, &[("w", &s)]);
    let g = &a.groups()[0];
    assert_eq!(g.registered, 0);
    assert!(
        matches!(&g.template_source, TemplateSource::None(m) if m.starts_with("no node matching nodeSelector {group: w} is Ready and ")),
        "{:?}",
        g.template_source
    );
}
