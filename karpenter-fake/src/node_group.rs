//! [`FakeNodeGroup`]: an in-memory node group with launch and termination
//! delays, a capacity ceiling, injected faults and a log of every call.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use karpenter_core::provider::{
    NodeGroup, NodeGroupReplicas, NodeTemplate, ProviderError, ProviderErrorKind, ProviderResult,
    ReplicaBounds, Stabilization,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::clock::{SimClock, add, seconds_between, to_delta};

/// Change points of the ready count kept for [`FakeNodeGroup::ready_node_seconds`].
/// A simulation asks about the last tick only, so a short memory suffices.
const READY_HISTORY: usize = 1024;

/// A [`NodeGroup`] method, for fault injection and the call log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Call {
    /// [`NodeGroup::set_replicas`].
    SetReplicas,
    /// [`NodeGroup::replicas`].
    Replicas,
    /// [`NodeGroup::stabilized`].
    Stabilized,
    /// [`NodeGroup::bounds`].
    Bounds,
}

impl Call {
    /// The method name, e.g. `set_replicas`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SetReplicas => "set_replicas",
            Self::Replicas => "replicas",
            Self::Stabilized => "stabilized",
            Self::Bounds => "bounds",
        }
    }
}

/// A failure to inject into calls of a [`FakeNodeGroup`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The cloud throttles the call ([`ProviderErrorKind::Throttled`]); nothing happens.
    Throttle,
    /// The call times out ([`ProviderErrorKind::Timeout`]); nothing happens.
    Timeout,
    /// The call takes effect but its answer is lost: it reports
    /// [`ProviderErrorKind::Timeout`]. Tests idempotency of `set_replicas`.
    TimeoutAfterApplying,
    /// Any other error kind; nothing happens.
    Error(ProviderErrorKind),
}

