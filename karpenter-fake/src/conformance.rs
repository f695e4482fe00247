//! A conformance suite for providers: the contract of core's
//! [`NodeGroup`], [`Queue`] and [`MetricSource`] traits, checked against
//! any backend.
//!
//! Every provider crate runs the same checks against its own backend — the
//! fakes here, your cloud behind its SDK, a local emulator — so
//! "implements the contract" is tested, not hoped. A backend takes part
//! through a small harness trait that creates objects to test and, where it
//! can, lets time pass and injects failures:
//!
//! | suite | harness | checks |
//! |---|---|---|
//! | [`node_group`] | [`NodeGroupHarness`] | [`NODE_GROUP_CHECKS`] |
//! | [`queue`] | [`QueueHarness`] | [`QUEUE_CHECKS`] |
//! | [`metric_source`] | [`MetricSourceHarness`] | [`METRIC_SOURCE_CHECKS`] |
//!
//! Each suite returns a [`ConformanceReport`] that lists every check as
//! passed, failed (with what was expected and what happened) or skipped
//! (with the reason the backend gave: a check that cannot run is never
//! counted as passed). [`ConformanceReport::assert_passed`] fails a test on
//! any failure.
//!
//! # The contract checked
//!
//! Node groups (see the contract on [`NodeGroup`]):
//! - `initial_size`: a new group reports the size it was created with.
//! - `idempotent_set`: setting the size the group already wants is `Ok`, or
//!   a retryable error while an earlier change is still being applied.
//! - `desired_follows_set_replicas`: `desired` is the last accepted size at
//!   once; `0 <= ready <= desired` while nodes launch.
//! - `ready_reaches_desired`: once launches complete, `ready == desired`.
//! - `stabilized_while_changing`: `stabilized()` is `false` with a message
//!   while nodes launch, `true` once they are up and once a scale-down is
//!   done.
//! - `out_of_bounds_reported`: a size outside [`NodeGroup::bounds`] is an
//!   [`OutOfBounds`](ProviderErrorKind::OutOfBounds) error naming both
//!   bounds and the group, never clamped: `desired` does not change.
//! - `negative_size_rejected`: a negative size is `OutOfBounds` too.
//! - `template_shape`: a [`NodeTemplate`],
//!   when there is one, offers cpu, memory and pods.
//! - `throttle_is_retryable`: a throttled call is a retryable
//!   [`Throttled`](ProviderErrorKind::Throttled) error that changes nothing,
//!   and the same call succeeds later.
//! - `missing_group_not_found`: a group that does not exist is
//!   [`NotFound`](ProviderErrorKind::NotFound), not retryable.
//!
//! Queues: `empty_queue` (length 0, no oldest age), `length_counts_messages`,
//! `oldest_age_grows` (as time passes, by at least the time passed),
//! `aged_message` (a message that has waited reports at least that age),
//! `missing_queue_not_found`.
//!
//! Metric sources: `returns_published_value` (exactly, to the bit),
//! `returns_latest_value`, `no_data_is_not_found` (an error, never a made-up
//! number: the autoscaler must know it has no reading).
//!
//! # Running it
//!
//! Implement the harness for your backend in your crate's tests (the fakes'
//! harnesses, [`FakeNodeGroupHarness`], [`FakeQueueHarness`] and
//! [`FakeMetricStoreHarness`], are short examples) and assert the report:
//!
//! ```
//! use std::time::Duration;
//! use chrono::{TimeZone, Utc};
//! use karpenter_fake::SimClock;
//! use karpenter_fake::conformance::{self, FakeNodeGroupHarness};
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let clock = SimClock::new(Utc.with_ymd_and_hms(2026, 1, 5, 0, 0, 0).unwrap());
//! let harness = FakeNodeGroupHarness::new(&clock).launch_delay(Duration::from_secs(90));
//! let report = conformance::node_group(&harness).await;
//! println!("{report}");
//! report.assert_passed();
//! assert!(report.skipped().is_empty());
//! # });
//! ```
//!
//! The guide [Implementing a provider](https://github.com/karpenter-rs/karpenter-rs/blob/main/docs/providers.md) (`docs/providers.md` in the
//! repository) walks through a complete provider and its conformance test.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use karpenter_core::api::v1alpha1::{
    Metric, MetricTarget, PrometheusMetricSource, QueueSpec, ScalableNodeGroupSpec,
};
use karpenter_core::cluster::Resources;
use karpenter_core::provider::{
    CloudProvider, MetricSource, NodeGroup, NodeTemplate, ProviderError, ProviderErrorKind,
    ProviderResult, Queue, ReplicaBounds,
};

use crate::clock::SimClock;
use crate::metric_store::FakeMetricStore;
use crate::node_group::{Call, FakeNodeGroup, Fault};
use crate::provider::{FakeProvider, NODE_GROUP_TYPE, QUEUE_TYPE};
use crate::queue::FakeQueue;

// ---- harness traits ------------------------------------------------------

