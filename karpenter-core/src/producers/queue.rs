//! The `queue` producer: how much work is waiting.
//!
//! Gauges: `karpenter_queue_length` (messages waiting) and
//! `karpenter_queue_oldest_message_age_seconds` (0 when the queue is
//! empty). The age gauge is left out, not set to 0, when messages wait but
//! the provider has no figure for their age (SQS takes it from CloudWatch,
//! which may have no datapoint yet) or reading it failed: a made-up 0 would
//! look like a fresh queue. The length still counts either way.
//!
//! ```
//! use std::time::Duration;
//! use karpenter_core::producers::{producer_labels, queue::{OldestMessageAge, QueueReading}};
//!
//! let labels = producer_labels("orders", "shop");
//! let reading = QueueReading::new(12, Ok(Some(Duration::from_secs(90))));
//! let gauges = reading.gauges(&labels);
//! assert_eq!(gauges[0].name, "karpenter_queue_length");
//! assert_eq!(gauges[0].value, 12.0);
//! assert_eq!(gauges[1].value, 90.0);
//! assert_eq!(gauges[1].labels[0], ("name".to_string(), "orders".to_string()));
//! assert_eq!(reading.status_values()["oldestMessageAge"], "90s");
//!
//! // Messages wait, but the provider has no age for them: no age gauge.
//! let no_data = QueueReading::new(12, Ok(None));
//! assert_eq!(no_data.oldest_message_age, OldestMessageAge::NoData);
//! assert_eq!(no_data.gauges(&labels).len(), 1);
//! assert_eq!(no_data.status_values()["oldestMessageAge"], "no data");
//! ```

use std::collections::BTreeMap;
use std::time::Duration;

use super::{Gauge, Labels};
use crate::provider::{ProviderError, ProviderResult, Queue};

/// Gauge name: messages waiting in the queue.
pub const QUEUE_LENGTH: &str = "karpenter_queue_length";
/// Gauge name: age of the oldest waiting message, in seconds (0 when empty).
pub const QUEUE_OLDEST_MESSAGE_AGE_SECONDS: &str = "karpenter_queue_oldest_message_age_seconds";

/// What is known of the age of a queue's oldest waiting message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OldestMessageAge {
    /// No message waits: the age gauge reads 0.
    Empty,
    /// The oldest waiting message's age.
    Known(Duration),
    /// Messages wait, but the provider has no figure for their age: no age
    /// gauge, `no data` in the status.
    NoData,
    /// Reading the age failed (the length was read): no age gauge, the
    /// error in the status.
    Unreadable(ProviderError),
}

/// One reading of a queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueReading {
    /// Messages waiting.
    pub length: u64,
    /// What is known of the oldest waiting message's age.
    pub oldest_message_age: OldestMessageAge,
}

impl QueueReading {
    /// A reading from a queue's length and the result of reading its oldest
    /// message age ([`Queue::oldest_message_age`]: `None` when it has no
    /// figure, which an empty queue never needs).
    pub fn new(length: u64, age: ProviderResult<Option<Duration>>) -> Self {
        let oldest_message_age = match age {
            _ if length == 0 => OldestMessageAge::Empty,
            Ok(Some(age)) => OldestMessageAge::Known(age),
            Ok(None) => OldestMessageAge::NoData,
            Err(e) => OldestMessageAge::Unreadable(e),
        };
        Self {
            length,
            oldest_message_age,
        }
    }

    /// The queue gauges, with `labels` (the producer's name and namespace):
    /// the length, and the age when it is known (0 for an empty queue).
    pub fn gauges(&self, labels: &Labels) -> Vec<Gauge> {
        let mut gauges = vec![Gauge {
            name: QUEUE_LENGTH,
            labels: labels.clone(),
            value: self.length as f64,
        }];
        let age = match &self.oldest_message_age {
            OldestMessageAge::Empty => Some(0.0),
            OldestMessageAge::Known(d) => Some(d.as_secs_f64()),
            OldestMessageAge::NoData | OldestMessageAge::Unreadable(_) => None,
        };
        if let Some(value) = age {
            gauges.push(Gauge {
                name: QUEUE_OLDEST_MESSAGE_AGE_SECONDS,
                labels: labels.clone(),
                value,
            });
        }
        gauges
    }

    /// Human-readable values for the status: `length` and `oldestMessageAge`
    /// (whole seconds, `0s` when empty, `no data`, or `unreadable: ...`).
    pub fn status_values(&self) -> BTreeMap<String, String> {
        let age = match &self.oldest_message_age {
            OldestMessageAge::Empty => "0s".to_string(),
            OldestMessageAge::Known(d) => {
                let mut age = d.as_secs().to_string();
                age.push('s');
                age
            }
            OldestMessageAge::NoData => "no data".to_string(),
            OldestMessageAge::Unreadable(e) => format!("unreadable: {e}"),
        };
        BTreeMap::from([
            ("length".to_string(), self.length.to_string()),
            ("oldestMessageAge".to_string(), age),
        ])
    }
}

/// Reads the length and the oldest message age of `queue` (the registry's
/// handles retry). A failed length read fails the reading; a failed age
/// read is kept in it ([`OldestMessageAge::Unreadable`]), so the length
/// still counts.
pub async fn read(queue: &dyn Queue) -> ProviderResult<QueueReading> {
    let length = queue.length().await?;
    let age = if length == 0 {
        Ok(None)
    } else {
        queue.oldest_message_age().await
    };
    Ok(QueueReading::new(length, age))
}
