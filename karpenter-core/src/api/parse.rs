//! Reading manifests and documents: YAML or JSON into the API types, with
//! strict fields and errors that name the field.
//!
//! Unknown fields are rejected at every depth of `spec` (metrics, targets,
//! behavior, policies, producer specs, schedule patterns...), like
//! `kubectl apply --validate=strict`, with the field's path, its line and
//! column, and the closest known field. Every standard Kubernetes `metadata`
//! field and `status` are accepted, so `kubectl get -o yaml` output loads.
//! Free-form fields (`custom.params`) stay free-form.
//!
//! ```
//! use karpenter_core::api::parse;
//! use karpenter_core::api::v1alpha1::HorizontalAutoscaler;
//!
//! let err = parse::from_str::<HorizontalAutoscaler>("
//! apiVersion: autoscaling.karpenter.sh/v1alpha1
//! kind: HorizontalAutoscaler
//! metadata: {name: web}
//! spec:
//!   scaleTargetRef: {kind: ScalableNodeGroup, name: web}
//!   minReplica: 1
//!   maxReplicas: 10
//! ").unwrap_err();
//! assert_eq!(err.path, "spec.minReplica");
//! assert_eq!(err.suggestion.as_deref(), Some("minReplicas"));
//! assert_eq!(err.line, Some(7));
//! assert_eq!(
//!     err.to_string(),
//!     "`spec.minReplica`: unknown field, did you mean `minReplicas`? (line 7, column 3)"
//! );
//! ```
//!
//! Input whose first non-blank character is `{` or `[` is read as JSON
//! (with `serde_json`, so every JSON escape works, including surrogate
//! pairs such as `\uD83D\uDE80`); anything else as YAML (with
//! `serde-saphyr`, which has budgets against alias bombs and deep nesting).
//! A leading UTF-8 byte-order mark is ignored. Nesting deeper than
//! [`MAX_DEPTH`] levels is rejected before any work proportional to it.

use std::fmt;

use serde::de::DeserializeOwned;

use super::clip;

/// The deepest nesting of lists and mappings accepted. The API's own
/// structure is at most 8 levels deep; the rest is headroom for free-form
/// fields.
pub const MAX_DEPTH: usize = 64;

/// The syntax of a document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// JSON (the first non-blank character is `{` or `[`).
    Json,
    /// YAML (anything else).
    Yaml,
}

impl Format {
    /// JSON when the first non-blank character (after a byte-order mark)
    /// is `{` or `[`, YAML otherwise.
    pub fn detect(text: &str) -> Self {
        match strip_bom(text).trim_start().as_bytes().first() {
            Some(b'{' | b'[') => Self::Json,
            _ => Self::Yaml,
        }
    }
}

/// What kind of problem a [`ParseError`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseErrorKind {
    /// The text is not well-formed YAML or JSON.
    Syntax,
    /// A field the type does not have.
    UnknownField,
    /// A required field is absent.
    MissingField,
    /// A field appears twice in one mapping.
    DuplicateField,
    /// A value of the wrong type (a string for an integer, null, ...).
    InvalidType,
    /// A value of the right type that is not allowed (out of range, an
    /// unknown enum value, a malformed instant or quantity...).
    InvalidValue,
    /// Lists and mappings nested deeper than [`MAX_DEPTH`], or another
    /// resource budget exceeded (aliases, nodes).
    TooDeep,
    /// The document is empty.
    Empty,
}

/// Why a document could not be read: where (field path, line and column
/// when known), what is wrong, and the closest known name when a field or
/// value was misspelled.
///
/// `Display` renders it on one line:
/// ``"`spec.minReplica`: unknown field, did you mean `minReplicas`? (line 7, column 3)"``.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ParseError {
    /// What kind of problem.
    pub kind: ParseErrorKind,
    /// Path of the field, e.g. `spec.metrics[0].prometheus.target.type`;
    /// empty for the document itself.
    pub path: String,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// 1-based column, when known.
    pub column: Option<usize>,
    /// What is wrong and what to write instead (echoed input is cut at 80
    /// characters).
    pub message: String,
    /// For an unknown field or value: the closest known one.
    pub suggestion: Option<String>,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str("document")?;
        } else {
            write!(f, "`{}`", self.path)?;
        }
        write!(f, ": {}", self.message)?;
        match (self.line, self.column) {
            (Some(l), Some(c)) => write!(f, " (line {l}, column {c})"),
            (Some(l), None) => write!(f, " (line {l})"),
            _ => Ok(()),
        }
    }
}