impl Fault {
    fn kind(self) -> ProviderErrorKind {
        match self {
            Self::Throttle => ProviderErrorKind::Throttled,
            Self::Timeout | Self::TimeoutAfterApplying => ProviderErrorKind::Timeout,
            Self::Error(kind) => kind,
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Trigger {
    Next(u32),
    Probability(f64),
    Between(DateTime<Utc>, DateTime<Utc>),
}

#[derive(Debug, Clone, Copy)]
struct FaultRule {
    call: Call,
    fault: Fault,
    trigger: Trigger,
}

/// One call made to a [`FakeNodeGroup`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallRecord {
    /// Simulated time of the call.
    pub at: DateTime<Utc>,
    /// Which method.
    pub call: Call,
    /// The requested replicas, for [`Call::SetReplicas`].
    pub replicas: Option<i32>,
    /// The error returned, if the call failed.
    pub error: Option<ProviderErrorKind>,
}

/// Configures a [`FakeNodeGroup`]; see [`FakeNodeGroup::builder`].
#[derive(Debug, Clone)]
pub struct FakeNodeGroupBuilder {
    id: String,
    launch_delay: Duration,
    launch_jitter: Duration,
    termination_delay: Duration,
    termination_jitter: Duration,
    capacity: Option<i32>,
    bounds: Option<ReplicaBounds>,
    replicas: i32,
    seed: u64,
    record_calls: bool,
    template: Option<NodeTemplate>,
}

impl FakeNodeGroupBuilder {
    /// The node a scale-up adds, answered by [`NodeGroup::template`]
    /// (default: none, as for a provider that cannot tell).
    pub fn template(mut self, template: NodeTemplate) -> Self {
        self.template = Some(template);
        self
    }

    /// Time from `set_replicas` until a new node is ready (default 60 s).
    pub fn launch_delay(mut self, delay: Duration) -> Self {
        self.launch_delay = delay;
        self
    }

    /// Extra launch time per node, uniform in `[0, jitter]`, drawn from the
    /// group's seeded generator (default 0: every node takes exactly
    /// `launch_delay`).
    pub fn launch_jitter(mut self, jitter: Duration) -> Self {
        self.launch_jitter = jitter;
        self
    }

    /// Time a removed node keeps running (and costing) before it is gone
    /// (default 30 s). It stops counting as ready at once.
    pub fn termination_delay(mut self, delay: Duration) -> Self {
        self.termination_delay = delay;
        self
    }

    /// Extra termination time per node, uniform in `[0, jitter]`, drawn from
    /// the group's seeded generator (default 0).
    pub fn termination_jitter(mut self, jitter: Duration) -> Self {
        self.termination_jitter = jitter;
        self
    }

    /// The most nodes the fake cloud can run for this group: a scale-up
    /// beyond it launches what fits and fails with
    /// [`ProviderErrorKind::InsufficientCapacity`] (default: unlimited).
    pub fn capacity(mut self, nodes: i32) -> Self {
        self.capacity = Some(nodes);
        self
    }

    /// Size limits the fake cloud enforces: `set_replicas` outside them fails
    /// with [`ProviderErrorKind::OutOfBounds`] (default: none).
    pub fn bounds(mut self, min: i32, max: i32) -> Self {
        self.bounds = Some(ReplicaBounds { min, max });
        self
    }

    /// Ready nodes at the start (default 0).
    pub fn replicas(mut self, replicas: i32) -> Self {
        self.replicas = replicas.max(0);
        self
    }

    /// Seed of the generator behind jitter and random faults (default 0).
    /// A [`Simulation`](crate::Simulation) reseeds every group from its own seed.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Whether to keep a [`CallRecord`] of every call (default `true`).
    /// Turn it off for long, large simulations to save memory; the per-call
    /// counters are kept either way.
    pub fn record_calls(mut self, record: bool) -> Self {
        self.record_calls = record;
        self
    }

    /// Builds the group on `clock`.
    pub fn build(self, clock: &SimClock) -> FakeNodeGroup {
        let now = clock.now();
        let mut ready_history = VecDeque::new();
        ready_history.push_back((now, self.replicas));
        let state = State {
            launch_delay: to_delta(self.launch_delay),
            launch_jitter: to_delta(self.launch_jitter),
            termination_delay: to_delta(self.termination_delay),
            termination_jitter: to_delta(self.termination_jitter),
            capacity: self.capacity,
            bounds: self.bounds,
            ready: self.replicas,
            launching: VecDeque::new(),
            launching_total: 0,
            terminating: VecDeque::new(),
            terminating_total: 0,
            settled_at: now,
            ready_history,
            instance_seconds: 0.0,
            faults: Vec::new(),
            rng: ChaCha8Rng::seed_from_u64(self.seed),
            record_calls: self.record_calls,
            calls: Vec::new(),
            call_counts: [0; 4],
            failed_counts: [0; 4],
        };
        FakeNodeGroup {
            id: Arc::from(self.id.as_str()),
            clock: clock.clone(),
            template: self.template.map(Arc::new),
            state: Arc::new(Mutex::new(state)),
        }
    }
}

#[derive(Debug)]
struct State {
    launch_delay: TimeDelta,
    launch_jitter: TimeDelta,
    termination_delay: TimeDelta,
    termination_jitter: TimeDelta,
    capacity: Option<i32>,
    bounds: Option<ReplicaBounds>,
    ready: i32,
    /// (ready at, nodes), sorted by time.
    launching: VecDeque<(DateTime<Utc>, i32)>,
    launching_total: i32,
    /// (gone at, nodes), sorted by time.
    terminating: VecDeque<(DateTime<Utc>, i32)>,
    terminating_total: i32,
    settled_at: DateTime<Utc>,
    /// (from, ready count), oldest first.
    ready_history: VecDeque<(DateTime<Utc>, i32)>,
    instance_seconds: f64,
    faults: Vec<FaultRule>,
    rng: ChaCha8Rng,
    record_calls: bool,
    calls: Vec<CallRecord>,
    call_counts: [u64; 4],
    failed_counts: [u64; 4],
}

impl State {
    fn desired(&self) -> i32 {
        self.ready.saturating_add(self.launching_total)
    }

    fn billed(&self) -> i32 {
        self.desired().saturating_add(self.terminating_total)
    }

    /// Applies every launch and termination due by `now`, in time order,
    /// and accrues instance time.
    fn settle(&mut self, now: DateTime<Utc>) {
        if now <= self.settled_at {
            return;
        }
        loop {
            let next_launch = self.launching.front().map(|e| e.0).filter(|t| *t <= now);
            let next_gone = self.terminating.front().map(|e| e.0).filter(|t| *t <= now);
            let (at, is_launch) = match (next_launch, next_gone) {
                (Some(l), Some(g)) if g < l => (g, false),
                (Some(l), _) => (l, true),
                (None, Some(g)) => (g, false),
                (None, None) => break,
            };
            let at = at.max(self.settled_at);
            self.instance_seconds +=
                f64::from(self.billed()) * seconds_between(self.settled_at, at);
            self.settled_at = at;
            if is_launch {
                if let Some((_, n)) = self.launching.pop_front() {
                    self.launching_total -= n;
                    self.ready = self.ready.saturating_add(n);
                    self.push_ready_change(at);
                }
            } else if let Some((_, n)) = self.terminating.pop_front() {
                self.terminating_total -= n;
            }
        }
        self.instance_seconds += f64::from(self.billed()) * seconds_between(self.settled_at, now);
        self.settled_at = now;
    }

    fn push_ready_change(&mut self, at: DateTime<Utc>) {
        match self.ready_history.back_mut() {
            Some(last) if last.0 == at => last.1 = self.ready,
            _ => self.ready_history.push_back((at, self.ready)),
        }
        while self.ready_history.len() > READY_HISTORY {
            self.ready_history.pop_front();
        }
    }

    fn launch(&mut self, now: DateTime<Utc>, nodes: i32) {
        if nodes <= 0 {
            return;
        }
        self.launching_total = self.launching_total.saturating_add(nodes);
        if self.launch_jitter <= TimeDelta::zero() {
            insert_sorted(&mut self.launching, (add(now, self.launch_delay), nodes));
            return;
        }
        let max_ms = self.launch_jitter.num_milliseconds().max(0);
        for _ in 0..nodes {
            let jitter = TimeDelta::milliseconds(self.rng.random_range(0..=max_ms));
            insert_sorted(
                &mut self.launching,
                (add(add(now, self.launch_delay), jitter), 1),
            );
        }
    }

    /// Removes `nodes`: launches not yet ready first (newest first), then
    /// ready nodes, which terminate after the termination delay.
    fn remove(&mut self, now: DateTime<Utc>, mut nodes: i32) {
        while nodes > 0 {
            let Some(last) = self.launching.back_mut() else {
                break;
            };
            let take = last.1.min(nodes);
            last.1 -= take;
            self.launching_total -= take;
            nodes -= take;
            if last.1 == 0 {
                self.launching.pop_back();
            }
        }
        let take = nodes.min(self.ready);
        if take > 0 {
            self.ready -= take;
            self.push_ready_change(now);
            self.terminating_total = self.terminating_total.saturating_add(take);
            let gone = add(now, self.termination_delay);
            if self.termination_jitter <= TimeDelta::zero() {
                insert_sorted(&mut self.terminating, (gone, take));
            } else {
                let max_ms = self.termination_jitter.num_milliseconds().max(0);
                for _ in 0..take {
                    let jitter = TimeDelta::milliseconds(self.rng.random_range(0..=max_ms));
                    insert_sorted(&mut self.terminating, (add(gone, jitter), 1));
                }
            }
        }
    }

    /// The first injected fault that fires for `call` at `now`, if any.
    fn fault_for(&mut self, call: Call, now: DateTime<Utc>) -> Option<Fault> {
        let mut fired = None;
        for rule in self.faults.iter_mut().filter(|r| r.call == call) {
            let fires = match &mut rule.trigger {
                Trigger::Next(left) => {
                    if *left > 0 {
                        *left -= 1;
                        true
                    } else {
                        false
                    }
                }
                Trigger::Probability(p) => self.rng.random::<f64>() < *p,
                Trigger::Between(from, to) => *from <= now && now < *to,
            };
            if fires {
                fired = Some(rule.fault);
                break;
            }
        }
        self.faults
            .retain(|r| !matches!(r.trigger, Trigger::Next(0)));
        fired
    }

    fn record(
        &mut self,
        at: DateTime<Utc>,
        call: Call,
        replicas: Option<i32>,
        error: Option<ProviderErrorKind>,
    ) {
        let i = call as usize;
        self.call_counts[i] += 1;
        if error.is_some() {
            self.failed_counts[i] += 1;
        }
        if self.record_calls {
            self.calls.push(CallRecord {
                at,
                call,
                replicas,
                error,
            });
        }
    }

    /// Integral of the ready count over `[from, to)`, in node-seconds.
    fn ready_node_seconds(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
        if to <= from {
            return 0.0;
        }
        // Known change points, then the launches still to come.
        // A simulation asks about the latest step, after every recorded
        // change: skip the search then.
        let first_after = match self.ready_history.back() {
            Some(last) if last.0 <= from => self.ready_history.len(),
            _ => self.ready_history.partition_point(|p| p.0 <= from),
        };
        let start_value = match first_after {
            0 => self.ready_history.front().map_or(self.ready, |p| p.1),
            i => self.ready_history.get(i - 1).map_or(self.ready, |p| p.1),
        };
        let settled_at = self.settled_at;
        let mut projected = self.ready;
        let upcoming = self.launching.iter().map(move |(at, n)| {
            projected = projected.saturating_add(*n);
            ((*at).max(settled_at), projected)
        });
        let points = self
            .ready_history
            .iter()
            .skip(first_after)
            .copied()
            .chain(upcoming);
        let mut total = 0.0;
        let mut t = from;
        let mut value = start_value;
        for (at, v) in points {
            if at >= to {
                break;
            }
            if at > t {
                total += f64::from(value) * seconds_between(t, at);
                t = at;
            }
            value = v;
        }
        total + f64::from(value) * seconds_between(t, to)
    }
}

fn insert_sorted(queue: &mut VecDeque<(DateTime<Utc>, i32)>, entry: (DateTime<Utc>, i32)) {
    let at = queue.partition_point(|e| e.0 <= entry.0);
    queue.insert(at, entry);
}

/// An in-memory node group.
///
/// Nodes become ready `launch_delay` after `set_replicas` asks for them; a
/// scale-down first cancels launches, then takes ready nodes out of service
/// at once and terminates them after `termination_delay`. A capacity ceiling,
/// the cloud's own bounds, and injected faults (throttling, timeouts, any
/// error kind) reproduce what real clouds do, and every call is logged.
/// Clones share the group.
///
/// ```
/// use std::time::Duration;
/// use chrono::{TimeZone, Utc};
/// use karpenter_core::provider::NodeGroup;
/// use karpenter_fake::{Call, FakeNodeGroup, Fault, SimClock};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let clock = SimClock::new(Utc.with_ymd_and_hms(2026, 1, 5, 0, 0, 0).unwrap());
/// let group = FakeNodeGroup::builder("workers")
///     .launch_delay(Duration::from_secs(60))
///     .capacity(8)
///     .build(&clock);
///
/// group.fail_next(Call::SetReplicas, Fault::Throttle, 1);
/// assert!(group.set_replicas(5).await.is_err()); // throttled
/// group.set_replicas(5).await?;
/// assert_eq!(group.replicas().await?.ready, 0);
/// clock.advance(Duration::from_secs(60));
/// assert_eq!(group.replicas().await?.ready, 5);
///
/// // Beyond the capacity ceiling: what fits is launched, the rest fails.
/// let err = group.set_replicas(10).await.unwrap_err();
/// assert!(err.is_retryable());
/// assert_eq!(group.desired(), 8);
/// assert_eq!(group.calls().len(), 5);
/// # Ok::<(), karpenter_core::provider::ProviderError>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct FakeNodeGroup {
    id: Arc<str>,
    clock: SimClock,
    template: Option<Arc<NodeTemplate>>,
    state: Arc<Mutex<State>>,
}

impl FakeNodeGroup {
    /// A builder for a group with id `id` (what `ScalableNodeGroup`
    /// `spec.id` names).
    pub fn builder(id: impl Into<String>) -> FakeNodeGroupBuilder {
        FakeNodeGroupBuilder {
            id: id.into(),
            launch_delay: Duration::from_secs(60),
            launch_jitter: Duration::ZERO,
            termination_delay: Duration::from_secs(30),
            termination_jitter: Duration::ZERO,
            capacity: None,
            bounds: None,
            replicas: 0,
            seed: 0,
            record_calls: true,
            template: None,
        }
    }

