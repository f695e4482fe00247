//! A checker of the rules the Kubernetes API server applies to a
//! CustomResourceDefinition's schema (`apiextensions.k8s.io/v1`), so a
//! definition that would be rejected at `kubectl apply` fails a test here
//! instead.
//!
//! The structural-schema rules, as Kubernetes publishes them:
//!
//! 1. every node (the root, each property, each `additionalProperties` and
//!    `items` schema) has a non-empty `type`, unless it is
//!    `x-kubernetes-int-or-string: true` or
//!    `x-kubernetes-preserve-unknown-fields: true`;
//! 2. a field or item given inside `allOf`, `anyOf`, `oneOf` or `not` is
//!    given outside of them too;
//! 3. `description`, `type`, `default`, `additionalProperties` and
//!    `nullable` are not set inside `allOf`, `anyOf`, `oneOf` or `not`,
//!    except in the two int-or-string patterns;
//! 4. under `metadata`, only `name` and `generateName` may be restricted.
//!
//! And the other `v1` rules a generator can break: no `$ref` (nor
//! `definitions`, `$schema`, `uniqueItems: true`, or any keyword outside
//! `JSONSchemaProps`), `additionalProperties` never beside `properties`,
//! `items` one schema, types from the OpenAPI set, `enum` values and
//! `default`s of the node's type that satisfy its bounds, `required` naming
//! existing properties, and well-formed `x-kubernetes-validations`.
//!
//! ```
//! use karpenter_k8s::crd::structural::check_schema;
//!
//! let bad = serde_json::json!({
//!     "type": "object",
//!     "properties": {"size": {"anyOf": [{"type": "integer"}, {"type": "array"}]}}
//! });
//! let violations = check_schema(&bad);
//! assert!(violations.iter().any(|v| v.rule == "typed" && v.path == ".size"), "{violations:?}");
//! ```

use std::fmt;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use serde_json::{Map, Value};

/// One broken rule, at one node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The node, as a path of properties (`[*]` for array items, `{*}` for
    /// map values), e.g. `.spec.metrics[*].prometheus`.
    pub path: String,
    /// The rule's short name, e.g. `typed`.
    pub rule: &'static str,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = if self.path.is_empty() {
            "<root>"
        } else {
            &self.path
        };
        write!(f, "{path}: [{}] {}", self.rule, self.message)
    }
}

/// The keywords `JSONSchemaProps` has that a `v1` definition may use.
const KNOWN_KEYWORDS: &[&str] = &[
    "description",
    "type",
    "format",
    "title",
    "default",
    "maximum",
    "exclusiveMaximum",
    "minimum",
    "exclusiveMinimum",
    "maxLength",
    "minLength",
    "pattern",
    "maxItems",
    "minItems",
    "multipleOf",
    "enum",
    "maxProperties",
    "minProperties",
    "required",
    "items",
    "allOf",
    "oneOf",
    "anyOf",
    "not",
    "properties",
    "additionalProperties",
    "nullable",
    "example",
    "externalDocs",
    "x-kubernetes-preserve-unknown-fields",
    "x-kubernetes-embedded-resource",
    "x-kubernetes-int-or-string",
    "x-kubernetes-list-map-keys",
    "x-kubernetes-list-type",
    "x-kubernetes-map-type",
    "x-kubernetes-validations",
];

/// The keywords rule 3 forbids inside a junctor.
const FORBIDDEN_IN_JUNCTORS: &[&str] = &[
    "description",
    "type",
    "default",
    "additionalProperties",
    "nullable",
];

const TYPES: &[&str] = &["object", "array", "string", "integer", "number", "boolean"];

/// The formats the API server knows (others are accepted with a warning).
const FORMATS: &[&str] = &[
    "bsonobjectid",
    "uri",
    "email",
    "hostname",
    "ipv4",
    "ipv6",
    "cidr",
    "mac",
    "uuid",
    "uuid3",
    "uuid4",
    "uuid5",
    "isbn",
    "isbn10",
    "isbn13",
    "creditcard",
    "ssn",
    "hexcolor",
    "rgbcolor",
    "byte",
    "password",
    "date",
    "duration",
    "datetime",
    "date-time",
    "int32",
    "int64",
    "float",
    "double",
];

const VALIDATION_KEYS: &[&str] = &[
    "rule",
    "message",
    "messageExpression",
    "reason",
    "fieldPath",
    "optionalOldSelf",
];