/// Why a harness could not do what a check asked.
#[derive(Debug, Clone, thiserror::Error)]
pub enum HarnessError {
    /// The backend cannot do this (e.g. a real cloud cannot inject a
    /// throttle on demand); the check is reported as skipped, with this
    /// reason.
    #[error("{0}")]
    Skip(String),
    /// Preparing the check failed (creating a group, publishing a value);
    /// the check is reported as failed.
    #[error("the harness failed: {0}")]
    Provider(#[from] ProviderError),
}

impl HarnessError {
    /// A [`Skip`](Self::Skip) with `reason`, which the report shows.
    pub fn skip(reason: impl Into<String>) -> Self {
        Self::Skip(reason.into())
    }
}

/// Result of a harness call.
pub type HarnessResult<T> = Result<T, HarnessError>;

/// What the node group suite needs from a backend.
///
/// Only [`description`](Self::description), [`create_group`](Self::create_group)
/// and [`settle`](Self::settle) are required; the checks that need the
/// others are skipped, with the default reasons, when a backend does not
/// implement them.
#[async_trait]
pub trait NodeGroupHarness: Send + Sync {
    /// The backend under test, for the report, e.g. `FakeNodeGroup`.
    fn description(&self) -> String;

    /// A new group with `initial` ready nodes whose cloud enforces
    /// `bounds`. Each check asks for its own group under its own `name`;
    /// the group's id should contain `name` (error messages are checked to
    /// name the group). A backend whose bounds are fixed may ignore
    /// `bounds`: the checks read [`NodeGroup::bounds`].
    async fn create_group(
        &self,
        name: &str,
        initial: i32,
        bounds: ReplicaBounds,
    ) -> HarnessResult<Arc<dyn NodeGroup>>;

    /// Lets every launch and termination started so far complete, and any
    /// rate limit expire: advance a simulated clock, or poll a real
    /// backend until it is stable.
    async fn settle(&self) -> HarnessResult<()>;

    /// Makes the next [`NodeGroup::set_replicas`] of the group created as
    /// `name` fail the way the cloud throttles (and change nothing).
    async fn inject_throttle(&self, name: &str) -> HarnessResult<()> {
        let _ = name;
        Err(HarnessError::skip(
            "the harness cannot inject throttling (NodeGroupHarness::inject_throttle not implemented)",
        ))
    }

    /// Looks up a group that does not exist. The outer result is the
    /// harness's; the inner one is the backend's answer: `Err` if the
    /// lookup itself fails (it must be `NotFound`), or a handle whose calls
    /// must fail with `NotFound`.
    async fn missing_group(&self) -> HarnessResult<ProviderResult<Arc<dyn NodeGroup>>> {
        Err(HarnessError::skip(
            "the harness cannot name a missing group (NodeGroupHarness::missing_group not implemented)",
        ))
    }
}

/// What the queue suite needs from a backend.
///
/// Nothing consumes the harness's queues: their messages stay until the
/// check ends.
#[async_trait]
pub trait QueueHarness: Send + Sync {
    /// The backend under test, for the report, e.g. `FakeQueue`.
    fn description(&self) -> String;

    /// A new queue `name` holding `messages` messages, sent now.
    async fn create_queue(&self, name: &str, messages: u64) -> HarnessResult<Arc<dyn Queue>>;

    /// Lets `by` pass for the queues (advance a simulated clock, or wait).
    async fn advance(&self, by: Duration) -> HarnessResult<()> {
        let _ = by;
        Err(HarnessError::skip(
            "the harness cannot let time pass (QueueHarness::advance not implemented)",
        ))
    }

    /// A new queue `name` whose one message has already waited `age`.
    async fn create_aged_queue(&self, name: &str, age: Duration) -> HarnessResult<Arc<dyn Queue>> {
        let _ = (name, age);
        Err(HarnessError::skip(
            "the harness cannot backdate a message (QueueHarness::create_aged_queue not implemented)",
        ))
    }

    /// Looks up a queue that does not exist; as
    /// [`NodeGroupHarness::missing_group`].
    async fn missing_queue(&self) -> HarnessResult<ProviderResult<Arc<dyn Queue>>> {
        Err(HarnessError::skip(
            "the harness cannot name a missing queue (QueueHarness::missing_queue not implemented)",
        ))
    }
}

/// What the metric source suite needs from a backend.
#[async_trait]
pub trait MetricSourceHarness: Send + Sync {
    /// The backend under test, for the report, e.g. `FakeMetricStore`.
    fn description(&self) -> String;

    /// The source under test.
    fn source(&self) -> Arc<dyn MetricSource>;

    /// Publishes `value` as the metric `name` (overwriting an earlier
    /// value) and returns the [`Metric`] that reads it back. Returns once
    /// the value can be read.
    async fn publish(&self, name: &str, value: f64) -> HarnessResult<Metric>;

    /// A [`Metric`] for which the source has no data at all.
    async fn metric_without_data(&self) -> HarnessResult<Metric>;
}

// ---- the report ----------------------------------------------------------

/// How one check ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The backend did what the contract says.
    Passed,
    /// It did not: what was expected and what happened.
    Failed(String),
    /// The check could not run on this backend, and why.
    Skipped(String),
}

/// One named check and how it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckResult {
    /// The check's name, e.g. `idempotent_set`.
    pub name: &'static str,
    /// How it ended.
    pub outcome: Outcome,
}

