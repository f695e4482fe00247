//! The CustomResourceDefinitions: structural schemas, CEL rules evaluated by
//! a CEL interpreter, schema/serde agreement, subresources and columns, the
//! `karpenter crds` command and the checked-in `deploy/crds` files.

// Test helpers outside #[test] fns may unwrap: a failure there is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use karpenter_core::api::parse;
use karpenter_core::api::v1alpha1 as core;
use karpenter_k8s::crd::structural::{check_crd, check_schema, value_problems};
use karpenter_k8s::crd::{self, HorizontalAutoscaler, MetricsProducer, ScalableNodeGroup};
use kube::{CustomResourceExt, Resource};
use serde_json::{Value, json};

fn schema_of(crd: &CustomResourceDefinition) -> Value {
    let props = crd.spec.versions[0]
        .schema
        .as_ref()
        .and_then(|s| s.open_api_v3_schema.as_ref())
        .expect("every version has a schema");
    serde_json::to_value(props).unwrap()
}

fn crd_of(kind: &str) -> CustomResourceDefinition {
    crd::all()
        .unwrap()
        .into_iter()
        .find(|c| c.spec.names.kind == kind)
        .unwrap()
}

#[test]
fn every_definition_builds_and_is_structural() {
    let crds = crd::all().unwrap();
    assert_eq!(
        crds.iter()
            .map(|c| c.spec.names.kind.as_str())
            .collect::<Vec<_>>(),
        [
            "ScalableNodeGroup",
            "HorizontalAutoscaler",
            "MetricsProducer"
        ]
    );
    for c in &crds {
        let violations = check_crd(c);
        assert!(
            violations.is_empty(),
            "{}:\n{}",
            c.spec.names.kind,
            violations
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}

#[test]
fn the_typed_schema_keeps_everything_the_generator_wrote() {
    // JSONSchemaProps drops keywords it does not know; a dropped rule or
    // marker would pass the structural check unnoticed. Serializing it back
    // must give a schema with every x-kubernetes marker the YAML shows.
    for c in crd::all().unwrap() {
        let yaml = crd::crd_yaml(&c).unwrap();
        let schema = schema_of(&c);
        let text = schema.to_string();
        for marker in [
            "x-kubernetes-validations",
            "x-kubernetes-int-or-string",
            "x-kubernetes-preserve-unknown-fields",
        ] {
            assert_eq!(
                yaml.matches(marker).count(),
                text.matches(marker).count(),
                "{} {marker}",
                c.spec.names.kind
            );
        }
    }
}

/// Each rule of the checker, broken once: the checker must say so (a
/// checker that finds nothing would pass every definition).
#[test]
fn the_checker_finds_each_broken_rule() {
    let int_or_string = json!({"anyOf": [{"type": "integer"}, {"type": "string"}], "x-kubernetes-int-or-string": true});
    let cases: Vec<(&str, Value, &str, &str)> = vec![
        (
            "untyped property",
            json!({"type": "object", "properties": {"a": {"description": "x"}}}),
            ".a",
            "typed",
        ),
        (
            "type list",
            json!({"type": "object", "properties": {"a": {"type": ["string", "null"]}}}),
            ".a",
            "typed",
        ),
        (
            "$ref",
            json!({"type": "object", "properties": {"a": {"$ref": "#/definitions/A", "type": "object"}}}),
            ".a",
            "known-keywords",
        ),
        (
            "additionalProperties beside properties",
            json!({"type": "object", "properties": {"a": {"type": "string"}}, "additionalProperties": false}),
            "",
            "properties-xor-additional",
        ),
        (
            "type inside anyOf",
            json!({"type": "object", "properties": {"a": {"type": "string", "anyOf": [{"type": "string", "minLength": 1}]}}}),
            ".a(anyOf)",
            "junctor-keywords",
        ),
        (
            "field only inside oneOf",
            json!({"type": "object", "properties": {"a": {"type": "object", "oneOf": [{"required": ["b"], "properties": {"b": {}}}]}}}),
            ".a",
            "junctor-fields",
        ),
        (
            "int-or-string with a third branch",
            json!({"type": "object", "properties": {"q": {"anyOf": [{"type": "integer"}, {"type": "string"}, {"type": "number"}], "x-kubernetes-int-or-string": true}}}),
            ".q",
            "int-or-string",
        ),
        (
            "int-or-string with a type",
            json!({"type": "object", "properties": {"q": {"type": "string", "x-kubernetes-int-or-string": true}}}),
            ".q",
            "int-or-string",
        ),
        (
            "enum value of the wrong type",
            json!({"type": "object", "properties": {"a": {"type": "string", "enum": ["x", 1]}}}),
            ".a",
            "enum-typed",
        ),
        (
            "default of the wrong type",
            json!({"type": "object", "properties": {"a": {"type": "integer", "default": "1"}}}),
            ".a",
            "default-valid",
        ),
        (
            "default below the minimum",
            json!({"type": "object", "properties": {"a": {"type": "integer", "minimum": 1, "default": 0}}}),
            ".a",
            "default-valid",
        ),
        (
            "default violating minItems",
            json!({"type": "object", "properties": {"a": {"type": "array", "items": {"type": "string"}, "minItems": 1, "default": []}}}),
            ".a",
            "default-valid",
        ),
        (
            "metadata restricted beyond name",
            json!({"type": "object", "properties": {"metadata": {"type": "object", "properties": {"labels": {"type": "object"}}}}}),
            ".metadata",
            "metadata",
        ),
        (
            "items as a list",
            json!({"type": "object", "properties": {"a": {"type": "array", "items": [{"type": "string"}]}}}),
            ".a",
            "items-single",
        ),
        (
            "required names a missing property",
            json!({"type": "object", "required": ["b"], "properties": {"a": {"type": "string"}}}),
            "",
            "required-exist",
        ),
        (
            "additionalProperties: true",
            json!({"type": "object", "properties": {"m": {"type": "object", "additionalProperties": true}}}),
            ".m",
            "additional-properties",
        ),
        (
            "uniqueItems",
            json!({"type": "object", "properties": {"a": {"type": "array", "items": {"type": "string"}, "uniqueItems": true}}}),
            ".a",
            "known-keywords",
        ),
        (
            "validation without a rule",
            json!({"type": "object", "x-kubernetes-validations": [{"message": "m"}]}),
            "",
            "validations",
        ),
        (
            "preserve-unknown-fields on a string",
            json!({"type": "object", "properties": {"a": {"type": "string", "x-kubernetes-preserve-unknown-fields": true}}}),
            ".a",
            "preserve-unknown",
        ),
        (
            "unknown format",
            json!({"type": "object", "properties": {"a": {"type": "integer", "format": "uint32"}}}),
            ".a",
            "format",
        ),
    ];
    for (name, schema, path, rule) in cases {
        let violations = check_schema(&schema);
        assert!(
            violations.iter().any(|v| v.path == path && v.rule == rule),
            "{name}: expected [{rule}] at {path:?}, got {violations:?}"
        );
    }
    // The allowed shapes pass.
    let good = json!({"type": "object", "required": ["q"], "properties": {
        "q": int_or_string,
        "free": {"x-kubernetes-preserve-unknown-fields": true},
        "params": {"type": "object", "additionalProperties": {"x-kubernetes-preserve-unknown-fields": true}},
        "n": {"type": "integer", "format": "int32", "minimum": 0, "default": 0, "nullable": true},
        "metadata": {"type": "object"}
    }});
    assert_eq!(check_schema(&good), vec![]);
}

#[test]
fn names_scope_short_names_and_categories() {
    let cases = [
        (ScalableNodeGroup::crd(), "scalablenodegroups", "sng"),
        (HorizontalAutoscaler::crd(), "horizontalautoscalers", "ha"),
        (MetricsProducer::crd(), "metricsproducers", "mp"),
    ];
    for (c, plural, short) in cases {
        assert_eq!(
            c.metadata.name.as_deref(),
            Some(format!("{plural}.autoscaling.karpenter.sh").as_str())
        );
        assert_eq!(c.spec.group, "autoscaling.karpenter.sh");
        assert_eq!(c.spec.scope, "Namespaced");
        assert_eq!(c.spec.names.plural, plural);
        assert_eq!(c.spec.names.short_names, Some(vec![short.to_string()]));
        assert_eq!(c.spec.names.categories, Some(vec!["karpenter".to_string()]));
        let v = &c.spec.versions[0];
        assert_eq!(
            (v.name.as_str(), v.served, v.storage),
            ("v1alpha1", true, true)
        );
        assert!(
            v.subresources.as_ref().unwrap().status.is_some(),
            "{plural}: status subresource"
        );
    }
    assert_eq!(ScalableNodeGroup::plural(&()), "scalablenodegroups");
    assert_eq!(ScalableNodeGroup::shortnames(), ["sng"]);
    assert_eq!(
        HorizontalAutoscaler::url_path(&(), Some("default")),
        "/apis/autoscaling.karpenter.sh/v1alpha1/namespaces/default/horizontalautoscalers"
    );
    assert_eq!(
        MetricsProducer::crd_name(),
        "metricsproducers.autoscaling.karpenter.sh"
    );
}

/// The schema node a simple JSONPath (`.status.replicas`,
/// `.status.conditions[*].status`) names.
fn node_at<'a>(schema: &'a Value, path: &str) -> Option<&'a Value> {
    let mut node = schema;
    for step in path.trim_start_matches('.').split('.') {
        let (name, items) = match step.strip_suffix("[*]") {
            Some(name) => (name, true),
            None => (step, false),
        };
        node = node.get("properties")?.get(name)?;
        if items {
            node = node.get("items")?;
        }
    }
    Some(node)
}

