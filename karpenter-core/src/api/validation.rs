//! Validation of the API types: every problem at once, each with its field
//! path and the fix.
//!
//! The rules follow the Kubernetes HorizontalPodAutoscaler v2 validation
//! where they apply (`docs/decisions.md`, "Validation"), with the karpenter-rs
//! differences: `minReplicas` may be 0, `metrics` has no CPU default and must
//! not be empty, and targets accept the Karpenter v0.1 `value` spelling for
//! every target type.
//!
//! ```
//! use karpenter_core::api::v1alpha1::ScalableNodeGroup;
//!
//! let ng: ScalableNodeGroup = serde_json::from_str(
//!     r#"{"metadata": {"name": "Bad_Name"}, "spec": {"type": "", "id": "x", "replicas": -1}}"#,
//! ).unwrap();
//! let errors = ng.validate().unwrap_err();
//! assert_eq!(errors.to_string(), "\
//! metadata.name: must be a DNS-1123 subdomain (lowercase letters, digits, '-' and '.', \
//! starting and ending with a letter or digit, at most 253 characters), got \"Bad_Name\"
//! spec.type: must not be empty; set the provider type, e.g. AWSEC2AutoScalingGroup or AWSEKSNodeGroup
//! spec.replicas: must be >= 0, got -1");
//! ```

use std::fmt;

use super::v1alpha1::{
    API_VERSION, AlgorithmSpec, AlgorithmType, Behavior, CloudWatchMetricSource, Fallback,
    HorizontalAutoscaler, Metric, MetricTarget, MetricTargetType, MetricsProducer, ObjectMeta,
    Pattern, ScalableNodeGroup, ScalingRules, ScheduleSpec,
};
use super::{Quantity, clip};

/// One problem with one field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// JSON path of the field, e.g. `spec.behavior.scaleDown.policies[0].periodSeconds`.
    pub path: String,
    /// What is wrong and how to fix it, e.g. `must be between 1 and 1800, got 0`.
    pub message: String,
}

impl FieldError {
    /// A problem at `path`.
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// All problems found in one object.
#[derive(Debug, Clone, Default, PartialEq, Eq, thiserror::Error)]
pub struct ValidationErrors {
    /// The problems, in field order.
    pub errors: Vec<FieldError>,
}

impl ValidationErrors {
    /// Records a problem at `path`.
    pub fn push(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.errors.push(FieldError::new(path, message));
    }

    /// Whether no problem was found.
    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    /// The problems found at exactly `path`.
    pub fn at<'a>(&'a self, path: &'a str) -> impl Iterator<Item = &'a FieldError> + 'a {
        self.errors.iter().filter(move |e| e.path == path)
    }

    /// `Ok(())` when no problem was found, else `Err(self)`.
    pub fn into_result(self) -> Result<(), Self> {
        if self.is_empty() { Ok(()) } else { Err(self) }
    }
}

impl fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.errors.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl HorizontalAutoscaler {
    /// Checks the whole object and returns every problem, each with its field
    /// path and the fix.
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errs = ValidationErrors::default();
        check_type_meta(
            &mut errs,
            &self.api_version,
            &self.kind,
            "HorizontalAutoscaler",
        );
        check_metadata(&mut errs, &self.metadata);
        let spec = &self.spec;

        let target = &spec.scale_target_ref;
        if target.kind.trim().is_empty() {
            errs.push(
                "spec.scaleTargetRef.kind",
                "must not be empty; set the kind of the object to scale, e.g. ScalableNodeGroup",
            );
        }
        if target.name.trim().is_empty() {
            errs.push(
                "spec.scaleTargetRef.name",
                "must not be empty; set the name of the object to scale",
            );
        }

