//! Helpers shared by core's integration test crates.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on purpose.

use std::sync::Mutex;

use karpenter_core::producers::MetricSink;

/// One recorded `set_gauge` call: name, labels, value.
pub type Sample = (String, Vec<(String, String)>, f64);

/// A metric sink that records every gauge set.
#[derive(Default)]
pub struct Recorder(pub Mutex<Vec<Sample>>);

impl MetricSink for Recorder {
    fn set_gauge(&self, name: &str, labels: &[(String, String)], value: f64) {
        self.0
            .lock()
            .unwrap()
            .push((name.to_string(), labels.to_vec(), value));
    }
}