/// The results of one suite against one backend.
///
/// ```
/// use karpenter_fake::conformance::{CheckResult, ConformanceReport, Outcome};
///
/// let report = ConformanceReport {
///     suite: "node group",
///     backend: "my cloud".into(),
///     checks: vec![
///         CheckResult { name: "idempotent_set", outcome: Outcome::Passed },
///         CheckResult { name: "throttle_is_retryable", outcome: Outcome::Skipped("cannot inject".into()) },
///     ],
/// };
/// assert!(report.passed());
/// assert_eq!(report.skipped().len(), 1);
/// assert!(report.to_string().contains("skipped  throttle_is_retryable: cannot inject"));
/// report.assert_passed(); // a skip is not a failure
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConformanceReport {
    /// Which suite: `node group`, `queue` or `metric source`.
    pub suite: &'static str,
    /// The harness's description of the backend.
    pub backend: String,
    /// Every check, in the order run.
    pub checks: Vec<CheckResult>,
}

impl ConformanceReport {
    fn new(suite: &'static str, backend: String) -> Self {
        Self {
            suite,
            backend,
            checks: Vec::new(),
        }
    }

    fn record(&mut self, name: &'static str, result: Check) {
        let outcome = match result {
            Ok(()) => Outcome::Passed,
            Err(Verdict::Fail(m)) => Outcome::Failed(m),
            Err(Verdict::Skip(m)) => Outcome::Skipped(m),
        };
        self.checks.push(CheckResult { name, outcome });
    }

    /// Whether no check failed (skipped checks do not count as failures).
    pub fn passed(&self) -> bool {
        self.failures().is_empty()
    }

    /// The checks that failed.
    pub fn failures(&self) -> Vec<&CheckResult> {
        self.with(|o| matches!(o, Outcome::Failed(_)))
    }

    /// The checks that were skipped.
    pub fn skipped(&self) -> Vec<&CheckResult> {
        self.with(|o| matches!(o, Outcome::Skipped(_)))
    }

    /// How the check `name` ended, if it ran.
    pub fn outcome(&self, name: &str) -> Option<&Outcome> {
        self.checks
            .iter()
            .find(|c| c.name == name)
            .map(|c| &c.outcome)
    }

    fn with(&self, pick: impl Fn(&Outcome) -> bool) -> Vec<&CheckResult> {
        self.checks.iter().filter(|c| pick(&c.outcome)).collect()
    }

    /// Panics, listing every failed check (and the skipped ones), if any
    /// check failed. Skipped checks are printed to standard error and are
    /// not failures.
    pub fn assert_passed(&self) {
        if !self.passed() {
            panic!("{self}");
        }
        if !self.skipped().is_empty() {
            eprint!("{self}");
        }
    }
}

impl fmt::Display for ConformanceReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = |o: fn(&Outcome) -> bool| self.with(o).len();
        writeln!(
            f,
            "{} conformance of {}: {} passed, {} failed, {} skipped",
            self.suite,
            self.backend,
            count(|o| *o == Outcome::Passed),
            count(|o| matches!(o, Outcome::Failed(_))),
            count(|o| matches!(o, Outcome::Skipped(_))),
        )?;
        for c in &self.checks {
            match &c.outcome {
                Outcome::Passed => writeln!(f, "  passed   {}", c.name)?,
                Outcome::Failed(m) => writeln!(f, "  FAILED   {}: {m}", c.name)?,
                Outcome::Skipped(m) => writeln!(f, "  skipped  {}: {m}", c.name)?,
            }
        }
        Ok(())
    }
}

// ---- check plumbing ------------------------------------------------------

/// Why a check did not pass.
enum Verdict {
    Fail(String),
    Skip(String),
}

type Check = Result<(), Verdict>;

fn fail<T>(message: impl Into<String>) -> Result<T, Verdict> {
    Err(Verdict::Fail(message.into()))
}

fn ensure(ok: bool, message: impl FnOnce() -> String) -> Check {
    if ok { Ok(()) } else { fail(message()) }
}

/// Awaits a provider call of the backend under test; an error fails the
/// check, saying which call it was.
async fn call<T>(what: &str, fut: impl Future<Output = ProviderResult<T>>) -> Result<T, Verdict> {
    fut.await.map_err(|e| {
        Verdict::Fail(format!(
            "{what} failed unexpectedly: {e} (kind {:?})",
            e.kind
        ))
    })
}

/// Awaits a harness call: a skip skips the check, an error fails it.
async fn harness<T>(what: &str, fut: impl Future<Output = HarnessResult<T>>) -> Result<T, Verdict> {
    fut.await.map_err(|e| match e {
        HarnessError::Skip(reason) => Verdict::Skip(reason),
        HarnessError::Provider(e) => Verdict::Fail(format!("{what}: {e} (kind {:?})", e.kind)),
    })
}

/// Checks that `result` is an error of `kind` (and so retryable or not as
/// the kind says) with a message; `what` names the call for the failure
/// message.
fn expect_error<T: fmt::Debug>(
    what: &str,
    result: ProviderResult<T>,
    kind: ProviderErrorKind,
) -> Result<ProviderError, Verdict> {
    let err = match result {
        Ok(v) => {
            return fail(format!(
                "{what} returned Ok({v:?}); expected an error of kind {kind:?}"
            ));
        }
        Err(e) => e,
    };
    ensure(err.kind == kind, || {
        format!(
            "{what}: expected an error of kind {kind:?}, got {:?}: {err}",
            err.kind
        )
    })?;
    ensure(!err.message.trim().is_empty(), || {
        format!("{what}: the {kind:?} error has an empty message; say what failed and what to do")
    })?;
    Ok(err)
}

