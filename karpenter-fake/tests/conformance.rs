//! The provider conformance suite against the fakes (which must pass every
//! check, skipping none), and against deliberately broken node groups
//! (which it must catch).

use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use karpenter_core::async_trait;
use karpenter_core::provider::{
    NodeGroup, NodeGroupReplicas, NodeTemplate, ProviderError, ProviderErrorKind, ProviderResult,
    ReplicaBounds, Stabilization,
};
use karpenter_fake::SimClock;
use karpenter_fake::conformance::{
    self, ConformanceReport, FakeMetricStoreHarness, FakeNodeGroupHarness, FakeQueueHarness,
    HarnessResult, METRIC_SOURCE_CHECKS, NODE_GROUP_CHECKS, NodeGroupHarness, Outcome,
    QUEUE_CHECKS,
};

fn clock() -> SimClock {
    SimClock::new(Utc.with_ymd_and_hms(2026, 1, 5, 0, 0, 0).unwrap())
}

fn assert_all_ran_and_passed(report: &ConformanceReport, checks: &[&str]) {
    report.assert_passed();
    assert!(report.skipped().is_empty(), "{report}");
    let names: Vec<&str> = report.checks.iter().map(|c| c.name).collect();
    assert_eq!(names, checks, "{report}");
}

#[tokio::test]
async fn fake_node_group_conforms() {
    let report = conformance::node_group(&FakeNodeGroupHarness::new(&clock())).await;
    assert_all_ran_and_passed(&report, &NODE_GROUP_CHECKS);
}

#[tokio::test]
async fn fake_node_group_conforms_with_instant_launches() {
    let harness = FakeNodeGroupHarness::new(&clock())
        .launch_delay(Duration::ZERO)
        .termination_delay(Duration::ZERO);
    let report = conformance::node_group(&harness).await;
    assert_all_ran_and_passed(&report, &NODE_GROUP_CHECKS);
}

#[tokio::test]
async fn fake_queue_conforms() {
    let report = conformance::queue(&FakeQueueHarness::new(&clock())).await;
    assert_all_ran_and_passed(&report, &QUEUE_CHECKS);
}

#[tokio::test]
async fn fake_metric_store_conforms() {
    let report = conformance::metric_source(&FakeMetricStoreHarness::new()).await;
    assert_all_ran_and_passed(&report, &METRIC_SOURCE_CHECKS);
}

/// Ways a node group can break the contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Violation {
    /// Clamps sizes into the bounds (and 0) instead of reporting them.
    ClampsOutOfBounds,
    /// Rejects setting the size it already has, non-retryably.
    NotIdempotent,
    /// Reports throttling as a non-retryable error.
    ThrottleNotRetryable,
    /// Says it is stabilized while nodes launch.
    AlwaysStabilized,
    /// Offers an empty node template.
    EmptyTemplate,
}

/// A correct node group (a fake) made to break the contract one way.
struct Broken {
    inner: Arc<dyn NodeGroup>,
    violation: Violation,
}

#[async_trait]
impl NodeGroup for Broken {
    async fn set_replicas(&self, replicas: i32) -> ProviderResult<()> {
        match self.violation {
            Violation::ClampsOutOfBounds => {
                let b = self.inner.bounds().await?.unwrap_or(ReplicaBounds {
                    min: 0,
                    max: i32::MAX,
                });
                let clamped = replicas.clamp(b.min.max(0), b.max);
                self.inner.set_replicas(clamped).await
            }
            Violation::NotIdempotent if self.inner.replicas().await?.desired == replicas => Err(
                ProviderError::new(ProviderErrorKind::Other, "already at that size"),
            ),
            Violation::ThrottleNotRetryable => {
                self.inner.set_replicas(replicas).await.map_err(|e| {
                    if e.kind == ProviderErrorKind::Throttled {
                        ProviderError::new(ProviderErrorKind::Other, e.message)
                    } else {
                        e
                    }
                })
            }
            _ => self.inner.set_replicas(replicas).await,
        }
    }

    async fn replicas(&self) -> ProviderResult<NodeGroupReplicas> {
        self.inner.replicas().await
    }

    async fn stabilized(&self) -> ProviderResult<Stabilization> {
        if self.violation == Violation::AlwaysStabilized {
            return Ok(Stabilization {
                stabilized: true,
                message: String::new(),
            });
        }
        self.inner.stabilized().await
    }

    async fn bounds(&self) -> ProviderResult<Option<ReplicaBounds>> {
        self.inner.bounds().await
    }

    async fn template(&self) -> ProviderResult<Option<NodeTemplate>> {
        if self.violation == Violation::EmptyTemplate {
            return Ok(Some(NodeTemplate::default()));
        }
        self.inner.template().await
    }
}

/// The fake's harness, handing out [`Broken`] groups.
struct BrokenHarness {
    fake: FakeNodeGroupHarness,
    violation: Violation,
}

#[async_trait]
impl NodeGroupHarness for BrokenHarness {
    fn description(&self) -> String {
        format!("a node group that {:?}", self.violation)
    }

    async fn create_group(
        &self,
        name: &str,
        initial: i32,
        bounds: ReplicaBounds,
    ) -> HarnessResult<Arc<dyn NodeGroup>> {
        let inner = self.fake.create_group(name, initial, bounds).await?;
        Ok(Arc::new(Broken {
            inner,
            violation: self.violation,
        }))
    }

    async fn settle(&self) -> HarnessResult<()> {
        self.fake.settle().await
    }