impl ParseError {
    fn new(kind: ParseErrorKind, path: String, message: String) -> Self {
        Self {
            kind,
            path,
            line: None,
            column: None,
            message,
            suggestion: None,
        }
    }

    /// Shifts the line by `lines`, for a document that starts further down
    /// in a file (e.g. the third document of a `---` stream).
    pub fn offset_lines(mut self, lines: usize) -> Self {
        self.line = self.line.map(|l| l + lines);
        self
    }
}

/// Reads `text` as JSON or YAML (see [`Format::detect`]) into `T`, ignoring
/// a leading byte-order mark.
///
/// Text that starts like JSON but is not JSON, such as a YAML flow mapping
/// (`{kind: ScalableNodeGroup, ...}`), is read as YAML; if it is not YAML
/// either, the JSON error is reported.
pub fn from_str<T: DeserializeOwned>(text: &str) -> Result<T, ParseError> {
    match Format::detect(text) {
        Format::Json => from_json_str(text).or_else(|json| {
            if json.kind != ParseErrorKind::Syntax {
                return Err(json);
            }
            match from_yaml_str(text) {
                Ok(v) => Ok(v),
                Err(yaml) if yaml.kind != ParseErrorKind::Syntax => Err(yaml),
                Err(_) => Err(json),
            }
        }),
        Format::Yaml => from_yaml_str(text),
    }
}

/// Reads one YAML document into `T`.
pub fn from_yaml_str<T: DeserializeOwned>(text: &str) -> Result<T, ParseError> {
    let text = strip_bom(text);
    if is_blank_yaml(text) {
        return Err(empty());
    }
    let options = serde_saphyr::options! {
        budget: serde_saphyr::budget! {
            max_depth: MAX_DEPTH,
        },
        with_snippet: false,
    };
    let mut track = serde_path_to_error::Track::new();
    let result = serde_saphyr::with_deserializer_from_str_with_options(text, options, |de| {
        T::deserialize(serde_path_to_error::Deserializer::new(de, &mut track))
    });
    result.map_err(|e| {
        let path = track.path().to_string();
        yaml_error(text, path, &e)
    })
}

/// Reads one JSON document into `T`.
pub fn from_json_str<T: DeserializeOwned>(text: &str) -> Result<T, ParseError> {
    let text = strip_bom(text);
    if text.trim().is_empty() {
        return Err(empty());
    }
    if let Some((line, column)) = json_too_deep(text, MAX_DEPTH) {
        return Err(too_deep(line, column));
    }
    let mut de = serde_json::Deserializer::from_str(text);
    let mut track = serde_path_to_error::Track::new();
    let result = T::deserialize(serde_path_to_error::Deserializer::new(&mut de, &mut track))
        .and_then(|v| de.end().map(|()| v));
    result.map_err(|inner| {
        let path = track.path().to_string();
        let (line, column) = (inner.line(), inner.column());
        let text_msg = inner.to_string();
        let bare = text_msg
            .strip_suffix(&format!(" at line {line} column {column}"))
            .unwrap_or(&text_msg);
        let mut err = match inner.classify() {
            serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
                let mut m = format!("not valid JSON: {}", clip(bare));
                if bare.contains("control character") {
                    m.push_str("; write it as an escape such as \\u0001");
                }
                ParseError::new(ParseErrorKind::Syntax, String::new(), m)
            }
            _ => from_serde_message(clean_path(&path), bare),
        };
        if line > 0 {
            err.line = Some(line);
            err.column = Some(column);
        }
        err
    })
}

/// One document of a YAML stream, as [`yaml_documents`] cuts it out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct YamlDocument<'a> {
    /// 1-based position in the stream, counting empty documents too.
    pub index: usize,
    /// Lines of the stream before this document's text; add it to the
    /// line of a [`ParseError`] with [`ParseError::offset_lines`].
    pub line_offset: usize,
    /// The document's text, without its `---` line.
    pub text: &'a str,
}

impl YamlDocument<'_> {
    /// Whether the document holds only blanks and comments.
    pub fn is_empty(&self) -> bool {
        is_blank_yaml(self.text)
    }
}