// ---- node group checks ---------------------------------------------------

/// The names of the node group checks, in the order [`node_group`] runs
/// them.
pub const NODE_GROUP_CHECKS: [&str; 10] = [
    "initial_size",
    "idempotent_set",
    "desired_follows_set_replicas",
    "ready_reaches_desired",
    "stabilized_while_changing",
    "out_of_bounds_reported",
    "negative_size_rejected",
    "template_shape",
    "throttle_is_retryable",
    "missing_group_not_found",
];

/// Bounds the checks ask for: room above and below the sizes they set.
const BOUNDS: ReplicaBounds = ReplicaBounds { min: 0, max: 10 };

/// Runs every node group check against the backend behind `h`.
///
/// See the [module documentation](self) for the checks and an example.
pub async fn node_group<H: NodeGroupHarness + ?Sized>(h: &H) -> ConformanceReport {
    let mut report = ConformanceReport::new("node group", h.description());
    report.record(NODE_GROUP_CHECKS[0], initial_size(h).await);
    report.record(NODE_GROUP_CHECKS[1], idempotent_set(h).await);
    report.record(NODE_GROUP_CHECKS[2], desired_follows_set(h).await);
    report.record(NODE_GROUP_CHECKS[3], ready_reaches_desired(h).await);
    report.record(NODE_GROUP_CHECKS[4], stabilized_while_changing(h).await);
    report.record(NODE_GROUP_CHECKS[5], out_of_bounds_reported(h).await);
    report.record(NODE_GROUP_CHECKS[6], negative_size_rejected(h).await);
    report.record(NODE_GROUP_CHECKS[7], template_shape(h).await);
    report.record(NODE_GROUP_CHECKS[8], throttle_is_retryable(h).await);
    report.record(NODE_GROUP_CHECKS[9], missing_group_not_found(h).await);
    report
}

async fn create<H: NodeGroupHarness + ?Sized>(
    h: &H,
    name: &str,
    initial: i32,
) -> Result<Arc<dyn NodeGroup>, Verdict> {
    harness(
        &format!("creating group {name:?} of {initial} nodes"),
        h.create_group(name, initial, BOUNDS),
    )
    .await
}

async fn desired(g: &dyn NodeGroup) -> Result<i32, Verdict> {
    Ok(call("replicas()", g.replicas()).await?.desired)
}

async fn initial_size<H: NodeGroupHarness + ?Sized>(h: &H) -> Check {
    let g = create(h, "conformance-initial", 2).await?;
    let r = call("replicas()", g.replicas()).await?;
    ensure(r.desired == 2 && r.ready == 2, || {
        format!(
            "a group created with 2 ready nodes reports desired {} and ready {}; expected 2 and 2",
            r.desired, r.ready
        )
    })
}

async fn idempotent_set<H: NodeGroupHarness + ?Sized>(h: &H) -> Check {
    let g = create(h, "conformance-idempotent", 1).await?;
    call("set_replicas(3)", g.set_replicas(3)).await?;
    if let Err(e) = g.set_replicas(3).await {
        ensure(e.is_retryable(), || {
            format!(
                "setting the size the group already wants (3) again failed with a non-retryable {:?} error: {e}; it must be Ok, or retryable while the first change is applied",
                e.kind
            )
        })?;
    }
    let d = desired(g.as_ref()).await?;
    ensure(d == 3, || {
        format!("after set_replicas(3) twice, desired is {d}; expected 3")
    })?;
    harness("settling", h.settle()).await?;
    call("set_replicas(3) once the group settled", g.set_replicas(3)).await?;
    let r = call("replicas()", g.replicas()).await?;
    ensure(r.desired == 3 && r.ready == 3, || {
        format!(
            "after settling, set_replicas(3) again left desired {} and ready {}; expected 3 and 3",
            r.desired, r.ready
        )
    })
}

async fn desired_follows_set<H: NodeGroupHarness + ?Sized>(h: &H) -> Check {
    let g = create(h, "conformance-desired", 0).await?;
    call("set_replicas(4)", g.set_replicas(4)).await?;
    let r = call("replicas()", g.replicas()).await?;
    ensure(r.desired == 4, || {
        format!(
            "right after set_replicas(4), desired is {}; desired must be the last accepted size at once",
            r.desired
        )
    })?;
    ensure(0 <= r.ready && r.ready <= r.desired, || {
        format!(
            "while launching, ready is {} with desired {}; expected 0 <= ready <= desired",
            r.ready, r.desired
        )
    })
}

async fn ready_reaches_desired<H: NodeGroupHarness + ?Sized>(h: &H) -> Check {
    let g = create(h, "conformance-ready", 1).await?;
    call("set_replicas(4)", g.set_replicas(4)).await?;
    harness("settling", h.settle()).await?;
    let r = call("replicas()", g.replicas()).await?;
    ensure(r.desired == 4 && r.ready == 4, || {
        format!(
            "after set_replicas(4) and the launches completing, desired is {} and ready {}; expected 4 and 4",
            r.desired, r.ready
        )
    })
}

