//! [`SimClock`]: the simulated time every fake reads.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use karpenter_core::clock::{Clock, ManualClock};

/// A shared, manually advanced clock for simulations.
///
/// It wraps core's [`ManualClock`], so the runner, the producers and every
/// fake see the same instant. Clones share the time.
///
/// ```
/// use std::time::Duration;
/// use chrono::{TimeZone, Utc};
/// use karpenter_fake::SimClock;
///
/// let clock = SimClock::new(Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap());
/// let same = clock.clone();
/// clock.advance(Duration::from_secs(15));
/// assert_eq!(same.elapsed(), Duration::from_secs(15));
/// assert_eq!(same.now(), Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 15).unwrap());
/// ```
#[derive(Debug, Clone)]
pub struct SimClock {
    inner: Arc<ManualClock>,
    start: DateTime<Utc>,
}

impl SimClock {
    /// A clock showing `start`.
    pub fn new(start: DateTime<Utc>) -> Self {
        Self {
            inner: Arc::new(ManualClock::new(start)),
            start,
        }
    }

    /// The current simulated time (the same as [`Clock::now`], without
    /// importing the trait).
    pub fn now(&self) -> DateTime<Utc> {
        self.inner.now()
    }

    /// The instant the clock was created at.
    pub fn start(&self) -> DateTime<Utc> {
        self.start
    }

    /// Time since [`start`](Self::start); zero if the clock was set before it.
    pub fn elapsed(&self) -> Duration {
        (self.now() - self.start).to_std().unwrap_or_default()
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        self.inner.advance(to_delta(by));
    }

    /// Moves the clock to `to`.
    pub fn set(&self, to: DateTime<Utc>) {
        self.inner.set(to);
    }

    /// The clock as a trait object, for the runner and other core code.
    pub fn as_clock(&self) -> Arc<dyn Clock> {
        self.inner.clone()
    }
}

#[async_trait::async_trait]
impl Clock for SimClock {
    fn now(&self) -> DateTime<Utc> {
        self.inner.now()
    }

    /// Advances the simulated time by `duration` (see
    /// [`ManualClock`]): a retry's backoff costs simulated time only.
    async fn sleep(&self, duration: Duration) {
        self.inner.sleep(duration).await;
    }
}

/// `d` as a chrono delta, saturating at the largest delta chrono supports.
pub(crate) fn to_delta(d: Duration) -> TimeDelta {
    TimeDelta::from_std(d).unwrap_or(TimeDelta::MAX)
}

/// `t + d`, saturating at the largest instant chrono supports.
pub(crate) fn add(t: DateTime<Utc>, d: TimeDelta) -> DateTime<Utc> {
    t.checked_add_signed(d).unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// The non-negative span from `from` to `to` as a std duration (zero if
/// `to` is earlier).
pub(crate) fn span(from: DateTime<Utc>, to: DateTime<Utc>) -> Duration {
    (to - from).to_std().unwrap_or_default()
}

/// Seconds from `from` to `to` as f64 (negative if `to` is earlier).
pub(crate) fn seconds_between(from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    let d = to - from;
    d.num_milliseconds() as f64 / 1000.0
}