/// Every violation in every version's schema of `crd`, each path prefixed
/// with the version name.
pub fn check_crd(crd: &CustomResourceDefinition) -> Vec<Violation> {
    let mut out = Vec::new();
    for version in &crd.spec.versions {
        let schema = version
            .schema
            .as_ref()
            .and_then(|s| s.open_api_v3_schema.as_ref());
        let Some(schema) = schema else {
            out.push(Violation {
                path: version.name.clone(),
                rule: "schema",
                message: "the version has no openAPIV3Schema; apiextensions.k8s.io/v1 requires one"
                    .to_string(),
            });
            continue;
        };
        match serde_json::to_value(schema) {
            Ok(value) => out.extend(check_schema(&value).into_iter().map(|mut v| {
                v.path = format!("{}{}", version.name, v.path);
                v
            })),
            Err(e) => out.push(Violation {
                path: version.name.clone(),
                rule: "schema",
                message: format!("the schema does not serialize: {e}"),
            }),
        }
    }
    out
}

/// Every violation in a root `openAPIV3Schema` (as JSON).
pub fn check_schema(root: &Value) -> Vec<Violation> {
    let mut c = Checker::default();
    c.node(root, "", Place::Root);
    if let Some(meta) = root.get("properties").and_then(|p| p.get("metadata")) {
        c.metadata(meta);
    }
    c.out
}

/// Where a node sits, for the rules that depend on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    /// The root schema.
    Root,
    /// A property, `items` or `additionalProperties` schema: must be typed.
    Field,
    /// A branch of `allOf` / `anyOf` / `oneOf` / `not`.
    Junctor,
}

#[derive(Default)]
struct Checker {
    out: Vec<Violation>,
}

impl Checker {
    fn push(&mut self, path: &str, rule: &'static str, message: impl Into<String>) {
        self.out.push(Violation {
            path: path.to_string(),
            rule,
            message: message.into(),
        });
    }