/// Cuts a YAML stream into its documents at each `---` line (a line that
/// is `---`, or starts with `--- `), as `kubectl apply -f` reads them. A
/// leading byte-order mark is ignored.
///
/// ```
/// use karpenter_core::api::parse::yaml_documents;
///
/// let docs = yaml_documents("a: 1\n---\nb: 2\n");
/// assert_eq!(docs.len(), 2);
/// assert_eq!(docs[1].text, "b: 2\n");
/// assert_eq!(docs[1].line_offset, 2);
/// ```
pub fn yaml_documents(stream: &str) -> Vec<YamlDocument<'_>> {
    let stream = strip_bom(stream);
    let mut docs = Vec::new();
    let (mut start, mut start_line, mut line) = (0usize, 0usize, 0usize);
    let mut pos = 0usize;
    for l in stream.split_inclusive('\n') {
        let content = l.trim_end_matches(['\n', '\r']);
        if content == "---" || content.starts_with("--- ") || content.starts_with("---\t") {
            // A blank stretch before the first `---` is not a document.
            let leading_blank =
                docs.is_empty() && is_blank_yaml(stream.get(start..pos).unwrap_or_default());
            if !leading_blank {
                docs.push((start, pos, start_line));
            }
            if content.len() > 3 {
                // Content after `--- ` on the same line belongs to the document.
                start = pos + 3;
                start_line = line;
            } else {
                start = pos + l.len();
                start_line = line + 1;
            }
        }
        pos += l.len();
        line += 1;
    }
    docs.push((start, stream.len(), start_line));
    docs.into_iter()
        .enumerate()
        .map(|(i, (a, b, first))| YamlDocument {
            index: i + 1,
            line_offset: first,
            text: stream.get(a..b).unwrap_or_default(),
        })
        .collect()
}

/// `apiVersion`, `kind` and `metadata.name` of a document, read without
/// looking at anything else, to decide which type to parse it as.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TypeMeta {
    /// `apiVersion`, if it is a string.
    #[serde(default, deserialize_with = "lenient_string")]
    pub api_version: Option<String>,
    /// `kind`, if it is a string.
    #[serde(default, deserialize_with = "lenient_string")]
    pub kind: Option<String>,
    /// `metadata.name`, if it is a string.
    #[serde(default, rename = "metadata", deserialize_with = "lenient_name")]
    pub name: Option<String>,
}

impl TypeMeta {
    /// Reads the type of a YAML or JSON document. Fails only when the
    /// document is not YAML or JSON, or is not a mapping.
    pub fn of(text: &str) -> Result<Self, ParseError> {
        from_str(text)
    }
}

fn lenient_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    use serde::Deserialize;
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum Any {
        S(String),
        Other(serde::de::IgnoredAny),
    }
    Ok(match Any::deserialize(d)? {
        Any::S(s) => Some(s),
        Any::Other(_) => None,
    })
}

fn lenient_name<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    use serde::Deserialize;
    #[derive(serde::Deserialize)]
    struct Meta {
        #[serde(default, deserialize_with = "lenient_string")]
        name: Option<String>,
    }
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum Any {
        M(Meta),
        Other(serde::de::IgnoredAny),
    }
    Ok(match Any::deserialize(d)? {
        Any::M(m) => m.name,
        Any::Other(_) => None,
    })
}

/// The text without a leading UTF-8 byte-order mark.
pub fn strip_bom(text: &str) -> &str {
    text.strip_prefix('\u{feff}').unwrap_or(text)
}

fn empty() -> ParseError {
    ParseError::new(
        ParseErrorKind::Empty,
        String::new(),
        "is empty; write a YAML or JSON document".to_string(),
    )
}

fn too_deep(line: usize, column: usize) -> ParseError {
    ParseError {
        line: Some(line),
        column: Some(column),
        ..ParseError::new(
            ParseErrorKind::TooDeep,
            String::new(),
            format!(
                "lists and mappings are nested more than {MAX_DEPTH} levels deep; no field of this API needs that"
            ),
        )
    }
}

/// Only blanks, comments and document markers.
fn is_blank_yaml(text: &str) -> bool {
    text.lines().all(|l| {
        let t = l.trim();
        t.is_empty() || t.starts_with('#') || t == "---" || t == "..."
    })
}

