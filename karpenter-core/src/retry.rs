//! The one retry helper every provider call goes through: bounded
//! exponential backoff with jitter, a timeout on every attempt, and an
//! overall deadline.
//!
//! Only errors that say they are retryable ([`ProviderError::is_retryable`]:
//! throttling, timeouts, 5xx, insufficient capacity) are retried; anything
//! else (not found, invalid id, access denied) is returned at once. Retry is a
//! wrapper around a call, not code inside every provider: use [`retry`] around
//! one call, or wrap a whole provider object in [`Retrying`], which
//! implements the same SPI trait.
//!
//! ```
//! use std::sync::atomic::{AtomicU32, Ordering};
//! use std::time::Duration;
//! use karpenter_core::provider::{ProviderError, ProviderErrorKind};
//! use karpenter_core::retry::{retry, RetryPolicy};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let policy = RetryPolicy {
//!     initial_backoff: Duration::from_millis(1),
//!     ..RetryPolicy::default().with_seed(7)
//! };
//! let calls = AtomicU32::new(0);
//! // Throttled once, then answers.
//! let length = retry(&policy, "queue length of orders", || async {
//!     if calls.fetch_add(1, Ordering::SeqCst) == 0 {
//!         Err(ProviderError::new(ProviderErrorKind::Throttled, "slow down"))
//!     } else {
//!         Ok(42u64)
//!     }
//! })
//! .await;
//! assert_eq!(length, Ok(42));
//! assert_eq!(calls.load(Ordering::SeqCst), 2);
//! # });
//! ```

use std::fmt;
use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use rand::{Rng, RngCore};
use tokio::time::Instant;

use crate::api::v1alpha1::Metric;
use crate::cluster::{ClusterSnapshot, ClusterState};
use crate::provider::{
    MetricSource, NodeGroup, NodeGroupReplicas, ProviderError, ProviderErrorKind, ProviderResult,
    Queue, ReplicaBounds, Stabilization,
};

/// How often, how patiently and for how long to retry a provider call.
///
/// The delay before retry `n` (1-based) is
/// `min(max_backoff, initial_backoff × multiplier^(n-1))`, reduced by a random
/// fraction of at most `jitter` of itself ("subtractive" jitter: a delay never
/// exceeds the capped backoff, so `max_backoff` is a hard bound).
///
/// Out-of-range values never panic: `max_attempts` 0 acts as 1, a
/// `multiplier` below 1 (or NaN) acts as 1, and `jitter` is clamped into
/// `[0, 1]`.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Attempts in total, the first included. Default 5.
    pub max_attempts: u32,
    /// Delay before the first retry. Default 200 ms.
    pub initial_backoff: Duration,
    /// Largest delay between two attempts. Default 10 s.
    pub max_backoff: Duration,
    /// Growth of the delay from one retry to the next. Default 2.
    pub multiplier: f64,
    /// Fraction of each delay that is randomized away, in `[0, 1]`. Default
    /// 0.2 (a 1 s backoff sleeps between 0.8 s and 1 s). Spreads the retries
    /// of many controllers that were throttled at the same moment.
    pub jitter: f64,
    /// Longest one attempt may take before it counts as a retryable
    /// [`ProviderErrorKind::Timeout`]. Default 10 s.
    pub per_attempt_timeout: Duration,
    /// Longest all attempts and sleeps together may take. No sleep goes past
    /// it, and the last attempt's timeout is shortened to end at it.
    /// Default 30 s.
    pub deadline: Duration,
    /// Seed of the jitter; `None` draws a fresh seed per call. Set it for
    /// reproducible runs (tests, simulations).
    pub seed: Option<u64>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(10),
            multiplier: 2.0,
            jitter: 0.2,
            per_attempt_timeout: Duration::from_secs(10),
            deadline: Duration::from_secs(30),
            seed: None,
        }
    }
}

impl RetryPolicy {
    /// One attempt, no retries, with the default timeouts.
    pub fn no_retries() -> Self {
        Self {
            max_attempts: 1,
            ..Self::default()
        }
    }

    /// The same policy with deterministic jitter seeded by `seed`.
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// The backoff before retry `retry` (1-based), before jitter:
    /// `min(max_backoff, initial_backoff × multiplier^(retry-1))`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use karpenter_core::retry::RetryPolicy;
    ///
    /// let p = RetryPolicy {
    ///     initial_backoff: Duration::from_millis(100),
    ///     max_backoff: Duration::from_millis(500),
    ///     ..RetryPolicy::default()
    /// };
    /// let ms: Vec<u128> = (1..=5).map(|n| p.backoff(n).as_millis()).collect();
    /// assert_eq!(ms, [100, 200, 400, 500, 500]);
    /// ```
    pub fn backoff(&self, retry: u32) -> Duration {
        let multiplier = if self.multiplier >= 1.0 {
            self.multiplier
        } else {
            1.0
        };
        let exponent = i32::try_from(retry.saturating_sub(1)).unwrap_or(i32::MAX);
        let secs = self.initial_backoff.as_secs_f64() * multiplier.powi(exponent);
        let cap = self.max_backoff.as_secs_f64();
        if !secs.is_finite() || secs >= cap {
            return self.max_backoff;
        }
        Duration::try_from_secs_f64(secs).unwrap_or(self.max_backoff)
    }