        if let Some(min) = spec.min_replicas
            && min < 0
        {
            errs.push(
                "spec.minReplicas",
                format!("must be >= 0, got {min} (0 allows scaling to zero)"),
            );
        }
        let max = spec.max_replicas;
        // An absent minReplicas means 0, which `max >= 1` already covers.
        match spec.min_replicas {
            _ if max < 1 => errs.push("spec.maxReplicas", format!("must be >= 1, got {max}")),
            Some(min) if max < min => errs.push(
                "spec.maxReplicas",
                format!("must be >= minReplicas ({min}), got {max}"),
            ),
            _ => {}
        }

        if spec.metrics.is_empty() {
            errs.push(
                "spec.metrics",
                "must not be empty; add at least one metric (prometheus, cloudWatch or custom); there is no default CPU metric",
            );
        }
        for (i, metric) in spec.metrics.iter().enumerate() {
            check_metric(&mut errs, &format!("spec.metrics[{i}]"), metric);
        }

        if let Some(behavior) = &spec.behavior {
            check_behavior(&mut errs, behavior);
        }
        if let Some(algorithm) = &spec.algorithm {
            check_algorithm(&mut errs, algorithm);
        }
        if let Some(fallback) = &spec.fallback {
            check_fallback(&mut errs, fallback);
        }
        errs.into_result()
    }
}

impl MetricsProducer {
    /// Checks the whole object and returns every problem, each with its field
    /// path and the fix.
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errs = ValidationErrors::default();
        check_type_meta(&mut errs, &self.api_version, &self.kind, "MetricsProducer");
        check_metadata(&mut errs, &self.metadata);
        let spec = &self.spec;

        let set: Vec<&str> = [
            ("queue", spec.queue.is_some()),
            ("reservedCapacity", spec.reserved_capacity.is_some()),
            ("scheduleSpec", spec.schedule_spec.is_some()),
            ("pendingCapacity", spec.pending_capacity.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, is_set)| is_set.then_some(name))
        .collect();
        const KINDS: &str = "queue, reservedCapacity, scheduleSpec or pendingCapacity";
        match set.len() {
            0 => errs.push(
                "spec",
                format!("must set exactly one of {KINDS}; none is set"),
            ),
            1 => {}
            _ => errs.push(
                "spec",
                format!(
                    "must set exactly one of {KINDS}; found {}: split them into one MetricsProducer each",
                    join_and(&set)
                ),
            ),
        }

        if let Some(queue) = &spec.queue {
            if queue.type_.trim().is_empty() {
                errs.push(
                    "spec.queue.type",
                    "must not be empty; set the queue type, e.g. AWSSQSQueue",
                );
            }
            if queue.id.trim().is_empty() {
                errs.push(
                    "spec.queue.id",
                    "must not be empty; set the queue's URL, ARN or name",
                );
            }
        }
        if let Some(schedule) = &spec.schedule_spec {
            check_schedule(&mut errs, schedule);
        }
        if let Some(pending) = &spec.pending_capacity
            && let Some(group) = &pending.scalable_node_group_ref
            && !is_dns1123_subdomain(&group.name)
        {
            errs.push(
                "spec.pendingCapacity.scalableNodeGroupRef.name",
                format!(
                    "must be the name of a ScalableNodeGroup in the producer's namespace (a DNS-1123 subdomain), got {}",
                    q(&group.name)
                ),
            );
        }
        errs.into_result()
    }
}

impl ScalableNodeGroup {
    /// Checks the whole object and returns every problem, each with its field
    /// path and the fix.
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errs = ValidationErrors::default();
        check_type_meta(
            &mut errs,
            &self.api_version,
            &self.kind,
            "ScalableNodeGroup",
        );
        check_metadata(&mut errs, &self.metadata);
        let spec = &self.spec;
        if spec.type_.trim().is_empty() {
            errs.push(
                "spec.type",
                "must not be empty; set the provider type, e.g. AWSEC2AutoScalingGroup or AWSEKSNodeGroup",
            );
        }
        if spec.id.trim().is_empty() {
            errs.push(
                "spec.id",
                "must not be empty; set the node group's name or ARN",
            );
        }
        if let Some(replicas) = spec.replicas
            && replicas < 0
        {
            errs.push("spec.replicas", format!("must be >= 0, got {replicas}"));
        }
        errs.into_result()
    }
}