/// The position of the first bracket that opens level `max + 1`, scanning
/// JSON text in one pass (strings skipped).
fn json_too_deep(text: &str, max: usize) -> Option<(usize, usize)> {
    let (mut depth, mut line, mut column) = (0usize, 1usize, 0usize);
    let (mut in_string, mut escaped) = (false, false);
    for c in text.chars() {
        if c == '\n' {
            line += 1;
            column = 0;
        } else {
            column += 1;
        }
        if in_string {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_string = true,
            '{' | '[' => {
                depth += 1;
                if depth > max {
                    return Some((line, column));
                }
            }
            '}' | ']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    None
}

/// The path as users write it: no `?` segments (serde's marker for a key
/// it could not name) and no leading `.`.
fn clean_path(path: &str) -> String {
    let mut p = path.trim_start_matches('.').to_string();
    while let Some(stripped) = p.strip_suffix(".?").or_else(|| p.strip_suffix('?')) {
        p = stripped.to_string();
    }
    if p == "." { String::new() } else { p }
}

fn join(path: &str, field: &str) -> String {
    if path.is_empty() {
        field.to_string()
    } else {
        format!("{path}.{field}")
    }
}

/// The last field name of a path: `spec.metrics[0].value` → `value`.
fn leaf(path: &str) -> &str {
    let last = path.rsplit('.').next().unwrap_or(path);
    last.split('[').next().unwrap_or(last)
}

/// `; write e.g. `maxReplicas: 10`` for fields with an obvious example.
fn example(path: &str) -> String {
    let field = leaf(path);
    let e = match field {
        // The decide document's own `target`, not a metric's.
        "target" if path == "target" => "target: {specReplicas: 4, statusReplicas: 4}",
        "maxReplicas" => "maxReplicas: 10",
        "minReplicas" => "minReplicas: 0",
        "replicas" => "replicas: 3",
        "defaultReplicas" => "defaultReplicas: 1",
        "specReplicas" => "specReplicas: 4",
        "statusReplicas" => "statusReplicas: 4",
        "now" => "now: \"2026-01-01T00:10:00Z\"",
        "time" => "time: \"2026-01-01T00:10:00Z\"",
        "lastTime" => "lastTime: \"2026-01-01T00:10:00Z\"",
        "change" => "change: 2",
        "value" => "value: 10",
        "averageValue" => "averageValue: 500m",
        "averageUtilization" => "averageUtilization: 60",
        "periodSeconds" => "periodSeconds: 15",
        "stabilizationWindowSeconds" => "stabilizationWindowSeconds: 300",
        "tolerance" => "tolerance: 0.1",
        "selectPolicy" => "selectPolicy: Max",
        "scaleTargetRef" => "scaleTargetRef: {kind: ScalableNodeGroup, name: ml-training}",
        "kind" => "kind: ScalableNodeGroup",
        "name" => "name: ml-training",
        "query" => "query: karpenter_queue_length{name=\"ml-training-queue\"}",
        "id" => "id: ml-training",
        "timezone" => "timezone: America/Los_Angeles",
        "minutes" => "minutes: 0",
        "hours" => "hours: 9",
        "days" => "days: 1",
        "months" => "months: Jan",
        "weekdays" => "weekdays: Mon,Tue,Wed,Thu,Fri",
        "integral" => "integral: 0",
        "period" => "period: 60",
        "observations" => "observations: [{value: 15}]",
        "target" => "target: {type: Value, value: 10}",
        "metrics" => "metrics: [{prometheus: {query: ..., target: {type: Value, value: 10}}}]",
        _ => return String::new(),
    };
    format!("; write e.g. `{e}`")
}

/// serde's description of an expected type, in words.
fn expected_words(expected: &str) -> String {
    let e = expected.trim();
    match e {
        "i8" | "i16" | "i32" | "i64" | "i128" | "isize" => {
            let range = match e {
                "i32" => " between -2147483648 and 2147483647",
                "i64" => " between -9223372036854775808 and 9223372036854775807",
                _ => "",
            };
            format!("an integer{range}")
        }
        "u8" | "u16" | "u32" | "u64" | "u128" | "usize" => {
            format!(
                "a whole number >= 0{}",
                if e == "u32" {
                    " (at most 4294967295)"
                } else {
                    ""
                }
            )
        }
        "f32" | "f64" | "floating point" => "a finite number".to_string(),
        "a boolean" | "bool" => "true or false".to_string(),
        "a string" | "string" | "a borrowed string" => "a string".to_string(),
        "a sequence" | "sequence" => "a list".to_string(),
        "a map" | "map" => "a mapping".to_string(),
        "option" => "a value or null".to_string(),
        _ if e.starts_with("struct ") => "a mapping".to_string(),
        _ if e.starts_with("a map") => "a mapping".to_string(),
        _ => e.to_string(),
    }
}

/// serde's description of an unexpected value, as the user wrote it.
fn unexpected_words(unexpected: &str) -> String {
    let u = unexpected.trim();
    let quoted = |prefix: &str| {
        u.strip_prefix(prefix)
            .map(|rest| rest.trim_matches('`').to_string())
    };
    let s = if u == "unit value" || u == "null" {
        "null".to_string()
    } else if u == "map" {
        "a mapping".to_string()
    } else if u == "sequence" {
        "a list".to_string()
    } else if let Some(v) = quoted("integer ") {
        v.split(" as ")
            .next()
            .unwrap_or(&v)
            .trim_matches('`')
            .to_string()
    } else if let Some(v) = quoted("floating point ") {
        v
    } else if let Some(v) = quoted("boolean ") {
        v
    } else if let Some(v) = u.strip_prefix("string ") {
        v.to_string()
    } else {
        u.to_string()
    };
    clip(&s)
}

/// The first `` `...` `` quoted word of `s`, and the rest after it.
fn backticked(s: &str) -> Option<(&str, &str)> {
    let start = s.find('`')? + 1;
    let len = s.get(start..)?.find('`')?;
    Some((s.get(start..start + len)?, s.get(start + len + 1..)?))
}

/// The name in "`name`, expected ..." / "`name`, there are no ...", which
/// may itself contain backticks, and the rest after it.
fn quoted_name(s: &str) -> Option<(&str, &str)> {
    let inner = s.strip_prefix('`')?;
    let end = inner
        .find("`, expected")
        .or_else(|| inner.find("`, there are no"))
        .or_else(|| inner.rfind('`'))?;
    Some((inner.get(..end)?, inner.get(end + 1..)?))
}

/// The names listed after "expected one of" / "expected" in a serde message.
fn listed_names(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some((name, tail)) = backticked(rest) {
        out.push(name.to_string());
        rest = tail;
    }
    out
}

/// An error from serde's standard message text (serde_json, custom
/// deserializers), with the path it happened at.
fn from_serde_message(path: String, msg: &str) -> ParseError {
    if let Some(rest) = msg.strip_prefix("unknown field ")
        && let Some((field, tail)) = quoted_name(rest)
    {
        let names = listed_names(tail);
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        return unknown_field(&path, field, &names);
    }
    if let Some(rest) = msg.strip_prefix("unknown variant ")
        && let Some((variant, tail)) = quoted_name(rest)
    {
        let names = listed_names(tail);
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        return unknown_variant(path, variant, &names);
    }
    if let Some(rest) = msg.strip_prefix("missing field ")
        && let Some((field, _)) = backticked(rest)
    {
        return missing_field(&path, field);
    }
    if let Some(rest) = msg.strip_prefix("duplicate field ")
        && let Some((field, _)) = backticked(rest)
    {
        return duplicate_field(&path, field);
    }
    for (prefix, kind) in [
        ("invalid type: ", ParseErrorKind::InvalidType),
        ("invalid value: ", ParseErrorKind::InvalidValue),
    ] {
        if let Some(rest) = msg.strip_prefix(prefix)
            && let Some((unexpected, expected)) = rest.rsplit_once(", expected ")
        {
            return invalid(kind, path, &unexpected_words(unexpected), expected);
        }
    }
    if let Some(rest) = msg.strip_prefix("invalid length ")
        && let Some((len, expected)) = rest.split_once(", expected ")
    {
        let m = format!("expected {}, got {len} entries", expected_words(expected));
        return ParseError::new(ParseErrorKind::InvalidValue, path, m);
    }
    custom(path, msg)
}

/// A message from one of our own deserializers, or one we reword.
fn custom(path: String, msg: &str) -> ParseError {
    let m = if msg.contains("untagged enum PatternList")
        || msg.contains("untagged enum PatternElement")
    {
        "expected a number (9), a comma-separated string (\"Mon,Tue\") or a list of numbers and names ([Mon, Tue])".to_string()
    } else if msg.contains("recursion limit exceeded") {
        return too_deep(0, 0);
    } else {
        clip_long(msg)
    };
    let m = if m.contains("e.g.") || m.contains("such as") {
        m
    } else {
        format!("{m}{}", example(&path))
    };
    ParseError::new(ParseErrorKind::InvalidValue, path, m)
}

fn invalid(kind: ParseErrorKind, path: String, got: &str, expected: &str) -> ParseError {
    let m = format!(
        "expected {}, got {got}{}",
        expected_words(expected),
        example(&path)
    );
    ParseError::new(kind, path, m)
}

/// A mapping key as a path segment: as it is when it looks like a field
/// name, else quoted (`"st`atistic"`), so that the path stays readable.
fn key_segment(key: &str) -> String {
    let plain = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '/' | '.'));
    if plain {
        key.to_string()
    } else {
        clip(&format!("{key:?}"))
    }
}

