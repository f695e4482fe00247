//! Prometheus out: every producer gauge and the controller's own metrics in
//! one prometheus-client registry, encoded for `/metrics`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::sync::atomic::AtomicU64;
use std::sync::{Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use karpenter_core::producers::{Gauge, MetricSink, queue, reserved_capacity, schedule};
use karpenter_core::reconcile::AutoscalerOutcome;
use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge as PromGauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

/// The `Content-Type` of [`Metrics::encode`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// `karpenter_pending_capacity_nodes`: nodes a group must add.
pub const PENDING_CAPACITY_NODES: &str = "karpenter_pending_capacity_nodes";
/// `karpenter_pending_capacity_pods`: pending pods that fit a group.
pub const PENDING_CAPACITY_PODS: &str = "karpenter_pending_capacity_pods";
/// `karpenter_pending_capacity_desired_nodes`: the size a group should have.
pub const PENDING_CAPACITY_DESIRED_NODES: &str = "karpenter_pending_capacity_desired_nodes";

/// Every producer gauge karpenter-rs exports, with its HELP text: the
/// Karpenter v0.1 names. Each carries the producer's `name` and `namespace`
/// labels.
pub const PRODUCER_GAUGES: &[(&str, &str)] = &[
    (
        queue::QUEUE_LENGTH,
        "Messages waiting in the MetricsProducer's queue",
    ),
    (
        queue::QUEUE_OLDEST_MESSAGE_AGE_SECONDS,
        "Age of the oldest message waiting in the MetricsProducer's queue, in seconds",
    ),
    (
        reserved_capacity::CPU_RESERVED,
        "CPU requested by the pods on the nodes the MetricsProducer selects, in cores",
    ),
    (
        reserved_capacity::CPU_CAPACITY,
        "Allocatable CPU of the nodes the MetricsProducer selects, in cores",
    ),
    (
        reserved_capacity::CPU_UTILIZATION,
        "Requested over allocatable CPU of the selected nodes, a fraction (0.6 is 60%)",
    ),
    (
        reserved_capacity::MEMORY_RESERVED,
        "Memory requested by the pods on the nodes the MetricsProducer selects, in bytes",
    ),
    (
        reserved_capacity::MEMORY_CAPACITY,
        "Allocatable memory of the nodes the MetricsProducer selects, in bytes",
    ),
    (
        reserved_capacity::MEMORY_UTILIZATION,
        "Requested over allocatable memory of the selected nodes, a fraction (0.6 is 60%)",
    ),
    (
        reserved_capacity::PODS_RESERVED,
        "Pods bound to the nodes the MetricsProducer selects",
    ),
    (
        reserved_capacity::PODS_CAPACITY,
        "Pods the nodes the MetricsProducer selects may run",
    ),
    (
        reserved_capacity::PODS_UTILIZATION,
        "Bound over allowed pods of the selected nodes, a fraction (0.6 is 60%)",
    ),
    (
        schedule::SCHEDULED_REPLICAS_VALUE,
        "Replicas the MetricsProducer's schedule asks for now",
    ),
    (
        PENDING_CAPACITY_NODES,
        "Nodes the group must add so that the pending pods that fit its nodes can run",
    ),
    (
        PENDING_CAPACITY_PODS,
        "Pending (unschedulable) pods that fit the group's nodes",
    ),
    (
        PENDING_CAPACITY_DESIRED_NODES,
        "The size the group should have: registered, upcoming and new nodes",
    ),
];

/// A gauge series' labels, sorted by name.
type LabelPairs = Vec<(String, String)>;
type GaugeFamily = Family<LabelPairs, PromGauge<f64, AtomicU64>>;

/// `namespace` and `name` of a producer or autoscaler.
type ObjectKey = (String, String);

/// The kind of object a reconcile was for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, EncodeLabelValue)]
#[allow(missing_docs)] // The variants are the Kubernetes kinds.
pub enum ReconcileKind {
    ScalableNodeGroup,
    HorizontalAutoscaler,
    MetricsProducer,
}

/// How a reconcile ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ReconcileResult {
    /// Everything it tried worked.
    Success,
    /// Something failed (it is retried, or reported in the status).
    Error,
}

impl ReconcileResult {
    /// The label value: `success` or `error`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Error => "error",
        }
    }
}

