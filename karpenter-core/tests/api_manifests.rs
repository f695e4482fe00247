//! Every manifest under `tests/fixtures/` (the Karpenter v0.1 examples and the
//! HPA spellings) parses, validates, survives a JSON round trip unchanged, and
//! means what it says.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on purpose.

use std::path::{Path, PathBuf};

use chrono::Weekday;
use karpenter_core::api::v1alpha1::{
    HorizontalAutoscaler, MetricTargetType, MetricsProducer, PatternList, ScalableNodeGroup,
    ScalingPolicySelect, ScalingPolicyType,
};
use karpenter_core::api::{Quantity, parse};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// One parsed document.
#[derive(Debug, Clone, PartialEq)]
enum Object {
    Ha(Box<HorizontalAutoscaler>),
    Mp(Box<MetricsProducer>),
    Sng(Box<ScalableNodeGroup>),
}

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// Parses `text` as `T` with the strict parser, checks it validates, and
/// that JSON and YAML out and back in give an equal value.
fn typed<T>(file: &str, index: usize, text: &str) -> T
where
    T: DeserializeOwned + Serialize + PartialEq + std::fmt::Debug,
{
    let obj: T = parse::from_yaml_str(text)
        .unwrap_or_else(|e| panic!("{file} document {index}: does not parse: {e}"));
    let json = serde_json::to_string_pretty(&obj).unwrap();
    let back: T = parse::from_str(&json).unwrap_or_else(|e| {
        panic!("{file} document {index}: JSON does not parse back: {e}\n{json}")
    });
    assert_eq!(
        back, obj,
        "{file} document {index}: JSON round trip changed it\n{json}"
    );
    // And through YAML too, since that is what `kubectl get -o yaml` prints.
    let yaml = serde_saphyr::to_string(&obj).unwrap();
    let back: T = parse::from_yaml_str(&yaml).unwrap_or_else(|e| {
        panic!("{file} document {index}: YAML does not parse back: {e}\n{yaml}")
    });
    assert_eq!(
        back, obj,
        "{file} document {index}: YAML round trip changed it\n{yaml}"
    );
    obj
}

/// Parses every document of a fixture file, dispatching on `kind`.
fn load(file: &str) -> Vec<Object> {
    let text = std::fs::read_to_string(fixtures_dir().join(file))
        .unwrap_or_else(|e| panic!("{file}: {e}"));
    let mut out = Vec::new();
    for doc in parse::yaml_documents(&text) {
        let index = doc.index;
        if doc.is_empty() {
            continue; // an empty document, e.g. a trailing `---`
        }
        let kind = parse::TypeMeta::of(doc.text)
            .unwrap_or_else(|e| panic!("{file} document {index}: not YAML: {e}"))
            .kind
            .unwrap_or_else(|| panic!("{file} document {index}: no kind"));
        let obj = match kind.as_str() {
            "HorizontalAutoscaler" => {
                let ha: HorizontalAutoscaler = typed(file, index, doc.text);
                check(file, index, ha.validate());
                Object::Ha(Box::new(ha))
            }
            "MetricsProducer" => {
                let mp: MetricsProducer = typed(file, index, doc.text);
                check(file, index, mp.validate());
                Object::Mp(Box::new(mp))
            }
            "ScalableNodeGroup" => {
                let ng: ScalableNodeGroup = typed(file, index, doc.text);
                check(file, index, ng.validate());
                Object::Sng(Box::new(ng))
            }
            other => panic!("{file} document {index}: unexpected kind {other}"),
        };
        out.push(obj);
    }
    out
}

fn check(file: &str, index: usize, r: Result<(), karpenter_core::api::ValidationErrors>) {
    if let Err(e) = r {
        panic!("{file} document {index} is invalid:\n{e}");
    }
}

fn ha(o: &Object) -> &HorizontalAutoscaler {
    match o {
        Object::Ha(x) => x,
        other => panic!("expected a HorizontalAutoscaler, got {other:?}"),
    }
}

fn mp(o: &Object) -> &MetricsProducer {
    match o {
        Object::Mp(x) => x,
        other => panic!("expected a MetricsProducer, got {other:?}"),
    }
}