    /// The group's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn settled(&self) -> MutexGuard<'_, State> {
        self.settled_at(self.clock.now())
    }

    /// Nodes ready or launching (what the cloud is working towards).
    pub fn desired(&self) -> i32 {
        self.settled().desired()
    }

    /// Nodes ready now.
    pub fn ready(&self) -> i32 {
        self.settled().ready
    }

    /// Nodes launching now.
    pub fn launching(&self) -> i32 {
        self.settled().launching_total
    }

    /// Nodes terminating now (out of service, still billed).
    pub fn terminating(&self) -> i32 {
        self.settled().terminating_total
    }

    /// Instance time billed so far (launching, ready and terminating
    /// nodes), in hours.
    pub fn node_hours(&self) -> f64 {
        self.settled().instance_seconds / 3600.0
    }

    /// Instance time billed so far, in seconds: every node from the
    /// `set_replicas` call that asked for it until its termination
    /// completes (launching, ready and terminating), integrated exactly.
    pub fn node_seconds(&self) -> f64 {
        self.settled().instance_seconds
    }

    /// Nodes billed now: launching, ready and terminating.
    pub fn billed(&self) -> i32 {
        self.settled().billed()
    }

    /// [`node_seconds`](Self::node_seconds) and [`billed`](Self::billed)
    /// when the clock shows `now`, under one lock.
    pub(crate) fn billing_at(&self, now: DateTime<Utc>) -> (f64, i32) {
        let s = self.settled_at(now);
        (s.instance_seconds, s.billed())
    }