async fn stabilized_while_changing<H: NodeGroupHarness + ?Sized>(h: &H) -> Check {
    let g = create(h, "conformance-stabilized", 1).await?;
    let s = call("stabilized()", g.stabilized()).await?;
    ensure(s.stabilized, || {
        format!(
            "a new group with nothing in flight is not stabilized: {:?}",
            s.message
        )
    })?;
    call("set_replicas(3)", g.set_replicas(3)).await?;
    let r = call("replicas()", g.replicas()).await?;
    let s = call("stabilized()", g.stabilized()).await?;
    if r.ready < r.desired {
        ensure(!s.stabilized, || {
            format!(
                "stabilized() is true while {} of {} nodes are ready",
                r.ready, r.desired
            )
        })?;
        ensure(!s.message.trim().is_empty(), || {
            "stabilized() is false with an empty message; say what is in flight, e.g. `2 nodes launching`".to_string()
        })?;
    }
    harness("settling", h.settle()).await?;
    let s = call("stabilized()", g.stabilized()).await?;
    ensure(s.stabilized, || {
        format!(
            "after the launches completed, stabilized() is still false: {:?}",
            s.message
        )
    })?;
    call("set_replicas(0)", g.set_replicas(0)).await?;
    harness("settling", h.settle()).await?;
    let s = call("stabilized()", g.stabilized()).await?;
    ensure(s.stabilized, || {
        format!(
            "after a scale-down to 0 completed, stabilized() is still false: {:?}",
            s.message
        )
    })
}

/// `set_replicas(size)` must be a non-retryable `OutOfBounds` error whose
/// message names `bounds` and the group, and leave desired at `before`.
async fn expect_out_of_bounds(
    g: &dyn NodeGroup,
    name: &str,
    size: i32,
    bounds: Option<ReplicaBounds>,
    before: i32,
) -> Check {
    let what = format!("set_replicas({size})");
    let err = expect_error(
        &what,
        g.set_replicas(size).await,
        ProviderErrorKind::OutOfBounds,
    )?;
    if let Some(b) = bounds {
        let (min, max) = (b.min.to_string(), b.max.to_string());
        ensure(
            err.message.contains(&min) && err.message.contains(&max),
            || {
                format!(
                    "{what}: the OutOfBounds message must name both bounds ({min} and {max}): {err}"
                )
            },
        )?;
    }
    ensure(err.message.contains(name), || {
        format!("{what}: the error message must name the group ({name:?}): {err}")
    })?;
    let d = desired(g).await?;
    ensure(d == before, || {
        format!(
            "{what} was rejected but desired changed from {before} to {d}; an out-of-bounds size must not be clamped or applied"
        )
    })
}

async fn out_of_bounds_reported<H: NodeGroupHarness + ?Sized>(h: &H) -> Check {
    let name = "conformance-bounds";
    let g = create(h, name, 2).await?;
    let Some(b) = call("bounds()", g.bounds()).await? else {
        return Err(Verdict::Skip(
            "the group reports no bounds (NodeGroup::bounds answers None), so there is no limit to exceed".to_string(),
        ));
    };
    ensure(0 <= b.min && b.min <= b.max, || {
        format!(
            "bounds() answered min {} and max {}; expected 0 <= min <= max",
            b.min, b.max
        )
    })?;
    let before = desired(g.as_ref()).await?;
    if let Some(above) = b.max.checked_add(1) {
        expect_out_of_bounds(g.as_ref(), name, above, Some(b), before).await?;
    }
    if b.min > 0 {
        expect_out_of_bounds(g.as_ref(), name, b.min - 1, Some(b), before).await?;
    }
    Ok(())
}

async fn negative_size_rejected<H: NodeGroupHarness + ?Sized>(h: &H) -> Check {
    let name = "conformance-negative";
    let g = create(h, name, 1).await?;
    expect_out_of_bounds(g.as_ref(), name, -1, None, 1).await
}

async fn template_shape<H: NodeGroupHarness + ?Sized>(h: &H) -> Check {
    let g = create(h, "conformance-template", 0).await?;
    let Some(t) = call("template()", g.template()).await? else {
        return Err(Verdict::Skip(
            "the group has no node template (NodeGroup::template answers None; optional, but needed to scale from zero on pending pods)".to_string(),
        ));
    };
    let Resources {
        cpu_millis,
        memory_bytes,
        pods,
    } = t.allocatable;
    ensure(cpu_millis > 0 && memory_bytes > 0 && pods > 0, || {
        format!(
            "the node template offers cpu {cpu_millis}m, memory {memory_bytes} bytes and {pods} pods; a node must offer more than 0 of each"
        )
    })
}

async fn throttle_is_retryable<H: NodeGroupHarness + ?Sized>(h: &H) -> Check {
    let name = "conformance-throttled";
    let g = create(h, name, 1).await?;
    harness("injecting a throttle", h.inject_throttle(name)).await?;
    let result = g.set_replicas(3).await;
    expect_error(
        "set_replicas(3) while throttled",
        result,
        ProviderErrorKind::Throttled,
    )?;
    let d = desired(g.as_ref()).await?;
    ensure(d == 1, || {
        format!("a throttled set_replicas(3) changed desired from 1 to {d}")
    })?;
    harness("settling", h.settle()).await?;
    call(
        "set_replicas(3) retried after the throttle",
        g.set_replicas(3),
    )
    .await?;
    let d = desired(g.as_ref()).await?;
    ensure(d == 3, || {
        format!("the retried set_replicas(3) left desired at {d}")
    })
}

