//! The effective request of a pod, as the Kubernetes scheduler computes it
//! (`PodRequests` in `k8s.io/component-helpers/resource`), checked against
//! cases computed by hand from the rules in the Kubernetes docs (init
//! containers, sidecar containers, pod overhead).

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on purpose.

use std::collections::BTreeMap;

use karpenter_core::cluster::{
    ClusterSnapshot, Container, InitContainer, Node, Pod, PodPhase, Resources, effective_requests,
};
use karpenter_core::producers::ReservedCapacity;

const MI: i64 = 1 << 20;
const GI: i64 = 1 << 30;

fn r(cpu_millis: i64, memory_bytes: i64) -> Resources {
    Resources::new(cpu_millis, memory_bytes, 0)
}

fn app(cpu: i64, mem: i64) -> Container {
    Container {
        name: format!("app-{cpu}"),
        requests: r(cpu, mem),
    }
}

fn init(cpu: i64, mem: i64) -> InitContainer {
    InitContainer {
        name: format!("init-{cpu}"),
        requests: r(cpu, mem),
        sidecar: false,
    }
}

fn sidecar(cpu: i64, mem: i64) -> InitContainer {
    InitContainer {
        sidecar: true,
        ..init(cpu, mem)
    }
}

struct Case {
    what: &'static str,
    containers: Vec<Container>,
    init_containers: Vec<InitContainer>,
    overhead: Resources,
    /// Expected cpu millis and memory bytes (pods is always 1).
    expected: (i64, i64),
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            what: "app containers add up",
            containers: vec![app(100, 128 * MI), app(200, 256 * MI)],
            init_containers: vec![],
            overhead: Resources::default(),
            expected: (300, 384 * MI),
        },
        Case {
            // Pod overhead docs: two containers (500m/100Mi, 1500m/100Mi),
            // RuntimeClass overhead 250m/120Mi: "2.25 CPU and 320 MiB".
            what: "overhead is added to the containers",
            containers: vec![app(500, 100 * MI), app(1_500, 100 * MI)],
            init_containers: vec![],
            overhead: r(250, 120 * MI),
            expected: (2_250, 320 * MI),
        },
        Case {
            what: "an init container larger than the apps sets the request",
            containers: vec![app(100, 64 * MI)],
            init_containers: vec![init(500, 32 * MI)],
            overhead: Resources::default(),
            expected: (500, 64 * MI),
        },
        Case {
            // Init containers run one at a time: the highest, not the sum.
            what: "init containers: the highest one, not their sum",
            containers: vec![app(200, 0)],
            init_containers: vec![init(300, 0), init(400, 0)],
            overhead: Resources::default(),
            expected: (400, 0),
        },
        Case {
            what: "each resource takes its own maximum",
            containers: vec![app(200, GI)],
            init_containers: vec![init(1_000, 64 * MI)],
            overhead: Resources::default(),
            expected: (1_000, GI),
        },
        Case {
            // A sidecar keeps running: it adds to the apps, and to every
            // init container started after it.
            what: "a sidecar adds to the apps and to later init containers",
            containers: vec![app(200, 0)],
            init_containers: vec![sidecar(100, 0), init(500, 0)],
            overhead: Resources::default(),
            expected: (600, 0),
        },
        Case {
            what: "an init container before the sidecar runs alone",
            containers: vec![app(200, 0)],
            init_containers: vec![init(500, 0), sidecar(100, 0)],
            overhead: Resources::default(),
            expected: (500, 0),
        },
        Case {
            what: "sidecars accumulate",
            containers: vec![app(10, 0)],
            init_containers: vec![sidecar(50, 0), sidecar(50, 0), init(100, 0)],
            overhead: Resources::default(),
            expected: (200, 0),
        },
        Case {
            what: "sidecars and apps together beat a small init container",
            containers: vec![app(1_000, 2 * GI)],
            init_containers: vec![init(100, 10 * MI), sidecar(250, 256 * MI)],
            overhead: r(100, 0),
            expected: (1_350, 2 * GI + 256 * MI),
        },
        Case {
            what: "no containers: overhead only",
            containers: vec![],
            init_containers: vec![],
            overhead: r(250, 120 * MI),
            expected: (250, 120 * MI),
        },
        Case {
            what: "negative requests count as 0",
            containers: vec![app(-500, -GI), app(100, MI)],
            init_containers: vec![init(-1_000, 0)],
            overhead: r(-1, -1),
            expected: (100, MI),
        },
        Case {
            what: "overflowing requests saturate",
            containers: vec![app(i64::MAX, i64::MAX), app(1, 1)],
            init_containers: vec![sidecar(i64::MAX, 5), init(i64::MAX, 0)],
            overhead: r(i64::MAX, i64::MAX),
            expected: (i64::MAX, i64::MAX),
        },
    ]
}

#[test]
fn effective_requests_match_the_scheduler() {
    for case in cases() {
        let got = effective_requests(&case.containers, &case.init_containers, case.overhead);
        assert_eq!(
            got,
            Resources::new(case.expected.0, case.expected.1, 1),
            "{}",
            case.what
        );
    }
}

#[test]
fn with_containers_sets_requests_and_keeps_the_parts() {
    for case in cases() {
        let pod = Pod::default().with_containers(
            case.containers.clone(),
            case.init_containers.clone(),
            case.overhead,
        );
        assert_eq!(
            pod.requests,
            Resources::new(case.expected.0, case.expected.1, 1),
            "{}",
            case.what
        );
        assert_eq!(pod.containers, case.containers);
        assert_eq!(pod.init_containers, case.init_containers);
        assert_eq!(pod.overhead, case.overhead);
    }
}

#[test]
fn reserved_capacity_counts_the_effective_request() {
    let node = Node {
        name: "n1".into(),
        labels: BTreeMap::new(),
        allocatable: Resources::new(4_000, 8 * GI, 110),
        taints: vec![],
        ready: true,
        unschedulable: false,
    };
    let pod = Pod {
        namespace: "default".into(),
        name: "web".into(),
        node_name: Some("n1".into()),
        phase: PodPhase::Running,
        ..Pod::default()
    }
    .with_containers(
        vec![app(1_000, GI)],
        vec![sidecar(100, 0), init(2_000, 0)],
        r(100, 0),
    );
    let snapshot = ClusterSnapshot {
        nodes: vec![node],
        pods: vec![pod],
        daemon_sets: vec![],
    };
    let rc = ReservedCapacity::compute(&snapshot, &BTreeMap::new());
    // max(1000 + 100, 2000 + 100) + 100
    assert_eq!(rc.reserved, Resources::new(2_200, GI, 1));
}
