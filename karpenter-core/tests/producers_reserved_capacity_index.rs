//! The incremental reservedCapacity index: after any sequence of watch
//! events it reports exactly what a full recount of the resulting snapshot
//! reports.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on purpose.

use std::collections::BTreeMap;

use karpenter_core::cluster::{ClusterSnapshot, Node, Pod, PodPhase, Resources};
use karpenter_core::producers::reserved_capacity::{ReservedCapacity, ReservedCapacityIndex};
use proptest::prelude::*;

const NODE_NAMES: [&str; 5] = ["n0", "n1", "n2", "n3", "n4"];
const NAMESPACES: [&str; 2] = ["default", "batch"];

fn selector() -> BTreeMap<String, String> {
    BTreeMap::from([("group".to_string(), "ml".to_string())])
}

/// Quantities that include the bad ones: negative, zero, huge.
fn quantity() -> impl Strategy<Value = i64> {
    prop_oneof![
        6 => 0i64..10_000,
        1 => Just(0i64),
        1 => Just(i64::MAX),
        1 => Just(i64::MAX / 2 + 1),
        1 => -10_000i64..0,
    ]
}

fn resources() -> impl Strategy<Value = Resources> {
    (quantity(), quantity(), quantity()).prop_map(|(c, m, p)| Resources::new(c, m, p))
}

fn node() -> impl Strategy<Value = Node> {
    (
        0..NODE_NAMES.len(),
        prop_oneof![Just("ml"), Just("web")],
        resources(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(i, group, allocatable, ready, unschedulable)| Node {
            name: NODE_NAMES[i].to_string(),
            labels: BTreeMap::from([("group".to_string(), group.to_string())]),
            allocatable,
            taints: vec![],
            ready,
            unschedulable,
        })
}

fn phase() -> impl Strategy<Value = PodPhase> {
    prop_oneof![
        Just(PodPhase::Pending),
        Just(PodPhase::Running),
        Just(PodPhase::Succeeded),
        Just(PodPhase::Failed),
    ]
}

fn pod() -> impl Strategy<Value = Pod> {
    (
        0..NAMESPACES.len(),
        0..6usize,
        // Unbound, or bound to a node that may or may not exist (n5 never).
        proptest::option::weighted(0.8, 0..NODE_NAMES.len() + 1),
        resources(),
        phase(),
    )
        .prop_map(|(ns, name, node, requests, phase)| Pod {
            namespace: NAMESPACES[ns].to_string(),
            name: format!("p{name}"),
            node_name: node.map(|i| format!("n{i}")),
            requests,
            phase,
            ..Pod::default()
        })
}

#[derive(Debug, Clone)]
enum Event {
    ApplyPod(Pod),
    DeletePod(usize, usize),
    ApplyNode(Node),
    DeleteNode(usize),
}

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        4 => pod().prop_map(Event::ApplyPod),
        2 => (0..NAMESPACES.len(), 0..7usize).prop_map(|(ns, n)| Event::DeletePod(ns, n)),
        2 => node().prop_map(Event::ApplyNode),
        1 => (0..NODE_NAMES.len() + 1).prop_map(Event::DeleteNode),
    ]
}

/// A snapshot with unique node names and pod keys, as Kubernetes has.
fn snapshot() -> impl Strategy<Value = ClusterSnapshot> {
    (
        proptest::collection::vec(node(), 0..6),
        proptest::collection::vec(pod(), 0..10),
    )
        .prop_map(|(nodes, pods)| {
            let mut s = ClusterSnapshot::default();
            for n in nodes {
                apply_node(&mut s, n);
            }
            for p in pods {
                apply_pod(&mut s, p);
            }
            s
        })
}

fn apply_node(s: &mut ClusterSnapshot, node: Node) {
    s.nodes.retain(|n| n.name != node.name);
    s.nodes.push(node);
}

fn apply_pod(s: &mut ClusterSnapshot, pod: Pod) {
    s.pods
        .retain(|p| !(p.namespace == pod.namespace && p.name == pod.name));
    s.pods.push(pod);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn incremental_equals_full_recount(
        initial in snapshot(),
        events in proptest::collection::vec(event(), 0..60),
    ) {
        let sel = selector();
        let mut model = initial.clone();
        let mut index = ReservedCapacityIndex::new(&initial, &sel);
        prop_assert_eq!(index.result(), ReservedCapacity::compute(&model, &sel));
        for e in events {
            match e {
                Event::ApplyPod(p) => {
                    index.apply_pod(&p);
                    apply_pod(&mut model, p);
                }
                Event::DeletePod(ns, n) => {
                    let (ns, name) = (NAMESPACES[ns], format!("p{n}"));
                    index.delete_pod(ns, &name);
                    model.pods.retain(|p| !(p.namespace == ns && p.name == name));
                }
                Event::ApplyNode(n) => {
                    index.apply_node(&n);
                    apply_node(&mut model, n);
                }
                Event::DeleteNode(i) => {
                    let name = format!("n{i}");
                    index.delete_node(&name);
                    model.nodes.retain(|n| n.name != name);
                }
            }
            prop_assert_eq!(index.result(), ReservedCapacity::compute(&model, &sel));
        }
    }
}