    fn node(&mut self, node: &Value, path: &str, place: Place) {
        let Some(obj) = node.as_object() else {
            self.push(
                path,
                "schema-object",
                format!("a schema must be an object, got {node}"),
            );
            return;
        };
        self.keywords(obj, path);
        let int_or_string = obj.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true));
        let preserve = obj.get("x-kubernetes-preserve-unknown-fields");
        let type_ = obj.get("type");

        if place == Place::Junctor {
            for key in FORBIDDEN_IN_JUNCTORS {
                let int_or_string_branch = *key == "type" && is_int_or_string_branch(obj);
                if obj.contains_key(*key) && !int_or_string_branch {
                    self.push(
                        path,
                        "junctor-keywords",
                        format!("`{key}` must not be set inside allOf, anyOf, oneOf or not"),
                    );
                }
            }
        } else if type_.is_none() && !int_or_string && preserve != Some(&Value::Bool(true)) {
            self.push(
                path,
                "typed",
                "the node has no type; set one, or x-kubernetes-int-or-string / x-kubernetes-preserve-unknown-fields",
            );
        }
        if int_or_string && type_.is_some() && place != Place::Junctor {
            self.push(
                path,
                "int-or-string",
                "x-kubernetes-int-or-string must not have a type",
            );
        }
        match type_ {
            None => {}
            Some(Value::String(t)) if TYPES.contains(&t.as_str()) => {}
            Some(t) => self.push(
                path,
                "typed",
                format!("type must be one of {TYPES:?}, got {t}"),
            ),
        }
        if let Some(p) = preserve {
            if p != &Value::Bool(true) {
                self.push(
                    path,
                    "preserve-unknown",
                    "x-kubernetes-preserve-unknown-fields must be true when set",
                );
            }
            if type_.is_some_and(|t| t != "object") {
                self.push(
                    path,
                    "preserve-unknown",
                    "x-kubernetes-preserve-unknown-fields needs type object or no type",
                );
            }
        }
        if int_or_string {
            self.int_or_string(obj, path);
        }
        if let Some(format) = obj.get("format")
            && !format.as_str().is_some_and(|f| FORMATS.contains(&f))
        {
            self.push(
                path,
                "format",
                format!("format {format} is not one the API server knows"),
            );
        }
        if obj.get("nullable").is_some_and(|n| !n.is_boolean()) {
            self.push(path, "nullable", "nullable must be a boolean");
        }
        self.children(obj, path);
        self.junctors(obj, path);
        self.values(obj, path);
        if let Some(rules) = obj.get("x-kubernetes-validations") {
            self.validations(rules, path);
        }
    }

    fn keywords(&mut self, obj: &Map<String, Value>, path: &str) {
        for key in obj.keys() {
            if !KNOWN_KEYWORDS.contains(&key.as_str()) {
                let why = match key.as_str() {
                    "$ref" => "apiextensions.k8s.io/v1 forbids $ref; inline the subschema",
                    "definitions" | "$defs" => "definitions are not allowed; inline the subschema",
                    "uniqueItems" => {
                        "uniqueItems is forbidden (quadratic to check); use x-kubernetes-list-type: set"
                    }
                    _ => "not a JSONSchemaProps keyword; the API server rejects or drops it",
                };
                self.push(path, "known-keywords", format!("`{key}`: {why}"));
            }
        }
    }

    fn children(&mut self, obj: &Map<String, Value>, path: &str) {
        match obj.get("properties") {
            Some(Value::Object(props)) => {
                for (name, child) in props {
                    self.node(child, &format!("{path}.{name}"), Place::Field);
                }
                if obj.contains_key("additionalProperties") {
                    self.push(
                        path,
                        "properties-xor-additional",
                        "additionalProperties must not be set beside properties",
                    );
                }
            }
            Some(other) => self.push(
                path,
                "properties",
                format!("properties must be a map, got {other}"),
            ),
            None => {}
        }
        match obj.get("additionalProperties") {
            Some(extra @ Value::Object(_)) => self.node(extra, &format!("{path}{{*}}"), Place::Field),
            Some(Value::Bool(_)) => self.push(
                path,
                "additional-properties",
                "additionalProperties must be a schema (use x-kubernetes-preserve-unknown-fields for free-form values)",
            ),
            Some(other) => self.push(path, "additional-properties", format!("not a schema: {other}")),
            None => {}
        }
        match obj.get("items") {
            Some(items @ Value::Object(_)) => self.node(items, &format!("{path}[*]"), Place::Field),
            Some(other) => self.push(
                path,
                "items-single",
                format!("items must be one schema, got {other}"),
            ),
            None if obj.get("type") == Some(&Value::String("array".into())) => {
                self.push(path, "items-single", "an array must say what its items are")
            }
            None => {}
        }
        if obj.get("type") == Some(&Value::String("object".into()))
            && let Some(Value::Array(required)) = obj.get("required")
        {
            let props = obj.get("properties").and_then(Value::as_object);
            for name in required {
                let known = name
                    .as_str()
                    .is_some_and(|n| props.is_some_and(|p| p.contains_key(n)));
                if !known {
                    self.push(
                        path,
                        "required-exist",
                        format!("required names {name}, which is not a property"),
                    );
                }
            }
        }
    }

    /// Rule 2 and the junctor branches themselves.
    fn junctors(&mut self, obj: &Map<String, Value>, path: &str) {
        let outside_props = obj.get("properties").and_then(Value::as_object);
        let mut branches: Vec<(&str, &Value)> = Vec::new();
        for key in ["allOf", "anyOf", "oneOf"] {
            match obj.get(key) {
                Some(Value::Array(list)) => branches.extend(list.iter().map(|b| (key, b))),
                Some(other) => self.push(
                    path,
                    "junctor",
                    format!("{key} must be a list, got {other}"),
                ),
                None => {}
            }
        }
        if let Some(not) = obj.get("not") {
            branches.push(("not", not));
        }
        for (key, branch) in branches {
            let branch_path = format!("{path}({key})");
            self.node(branch, &branch_path, Place::Junctor);
            if let Some(props) = branch.get("properties").and_then(Value::as_object) {
                for name in props.keys() {
                    if !outside_props.is_some_and(|p| p.contains_key(name)) {
                        self.push(
                            path,
                            "junctor-fields",
                            format!("field {name:?} is given inside {key} but not outside it"),
                        );
                    }
                }
            }
            if branch.get("items").is_some() && !obj.contains_key("items") {
                self.push(
                    path,
                    "junctor-fields",
                    format!("items are given inside {key} but not outside it"),
                );
            }
        }
    }

    fn int_or_string(&mut self, obj: &Map<String, Value>, path: &str) {
        let allowed = [
            Value::String("integer".into()),
            Value::String("string".into()),
        ];
        let branch_types = |v: &Value| -> Option<Vec<Value>> {
            v.as_array()?
                .iter()
                .map(|b| b.get("type").cloned())
                .collect::<Option<Vec<_>>>()
        };
        let any_of_ok = |v: &Value| branch_types(v).is_some_and(|t| t == allowed);
        let ok = match (obj.get("anyOf"), obj.get("allOf")) {
            (None, None) => true,
            (Some(any), None) => any_of_ok(any),
            (None, Some(all)) => all.as_array().is_some_and(|list| {
                list.first()
                    .and_then(|first| first.get("anyOf"))
                    .is_some_and(any_of_ok)
            }),
            (Some(_), Some(_)) => false,
        };
        if !ok {
            self.push(
                path,
                "int-or-string",
                "x-kubernetes-int-or-string allows only anyOf: [{type: integer}, {type: string}] (optionally inside allOf)",
            );
        }
    }

    /// `enum` and `default` values fit the node.
    fn values(&mut self, obj: &Map<String, Value>, path: &str) {
        if let Some(values) = obj.get("enum") {
            match values.as_array() {
                Some(list) if !list.is_empty() => {
                    for v in list {
                        if let Some(problem) = type_mismatch(obj, v) {
                            self.push(path, "enum-typed", format!("enum value {v}: {problem}"));
                        }
                    }
                }
                _ => self.push(path, "enum-typed", "enum must be a non-empty list"),
            }
        }
        if let Some(default) = obj.get("default") {
            let mut problems = Vec::new();
            validate_value(&Value::Object(obj.clone()), default, "", &mut problems);
            for p in problems {
                self.push(path, "default-valid", format!("default {default}: {p}"));
            }
        }
    }

    fn validations(&mut self, rules: &Value, path: &str) {
        let Some(list) = rules.as_array() else {
            self.push(
                path,
                "validations",
                "x-kubernetes-validations must be a list",
            );
            return;
        };
        for rule in list {
            let Some(r) = rule.as_object() else {
                self.push(
                    path,
                    "validations",
                    format!("a validation must be an object, got {rule}"),
                );
                continue;
            };
            let rule_text = r.get("rule").and_then(Value::as_str).unwrap_or_default();
            if rule_text.trim().is_empty() {
                self.push(
                    path,
                    "validations",
                    "every validation needs a non-empty rule",
                );
            }
            if r.get("message").is_some_and(|m| {
                m.as_str()
                    .is_none_or(|s| s.trim().is_empty() || s.contains('\n'))
            }) {
                self.push(
                    path,
                    "validations",
                    "message must be a non-empty single line",
                );
            }
            for key in r.keys() {
                if !VALIDATION_KEYS.contains(&key.as_str()) {
                    self.push(
                        path,
                        "validations",
                        format!("unknown validation field `{key}`"),
                    );
                }
            }
        }
    }

    /// Rule 4: `metadata` restricts only `name` and `generateName`.
    fn metadata(&mut self, meta: &Value) {
        let Some(obj) = meta.as_object() else {
            return;
        };
        for key in obj.keys() {
            match key.as_str() {
                "type" | "description" => {}
                "properties" => {
                    let names = obj["properties"]
                        .as_object()
                        .map(|p| p.keys().collect::<Vec<_>>());
                    for name in names.unwrap_or_default() {
                        if name != "name" && name != "generateName" {
                            self.push(
                                ".metadata",
                                "metadata",
                                format!("only name and generateName may be restricted, not {name}"),
                            );
                        }
                    }
                }
                other => self.push(
                    ".metadata",
                    "metadata",
                    format!("`{other}` must not be set on metadata"),
                ),
            }
        }
    }
}

