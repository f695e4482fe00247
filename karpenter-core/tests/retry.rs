//! The retry helper, on tokio's paused clock: no test sleeps for real.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on purpose.

use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;

use karpenter_core::provider::{
    MockNodeGroup, MockQueue, NodeGroup, ProviderError, ProviderErrorKind, Queue,
};
use karpenter_core::retry::{RetryPolicy, Retrying, retry};
use tokio::time::Instant;

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
        per_attempt_timeout: Duration::from_secs(5),
        deadline: Duration::from_secs(3600),
        seed: Some(1),
    }
}

/// Runs `retry` with an operation that fails `failures` times with
/// `error`, recording the (paused-clock) instant of every attempt.
async fn run(
    policy: &RetryPolicy,
    failures: usize,
    error: ProviderError,
) -> (Result<u32, ProviderError>, Vec<Duration>) {
    let start = Instant::now();
    let attempts = Mutex::new(Vec::new());
    let result = retry(policy, "get replicas of asg ml-training", || {
        let n = {
            let mut a = attempts.lock().unwrap();
            a.push(start.elapsed());
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

#[tokio::test(start_paused = true)]
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

#[tokio::test(start_paused = true)]
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

#[tokio::test(start_paused = true)]
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

#[tokio::test(start_paused = true)]
async fn max_attempts_zero_still_tries_once() {
    let policy = RetryPolicy {
        max_attempts: 0,
        ..exact()
    };
    let (result, at) = run(&policy, 0, throttled()).await;
    assert_eq!(result, Ok(1));
    assert_eq!(at.len(), 1);
}

#[tokio::test(start_paused = true)]
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

#[tokio::test(start_paused = true)]
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

#[tokio::test(start_paused = true)]
async fn deadline_bounds_total_time() {
    // Backoffs 100, 200, 400, 800, 1000...: the deadline of 1.5 s allows
    // attempts at 0, 0.1, 0.3 and 0.7 s; the next would be at 1.5 s.
    let policy = RetryPolicy {
        deadline: Duration::from_millis(1500),
        ..exact()
    };
    let start = Instant::now();
    let (result, at) = run(&policy, 100, throttled()).await;
    let err = result.unwrap_err();
    assert!(
        start.elapsed() < Duration::from_millis(1500),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(at.len(), 4);
    assert!(err.message.contains("after 4 attempts"), "{err}");
    assert!(err.message.contains("deadline"), "{err}");
}

#[tokio::test(start_paused = true)]
async fn slow_attempts_time_out_and_are_retried() {
    let policy = RetryPolicy {
        per_attempt_timeout: Duration::from_secs(2),
        ..exact()
    };
    let calls = Mutex::new(0u32);
    let start = Instant::now();
    let result = retry(&policy, "queue length of orders", || {
        let n = {
            let mut c = calls.lock().unwrap();
            *c += 1;
            *c
        };
        async move {
            if n == 1 {
                // Hangs far longer than the attempt timeout.
                tokio::time::sleep(Duration::from_secs(3600)).await;
            }
            Ok(n)
        }
    })
    .await;
    assert_eq!(result, Ok(2));
    assert_eq!(start.elapsed(), Duration::from_millis(2100));
}

#[tokio::test(start_paused = true)]
async fn a_timeout_error_names_the_op_and_the_last_attempt_ends_at_the_deadline() {
    let policy = RetryPolicy {
        per_attempt_timeout: Duration::from_secs(10),
        deadline: Duration::from_secs(3),
        ..exact()
    };
    let start = Instant::now();
    let result: Result<(), _> = retry(&policy, "queue length of orders", || async {
        tokio::time::sleep(Duration::from_secs(3600)).await;
        Ok(())
    })
    .await;
    let err = result.unwrap_err();
    assert_eq!(err.kind, ProviderErrorKind::Timeout);
    assert!(err.message.contains("queue length of orders"), "{err}");
    assert!(err.message.contains("did not answer within"), "{err}");
    // The single attempt was cut to the deadline.
    assert_eq!(start.elapsed(), Duration::from_secs(3));
}

#[tokio::test(start_paused = true)]
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
    let wrapped = Retrying::new(q, exact(), "queue AWSSQSQueue/orders");
    assert_eq!(wrapped.length().await, Ok(17));
}

#[tokio::test(start_paused = true)]
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
        "node group AWSEC2AutoScalingGroup/ml",
    );
    let err = wrapped.set_replicas(7).await.unwrap_err();
    assert_eq!(err.kind, ProviderErrorKind::Unavailable);
    assert!(
        err.message.starts_with(
            "set replicas to 7 of node group AWSEC2AutoScalingGroup/ml failed after 2 attempts"
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

#[tokio::test(start_paused = true)]
async fn the_op_name_is_formatted_only_for_an_error() {
    let name = CountingName(std::sync::atomic::AtomicUsize::new(0));
    let policy = exact();
    let ok: Result<u64, _> = retry(&policy, &name, || async { Ok(3) }).await;
    assert_eq!(ok, Ok(3));
    assert_eq!(name.0.load(std::sync::atomic::Ordering::SeqCst), 0);

    let err: Result<u64, _> = retry(&RetryPolicy::no_retries(), &name, || async {
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
