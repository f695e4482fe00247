//! Bad manifests are rejected with every problem, each at its exact field path
//! with a message that says the fix.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on purpose.

use karpenter_core::api::ValidationErrors;
use karpenter_core::api::v1alpha1::{HorizontalAutoscaler, MetricsProducer, ScalableNodeGroup};
use serde_json::{Value, json};

fn base_ha() -> Value {
    json!({
        "apiVersion": "autoscaling.karpenter.sh/v1alpha1",
        "kind": "HorizontalAutoscaler",
        "metadata": {"name": "ml-training", "namespace": "default"},
        "spec": {
            "scaleTargetRef": {"kind": "ScalableNodeGroup", "name": "ml-training"},
            "minReplicas": 0,
            "maxReplicas": 10,
            "metrics": [
                {"prometheus": {"query": "karpenter_queue_length{name=\"q\"}",
                                "target": {"type": "AverageValue", "value": 4}}},
                {"prometheus": {"query": "karpenter_reserved_capacity_cpu_utilization{name=\"q\"}",
                                "target": {"type": "Utilization", "value": 60}}}
            ],
            "behavior": {
                "scaleUp": {"stabilizationWindowSeconds": 0, "tolerance": "0.1",
                            "policies": [{"type": "Count", "value": 4, "periodSeconds": 15}]},
                "scaleDown": {"stabilizationWindowSeconds": 300,
                              "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15},
                                           {"type": "Pods", "value": 1, "periodSeconds": 60}]}
            }
        }
    })
}

fn base_mp() -> Value {
    json!({
        "apiVersion": "autoscaling.karpenter.sh/v1alpha1",
        "kind": "MetricsProducer",
        "metadata": {"name": "office-hours"},
        "spec": {"scheduleSpec": {
            "timezone": "America/Los_Angeles",
            "defaultReplicas": 2,
            "behaviors": [
                {"replicas": 1, "start": {"weekdays": "Fri", "hours": "17"},
                                "end": {"weekdays": "Mon", "hours": "9"}},
                {"replicas": 3, "start": {"weekdays": "Mon,Tue,Wed,Thu,Fri", "hours": 9},
                                "end": {"weekdays": "Mon,Tue,Wed,Thu,Fri", "hours": 17}}
            ]
        }}
    })
}

fn base_sng() -> Value {
    json!({
        "apiVersion": "autoscaling.karpenter.sh/v1alpha1",
        "kind": "ScalableNodeGroup",
        "metadata": {"name": "ml-training"},
        "spec": {"type": "AWSEKSNodeGroup", "id": "arn:aws:eks:us-west-2:1:nodegroup/c/ml/x", "replicas": 1}
    })
}

/// Sets (`Some`) or removes (`None`) the field at a JSON pointer; the parent
/// must exist.
fn patch(mut v: Value, pointer: &str, new: Option<Value>) -> Value {
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    let parent = v
        .pointer_mut(parent)
        .unwrap_or_else(|| panic!("no {parent}"));
    match (parent, new) {
        (Value::Object(m), Some(new)) => {
            m.insert(key.to_string(), new);
        }
        (Value::Object(m), None) => {
            m.remove(key);
        }
        (Value::Array(a), Some(new)) => {
            let i: usize = key.parse().unwrap();
            if i == a.len() {
                a.push(new);
            } else {
                a[i] = new;
            }
        }
        (Value::Array(a), None) => {
            a.remove(key.parse::<usize>().unwrap());
        }
        (other, _) => panic!("{pointer}: parent is {other}"),
    }
    v
}

#[derive(Clone, Copy, Debug)]
enum Kind {
    Ha,
    Mp,
    Sng,
}

fn validate(kind: Kind, v: Value) -> Result<(), ValidationErrors> {
    match kind {
        Kind::Ha => serde_json::from_value::<HorizontalAutoscaler>(v)
            .unwrap()
            .validate(),
        Kind::Mp => serde_json::from_value::<MetricsProducer>(v)
            .unwrap()
            .validate(),
        Kind::Sng => serde_json::from_value::<ScalableNodeGroup>(v)
            .unwrap()
            .validate(),
    }
}