fn unknown_field(path: &str, field: &str, known: &[&str]) -> ParseError {
    // Some deserializers record the unknown key in the path already.
    let parent = if path == field {
        ""
    } else {
        path.strip_suffix(&format!(".{field}")).unwrap_or(path)
    };
    let full = join(parent, &key_segment(field));
    let suggestion = closest(field, known).map(str::to_string);
    let message = match &suggestion {
        Some(s) => format!("unknown field, did you mean `{s}`?"),
        None if known.is_empty() => "unknown field; this mapping has no fields".to_string(),
        None => format!("unknown field; known fields: {}", known.join(", ")),
    };
    ParseError {
        suggestion,
        ..ParseError::new(ParseErrorKind::UnknownField, full, message)
    }
}

fn unknown_variant(path: String, variant: &str, known: &[&str]) -> ParseError {
    let suggestion = closest(variant, known).map(str::to_string);
    let got = clip(variant);
    let message = match &suggestion {
        Some(s) => format!(
            "unknown value `{got}`, did you mean `{s}`? (one of {})",
            known.join(", ")
        ),
        None => format!("unknown value `{got}`; use one of {}", known.join(", ")),
    };
    ParseError {
        suggestion,
        ..ParseError::new(ParseErrorKind::InvalidValue, path, message)
    }
}