    /// The backoff before retry `retry` with jitter drawn from `rng`: in
    /// `[backoff × (1 - jitter), backoff]`.
    pub fn jittered_backoff<R: RngCore + ?Sized>(&self, retry: u32, rng: &mut R) -> Duration {
        let base = self.backoff(retry);
        let jitter = if self.jitter.is_nan() {
            0.0
        } else {
            self.jitter.clamp(0.0, 1.0)
        };
        if jitter == 0.0 {
            return base;
        }
        let u: f64 = rng.random();
        let factor = 1.0 - jitter * u;
        Duration::try_from_secs_f64(base.as_secs_f64() * factor).unwrap_or(base)
    }

    fn attempts(&self) -> u32 {
        self.max_attempts.max(1)
    }
}

/// Runs `f` until it succeeds, fails with an error that is not retryable, or
/// the policy's attempts or deadline run out.
///
/// Each attempt is bounded by `per_attempt_timeout` (a timed-out attempt
/// becomes a retryable [`ProviderErrorKind::Timeout`] naming `op_name`).
/// Between attempts it sleeps the jittered backoff, unless that sleep would
/// end at or past the deadline, in which case it stops. The error returned is
/// the last one, of the same kind, with `op_name`, the number of attempts
/// and why it stopped prepended to its message.
///
/// `op_name` should name the object and the call, e.g.
/// `"queue length of arn:aws:sqs:...:orders"`. It is any `Display` and is
/// formatted only when an error needs it, so a hot path can pass a small
/// struct instead of building a `String` per call.
///
/// An attempt that answers on its first poll (in-memory providers, cached
/// reads) costs no clock read and no timer; the per-attempt timeout and the
/// deadline start when an attempt first has to wait.
pub async fn retry<T, F, Fut, N>(policy: &RetryPolicy, op_name: N, f: F) -> Result<T, ProviderError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ProviderError>>,
    N: fmt::Display,
{
    // The generator is seeded only if a retry actually needs jitter.
    let mut rng = LazyRng {
        seed: policy.seed,
        rng: None,
    };
    retry_with_rng(policy, op_name, &mut rng, f).await
}

/// [`retry`] with the jitter drawn from `rng` instead of the policy's seed
/// (e.g. a `StdRng` shared by a simulation).
///
/// An attempt that answers at once (as in-memory providers and cached reads
/// do) costs no clock read and no timer: the per-attempt timeout and the
/// deadline start when an attempt first has to wait.
pub async fn retry_with_rng<T, F, Fut, R, N>(
    policy: &RetryPolicy,
    op_name: N,
    rng: &mut R,
    mut f: F,
) -> Result<T, ProviderError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ProviderError>>,
    R: RngCore + ?Sized,
    N: fmt::Display,
{
    // The first attempt is polled once in place. Only if it has to wait or
    // fails does the rest (timeouts, backoff sleeps: a large state) run, in
    // a boxed future, so the common case neither allocates nor carries
    // timer state around.
    let mut call = std::pin::pin!(f());
    let first = match poll_once(call.as_mut()).await {
        Some(Ok(v)) => return Ok(v),
        Some(Err(e)) => FirstAttempt::Failed(e),
        None => FirstAttempt::Waiting(call),
    };
    Box::pin(retry_after_first(policy, &op_name, rng, &mut f, first)).await
}

/// The first attempt of a [`retry_with_rng`], when it did not succeed at
/// once.
enum FirstAttempt<'a, Fut> {
    /// Still running.
    Waiting(std::pin::Pin<&'a mut Fut>),
    /// Failed on its first poll.
    Failed(ProviderError),
}

/// Polls `call` once: `Some` if it answered.
async fn poll_once<Fut: Future>(mut call: std::pin::Pin<&mut Fut>) -> Option<Fut::Output> {
    std::future::poll_fn(|cx| {
        std::task::Poll::Ready(match call.as_mut().poll(cx) {
            std::task::Poll::Ready(r) => Some(r),
            std::task::Poll::Pending => None,
        })
    })
    .await
}

