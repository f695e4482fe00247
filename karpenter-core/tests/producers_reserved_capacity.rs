//! The reservedCapacity producer: a pure function over a cluster snapshot.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on purpose.

use std::collections::BTreeMap;

use karpenter_core::cluster::{ClusterSnapshot, Node, Pod, PodPhase, Resources};
use karpenter_core::producers::producer_labels;
use karpenter_core::producers::reserved_capacity::{self, ReservedCapacity};

const GIB: i64 = 1 << 30;

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn node(name: &str, group: &str, alloc: Resources) -> Node {
    Node {
        name: name.to_string(),
        labels: labels(&[("group", group), ("zone", "a")]),
        allocatable: alloc,
        taints: vec![],
        ready: true,
        unschedulable: false,
    }
}

fn pod(name: &str, node: Option<&str>, requests: Resources, phase: PodPhase) -> Pod {
    Pod {
        namespace: "default".to_string(),
        name: name.to_string(),
        node_name: node.map(str::to_string),
        requests,
        phase,
        unschedulable: false,
        node_selector: BTreeMap::new(),
        tolerations: vec![],
    }
}

fn gauge(rc: &ReservedCapacity, name: &str) -> f64 {
    rc.gauges(&producer_labels("p", "ns"))
        .into_iter()
        .find(|g| g.name == name)
        .unwrap_or_else(|| panic!("no gauge {name}"))
        .value
}

#[test]
fn sums_requests_of_live_pods_on_ready_schedulable_selected_nodes() {
    let big = Resources::new(8_000, 32 * GIB, 110);
    let mut not_ready = node("n3", "ml", big);
    not_ready.ready = false;
    let mut cordoned = node("n4", "ml", big);
    cordoned.unschedulable = true;
    let snapshot = ClusterSnapshot {
        nodes: vec![
            node("n1", "ml", big),
            node("n2", "ml", big),
            not_ready,
            cordoned,
            node("o1", "other", big),
        ],
        pods: vec![
            pod(
                "a",
                Some("n1"),
                Resources::new(6_000, 8 * GIB, 1),
                PodPhase::Running,
            ),
            pod(
                "b",
                Some("n2"),
                Resources::new(4_000, 8 * GIB, 1),
                PodPhase::Pending,
            ),
            // Terminated pods reserve nothing.
            pod(
                "c",
                Some("n2"),
                Resources::new(4_000, 8 * GIB, 1),
                PodPhase::Succeeded,
            ),
            pod(
                "d",
                Some("n1"),
                Resources::new(4_000, 8 * GIB, 1),
                PodPhase::Failed,
            ),
            // Pods on nodes that do not count, or on no node, reserve nothing.
            pod(
                "e",
                Some("n3"),
                Resources::new(1_000, GIB, 1),
                PodPhase::Running,
            ),
            pod(
                "f",
                Some("n4"),
                Resources::new(1_000, GIB, 1),
                PodPhase::Running,
            ),
            pod(
                "g",
                Some("o1"),
                Resources::new(1_000, GIB, 1),
                PodPhase::Running,
            ),
            pod("h", None, Resources::new(1_000, GIB, 1), PodPhase::Pending),
            pod(
                "i",
                Some("gone"),
                Resources::new(1_000, GIB, 1),
                PodPhase::Running,
            ),
        ],
    };
    let rc = ReservedCapacity::compute(&snapshot, &labels(&[("group", "ml")]));
    assert_eq!(rc.nodes, 2);
    assert_eq!(rc.capacity, Resources::new(16_000, 64 * GIB, 220));
    assert_eq!(rc.reserved, Resources::new(10_000, 16 * GIB, 2));
    assert_eq!(rc.cpu_utilization(), 0.625);
    assert_eq!(rc.memory_utilization(), 0.25);

    let values = rc.status_values();
    assert_eq!(values["cpu"], "62.50%, 10/16");
    assert_eq!(values["memory"], "25.00%, 16.00/64.00 GiB");
    assert_eq!(values["pods"], "0.91%, 2/220");
    assert_eq!(values["nodes"], "2");

    assert_eq!(gauge(&rc, reserved_capacity::CPU_RESERVED), 10.0);
    assert_eq!(gauge(&rc, reserved_capacity::CPU_CAPACITY), 16.0);
    assert_eq!(gauge(&rc, reserved_capacity::CPU_UTILIZATION), 0.625);
    assert_eq!(
        gauge(&rc, reserved_capacity::MEMORY_RESERVED),
        (16 * GIB) as f64
    );
    assert_eq!(
        gauge(&rc, reserved_capacity::MEMORY_CAPACITY),
        (64 * GIB) as f64
    );
    assert_eq!(gauge(&rc, reserved_capacity::MEMORY_UTILIZATION), 0.25);
    assert_eq!(gauge(&rc, reserved_capacity::PODS_RESERVED), 2.0);
    assert_eq!(gauge(&rc, reserved_capacity::PODS_CAPACITY), 220.0);
    assert_eq!(gauge(&rc, reserved_capacity::PODS_UTILIZATION), 2.0 / 220.0);
}

