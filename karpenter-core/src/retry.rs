//! Retries and timeouts for provider calls, as wrappers around the SPI
//! traits (tower style), applied once where the
//! [`ProviderRegistry`](crate::provider::ProviderRegistry) builds a handle.
//!
//! - [`Retrying`] retries calls that fail with a retryable error
//!   ([`ProviderError::is_retryable`]: throttling, timeouts, 5xx,
//!   insufficient capacity) with bounded exponential backoff and jitter,
//!   within an overall deadline. Anything else (not found, invalid id, access
//!   denied, out of bounds) is returned at once.
//! - [`Timeout`] turns a call that does not answer in time into a retryable
//!   [`ProviderErrorKind::Timeout`].
//!
//! Both wait through a [`Clock`], so a simulation on a
//! [`ManualClock`](crate::clock::ManualClock) spends simulated time, not
//! wall time, on backoff. [`retry`] is the one loop both the wrapper and any
//! other caller use.
//!
//! ```
//! use std::sync::Arc;
//! use std::sync::atomic::{AtomicU32, Ordering};
//! use std::time::Duration;
//! use chrono::{TimeZone, Utc};
//! use karpenter_core::clock::{Clock, ManualClock};
//! use karpenter_core::provider::{ProviderError, ProviderErrorKind};
//! use karpenter_core::retry::{retry, RetryPolicy};
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap());
//! let policy = RetryPolicy { jitter: 0.0, ..RetryPolicy::default() };
//! let calls = AtomicU32::new(0);
//! // Throttled once, then answers.
//! let length = retry(&policy, &clock, "queue length of orders", || async {
//!     if calls.fetch_add(1, Ordering::SeqCst) == 0 {
//!         Err(ProviderError::new(ProviderErrorKind::Throttled, "slow down"))
//!     } else {
//!         Ok(42u64)
//!     }
//! })
//! .await;
//! assert_eq!(length, Ok(42));
//! // One backoff of 200 ms passed on the simulated clock.
//! assert_eq!(clock.now(), Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
//!     + chrono::Duration::milliseconds(200));
//! # });
//! ```

use std::fmt;
use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::TimeDelta;
use rand::{Rng, RngCore};

use crate::api::v1alpha1::Metric;
use crate::clock::Clock;
use crate::cluster::{ClusterSnapshot, ClusterState};
use crate::provider::{
    MetricSource, NodeGroup, NodeGroupInstance, NodeGroupReplicas, NodeTemplate, ProviderError,
    ProviderErrorKind, ProviderResult, Queue, ReplicaBounds, Scale, ScaleTarget, Stabilization,
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
///
/// The defaults fit the 15 s sync period: retries end within 8 s, so with a
/// [`Timeout`] of 5 s on the last attempt a reconcile is done before the next
/// one is due. Use [`RetryPolicy::within`] for another period.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Attempts in total, the first included. Default 5.
    pub max_attempts: u32,
    /// Delay before the first retry. Default 200 ms.
    pub initial_backoff: Duration,
    /// Largest delay between two attempts. Default 4 s.
    pub max_backoff: Duration,
    /// Growth of the delay from one retry to the next. Default 2.
    pub multiplier: f64,
    /// Fraction of each delay that is randomized away, in `[0, 1]`. Default
    /// 0.2 (a 1 s backoff sleeps between 0.8 s and 1 s). Spreads the retries
    /// of many controllers that were throttled at the same moment.
    pub jitter: f64,
    /// Longest all attempts and sleeps together may take, measured from the
    /// first attempt: no backoff sleep ends at or past it. Default 8 s.
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
            max_backoff: Duration::from_secs(4),
            multiplier: 2.0,
            jitter: 0.2,
            deadline: Duration::from_secs(8),
            seed: None,
        }
    }
}

impl RetryPolicy {
    /// One attempt, no retries.
    pub fn no_retries() -> Self {
        Self {
            max_attempts: 1,
            ..Self::default()
        }
    }