/// Waits for an attempt that did not answer on its first poll, bounded by
/// the per-attempt timeout and the deadline (started by the first wait).
async fn wait_for<T, Fut, N>(
    policy: &RetryPolicy,
    deadline: &mut Option<Option<Instant>>,
    call: std::pin::Pin<&mut Fut>,
    op_name: &N,
    attempt: u32,
) -> Result<T, ProviderError>
where
    Fut: Future<Output = Result<T, ProviderError>>,
    N: fmt::Display,
{
    let d = *deadline.get_or_insert_with(|| Instant::now().checked_add(policy.deadline));
    let limit = match d {
        Some(d) => policy
            .per_attempt_timeout
            .min(d.saturating_duration_since(Instant::now())),
        None => policy.per_attempt_timeout,
    };
    match tokio::time::timeout(limit, call).await {
        Ok(r) => r,
        Err(_) => Err(ProviderError::new(
            ProviderErrorKind::Timeout,
            format!("{op_name}: attempt {attempt} did not answer within {limit:?}"),
        )),
    }
}

/// The rest of a [`retry_with_rng`] after a first attempt that did not
/// succeed at once.
async fn retry_after_first<T, F, Fut, R, N>(
    policy: &RetryPolicy,
    op_name: &N,
    rng: &mut R,
    f: &mut F,
    first: FirstAttempt<'_, Fut>,
) -> Result<T, ProviderError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ProviderError>>,
    R: RngCore + ?Sized,
    N: fmt::Display,
{
    let mut deadline: Option<Option<Instant>> = None;
    let max_attempts = policy.attempts();
    let mut attempt: u32 = 1;
    let mut first = Some(first);
    loop {
        let result = match first.take() {
            Some(FirstAttempt::Failed(e)) => Err(e),
            Some(FirstAttempt::Waiting(call)) => {
                wait_for(policy, &mut deadline, call, op_name, attempt).await
            }
            None => {
                attempt = attempt.saturating_add(1);
                let mut call = std::pin::pin!(f());
                match poll_once(call.as_mut()).await {
                    Some(r) => r,
                    None => wait_for(policy, &mut deadline, call, op_name, attempt).await,
                }
            }
        };
        let error = match result {
            Ok(v) => return Ok(v),
            Err(e) => e,
        };
        if !error.is_retryable() {
            return Err(give_up(
                op_name,
                attempt,
                "the error is not retryable",
                error,
            ));
        }
        if attempt >= max_attempts {
            let why = format!("no attempts left of max_attempts = {max_attempts}");
            return Err(give_up(op_name, attempt, &why, error));
        }
        let delay = policy.jittered_backoff(attempt, rng);
        let d = *deadline.get_or_insert_with(|| Instant::now().checked_add(policy.deadline));
        if let Some(d) = d {
            let wake = Instant::now().checked_add(delay);
            if wake.is_none_or(|w| w >= d) {
                let why = format!(
                    "the next retry in {delay:?} would pass the deadline of {:?}",
                    policy.deadline
                );
                return Err(give_up(op_name, attempt, &why, error));
            }
        }
        tokio::time::sleep(delay).await;
    }
}

/// A [`JitterRng`] seeded on first use (from the policy's seed, or a fresh
/// one): most calls succeed at once and never draw.
struct LazyRng {
    seed: Option<u64>,
    rng: Option<JitterRng>,
}

impl LazyRng {
    fn get(&mut self) -> &mut JitterRng {
        let seed = self.seed;
        self.rng
            .get_or_insert_with(|| JitterRng::new(seed.unwrap_or_else(fresh_seed)))
    }
}

impl RngCore for LazyRng {
    fn next_u32(&mut self) -> u32 {
        self.get().next_u32()
    }

    fn next_u64(&mut self) -> u64 {
        self.get().next_u64()
    }

    fn fill_bytes(&mut self, dst: &mut [u8]) {
        self.get().fill_bytes(dst);
    }
}

fn give_up(
    op_name: &dyn fmt::Display,
    attempts: u32,
    why: &str,
    last: ProviderError,
) -> ProviderError {
    let plural = if attempts == 1 { "" } else { "s" };
    ProviderError::new(
        last.kind,
        format!(
            "{op_name} failed after {attempts} attempt{plural} ({why}): {}",
            last.message
        ),
    )
}

/// A seed that differs from call to call (std's per-process random hasher
/// keys), so unseeded retries of many controllers do not move in step.
fn fresh_seed() -> u64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(0x6b61_7270_656e_7465);
    h.finish()
}

/// SplitMix64: a tiny deterministic generator for jitter (not for secrets).
/// Used because `rand` is built without its `std_rng` feature here.
#[derive(Debug, Clone)]
struct JitterRng(u64);

impl JitterRng {
    fn new(seed: u64) -> Self {
        Self(seed)
    }
}