impl EncodeLabelValue for ReconcileResult {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        encoder.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct KindLabels {
    kind: ReconcileKind,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ReconcileLabels {
    kind: ReconcileKind,
    result: ReconcileResult,
}

/// What one HorizontalAutoscaler decision came to, for
/// `karpenter_autoscaler_decisions_total{outcome}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DecisionOutcome {
    /// The target was scaled up.
    ScaledUp,
    /// The target was scaled down.
    ScaledDown,
    /// The decision kept the target's size.
    Unchanged,
    /// No usable metric, or scaling disabled (`ScalingActive=False`):
    /// nothing was decided.
    Inactive,
    /// The target's scale could not be read.
    TargetUnreadable,
    /// The new size could not be written.
    WriteFailed,
}

impl EncodeLabelValue for DecisionOutcome {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        encoder.write_str(self.as_str())
    }
}

impl DecisionOutcome {
    /// Every outcome.
    pub const ALL: [Self; 6] = [
        Self::ScaledUp,
        Self::ScaledDown,
        Self::Unchanged,
        Self::Inactive,
        Self::TargetUnreadable,
        Self::WriteFailed,
    ];

    /// The label value, e.g. `scaled_up`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ScaledUp => "scaled_up",
            Self::ScaledDown => "scaled_down",
            Self::Unchanged => "unchanged",
            Self::Inactive => "inactive",
            Self::TargetUnreadable => "target_unreadable",
            Self::WriteFailed => "write_failed",
        }
    }

    /// The outcome of a reconcile of one autoscaler.
    pub fn of(outcome: &AutoscalerOutcome) -> Self {
        let Some(decision) = &outcome.decision else {
            return Self::TargetUnreadable;
        };
        match &outcome.write {
            Some(w) if w.result.is_err() => Self::WriteFailed,
            Some(w) if w.to > w.from => Self::ScaledUp,
            Some(w) if w.to < w.from => Self::ScaledDown,
            _ => {
                let inactive = decision.condition("ScalingActive").is_some_and(|c| {
                    c.status == karpenter_core::api::v1alpha1::ConditionStatus::False
                });
                if inactive {
                    Self::Inactive
                } else {
                    Self::Unchanged
                }
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct DecisionLabels {
    namespace: String,
    name: String,
    outcome: DecisionOutcome,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct AutoscalerLabels {
    namespace: String,
    name: String,
}

/// The controller's own metrics.
struct ControllerMetrics {
    reconciles: Family<ReconcileLabels, Counter>,
    errors: Family<KindLabels, Counter>,
    duration: Family<KindLabels, Histogram>,
    decisions: Family<DecisionLabels, Counter>,
    desired: Family<AutoscalerLabels, PromGauge>,
    current: Family<AutoscalerLabels, PromGauge>,
}

/// The metrics the `/metrics` endpoint serves: every producer gauge (under
/// the Karpenter v0.1 names, with HELP lines) and the controller's own
/// reconcile and decision metrics.
///
/// Producers' gauges arrive through [`MetricSink::set_gauge`] or, better,
/// [`Metrics::replace_producer`], which also drops the series a producer no
/// longer reports; [`Metrics::remove_producer`] drops all of a deleted
/// producer's series. The controllers record what they do with
/// [`Metrics::record_reconcile`] and [`Metrics::record_decision`].
///
/// ```
/// use karpenter_core::producers::{producer_labels, Gauge};
/// use karpenter_k8s::prometheus::Metrics;
///
/// let metrics = Metrics::new();
/// let labels = producer_labels("orders", "shop");
/// metrics.replace_producer("shop", "orders", &[Gauge { name: "karpenter_queue_length", labels, value: 12.0 }]);
/// let text = metrics.encode();
/// assert!(text.contains("# HELP karpenter_queue_length Messages waiting in the MetricsProducer's queue."));
/// assert!(text.contains(r#"karpenter_queue_length{name="orders",namespace="shop"} 12.0"#));
/// metrics.remove_producer("shop", "orders");
/// assert!(!metrics.encode().contains(r#"name="orders""#));
/// ```
pub struct Metrics {
    registry: RwLock<Registry>,
    gauges: RwLock<HashMap<String, GaugeFamily>>,
    /// The series each producer has, to remove them.
    series: Mutex<BTreeMap<ObjectKey, BTreeSet<(String, LabelPairs)>>>,
    controller: ControllerMetrics,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics")
            .field("producers", &self.lock_series().len())
            .finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// Reconcile durations: 1 ms to about 16 s.
fn duration_buckets() -> impl Iterator<Item = f64> {
    exponential_buckets(0.001, 2.0, 15)
}

impl Metrics {
    /// A registry with every producer gauge and controller metric
    /// registered. A metric is listed (HELP, TYPE and samples) once it has a
    /// series.
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let mut gauges = HashMap::new();
        for (name, help) in PRODUCER_GAUGES {
            let family = GaugeFamily::default();
            registry.register(*name, *help, family.clone());
            gauges.insert((*name).to_string(), family);
        }
        let controller = ControllerMetrics {
            reconciles: Family::default(),
            errors: Family::default(),
            duration: Family::new_with_constructor(|| Histogram::new(duration_buckets())),
            decisions: Family::default(),
            desired: Family::default(),
            current: Family::default(),
        };
        registry.register(
            "karpenter_reconcile",
            "Reconciles of each kind, by result",
            controller.reconciles.clone(),
        );
        registry.register(
            "karpenter_reconcile_errors",
            "Reconciles of each kind that failed",
            controller.errors.clone(),
        );
        registry.register_with_unit(
            "karpenter_reconcile_duration",
            "How long one reconcile of each kind took",
            Unit::Seconds,
            controller.duration.clone(),
        );
        registry.register(
            "karpenter_autoscaler_decisions",
            "HorizontalAutoscaler decisions, by autoscaler and outcome",
            controller.decisions.clone(),
        );
        registry.register(
            "karpenter_autoscaler_desired_replicas",
            "The replicas each HorizontalAutoscaler last decided",
            controller.desired.clone(),
        );
        registry.register(
            "karpenter_autoscaler_current_replicas",
            "The target's replicas when each HorizontalAutoscaler last read them",
            controller.current.clone(),
        );
        Self {
            registry: RwLock::new(registry),
            gauges: RwLock::new(gauges),
            series: Mutex::new(BTreeMap::new()),
            controller,
        }
    }

    fn lock_series(&self) -> MutexGuard<'_, BTreeMap<ObjectKey, BTreeSet<(String, LabelPairs)>>> {
        self.series.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn read_gauges(&self) -> RwLockReadGuard<'_, HashMap<String, GaugeFamily>> {
        self.gauges.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write_gauges(&self) -> RwLockWriteGuard<'_, HashMap<String, GaugeFamily>> {
        self.gauges.write().unwrap_or_else(|e| e.into_inner())
    }

    /// The family of gauge `name`, registered now (with a generic HELP
    /// line) if it is not one of [`PRODUCER_GAUGES`].
    fn family(&self, name: &str) -> GaugeFamily {
        if let Some(f) = self.read_gauges().get(name) {
            return f.clone();
        }
        let mut gauges = self.write_gauges();
        if let Some(f) = gauges.get(name) {
            return f.clone();
        }
        let family = GaugeFamily::default();
        self.registry
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .register(name, "A gauge set by a MetricsProducer", family.clone());
        gauges.insert(name.to_string(), family.clone());
        family
    }

    /// Sets one series and remembers it under its producer (the `namespace`
    /// and `name` labels).
    fn set(&self, name: &str, labels: &[(String, String)], value: f64) {
        let mut labels = labels.to_vec();
        labels.sort();
        self.family(name).get_or_create(&labels).set(value);
        if let Some(key) = producer_key(&labels) {
            self.lock_series()
                .entry(key)
                .or_default()
                .insert((name.to_string(), labels));
        }
    }

    /// Sets the gauges one evaluation of the producer `namespace/name` gave,
    /// and removes that producer's series the evaluation no longer gave
    /// (a utilization with no capacity to compare against has no sample,
    /// so an autoscaler reading it sees none rather than a stale value).
    pub fn replace_producer(&self, namespace: &str, name: &str, gauges: &[Gauge]) {
        let mut fresh = BTreeSet::new();
        for g in gauges {
            let mut labels = g.labels.to_vec();
            labels.sort();
            self.family(g.name).get_or_create(&labels).set(g.value);
            fresh.insert((g.name.to_string(), labels));
        }
        let key = (namespace.to_string(), name.to_string());
        let old = {
            let mut series = self.lock_series();
            let entry = series.entry(key).or_default();
            let old: Vec<(String, LabelPairs)> = entry.difference(&fresh).cloned().collect();
            // Series of other producers that happen to be set through this
            // call keep their own entries; this producer's set is `fresh`.
            *entry = fresh
                .iter()
                .filter(|(_, l)| {
                    producer_key(l)
                        .as_ref()
                        .is_some_and(|k| k.0 == namespace && k.1 == name)
                })
                .cloned()
                .collect();
            old
        };
        self.remove_series(&old);
    }

    /// Removes every series of the producer `namespace/name` (call it when
    /// the MetricsProducer is deleted), so a query no longer finds it.
    pub fn remove_producer(&self, namespace: &str, name: &str) {
        let removed = self
            .lock_series()
            .remove(&(namespace.to_string(), name.to_string()))
            .unwrap_or_default();
        self.remove_series(&removed.into_iter().collect::<Vec<_>>());
    }

    fn remove_series(&self, series: &[(String, LabelPairs)]) {
        let gauges = self.read_gauges();
        for (name, labels) in series {
            if let Some(family) = gauges.get(name) {
                family.remove(labels);
            }
        }
    }

    /// The current value of gauge `name` with `labels` (in any order), if
    /// that series exists: what a scrape would show.
    pub fn gauge_value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let mut labels: LabelPairs = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        labels.sort();
        let gauges = self.read_gauges();
        let family = gauges.get(name)?;
        // `get` does not create the series, unlike `get_or_create`.
        family.get(&labels).map(|g| g.get())
    }

    /// The values of every producer series of gauge `name` whose labels
    /// include all of `matchers` (label, value): what an exact PromQL
    /// selector such as `name{name="gpu"}` would return from a scrape of
    /// this exporter, read in process.
    pub fn matching_gauges(&self, name: &str, matchers: &[(&str, &str)]) -> Vec<f64> {
        let wanted: Vec<(String, LabelPairs)> = self
            .lock_series()
            .values()
            .flat_map(|set| set.iter())
            .filter(|(gauge, labels)| {
                gauge == name
                    && matchers
                        .iter()
                        .all(|(k, v)| labels.iter().any(|(lk, lv)| lk == k && lv == v))
            })
            .cloned()
            .collect();
        let gauges = self.read_gauges();
        let Some(family) = gauges.get(name) else {
            return Vec::new();
        };
        wanted
            .iter()
            .filter_map(|(_, labels)| family.get(labels).map(|g| g.get()))
            .collect()
    }

    /// Records one reconcile of `kind` that took `duration`: the count by
    /// result, the errors, and the duration histogram.
    pub fn record_reconcile(
        &self,
        kind: ReconcileKind,
        result: ReconcileResult,
        duration: Duration,
    ) {
        let c = &self.controller;
        c.reconciles
            .get_or_create(&ReconcileLabels { kind, result })
            .inc();
        if result == ReconcileResult::Error {
            c.errors.get_or_create(&KindLabels { kind }).inc();
        }
        c.duration
            .get_or_create(&KindLabels { kind })
            .observe(duration.as_secs_f64());
    }

    /// Records the decision of the autoscaler `namespace/name`: its outcome
    /// count and its current and desired replicas.
    pub fn record_decision(&self, namespace: &str, name: &str, outcome: &AutoscalerOutcome) {
        let c = &self.controller;
        c.decisions
            .get_or_create(&DecisionLabels {
                namespace: namespace.to_string(),
                name: name.to_string(),
                outcome: DecisionOutcome::of(outcome),
            })
            .inc();
        let labels = AutoscalerLabels {
            namespace: namespace.to_string(),
            name: name.to_string(),
        };
        if outcome.decision.is_some() {
            c.desired
                .get_or_create(&labels)
                .set(i64::from(outcome.status.desired_replicas));
            c.current
                .get_or_create(&labels)
                .set(i64::from(outcome.status.current_replicas));
        }
    }

    /// Removes the series of the autoscaler `namespace/name` (call it when
    /// it is deleted).
    pub fn remove_autoscaler(&self, namespace: &str, name: &str) {
        let c = &self.controller;
        let labels = AutoscalerLabels {
            namespace: namespace.to_string(),
            name: name.to_string(),
        };
        c.desired.remove(&labels);
        c.current.remove(&labels);
        for outcome in DecisionOutcome::ALL {
            c.decisions.remove(&DecisionLabels {
                namespace: namespace.to_string(),
                name: name.to_string(),
                outcome,
            });
        }
    }

    /// Every metric in the OpenMetrics text format (serve it with
    /// [`CONTENT_TYPE`]).
    pub fn encode(&self) -> String {
        let mut out = String::new();
        let registry = self.registry.read().unwrap_or_else(|e| e.into_inner());
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &registry);
        out
    }
}

/// `(namespace, name)` from a series' labels, when it has both.
fn producer_key(labels: &[(String, String)]) -> Option<ObjectKey> {
    let get = |k: &str| labels.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    Some((get("namespace")?, get("name")?))
}

impl MetricSink for Metrics {
    fn set_gauge(&self, name: &str, labels: &[(String, String)], value: f64) {
        self.set(name, labels, value);
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use karpenter_core::api::v1alpha1::{Condition, ConditionStatus, HorizontalAutoscalerStatus};
    use karpenter_core::autoscaler::Decision;
    use karpenter_core::producers::producer_labels;
    use karpenter_core::provider::{ProviderError, ProviderErrorKind};
    use karpenter_core::reconcile::ScaleWrite;

    use super::*;

    fn gauge(name: &'static str, producer: &str, value: f64) -> Gauge {
        Gauge {
            name,
            labels: producer_labels(producer, "shop"),
            value,
        }
    }

    /// The sample lines of `text` (no `#` lines).
    fn samples(text: &str) -> Vec<&str> {
        text.lines().filter(|l| !l.starts_with('#')).collect()
    }

    #[test]
    fn every_metric_has_its_help_and_type_lines() {
        let m = Metrics::new();
        // A family shows (with HELP and TYPE) once it has a series.
        assert_eq!(m.encode(), "# EOF\n");
        for (name, _) in PRODUCER_GAUGES {
            m.set_gauge(name, &producer_labels("p", "shop"), 1.0);
        }
        m.record_reconcile(
            ReconcileKind::MetricsProducer,
            ReconcileResult::Error,
            Duration::from_millis(1),
        );
        m.record_decision("shop", "a", &outcome(None, true, true));
        let text = m.encode();
        for (name, help) in PRODUCER_GAUGES {
            assert!(
                text.contains(&format!("# HELP {name} {help}.\n# TYPE {name} gauge\n{name}{{name=\"p\",namespace=\"shop\"}} 1.0\n")),
                "{name}\n{text}"
            );
        }
        for (name, type_) in [
            ("karpenter_reconcile", "counter"),
            ("karpenter_reconcile_errors", "counter"),
            ("karpenter_reconcile_duration_seconds", "histogram"),
            ("karpenter_autoscaler_decisions", "counter"),
            ("karpenter_autoscaler_desired_replicas", "gauge"),
            ("karpenter_autoscaler_current_replicas", "gauge"),
        ] {
            assert!(
                text.contains(&format!("# TYPE {name} {type_}\n")),
                "{name}\n{text}"
            );
        }
        assert!(text.ends_with("# EOF\n"));
    }

    #[test]
    fn the_v01_names_are_all_there() {
        let names: Vec<&str> = PRODUCER_GAUGES.iter().map(|(n, _)| *n).collect();
        let mut want = vec![
            "karpenter_queue_length",
            "karpenter_queue_oldest_message_age_seconds",
        ];
        let reserved: Vec<String> = ["cpu", "memory", "pods"]
            .iter()
            .flat_map(|r| {
                ["reserved", "capacity", "utilization"]
                    .iter()
                    .map(move |k| format!("karpenter_reserved_capacity_{r}_{k}"))
            })
            .collect();
        want.extend(reserved.iter().map(String::as_str));
        want.extend([
            "karpenter_scheduled_replicas_value",
            "karpenter_pending_capacity_nodes",
            "karpenter_pending_capacity_pods",
            "karpenter_pending_capacity_desired_nodes",
        ]);
        assert_eq!(names, want);
    }

    #[test]
    fn replacing_a_producer_drops_the_series_it_no_longer_gives() {
        let m = Metrics::new();
        m.replace_producer(
            "shop",
            "orders",
            &[
                gauge("karpenter_reserved_capacity_cpu_reserved", "orders", 10.0),
                gauge(
                    "karpenter_reserved_capacity_cpu_utilization",
                    "orders",
                    0.625,
                ),
            ],
        );
        m.replace_producer(
            "shop",
            "other",
            &[gauge(
                "karpenter_reserved_capacity_cpu_utilization",
                "other",
                0.5,
            )],
        );
        // Capacity went to 0: no utilization any more.
        m.replace_producer(
            "shop",
            "orders",
            &[gauge(
                "karpenter_reserved_capacity_cpu_reserved",
                "orders",
                0.0,
            )],
        );
        let labels = [("name", "orders"), ("namespace", "shop")];
        assert_eq!(
            m.gauge_value("karpenter_reserved_capacity_cpu_reserved", &labels),
            Some(0.0)
        );
        assert_eq!(
            m.gauge_value("karpenter_reserved_capacity_cpu_utilization", &labels),
            None
        );
        assert_eq!(
            m.gauge_value(
                "karpenter_reserved_capacity_cpu_utilization",
                &[("namespace", "shop"), ("name", "other")]
            ),
            Some(0.5)
        );
        assert_eq!(
            samples(&m.encode()),
            [
                r#"karpenter_reserved_capacity_cpu_reserved{name="orders",namespace="shop"} 0.0"#,
                r#"karpenter_reserved_capacity_cpu_utilization{name="other",namespace="shop"} 0.5"#,
            ]
        );
    }

    #[test]
    fn removing_a_producer_removes_all_its_series() {
        let m = Metrics::new();
        m.set_gauge(
            "karpenter_queue_length",
            &producer_labels("orders", "shop"),
            12.0,
        );
        m.set_gauge(
            "karpenter_queue_oldest_message_age_seconds",
            &producer_labels("orders", "shop"),
            30.0,
        );
        m.set_gauge(
            "karpenter_queue_length",
            &producer_labels("returns", "shop"),
            1.0,
        );
        m.remove_producer("shop", "orders");
        assert_eq!(
            samples(&m.encode()),
            [r#"karpenter_queue_length{name="returns",namespace="shop"} 1.0"#]
        );
        // Removing again, or a producer that never reported, is harmless.
        m.remove_producer("shop", "orders");
        m.remove_producer("shop", "nobody");
    }

    #[test]
    fn an_unknown_gauge_is_registered_on_first_use() {
        let m = Metrics::new();
        m.set_gauge("karpenter_custom_value", &producer_labels("x", "y"), 2.5);
        let text = m.encode();
        assert!(
            text.contains("# HELP karpenter_custom_value A gauge set by a MetricsProducer.\n"),
            "{text}"
        );
        assert!(
            text.contains(r#"karpenter_custom_value{name="x",namespace="y"} 2.5"#),
            "{text}"
        );
    }

    #[test]
    fn reconciles_are_counted_timed_and_errors_counted() {
        let m = Metrics::new();
        m.record_reconcile(
            ReconcileKind::HorizontalAutoscaler,
            ReconcileResult::Success,
            Duration::from_millis(3),
        );
        m.record_reconcile(
            ReconcileKind::HorizontalAutoscaler,
            ReconcileResult::Error,
            Duration::from_millis(40),
        );
        m.record_reconcile(
            ReconcileKind::ScalableNodeGroup,
            ReconcileResult::Success,
            Duration::from_millis(1),
        );
        let text = m.encode();
        for line in [
            r#"karpenter_reconcile_total{kind="HorizontalAutoscaler",result="success"} 1"#,
            r#"karpenter_reconcile_total{kind="HorizontalAutoscaler",result="error"} 1"#,
            r#"karpenter_reconcile_total{kind="ScalableNodeGroup",result="success"} 1"#,
            r#"karpenter_reconcile_errors_total{kind="HorizontalAutoscaler"} 1"#,
            r#"karpenter_reconcile_duration_seconds_count{kind="HorizontalAutoscaler"} 2"#,
            r#"karpenter_reconcile_duration_seconds_sum{kind="HorizontalAutoscaler"} 0.043"#,
            // 3 ms is above the 2 ms bucket, 40 ms within 64 ms.
            r#"karpenter_reconcile_duration_seconds_bucket{le="0.002",kind="HorizontalAutoscaler"} 0"#,
            r#"karpenter_reconcile_duration_seconds_bucket{le="0.004",kind="HorizontalAutoscaler"} 1"#,
            r#"karpenter_reconcile_duration_seconds_bucket{le="0.064",kind="HorizontalAutoscaler"} 2"#,
        ] {
            assert!(text.contains(line), "{line}\n{text}");
        }
        assert!(!text.contains(r#"karpenter_reconcile_errors_total{kind="ScalableNodeGroup"}"#));
    }

    fn outcome(write: Option<ScaleWrite>, scaling_active: bool, read: bool) -> AutoscalerOutcome {
        let decision = Decision {
            conditions: vec![Condition {
                type_: Cow::Borrowed("ScalingActive"),
                status: ConditionStatus::from_bool(scaling_active),
                reason: Cow::Borrowed(""),
                message: Cow::Borrowed(""),
                last_transition_time: None,
            }],
            ..Decision::default()
        };
        AutoscalerOutcome {
            status: HorizontalAutoscalerStatus {
                current_replicas: 2,
                desired_replicas: 6,
                ..HorizontalAutoscalerStatus::default()
            },
            decision: read.then_some(decision),
            readings: vec![],
            write,
            errors: vec![],
        }
    }

    fn write(from: i32, to: i32, ok: bool) -> Option<ScaleWrite> {
        Some(ScaleWrite {
            from,
            to,
            result: if ok {
                Ok(())
            } else {
                Err(ProviderError::new(ProviderErrorKind::Unavailable, "down"))
            },
        })
    }

    #[test]
    fn decision_outcomes() {
        let cases = [
            (
                outcome(write(2, 6, true), true, true),
                DecisionOutcome::ScaledUp,
            ),
            (
                outcome(write(6, 2, true), true, true),
                DecisionOutcome::ScaledDown,
            ),
            (
                outcome(write(2, 6, false), true, true),
                DecisionOutcome::WriteFailed,
            ),
            (outcome(None, true, true), DecisionOutcome::Unchanged),
            (outcome(None, false, true), DecisionOutcome::Inactive),
            (
                outcome(None, true, false),
                DecisionOutcome::TargetUnreadable,
            ),
        ];
        for (o, want) in cases {
            assert_eq!(DecisionOutcome::of(&o), want, "{o:?}");
        }
    }

    #[test]
    fn decisions_are_recorded_per_autoscaler_and_removed_with_it() {
        let m = Metrics::new();
        m.record_decision("shop", "orders", &outcome(write(2, 6, true), true, true));
        m.record_decision("shop", "orders", &outcome(None, true, true));
        m.record_decision("shop", "orders", &outcome(None, true, true));
        m.record_decision("shop", "web", &outcome(None, true, false));
        let text = m.encode();
        for line in [
            r#"karpenter_autoscaler_decisions_total{namespace="shop",name="orders",outcome="scaled_up"} 1"#,
            r#"karpenter_autoscaler_decisions_total{namespace="shop",name="orders",outcome="unchanged"} 2"#,
            r#"karpenter_autoscaler_decisions_total{namespace="shop",name="web",outcome="target_unreadable"} 1"#,
            r#"karpenter_autoscaler_desired_replicas{namespace="shop",name="orders"} 6"#,
            r#"karpenter_autoscaler_current_replicas{namespace="shop",name="orders"} 2"#,
        ] {
            assert!(text.contains(line), "{line}\n{text}");
        }
        // No replicas are known for an autoscaler whose target was unreadable.
        assert!(
            !text.contains(r#"karpenter_autoscaler_desired_replicas{namespace="shop",name="web"}"#)
        );
        m.remove_autoscaler("shop", "orders");
        let text = m.encode();
        assert!(!text.contains(r#"name="orders""#), "{text}");
        assert!(text.contains(r#"name="web""#));
    }
}