    /// The same policy with its deadline (and largest backoff) cut so that
    /// retries end within half of `sync_period`, leaving the other half for
    /// the last attempt's timeout and the rest of the reconcile: a failure
    /// that outlasts it is retried by the next reconcile, not by this one.
    ///
    /// ```
    /// use std::time::Duration;
    /// use karpenter_core::retry::RetryPolicy;
    ///
    /// let p = RetryPolicy::default().within(Duration::from_secs(10));
    /// assert_eq!(p.deadline, Duration::from_secs(5));
    /// assert!(p.max_backoff <= p.deadline);
    /// ```
    pub fn within(mut self, sync_period: Duration) -> Self {
        let half = sync_period / 2;
        self.deadline = self.deadline.min(half);
        self.max_backoff = self.max_backoff.min(half);
        self
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
/// the policy's attempts or deadline run out, sleeping the jittered backoff
/// on `clock` between attempts.
///
/// The error returned is the last one, of the same kind and with the same
/// source, with `op` (e.g. `"get replicas of ScalableNodeGroup default/ml
/// (AWSEC2AutoScalingGroup ml)"`), the number of attempts and why it stopped
/// prepended to its message. `op` is any `Display`, formatted only for an
/// error. Bound each attempt's time with [`Timeout`] (or
/// [`with_timeout`]).
pub async fn retry<T, F, Fut, N>(
    policy: &RetryPolicy,
    clock: &dyn Clock,
    op: N,
    mut f: F,
) -> ProviderResult<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ProviderResult<T>>,
    N: fmt::Display,
{
    let started = clock.now();
    let mut rng: Option<JitterRng> = None;
    let mut attempt: u32 = 0;
    loop {
        attempt += 1;
        let error = match f().await {
            Ok(v) => return Ok(v),
            Err(e) => e,
        };
        if !error.is_retryable() {
            return Err(give_up(&op, attempt, "the error is not retryable", error));
        }
        if attempt >= policy.attempts() {
            let why = format!("no attempts left of max_attempts = {}", policy.attempts());
            return Err(give_up(&op, attempt, &why, error));
        }
        let rng = rng.get_or_insert_with(|| JitterRng::new(policy.seed.unwrap_or_else(fresh_seed)));
        let delay = policy.jittered_backoff(attempt, rng);
        let deadline = TimeDelta::from_std(policy.deadline)
            .ok()
            .and_then(|d| started.checked_add_signed(d));
        let wake = TimeDelta::from_std(delay)
            .ok()
            .and_then(|d| clock.now().checked_add_signed(d));
        if let Some(deadline) = deadline
            && wake.is_none_or(|w| w >= deadline)
        {
            let why = format!(
                "the next retry in {delay:?} would pass the deadline of {:?}",
                policy.deadline
            );
            return Err(give_up(&op, attempt, &why, error));
        }
        clock.sleep(delay).await;
    }
}

/// Runs `call`, failing with a retryable [`ProviderErrorKind::Timeout`]
/// naming `op` if it has not answered after `limit` of `clock`'s time.
///
/// A call that answers when first polled never touches the clock's timer.
pub async fn with_timeout<T, N: fmt::Display>(
    clock: &dyn Clock,
    limit: Duration,
    op: N,
    call: impl Future<Output = ProviderResult<T>>,
) -> ProviderResult<T> {
    tokio::select! {
        biased;
        result = call => result,
        () = clock.sleep(limit) => Err(ProviderError::new(
            ProviderErrorKind::Timeout,
            format!("{op} did not answer within {limit:?}; it is retried"),
        )),
    }
}

fn give_up(op: &dyn fmt::Display, attempts: u32, why: &str, last: ProviderError) -> ProviderError {
    let plural = if attempts == 1 { "" } else { "s" };
    last.context(format_args!(
        "{op} failed after {attempts} attempt{plural} ({why})"
    ))
}

/// A seed that differs from call to call (std's per-process random hasher
/// keys), so unseeded retries of many controllers do not move in step.
fn fresh_seed() -> u64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(0x6b61_7270_656e_7465);
    h.finish()
}

/// SplitMix64: a tiny deterministic generator for jitter (not for secrets).
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

/// A provider object with every call wrapped in [`retry`]: adds retries to a
/// [`NodeGroup`], [`Queue`], [`MetricSource`], [`ClusterState`] or
/// [`ScaleTarget`] without touching its implementation.
///
/// `NodeGroup::set_replicas` and `ScaleTarget::set_replicas` are idempotent
/// by contract, so retrying them is safe.
///
/// ```
/// use std::sync::Arc;
/// use karpenter_core::clock::SystemClock;
/// use karpenter_core::provider::{ProviderResult, Queue};
/// use karpenter_core::retry::{Retrying, RetryPolicy};
///
/// struct Fixed;
/// #[karpenter_core::async_trait]
/// impl Queue for Fixed {
///     async fn length(&self) -> ProviderResult<u64> { Ok(3) }
///     async fn oldest_message_age(&self) -> ProviderResult<Option<std::time::Duration>> { Ok(None) }
/// }
/// let queue = Retrying::new(Arc::new(Fixed), RetryPolicy::default(), Arc::new(SystemClock), "queue orders");
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// assert_eq!(queue.length().await, Ok(3));
/// # });
/// ```
pub struct Retrying<P: ?Sized> {
    inner: Arc<P>,
    policy: RetryPolicy,
    clock: Arc<dyn Clock>,
    name: String,
}

impl<P: ?Sized> fmt::Debug for Retrying<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Retrying")
            .field("name", &self.name)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl<P: ?Sized> Retrying<P> {
    /// Wraps `inner`; `name` names the object in error messages, e.g.
    /// `ScalableNodeGroup default/ml (AWSEC2AutoScalingGroup ml)`.
    pub fn new(
        inner: Arc<P>,
        policy: RetryPolicy,
        clock: Arc<dyn Clock>,
        name: impl Into<String>,
    ) -> Self {
        Self {
            inner,
            policy,
            clock,
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

    async fn call<T, F, Fut>(&self, call: &str, f: F) -> ProviderResult<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = ProviderResult<T>>,
    {
        let op = Op {
            call,
            name: &self.name,
        };
        retry(&self.policy, self.clock.as_ref(), op, f).await
    }
}

/// A provider object with every call bounded in time by [`with_timeout`]: a
/// call that hangs becomes a retryable [`ProviderErrorKind::Timeout`], which
/// a [`Retrying`] around it retries.
pub struct Timeout<P: ?Sized> {
    inner: Arc<P>,
    limit: Duration,
    clock: Arc<dyn Clock>,
    name: String,
}

impl<P: ?Sized> fmt::Debug for Timeout<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Timeout")
            .field("name", &self.name)
            .field("limit", &self.limit)
            .finish_non_exhaustive()
    }
}

impl<P: ?Sized> Timeout<P> {
    /// Wraps `inner`, bounding each call to `limit` of `clock`'s time;
    /// `name` names the object in error messages.
    pub fn new(
        inner: Arc<P>,
        limit: Duration,
        clock: Arc<dyn Clock>,
        name: impl Into<String>,
    ) -> Self {
        Self {
            inner,
            limit,
            clock,
            name: name.into(),
        }
    }