async fn missing_group_not_found<H: NodeGroupHarness + ?Sized>(h: &H) -> Check {
    let lookup = harness("looking up a missing group", h.missing_group()).await?;
    let g = match lookup {
        Err(e) => {
            expect_error::<()>(
                "looking up a missing group",
                Err(e),
                ProviderErrorKind::NotFound,
            )?;
            return Ok(());
        }
        Ok(g) => g,
    };
    let not_found = ProviderErrorKind::NotFound;
    expect_error(
        "replicas() of a missing group",
        g.replicas().await,
        not_found,
    )?;
    expect_error(
        "set_replicas(1) of a missing group",
        g.set_replicas(1).await,
        not_found,
    )?;
    Ok(())
}

// ---- queue checks --------------------------------------------------------

/// The names of the queue checks, in the order [`queue`] runs them.
pub const QUEUE_CHECKS: [&str; 5] = [
    "empty_queue",
    "length_counts_messages",
    "oldest_age_grows",
    "aged_message",
    "missing_queue_not_found",
];

/// Runs every queue check against the backend behind `h`.
///
/// ```
/// use chrono::{TimeZone, Utc};
/// use karpenter_fake::SimClock;
/// use karpenter_fake::conformance::{self, FakeQueueHarness};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let clock = SimClock::new(Utc.with_ymd_and_hms(2026, 1, 5, 0, 0, 0).unwrap());
/// conformance::queue(&FakeQueueHarness::new(&clock)).await.assert_passed();
/// # });
/// ```
pub async fn queue<H: QueueHarness + ?Sized>(h: &H) -> ConformanceReport {
    let mut report = ConformanceReport::new("queue", h.description());
    report.record(QUEUE_CHECKS[0], empty_queue(h).await);
    report.record(QUEUE_CHECKS[1], length_counts_messages(h).await);
    report.record(QUEUE_CHECKS[2], oldest_age_grows(h).await);
    report.record(QUEUE_CHECKS[3], aged_message(h).await);
    report.record(QUEUE_CHECKS[4], missing_queue_not_found(h).await);
    report
}

async fn create_queue<H: QueueHarness + ?Sized>(
    h: &H,
    name: &str,
    messages: u64,
) -> Result<Arc<dyn Queue>, Verdict> {
    harness(
        &format!("creating queue {name:?} of {messages} messages"),
        h.create_queue(name, messages),
    )
    .await
}

async fn empty_queue<H: QueueHarness + ?Sized>(h: &H) -> Check {
    let q = create_queue(h, "conformance-empty", 0).await?;
    let len = call("length()", q.length()).await?;
    ensure(len == 0, || format!("an empty queue reports length {len}"))?;
    let age = call("oldest_message_age()", q.oldest_message_age()).await?;
    ensure(age.is_none(), || {
        format!("an empty queue reports an oldest message age of {age:?}; expected None")
    })
}

async fn length_counts_messages<H: QueueHarness + ?Sized>(h: &H) -> Check {
    let q = create_queue(h, "conformance-length", 7).await?;
    let len = call("length()", q.length()).await?;
    ensure(len == 7, || {
        format!("a queue holding 7 messages reports length {len}")
    })?;
    let age = call("oldest_message_age()", q.oldest_message_age()).await?;
    ensure(age.is_some(), || {
        "a queue holding 7 messages reports no oldest message age (None); None means empty"
            .to_string()
    })
}

async fn oldest_age_grows<H: QueueHarness + ?Sized>(h: &H) -> Check {
    let q = create_queue(h, "conformance-age", 3).await?;
    let before = call("oldest_message_age()", q.oldest_message_age()).await?;
    let passed = Duration::from_secs(30);
    harness("letting 30 s pass", h.advance(passed)).await?;
    let after = call("oldest_message_age()", q.oldest_message_age()).await?;
    let (Some(before), Some(after)) = (before, after) else {
        return fail(format!(
            "a queue holding 3 messages reports oldest ages {before:?} then {after:?}; expected Some both times"
        ));
    };
    ensure(after >= before + passed, || {
        format!(
            "30 s later the oldest message's age went from {before:?} to {after:?}; it must grow by at least the time passed"
        )
    })?;
    let len = call("length()", q.length()).await?;
    ensure(len == 3, || {
        format!("nothing consumes the queue, yet its length went from 3 to {len}")
    })
}

async fn aged_message<H: QueueHarness + ?Sized>(h: &H) -> Check {
    let age = Duration::from_secs(120);
    let q = harness(
        "creating a queue with a 2 min old message",
        h.create_aged_queue("conformance-aged", age),
    )
    .await?;
    let len = call("length()", q.length()).await?;
    ensure(len >= 1, || {
        format!("a queue with a waiting message reports length {len}")
    })?;
    let got = call("oldest_message_age()", q.oldest_message_age()).await?;
    ensure(got.is_some_and(|g| g >= age), || {
        format!("a message that has waited {age:?} is reported with age {got:?}")
    })
}