    /// Integral of the ready count over `[from, to)` in node-seconds: the
    /// work the group's nodes could do in that span. Exact for spans within
    /// the last ~1000 changes of the ready count and up to the clock's now
    /// (launches still to come are projected).
    pub fn ready_node_seconds(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
        self.settled().ready_node_seconds(from, to)
    }

    /// The state settled to `now`, for callers that already know the
    /// clock's time (a simulation step, a queue advancing to it).
    fn settled_at(&self, now: DateTime<Utc>) -> MutexGuard<'_, State> {
        let mut s = self.lock();
        s.settle(now);
        s
    }

    /// [`ready`](Self::ready) when the clock shows `now`.
    pub(crate) fn ready_at(&self, now: DateTime<Utc>) -> i32 {
        self.settled_at(now).ready
    }

    /// [`ready_node_seconds`](Self::ready_node_seconds) over `[from, now)`
    /// when the clock shows `now`.
    pub(crate) fn ready_node_seconds_until(&self, from: DateTime<Utc>, now: DateTime<Utc>) -> f64 {
        self.settled_at(now).ready_node_seconds(from, now)
    }

    /// Every call so far, oldest first (empty if recording is off).
    pub fn calls(&self) -> Vec<CallRecord> {
        self.lock().calls.clone()
    }

    /// How many times `call` was made, and how many of those failed.
    pub fn call_count(&self, call: Call) -> (u64, u64) {
        let s = self.lock();
        (s.call_counts[call as usize], s.failed_counts[call as usize])
    }

    /// Changes the capacity ceiling (`None`: unlimited). Nodes already
    /// running are kept.
    pub fn set_capacity(&self, nodes: Option<i32>) {
        self.lock().capacity = nodes;
    }

    /// Changes the launch delay of later launches.
    pub fn set_launch_delay(&self, delay: Duration) {
        self.lock().launch_delay = to_delta(delay);
    }

    /// Makes the next `times` calls of `call` fail with `fault`.
    pub fn fail_next(&self, call: Call, fault: Fault, times: u32) {
        self.lock().faults.push(FaultRule {
            call,
            fault,
            trigger: Trigger::Next(times),
        });
    }

    /// Makes each call of `call` fail with `fault` with `probability`
    /// (0..=1), drawn from the group's seeded generator.
    pub fn fail_with_probability(&self, call: Call, fault: Fault, probability: f64) {
        self.lock().faults.push(FaultRule {
            call,
            fault,
            trigger: Trigger::Probability(probability),
        });
    }

    /// Makes every call of `call` in `[from, to)` fail with `fault`.
    pub fn fail_between(&self, call: Call, fault: Fault, from: DateTime<Utc>, to: DateTime<Utc>) {
        self.lock().faults.push(FaultRule {
            call,
            fault,
            trigger: Trigger::Between(from, to),
        });
    }

    /// Removes every injected fault.
    pub fn clear_faults(&self) {
        self.lock().faults.clear();
    }

    /// Restarts the group's generator from `seed`.
    pub fn reseed(&self, seed: u64) {
        self.lock().rng = ChaCha8Rng::seed_from_u64(seed);
    }

    fn fault_error(&self, call: Call, fault: Fault) -> ProviderError {
        let id = &self.id;
        let name = call.as_str();
        let message = match fault {
            Fault::Throttle => format!(
                "node group {id:?}: {name} was throttled (injected fault: Rate exceeded); retry with backoff"
            ),
            Fault::Timeout => format!(
                "node group {id:?}: {name} timed out (injected fault); retry, the call is idempotent"
            ),
            Fault::TimeoutAfterApplying => format!(
                "node group {id:?}: {name} timed out after taking effect (injected fault); retry, the call is idempotent"
            ),
            Fault::Error(kind) => {
                format!("node group {id:?}: {name} failed with an injected {kind:?} error")
            }
        };
        ProviderError::new(fault.kind(), message)
    }

    /// Records and returns the injected fault for `call`, if one fires.
    fn begin(
        &self,
        s: &mut State,
        now: DateTime<Utc>,
        call: Call,
        replicas: Option<i32>,
    ) -> Option<Fault> {
        s.settle(now);
        let fault = s.fault_for(call, now);
        if let Some(f) = fault
            && (f != Fault::TimeoutAfterApplying || call != Call::SetReplicas)
        {
            s.record(now, call, replicas, Some(f.kind()));
        }
        fault
    }

    fn apply_set(&self, s: &mut State, now: DateTime<Utc>, replicas: i32) -> ProviderResult<()> {
        let id = &self.id;
        if let Some(b) = s.bounds
            && (replicas < b.min || replicas > b.max)
        {
            return Err(ProviderError::new(
                ProviderErrorKind::OutOfBounds,
                format!(
                    "node group {id:?}: desired size {replicas} is outside the group's bounds [{}, {}]; change the group's min/max size in the cloud or the autoscaler's minReplicas/maxReplicas",
                    b.min, b.max
                ),
            ));
        }
        if replicas < 0 {
            return Err(ProviderError::new(
                ProviderErrorKind::OutOfBounds,
                format!("node group {id:?}: desired size {replicas} is negative; use 0 or more"),
            ));
        }
        let desired = s.desired();
        if replicas > desired {
            let wanted = replicas - desired;
            let room = s.capacity.map_or(wanted, |c| (c - desired).max(0));
            let launched = wanted.min(room);
            s.launch(now, launched);
            if launched < wanted {
                return Err(ProviderError::new(
                    ProviderErrorKind::InsufficientCapacity,
                    format!(
                        "node group {id:?}: insufficient capacity: launched {launched} of {wanted} requested nodes, the cloud can run at most {} now; retry later or raise the ceiling with FakeNodeGroup::set_capacity",
                        s.capacity.unwrap_or(i32::MAX)
                    ),
                ));
            }
        } else if replicas < desired {
            s.remove(now, desired - replicas);
        }
        Ok(())
    }
}

