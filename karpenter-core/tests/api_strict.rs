//! Strict fields: an unknown field at any depth of `spec` (and at the top
//! level) is an error with its path, line and the closest known field, as
//! `kubectl apply --validate=strict` does; standard metadata, `status` and
//! free-form `params` are accepted.

// Test helpers outside #[test] fns may unwrap: a failure there is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use karpenter_core::api::parse::{self, Format, ParseErrorKind};
use karpenter_core::api::v1alpha1::{HorizontalAutoscaler, MetricsProducer, ScalableNodeGroup};

const HA: &str = "\
apiVersion: autoscaling.karpenter.sh/v1alpha1
kind: HorizontalAutoscaler
metadata: {name: web}
spec:
  scaleTargetRef: {kind: ScalableNodeGroup, name: web}
  maxReplicas: 10
  metrics:
    - prometheus:
        query: q
        target: {type: AverageValue, value: 4}
    - cloudWatch:
        namespace: AWS/SQS
        metricName: M
        target: {type: Value, value: 1}
    - custom:
        type: Datadog
        params: {anything: [1, {goes: here}], nested: {deeply: {ok: true}}}
        target: {type: Value, value: 1}
  behavior:
    scaleUp:
      stabilizationWindowSeconds: 0
      policies: [{type: Pods, value: 4, periodSeconds: 15}]
    scaleDown: {tolerance: 0.2}
";

const MP: &str = "\
apiVersion: autoscaling.karpenter.sh/v1alpha1
kind: MetricsProducer
metadata: {name: office-hours}
spec:
  scheduleSpec:
    timezone: America/Los_Angeles
    defaultReplicas: 1
    behaviors:
      - replicas: 3
        start: {weekdays: Mon, hours: 9}
        end: {weekdays: Fri, hours: 17}
";

const SNG: &str = "\
apiVersion: autoscaling.karpenter.sh/v1alpha1
kind: ScalableNodeGroup
metadata: {name: web}
spec: {type: AWSEKSNodeGroup, id: web, replicas: 1}
";

#[test]
fn the_bases_parse() {
    let ha: HorizontalAutoscaler = parse::from_str(HA).unwrap();
    assert_eq!(ha.spec.min_replicas, None);
    assert!(ha.validate().is_ok());
    let custom = ha.spec.metrics[2].custom.as_ref().unwrap();
    assert_eq!(custom.params["nested"]["deeply"]["ok"], true);
    let _: MetricsProducer = parse::from_str(MP).unwrap();
    let _: ScalableNodeGroup = parse::from_str(SNG).unwrap();
}

