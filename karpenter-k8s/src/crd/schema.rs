//! From the core types' JSON schemas to structural CRD schemas.
//!
//! schemars describes the core types as OpenAPI 3 (every subschema
//! inlined). Kubernetes accepts only *structural* schemas, so
//! [`make_structural`] rewrites the few shapes that are not:
//!
//! - a unit enum whose variants have docs comes out as a `oneOf` of
//!   one-value string enums: it becomes one `type: string` with the whole
//!   `enum`, the variants' docs appended to the description;
//! - an untagged enum of different types (a schedule pattern list: a
//!   number, a comma-separated string or a list) becomes
//!   `x-kubernetes-preserve-unknown-fields: true` with no type: the API
//!   server keeps the value as written and the controller checks it (a bad
//!   element shows in the object's status conditions);
//! - `x-kubernetes-int-or-string` nodes (quantities) keep exactly the
//!   `anyOf: [{type: integer}, {type: string}]` the API server allows;
//! - free-form values (`serde_json::Value`, e.g. a custom metric source's
//!   `params`) become `x-kubernetes-preserve-unknown-fields: true`;
//! - `additionalProperties: false` (from `deny_unknown_fields`) is dropped
//!   beside `properties`: the API server prunes unknown fields instead.
//!
//! [`Edits`] then adds what the types alone do not say: value bounds, and
//! the CEL rules (`x-kubernetes-validations`) that reject bad objects at
//! admission.

use std::fmt::Write as _;

use schemars::JsonSchema;
use schemars::generate::SchemaSettings;
use serde_json::{Map, Value, json};

/// The OpenAPI 3 schema of `T`, every subschema inlined, made structural.
pub(crate) fn structural_schema_for<T: JsonSchema>() -> Value {
    let generator = SchemaSettings::openapi3()
        .with(|s| {
            s.inline_subschemas = true;
            s.meta_schema = None;
        })
        .into_generator();
    let mut value = generator.into_root_schema_for::<T>().to_value();
    if let Some(root) = value.as_object_mut() {
        // The Rust type's name says nothing to a Kubernetes user.
        root.remove("title");
    }
    make_structural(&mut value);
    value
}

/// Rewrites `node` and everything below it into the structural subset (see
/// the [module docs](self)).
pub(crate) fn make_structural(node: &mut Value) {
    let Some(obj) = node.as_object_mut() else {
        // `true` (anything) as a subschema.
        if node.as_bool() == Some(true) {
            *node = preserve_unknown(None);
        }
        return;
    };
    if let Some(Value::String(d)) = obj.get_mut("description") {
        *d = clean_description(d);
    }
    if let Some(Value::String(format)) = obj.get_mut("format") {
        // schemars names Rust's integer widths; the API server knows only
        // int32 and int64 (schemars already sets `minimum: 0` on unsigned).
        match format.as_str() {
            "int8" | "int16" | "uint8" | "uint16" => *format = "int32".to_string(),
            "uint32" | "uint64" | "uint" => *format = "int64".to_string(),
            _ => {}
        }
    }
    for key in ["anyOf", "oneOf", "allOf"] {
        if let Some(Value::Array(branches)) = obj.get_mut(key) {
            branches.iter_mut().for_each(make_structural);
        }
    }
    if let Some(Value::Object(props)) = obj.get_mut("properties") {
        props.values_mut().for_each(make_structural);
    }
    if let Some(items) = obj.get_mut("items") {
        make_structural(items);
    }
    if let Some(extra) = obj.get_mut("additionalProperties") {
        match extra {
            // A map of anything: each value kept as written.
            Value::Bool(true) => *extra = preserve_unknown(None),
            Value::Object(_) => make_structural(extra),
            _ => {}
        }
    }
    if obj.contains_key("properties") {
        // `deny_unknown_fields`: the API server prunes unknown fields, and
        // `additionalProperties` may not stand beside `properties`.
        obj.remove("additionalProperties");
    }

    if let Some(inner) = take_optional(obj) {
        *node = inner;
        return;
    }
    let union = ["oneOf", "anyOf"]
        .into_iter()
        .find(|k| obj.contains_key(*k));
    if let Some(key) = union {
        rewrite_union(obj, key);
    } else if is_free_form(obj) {
        let description = obj.remove("description");
        *node = preserve_unknown(description);
    }
}

