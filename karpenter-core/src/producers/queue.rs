//! The `queue` producer: how much work is waiting.
//!
//! Gauges: `karpenter_queue_length` (messages waiting) and
//! `karpenter_queue_oldest_message_age_seconds` (0 when the queue is empty).
//!
//! ```
//! use std::time::Duration;
//! use karpenter_core::producers::{producer_labels, queue::QueueReading};
//!
//! let reading = QueueReading { length: 12, oldest_message_age: Some(Duration::from_secs(90)) };
//! let gauges = reading.gauges(&producer_labels("orders", "shop"));
//! assert_eq!(gauges[0].name, "karpenter_queue_length");
//! assert_eq!(gauges[0].value, 12.0);
//! assert_eq!(gauges[1].value, 90.0);
//! assert_eq!(gauges[1].labels[0], ("name".to_string(), "orders".to_string()));
//! assert_eq!(reading.status_values()["oldestMessageAge"], "90s");
//! ```

use std::collections::BTreeMap;
use std::time::Duration;

use super::{Gauge, Labels};
use crate::provider::{ProviderResult, Queue};

/// Gauge name: messages waiting in the queue.
pub const QUEUE_LENGTH: &str = "karpenter_queue_length";
/// Gauge name: age of the oldest waiting message, in seconds (0 when empty).
pub const QUEUE_OLDEST_MESSAGE_AGE_SECONDS: &str = "karpenter_queue_oldest_message_age_seconds";

/// One reading of a queue.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueReading {
    /// Messages waiting.
    pub length: u64,
    /// Age of the oldest waiting message; `None` when the queue is empty.
    pub oldest_message_age: Option<Duration>,
}

impl QueueReading {
    /// The two queue gauges, with `labels` (the producer's name and
    /// namespace).
    pub fn gauges(&self, labels: &Labels) -> Vec<Gauge> {
        let age = self.oldest_message_age.map_or(0.0, |d| d.as_secs_f64());
        vec![
            Gauge {
                name: QUEUE_LENGTH,
                labels: labels.clone(),
                value: self.length as f64,
            },
            Gauge {
                name: QUEUE_OLDEST_MESSAGE_AGE_SECONDS,
                labels: labels.clone(),
                value: age,
            },
        ]
    }

    /// Human-readable values for the status: `length` and `oldestMessageAge`
    /// (whole seconds, `0s` when empty).
    pub fn status_values(&self) -> BTreeMap<String, String> {
        let age = self.oldest_message_age.map_or(0, |d| d.as_secs());
        BTreeMap::from([
            ("length".to_string(), self.length.to_string()),
            ("oldestMessageAge".to_string(), format!("{age}s")),
        ])
    }
}

/// Reads the length and oldest message age of `queue`. Wrap the queue in
/// [`crate::retry::Retrying`] for retries and timeouts.
pub async fn read(queue: &dyn Queue) -> ProviderResult<QueueReading> {
    let length = queue.length().await?;
    let oldest_message_age = queue.oldest_message_age().await?;
    Ok(QueueReading {
        length,
        oldest_message_age,
    })
}