#[test]
fn every_gauge_carries_name_and_namespace_labels() {
    let rc = ReservedCapacity::default();
    let gauges = rc.gauges(&producer_labels("cap", "karpenter"));
    assert_eq!(gauges.len(), 9);
    for g in gauges {
        assert!(
            g.name.starts_with("karpenter_reserved_capacity_"),
            "{}",
            g.name
        );
        assert_eq!(
            *g.labels,
            [
                ("name".to_string(), "cap".to_string()),
                ("namespace".to_string(), "karpenter".to_string())
            ]
        );
    }
}

#[test]
fn no_capacity_means_zero_utilization_never_nan() {
    let snapshot = ClusterSnapshot {
        nodes: vec![node("n1", "ml", Resources::new(0, 0, 0))],
        pods: vec![pod(
            "a",
            Some("n1"),
            Resources::new(500, GIB, 1),
            PodPhase::Running,
        )],
    };
    for selector in [labels(&[("group", "ml")]), labels(&[("group", "none")])] {
        let rc = ReservedCapacity::compute(&snapshot, &selector);
        for g in rc.gauges(&karpenter_core::producers::Labels::from([])) {
            assert!(g.value.is_finite(), "{} = {}", g.name, g.value);
        }
        assert_eq!(rc.cpu_utilization(), 0.0);
        assert_eq!(rc.memory_utilization(), 0.0);
        assert_eq!(rc.pods_utilization(), 0.0);
    }
    let empty = ReservedCapacity::compute(&ClusterSnapshot::default(), &BTreeMap::new());
    assert_eq!(empty.status_values()["cpu"], "0.00%, 0/0");
    assert_eq!(empty.status_values()["memory"], "0.00%, 0.00/0.00 GiB");
}

#[test]
fn empty_selector_selects_every_node_and_all_labels_must_match() {
    let r = Resources::new(1_000, GIB, 10);
    let snapshot = ClusterSnapshot {
        nodes: vec![node("n1", "ml", r), node("n2", "web", r)],
        pods: vec![],
    };
    assert_eq!(
        ReservedCapacity::compute(&snapshot, &BTreeMap::new()).nodes,
        2
    );
    assert_eq!(
        ReservedCapacity::compute(&snapshot, &labels(&[("group", "ml"), ("zone", "a")])).nodes,
        1
    );
    assert_eq!(
        ReservedCapacity::compute(&snapshot, &labels(&[("group", "ml"), ("zone", "b")])).nodes,
        0
    );
}

#[test]
fn fractional_cores_and_overcommit_are_reported_as_they_are() {
    let snapshot = ClusterSnapshot {
        nodes: vec![node("n1", "ml", Resources::new(2_000, 4 * GIB, 4))],
        pods: vec![
            pod(
                "a",
                Some("n1"),
                Resources::new(1_500, 3 * GIB, 1),
                PodPhase::Running,
            ),
            pod(
                "b",
                Some("n1"),
                Resources::new(1_250, 2 * GIB, 1),
                PodPhase::Running,
            ),
        ],
    };
    let rc = ReservedCapacity::compute(&snapshot, &BTreeMap::new());
    assert_eq!(rc.status_values()["cpu"], "137.50%, 2.75/2");
    assert_eq!(gauge(&rc, reserved_capacity::CPU_RESERVED), 2.75);
    assert_eq!(rc.cpu_utilization(), 1.375);
}

#[test]
fn large_cluster_is_computed_correctly() {
    // 5,000 nodes in 5 groups, 30 pods per node; every 10th node is not
    // ready, every 3rd pod has finished.
    let groups = ["a", "b", "c", "d", "e"];
    let alloc = Resources::new(16_000, 64 * GIB, 110);
    let nodes: Vec<Node> = (0..5_000)
        .map(|i| {
            let mut n = node(&format!("node-{i}"), groups[i % 5], alloc);
            n.ready = !i.is_multiple_of(10);
            n
        })
        .collect();
    let mut pods = Vec::with_capacity(150_000);
    for i in 0..150_000usize {
        let phase = if i.is_multiple_of(3) {
            PodPhase::Succeeded
        } else {
            PodPhase::Running
        };
        pods.push(pod(
            &format!("pod-{i}"),
            Some(&format!("node-{}", i % 5_000)),
            Resources::new(100, 256 << 20, 1),
            phase,
        ));
    }
    let snapshot = ClusterSnapshot { nodes, pods };

    // Expected, by brute force over the same rules.
    let counted = |i: usize| i.is_multiple_of(5) && !i.is_multiple_of(10); // group "a" and ready
    let expected_nodes = (0..5_000).filter(|&i| counted(i)).count();
    let expected_pods = (0..150_000usize)
        .filter(|&i| !i.is_multiple_of(3) && counted(i % 5_000))
        .count() as i64;

    let rc = ReservedCapacity::compute(&snapshot, &labels(&[("group", "a")]));
    assert_eq!(rc.nodes, expected_nodes);
    assert_eq!(expected_nodes, 500);
    assert_eq!(
        rc.capacity,
        Resources::new(16_000 * 500, 64 * GIB * 500, 110 * 500)
    );
    assert_eq!(
        rc.reserved,
        Resources::new(
            100 * expected_pods,
            (256 << 20) * expected_pods,
            expected_pods
        )
    );
}