fn base(kind: Kind) -> Value {
    match kind {
        Kind::Ha => base_ha(),
        Kind::Mp => base_mp(),
        Kind::Sng => base_sng(),
    }
}

#[test]
fn the_bases_are_valid() {
    for kind in [Kind::Ha, Kind::Mp, Kind::Sng] {
        assert_eq!(validate(kind, base(kind)), Ok(()), "{kind:?}");
    }
}

/// One bad manifest: the base with some fields changed, and the one problem
/// expected (exact path, a substring of the message).
struct Case {
    kind: Kind,
    patches: Vec<(&'static str, Option<Value>)>,
    path: &'static str,
    message: &'static str,
}

fn case(
    kind: Kind,
    patches: Vec<(&'static str, Option<Value>)>,
    path: &'static str,
    message: &'static str,
) -> Case {
    Case {
        kind,
        patches,
        path,
        message,
    }
}

fn set(pointer: &'static str, v: Value) -> (&'static str, Option<Value>) {
    (pointer, Some(v))
}

fn remove(pointer: &'static str) -> (&'static str, Option<Value>) {
    (pointer, None)
}

#[test]
fn each_bad_field_is_reported_at_its_path_with_the_fix() {
    use Kind::{Ha, Mp, Sng};
    let cases = vec![
        // Type and object metadata, for every kind.
        case(
            Ha,
            vec![set("/apiVersion", json!("autoscaling.karpenter.sh/v1"))],
            "apiVersion",
            r#"must be autoscaling.karpenter.sh/v1alpha1, got "autoscaling.karpenter.sh/v1""#,
        ),
        case(
            Ha,
            vec![set("/kind", json!("HorizontalPodAutoscaler"))],
            "kind",
            r#"must be HorizontalAutoscaler, got "HorizontalPodAutoscaler""#,
        ),
        case(
            Mp,
            vec![set("/kind", json!("MetricProducer"))],
            "kind",
            "must be MetricsProducer",
        ),
        case(
            Sng,
            vec![set("/apiVersion", json!("v1"))],
            "apiVersion",
            "must be autoscaling.karpenter.sh/v1alpha1",
        ),
        case(
            Ha,
            vec![remove("/metadata/name")],
            "metadata.name",
            "must be set",
        ),
        case(
            Mp,
            vec![set("/metadata/name", json!(""))],
            "metadata.name",
            "must be set",
        ),
        case(
            Sng,
            vec![set("/metadata/name", json!("ML_Training"))],
            "metadata.name",
            r#"must be a DNS-1123 subdomain (lowercase letters, digits, '-' and '.', starting and ending with a letter or digit, at most 253 characters), got "ML_Training""#,
        ),
        case(
            Ha,
            vec![set("/metadata/name", json!("-training"))],
            "metadata.name",
            "DNS-1123 subdomain",
        ),
        case(
            Ha,
            vec![set("/metadata/name", json!("a".repeat(254)))],
            "metadata.name",
            "at most 253 characters",
        ),
        case(
            Ha,
            vec![set("/metadata/namespace", json!("kube.system"))],
            "metadata.namespace",
            "must be a DNS-1123 label",
        ),
        // Scale target and bounds.
        case(
            Ha,
            vec![set("/spec/scaleTargetRef/kind", json!(""))],
            "spec.scaleTargetRef.kind",
            "must not be empty; set the kind of the object to scale, e.g. ScalableNodeGroup",
        ),
        case(
            Ha,
            vec![set("/spec/scaleTargetRef/name", json!(" "))],
            "spec.scaleTargetRef.name",
            "must not be empty",
        ),
        case(
            Ha,
            vec![set("/spec/minReplicas", json!(-1))],
            "spec.minReplicas",
            "must be >= 0, got -1",
        ),
        case(
            Ha,
            vec![
                remove("/spec/minReplicas"),
                set("/spec/maxReplicas", json!(0)),
            ],
            "spec.maxReplicas",
            "must be >= 1, got 0",
        ),
        case(
            Ha,
            vec![
                set("/spec/minReplicas", json!(0)),
                set("/spec/maxReplicas", json!(0)),
            ],
            "spec.maxReplicas",
            "must be >= 1, got 0",
        ),
        case(
            Ha,
            vec![
                set("/spec/minReplicas", json!(5)),
                set("/spec/maxReplicas", json!(3)),
            ],
            "spec.maxReplicas",
            "must be >= minReplicas (5), got 3",
        ),
        // Metrics and sources.
        case(
            Ha,
            vec![set("/spec/metrics", json!([]))],
            "spec.metrics",
            "must not be empty; add at least one metric",
        ),
        case(
            Ha,
            vec![remove("/spec/metrics")],
            "spec.metrics",
            "there is no default CPU metric",
        ),
        case(
            Ha,
            vec![set("/spec/metrics/1", json!({}))],
            "spec.metrics[1]",
            "must set exactly one source: prometheus, cloudWatch or custom; none is set",
        ),
        case(
            Ha,
            vec![set(
                "/spec/metrics/0/cloudWatch",
                json!({"namespace": "AWS/SQS", "metricName": "M", "target": {"type": "Value", "value": 1}}),
            )],
            "spec.metrics[0]",
            "must set exactly one source: prometheus, cloudWatch or custom; found prometheus and cloudWatch",
        ),
        case(
            Ha,
            vec![set("/spec/metrics/0/prometheus/query", json!(""))],
            "spec.metrics[0].prometheus.query",
            "must not be empty; set an instant PromQL query",
        ),
        case(
            Ha,
            vec![set(
                "/spec/metrics/1",
                json!({"cloudWatch": {"expression": "SUM(METRICS())", "namespace": "AWS/SQS",
                                      "target": {"type": "Value", "value": 1}}}),
            )],
            "spec.metrics[1].cloudWatch",
            "set either expression, or namespace and metricName, not both",
        ),
        case(
            Ha,
            vec![set(
                "/spec/metrics/1",
                json!({"cloudWatch": {"target": {"type": "Value", "value": 1}}}),
            )],
            "spec.metrics[1].cloudWatch",
            "must set either expression, or namespace and metricName",
        ),
        case(
            Ha,
            vec![set(
                "/spec/metrics/1",
                json!({"cloudWatch": {"namespace": "AWS/SQS", "target": {"type": "Value", "value": 1}}}),
            )],
            "spec.metrics[1].cloudWatch.metricName",
            "must be set with namespace",
        ),
        case(
            Ha,
            vec![set(
                "/spec/metrics/1",
                json!({"cloudWatch": {"metricName": "M", "target": {"type": "Value", "value": 1}}}),
            )],
            "spec.metrics[1].cloudWatch.namespace",
            "must be set with metricName",
        ),
        case(
            Ha,
            vec![set(
                "/spec/metrics/1",
                json!({"cloudWatch": {"expression": "m1", "statistic": "avg",
                                      "target": {"type": "Value", "value": 1}}}),
            )],
            "spec.metrics[1].cloudWatch.statistic",
            r#"must be one of Average, Sum, Minimum, Maximum, SampleCount or a percentile pNN / pNN.N (e.g. p99, p99.9), got "avg""#,
        ),
        case(
            Ha,
            vec![set(
                "/spec/metrics/1",
                json!({"cloudWatch": {"expression": "m1", "statistic": "p101",
                                      "target": {"type": "Value", "value": 1}}}),
            )],
            "spec.metrics[1].cloudWatch.statistic",
            r#"got "p101""#,
        ),
        case(
            Ha,
            vec![set(
                "/spec/metrics/1",
                json!({"cloudWatch": {"expression": "m1", "period": 45,
                                      "target": {"type": "Value", "value": 1}}}),
            )],
            "spec.metrics[1].cloudWatch.period",
            "must be 1, 5, 10, 30 or a positive multiple of 60 (seconds), got 45",
        ),
        case(
            Ha,
            vec![set(
                "/spec/metrics/1",
                json!({"cloudWatch": {"expression": "m1", "period": 0,
                                      "target": {"type": "Value", "value": 1}}}),
            )],
            "spec.metrics[1].cloudWatch.period",
            "got 0",
        ),
        case(
            Ha,
            vec![set(
                "/spec/metrics/1",
                json!({"cloudWatch": {"expression": "m1", "period": -60,
                                      "target": {"type": "Value", "value": 1}}}),
            )],
            "spec.metrics[1].cloudWatch.period",
            "got -60",
        ),
        case(
            Ha,
            vec![set(
                "/spec/metrics/1",
                json!({"custom": {"type": "", "target": {"type": "Value", "value": 1}}}),
            )],
            "spec.metrics[1].custom.type",
            "must not be empty; set the source type a registered provider claims",
        ),
        // Targets.
        case(
            Ha,
            vec![remove("/spec/metrics/0/prometheus/target/value")],
            "spec.metrics[0].prometheus.target",
            "must set exactly one of value, averageValue or averageUtilization; none is set (for type AverageValue, set value)",
        ),
        case(
            Ha,
            vec![set(
                "/spec/metrics/0/prometheus/target/averageValue",
                json!(4),
            )],
            "spec.metrics[0].prometheus.target",
            "must set exactly one of value, averageValue or averageUtilization; found value and averageValue",
        ),
        case(
            Ha,
            vec![set(
                "/spec/metrics/1/prometheus/target",
                json!({"type": "Value", "averageValue": "4"}),
            )],
            "spec.metrics[1].prometheus.target.averageValue",
            "is only allowed with type AverageValue; for type Value, use value",
        ),
        case(
            Ha,
            vec![set(
                "/spec/metrics/1/prometheus/target",
                json!({"type": "Utilization", "averageValue": "4"}),
            )],
            "spec.metrics[1].prometheus.target.averageValue",
            "is only allowed with type AverageValue; for type Utilization, use value",
        ),
        case(
            Ha,
            vec![set(
                "/spec/metrics/0/prometheus/target",
                json!({"type": "AverageValue", "averageUtilization": 50}),
            )],
            "spec.metrics[0].prometheus.target.averageUtilization",
            "is only allowed with type Utilization; for type AverageValue, use value",
        ),
        case(
            Ha,
            vec![set("/spec/metrics/0/prometheus/target/value", json!(0))],
            "spec.metrics[0].prometheus.target.value",
            "must be > 0, got 0",
        ),
        case(
            Ha,
            vec![set(
                "/spec/metrics/0/prometheus/target/value",
                json!("-500m"),
            )],
            "spec.metrics[0].prometheus.target.value",
            "must be > 0, got -500m",
        ),
        case(
            Ha,
            vec![set(
                "/spec/metrics/0/prometheus/target",
                json!({"type": "AverageValue", "averageValue": "0"}),
            )],
            "spec.metrics[0].prometheus.target.averageValue",
            "must be > 0, got 0",
        ),
        case(
            Ha,
            vec![set(
                "/spec/metrics/1/prometheus/target",
                json!({"type": "Utilization", "averageUtilization": 0}),
            )],
            "spec.metrics[1].prometheus.target.averageUtilization",
            "must be >= 1 (a percent), got 0",
        ),
        case(
            Ha,
            vec![set("/spec/metrics/1/prometheus/target/value", json!(0))],
            "spec.metrics[1].prometheus.target.value",
            "must be > 0, got 0",
        ),
        // Behavior.
        case(
            Ha,
            vec![set(
                "/spec/behavior/scaleDown/stabilizationWindowSeconds",
                json!(3601),
            )],
            "spec.behavior.scaleDown.stabilizationWindowSeconds",
            "must be between 0 and 3600, got 3601",
        ),
        case(
            Ha,
            vec![set(
                "/spec/behavior/scaleUp/stabilizationWindowSeconds",
                json!(-1),
            )],
            "spec.behavior.scaleUp.stabilizationWindowSeconds",
            "must be between 0 and 3600, got -1",
        ),
        case(
            Ha,
            vec![set("/spec/behavior/scaleUp/policies", json!([]))],
            "spec.behavior.scaleUp.policies",
            "must not be empty; omit the field to get the defaults",
        ),
        case(
            Ha,
            vec![set(
                "/spec/behavior/scaleDown/policies/0/periodSeconds",
                json!(0),
            )],
            "spec.behavior.scaleDown.policies[0].periodSeconds",
            "must be between 1 and 1800, got 0",
        ),
        case(
            Ha,
            vec![set(
                "/spec/behavior/scaleDown/policies/1/periodSeconds",
                json!(1801),
            )],
            "spec.behavior.scaleDown.policies[1].periodSeconds",
            "must be between 1 and 1800, got 1801",
        ),
        case(
            Ha,
            vec![set("/spec/behavior/scaleDown/policies/1/value", json!(0))],
            "spec.behavior.scaleDown.policies[1].value",
            "must be > 0, got 0",
        ),
        case(
            Ha,
            vec![set("/spec/behavior/scaleUp/policies/0/value", json!(-4))],
            "spec.behavior.scaleUp.policies[0].value",
            "must be > 0, got -4",
        ),
        case(
            Ha,
            vec![set("/spec/behavior/scaleUp/tolerance", json!("-0.1"))],
            "spec.behavior.scaleUp.tolerance",
            "must be >= 0, got -0.1",
        ),
        case(
            Ha,
            vec![set("/spec/behavior/scaleDown/tolerance", json!(-1))],
            "spec.behavior.scaleDown.tolerance",
            "must be >= 0, got -1",
        ),
        // MetricsProducer.
        case(
            Mp,
            vec![set("/spec", json!({}))],
            "spec",
            "must set exactly one of queue, reservedCapacity, scheduleSpec or pendingCapacity; none is set",
        ),
        case(
            Mp,
            vec![set(
                "/spec/queue",
                json!({"type": "AWSSQSQueue", "id": "q"}),
            )],
            "spec",
            "found queue and scheduleSpec",
        ),
        case(
            Mp,
            vec![set("/spec", json!({"queue": {"type": "", "id": "q"}}))],
            "spec.queue.type",
            "must not be empty; set the queue type, e.g. AWSSQSQueue",
        ),
        case(
            Mp,
            vec![set(
                "/spec",
                json!({"queue": {"type": "AWSSQSQueue", "id": ""}}),
            )],
            "spec.queue.id",
            "must not be empty; set the queue's URL, ARN or name",
        ),
        case(
            Mp,
            vec![set(
                "/spec/scheduleSpec/timezone",
                json!("America/LosAngeles"),
            )],
            "spec.scheduleSpec.timezone",
            r#""America/LosAngeles" is not an IANA time zone name; use one such as America/Los_Angeles"#,
        ),
        case(
            Mp,
            vec![set("/spec/scheduleSpec/timezone", json!("PST8PDT8"))],
            "spec.scheduleSpec.timezone",
            "is not an IANA time zone name",
        ),
        case(
            Mp,
            vec![set("/spec/scheduleSpec/defaultReplicas", json!(-1))],
            "spec.scheduleSpec.defaultReplicas",
            "must be >= 0, got -1",
        ),
        case(
            Mp,
            vec![set("/spec/scheduleSpec/behaviors/0/replicas", json!(-3))],
            "spec.scheduleSpec.behaviors[0].replicas",
            "must be >= 0, got -3",
        ),
        case(
            Mp,
            vec![set(
                "/spec/scheduleSpec/behaviors/1/start/weekdays",
                json!("Mon,Tus"),
            )],
            "spec.scheduleSpec.behaviors[1].start.weekdays",
            r#""Mon,Tus": "Tus" is not a weekday; use Sun, Mon, Tue, Wed, Thu, Fri, Sat (or full names) or 0-7 with 0 and 7 = Sunday"#,
        ),
        case(
            Mp,
            vec![set(
                "/spec/scheduleSpec/behaviors/1/start/weekdays",
                json!("Mon-Fri"),
            )],
            "spec.scheduleSpec.behaviors[1].start.weekdays",
            r#""Mon-Fri" is not a weekday"#,
        ),
        case(
            Mp,
            vec![set(
                "/spec/scheduleSpec/behaviors/1/start/weekdays",
                json!(8),
            )],
            "spec.scheduleSpec.behaviors[1].start.weekdays",
            r#""8": "8" is out of range 0-7"#,
        ),
        case(
            Mp,
            vec![set("/spec/scheduleSpec/behaviors/0/end/hours", json!(24))],
            "spec.scheduleSpec.behaviors[0].end.hours",
            r#""24": "24" is out of range 0-23; use numbers 0-23"#,
        ),
        case(
            Mp,
            vec![set(
                "/spec/scheduleSpec/behaviors/0/end/minutes",
                json!([0, 60]),
            )],
            "spec.scheduleSpec.behaviors[0].end.minutes",
            r#""60" is out of range 0-59"#,
        ),
        case(
            Mp,
            vec![set("/spec/scheduleSpec/behaviors/0/start/days", json!("0"))],
            "spec.scheduleSpec.behaviors[0].start.days",
            r#""0" is out of range 1-31"#,
        ),
        case(
            Mp,
            vec![set(
                "/spec/scheduleSpec/behaviors/0/start/months",
                json!("Jan-Mar"),
            )],
            "spec.scheduleSpec.behaviors[0].start.months",
            r#""Jan-Mar" is not a month; use Jan, Feb"#,
        ),
        // ScalableNodeGroup.
        case(
            Sng,
            vec![set("/spec/type", json!(""))],
            "spec.type",
            "must not be empty; set the provider type, e.g. AWSEC2AutoScalingGroup or AWSEKSNodeGroup",
        ),
        case(
            Sng,
            vec![set("/spec/id", json!(""))],
            "spec.id",
            "must not be empty; set the node group's name or ARN",
        ),
        case(
            Sng,
            vec![set("/spec/replicas", json!(-1))],
            "spec.replicas",
            "must be >= 0, got -1",
        ),
    ];

    let mut failures = Vec::new();
    for (i, c) in cases.into_iter().enumerate() {
        let mut v = base(c.kind);
        for (pointer, new) in c.patches.clone() {
            v = patch(v, pointer, new);
        }
        let label = format!("case {i} ({:?} {:?})", c.kind, c.patches);
        match validate(c.kind, v) {
            Ok(()) => failures.push(format!("{label}: accepted, expected {}", c.path)),
            Err(errs) => {
                let ok = errs.errors.len() == 1
                    && errs.errors[0].path == c.path
                    && errs.errors[0].message.contains(c.message);
                if !ok {
                    failures.push(format!(
                        "{label}: expected only `{}: ...{}...`, got:\n{errs}",
                        c.path, c.message
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn zero_min_replicas_and_bounds_that_are_fine() {
    // minReplicas 0 with maxReplicas 1; minReplicas == maxReplicas; absent
    // minReplicas with maxReplicas 1.
    for (min, max) in [(Some(0), 1), (Some(7), 7), (None, 1)] {
        let mut v = patch(base_ha(), "/spec/maxReplicas", Some(json!(max)));
        v = patch(v, "/spec/minReplicas", min.map(|m: i32| json!(m)));
        assert_eq!(validate(Kind::Ha, v), Ok(()), "{min:?} {max}");
    }
    // The extremes the rules allow.
    let v = patch(
        base_ha(),
        "/spec/behavior/scaleDown",
        Some(json!({"stabilizationWindowSeconds": 3600, "tolerance": 0,
                    "policies": [{"type": "Percent", "value": 1000, "periodSeconds": 1800},
                                 {"type": "Count", "value": 1, "periodSeconds": 1}]})),
    );
    assert_eq!(validate(Kind::Ha, v), Ok(()));
    for period in [1, 5, 10, 30, 60, 300, 86_400] {
        let v = patch(
            base_ha(),
            "/spec/metrics/1",
            Some(
                json!({"cloudWatch": {"expression": "m1", "period": period, "statistic": "p99.9",
                                       "target": {"type": "Value", "value": "500m"}}}),
            ),
        );
        assert_eq!(validate(Kind::Ha, v), Ok(()), "period {period}");
    }
    let v = patch(
        base_ha(),
        "/spec/metrics/1/prometheus/target",
        Some(json!({"type": "Utilization", "averageUtilization": 1})),
    );
    assert_eq!(validate(Kind::Ha, v), Ok(()));
    // Omitted timezone means UTC; "UTC" and "Etc/UTC" are valid names.
    for tz in [None, Some("UTC"), Some("Etc/UTC"), Some("Europe/Berlin")] {
        let v = patch(
            base_mp(),
            "/spec/scheduleSpec/timezone",
            tz.map(|t| json!(t)),
        );
        assert_eq!(validate(Kind::Mp, v), Ok(()), "{tz:?}");
    }
    // A node group whose replicas are left alone.
    let v = patch(base_sng(), "/spec/replicas", None);
    assert_eq!(validate(Kind::Sng, v), Ok(()));
    let v = patch(base_sng(), "/spec/replicas", Some(json!(0)));
    assert_eq!(validate(Kind::Sng, v), Ok(()));
}

#[test]
fn every_problem_is_reported_in_field_order() {
    let manifest = r#"
apiVersion: autoscaling.karpenter.sh/v1beta1
kind: HorizontalAutoscaler
metadata:
  name: Broken_Autoscaler
spec:
  scaleTargetRef:
    kind: ScalableNodeGroup
    name: ""
  minReplicas: 3
  maxReplicas: 2
  metrics:
    - prometheus:
        query: ""
        target:
          type: Value
          value: 0
      cloudWatch:
        expression: m1
        period: 7
        target:
          type: Utilization
          averageValue: 4
    - {}
  behavior:
    scaleUp:
      policies: []
      tolerance: "-50m"
    scaleDown:
      stabilizationWindowSeconds: 7200
      policies:
        - type: Pods
          value: 0
          periodSeconds: 0
"#;
    let ha: HorizontalAutoscaler = karpenter_core::api::from_yaml_str(manifest).unwrap();
    let errs = ha.validate().unwrap_err();
    let got: Vec<String> = errs.errors.iter().map(ToString::to_string).collect();
    let want = [
        r#"apiVersion: must be autoscaling.karpenter.sh/v1alpha1, got "autoscaling.karpenter.sh/v1beta1""#,
        r#"metadata.name: must be a DNS-1123 subdomain"#,
        "spec.scaleTargetRef.name: must not be empty",
        "spec.maxReplicas: must be >= minReplicas (3), got 2",
        "spec.metrics[0]: must set exactly one source: prometheus, cloudWatch or custom; found prometheus and cloudWatch",
        "spec.metrics[0].prometheus.query: must not be empty",
        "spec.metrics[0].prometheus.target.value: must be > 0, got 0",
        "spec.metrics[0].cloudWatch.period: must be 1, 5, 10, 30 or a positive multiple of 60 (seconds), got 7",
        "spec.metrics[0].cloudWatch.target.averageValue: is only allowed with type AverageValue; for type Utilization, use value",
        "spec.metrics[1]: must set exactly one source: prometheus, cloudWatch or custom; none is set",
        "spec.behavior.scaleUp.policies: must not be empty; omit the field to get the defaults",
        "spec.behavior.scaleUp.tolerance: must be >= 0, got -50m",
        "spec.behavior.scaleDown.stabilizationWindowSeconds: must be between 0 and 3600, got 7200",
        "spec.behavior.scaleDown.policies[0].value: must be > 0, got 0",
        "spec.behavior.scaleDown.policies[0].periodSeconds: must be between 1 and 1800, got 0",
    ];
    assert_eq!(got.len(), want.len(), "got:\n{errs}");
    for (g, w) in got.iter().zip(want) {
        assert!(
            g.starts_with(w),
            "expected {w:?}\n     got {g:?}\nall:\n{errs}"
        );
    }
    // Display: one line per problem.
    assert_eq!(errs.to_string().lines().count(), want.len());
    assert_eq!(errs.at("spec.maxReplicas").count(), 1);

    // A MetricsProducer with several problems, including several in one pattern.
    let manifest = r#"
kind: MetricsProducer
metadata: {}
spec:
  queue:
    type: ""
    id: ""
  scheduleSpec:
    timezone: Mars/Olympus_Mons
    defaultReplicas: -1
    behaviors:
      - replicas: -1
        start: {minutes: 61, weekdays: "Mon,Tus"}
        end: {hours: "9,25"}
"#;
    let mp: MetricsProducer = karpenter_core::api::from_yaml_str(manifest).unwrap();
    let errs = mp.validate().unwrap_err();
    let paths: Vec<&str> = errs.errors.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "metadata.name",
            "spec",
            "spec.queue.type",
            "spec.queue.id",
            "spec.scheduleSpec.timezone",
            "spec.scheduleSpec.defaultReplicas",
            "spec.scheduleSpec.behaviors[0].replicas",
            "spec.scheduleSpec.behaviors[0].start.minutes",
            "spec.scheduleSpec.behaviors[0].start.weekdays",
            "spec.scheduleSpec.behaviors[0].end.hours",
        ],
        "{errs}"
    );
}

#[test]
fn unknown_enum_values_are_rejected_when_parsing() {
    let bad_select = patch(
        base_ha(),
        "/spec/behavior/scaleUp/selectPolicy",
        Some(json!("Maximum")),
    );
    let e = serde_json::from_value::<HorizontalAutoscaler>(bad_select)
        .unwrap_err()
        .to_string();
    assert!(e.contains("Maximum") && e.contains("Max"), "{e}");

    let bad_policy = patch(
        base_ha(),
        "/spec/behavior/scaleUp/policies/0/type",
        Some(json!("Nodes")),
    );
    let e = serde_json::from_value::<HorizontalAutoscaler>(bad_policy)
        .unwrap_err()
        .to_string();
    assert!(e.contains("Nodes"), "{e}");

    let bad_target = patch(
        base_ha(),
        "/spec/metrics/0/prometheus/target/type",
        Some(json!("Average")),
    );
    assert!(serde_json::from_value::<HorizontalAutoscaler>(bad_target).is_err());

    let bad_quantity = patch(
        base_ha(),
        "/spec/metrics/0/prometheus/target/value",
        Some(json!("4 nodes")),
    );
    let e = serde_json::from_value::<HorizontalAutoscaler>(bad_quantity)
        .unwrap_err()
        .to_string();
    assert!(e.contains("\"4 nodes\" is not a quantity"), "{e}");
}

#[test]
fn weekday_seven_is_valid_as_sunday() {
    let mut mp = base(Kind::Mp);
    mp["spec"]["scheduleSpec"]["behaviors"][0]["start"]["weekdays"] = json!(7);
    mp["spec"]["scheduleSpec"]["behaviors"][0]["end"]["weekdays"] = json!("0,7");
    assert_eq!(validate(Kind::Mp, mp), Ok(()));
}

#[test]
fn echoed_input_is_cut_at_80_characters() {
    let long = "X".repeat(5000);
    let mut ng = base(Kind::Sng);
    ng["metadata"]["name"] = json!(long);
    let mut mp = base(Kind::Mp);
    mp["spec"]["scheduleSpec"]["timezone"] = json!(long);
    mp["spec"]["scheduleSpec"]["behaviors"][0]["start"]["weekdays"] = json!(long);
    for (kind, v) in [(Kind::Sng, ng), (Kind::Mp, mp)] {
        let errors = validate(kind, v).unwrap_err();
        for e in &errors.errors {
            assert!(e.message.chars().count() < 400, "{e}");
            assert!(e.message.contains('…'), "{e}");
        }
    }
}