async fn missing_queue_not_found<H: QueueHarness + ?Sized>(h: &H) -> Check {
    let lookup = harness("looking up a missing queue", h.missing_queue()).await?;
    let q = match lookup {
        Err(e) => {
            expect_error::<()>(
                "looking up a missing queue",
                Err(e),
                ProviderErrorKind::NotFound,
            )?;
            return Ok(());
        }
        Ok(q) => q,
    };
    expect_error(
        "length() of a missing queue",
        q.length().await,
        ProviderErrorKind::NotFound,
    )?;
    Ok(())
}

// ---- metric source checks ------------------------------------------------

/// The names of the metric source checks, in the order [`metric_source`]
/// runs them.
pub const METRIC_SOURCE_CHECKS: [&str; 3] = [
    "returns_published_value",
    "returns_latest_value",
    "no_data_is_not_found",
];

/// Runs every metric source check against the backend behind `h`.
///
/// ```
/// use karpenter_fake::conformance::{self, FakeMetricStoreHarness};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// conformance::metric_source(&FakeMetricStoreHarness::new()).await.assert_passed();
/// # });
/// ```
pub async fn metric_source<H: MetricSourceHarness + ?Sized>(h: &H) -> ConformanceReport {
    let mut report = ConformanceReport::new("metric source", h.description());
    let source = h.source();
    report.record(
        METRIC_SOURCE_CHECKS[0],
        returns_published_value(h, source.as_ref()).await,
    );
    report.record(
        METRIC_SOURCE_CHECKS[1],
        returns_latest_value(h, source.as_ref()).await,
    );
    report.record(
        METRIC_SOURCE_CHECKS[2],
        no_data_is_not_found(h, source.as_ref()).await,
    );
    report
}

/// Values that survive a text round trip only if printed exactly.
const AWKWARD_VALUES: [f64; 7] = [42.0, 0.1 + 0.2, -3.5, 0.0, 1e-9, 2400.0, 1e12 + 0.5];

async fn read_back<H: MetricSourceHarness + ?Sized>(
    h: &H,
    source: &dyn MetricSource,
    name: &str,
    value: f64,
) -> Check {
    let metric = harness(
        &format!("publishing {name} = {value:?}"),
        h.publish(name, value),
    )
    .await?;
    let got = call(&format!("value() of {name}"), source.value(&metric)).await?;
    ensure(got.to_bits() == value.to_bits(), || {
        format!(
            "{name} was published as {value:?} and read back as {got:?}; the value must come back exactly"
        )
    })
}

async fn returns_published_value<H: MetricSourceHarness + ?Sized>(
    h: &H,
    source: &dyn MetricSource,
) -> Check {
    for (i, value) in AWKWARD_VALUES.into_iter().enumerate() {
        read_back(h, source, &format!("conformance_value_{i}"), value).await?;
    }
    Ok(())
}

async fn returns_latest_value<H: MetricSourceHarness + ?Sized>(
    h: &H,
    source: &dyn MetricSource,
) -> Check {
    read_back(h, source, "conformance_latest", 1.0).await?;
    read_back(h, source, "conformance_latest", 2.0).await
}

async fn no_data_is_not_found<H: MetricSourceHarness + ?Sized>(
    h: &H,
    source: &dyn MetricSource,
) -> Check {
    let metric = harness("a metric without data", h.metric_without_data()).await?;
    let result = source.value(&metric).await;
    if let Ok(v) = result {
        return fail(format!(
            "value() of a metric without data returned {v:?}; it must be a NotFound error so the autoscaler knows it has no reading"
        ));
    }
    expect_error(
        "value() of a metric without data",
        result,
        ProviderErrorKind::NotFound,
    )?;
    Ok(())
}

// ---- harnesses for the fakes ---------------------------------------------

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs the node group suite against [`FakeNodeGroup`]s on a [`SimClock`],
/// looked up through [`FakeProvider`] as the runner would.
///
/// ```
/// # use chrono::{TimeZone, Utc};
/// # use karpenter_fake::SimClock;
/// use karpenter_fake::conformance::{self, FakeNodeGroupHarness};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// # let clock = SimClock::new(Utc.with_ymd_and_hms(2026, 1, 5, 0, 0, 0).unwrap());
/// let report = conformance::node_group(&FakeNodeGroupHarness::new(&clock)).await;
/// assert!(report.passed(), "{report}");
/// # });
/// ```
#[derive(Debug)]
pub struct FakeNodeGroupHarness {
    clock: SimClock,
    launch_delay: Duration,
    termination_delay: Duration,
    provider: FakeProvider,
    groups: Mutex<BTreeMap<String, FakeNodeGroup>>,
}

impl FakeNodeGroupHarness {
    /// Groups on `clock` with the fake's default delays (60 s to launch,
    /// 30 s to terminate).
    pub fn new(clock: &SimClock) -> Self {
        Self {
            clock: clock.clone(),
            launch_delay: Duration::from_secs(60),
            termination_delay: Duration::from_secs(30),
            provider: FakeProvider::new(FakeMetricStore::new()),
            groups: Mutex::new(BTreeMap::new()),
        }
    }

    /// The launch delay of the groups it creates.
    pub fn launch_delay(mut self, delay: Duration) -> Self {
        self.launch_delay = delay;
        self
    }

    /// The termination delay of the groups it creates.
    pub fn termination_delay(mut self, delay: Duration) -> Self {
        self.termination_delay = delay;
        self
    }

