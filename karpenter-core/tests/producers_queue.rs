//! The queue producer: reading a queue through the SPI.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on purpose.

use std::time::Duration;

use karpenter_core::producers::queue::{self, OldestMessageAge, QueueReading};
use karpenter_core::provider::{MockQueue, ProviderError, ProviderErrorKind};

#[tokio::test]
async fn reads_length_and_oldest_age() {
    let mut q = MockQueue::new();
    q.expect_length().times(1).returning(|| Ok(7));
    q.expect_oldest_message_age()
        .times(1)
        .returning(|| Ok(Some(Duration::from_millis(2_500))));
    let reading = queue::read(&q).await.unwrap();
    assert_eq!(
        reading,
        QueueReading {
            length: 7,
            oldest_message_age: OldestMessageAge::Known(Duration::from_millis(2_500))
        }
    );
    let gauges = reading.gauges(&karpenter_core::producers::Labels::from([]));
    assert_eq!(gauges[0].name, queue::QUEUE_LENGTH);
    assert_eq!(gauges[1].name, queue::QUEUE_OLDEST_MESSAGE_AGE_SECONDS);
    assert_eq!(gauges[1].value, 2.5);
    assert_eq!(reading.status_values()["oldestMessageAge"], "2s");
}

#[tokio::test]
async fn a_failed_read_is_returned_as_is() {
    let mut q = MockQueue::new();
    q.expect_length().returning(|| {
        Err(ProviderError::new(
            ProviderErrorKind::NotFound,
            "queue orders does not exist",
        ))
    });
    let err = queue::read(&q).await.unwrap_err();
    assert_eq!(err.kind, ProviderErrorKind::NotFound);
}

#[tokio::test]
async fn an_empty_queue_is_not_asked_for_an_age_and_reads_zero() {
    let mut q = MockQueue::new();
    q.expect_length().returning(|| Ok(0));
    q.expect_oldest_message_age().never();
    let reading = queue::read(&q).await.unwrap();
    assert_eq!(reading.oldest_message_age, OldestMessageAge::Empty);
    assert_eq!(reading, QueueReading::new(0, Ok(None)));
    assert_eq!(
        reading.gauges(&karpenter_core::producers::Labels::from([]))[1].value,
        0.0
    );
    assert_eq!(reading.status_values()["length"], "0");
    assert_eq!(reading.status_values()["oldestMessageAge"], "0s");
}

#[tokio::test]
async fn an_age_without_data_is_reported_as_such_not_as_zero() {
    let mut q = MockQueue::new();
    q.expect_length().returning(|| Ok(40));
    q.expect_oldest_message_age().returning(|| Ok(None));
    let reading = queue::read(&q).await.unwrap();
    assert_eq!(reading.oldest_message_age, OldestMessageAge::NoData);
    let gauges = reading.gauges(&karpenter_core::producers::Labels::from([]));
    assert_eq!(gauges.len(), 1, "no age gauge: {gauges:?}");
    assert_eq!(gauges[0].value, 40.0);
    assert_eq!(reading.status_values()["oldestMessageAge"], "no data");
}

#[tokio::test]
async fn a_failed_age_read_keeps_the_length() {
    let mut q = MockQueue::new();
    q.expect_length().returning(|| Ok(40));
    q.expect_oldest_message_age().returning(|| {
        Err(ProviderError::new(
            ProviderErrorKind::Unavailable,
            "CloudWatch GetMetricData: 503",
        ))
    });
    let reading = queue::read(&q).await.unwrap();
    assert!(matches!(
        &reading.oldest_message_age,
        OldestMessageAge::Unreadable(e) if e.kind == ProviderErrorKind::Unavailable
    ));
    let gauges = reading.gauges(&karpenter_core::producers::Labels::from([]));
    assert_eq!(gauges.len(), 1);
    assert_eq!(gauges[0].value, 40.0);
    assert_eq!(reading.status_values()["length"], "40");
    assert!(
        reading.status_values()["oldestMessageAge"].starts_with("unreadable: CloudWatch"),
        "{:?}",
        reading.status_values()
    );
}