#[test]
fn printer_columns_and_scale_paths_name_schema_fields() {
    type Columns<'a> = &'a [(&'a str, &'a str, &'a str)];
    let expected: [(&str, Columns); 3] = [
        (
            "ScalableNodeGroup",
            &[
                ("Type", "string", ".spec.type"),
                ("Desired", "integer", ".spec.replicas"),
                ("Ready", "integer", ".status.replicas"),
                (
                    "Stabilized",
                    "string",
                    ".status.conditions[?(@.type==\"Stabilized\")].status",
                ),
                ("Age", "date", ".metadata.creationTimestamp"),
            ],
        ),
        (
            "HorizontalAutoscaler",
            &[
                ("Min", "integer", ".spec.minReplicas"),
                ("Desired", "integer", ".status.desiredReplicas"),
                ("Max", "integer", ".spec.maxReplicas"),
                ("Ready", "integer", ".status.readyReplicas"),
                ("Last Scale", "date", ".status.lastScaleTime"),
                ("Age", "date", ".metadata.creationTimestamp"),
            ],
        ),
        (
            "MetricsProducer",
            &[
                ("Kind", "string", ".status.kind"),
                ("Value", "string", ".status.value"),
                ("Age", "date", ".metadata.creationTimestamp"),
            ],
        ),
    ];
    for (kind, columns) in expected {
        let c = crd_of(kind);
        let schema = schema_of(&c);
        let got: Vec<(String, String, String)> = c.spec.versions[0]
            .additional_printer_columns
            .clone()
            .unwrap()
            .into_iter()
            .map(|col| (col.name, col.type_, col.json_path))
            .collect();
        let want: Vec<(String, String, String)> = columns
            .iter()
            .map(|(n, t, p)| (n.to_string(), t.to_string(), p.to_string()))
            .collect();
        assert_eq!(got, want, "{kind}");
        for (_, type_, path) in columns {
            if path.starts_with(".metadata") {
                continue;
            }
            let simple = path.replace("[?(@.type==\"Stabilized\")]", "[*]");
            let node =
                node_at(&schema, &simple).unwrap_or_else(|| panic!("{kind}: no field at {path}"));
            let schema_type = match *type_ {
                "date" => "string",
                t => t,
            };
            assert_eq!(node["type"], schema_type, "{kind} {path}");
            if *type_ == "date" {
                assert_eq!(node["format"], "date-time", "{kind} {path}");
            }
        }
    }

    let c = crd_of("ScalableNodeGroup");
    let schema = schema_of(&c);
    let scale = c.spec.versions[0]
        .subresources
        .as_ref()
        .unwrap()
        .scale
        .clone()
        .unwrap();
    assert_eq!(scale.spec_replicas_path, ".spec.replicas");
    assert_eq!(scale.status_replicas_path, ".status.replicas");
    assert_eq!(
        scale.label_selector_path.as_deref(),
        Some(".status.selector")
    );
    assert_eq!(
        node_at(&schema, ".spec.replicas").unwrap()["type"],
        "integer"
    );
    assert_eq!(
        node_at(&schema, ".status.replicas").unwrap()["type"],
        "integer"
    );
    assert_eq!(
        node_at(&schema, ".status.selector").unwrap()["type"],
        "string"
    );
    for kind in ["HorizontalAutoscaler", "MetricsProducer"] {
        let c = crd_of(kind);
        assert!(
            c.spec.versions[0]
                .subresources
                .as_ref()
                .unwrap()
                .scale
                .is_none(),
            "{kind}"
        );
    }
}

// ---- CEL rules, evaluated by kube-cel -------------------------------------

/// Every rule compiles, names only variables a CRD rule may use, and stays
/// within the API server's cost budget with the schema's bounds.
#[test]
fn cel_rules_compile_and_fit_the_cost_budget() {
    let mut rules = 0;
    for c in crd::all().unwrap() {
        let schema = schema_of(&c);
        let compiled = kube_cel::compile_schema(&schema);
        assert!(
            !has_compilation_errors(&compiled),
            "{}: {:?}",
            c.spec.names.kind,
            all_errors(&compiled)
        );
        let mut nodes = Vec::new();
        collect_rule_nodes(&schema, &mut nodes);
        for (node, node_rules) in nodes {
            let compiled = kube_cel::compile_schema(node);
            for rule in node_rules {
                rules += 1;
                let warnings =
                    kube_cel::analyze_rule(&rule, &compiled, kube_cel::ScopeContext::CrdValidation);
                assert!(
                    warnings.is_empty(),
                    "{}: {rule}: {warnings:?}",
                    c.spec.names.kind
                );
            }
        }
    }
    // 1 + 1 + 3·3 targets + 2 directions · (2 + 2) on the autoscaler, 1 on
    // the producer: a dropped rule changes the count.
    assert_eq!(rules, 1 + 1 + 9 + 8 + 1);
}

fn has_compilation_errors(s: &kube_cel::CompiledSchema) -> bool {
    !all_errors(s).is_empty()
}

fn all_errors(s: &kube_cel::CompiledSchema) -> Vec<String> {
    let mut out: Vec<String> = s
        .compilation_errors()
        .iter()
        .map(|e| e.to_string())
        .collect();
    for child in s
        .properties
        .values()
        .chain(s.items.as_deref())
        .chain(s.additional_properties.as_deref())
    {
        out.extend(all_errors(child));
    }
    out
}

fn collect_rule_nodes<'a>(node: &'a Value, out: &mut Vec<(&'a Value, Vec<String>)>) {
    if let Some(Value::Array(rules)) = node.get("x-kubernetes-validations") {
        let rules = rules
            .iter()
            .filter_map(|r| r["rule"].as_str().map(str::to_string))
            .collect();
        out.push((node, rules));
    }
    if let Some(Value::Object(props)) = node.get("properties") {
        props.values().for_each(|p| collect_rule_nodes(p, out));
    }
    if let Some(items) = node.get("items") {
        collect_rule_nodes(items, out);
    }
}

/// The messages of the CEL rules `object` fails, sorted.
fn cel_failures(kind: &str, object: &Value) -> Vec<String> {
    let schema = schema_of(&crd_of(kind));
    match kube_cel::Validator::new().validate(&schema, object, None) {
        Ok(()) => vec![],
        Err(errors) => {
            let mut msgs: Vec<String> = errors.iter().map(|e| e.message.clone()).collect();
            msgs.sort();
            msgs
        }
    }
}

fn autoscaler(spec: Value) -> Value {
    json!({
        "apiVersion": "autoscaling.karpenter.sh/v1alpha1",
        "kind": "HorizontalAutoscaler",
        "metadata": {"name": "a", "namespace": "default"},
        "spec": spec,
    })
}

fn prometheus(target: Value) -> Value {
    json!({"prometheus": {"query": "q", "target": target}})
}

#[test]
fn cel_rules_reject_what_core_validation_rejects() {
    let ok_target = json!({"type": "AverageValue", "value": 4});
    let base = |extra: Value| {
        let mut spec = json!({
            "scaleTargetRef": {"kind": "ScalableNodeGroup", "name": "g"},
            "maxReplicas": 10,
            "metrics": [prometheus(ok_target.clone())],
        });
        for (k, v) in extra.as_object().unwrap() {
            spec[k] = v.clone();
        }
        autoscaler(spec)
    };
    let policies = |p: Value| json!({"behavior": {"scaleDown": {"policies": [p]}}});
    // (case, object, the CEL messages it fails with; empty: admitted)
    let cases: Vec<(&str, Value, Vec<&str>)> = vec![
        ("valid", base(json!({})), vec![]),
        ("min = max", base(json!({"minReplicas": 10})), vec![]),
        (
            "min > max",
            base(json!({"minReplicas": 11})),
            vec!["minReplicas must be <= maxReplicas"],
        ),
        (
            "two sources",
            base(json!({"metrics": [{
                "prometheus": {"query": "q", "target": ok_target.clone()},
                "custom": {"type": "X", "target": ok_target.clone()}
            }]})),
            vec![
                "set exactly one metric source: prometheus, cloudWatch or custom (put each source in its own metric)",
            ],
        ),
        (
            "no target number",
            base(json!({"metrics": [prometheus(json!({"type": "Value"}))]})),
            vec![
                "set exactly one of value, averageValue or averageUtilization (value works for every type)",
            ],
        ),
        (
            "two target numbers",
            base(
                json!({"metrics": [prometheus(json!({"type": "AverageValue", "value": 1, "averageValue": 1}))]}),
            ),
            vec![
                "set exactly one of value, averageValue or averageUtilization (value works for every type)",
            ],
        ),
        (
            "averageValue with type Value",
            base(json!({"metrics": [prometheus(json!({"type": "Value", "averageValue": "1"}))]})),
            vec!["averageValue is only allowed with type AverageValue; use value"],
        ),
        (
            "averageUtilization with type Value",
            base(
                json!({"metrics": [prometheus(json!({"type": "Value", "averageUtilization": 60}))]}),
            ),
            vec!["averageUtilization is only allowed with type Utilization; use value"],
        ),
        (
            "HPA spellings",
            base(json!({"metrics": [
                prometheus(json!({"type": "AverageValue", "averageValue": "1.5"})),
                prometheus(json!({"type": "Utilization", "averageUtilization": 60}))
            ]})),
            vec![],
        ),
        (
            "policy ok",
            base(policies(
                json!({"type": "Pods", "value": 4, "periodSeconds": 60}),
            )),
            vec![],
        ),
        (
            "policy value 0",
            base(policies(
                json!({"type": "Percent", "value": 0, "periodSeconds": 60}),
            )),
            vec![
                "value must be > 0: the replicas (Count) or percent (Percent) one period may change",
            ],
        ),
        (
            "policy period 0",
            base(policies(
                json!({"type": "Count", "value": 1, "periodSeconds": 0}),
            )),
            vec!["periodSeconds must be between 1 and 1800 (seconds)"],
        ),
        (
            "policy period 1801",
            base(policies(
                json!({"type": "Count", "value": 1, "periodSeconds": 1801}),
            )),
            vec!["periodSeconds must be between 1 and 1800 (seconds)"],
        ),
        (
            "policy period 1800",
            base(policies(
                json!({"type": "Count", "value": 1, "periodSeconds": 1800}),
            )),
            vec![],
        ),
        (
            "window 3601",
            base(json!({"behavior": {"scaleUp": {"stabilizationWindowSeconds": 3601}}})),
            vec!["stabilizationWindowSeconds must be between 0 and 3600 (seconds)"],
        ),
        (
            "window -1",
            base(json!({"behavior": {"scaleUp": {"stabilizationWindowSeconds": -1}}})),
            vec!["stabilizationWindowSeconds must be between 0 and 3600 (seconds)"],
        ),
        (
            "window 3600",
            base(json!({"behavior": {"scaleDown": {"stabilizationWindowSeconds": 3600}}})),
            vec![],
        ),
        (
            "tolerance negative string",
            base(json!({"behavior": {"scaleUp": {"tolerance": "-0.1"}}})),
            vec!["tolerance must be >= 0, e.g. 0.1 (written as a string: \"0.1\")"],
        ),
        (
            "tolerance negative integer",
            base(json!({"behavior": {"scaleDown": {"tolerance": -1}}})),
            vec!["tolerance must be >= 0, e.g. 0.1 (written as a string: \"0.1\")"],
        ),
        (
            "tolerance string",
            base(json!({"behavior": {"scaleUp": {"tolerance": "0.05"}}})),
            vec![],
        ),
        (
            "tolerance integer 0",
            base(json!({"behavior": {"scaleUp": {"tolerance": 0}}})),
            vec![],
        ),
    ];
    for (name, object, want) in cases {
        assert_eq!(
            cel_failures("HorizontalAutoscaler", &object),
            want,
            "{name}"
        );
        // Core's own validation agrees on every case.
        let parsed: core::HorizontalAutoscaler = serde_json::from_value(object.clone()).unwrap();
        assert_eq!(
            parsed.validate().is_ok(),
            want.is_empty(),
            "{name}: core validation"
        );
    }
}

#[test]
fn cel_rule_requires_exactly_one_producer_kind() {
    let producer = |spec: Value| {
        json!({"apiVersion": "autoscaling.karpenter.sh/v1alpha1", "kind": "MetricsProducer",
               "metadata": {"name": "p", "namespace": "default"}, "spec": spec})
    };
    let one = "set exactly one of queue, reservedCapacity, scheduleSpec or pendingCapacity (split several into one MetricsProducer each)";
    let cases: Vec<(&str, Value, Vec<&str>)> = vec![
        (
            "queue",
            producer(json!({"queue": {"type": "AWSSQSQueue", "id": "q"}})),
            vec![],
        ),
        (
            "reserved",
            producer(json!({"reservedCapacity": {"nodeSelector": {"a": "b"}}})),
            vec![],
        ),
        (
            "schedule",
            producer(json!({"scheduleSpec": {"defaultReplicas": 1}})),
            vec![],
        ),
        ("pending", producer(json!({"pendingCapacity": {}})), vec![]),
        ("none", producer(json!({})), vec![one]),
        (
            "two",
            producer(json!({"queue": {"type": "AWSSQSQueue", "id": "q"}, "reservedCapacity": {}})),
            vec![one],
        ),
    ];
    for (name, object, want) in cases {
        assert_eq!(cel_failures("MetricsProducer", &object), want, "{name}");
        let parsed: core::MetricsProducer = serde_json::from_value(object).unwrap();
        assert_eq!(
            parsed.validate().is_ok(),
            want.is_empty(),
            "{name}: core validation"
        );
    }
}

#[test]
fn value_bounds_match_core_validation() {
    // Bounds the schema itself enforces (no CEL): checked with the same
    // value validation the API server applies.
    let sng = |spec: Value| {
        json!({"apiVersion": "autoscaling.karpenter.sh/v1alpha1", "kind": "ScalableNodeGroup",
        "metadata": {"name": "g"}, "spec": spec})
    };
    let schema = schema_of(&crd_of("ScalableNodeGroup"));
    let cases = [
        (
            sng(json!({"type": "AWSEKSNodeGroup", "id": "g", "replicas": 0})),
            vec![],
        ),
        (
            sng(json!({"type": "AWSEKSNodeGroup", "id": "g", "replicas": -1})),
            vec![".spec.replicas: -1 is below the minimum 0"],
        ),
        (
            sng(json!({"type": "", "id": "g"})),
            vec![".spec.type: shorter than minLength"],
        ),
        (
            sng(json!({"type": "X"})),
            vec![".spec: required field id is missing"],
        ),
    ];
    for (object, want) in cases {
        assert_eq!(value_problems(&schema, &object), want, "{object}");
        let parsed: Result<core::ScalableNodeGroup, _> = serde_json::from_value(object.clone());
        let core_ok = parsed.is_ok_and(|p| p.validate().is_ok());
        assert_eq!(core_ok, want.is_empty(), "{object}: core");
    }

    let schema = schema_of(&crd_of("HorizontalAutoscaler"));
    let ha = |extra: Value| {
        let mut spec = json!({"scaleTargetRef": {"kind": "ScalableNodeGroup", "name": "g"}, "maxReplicas": 1,
            "metrics": [prometheus(json!({"type": "Value", "value": 1}))]});
        for (k, v) in extra.as_object().unwrap() {
            spec[k] = v.clone();
        }
        autoscaler(spec)
    };
    let cases = [
        (ha(json!({})), vec![]),
        (
            ha(json!({"maxReplicas": 0, "minReplicas": 0})),
            vec![".spec.maxReplicas: 0 is below the minimum 1"],
        ),
        (
            ha(json!({"minReplicas": -1})),
            vec![".spec.minReplicas: -1 is below the minimum 0"],
        ),
        (
            ha(json!({"metrics": []})),
            vec![".spec.metrics: fewer items than minItems"],
        ),
        (
            ha(json!({"behavior": {"scaleUp": {"policies": []}}})),
            vec![".spec.behavior.scaleUp.policies: fewer items than minItems"],
        ),
        (
            ha(json!({"behavior": {"scaleUp": {"selectPolicy": "Most"}}})),
            vec![".spec.behavior.scaleUp.selectPolicy: \"Most\" is not one of the enum values"],
        ),
        (
            ha(
                json!({"metrics": [prometheus(json!({"type": "Utilization", "averageUtilization": 0}))]}),
            ),
            vec![".spec.metrics[0].prometheus.target.averageUtilization: 0 is below the minimum 1"],
        ),
    ];
    for (object, want) in cases {
        assert_eq!(value_problems(&schema, &object), want, "{object}");
        let parsed: Result<core::HorizontalAutoscaler, _> = serde_json::from_value(object.clone());
        let core_ok = parsed.is_ok_and(|p| p.validate().is_ok());
        assert_eq!(core_ok, want.is_empty(), "{object}: core");
    }
    let mut omitted = ha(json!({}));
    omitted["spec"].as_object_mut().unwrap().remove("metrics");
    assert_eq!(
        value_problems(&schema, &omitted),
        [".spec: required field metrics is missing"]
    );
}

// ---- what the API server stores and returns --------------------------------

fn fixture(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/kubectl")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `kubectl get -o yaml` output, as the API server returns it (full
/// metadata, managedFields, status with the controller's extra fields): the
/// schema keeps every field (nothing pruned, every bound met), core's
/// strict parsing accepts it, and the Kubernetes types read it too.
#[test]
fn kubectl_get_output_passes_the_schema_and_parses_strictly() {
    let ha_yaml = fixture("horizontalautoscaler.yaml");
    let ha: core::HorizontalAutoscaler = parse::from_yaml_str(&ha_yaml).unwrap();
    ha.validate().unwrap();
    assert_eq!(ha.spec.metrics.len(), 2);
    let status = ha.status.as_ref().unwrap();
    assert_eq!((status.current_replicas, status.desired_replicas), (4, 6));
    assert_eq!(status.history.as_ref().unwrap().scale_events.len(), 1);
    let k8s: HorizontalAutoscaler = serde_saphyr::from_str(&ha_yaml).unwrap();
    assert_eq!(k8s.status.as_ref().unwrap().ready_replicas, Some(4));
    assert_eq!(k8s.metadata.resource_version.as_deref(), Some("48213"));
    assert_eq!(k8s.to_core(), ha);

    let sng_yaml = fixture("scalablenodegroup.yaml");
    let sng: core::ScalableNodeGroup = parse::from_yaml_str(&sng_yaml).unwrap();
    sng.validate().unwrap();
    let k8s_sng: ScalableNodeGroup = serde_saphyr::from_str(&sng_yaml).unwrap();
    assert_eq!(
        k8s_sng.status.as_ref().unwrap().selector.as_deref(),
        crd::node_selector(&k8s_sng.spec).as_deref()
    );
    assert_eq!(k8s_sng.to_core(), sng);

    let mp_yaml = fixture("metricsproducer.yaml");
    let mp: core::MetricsProducer = parse::from_yaml_str(&mp_yaml).unwrap();
    mp.validate().unwrap();
    let k8s_mp: MetricsProducer = serde_saphyr::from_str(&mp_yaml).unwrap();
    assert_eq!(
        k8s_mp.status.as_ref().unwrap().kind.as_deref(),
        crd::producer_kind(&k8s_mp.spec)
    );
    assert_eq!(k8s_mp.to_core(), mp);

    for (kind, yaml) in [
        ("HorizontalAutoscaler", &ha_yaml),
        ("ScalableNodeGroup", &sng_yaml),
        ("MetricsProducer", &mp_yaml),
    ] {
        let value: Value = serde_saphyr::from_str(yaml).unwrap();
        let schema = schema_of(&crd_of(kind));
        // metadata is the API server's; the rest must survive pruning whole.
        assert_eq!(
            value_problems(&schema, &value),
            Vec::<String>::new(),
            "{kind}"
        );
        assert_eq!(cel_failures(kind, &value), Vec::<String>::new(), "{kind}");
    }
}

/// What the controller writes (every status field set) is kept whole by
/// the schema and reads back with core's parser.
#[test]
fn written_objects_survive_the_schema_and_read_back() {
    let ha: core::HorizontalAutoscaler =
        parse::from_yaml_str(&fixture("horizontalautoscaler.yaml")).unwrap();
    let mut k8s = HorizontalAutoscaler::new("default", "ml-training", ha.spec.clone());
    let mut status = crd::HorizontalAutoscalerStatus {
        core: ha.status.clone().unwrap(),
        ready_replicas: Some(4),
    };
    status.core.history.as_mut().unwrap().algorithm_state = vec![core::AlgorithmState {
        integral: 1.5,
        last_error: Some(-0.25),
        last_time: Some("2026-01-05T10:15:00Z".parse().unwrap()),
    }];
    status.core.current_metrics[0].error = Some("query returned no series".to_string());
    k8s.status = Some(status);
    let value = serde_json::to_value(&k8s).unwrap();
    assert_eq!(value["apiVersion"], "autoscaling.karpenter.sh/v1alpha1");
    assert_eq!(value["kind"], "HorizontalAutoscaler");
    let schema = schema_of(&crd_of("HorizontalAutoscaler"));
    assert_eq!(value_problems(&schema, &value), Vec::<String>::new());
    let back: core::HorizontalAutoscaler = parse::from_json_str(&value.to_string()).unwrap();
    assert_eq!(back.status, k8s.status.as_ref().map(|s| s.core.clone()));
    let back_k8s: HorizontalAutoscaler = serde_json::from_value(value).unwrap();
    assert_eq!(back_k8s, k8s);

    let mp: core::MetricsProducer = parse::from_yaml_str(&fixture("metricsproducer.yaml")).unwrap();
    let mut k8s = MetricsProducer::new("default", "business-hours", mp.spec.clone());
    k8s.status = Some(crd::MetricsProducerStatus {
        core: core::MetricsProducerStatus {
            last_error: Some("reading queue failed".into()),
            ..mp.status.clone().unwrap()
        },
        kind: crd::producer_kind(&mp.spec).map(str::to_string),
        value: Some(crd::summarize_values(&mp.status.as_ref().unwrap().values)),
    });
    let value = serde_json::to_value(&k8s).unwrap();
    let schema = schema_of(&crd_of("MetricsProducer"));
    assert_eq!(value_problems(&schema, &value), Vec::<String>::new());
    let back: core::MetricsProducer = parse::from_json_str(&value.to_string()).unwrap();
    assert_eq!(back.spec, mp.spec);

    let spec = core::ScalableNodeGroupSpec {
        type_: "AWSEC2AutoScalingGroup".into(),
        id: "web".into(),
        replicas: Some(3),
    };
    let mut k8s = ScalableNodeGroup::new("default", "web", spec);
    k8s.status = Some(crd::ScalableNodeGroupStatus {
        core: core::ScalableNodeGroupStatus {
            replicas: Some(2),
            conditions: vec![],
            last_error: Some("throttled".into()),
        },
        selector: None,
    });
    let value = serde_json::to_value(&k8s).unwrap();
    let schema = schema_of(&crd_of("ScalableNodeGroup"));
    assert_eq!(value_problems(&schema, &value), Vec::<String>::new());
    let back: core::ScalableNodeGroup = parse::from_json_str(&value.to_string()).unwrap();
    assert_eq!(back.status.unwrap().replicas, Some(2));
}

// ---- `karpenter crds` and deploy/crds ------------------------------------

#[test]
fn karpenter_crds_prints_the_three_definitions() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_karpenter"))
        .arg("crds")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with(crd::cli::HEADER));
    let docs: Vec<CustomResourceDefinition> = serde_saphyr::from_multiple(&text).unwrap();
    assert_eq!(docs, crd::all().unwrap());
}

#[test]
fn karpenter_crds_dir_writes_one_file_per_definition() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_karpenter"))
        .args(["crds", "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "autoscaling.karpenter.sh_horizontalautoscalers.yaml",
            "autoscaling.karpenter.sh_metricsproducers.yaml",
            "autoscaling.karpenter.sh_scalablenodegroups.yaml",
        ]
    );
    let missing = std::process::Command::new(env!("CARGO_BIN_EXE_karpenter"))
        .args(["crds", "--dir"])
        .arg(dir.path().join("no/such/dir"))
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(1));
    let err = String::from_utf8_lossy(&missing.stderr);
    assert!(
        err.contains("no/such/dir") && err.contains("check that the directory exists"),
        "{err}"
    );
}

#[test]
fn deploy_crds_are_up_to_date() {
    let dir: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/crds");
    let expected = crd::cli::files(&dir).unwrap();
    let mut stale = Vec::new();
    for (path, text) in &expected {
        match std::fs::read_to_string(path) {
            Ok(on_disk) if &on_disk == text => {}
            Ok(_) => stale.push(format!("{} differs", path.display())),
            Err(e) => stale.push(format!("{}: {e}", path.display())),
        }
    }
    let known: Vec<&PathBuf> = expected.iter().map(|(p, _)| p).collect();
    for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "yaml") && !known.contains(&&path) {
            stale.push(format!(
                "{} is not generated by `karpenter crds` (remove it)",
                path.display()
            ));
        }
    }
    assert!(
        stale.is_empty(),
        "deploy/crds is stale:\n  {}\nRegenerate it from the workspace root with:\n  {}",
        stale.join("\n  "),
        crd::cli::REGENERATE
    );
}
