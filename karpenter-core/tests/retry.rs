//! The retry loop and the retry/timeout wrappers. Backoff waits on a
//! `ManualClock` (simulated time); timeouts are tested on the system clock
//! under tokio's paused time. No test sleeps for real.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on purpose.

use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use karpenter_core::clock::{Clock, ManualClock, SystemClock};
use karpenter_core::provider::{
    MockNodeGroup, MockQueue, NodeGroup, ProviderError, ProviderErrorKind, Queue,
};
use karpenter_core::retry::{RetryPolicy, Retrying, Timeout, retry};
use tokio::time::Instant;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 5, 0, 0, 0).unwrap()
}

fn throttled() -> ProviderError {
    ProviderError::new(ProviderErrorKind::Throttled, "Rate exceeded")
}

/// A policy without jitter, so sleeps are exact.
fn exact() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 10,
        initial_backoff: Duration::from_millis(100),
        max_backoff: Duration::from_secs(1),
        multiplier: 2.0,
        jitter: 0.0,
        deadline: Duration::from_secs(3600),
        seed: Some(1),
    }
}

/// Runs `retry` on a manual clock with an operation that fails `failures`
/// times with `error`, recording the (simulated) instant of every attempt.
async fn run(
    policy: &RetryPolicy,
    failures: usize,
    error: ProviderError,
) -> (Result<u32, ProviderError>, Vec<Duration>) {
    let clock = ManualClock::new(t0());
    let attempts = Mutex::new(Vec::new());
    let result = retry(policy, &clock, "get replicas of asg ml-training", || {
        let n = {
            let mut a = attempts.lock().unwrap();
            a.push((clock.now() - t0()).to_std().unwrap());
            a.len()
        };
        let error = error.clone();
        async move {
            if n <= failures {
                Err(error)
            } else {
                Ok(n as u32)
            }
        }
    })
    .await;
    (result, attempts.into_inner().unwrap())
}

fn gaps(at: &[Duration]) -> Vec<Duration> {
    at.windows(2).map(|w| w[1] - w[0]).collect()
}

#[tokio::test]
async fn retries_then_succeeds() {
    let (result, at) = run(&exact(), 3, throttled()).await;
    assert_eq!(result, Ok(4));
    assert_eq!(
        gaps(&at),
        [
            Duration::from_millis(100),
            Duration::from_millis(200),
            Duration::from_millis(400)
        ]
    );
}

#[tokio::test]
async fn non_retryable_returns_at_once() {
    let (result, at) = run(
        &exact(),
        5,
        ProviderError::new(ProviderErrorKind::NotFound, "no such group"),
    )
    .await;
    let err = result.unwrap_err();
    assert_eq!(err.kind, ProviderErrorKind::NotFound);
    assert_eq!(at, [Duration::ZERO]);
    assert!(
        err.message.contains("get replicas of asg ml-training"),
        "{err}"
    );
    assert!(err.message.contains("after 1 attempt "), "{err}");
    assert!(err.message.contains("not retryable"), "{err}");
    assert!(err.message.contains("no such group"), "{err}");
}

#[tokio::test]
async fn gives_up_after_max_attempts_with_the_count() {
    let policy = RetryPolicy {
        max_attempts: 3,
        ..exact()
    };
    let (result, at) = run(&policy, 100, throttled()).await;
    let err = result.unwrap_err();
    assert_eq!(err.kind, ProviderErrorKind::Throttled);
    assert_eq!(at.len(), 3);
    assert!(err.message.contains("after 3 attempts"), "{err}");
    assert!(err.message.contains("Rate exceeded"), "{err}");
}

#[tokio::test]
async fn max_attempts_zero_still_tries_once() {
    let policy = RetryPolicy {
        max_attempts: 0,
        ..exact()
    };
    let (result, at) = run(&policy, 0, throttled()).await;
    assert_eq!(result, Ok(1));
    assert_eq!(at.len(), 1);
}