fn missing_field(path: &str, field: &str) -> ParseError {
    let full = join(path, field);
    let message = format!("required field is missing{}", example(&full));
    ParseError::new(ParseErrorKind::MissingField, full, message)
}

fn duplicate_field(path: &str, field: &str) -> ParseError {
    let full = join(path, &key_segment(field));
    ParseError::new(
        ParseErrorKind::DuplicateField,
        full,
        "appears more than once in this mapping; keep one".to_string(),
    )
}

/// The scalar written at (line, column) of `text`, as far as it can be
/// cut out: up to the end of the line, a flow delimiter or a comment.
fn scalar_at(text: &str, line: usize, column: usize) -> Option<String> {
    let l = text.lines().nth(line.checked_sub(1)?)?;
    let before: String = l.chars().take(column.checked_sub(1)?).collect();
    let rest: String = l.chars().skip(column.checked_sub(1)?).collect();
    // Commas and brackets end a value only inside `{...}` or `[...]`.
    let flow = before.contains(['{', '[']);
    // A key with nothing after it (`maxReplicas:`) is null in YAML.
    if rest.starts_with(':') && rest.trim_start_matches(':').trim().is_empty() {
        return Some("null".to_string());
    }
    let token = match rest.chars().next() {
        Some(q @ ('"' | '\'')) => {
            let end = rest.get(1..)?.find(q).map_or(rest.len(), |i| i + 2);
            rest.get(..end)?.to_string()
        }
        _ => {
            let end = if flow {
                rest.find([',', '}', ']', '#'])
            } else {
                rest.find(" #")
            };
            rest.get(..end.unwrap_or(rest.len()))?.trim().to_string()
        }
    };
    match token.as_str() {
        "" => None,
        "~" | "Null" | "NULL" => Some("null".to_string()),
        _ => Some(clip(&token)),
    }
}