/// For an `Option<T>` whose `T` has no `type` of its own (an enum, a
/// quantity), schemars writes `anyOf: [T, {enum: [null], nullable: true}]`:
/// returns `T` made nullable, with the field's description first and any
/// list of values `T`'s description carries after it.
fn take_optional(obj: &mut Map<String, Value>) -> Option<Value> {
    let Some(Value::Array(branches)) = obj.get("anyOf") else {
        return None;
    };
    let is_null = |b: &Value| {
        b.get("type") == Some(&Value::String("null".into()))
            || b.get("enum") == Some(&json!([null]))
    };
    let [a, b] = branches.as_slice() else {
        return None;
    };
    let inner = match (is_null(a), is_null(b)) {
        (false, true) => a,
        (true, false) => b,
        _ => return None,
    };
    let mut inner = inner.as_object()?.clone();
    let outer = obj.get("description").and_then(Value::as_str);
    let own = inner.get("description").and_then(Value::as_str);
    let description = match (outer, own) {
        (Some(outer), Some(own)) => match own.split_once("\n\n") {
            Some((_, values)) => Some(format!("{outer}\n\n{values}")),
            None => Some(outer.to_string()),
        },
        (Some(d), None) | (None, Some(d)) => Some(d.to_string()),
        (None, None) => None,
    };
    if let Some(d) = description {
        inner.insert("description".into(), Value::String(d));
    }
    inner.insert("nullable".into(), Value::Bool(true));
    Some(Value::Object(inner))
}

/// A doc comment made into a CRD description: its first paragraph on one
/// line, with rustdoc link syntax removed (`` [`Behavior`] `` reads
/// `` `Behavior` ``) and inclusive ranges written `0-59`.
fn clean_description(doc: &str) -> String {
    let first = doc.split("\n\n").next().unwrap_or_default();
    // Rust's inclusive ranges (`0..=59`) read as `0-59`.
    let one_line = first
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace("..=", "-");
    let mut out = String::with_capacity(one_line.len());
    let mut rest = one_line.as_str();
    while let Some(open) = rest.find('[') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after.find(']') {
            Some(close) => {
                out.push_str(&after[..close]);
                rest = &after[close + 1..];
                // `[text](target)`: drop the target.
                if rest.starts_with('(')
                    && let Some(end) = rest.find(')')
                {
                    rest = &rest[end + 1..];
                }
            }
            None => {
                out.push('[');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// `{x-kubernetes-preserve-unknown-fields: true}`, with `description` if any.
fn preserve_unknown(description: Option<Value>) -> Value {
    let mut out = Map::new();
    if let Some(d) = description {
        out.insert("description".into(), d);
    }
    out.insert(
        "x-kubernetes-preserve-unknown-fields".into(),
        Value::Bool(true),
    );
    Value::Object(out)
}

/// A schema that admits any value: no type, no structure, no marker.
fn is_free_form(obj: &Map<String, Value>) -> bool {
    obj.keys()
        .all(|k| matches!(k.as_str(), "description" | "nullable" | "default"))
        && !obj.contains_key("default")
}

/// Rewrites a node holding a `oneOf` / `anyOf` (`key`).
fn rewrite_union(obj: &mut Map<String, Value>, key: &str) {
    let Some(Value::Array(branches)) = obj.get(key) else {
        return;
    };
    if obj.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true)) {
        // The one union the API server allows (see `is_int_or_string_union`).
        return;
    }
    if let Some((values, docs)) = string_enum_branches(branches) {
        obj.remove(key);
        obj.insert("type".into(), Value::String("string".into()));
        obj.insert("enum".into(), Value::Array(values));
        if !docs.is_empty() {
            let mut description = obj
                .get("description")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            if !description.is_empty() {
                description.push_str("\n\n");
            }
            for (value, doc) in docs {
                // Writing to a String cannot fail.
                let _ = writeln!(description, "- `{value}`: {doc}");
            }
            obj.insert(
                "description".into(),
                Value::String(description.trim_end().to_string()),
            );
        }
        return;
    }
    // A union of different shapes (an untagged enum): the API server cannot
    // check it structurally, so it keeps the value and the controller does.
    let description = obj.remove("description");
    let nullable = obj.remove("nullable");
    obj.clear();
    if let Some(d) = description {
        obj.insert("description".into(), d);
    }
    if let Some(n) = nullable {
        obj.insert("nullable".into(), n);
    }
    obj.insert(
        "x-kubernetes-preserve-unknown-fields".into(),
        Value::Bool(true),
    );
}

/// The values of a string enum, and each documented value with its doc.
type StringEnum = (Vec<Value>, Vec<(String, String)>);

/// When every branch is a string enum, the values and each documented
/// value's doc.
fn string_enum_branches(branches: &[Value]) -> Option<StringEnum> {
    let mut values = Vec::new();
    let mut docs = Vec::new();
    for branch in branches {
        let b = branch.as_object()?;
        if b.get("type")? != "string" {
            return None;
        }
        let Value::Array(vs) = b.get("enum")? else {
            return None;
        };
        if b.keys()
            .any(|k| !matches!(k.as_str(), "type" | "enum" | "description"))
        {
            return None;
        }
        for v in vs {
            let s = v.as_str()?;
            if let Some(doc) = b.get("description").and_then(Value::as_str) {
                docs.push((s.to_string(), doc.replace('\n', " ")));
            }
            values.push(v.clone());
        }
    }
    (!values.is_empty()).then_some((values, docs))
}

/// A CEL rule for `x-kubernetes-validations`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Rule {
    /// The CEL expression; `self` is the node the rule sits on.
    pub rule: &'static str,
    /// What the user reads when it fails: what is wrong and the fix.
    pub message: &'static str,
    /// The field the error is reported on, relative to the node.
    pub field_path: Option<&'static str>,
}