/// (manifest with one change, expected path, expected suggestion)
#[test]
fn unknown_fields_at_every_depth_name_path_line_and_suggestion() {
    let cases: &[(&str, &str, &str, &str, Option<&str>)] = &[
        (
            HA,
            "  maxReplicas: 10\n",
            "  maxReplicas: 10\n  minReplica: 1\n",
            "spec.minReplica",
            Some("minReplicas"),
        ),
        (
            HA,
            "apiVersion:",
            "apiVersio: x\napiVersion:",
            "apiVersio",
            Some("apiVersion"),
        ),
        (
            HA,
            "scaleTargetRef: {kind",
            "scaleTargetRef: {knd: x, kind",
            "spec.scaleTargetRef.knd",
            Some("kind"),
        ),
        (
            HA,
            "        query: q\n",
            "        query: q\n        querry: q\n",
            "spec.metrics[0].prometheus.querry",
            Some("query"),
        ),
        (
            HA,
            "{type: AverageValue, value: 4}",
            "{type: AverageValue, value: 4, averagevalue: 4}",
            "spec.metrics[0].prometheus.target.averagevalue",
            Some("averageValue"),
        ),
        (
            HA,
            "    - prometheus:",
            "    - promethues:",
            "spec.metrics[0].promethues",
            Some("prometheus"),
        ),
        (
            HA,
            "        metricName: M\n",
            "        metricName: M\n        metric: M\n",
            "spec.metrics[1].cloudWatch.metric",
            Some("metricName"),
        ),
        (
            HA,
            "        type: Datadog\n",
            "        type: Datadog\n        param: {}\n",
            "spec.metrics[2].custom.param",
            Some("params"),
        ),
        (
            HA,
            "    scaleUp:\n",
            "    scaleup: {}\n    scaleUp:\n",
            "spec.behavior.scaleup",
            Some("scaleUp"),
        ),
        (
            HA,
            "      stabilizationWindowSeconds: 0\n",
            "      stabilizationWindow: 0\n",
            "spec.behavior.scaleUp.stabilizationWindow",
            Some("stabilizationWindowSeconds"),
        ),
        (
            HA,
            "periodSeconds: 15}",
            "periodSeconds: 15, period: 1}",
            "spec.behavior.scaleUp.policies[0].period",
            Some("periodSeconds"),
        ),
        (
            HA,
            "{tolerance: 0.2}",
            "{tolerence: 0.2}",
            "spec.behavior.scaleDown.tolerence",
            Some("tolerance"),
        ),
        (
            HA,
            "metadata: {name: web}",
            "metadata: {name: web, lables: {}}",
            "metadata.lables",
            Some("labels"),
        ),
        (
            MP,
            "    timezone:",
            "    timeZone: UTC\n    timezone:",
            "spec.scheduleSpec.timeZone",
            Some("timezone"),
        ),
        (
            MP,
            "    defaultReplicas: 1\n",
            "    defaultReplicas: 1\n    defaultReplica: 1\n",
            "spec.scheduleSpec.defaultReplica",
            Some("defaultReplicas"),
        ),
        (
            MP,
            "      - replicas: 3\n",
            "      - replica: 3\n",
            "spec.scheduleSpec.behaviors[0].replica",
            Some("replicas"),
        ),
        (
            MP,
            "{weekdays: Mon, hours: 9}",
            "{weekday: Mon, hours: 9}",
            "spec.scheduleSpec.behaviors[0].start.weekday",
            Some("weekdays"),
        ),
        (
            MP,
            "  scheduleSpec:",
            "  schedule: {}\n  scheduleSpec:",
            "spec.schedule",
            Some("scheduleSpec"),
        ),
        (
            SNG,
            "replicas: 1}",
            "replicas: 1, replica: 2}",
            "spec.replica",
            Some("replicas"),
        ),
        (
            SNG,
            "replicas: 1}",
            "replicas: 1, color: blue}",
            "spec.color",
            None,
        ),
    ];
    for (base, from, to, path, suggestion) in cases {
        assert!(base.contains(from), "{from}");
        let text = base.replacen(from, to, 1);
        let err = if *base == HA {
            parse::from_str::<HorizontalAutoscaler>(&text).unwrap_err()
        } else if *base == MP {
            parse::from_str::<MetricsProducer>(&text).unwrap_err()
        } else {
            parse::from_str::<ScalableNodeGroup>(&text).unwrap_err()
        };
        assert_eq!(err.kind, ParseErrorKind::UnknownField, "{err}");
        assert_eq!(&err.path, path, "{err}");
        assert_eq!(err.suggestion.as_deref(), *suggestion, "{err}");
        assert!(err.line.is_some(), "{err}");
        let shown = err.to_string();
        assert!(
            shown.starts_with(&format!("`{path}`: unknown field")),
            "{shown}"
        );
        match suggestion {
            Some(s) => assert!(shown.contains(&format!("did you mean `{s}`?")), "{shown}"),
            None => assert!(
                shown.contains("known fields: type, id, replicas"),
                "{shown}"
            ),
        }
    }
}

#[test]
fn the_same_errors_come_from_json() {
    let mut v: serde_json::Value = parse::from_str(HA).unwrap();
    v["spec"]["behavior"]["scaleDown"]["tolerence"] = serde_json::json!(0.1);
    let text = serde_json::to_string_pretty(&v).unwrap();
    assert_eq!(Format::detect(&text), Format::Json);
    let err = parse::from_str::<HorizontalAutoscaler>(&text).unwrap_err();
    assert_eq!(err.path, "spec.behavior.scaleDown.tolerence");
    assert_eq!(err.suggestion.as_deref(), Some("tolerance"));
    assert!(err.line.is_some());
}