fn sng(o: &Object) -> &ScalableNodeGroup {
    match o {
        Object::Sng(x) => x,
        other => panic!("expected a ScalableNodeGroup, got {other:?}"),
    }
}

fn q(s: &str) -> Quantity {
    s.parse().unwrap()
}

#[test]
fn every_fixture_parses_and_validates() {
    let mut files: Vec<String> = std::fs::read_dir(fixtures_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yaml") || n.ends_with(".yml"))
        .collect();
    files.sort();
    assert!(files.len() >= 5, "fixtures missing: {files:?}");
    for f in &files {
        assert!(!load(f).is_empty(), "{f} has no documents");
    }
}

#[test]
fn queue_example() {
    let objs = load("queue.yaml");
    assert_eq!(objs.len(), 3);

    let ng = sng(&objs[0]);
    assert_eq!(ng.metadata.name.as_deref(), Some("ml-training-capacity"));
    assert_eq!(ng.spec.type_, "AWSEKSNodeGroup");
    assert_eq!(ng.spec.replicas, None);

    let producer = mp(&objs[1]);
    assert_eq!(producer.metadata.name.as_deref(), Some("ml-training-queue"));
    let queue = producer.spec.queue.as_ref().unwrap();
    assert_eq!(queue.type_, "AWSSQSQueue");
    assert_eq!(
        queue.id,
        "arn:aws:sqs:us-west-2:1234567890:ml-training-queue"
    );
    assert!(producer.spec.reserved_capacity.is_none());

    let ha = ha(&objs[2]);
    assert_eq!(ha.spec.scale_target_ref.kind, "ScalableNodeGroup");
    assert_eq!(ha.spec.scale_target_ref.name, "ml-training-capacity");
    assert_eq!(ha.spec.min_replicas, Some(0));
    assert_eq!(ha.spec.max_replicas, 1000);
    assert_eq!(ha.spec.metrics.len(), 1);
    let p = ha.spec.metrics[0].prometheus.as_ref().unwrap();
    assert_eq!(
        p.query,
        r#"karpenter_queue_length{name="ml-training-queue"}"#
    );
    assert_eq!(p.target.type_, MetricTargetType::AverageValue);
    assert_eq!(p.target.value, Some(q("4")));
    assert_eq!(p.target.target_value(), Some(4.0));
    assert!(ha.spec.behavior.is_none());
}

#[test]
fn reserved_capacity_example() {
    let objs = load("reserved-capacity.yaml");
    assert_eq!(objs.len(), 3);
    assert_eq!(sng(&objs[0]).spec.type_, "AWSEKSNodeGroup");

    let rc = mp(&objs[1]).spec.reserved_capacity.as_ref().unwrap();
    assert_eq!(
        rc.node_selector
            .get("eks.amazonaws.com/nodegroup")
            .map(String::as_str),
        Some("microservices")
    );

    let ha = ha(&objs[2]);
    let queries: Vec<&str> = ha
        .spec
        .metrics
        .iter()
        .map(|m| m.prometheus.as_ref().unwrap().query.as_str())
        .collect();
    assert_eq!(
        queries,
        [
            r#"karpenter_reserved_capacity_cpu_utilization{name="microservices"}"#,
            r#"karpenter_reserved_capacity_memory_utilization{name="microservices"}"#,
        ]
    );
    for m in &ha.spec.metrics {
        let t = &m.prometheus.as_ref().unwrap().target;
        assert_eq!(t.type_, MetricTargetType::Utilization);
        assert_eq!(t.value, Some(q("60")));
        assert_eq!(t.target_value(), Some(60.0));
    }
    let down = ha
        .spec
        .behavior
        .as_ref()
        .unwrap()
        .scale_down
        .as_ref()
        .unwrap();
    assert_eq!(down.stabilization_window_seconds, Some(60));
    assert_eq!(down.policies, None);
}

#[test]
fn scheduled_capacity_example() {
    let objs = load("scheduled-capacity.yaml");
    assert_eq!(objs.len(), 3);
    assert_eq!(sng(&objs[0]).spec.replicas, Some(2));

    let s = mp(&objs[1]).spec.schedule_spec.as_ref().unwrap();
    assert_eq!(s.timezone.as_deref(), Some("America/Los_Angeles"));
    assert_eq!(s.default_replicas, 2);
    assert_eq!(s.behaviors.len(), 3);
    let replicas: Vec<i32> = s.behaviors.iter().map(|b| b.replicas).collect();
    assert_eq!(replicas, [1, 3, 2]);

    // Strings as v0.1 users wrote them.
    assert_eq!(
        s.behaviors[1].start.weekdays,
        Some(PatternList::Text("Mon,Tue,Wed,Thu,Fri".into()))
    );
    assert_eq!(
        s.behaviors[1].start.hours,
        Some(PatternList::Text("9".into()))
    );

    let weekdays = vec![
        Weekday::Mon,
        Weekday::Tue,
        Weekday::Wed,
        Weekday::Thu,
        Weekday::Fri,
    ];
    let friday_evening = s.behaviors[0].start.resolve().unwrap();
    assert_eq!(friday_evening.hours, [17]);
    assert_eq!(friday_evening.minutes, [0]);
    assert_eq!(friday_evening.weekdays, Some(vec![Weekday::Fri]));
    assert_eq!(friday_evening.days, None);
    assert_eq!(friday_evening.months, None);

    let office_start = s.behaviors[1].start.resolve().unwrap();
    assert_eq!(office_start.hours, [9]);
    assert_eq!(office_start.weekdays.as_ref(), Some(&weekdays));
    assert_eq!(s.behaviors[1].end.resolve().unwrap().hours, [17]);

    // Spaces after commas, a number, full names in a list, month names.
    let evening_start = s.behaviors[2].start.resolve().unwrap();
    assert_eq!(evening_start.weekdays.as_ref(), Some(&weekdays));
    assert_eq!(
        (
            evening_start.hours.as_slice(),
            evening_start.minutes.as_slice()
        ),
        (&[17][..], &[30][..])
    );
    let evening_end = s.behaviors[2].end.resolve().unwrap();
    assert_eq!(evening_end.weekdays.as_ref(), Some(&weekdays));
    assert_eq!(evening_end.months, Some((1..=12).collect()));

    let ha = ha(&objs[2]);
    let p = ha.spec.metrics[0].prometheus.as_ref().unwrap();
    assert_eq!(
        p.query,
        r#"karpenter_scheduled_replicas_value{name="office-hours-schedule"}"#
    );
    assert_eq!(p.target.type_, MetricTargetType::Value);
    assert_eq!(p.target.value, Some(q("1")));
}

#[test]
fn hpa_spellings() {
    let objs = load("hpa-spellings.yaml");
    assert_eq!(objs.len(), 4);

    let t = &ha(&objs[0]).spec.metrics[0]
        .prometheus
        .as_ref()
        .unwrap()
        .target;
    assert_eq!(t.type_, MetricTargetType::AverageValue);
    assert_eq!(t.value, None);
    assert_eq!(t.average_value, Some(q("0.5")));
    assert_eq!(t.target_value(), Some(0.5));

    let a = ha(&objs[1]);
    assert_eq!(
        a.spec.min_replicas, None,
        "absent minReplicas stays absent (means 0, as in Karpenter v0.1)"
    );
    let t = &a.spec.metrics[0].prometheus.as_ref().unwrap().target;
    assert_eq!(t.type_, MetricTargetType::Utilization);
    assert_eq!(t.average_utilization, Some(75));
    assert_eq!(t.target_value(), Some(75.0));

    let b = ha(&objs[2]).spec.behavior.as_ref().unwrap();
    let down = b.scale_down.as_ref().unwrap();
    assert_eq!(down.tolerance, Some(q("0.05")));
    assert_eq!(down.tolerance.as_ref().unwrap().as_str(), "50m");
    assert_eq!(down.tolerance.as_ref().unwrap().as_f64(), 0.05);
    let up = b.scale_up.as_ref().unwrap();
    let policies = up.policies.as_ref().unwrap();
    assert_eq!(policies.len(), 2);
    assert_eq!(policies[0].type_, ScalingPolicyType::Percent);
    assert_eq!(
        policies[1].type_,
        ScalingPolicyType::Count,
        "Pods is an alias of Count"
    );
    assert_eq!((policies[1].value, policies[1].period_seconds), (4, 15));
    assert_eq!(up.select_policy, Some(ScalingPolicySelect::Max));
    assert_eq!(up.tolerance, None);

    let b = ha(&objs[3]).spec.behavior.as_ref().unwrap();
    let up = b.scale_up.as_ref().unwrap();
    assert_eq!(up.tolerance, Some(q("50m")), "0.05 as a number is exact");
    assert_eq!(up.select_policy, Some(ScalingPolicySelect::Min));
    let down = b.scale_down.as_ref().unwrap();
    assert_eq!(down.select_policy, Some(ScalingPolicySelect::Disabled));
    assert_eq!(down.tolerance, Some(q("0")));
}

#[test]
fn other_sources() {
    let objs = load("other-sources.yaml");
    assert_eq!(objs.len(), 2);
    let pc = mp(&objs[0]).spec.pending_capacity.as_ref().unwrap();
    assert_eq!(pc.node_selector.len(), 1);

    let ha = ha(&objs[1]);
    assert_eq!(ha.metadata.namespace.as_deref(), Some("ml"));
    let m = &ha.spec.metrics;
    assert_eq!(m.len(), 4);
    let cw = m[1].cloud_watch.as_ref().unwrap();
    assert_eq!(cw.namespace.as_deref(), Some("AWS/SQS"));
    assert_eq!(
        cw.dimensions.get("QueueName").map(String::as_str),
        Some("ml-training-queue")
    );
    assert_eq!(cw.statistic.as_deref(), Some("p99.9"));
    assert_eq!(cw.target.average_value, Some(q("10")));
    let expr = m[2].cloud_watch.as_ref().unwrap();
    assert_eq!(expr.expression.as_deref(), Some("SUM(METRICS())"));
    assert_eq!(expr.target.value, Some(q("2500m")));
    let custom = m[3].custom.as_ref().unwrap();
    assert_eq!(custom.type_, "DatadogQuery");
    assert_eq!(custom.params["rollup"], serde_json::json!(60));
    assert_eq!(custom.target.target_value(), Some(1000.0));
    // `type_name` borrows from the temporary `MetricSourceKind`, hence the copies.
    let kinds: Vec<String> = m
        .iter()
        .map(|m| m.source().unwrap().0.type_name().to_string())
        .collect();
    assert_eq!(
        kinds,
        ["prometheus", "cloudWatch", "cloudWatch", "DatadogQuery"]
    );
}

#[test]
fn json_schemas_generate() {
    let ha = serde_json::to_string(&schemars::schema_for!(HorizontalAutoscaler)).unwrap();
    for field in [
        "scaleTargetRef",
        "minReplicas",
        "maxReplicas",
        "averageUtilization",
        "averageValue",
        "stabilizationWindowSeconds",
        "periodSeconds",
        "tolerance",
        "cloudWatch",
        "prometheus",
        "x-kubernetes-int-or-string",
    ] {
        assert!(
            ha.contains(&format!("\"{field}\"")),
            "HorizontalAutoscaler schema lacks {field}"
        );
    }
    let mp = serde_json::to_string(&schemars::schema_for!(MetricsProducer)).unwrap();
    for field in [
        "queue",
        "reservedCapacity",
        "scheduleSpec",
        "pendingCapacity",
        "defaultReplicas",
        "weekdays",
        "nodeSelector",
    ] {
        assert!(
            mp.contains(&format!("\"{field}\"")),
            "MetricsProducer schema lacks {field}"
        );
    }
    let ng = serde_json::to_string(&schemars::schema_for!(ScalableNodeGroup)).unwrap();
    for field in ["type", "id", "replicas"] {
        assert!(
            ng.contains(&format!("\"{field}\"")),
            "ScalableNodeGroup schema lacks {field}"
        );
    }
}
