//! [`FakeQueue`]: messages arrive by a rate function and in bursts, and the
//! ready nodes of node groups (fake or your own) work them off.

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use karpenter_core::provider::{ProviderResult, Queue};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Poisson};

use crate::clock::{SimClock, seconds_between};
use crate::node_group::FakeNodeGroup;

/// Messages per second arriving at an instant.
pub type RateFn = Arc<dyn Fn(DateTime<Utc>) -> f64 + Send + Sync>;

/// Nodes working off messages at an instant (see
/// [`FakeQueueBuilder::consumers_fn`]).
type WorkingNodesFn = Arc<dyn Fn(DateTime<Utc>) -> f64 + Send + Sync>;

/// Who works off a queue's messages.
enum Consumers {
    /// A fake group: its ready count is integrated exactly over each span,
    /// so a node that becomes ready mid-span works from that instant.
    Fake(FakeNodeGroup),
    /// Any other source of working nodes, sampled at the start of each span.
    Nodes(WorkingNodesFn),
}

impl Consumers {
    /// Node-seconds of work available over `[from, to)`.
    fn node_seconds(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
        match self {
            Self::Fake(group) => group.ready_node_seconds_until(from, to),
            Self::Nodes(nodes) => {
                let n = nodes(from);
                let n = if n.is_finite() && n > 0.0 { n } else { 0.0 };
                n * seconds_between(from, to)
            }
        }
    }
}

/// Configures a [`FakeQueue`]; see [`FakeQueue::builder`].
pub struct FakeQueueBuilder {
    id: String,
    arrivals: Option<RateFn>,
    bursts: Vec<(DateTime<Utc>, u64)>,
    consumers: Vec<(Consumers, f64)>,
    initial: u64,
    poisson: Option<u64>,
}

impl fmt::Debug for FakeQueueBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FakeQueueBuilder")
            .field("id", &self.id)
            .field("bursts", &self.bursts)
            .field("initial", &self.initial)
            .finish_non_exhaustive()
    }
}

impl FakeQueueBuilder {
    /// Messages per second arriving at each instant (evaluated at the start
    /// of each step; negative and non-finite rates count as 0).
    pub fn arrivals(mut self, rate: impl Fn(DateTime<Utc>) -> f64 + Send + Sync + 'static) -> Self {
        self.arrivals = Some(Arc::new(rate));
        self
    }

    /// `messages` land at once at `at`.
    pub fn burst(mut self, at: DateTime<Utc>, messages: u64) -> Self {
        self.bursts.push((at, messages));
        self
    }

    /// Each ready node of `group` removes `messages_per_second` messages.
    ///
    /// The convenience form of [`consumers_fn`](Self::consumers_fn) for a
    /// [`FakeNodeGroup`]: its ready count is integrated exactly over each
    /// step, so a node that becomes ready mid-step works from that instant.
    pub fn consumers(mut self, group: &FakeNodeGroup, messages_per_second: f64) -> Self {
        self.consumers
            .push((Consumers::Fake(group.clone()), messages_per_second));
        self
    }

    /// Each of `working_nodes(now)` nodes removes `messages_per_second`
    /// messages: drain the queue against any node group, e.g. your own
    /// provider's. The function is evaluated at the start of each step
    /// (negative and non-finite counts count as 0), like
    /// [`arrivals`](Self::arrivals).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::sync::atomic::{AtomicU32, Ordering};
    /// use std::time::Duration;
    /// use chrono::{TimeZone, Utc};
    /// use karpenter_fake::{FakeQueue, SimClock};
    ///
    /// let clock = SimClock::new(Utc.with_ymd_and_hms(2026, 1, 5, 0, 0, 0).unwrap());
    /// // Stands in for a node group of your own that knows its ready count.
    /// let ready = Arc::new(AtomicU32::new(4));
    /// let nodes = ready.clone();
    /// let queue = FakeQueue::builder("jobs")
    ///     .messages(100)
    ///     .consumers_fn(move |_now| f64::from(nodes.load(Ordering::Relaxed)), 0.5)
    ///     .build(&clock);
    /// clock.advance(Duration::from_secs(10));
    /// assert_eq!(queue.len(), 80); // 4 nodes x 0.5 msg/s x 10 s
    /// ```
    pub fn consumers_fn(
        mut self,
        working_nodes: impl Fn(DateTime<Utc>) -> f64 + Send + Sync + 'static,
        messages_per_second: f64,
    ) -> Self {
        self.consumers.push((
            Consumers::Nodes(Arc::new(working_nodes)),
            messages_per_second,
        ));
        self
    }