    /// The wrapped object.
    pub fn inner(&self) -> &Arc<P> {
        &self.inner
    }

    async fn call<T>(
        &self,
        call: &str,
        fut: impl Future<Output = ProviderResult<T>>,
    ) -> ProviderResult<T> {
        let op = Op {
            call,
            name: &self.name,
        };
        with_timeout(self.clock.as_ref(), self.limit, op, fut).await
    }
}

/// Implements one SPI trait for both wrappers: `Retrying` retries the call,
/// `Timeout` bounds it.
macro_rules! wrap_spi {
    ($trait:ident { $( fn $method:ident(&self $(, $arg:ident: $ty:ty)*) -> $ret:ty => $call:expr; )* }) => {
        #[async_trait]
        impl<P: $trait + ?Sized> $trait for Retrying<P> {
            $(
                async fn $method(&self $(, $arg: $ty)*) -> ProviderResult<$ret> {
                    self.call($call, || self.inner.$method($($arg),*)).await
                }
            )*
        }

        #[async_trait]
        impl<P: $trait + ?Sized> $trait for Timeout<P> {
            $(
                async fn $method(&self $(, $arg: $ty)*) -> ProviderResult<$ret> {
                    self.call($call, self.inner.$method($($arg),*)).await
                }
            )*
        }
    };
}

wrap_spi!(NodeGroup {
    fn set_replicas(&self, replicas: i32) -> () => "set replicas";
    fn replicas(&self) -> NodeGroupReplicas => "get replicas";
    fn stabilized(&self) -> Stabilization => "get stabilization";
    fn bounds(&self) -> Option<ReplicaBounds> => "get bounds";
    fn template(&self) -> Option<NodeTemplate> => "get node template";
    fn instances(&self) -> Option<Vec<NodeGroupInstance>> => "list instances";
});

wrap_spi!(Queue {
    fn length(&self) -> u64 => "queue length";
    fn oldest_message_age(&self) -> Option<Duration> => "oldest message age";
});

wrap_spi!(MetricSource {
    fn value(&self, metric: &Metric) -> f64 => "metric value";
});

wrap_spi!(ClusterState {
    fn snapshot(&self) -> ClusterSnapshot => "cluster snapshot";
});

wrap_spi!(ScaleTarget {
    fn scale(&self) -> Scale => "get scale";
    fn set_replicas(&self, replicas: i32) -> () => "set replicas";
});