/// Turns a serde-saphyr error into a [`ParseError`].
fn yaml_error(text: &str, path: String, e: &serde_saphyr::Error) -> ParseError {
    use serde_saphyr::Error as E;
    let location = e.location();
    let (line, column) = match location {
        Some(l) if l.line() > 0 => (
            usize::try_from(l.line()).ok(),
            usize::try_from(l.column()).ok(),
        ),
        _ => (None, None),
    };
    let path = clean_path(&path);
    let got = || {
        line.zip(column)
            .and_then(|(l, c)| scalar_at(text, l, c))
            .unwrap_or_else(|| "this value".to_string())
    };
    let mut err = match e {
        E::AliasError { error, .. } | E::WithSnippet { error, .. } => {
            let mut inner = yaml_error(text, path.clone(), error);
            if inner.line.is_none() {
                inner.line = line;
                inner.column = column;
            }
            return inner;
        }
        E::SerdeUnknownField {
            field, expected, ..
        } => unknown_field(&path, field, expected),
        E::SerdeUnknownVariant {
            variant, expected, ..
        } => unknown_variant(path, variant, expected),
        E::SerdeMissingField { field, .. } => missing_field(&path, field),
        E::DuplicateMappingKey { key, .. } => match key {
            Some(k) => duplicate_field(&path, k),
            None => duplicate_field(&path, "a key"),
        },
        E::SerdeInvalidType {
            unexpected,
            expected,
            ..
        } => invalid(
            ParseErrorKind::InvalidType,
            path,
            &unexpected_words(unexpected),
            expected,
        ),
        E::SerdeInvalidValue {
            unexpected,
            expected,
            ..
        } => invalid(
            ParseErrorKind::InvalidValue,
            path,
            &unexpected_words(unexpected),
            expected,
        ),
        E::SerdeInvalidLength { len, expected, .. } => ParseError::new(
            ParseErrorKind::InvalidValue,
            path,
            format!("expected {}, got {len} entries", expected_words(expected)),
        ),
        E::InvalidScalar { ty, .. } => {
            let got = got();
            invalid(ParseErrorKind::InvalidType, path, &got, ty)
        }
        E::Unexpected { expected, .. } => {
            let want = match *expected {
                "string scalar" | "scalar" => "a single value (a number or a string)",
                "mapping start" | "empty mapping start" => "a mapping",
                "sequence start" => "a list",
                other => other,
            };
            let token = got();
            let got = if token.starts_with('[') || token.starts_with('-') {
                "a list".to_string()
            } else if token.starts_with('{') {
                "a mapping".to_string()
            } else if token == "this value" {
                "something else".to_string()
            } else {
                token
            };
            let m = format!("expected {want}, got {got}{}", example(&path));
            ParseError::new(ParseErrorKind::InvalidType, path, m)
        }
        E::NullIntoString { .. } => invalid(ParseErrorKind::InvalidType, path, "null", "a string"),
        E::NonFiniteFloat { value, .. } => ParseError::new(
            ParseErrorKind::InvalidValue,
            path,
            format!("expected a finite number, got {}", clip(value)),
        ),
        E::Budget { breach, .. } => {
            use serde_saphyr::budget::BudgetBreach as B;
            let m = match breach {
                B::Depth { .. } => {
                    return ParseError {
                        line,
                        column,
                        ..too_deep(0, 0)
                    };
                }
                B::Nodes { nodes } => format!(
                    "has more than {} values (lists, mappings and scalars); a manifest or decide document has a few hundred",
                    nodes.saturating_sub(1)
                ),
                B::Events { events } => format!(
                    "is too large for the YAML parser (more than {} events); a manifest or decide document is a few kilobytes",
                    events.saturating_sub(1)
                ),
                B::Aliases { .. } | B::AliasAnchorRatio { .. } | B::RecordedAnchorEvents { .. } | B::RecordedAnchorBytes { .. } => {
                    "uses too many YAML aliases (`*name`); write the values out instead".to_string()
                }
                B::Anchors { .. } => "defines too many YAML anchors (`&name`)".to_string(),
                _ => "exceeds a YAML parser limit (size, documents or merge keys); write the document out plainly".to_string(),
            };
            ParseError::new(ParseErrorKind::TooDeep, String::new(), m)
        }
        E::Message { msg, .. } => from_serde_message(path, msg),
        E::Eof { .. } => ParseError::new(
            ParseErrorKind::Syntax,
            String::new(),
            "not valid YAML: the document ends in the middle of a value".to_string(),
        ),
        _ => {
            // The parser's own words, without its location prefix (we add
            // ours) and without the source snippet it renders below.
            let rendered = e.to_string();
            let first = rendered.lines().next().unwrap_or_default();
            let bare = match first.strip_prefix("error: line ") {
                Some(rest) => rest.split_once(": ").map_or(rest, |(_, m)| m),
                None => first,
            };
            let bare = bare
                .split(" at line ")
                .next()
                .unwrap_or(bare)
                .replace(", set DuplicateKeyPolicy in Options if acceptable", "");
            let mut m = format!("not valid YAML: {}", clip_long(&bare));
            if bare.contains("recursion limit") || bare.contains("nesting") {
                return ParseError {
                    line,
                    column,
                    ..too_deep(0, 0)
                };
            }
            if bare.contains("unknown anchor") {
                m.push_str(
                    "; define the anchor (`&name value`) before the alias that uses it (`*name`)",
                );
            }
            if let Some(rest) = bare.strip_prefix("unexpected character: `") {
                let shown = rest.strip_suffix('\'').unwrap_or(rest);
                let control =
                    shown.starts_with("\\u{") || shown.chars().next().is_some_and(char::is_control);
                m = format!("not valid YAML: unexpected character `{shown}`");
                if control {
                    m.push_str("; YAML does not allow control characters: remove it, or write it as an escape such as \\u0001 in a double-quoted string");
                } else {
                    m.push_str("; a value cannot start with it in YAML: quote the value (\"...\")");
                }
            }
            ParseError::new(ParseErrorKind::Syntax, path, m)
        }
    };
    if err.line.is_none() {
        err.line = line;
        err.column = column;
    }
    err
}

