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
use std::sync::Arc;
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
        let mut gauges = Vec::with_capacity(2);
        self.write_gauges(labels, &mut gauges);
        gauges
    }

    /// [`gauges`](Self::gauges) into `out` (cleared first, storage reused).
    pub(crate) fn write_gauges(&self, labels: &Labels, out: &mut Vec<Gauge>) {
        // u64 -> f64 loses precision only above 2^53 messages.
        let age = self.oldest_message_age.map_or(0.0, |d| d.as_secs_f64());
        // Last time's gauges of the same producer: only the values change.
        if let [length, oldest] = out.as_mut_slice()
            && length.name == QUEUE_LENGTH
            && oldest.name == QUEUE_OLDEST_MESSAGE_AGE_SECONDS
            && Arc::ptr_eq(&length.labels, labels)
            && Arc::ptr_eq(&oldest.labels, labels)
        {
            length.value = self.length as f64;
            oldest.value = age;
            return;
        }
        out.clear();
        out.push(Gauge {
            name: QUEUE_LENGTH,
            labels: labels.clone(),
            value: self.length as f64,
        });
        out.push(Gauge {
            name: QUEUE_OLDEST_MESSAGE_AGE_SECONDS,
            labels: labels.clone(),
            value: age,
        });
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

    /// Writes [`status_values`](Self::status_values) into `into`, reusing
    /// its strings when it already holds exactly these keys (the runner
    /// does this every tick, so a steady queue costs no allocation).
    pub(crate) fn write_status_values(&self, into: &mut BTreeMap<String, String>) {
        use std::fmt::Write as _;
        let age = self.oldest_message_age.map_or(0, |d| d.as_secs());
        // Exactly these two keys, in key order: rewrite the values in place.
        let mut entries = into.iter_mut();
        if let (Some((k1, length)), Some((k2, oldest)), None) =
            (entries.next(), entries.next(), entries.next())
            && k1 == "length"
            && k2 == "oldestMessageAge"
        {
            length.clear();
            let _ = write!(length, "{}", self.length);
            oldest.clear();
            let _ = write!(oldest, "{age}s");
            return;
        }
        *into = self.status_values();
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::producers::producer_labels;

    fn reading(length: u64, age: u64) -> QueueReading {
        QueueReading {
            length,
            oldest_message_age: Some(Duration::from_secs(age)),
        }
    }

    #[test]
    fn writing_in_place_gives_what_building_anew_gives() {
        let labels = producer_labels("q", "default");
        let other = producer_labels("other", "default");
        let mut gauges = Vec::new();
        let mut values = BTreeMap::new();
        // Empty, reused, and foreign storage (another producer's labels,
        // other status keys, three keys) all end up the same as new.
        let steps: [(&Labels, Option<(&str, &str)>); 4] = [
            (&labels, None),
            (&labels, None),
            (&other, Some(("hours", "3"))),
            (&labels, Some(("zzz", "extra"))),
        ];
        for (i, (l, extra)) in steps.into_iter().enumerate() {
            let r = reading(10 * i as u64, i as u64);
            if let Some((k, v)) = extra {
                values.insert(k.to_string(), v.to_string());
            }
            r.write_gauges(l, &mut gauges);
            r.write_status_values(&mut values);
            assert_eq!(gauges, r.gauges(l), "step {i}");
            assert!(gauges.iter().all(|g| Arc::ptr_eq(&g.labels, l)), "step {i}");
            assert_eq!(values, r.status_values(), "step {i}");
        }
    }
}