#[test]
fn kubectl_get_output_loads() {
    let text = "\
apiVersion: autoscaling.karpenter.sh/v1alpha1
kind: ScalableNodeGroup
metadata:
  annotations:
    kubectl.kubernetes.io/last-applied-configuration: |
      {\"apiVersion\":\"autoscaling.karpenter.sh/v1alpha1\"}
  creationTimestamp: \"2026-01-01T00:00:00Z\"
  deletionGracePeriodSeconds: 30
  deletionTimestamp: \"2026-01-02T00:00:00Z\"
  finalizers: [karpenter.sh/termination]
  generateName: web-
  generation: 4
  labels: {team: ml}
  managedFields:
    - apiVersion: autoscaling.karpenter.sh/v1alpha1
      fieldsType: FieldsV1
      fieldsV1: {f:spec: {f:replicas: {}}}
      manager: kubectl-client-side-apply
      operation: Update
      time: \"2026-01-01T00:00:00Z\"
  name: web
  namespace: default
  ownerReferences:
    - {apiVersion: v1, kind: Namespace, name: default, uid: 1234, controller: true}
  resourceVersion: \"987654\"
  selfLink: /apis/autoscaling.karpenter.sh/v1alpha1/namespaces/default/scalablenodegroups/web
  uid: 0b6f8a8e-1111-2222-3333-444455556666
spec: {type: AWSEKSNodeGroup, id: web, replicas: 3}
status:
  replicas: 3
  conditions:
    - {type: Active, status: \"True\", lastTransitionTime: \"2026-01-01T00:00:00Z\"}
";
    let ng: ScalableNodeGroup = parse::from_str(text).unwrap();
    assert_eq!(ng.metadata.generation, Some(4));
    assert_eq!(ng.metadata.labels["team"], "ml");
    assert_eq!(ng.status.unwrap().replicas, Some(3));
}

#[test]
fn byte_order_marks_and_json_escapes() {
    let ng: ScalableNodeGroup = parse::from_str(&format!("\u{feff}{SNG}")).unwrap();
    assert_eq!(ng.spec.replicas, Some(1));
    let json = r#"{"metadata": {"name": "web", "annotations": {"a": "\uD83D\uDE80"}}, "spec": {"type": "X", "id": "y"}}"#;
    let ng: ScalableNodeGroup = parse::from_str(&format!("\u{feff}{json}")).unwrap();
    assert_eq!(ng.metadata.annotations["a"], "🚀");
}

#[test]
fn documents_of_a_stream_keep_their_lines() {
    let stream = format!("{SNG}---\n{MP}---\n# only a comment\n");
    let docs = parse::yaml_documents(&stream);
    assert_eq!(docs.len(), 3);
    assert!(docs[2].is_empty());
    let bad = docs[1]
        .text
        .replace("defaultReplicas: 1", "defaultReplica: 1");
    let err = parse::from_yaml_str::<MetricsProducer>(&bad)
        .unwrap_err()
        .offset_lines(docs[1].line_offset);
    // Line 7 of the second document, which starts after 5 lines.
    assert_eq!(err.line, Some(5 + 7), "{err}");
}

#[test]
fn odd_keys_and_characters_stay_readable() {
    let text = SNG.replace("replicas: 1}", "replicas: 1, \"st`at us\": 2}");
    let err = parse::from_str::<ScalableNodeGroup>(&text).unwrap_err();
    assert_eq!(err.path, "spec.\"st`at us\"", "{err}");
    let text = SNG.replace("replicas: 1}", "replicas: 1, \"st`at us\": 2}");
    let json: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
    let err = parse::from_str::<ScalableNodeGroup>(&json.to_string()).unwrap_err();
    assert_eq!(err.path, "spec.\"st`at us\"", "{err}");

    // A reserved indicator is not a control character.
    let err =
        parse::from_str::<ScalableNodeGroup>(&SNG.replace("id: web", "id: @web")).unwrap_err();
    assert!(err.message.contains("quote the value"), "{err}");
    assert!(!err.message.contains("control"), "{err}");
    let err =
        parse::from_str::<ScalableNodeGroup>(&SNG.replace("id: web", "id: \u{7}web")).unwrap_err();
    assert!(err.message.contains("control characters"), "{err}");

    // Block scalars keep their commas when quoted back.
    let err = parse::from_str::<ScalableNodeGroup>(&SNG.replace(
        "spec: {type: AWSEKSNodeGroup, id: web, replicas: 1}",
        "spec:\n  type: X\n  id: web\n  replicas: 1,5 # five\n",
    ))
    .unwrap_err();
    assert!(err.message.contains("got 1,5;"), "{err}");
}

#[test]
fn parser_budgets_are_explained_in_words() {
    let err = parse::from_yaml_str::<Vec<i32>>(&"- 1\n".repeat(260_000)).unwrap_err();
    assert_eq!(err.kind, ParseErrorKind::TooDeep, "{err}");
    assert!(err.message.contains("more than 250000 values"), "{err}");
    assert!(!err.message.contains('{'), "{err}");
    let bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n";
    let err = parse::from_yaml_str::<serde_json::Value>(bomb).unwrap_err();
    assert!(!err.message.contains('{'), "{err}");
}

#[test]
fn yaml_flow_documents_that_look_like_json_are_read_as_yaml() {
    let ng: ScalableNodeGroup =
        parse::from_str("{metadata: {name: web}, spec: {type: X, id: web}}").unwrap();
    assert_eq!(ng.spec.id, "web");
    // Its field errors are the YAML ones...
    let err =
        parse::from_str::<ScalableNodeGroup>("{metadata: {name: web}, spec: {type: X, idd: web}}")
            .unwrap_err();
    assert_eq!(err.path, "spec.idd", "{err}");
    // ...and broken JSON is reported as JSON.
    let err = parse::from_str::<ScalableNodeGroup>(r#"{"metadata": {"name": "web"}, "spec": {"#)
        .unwrap_err();
    assert!(err.message.contains("not valid JSON"), "{err}");
}
