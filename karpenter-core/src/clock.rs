//! The one clock: core logic asks a [`Clock`] for the time and sleeps
//! through it, so tests and simulations run on a [`ManualClock`] and never
//! wait for real time.
//!
//! Decisions read [`Clock::now`]; retry backoff waits with [`Clock::sleep`].
//! On the [`SystemClock`] a sleep is a tokio timer; on a [`ManualClock`] the
//! sleeper moves the clock forward itself, so a simulated backoff of 2 s
//! takes 2 s of simulated time and no wall time.
//!
//! ```
//! use std::time::Duration;
//! use chrono::{TimeZone, Utc};
//! use karpenter_core::clock::{Clock, ManualClock};
//!
//! let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap());
//! clock.advance(chrono::Duration::seconds(15));
//! assert_eq!(clock.now(), Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 15).unwrap());
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! clock.sleep(Duration::from_secs(2)).await; // returns at once, 2 s later
//! assert_eq!(clock.now(), Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 17).unwrap());
//! # });
//! ```

use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};

/// A source of the current time, and a way to wait on it.
#[async_trait]
pub trait Clock: Send + Sync {
    /// The current instant.
    fn now(&self) -> DateTime<Utc>;

    /// Waits for `duration` of this clock's time. Cancellation-safe: dropping
    /// the future stops the wait.
    async fn sleep(&self, duration: Duration);
}

/// The system's wall clock; sleeps are tokio timers.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

#[async_trait]
impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    async fn sleep(&self, duration: Duration) {
        tokio::time::sleep(duration).await;
    }
}

/// A clock that moves only when told to: for tests and simulations.
///
/// [`sleep`](Clock::sleep) advances the clock by the duration, then yields
/// once to the runtime so other ready tasks run: the sleeper is what moves
/// simulated time, as in a discrete-event simulation.
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<DateTime<Utc>>,
}

impl ManualClock {
    /// A clock showing `start`.
    pub fn new(start: DateTime<Utc>) -> Self {
        Self {
            now: Mutex::new(start),
        }
    }

    /// Moves the clock to `to` (which may be in the past).
    pub fn set(&self, to: DateTime<Utc>) {
        *self.now.lock().unwrap_or_else(|e| e.into_inner()) = to;
    }

    /// Moves the clock forward by `by`, saturating at the largest instant
    /// chrono can represent.
    pub fn advance(&self, by: TimeDelta) {
        let mut now = self.now.lock().unwrap_or_else(|e| e.into_inner());
        *now = now
            .checked_add_signed(by)
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
    }
}

#[async_trait]
impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.now.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn sleep(&self, duration: Duration) {
        self.advance(TimeDelta::from_std(duration).unwrap_or(TimeDelta::MAX));
        tokio::task::yield_now().await;
    }
}