#[tokio::test]
async fn backoff_grows_and_is_capped() {
    let (result, at) = run(&exact(), 7, throttled()).await;
    assert_eq!(result, Ok(8));
    let ms: Vec<u128> = gaps(&at).iter().map(Duration::as_millis).collect();
    assert_eq!(ms, [100, 200, 400, 800, 1000, 1000, 1000]);

    let p = exact();
    let planned: Vec<u128> = (1..=7).map(|n| p.backoff(n).as_millis()).collect();
    assert_eq!(planned, [100, 200, 400, 800, 1000, 1000, 1000]);
    // Huge retry numbers and silly multipliers never panic.
    assert_eq!(p.backoff(u32::MAX), Duration::from_secs(1));
    let flat = RetryPolicy {
        multiplier: f64::NAN,
        ..exact()
    };
    assert_eq!(flat.backoff(5), Duration::from_millis(100));
    let shrinking = RetryPolicy {
        multiplier: 0.5,
        ..exact()
    };
    assert_eq!(shrinking.backoff(5), Duration::from_millis(100));
}

#[tokio::test]
async fn jitter_stays_within_bounds_and_is_deterministic_when_seeded() {
    let policy = RetryPolicy {
        jitter: 0.5,
        seed: Some(42),
        ..exact()
    };
    let (_, a) = run(&policy, 7, throttled()).await;
    let (_, b) = run(&policy, 7, throttled()).await;
    assert_eq!(a, b, "the same seed gives the same sleeps");
    for (n, gap) in gaps(&a).into_iter().enumerate() {
        let base = policy.backoff(n as u32 + 1);
        assert!(
            gap <= base && gap >= base / 2,
            "retry {}: {gap:?} vs {base:?}",
            n + 1
        );
    }
    let (_, c) = run(
        &RetryPolicy {
            seed: Some(43),
            ..policy.clone()
        },
        7,
        throttled(),
    )
    .await;
    assert_ne!(a, c, "another seed gives other sleeps");
}

#[tokio::test]
async fn deadline_bounds_total_time() {
    // Backoffs 100, 200, 400, 800, 1000...: the deadline of 1.5 s allows
    // attempts at 0, 0.1, 0.3 and 0.7 s; the next would be at 1.5 s.
    let policy = RetryPolicy {
        deadline: Duration::from_millis(1500),
        ..exact()
    };
    let (result, at) = run(&policy, 100, throttled()).await;
    let err = result.unwrap_err();
    assert_eq!(at.last(), Some(&Duration::from_millis(700)));
    assert_eq!(at.len(), 4);
    assert!(err.message.contains("after 4 attempts"), "{err}");
    assert!(err.message.contains("deadline"), "{err}");
}

/// A queue whose first `hangs` calls never answer.
struct Hanging {
    calls: Mutex<u32>,
    hangs: u32,
}