fn ml_node(name: &str) -> Node {
    Node {
        name: name.to_string(),
        labels: selector(),
        allocatable: Resources::new(4_000, 8 << 30, 110),
        taints: vec![],
        ready: true,
        unschedulable: false,
    }
}

fn running(name: &str, node: &str, cpu: i64) -> Pod {
    Pod {
        namespace: "default".to_string(),
        name: name.to_string(),
        node_name: Some(node.to_string()),
        requests: Resources::new(cpu, 1 << 30, 1),
        phase: PodPhase::Running,
        ..Pod::default()
    }
}

#[test]
fn every_kind_of_event_moves_the_sums() {
    let sel = selector();
    let mut index = ReservedCapacityIndex::new(&ClusterSnapshot::default(), &sel);
    assert_eq!(index.result().nodes, 0);
    assert!(index.result().status_values().contains_key("message"));

    // A pod whose node is not known yet counts once the node arrives.
    index.apply_pod(&running("a", "n1", 1_000));
    assert_eq!(index.result().reserved, Resources::default());
    index.apply_node(&ml_node("n1"));
    assert_eq!(index.result().reserved.cpu_millis, 1_000);
    assert_eq!(index.result().capacity.cpu_millis, 4_000);

    // Cordon, uncordon, not ready, relabel out of the selector and back.
    let mut n1 = ml_node("n1");
    n1.unschedulable = true;
    index.apply_node(&n1);
    assert_eq!(index.result().reserved.cpu_millis, 0);
    assert_eq!(index.result().nodes, 0);
    n1.unschedulable = false;
    n1.ready = false;
    index.apply_node(&n1);
    assert_eq!(index.result().nodes, 0);
    n1.ready = true;
    n1.labels.insert("group".to_string(), "web".to_string());
    index.apply_node(&n1);
    assert_eq!(index.result().nodes, 0);
    index.apply_node(&ml_node("n1"));
    assert_eq!(index.result().reserved.cpu_millis, 1_000);

    // Rebinding, resizing, terminating, deleting a pod.
    index.apply_node(&ml_node("n2"));
    index.apply_pod(&running("a", "n2", 1_500));
    assert_eq!(index.result().reserved.cpu_millis, 1_500);
    let mut done = running("a", "n2", 1_500);
    done.phase = PodPhase::Succeeded;
    index.apply_pod(&done);
    assert_eq!(index.result().reserved, Resources::default());
    index.apply_pod(&running("b", "n2", 250));
    index.delete_pod("default", "b");
    index.delete_pod("default", "never-existed");
    assert_eq!(index.result().reserved, Resources::default());

    // Deleting a node takes its capacity and its pods' requests out.
    index.apply_pod(&running("c", "n2", 300));
    index.delete_node("n2");
    index.delete_node("never-existed");
    let rc = index.result();
    assert_eq!((rc.nodes, rc.reserved.cpu_millis), (1, 0));
    assert_eq!(rc.capacity.cpu_millis, 4_000);
    // ...and they come back with it.
    index.apply_node(&ml_node("n2"));
    assert_eq!(index.result().reserved.cpu_millis, 300);
    assert_eq!(index.node_selector(), &sel);
}

#[test]
fn a_duplicated_node_name_in_the_initial_snapshot_counts_once_like_compute() {
    let sel = selector();
    let mut cordoned = ml_node("n1");
    cordoned.unschedulable = true;
    for nodes in [
        vec![ml_node("n1"), cordoned.clone()],
        vec![cordoned.clone(), ml_node("n1")],
        vec![ml_node("n1"), ml_node("n1")],
    ] {
        let snapshot = ClusterSnapshot {
            nodes,
            pods: vec![running("a", "n1", 100)],
            daemon_sets: vec![],
        };
        let index = ReservedCapacityIndex::new(&snapshot, &sel);
        assert_eq!(index.result(), ReservedCapacity::compute(&snapshot, &sel));
        assert_eq!(index.result().nodes, 1);
    }
}

#[test]
fn churn_does_not_grow_the_index() {
    // Nodes and pods that come and go leave nothing behind: the same events
    // over and over give the same debug size.
    let sel = selector();
    let mut index = ReservedCapacityIndex::new(&ClusterSnapshot::default(), &sel);
    let mut sizes = Vec::new();
    for round in 0..3 {
        for i in 0..100 {
            let name = format!("node-{round}-{i}");
            index.apply_node(&ml_node(&name));
            index.apply_pod(&running(&format!("pod-{i}"), &name, 10));
            index.delete_pod("default", &format!("pod-{i}"));
            index.delete_node(&name);
        }
        sizes.push(format!("{index:?}").len());
    }
    assert_eq!(index.result().nodes, 0);
    assert!(sizes.windows(2).all(|w| w[0] == w[1]), "{sizes:?}");
}