    fn spec(id: &str) -> ScalableNodeGroupSpec {
        ScalableNodeGroupSpec {
            type_: NODE_GROUP_TYPE.to_string(),
            id: id.to_string(),
            replicas: None,
        }
    }
}

#[async_trait]
impl NodeGroupHarness for FakeNodeGroupHarness {
    fn description(&self) -> String {
        format!(
            "FakeNodeGroup (launch {:?}, termination {:?})",
            self.launch_delay, self.termination_delay
        )
    }

    async fn create_group(
        &self,
        name: &str,
        initial: i32,
        bounds: ReplicaBounds,
    ) -> HarnessResult<Arc<dyn NodeGroup>> {
        let group = FakeNodeGroup::builder(name)
            .replicas(initial)
            .bounds(bounds.min, bounds.max)
            .launch_delay(self.launch_delay)
            .termination_delay(self.termination_delay)
            .template(NodeTemplate::new(Resources::new(4_000, 16 << 30, 110)))
            .build(&self.clock);
        self.provider.add_node_group(group.clone());
        lock(&self.groups).insert(name.to_string(), group);
        Ok(self.provider.node_group(&Self::spec(name))?)
    }

    async fn settle(&self) -> HarnessResult<()> {
        let longest = self.launch_delay.max(self.termination_delay);
        self.clock.advance(longest + Duration::from_secs(1));
        Ok(())
    }

    async fn inject_throttle(&self, name: &str) -> HarnessResult<()> {
        let groups = lock(&self.groups);
        let group = groups.get(name).ok_or_else(|| {
            HarnessError::skip(format!("the harness created no group named {name:?}"))
        })?;
        group.fail_next(Call::SetReplicas, Fault::Throttle, 1);
        Ok(())
    }

    async fn missing_group(&self) -> HarnessResult<ProviderResult<Arc<dyn NodeGroup>>> {
        Ok(self.provider.node_group(&Self::spec("conformance-missing")))
    }
}

/// Runs the queue suite against [`FakeQueue`]s on a [`SimClock`], looked up
/// through [`FakeProvider`]. See [`queue`].
#[derive(Debug)]
pub struct FakeQueueHarness {
    clock: SimClock,
    provider: FakeProvider,
}

impl FakeQueueHarness {
    /// Queues on `clock`.
    pub fn new(clock: &SimClock) -> Self {
        Self {
            clock: clock.clone(),
            provider: FakeProvider::new(FakeMetricStore::new()),
        }
    }

    fn spec(id: &str) -> QueueSpec {
        QueueSpec {
            type_: QUEUE_TYPE.to_string(),
            id: id.to_string(),
            include_in_flight: false,
        }
    }

    fn add(&self, queue: FakeQueue) -> HarnessResult<Arc<dyn Queue>> {
        let spec = Self::spec(queue.id());
        self.provider.add_queue(queue);
        Ok(self.provider.queue(&spec)?)
    }
}

#[async_trait]
impl QueueHarness for FakeQueueHarness {
    fn description(&self) -> String {
        "FakeQueue".to_string()
    }

    async fn create_queue(&self, name: &str, messages: u64) -> HarnessResult<Arc<dyn Queue>> {
        self.add(
            FakeQueue::builder(name)
                .messages(messages)
                .build(&self.clock),
        )
    }

    async fn advance(&self, by: Duration) -> HarnessResult<()> {
        self.clock.advance(by);
        Ok(())
    }

    async fn create_aged_queue(&self, name: &str, age: Duration) -> HarnessResult<Arc<dyn Queue>> {
        let queue = self.add(FakeQueue::builder(name).messages(1).build(&self.clock))?;
        self.clock.advance(age);
        Ok(queue)
    }

    async fn missing_queue(&self) -> HarnessResult<ProviderResult<Arc<dyn Queue>>> {
        Ok(self.provider.queue(&Self::spec("conformance-missing")))
    }
}

/// Runs the metric source suite against a [`FakeMetricStore`], queried
/// with exact Prometheus selectors. See [`metric_source`].
#[derive(Debug, Clone, Default)]
pub struct FakeMetricStoreHarness {
    store: FakeMetricStore,
}

impl FakeMetricStoreHarness {
    /// A harness over a new, empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn metric(name: &str) -> Metric {
        Metric {
            prometheus: Some(PrometheusMetricSource {
                query: format!("{name}{{suite=\"conformance\"}}"),
                target: MetricTarget::default(),
            }),
            ..Metric::default()
        }
    }
}

#[async_trait]
impl MetricSourceHarness for FakeMetricStoreHarness {
    fn description(&self) -> String {
        "FakeMetricStore".to_string()
    }

    fn source(&self) -> Arc<dyn MetricSource> {
        Arc::new(self.store.clone())
    }

    async fn publish(&self, name: &str, value: f64) -> HarnessResult<Metric> {
        let labels = [("suite".to_string(), "conformance".to_string())];
        self.store.set(name, &labels, value);
        Ok(Self::metric(name))
    }

    async fn metric_without_data(&self) -> HarnessResult<Metric> {
        Ok(Self::metric("conformance_no_data"))
    }
}

/// The guide "Implementing a provider" (`docs/providers.md`), whose code
/// blocks run as this crate's doctests so that the guide stays true.
#[cfg(doctest)]
#[doc = include_str!("../../docs/providers.md")]
pub struct ProvidersGuide;
