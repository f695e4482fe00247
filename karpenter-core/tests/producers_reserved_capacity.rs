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
        ..Pod::default()
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
        daemon_sets: vec![],
    };
    let rc = ReservedCapacity::compute(&snapshot, &labels(&[("group", "ml")]));
    assert_eq!(rc.nodes, 2);
    assert_eq!(rc.capacity, Resources::new(16_000, 64 * GIB, 220));
    assert_eq!(rc.reserved, Resources::new(10_000, 16 * GIB, 2));
    assert_eq!(rc.cpu_utilization(), Some(0.625));
    assert_eq!(rc.memory_utilization(), Some(0.25));

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
    let rc = ReservedCapacity::compute(&snapshot_with_one_node(), &BTreeMap::new());
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
fn no_capacity_means_no_utilization_sample_and_a_message() {
    let snapshot = ClusterSnapshot {
        nodes: vec![node("n1", "ml", Resources::new(0, 0, 0))],
        pods: vec![pod(
            "a",
            Some("n1"),
            Resources::new(500, GIB, 1),
            PodPhase::Running,
        )],
        daemon_sets: vec![],
    };
    // A node that counts but has nothing allocatable: reserved is still
    // reported, utilization is not.
    let rc = ReservedCapacity::compute(&snapshot, &labels(&[("group", "ml")]));
    assert_eq!(rc.nodes, 1);
    assert_eq!(rc.reserved, Resources::new(500, GIB, 1));
    assert_eq!(rc.cpu_utilization(), None);
    assert_eq!(rc.memory_utilization(), None);
    assert_eq!(rc.pods_utilization(), None);
    let names: Vec<&str> = rc
        .gauges(&producer_labels("p", "ns"))
        .iter()
        .map(|g| g.name)
        .collect();
    assert_eq!(
        names,
        [
            reserved_capacity::CPU_RESERVED,
            reserved_capacity::CPU_CAPACITY,
            reserved_capacity::MEMORY_RESERVED,
            reserved_capacity::MEMORY_CAPACITY,
            reserved_capacity::PODS_RESERVED,
            reserved_capacity::PODS_CAPACITY,
        ]
    );
    assert_eq!(gauge(&rc, reserved_capacity::CPU_RESERVED), 0.5);
    let values = rc.status_values();
    assert_eq!(values["cpu"], "n/a, 0.5/0");
    assert_eq!(values["memory"], "n/a, 1.00/0.00 GiB");
    assert_eq!(
        values["message"],
        "the 1 counted node(s) have no allocatable cpu, memory, pods; its utilization is not reported"
    );

    // Only cpu missing: only the cpu utilization gauge is left out.
    let cpu_less = ClusterSnapshot {
        nodes: vec![node("n1", "ml", Resources::new(0, 4 * GIB, 10))],
        pods: vec![],
        daemon_sets: vec![],
    };
    let rc = ReservedCapacity::compute(&cpu_less, &BTreeMap::new());
    assert_eq!(rc.gauges(&producer_labels("p", "ns")).len(), 8);
    assert_eq!(rc.memory_utilization(), Some(0.0));
    assert!(rc.status_values()["message"].contains("no allocatable cpu;"));
}

#[test]
fn a_selector_matching_no_node_is_a_status_message() {
    let snapshot = ClusterSnapshot {
        nodes: vec![node("n1", "ml", Resources::new(4_000, 4 * GIB, 10))],
        pods: vec![],
        daemon_sets: vec![],
    };
    let rc = ReservedCapacity::compute(&snapshot, &labels(&[("group", "x")]));
    assert_eq!(rc.nodes, 0);
    let gauges = rc.gauges(&producer_labels("p", "ns"));
    assert_eq!(gauges.len(), 6, "reserved and capacity only: {gauges:?}");
    assert!(gauges.iter().all(|g| g.value == 0.0));
    let values = rc.status_values();
    assert_eq!(
        values["message"],
        "nodeSelector {group: x} matches no ready, schedulable node; utilization is not reported"
    );
    assert_eq!(values["cpu"], "n/a, 0/0");
    assert_eq!(values["nodes"], "0");

    // Matching nodes that are all cordoned or not ready: the same message.
    let mut cordoned = node("n1", "ml", Resources::new(4_000, 4 * GIB, 10));
    cordoned.unschedulable = true;
    let mut not_ready = node("n2", "ml", Resources::new(4_000, 4 * GIB, 10));
    not_ready.ready = false;
    let snapshot = ClusterSnapshot {
        nodes: vec![cordoned, not_ready],
        pods: vec![],
        daemon_sets: vec![],
    };
    let selector = labels(&[("group", "ml"), ("zone", "a")]);
    let values = ReservedCapacity::compute(&snapshot, &selector).status_values();
    assert!(
        values["message"].starts_with("nodeSelector {group: ml, zone: a} matches no ready"),
        "{}",
        values["message"]
    );

    // An empty cluster, empty selector.
    let empty = ReservedCapacity::compute(&ClusterSnapshot::default(), &BTreeMap::new());
    assert!(empty.status_values()["message"].starts_with("nodeSelector {} matches no"));
    assert_eq!(empty.status_values()["memory"], "n/a, 0.00/0.00 GiB");

    // Enough capacity: no message.
    let rc = ReservedCapacity::compute(&snapshot_with_one_node(), &BTreeMap::new());
    assert!(!rc.status_values().contains_key("message"));
}