#[async_trait]
impl NodeGroup for FakeNodeGroup {
    async fn set_replicas(&self, replicas: i32) -> ProviderResult<()> {
        let mut s = self.lock();
        let now = self.clock.now();
        let fault = self.begin(&mut s, now, Call::SetReplicas, Some(replicas));
        match fault {
            Some(Fault::TimeoutAfterApplying) => {
                let result = self.apply_set(&mut s, now, replicas);
                let err = match result {
                    Ok(()) => self.fault_error(Call::SetReplicas, Fault::TimeoutAfterApplying),
                    Err(e) => e,
                };
                s.record(now, Call::SetReplicas, Some(replicas), Some(err.kind));
                Err(err)
            }
            Some(f) => Err(self.fault_error(Call::SetReplicas, f)),
            None => {
                let result = self.apply_set(&mut s, now, replicas);
                s.record(
                    now,
                    Call::SetReplicas,
                    Some(replicas),
                    result.as_ref().err().map(|e| e.kind),
                );
                result
            }
        }
    }

    async fn replicas(&self) -> ProviderResult<NodeGroupReplicas> {
        let now = self.clock.now();
        let mut s = self.lock();
        if let Some(f) = self.begin(&mut s, now, Call::Replicas, None) {
            return Err(self.fault_error(Call::Replicas, f));
        }
        s.record(now, Call::Replicas, None, None);
        Ok(NodeGroupReplicas {
            desired: s.desired(),
            ready: s.ready,
        })
    }