#[async_trait::async_trait]
impl Queue for Hanging {
    async fn length(&self) -> Result<u64, ProviderError> {
        let n = {
            let mut c = self.calls.lock().unwrap();
            *c += 1;
            *c
        };
        if n <= self.hangs {
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
        Ok(u64::from(n))
    }

    async fn oldest_message_age(&self) -> Result<Option<Duration>, ProviderError> {
        Ok(None)
    }
}

#[tokio::test(start_paused = true)]
async fn slow_attempts_time_out_and_are_retried() {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let hanging = Arc::new(Hanging {
        calls: Mutex::new(0),
        hangs: 1,
    });
    let timed = Arc::new(Timeout::new(
        hanging,
        Duration::from_secs(2),
        clock.clone(),
        "queue orders",
    ));
    let queue = Retrying::new(timed, exact(), clock, "queue orders");
    let start = Instant::now();
    assert_eq!(queue.length().await, Ok(2));
    // One 2 s timeout, one 100 ms backoff.
    assert_eq!(start.elapsed(), Duration::from_millis(2100));
}

#[tokio::test(start_paused = true)]
async fn a_timeout_error_is_retryable_and_names_the_call_and_the_object() {
    let hanging = Arc::new(Hanging {
        calls: Mutex::new(0),
        hangs: u32::MAX,
    });
    let queue = Timeout::new(
        hanging,
        Duration::from_secs(3),
        Arc::new(SystemClock),
        "queue AWSSQSQueue orders",
    );
    let start = Instant::now();
    let err = queue.length().await.unwrap_err();
    assert_eq!(err.kind, ProviderErrorKind::Timeout);
    assert!(err.is_retryable());
    assert!(
        err.message
            .contains("queue length of queue AWSSQSQueue orders did not answer within 3s"),
        "{err}"
    );
    assert_eq!(start.elapsed(), Duration::from_secs(3));
}

#[tokio::test(start_paused = true)]
async fn an_answer_in_time_passes_through_the_timeout() {
    let queue = Timeout::new(
        Arc::new(Hanging {
            calls: Mutex::new(0),
            hangs: 0,
        }),
        Duration::from_secs(3),
        Arc::new(SystemClock),
        "queue orders",
    );
    assert_eq!(queue.length().await, Ok(1));
}

#[tokio::test]
async fn retrying_wraps_a_queue() {
    let mut q = MockQueue::new();
    let mut seq = mockall::Sequence::new();
    q.expect_length()
        .times(2)
        .in_sequence(&mut seq)
        .returning(|| Err(throttled()));
    q.expect_length()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|| Ok(17));
    let q: Arc<dyn Queue> = Arc::new(q);
    let clock = Arc::new(ManualClock::new(t0()));
    let wrapped = Retrying::new(q, exact(), clock.clone(), "queue AWSSQSQueue/orders");
    assert_eq!(wrapped.length().await, Ok(17));
    // Two backoffs (100 ms, 200 ms) on the manual clock.
    assert_eq!(clock.now() - t0(), chrono::Duration::milliseconds(300));
}

#[tokio::test]
async fn retrying_wraps_a_node_group_and_names_it() {
    let mut ng = MockNodeGroup::new();
    ng.expect_set_replicas()
        .withf(|r| *r == 7)
        .times(2)
        .returning(|_| Err(ProviderError::new(ProviderErrorKind::Unavailable, "503")));
    let ng: Arc<dyn NodeGroup> = Arc::new(ng);
    let wrapped = Retrying::new(
        ng,
        RetryPolicy {
            max_attempts: 2,
            ..exact()
        },
        Arc::new(ManualClock::new(t0())),
        "node group AWSEC2AutoScalingGroup/ml",
    );
    let err = wrapped.set_replicas(7).await.unwrap_err();
    assert_eq!(err.kind, ProviderErrorKind::Unavailable);
    assert!(
        err.message.starts_with(
            "set replicas of node group AWSEC2AutoScalingGroup/ml failed after 2 attempts"
        ),
        "{err}"
    );
}

/// Counts how often it is formatted.
struct CountingName(std::sync::atomic::AtomicUsize);

impl std::fmt::Display for CountingName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        f.write_str("queue length of orders")
    }
}

#[tokio::test]
async fn the_op_name_is_formatted_only_for_an_error() {
    let name = CountingName(std::sync::atomic::AtomicUsize::new(0));
    let policy = exact();
    let clock = ManualClock::new(t0());
    let ok: Result<u64, _> = retry(&policy, &clock, &name, || async { Ok(3) }).await;
    assert_eq!(ok, Ok(3));
    assert_eq!(name.0.load(std::sync::atomic::Ordering::SeqCst), 0);

    let err: Result<u64, _> = retry(&RetryPolicy::no_retries(), &clock, &name, || async {
        Err(throttled())
    })
    .await;
    let err = err.unwrap_err();
    assert!(
        err.message
            .starts_with("queue length of orders failed after 1 attempt"),
        "{}",
        err.message
    );
    assert!(name.0.load(std::sync::atomic::Ordering::SeqCst) >= 1);
}