    /// Messages waiting at the start (default 0).
    pub fn messages(mut self, messages: u64) -> Self {
        self.initial = messages;
        self
    }

    /// Draws each step's rate arrivals from a Poisson distribution whose
    /// mean is the rate times the step (instead of the mean itself, carried
    /// over in fractions), from a generator seeded with `seed`. Bursts are
    /// not affected.
    ///
    /// ```
    /// use std::time::Duration;
    /// use chrono::{TimeZone, Utc};
    /// use karpenter_fake::{FakeQueue, SimClock};
    ///
    /// let clock = SimClock::new(Utc.with_ymd_and_hms(2026, 1, 5, 0, 0, 0).unwrap());
    /// let q = FakeQueue::builder("jobs").arrivals(|_| 2.0).poisson(7).build(&clock);
    /// for _ in 0..100 {
    ///     clock.advance(Duration::from_secs(15));
    ///     q.advance();
    /// }
    /// // About 2 × 1500 = 3000, not exactly.
    /// assert!((2700..3300).contains(&q.arrived()), "{}", q.arrived());
    /// ```
    pub fn poisson(mut self, seed: u64) -> Self {
        self.poisson = Some(seed);
        self
    }

    /// Builds the queue on `clock`.
    pub fn build(mut self, clock: &SimClock) -> FakeQueue {
        let now = clock.now();
        self.bursts.sort_by_key(|b| b.0);
        let mut messages = VecDeque::new();
        if self.initial > 0 {
            messages.push_back((now, self.initial));
        }
        FakeQueue {
            id: Arc::from(self.id.as_str()),
            clock: clock.clone(),
            state: Arc::new(Mutex::new(QueueState {
                arrivals: self.arrivals,
                bursts: self.bursts.into(),
                consumers: self.consumers,
                messages,
                length: self.initial,
                advanced_to: now,
                arrival_carry: 0.0,
                consume_carry: 0.0,
                arrived: self.initial,
                processed: 0,
                waited_seconds: 0.0,
                longest_wait_seconds: 0.0,
                poisson: self.poisson.map(ChaCha8Rng::seed_from_u64),
            })),
        }
    }
}

struct QueueState {
    arrivals: Option<RateFn>,
    bursts: VecDeque<(DateTime<Utc>, u64)>,
    consumers: Vec<(Consumers, f64)>,
    /// (arrived at, count), oldest first.
    messages: VecDeque<(DateTime<Utc>, u64)>,
    length: u64,
    advanced_to: DateTime<Utc>,
    arrival_carry: f64,
    consume_carry: f64,
    arrived: u64,
    processed: u64,
    /// Seconds waited by the processed messages, summed.
    waited_seconds: f64,
    /// The longest wait of a processed message, seconds.
    longest_wait_seconds: f64,
    /// The generator of Poisson arrivals, if they are noisy.
    poisson: Option<ChaCha8Rng>,
}

impl QueueState {
    fn push(&mut self, at: DateTime<Utc>, n: u64) {
        if n == 0 {
            return;
        }
        self.length = self.length.saturating_add(n);
        self.arrived = self.arrived.saturating_add(n);
        match self.messages.back_mut() {
            Some(last) if last.0 == at => last.1 = last.1.saturating_add(n),
            _ => self.messages.push_back((at, n)),
        }
    }