    async fn stabilized(&self) -> ProviderResult<Stabilization> {
        let now = self.clock.now();
        let mut s = self.lock();
        if let Some(f) = self.begin(&mut s, now, Call::Stabilized, None) {
            return Err(self.fault_error(Call::Stabilized, f));
        }
        s.record(now, Call::Stabilized, None, None);
        let (launching, terminating) = (s.launching_total, s.terminating_total);
        let message = match (launching, terminating) {
            (0, 0) => String::new(),
            (l, 0) => format!("{l} nodes launching"),
            (0, t) => format!("{t} nodes terminating"),
            (l, t) => format!("{l} nodes launching, {t} terminating"),
        };
        Ok(Stabilization {
            stabilized: launching == 0 && terminating == 0,
            message,
        })
    }

    async fn bounds(&self) -> ProviderResult<Option<ReplicaBounds>> {
        let now = self.clock.now();
        let mut s = self.lock();
        if let Some(f) = self.begin(&mut s, now, Call::Bounds, None) {
            return Err(self.fault_error(Call::Bounds, f));
        }
        s.record(now, Call::Bounds, None, None);
        Ok(s.bounds)
    }

    async fn template(&self) -> ProviderResult<Option<NodeTemplate>> {
        Ok(self.template.as_deref().cloned())
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 5, 0, 0, 0).unwrap()
    }

    #[test]
    fn ready_node_seconds_integrates_launches_and_removals() {
        let clock = SimClock::new(t0());
        let g = FakeNodeGroup::builder("g")
            .replicas(2)
            .launch_delay(Duration::from_secs(10))
            .build(&clock);
        let mut s = g.lock();
        s.launch(t0(), 3); // ready at +10
        drop(s);
        // [0, 20): 2 nodes for 10 s, then 5 for 10 s, projected.
        assert_eq!(
            g.ready_node_seconds(t0(), t0() + TimeDelta::seconds(20)),
            70.0
        );
        clock.advance(Duration::from_secs(20));
        assert_eq!(g.ready(), 5);
        assert_eq!(
            g.ready_node_seconds(t0(), t0() + TimeDelta::seconds(20)),
            70.0
        );
        g.lock().remove(clock.now(), 4);
        clock.advance(Duration::from_secs(10));
        assert_eq!(
            g.ready_node_seconds(t0() + TimeDelta::seconds(15), t0() + TimeDelta::seconds(30)),
            5.0 * 5.0 + 10.0
        );
    }
}