fn check_type_meta(errs: &mut ValidationErrors, api_version: &str, kind: &str, want_kind: &str) {
    if api_version != API_VERSION {
        errs.push(
            "apiVersion",
            format!("must be {API_VERSION}, got {}", q(api_version)),
        );
    }
    if kind != want_kind {
        errs.push("kind", format!("must be {want_kind}, got {}", q(kind)));
    }
}

fn check_metadata(errs: &mut ValidationErrors, meta: &ObjectMeta) {
    match meta.name.as_deref() {
        None | Some("") => errs.push(
            "metadata.name",
            "must be set; name the object, e.g. ml-training",
        ),
        Some(name) if !is_dns1123_subdomain(name) => errs.push(
            "metadata.name",
            format!(
                "must be a DNS-1123 subdomain (lowercase letters, digits, '-' and '.', starting and ending with a letter or digit, at most 253 characters), got {}",
                q(name)
            ),
        ),
        Some(_) => {}
    }
    if let Some(ns) = meta.namespace.as_deref()
        && !is_dns1123_label(ns)
    {
        errs.push(
            "metadata.namespace",
            format!(
                "must be a DNS-1123 label (lowercase letters, digits and '-', starting and ending with a letter or digit, at most 63 characters), got {}",
                q(ns)
            ),
        );
    }
}

/// `[a-z0-9]([-a-z0-9]*[a-z0-9])?`, at most 63 characters.
fn is_dns1123_label(s: &str) -> bool {
    let b = s.as_bytes();
    let alnum = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    !b.is_empty()
        && b.len() <= 63
        && b.first().is_some_and(alnum)
        && b.last().is_some_and(alnum)
        && b.iter().all(|c| alnum(c) || *c == b'-')
}

/// Dot-separated DNS-1123 labels, at most 253 characters.
fn is_dns1123_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(is_dns1123_label)
}

/// `s` quoted, cut at 80 characters (messages quote input).
fn q(s: &str) -> String {
    clip(&format!("{s:?}"))
}