    /// Removes the `n` oldest messages, processed at `at`.
    fn pop(&mut self, mut n: u64, at: DateTime<Utc>) {
        while n > 0 {
            let Some(front) = self.messages.front_mut() else {
                break;
            };
            let take = front.1.min(n);
            let wait = seconds_between(front.0, at).max(0.0);
            front.1 -= take;
            n -= take;
            self.length -= take;
            self.processed += take;
            self.waited_seconds += wait * take as f64;
            self.longest_wait_seconds = self.longest_wait_seconds.max(wait);
            if front.1 == 0 {
                self.messages.pop_front();
            }
        }
    }

    /// Seconds waited by every message up to `now`: the processed ones'
    /// whole waits and the waiting ones' waits so far.
    fn wait_seconds(&self, now: DateTime<Utc>) -> f64 {
        self.waited_seconds
            + self
                .messages
                .iter()
                .map(|(at, n)| seconds_between(*at, now).max(0.0) * *n as f64)
                .sum::<f64>()
    }

    /// Moves the queue to `to`: consumers work off the messages present at
    /// the start of the span, then the span's arrivals land.
    fn advance(&mut self, to: DateTime<Utc>) {
        let from = self.advanced_to;
        if to < from {
            return;
        }
        if to > from {
            self.work_off(from, to);
        }
        while let Some(&(at, n)) = self.bursts.front() {
            if at > to {
                break;
            }
            self.bursts.pop_front();
            self.push(at.max(from), n);
        }
        if to > from {
            self.arrive(from, to);
        }
        self.advanced_to = to;
    }

    fn work_off(&mut self, from: DateTime<Utc>, to: DateTime<Utc>) {
        let capacity: f64 = self
            .consumers
            .iter()
            .map(|(c, rate)| c.node_seconds(from, to) * rate.max(0.0))
            .sum::<f64>()
            + self.consume_carry;
        let whole = capacity.floor();
        // Saturating float-to-int conversion; capacity is finite and >= 0.
        let can_take = whole as u64;
        if can_take >= self.length {
            self.pop(self.length, to);
            // Idle consumers do not bank work for later.
            self.consume_carry = 0.0;
        } else {
            self.pop(can_take, to);
            self.consume_carry = capacity - whole;
        }
    }

    /// Rate arrivals of the span, stamped at its end.
    fn arrive(&mut self, from: DateTime<Utc>, to: DateTime<Utc>) {
        if let Some(rate) = &self.arrivals {
            let r = rate(from);
            let r = if r.is_finite() && r > 0.0 { r } else { 0.0 };
            if let Some(rng) = &mut self.poisson {
                let mean = r * seconds_between(from, to);
                let n = match Poisson::new(mean) {
                    Ok(p) if mean > 0.0 => p.sample(rng),
                    _ => 0.0,
                };
                // Saturating float-to-int conversion; n is finite and >= 0.
                self.push(to, n as u64);
                return;
            }
            let expected = r * seconds_between(from, to) + self.arrival_carry;
            let whole = expected.floor();
            self.arrival_carry = expected - whole;
            self.push(to, whole as u64);
        }
    }
}

/// An in-memory message queue.
///
/// Messages arrive by a rate function and in bursts; each ready node of the
/// consuming node groups removes messages at a fixed rate, oldest first, so
/// the age of the oldest message is tracked. The queue advances to the
/// clock's time whenever it is read (a [`Simulation`](crate::Simulation)
/// also advances it every step). Clones share the queue.
///
/// ```
/// use std::time::Duration;
/// use chrono::{TimeZone, Utc};
/// use karpenter_core::provider::Queue;
/// use karpenter_fake::{FakeNodeGroup, FakeQueue, SimClock};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let start = Utc.with_ymd_and_hms(2026, 1, 5, 0, 0, 0).unwrap();
/// let clock = SimClock::new(start);
/// let workers = FakeNodeGroup::builder("workers").replicas(2).build(&clock);
/// let queue = FakeQueue::builder("jobs")
///     .burst(start, 100)
///     .consumers(&workers, 0.5) // each node: one message every 2 s
///     .build(&clock);
/// assert_eq!(queue.length().await?, 100);
/// clock.advance(Duration::from_secs(10));
/// assert_eq!(queue.length().await?, 90);
/// assert_eq!(queue.oldest_message_age().await?, Some(Duration::from_secs(10)));
/// # Ok::<(), karpenter_core::provider::ProviderError>(())
/// # }).unwrap();
/// ```
#[derive(Clone)]
pub struct FakeQueue {
    id: Arc<str>,
    clock: SimClock,
    state: Arc<Mutex<QueueState>>,
}