    async fn inject_throttle(&self, name: &str) -> HarnessResult<()> {
        self.fake.inject_throttle(name).await
    }

    async fn missing_group(&self) -> HarnessResult<ProviderResult<Arc<dyn NodeGroup>>> {
        self.fake.missing_group().await
    }
}

async fn run_broken(violation: Violation) -> ConformanceReport {
    let harness = BrokenHarness {
        fake: FakeNodeGroupHarness::new(&clock()),
        violation,
    };
    conformance::node_group(&harness).await
}

fn failed(report: &ConformanceReport) -> Vec<&str> {
    report.failures().iter().map(|c| c.name).collect()
}

#[tokio::test]
async fn catches_a_group_that_clamps_out_of_bounds_sizes() {
    let report = run_broken(Violation::ClampsOutOfBounds).await;
    assert_eq!(
        failed(&report),
        ["out_of_bounds_reported", "negative_size_rejected"],
        "{report}"
    );
    let Some(Outcome::Failed(why)) = report.outcome("out_of_bounds_reported") else {
        panic!("{report}");
    };
    assert!(why.contains("set_replicas(11) returned Ok"), "{why}");
}

#[tokio::test]
async fn catches_a_group_whose_set_is_not_idempotent() {
    let report = run_broken(Violation::NotIdempotent).await;
    assert_eq!(failed(&report), ["idempotent_set"], "{report}");
}

#[tokio::test]
async fn catches_throttling_reported_as_not_retryable() {
    let report = run_broken(Violation::ThrottleNotRetryable).await;
    assert_eq!(failed(&report), ["throttle_is_retryable"], "{report}");
}

#[tokio::test]
async fn catches_a_group_stabilized_while_launching() {
    let report = run_broken(Violation::AlwaysStabilized).await;
    assert_eq!(failed(&report), ["stabilized_while_changing"], "{report}");
}

#[tokio::test]
async fn catches_an_empty_node_template() {
    let report = run_broken(Violation::EmptyTemplate).await;
    assert_eq!(failed(&report), ["template_shape"], "{report}");
}

#[tokio::test]
#[should_panic(expected = "FAILED   idempotent_set")]
async fn assert_passed_panics_listing_the_failures() {
    run_broken(Violation::NotIdempotent).await.assert_passed();
}

/// A harness that implements only what it must: the optional checks are
/// skipped with the reason, never passed.
struct Minimal(FakeNodeGroupHarness);

#[async_trait]
impl NodeGroupHarness for Minimal {
    fn description(&self) -> String {
        "a minimal harness".to_string()
    }

    async fn create_group(
        &self,
        name: &str,
        initial: i32,
        bounds: ReplicaBounds,
    ) -> HarnessResult<Arc<dyn NodeGroup>> {
        self.0.create_group(name, initial, bounds).await
    }

    async fn settle(&self) -> HarnessResult<()> {
        self.0.settle().await
    }
}

#[tokio::test]
async fn unsupported_checks_are_skipped_with_their_reason() {
    let report = conformance::node_group(&Minimal(FakeNodeGroupHarness::new(&clock()))).await;
    report.assert_passed();
    let skipped: Vec<&str> = report.skipped().iter().map(|c| c.name).collect();
    assert_eq!(
        skipped,
        ["throttle_is_retryable", "missing_group_not_found"],
        "{report}"
    );
    let text = report.to_string();
    assert!(
        text.contains("skipped  throttle_is_retryable: the harness cannot inject throttling"),
        "{text}"
    );
    assert!(text.contains("8 passed, 0 failed, 2 skipped"), "{text}");
}

/// The fake's node groups as the registry hands them out: wrapped in a
/// `Timeout` and `Retrying` (one attempt, so an injected throttle still
/// reaches the check). The wrappers must keep the contract: error kinds,
/// messages that name the group, idempotent writes.
struct WrappedHarness {
    inner: FakeNodeGroupHarness,
    calls: karpenter_core::provider::CallPolicy,
}

#[async_trait]
impl NodeGroupHarness for WrappedHarness {
    fn description(&self) -> String {
        format!(
            "{} behind the registry's wrappers",
            self.inner.description()
        )
    }

    async fn create_group(
        &self,
        name: &str,
        initial: i32,
        bounds: ReplicaBounds,
    ) -> HarnessResult<Arc<dyn NodeGroup>> {
        let group = self.inner.create_group(name, initial, bounds).await?;
        Ok(self
            .calls
            .wrap(group, format!("node group FakeNodeGroup {name}")))
    }

    async fn settle(&self) -> HarnessResult<()> {
        self.inner.settle().await
    }

    async fn inject_throttle(&self, name: &str) -> HarnessResult<()> {
        self.inner.inject_throttle(name).await
    }

    async fn missing_group(&self) -> HarnessResult<ProviderResult<Arc<dyn NodeGroup>>> {
        let missing = self.inner.missing_group().await?;
        Ok(missing.map(|g| {
            self.calls
                .wrap(g, "node group FakeNodeGroup missing".to_string())
        }))
    }
}

#[tokio::test]
async fn the_registry_wrappers_keep_the_contract() {
    let clock = clock();
    let harness = WrappedHarness {
        inner: FakeNodeGroupHarness::new(&clock),
        calls: karpenter_core::provider::CallPolicy {
            clock: Arc::new(clock.clone()),
            retry: karpenter_core::retry::RetryPolicy::no_retries(),
            timeout: Some(Duration::from_secs(5)),
        },
    };
    let report = conformance::node_group(&harness).await;
    assert_all_ran_and_passed(&report, &NODE_GROUP_CHECKS);
}