/// `a`, `a and b`, `a, b and c`.
fn join_and(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [one] => (*one).to_string(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

/// Whether an optional string is set to something other than blanks.
fn is_set(s: &Option<String>) -> bool {
    s.as_deref().is_some_and(|s| !s.trim().is_empty())
}

fn check_metric(errs: &mut ValidationErrors, path: &str, metric: &Metric) {
    let set: Vec<&str> = [
        ("prometheus", metric.prometheus.is_some()),
        ("cloudWatch", metric.cloud_watch.is_some()),
        ("custom", metric.custom.is_some()),
    ]
    .into_iter()
    .filter_map(|(name, is_set)| is_set.then_some(name))
    .collect();
    const SOURCES: &str = "prometheus, cloudWatch or custom";
    match set.len() {
        0 => errs.push(
            path,
            format!("must set exactly one source: {SOURCES}; none is set"),
        ),
        1 => {}
        _ => errs.push(
            path,
            format!(
                "must set exactly one source: {SOURCES}; found {}: put each in its own metric",
                join_and(&set)
            ),
        ),
    }

    if let Some(p) = &metric.prometheus {
        let path = format!("{path}.prometheus");
        if p.query.trim().is_empty() {
            errs.push(
                format!("{path}.query"),
                "must not be empty; set an instant PromQL query that returns one sample",
            );
        }
        check_target(errs, &format!("{path}.target"), &p.target);
    }
    if let Some(c) = &metric.cloud_watch {
        let path = format!("{path}.cloudWatch");
        check_cloud_watch(errs, &path, c);
        check_target(errs, &format!("{path}.target"), &c.target);
    }
    if let Some(c) = &metric.custom {
        let path = format!("{path}.custom");
        if c.type_.trim().is_empty() {
            errs.push(
                format!("{path}.type"),
                "must not be empty; set the source type a registered provider claims",
            );
        }
        check_target(errs, &format!("{path}.target"), &c.target);
    }
}

fn check_cloud_watch(errs: &mut ValidationErrors, path: &str, c: &CloudWatchMetricSource) {
    let expression = is_set(&c.expression);
    let namespace = is_set(&c.namespace);
    let metric_name = is_set(&c.metric_name);
    if expression && (namespace || metric_name) {
        errs.push(
            path,
            "set either expression, or namespace and metricName, not both",
        );
    } else if !expression {
        match (namespace, metric_name) {
            (false, false) => errs.push(
                path,
                "must set either expression, or namespace and metricName",
            ),
            (true, false) => errs.push(
                format!("{path}.metricName"),
                "must be set with namespace, e.g. ApproximateNumberOfMessagesVisible",
            ),
            (false, true) => errs.push(
                format!("{path}.namespace"),
                "must be set with metricName, e.g. AWS/SQS",
            ),
            (true, true) => {}
        }
    }
    if let Some(stat) = &c.statistic
        && !is_cloud_watch_statistic(stat)
    {
        errs.push(
            format!("{path}.statistic"),
            format!(
                "must be one of Average, Sum, Minimum, Maximum, SampleCount or a percentile pNN / pNN.N (e.g. p99, p99.9), got {}",
                q(stat)
            ),
        );
    }
    if let Some(period) = c.period
        && (period <= 0 || !(matches!(period, 1 | 5 | 10 | 30) || period % 60 == 0))
    {
        errs.push(
            format!("{path}.period"),
            format!("must be 1, 5, 10, 30 or a positive multiple of 60 (seconds), got {period}"),
        );
    }
}

/// `Average`, `Sum`, `Minimum`, `Maximum`, `SampleCount`, or a percentile
/// `p0`..`p100` with at most two decimals (CloudWatch's extended statistics).
fn is_cloud_watch_statistic(s: &str) -> bool {
    if matches!(s, "Average" | "Sum" | "Minimum" | "Maximum" | "SampleCount") {
        return true;
    }
    let Some(number) = s.strip_prefix('p') else {
        return false;
    };
    let (whole, frac) = match number.split_once('.') {
        Some((w, f)) => (w, Some(f)),
        None => (number, None),
    };
    let digits = |d: &str, max_len: usize| {
        !d.is_empty() && d.len() <= max_len && d.bytes().all(|b| b.is_ascii_digit())
    };
    if !digits(whole, 3) || frac.is_some_and(|f| !digits(f, 2)) {
        return false;
    }
    // Only the shapes checked above reach here, so the parse succeeds.
    number.parse::<f64>().is_ok_and(|v| v <= 100.0)
}

fn check_target(errs: &mut ValidationErrors, path: &str, t: &MetricTarget) {
    let set: Vec<&str> = [
        ("value", t.value.is_some()),
        ("averageValue", t.average_value.is_some()),
        ("averageUtilization", t.average_utilization.is_some()),
    ]
    .into_iter()
    .filter_map(|(name, is_set)| is_set.then_some(name))
    .collect();
    let ty = t.type_.as_str();
    match set.len() {
        0 => errs.push(
            path,
            format!(
                "must set exactly one of value, averageValue or averageUtilization; none is set (for type {ty}, set value)"
            ),
        ),
        1 => {}
        _ => errs.push(
            path,
            format!(
                "must set exactly one of value, averageValue or averageUtilization; found {}",
                join_and(&set)
            ),
        ),
    }

    if t.average_value.is_some() && t.type_ != MetricTargetType::AverageValue {
        errs.push(
            format!("{path}.averageValue"),
            format!("is only allowed with type AverageValue; for type {ty}, use value"),
        );
    }
    if t.average_utilization.is_some() && t.type_ != MetricTargetType::Utilization {
        errs.push(
            format!("{path}.averageUtilization"),
            format!("is only allowed with type Utilization; for type {ty}, use value"),
        );
    }
    if let Some(v) = &t.value {
        check_positive(errs, &format!("{path}.value"), v);
    }
    if let Some(v) = &t.average_value {
        check_positive(errs, &format!("{path}.averageValue"), v);
    }
    if let Some(u) = t.average_utilization
        && u < 1
    {
        errs.push(
            format!("{path}.averageUtilization"),
            format!("must be >= 1 (a percent), got {u}"),
        );
    }
}

fn check_positive(errs: &mut ValidationErrors, path: &str, q: &Quantity) {
    if !q.is_positive() {
        errs.push(path, format!("must be > 0, got {}", clip(&q.to_string())));
    }
}

fn check_behavior(errs: &mut ValidationErrors, behavior: &Behavior) {
    for (dir, rules) in [
        ("scaleUp", &behavior.scale_up),
        ("scaleDown", &behavior.scale_down),
    ] {
        if let Some(rules) = rules {
            check_scaling_rules(errs, &format!("spec.behavior.{dir}"), rules);
        }
    }
}

fn check_scaling_rules(errs: &mut ValidationErrors, path: &str, rules: &ScalingRules) {
    if let Some(w) = rules.stabilization_window_seconds
        && !(0..=3600).contains(&w)
    {
        errs.push(
            format!("{path}.stabilizationWindowSeconds"),
            format!("must be between 0 and 3600, got {w}"),
        );
    }
    if let Some(policies) = &rules.policies {
        if policies.is_empty() {
            errs.push(
                format!("{path}.policies"),
                "must not be empty; omit the field to get the defaults",
            );
        }
        for (i, p) in policies.iter().enumerate() {
            if p.value <= 0 {
                errs.push(
                    format!("{path}.policies[{i}].value"),
                    format!("must be > 0, got {}", p.value),
                );
            }
            if !(1..=1800).contains(&p.period_seconds) {
                errs.push(
                    format!("{path}.policies[{i}].periodSeconds"),
                    format!("must be between 1 and 1800, got {}", p.period_seconds),
                );
            }
        }
    }
    if let Some(t) = &rules.tolerance
        && t.is_negative()
    {
        errs.push(
            format!("{path}.tolerance"),
            format!("must be >= 0, got {}", clip(&t.to_string())),
        );
    }
}

fn check_algorithm(errs: &mut ValidationErrors, algorithm: &AlgorithmSpec) {
    let path = "spec.algorithm";
    let Some(pid) = &algorithm.pid else {
        return;
    };
    if algorithm.type_ != AlgorithmType::Pid {
        errs.push(
            format!("{path}.pid"),
            format!(
                "is only allowed with type PID; set type: PID, or remove pid to use {}",
                algorithm.type_.as_str()
            ),
        );
        return;
    }
    let path = format!("{path}.pid");
    let at_least_zero = [
        ("kp", &pid.kp),
        ("ki", &pid.ki),
        ("kd", &pid.kd),
        ("integralLimit", &pid.integral_limit),
    ];
    for (field, value) in at_least_zero {
        if let Some(q) = value
            && q.is_negative()
        {
            errs.push(
                format!("{path}.{field}"),
                format!("must be >= 0, got {}", clip(&q.to_string())),
            );
        }
    }
    if let Some(q) = &pid.max_output
        && !q.is_positive()
    {
        errs.push(
            format!("{path}.maxOutput"),
            format!(
                "must be > 0 (the most one decision may add, as a multiple of the ready count), got {}",
                clip(&q.to_string())
            ),
        );
    }
    if let Some(q) = &pid.min_output {
        let v = q.as_f64();
        if !(-1.0..0.0).contains(&v) {
            errs.push(
                format!("{path}.minOutput"),
                format!(
                    "must be >= -1 and < 0 (-1 allows scaling to zero, -0.5 at most halves the ready count), got {}",
                    clip(&q.to_string())
                ),
            );
        }
    }
    if let Some(g) = pid.max_gap_seconds
        && g < 1
    {
        errs.push(
            format!("{path}.maxGapSeconds"),
            format!("must be >= 1, got {g}"),
        );
    }
}

fn check_fallback(errs: &mut ValidationErrors, fallback: &Fallback) {
    if fallback.failure_threshold < 1 {
        errs.push(
            "spec.fallback.failureThreshold",
            format!(
                "must be >= 1 (consecutive decisions in which every metric failed), got {}",
                fallback.failure_threshold
            ),
        );
    }
    if fallback.replicas < 0 {
        errs.push(
            "spec.fallback.replicas",
            format!("must be >= 0, got {}", fallback.replicas),
        );
    }
}

fn check_schedule(errs: &mut ValidationErrors, s: &ScheduleSpec) {
    let path = "spec.scheduleSpec";
    if let Some(tz) = &s.timezone
        && tz.parse::<chrono_tz::Tz>().is_err()
    {
        errs.push(
            format!("{path}.timezone"),
            format!(
                "{} is not an IANA time zone name; use one such as America/Los_Angeles, Europe/Berlin or UTC (case-sensitive), or omit it for UTC",
                q(tz)
            ),
        );
    }
    if s.default_replicas < 0 {
        errs.push(
            format!("{path}.defaultReplicas"),
            format!("must be >= 0, got {}", s.default_replicas),
        );
    }
    for (i, b) in s.behaviors.iter().enumerate() {
        let path = format!("{path}.behaviors[{i}]");
        if b.replicas < 0 {
            errs.push(
                format!("{path}.replicas"),
                format!("must be >= 0, got {}", b.replicas),
            );
        }
        check_pattern(errs, &format!("{path}.start"), &b.start);
        check_pattern(errs, &format!("{path}.end"), &b.end);
    }
}

fn check_pattern(errs: &mut ValidationErrors, path: &str, p: &Pattern) {
    for (field, message) in p.field_errors() {
        errs.push(format!("{path}.{field}"), message);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns1123() {
        for ok in ["a", "ml-training", "a.b-c.d", "0", "a1", &"a".repeat(63)] {
            assert!(is_dns1123_subdomain(ok), "{ok}");
        }
        let long_label = "a".repeat(64);
        let long = ["a"; 127].join(".") + "aa";
        for bad in [
            "",
            "A",
            "-a",
            "a-",
            "a..b",
            ".a",
            "a.",
            "a_b",
            "ä",
            long_label.as_str(),
            long.as_str(),
        ] {
            assert!(!is_dns1123_subdomain(bad), "{bad}");
        }
        assert!(is_dns1123_label("kube-system"));
        assert!(!is_dns1123_label("a.b"));
    }

    #[test]
    fn statistics() {
        for ok in [
            "Average",
            "Sum",
            "Minimum",
            "Maximum",
            "SampleCount",
            "p0",
            "p50",
            "p99",
            "p99.9",
            "p99.99",
            "p100",
            "p100.0",
        ] {
            assert!(is_cloud_watch_statistic(ok), "{ok}");
        }
        for bad in [
            "", "average", "Avg", "p", "p101", "p100.01", "p99.999", "p-1", "p.5", "p5.", "P99",
            "p1e1", "p 9", "p0100",
        ] {
            assert!(!is_cloud_watch_statistic(bad), "{bad}");
        }
    }

    #[test]
    fn join() {
        assert_eq!(join_and(&["a"]), "a");
        assert_eq!(join_and(&["a", "b"]), "a and b");
        assert_eq!(join_and(&["a", "b", "c"]), "a, b and c");
    }
}