impl fmt::Debug for FakeQueue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FakeQueue")
            .field("id", &self.id)
            .field("length", &self.lock().length)
            .finish_non_exhaustive()
    }
}

impl FakeQueue {
    /// A builder for a queue with id `id` (what a MetricsProducer's
    /// `spec.queue.id` names).
    pub fn builder(id: impl Into<String>) -> FakeQueueBuilder {
        FakeQueueBuilder {
            id: id.into(),
            arrivals: None,
            bursts: Vec::new(),
            consumers: Vec::new(),
            initial: 0,
            poisson: None,
        }
    }

    /// The queue's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    fn lock(&self) -> MutexGuard<'_, QueueState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn advanced(&self) -> MutexGuard<'_, QueueState> {
        let now = self.clock.now();
        let mut s = self.lock();
        s.advance(now);
        s
    }

    /// Advances the queue to the clock's time.
    pub fn advance(&self) {
        drop(self.advanced());
    }

    /// Advances the queue to `now`, the clock's time (a simulation step
    /// knows it).
    pub(crate) fn advance_to(&self, now: DateTime<Utc>) {
        self.lock().advance(now);
    }

    /// Adds `messages` now.
    pub fn push(&self, messages: u64) {
        let now = self.clock.now();
        self.advanced().push(now, messages);
    }

    /// Messages waiting now.
    pub fn len(&self) -> u64 {
        self.advanced().length
    }

    /// Whether no message is waiting now.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Age of the oldest waiting message now.
    pub fn oldest_age(&self) -> Option<Duration> {
        self.length_and_oldest_age().1
    }

    /// Messages waiting now and the age of the oldest, read together.
    pub fn length_and_oldest_age(&self) -> (u64, Option<Duration>) {
        self.length_and_oldest_age_at(self.clock.now())
    }

    /// [`length_and_oldest_age`](Self::length_and_oldest_age) when the
    /// clock shows `now`.
    pub(crate) fn length_and_oldest_age_at(&self, now: DateTime<Utc>) -> (u64, Option<Duration>) {
        let mut s = self.lock();
        s.advance(now);
        let age = s
            .messages
            .front()
            .map(|(at, _)| (now - *at).to_std().unwrap_or_default());
        (s.length, age)
    }

    /// Messages that have arrived so far (including the initial ones).
    pub fn arrived(&self) -> u64 {
        self.advanced().arrived
    }

    /// Messages processed so far.
    pub fn processed(&self) -> u64 {
        self.advanced().processed
    }

    /// Seconds waited by every message so far, summed: each processed
    /// message from its arrival until the step that processed it, each
    /// waiting one until now. It equals the integral of the queue's length
    /// over time (message-seconds).
    pub fn wait_seconds(&self) -> f64 {
        let now = self.clock.now();
        self.advanced().wait_seconds(now)
    }

    /// The longest any message has waited so far (processed, or still
    /// waiting now), in seconds.
    pub fn longest_wait_seconds(&self) -> f64 {
        let now = self.clock.now();
        let s = self.advanced();
        let waiting = s
            .messages
            .front()
            .map_or(0.0, |(at, _)| seconds_between(*at, now).max(0.0));
        s.longest_wait_seconds.max(waiting)
    }
}

#[async_trait]
impl Queue for FakeQueue {
    async fn length(&self) -> ProviderResult<u64> {
        Ok(self.len())
    }

    async fn oldest_message_age(&self) -> ProviderResult<Option<Duration>> {
        Ok(self.oldest_age())
    }
}