/// `s` cut to a message-sized 300 characters (a parser's message may quote
/// input at any length).
fn clip_long(s: &str) -> String {
    if s.chars().count() <= 300 {
        s.to_string()
    } else {
        let cut: String = s.chars().take(299).collect();
        format!("{cut}…")
    }
}

/// Edit distance between two short strings (Levenshtein, by characters).
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut row = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            row[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(row[j] + 1);
        }
        std::mem::swap(&mut prev, &mut row);
    }
    prev[b.len()]
}

/// The known name closest to `word`: the same name in another case, the
/// one at the smallest edit distance when that is at most a third of the
/// word (and at least 2), or one that `word` starts (or is started by).
/// `None` when nothing is close.
pub fn closest<'a>(word: &str, known: &[&'a str]) -> Option<&'a str> {
    if word.chars().count() > 100 {
        return None;
    }
    if let Some(same) = known.iter().find(|k| k.eq_ignore_ascii_case(word)) {
        return Some(same);
    }
    let lower = word.to_ascii_lowercase();
    let limit = (word.chars().count() / 3).max(2);
    let by_distance = known
        .iter()
        .map(|k| (edit_distance(&lower, &k.to_ascii_lowercase()), *k))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k);
    // A shortened or lengthened name: `metric` for `metricName`.
    by_distance.or_else(|| {
        if lower.len() < 3 {
            return None;
        }
        known
            .iter()
            .filter(|k| {
                let k = k.to_ascii_lowercase();
                k.starts_with(&lower) || lower.starts_with(&k)
            })
            .min_by_key(|k| k.len().abs_diff(lower.len()))
            .copied()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances() {
        assert_eq!(edit_distance("minReplica", "minReplicas"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(
            closest("minReplica", &["minReplicas", "maxReplicas"]),
            Some("minReplicas")
        );
        assert_eq!(
            closest("MAXREPLICAS", &["maxReplicas"]),
            Some("maxReplicas")
        );
        assert_eq!(closest("foo", &["maxReplicas", "metrics"]), None);
        assert_eq!(
            closest("metric", &["namespace", "metricName"]),
            Some("metricName")
        );
    }

    #[test]
    fn paths_lose_question_marks() {
        assert_eq!(clean_path("spec.?"), "spec");
        assert_eq!(clean_path("?"), "");
        assert_eq!(clean_path("."), "");
        assert_eq!(clean_path("spec.metrics[0]"), "spec.metrics[0]");
    }

    #[test]
    fn json_depth_scan_skips_strings() {
        assert_eq!(json_too_deep(r#"{"a": "[[[[[[[["}"#, 2), None);
        assert_eq!(json_too_deep("[[[", 2), Some((1, 3)));
        assert_eq!(json_too_deep(r#"{"a\"[": [[1]]}"#, 2), Some((1, 11)));
    }

    #[test]
    fn scalars_are_cut_out_of_their_line() {
        let text = "a: 1\nmaxReplicas: null # comment\nb: {c: ten, d: 2}\n";
        assert_eq!(scalar_at(text, 2, 14).as_deref(), Some("null"));
        assert_eq!(scalar_at(text, 3, 8).as_deref(), Some("ten"));
        assert_eq!(scalar_at(text, 9, 1), None);
    }
}