impl Rule {
    fn to_value(&self) -> Value {
        let mut v = json!({"rule": self.rule, "message": self.message});
        if let (Some(path), Some(obj)) = (self.field_path, v.as_object_mut()) {
            obj.insert("fieldPath".into(), Value::String(path.into()));
        }
        v
    }
}

/// Edits to a generated schema at paths of property names (`items` steps
/// into an array's items). A path that does not exist is recorded, not
/// ignored: [`Edits::missing`] lists them, and the CRD tests require it to
/// be empty, so a renamed core field cannot silently drop a rule.
#[derive(Debug)]
pub(crate) struct Edits<'a> {
    root: &'a mut Value,
    missing: Vec<String>,
}

impl<'a> Edits<'a> {
    /// Edits on `root`.
    pub(crate) fn new(root: &'a mut Value) -> Self {
        Self {
            root,
            missing: Vec::new(),
        }
    }

    /// The paths that did not exist.
    pub(crate) fn missing(self) -> Vec<String> {
        self.missing
    }

    fn node(&mut self, path: &[&str]) -> Option<&mut Map<String, Value>> {
        let mut node = &mut *self.root;
        for step in path {
            node = if *step == "items" {
                node.get_mut("items")?
            } else {
                node.get_mut("properties")?.get_mut(*step)?
            };
        }
        node.as_object_mut()
    }

    /// Sets `key: value` on the node at `path`.
    pub(crate) fn set(&mut self, path: &[&str], key: &str, value: Value) -> &mut Self {
        match self.node(path) {
            Some(node) => {
                node.insert(key.to_string(), value);
            }
            None => self.missing.push(format!("{} ({key})", path.join("."))),
        }
        self
    }

    /// Removes `key` from the node at `path`.
    pub(crate) fn remove(&mut self, path: &[&str], key: &str) -> &mut Self {
        match self.node(path) {
            Some(node) => {
                node.remove(key);
            }
            None => self
                .missing
                .push(format!("{} (remove {key})", path.join("."))),
        }
        self
    }

    /// Adds `name` to the node's `required` list (once).
    pub(crate) fn require(&mut self, path: &[&str], name: &str) -> &mut Self {
        match self.node(path) {
            Some(node) => {
                let required = node
                    .entry("required")
                    .or_insert_with(|| Value::Array(Vec::new()));
                if let Value::Array(list) = required
                    && !list.iter().any(|v| v == name)
                {
                    list.push(Value::String(name.to_string()));
                }
            }
            None => self
                .missing
                .push(format!("{} (require {name})", path.join("."))),
        }
        self
    }

    /// Appends CEL rules to the node's `x-kubernetes-validations`.
    pub(crate) fn rules(&mut self, path: &[&str], rules: &[Rule]) -> &mut Self {
        match self.node(path) {
            Some(node) => {
                let list = node
                    .entry("x-kubernetes-validations")
                    .or_insert_with(|| Value::Array(Vec::new()));
                if let Value::Array(list) = list {
                    list.extend(rules.iter().map(Rule::to_value));
                }
            }
            None => self
                .missing
                .push(format!("{} (x-kubernetes-validations)", path.join("."))),
        }
        self
    }
}
