//! The queue producer: reading a queue through the SPI.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on purpose.

use std::time::Duration;

use karpenter_core::producers::queue::{self, QueueReading};
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
            oldest_message_age: Some(Duration::from_millis(2_500))
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

#[test]
fn empty_queue_status() {
    let reading = QueueReading::default();
    assert_eq!(
        reading.gauges(&karpenter_core::producers::Labels::from([]))[1].value,
        0.0
    );
    assert_eq!(reading.status_values()["length"], "0");
    assert_eq!(reading.status_values()["oldestMessageAge"], "0s");
}