/// Whether a junctor branch is `{type: integer}` or `{type: string}` of an
/// int-or-string `anyOf` (the one place a junctor may name a type).
fn is_int_or_string_branch(obj: &Map<String, Value>) -> bool {
    obj.len() == 1
        && matches!(
            obj.get("type").and_then(Value::as_str),
            Some("integer" | "string")
        )
}

/// Why `v` is not of the node's type, if it is not.
fn type_mismatch(node: &Map<String, Value>, v: &Value) -> Option<String> {
    if v.is_null() {
        return (node.get("nullable") != Some(&Value::Bool(true)))
            .then(|| "null, but the node is not nullable".to_string());
    }
    if node.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true)) {
        return (!(v.is_i64() || v.is_u64() || v.is_string()))
            .then(|| "not an integer or a string".to_string());
    }
    let t = node.get("type").and_then(Value::as_str)?;
    let ok = match t {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "integer" => v.is_i64() || v.is_u64(),
        "number" => v.is_number(),
        "boolean" => v.is_boolean(),
        _ => true,
    };
    (!ok).then(|| format!("not of type {t}"))
}

/// What the API server would reject or prune in `value` (an object, or a
/// `default`), checked against `schema`'s structure and value validations:
/// type, nullability, `enum`, `minimum` / `maximum`, lengths, item counts,
/// required properties, and fields the schema does not know (which the API
/// server silently prunes), sorted. An object's `metadata` is left to the
/// API server's own schema. CEL rules and `pattern` are not evaluated.
///
/// ```
/// use serde_json::json;
/// use karpenter_k8s::crd::structural::value_problems;
///
/// let schema = json!({"type": "object", "properties": {"replicas": {"type": "integer", "minimum": 0}}});
/// assert!(value_problems(&schema, &json!({"replicas": 3})).is_empty());
/// let problems = value_problems(&schema, &json!({"replicas": -1, "replica": 2}));
/// assert_eq!(problems, [".replicas: -1 is below the minimum 0", "unknown field replica would be pruned"]);
/// ```
pub fn value_problems(schema: &Value, value: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    validate_value(schema, value, "", &mut problems);
    // Object fields are visited in the parsed value's order, which depends
    // on serde_json's `preserve_order` feature (other crates switch it on).
    problems.sort();
    problems
}