impl RngCore for JitterRng {
    fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn fill_bytes(&mut self, dst: &mut [u8]) {
        for chunk in dst.chunks_mut(8) {
            let bytes = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }
}

/// A provider object with every call wrapped in [`retry`]: the tower-style
/// way to add retries to a [`NodeGroup`], [`Queue`], [`MetricSource`] or
/// [`ClusterState`] without touching its implementation.
///
/// `NodeGroup::set_replicas` is idempotent by contract, so retrying it is
/// safe.
///
/// ```
/// use std::sync::Arc;
/// use karpenter_core::provider::{ProviderResult, Queue};
/// use karpenter_core::retry::{Retrying, RetryPolicy};
///
/// struct Fixed;
/// #[async_trait::async_trait]
/// impl Queue for Fixed {
///     async fn length(&self) -> ProviderResult<u64> { Ok(3) }
///     async fn oldest_message_age(&self) -> ProviderResult<Option<std::time::Duration>> { Ok(None) }
/// }
/// let queue: Arc<dyn Queue> = Arc::new(Fixed);
/// let queue = Retrying::new(queue, RetryPolicy::default(), "queue orders");
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// assert_eq!(queue.length().await, Ok(3));
/// # });
/// ```
pub struct Retrying<P: ?Sized> {
    inner: Arc<P>,
    policy: RetryPolicy,
    name: String,
}

impl<P: ?Sized> Clone for Retrying<P> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            policy: self.policy.clone(),
            name: self.name.clone(),
        }
    }
}

impl<P: ?Sized> std::fmt::Debug for Retrying<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Retrying")
            .field("name", &self.name)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl<P: ?Sized> Retrying<P> {
    /// Wraps `inner`; `name` names the object in error messages, e.g.
    /// `node group AWSEC2AutoScalingGroup/ml-training`.
    pub fn new(inner: Arc<P>, policy: RetryPolicy, name: impl Into<String>) -> Self {
        Self {
            inner,
            policy,
            name: name.into(),
        }
    }

    /// The wrapped object.
    pub fn inner(&self) -> &Arc<P> {
        &self.inner
    }

    /// The policy every call uses.
    pub fn policy(&self) -> &RetryPolicy {
        &self.policy
    }

    fn op<'a>(&'a self, call: &'a str) -> Op<'a> {
        Op {
            call,
            name: &self.name,
        }
    }
}

/// `"{call} of {name}"`, formatted only if an error needs it.
struct Op<'a> {
    call: &'a str,
    name: &'a str,
}

impl fmt::Display for Op<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} of {}", self.call, self.name)
    }
}

#[async_trait]
impl<P: NodeGroup + ?Sized> NodeGroup for Retrying<P> {
    async fn set_replicas(&self, replicas: i32) -> ProviderResult<()> {
        let call = format!("set replicas to {replicas}");
        retry(&self.policy, self.op(&call), || {
            self.inner.set_replicas(replicas)
        })
        .await
    }

    async fn replicas(&self) -> ProviderResult<NodeGroupReplicas> {
        retry(&self.policy, self.op("get replicas"), || {
            self.inner.replicas()
        })
        .await
    }

    async fn stabilized(&self) -> ProviderResult<Stabilization> {
        retry(&self.policy, self.op("get stabilization"), || {
            self.inner.stabilized()
        })
        .await
    }

    async fn bounds(&self) -> ProviderResult<Option<ReplicaBounds>> {
        retry(&self.policy, self.op("get bounds"), || self.inner.bounds()).await
    }

    async fn template(&self) -> ProviderResult<Option<crate::provider::NodeTemplate>> {
        retry(&self.policy, self.op("get node template"), || {
            self.inner.template()
        })
        .await
    }
}

#[async_trait]
impl<P: Queue + ?Sized> Queue for Retrying<P> {
    async fn length(&self) -> ProviderResult<u64> {
        retry(&self.policy, self.op("queue length"), || {
            self.inner.length()
        })
        .await
    }

    async fn oldest_message_age(&self) -> ProviderResult<Option<Duration>> {
        retry(&self.policy, self.op("oldest message age"), || {
            self.inner.oldest_message_age()
        })
        .await
    }
}

#[async_trait]
impl<P: MetricSource + ?Sized> MetricSource for Retrying<P> {
    async fn value(&self, metric: &Metric) -> ProviderResult<f64> {
        retry(&self.policy, self.op("metric value"), || {
            self.inner.value(metric)
        })
        .await
    }
}

#[async_trait]
impl<P: ClusterState + ?Sized> ClusterState for Retrying<P> {
    async fn snapshot(&self) -> ProviderResult<ClusterSnapshot> {
        retry(&self.policy, self.op("cluster snapshot"), || {
            self.inner.snapshot()
        })
        .await
    }
}