fn snapshot_with_one_node() -> ClusterSnapshot {
    ClusterSnapshot {
        nodes: vec![node("n1", "ml", Resources::new(4_000, 4 * GIB, 10))],
        pods: vec![],
        daemon_sets: vec![],
    }
}

#[test]
fn terminal_pods_and_pods_on_nodes_that_do_not_count_reserve_nothing() {
    let r = Resources::new(4_000, 4 * GIB, 10);
    let mut cordoned = node("cordoned", "ml", r);
    cordoned.unschedulable = true;
    let mut not_ready = node("not-ready", "ml", r);
    not_ready.ready = false;
    let snapshot = ClusterSnapshot {
        nodes: vec![
            node("n1", "ml", r),
            node("web", "web", r),
            cordoned,
            not_ready,
        ],
        pods: ["n1", "web", "cordoned", "not-ready", "missing"]
            .iter()
            .flat_map(|n| {
                [
                    PodPhase::Pending,
                    PodPhase::Running,
                    PodPhase::Succeeded,
                    PodPhase::Failed,
                ]
                .into_iter()
                .map(move |phase| {
                    pod(
                        &format!("{n}-{phase:?}"),
                        Some(n),
                        Resources::new(100, GIB, 1),
                        phase,
                    )
                })
            })
            .collect(),
        daemon_sets: vec![],
    };
    let rc = ReservedCapacity::compute(&snapshot, &labels(&[("group", "ml")]));
    // Only the Pending and Running pods on n1.
    assert_eq!(rc.reserved, Resources::new(200, 2 * GIB, 2));
    assert_eq!(rc.nodes, 1);
}

#[test]
fn each_live_pod_reserves_one_pod_slot_whatever_its_requests_say() {
    let snapshot = ClusterSnapshot {
        nodes: vec![node("n1", "ml", Resources::new(4_000, 4 * GIB, 10))],
        pods: vec![
            pod(
                "zero",
                Some("n1"),
                Resources::new(100, 0, 0),
                PodPhase::Running,
            ),
            pod(
                "many",
                Some("n1"),
                Resources::new(100, 0, 7),
                PodPhase::Running,
            ),
        ],
        daemon_sets: vec![],
    };
    let rc = ReservedCapacity::compute(&snapshot, &BTreeMap::new());
    assert_eq!(rc.reserved.pods, 2);
}

#[test]
fn bad_quantities_saturate_and_never_panic() {
    let huge = Resources::new(i64::MAX, i64::MAX, i64::MAX);
    let negative = Resources::new(-5_000, -GIB, -3);
    let snapshot = ClusterSnapshot {
        nodes: vec![
            node("n1", "ml", huge),
            node("n2", "ml", huge),
            node("n3", "ml", negative),
            node("zero", "ml", Resources::default()),
        ],
        pods: vec![
            pod("a", Some("n1"), huge, PodPhase::Running),
            pod("b", Some("n2"), huge, PodPhase::Running),
            // A negative request cannot give capacity back.
            pod("c", Some("n3"), negative, PodPhase::Running),
            pod(
                "d",
                Some("zero"),
                Resources::new(100, GIB, 1),
                PodPhase::Running,
            ),
        ],
        daemon_sets: vec![],
    };
    let rc = ReservedCapacity::compute(&snapshot, &BTreeMap::new());
    assert_eq!(rc.nodes, 4);
    assert_eq!(rc.capacity, Resources::new(i64::MAX, i64::MAX, i64::MAX));
    assert_eq!(rc.reserved.cpu_millis, i64::MAX);
    assert_eq!(rc.reserved.memory_bytes, i64::MAX);
    assert_eq!(rc.reserved.pods, 4);
    for g in rc.gauges(&producer_labels("p", "ns")) {
        assert!(
            g.value.is_finite() && g.value >= 0.0,
            "{} = {}",
            g.name,
            g.value
        );
    }
    assert_eq!(rc.cpu_utilization(), Some(1.0));
    // Status formatting copes with the extremes.
    assert!(rc.status_values()["cpu"].starts_with("100.00%, 9223372036854775.807/"));

    // Only negative allocatable: treated as none.
    let only_negative = ClusterSnapshot {
        nodes: vec![node("n3", "ml", negative)],
        pods: vec![pod("c", Some("n3"), negative, PodPhase::Running)],
        daemon_sets: vec![],
    };
    let rc = ReservedCapacity::compute(&only_negative, &BTreeMap::new());
    assert_eq!(rc.capacity, Resources::default());
    assert_eq!(rc.reserved, Resources::new(0, 0, 1));
    assert_eq!(rc.cpu_utilization(), None);
}

#[test]
fn empty_selector_selects_every_node_and_all_labels_must_match() {
    let r = Resources::new(1_000, GIB, 10);
    let snapshot = ClusterSnapshot {
        nodes: vec![node("n1", "ml", r), node("n2", "web", r)],
        pods: vec![],
        daemon_sets: vec![],
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
        daemon_sets: vec![],
    };
    let rc = ReservedCapacity::compute(&snapshot, &BTreeMap::new());
    assert_eq!(rc.status_values()["cpu"], "137.50%, 2.75/2");
    assert_eq!(gauge(&rc, reserved_capacity::CPU_RESERVED), 2.75);
    assert_eq!(rc.cpu_utilization(), Some(1.375));
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
    let snapshot = ClusterSnapshot {
        nodes,
        pods,
        daemon_sets: vec![],
    };

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