/// Checks `value` against the value validations of `schema` (type, enum,
/// bounds, lengths, required properties, below properties and items),
/// pushing one message per problem.
fn validate_value(schema: &Value, value: &Value, path: &str, problems: &mut Vec<String>) {
    let Some(s) = schema.as_object() else {
        return;
    };
    let at = |msg: String| {
        if path.is_empty() {
            msg
        } else {
            format!("{path}: {msg}")
        }
    };
    if let Some(p) = type_mismatch(s, value) {
        problems.push(at(p));
        return;
    }
    if let Some(Value::Array(allowed)) = s.get("enum")
        && !allowed.contains(value)
    {
        problems.push(at(format!("{value} is not one of the enum values")));
    }
    if let Some(n) = value.as_f64() {
        if let Some(min) = s.get("minimum").and_then(Value::as_f64)
            && n < min
        {
            problems.push(at(format!("{n} is below the minimum {min}")));
        }
        if let Some(max) = s.get("maximum").and_then(Value::as_f64)
            && n > max
        {
            problems.push(at(format!("{n} is above the maximum {max}")));
        }
    }
    if let Some(text) = value.as_str() {
        let len = text.chars().count() as u64;
        if s.get("minLength")
            .and_then(Value::as_u64)
            .is_some_and(|m| len < m)
        {
            problems.push(at("shorter than minLength".to_string()));
        }
        if s.get("maxLength")
            .and_then(Value::as_u64)
            .is_some_and(|m| len > m)
        {
            problems.push(at("longer than maxLength".to_string()));
        }
    }
    if let Some(list) = value.as_array() {
        let len = list.len() as u64;
        if s.get("minItems")
            .and_then(Value::as_u64)
            .is_some_and(|m| len < m)
        {
            problems.push(at("fewer items than minItems".to_string()));
        }
        if s.get("maxItems")
            .and_then(Value::as_u64)
            .is_some_and(|m| len > m)
        {
            problems.push(at("more items than maxItems".to_string()));
        }
        if let Some(items) = s.get("items") {
            for (i, item) in list.iter().enumerate() {
                validate_value(items, item, &format!("{path}[{i}]"), problems);
            }
        }
    }
    if let Some(map) = value.as_object() {
        if let Some(Value::Array(required)) = s.get("required") {
            for name in required.iter().filter_map(Value::as_str) {
                if !map.contains_key(name) {
                    problems.push(at(format!("required field {name} is missing")));
                }
            }
        }
        let props = s.get("properties").and_then(Value::as_object);
        for (k, v) in map {
            if path.is_empty() && k == "metadata" {
                // The API server's own schema applies to an object's metadata.
                continue;
            }
            match props.and_then(|p| p.get(k)) {
                Some(child) => validate_value(child, v, &format!("{path}.{k}"), problems),
                None => {
                    if let Some(extra) = s.get("additionalProperties") {
                        validate_value(extra, v, &format!("{path}.{k}"), problems);
                    } else if s.get("x-kubernetes-preserve-unknown-fields")
                        != Some(&Value::Bool(true))
                    {
                        problems.push(at(format!("unknown field {k} would be pruned")));
                    }
                }
            }
        }
    }
}
