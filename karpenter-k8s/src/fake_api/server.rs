//! The HTTP side of [`FakeApi`]: routing, the verbs' semantics, watches,
//! discovery, `Status` errors, the tower service and the hyper server.

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Frame;
use hyper::header::CONTENT_TYPE;
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{Value, json};
use tokio::sync::{broadcast, oneshot};

use super::store::{Selector, Signal, State, at_path, selector_string, set_path, watch_line};
use super::{FakeApi, FakeApiError, Fault, RequestRecord, Verb};

/// The body of every response: a JSON document, or a watch stream.
pub type ResponseBody = UnsyncBoxBody<Bytes, Infallible>;

/// How long a watch without `timeoutSeconds` stays open.
const DEFAULT_WATCH_TIMEOUT: Duration = Duration::from_secs(1800);

/// Which part of an object a write may change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Part {
    /// Everything (the programmatic API).
    All,
    /// The main resource: `.status` is kept when the kind has a status subresource.
    Main,
    /// The `status` subresource: only `.status`.
    Status,
}

/// The stored object or 404.
pub(crate) fn existing(
    state: &State,
    kind: usize,
    ns: &str,
    name: &str,
) -> Result<Value, FakeApiError> {
    state
        .get_value(kind, ns, name)
        .ok_or_else(|| missing(state, kind, ns, name))
}

fn missing(state: &State, kind: usize, ns: &str, name: &str) -> FakeApiError {
    FakeApiError::NotFound {
        resource: state.kinds[kind].plural.clone(),
        namespace: ns.to_string(),
        name: name.to_string(),
    }
}

fn invalid(state: &State, kind: usize, name: &str, reason: &str) -> FakeApiError {
    FakeApiError::Invalid {
        resource: state.kinds[kind].plural.clone(),
        name: name.to_string(),
        reason: reason.to_string(),
    }
}

/// Checks the namespace of a write: required for namespaced kinds,
/// ignored for cluster-scoped ones.
fn scope<'a>(state: &State, kind: usize, ns: &'a str, name: &str) -> Result<&'a str, FakeApiError> {
    match (state.kinds[kind].namespaced, ns.is_empty()) {
        (true, true) => Err(invalid(
            state,
            kind,
            name,
            "metadata.namespace is required for this namespaced kind",
        )),
        (true, false) => Ok(ns),
        (false, _) => Ok(""),
    }
}

/// Replaces (or, with `allow_create`, creates) an object, keeping what
/// `part` may not change and checking a given `metadata.resourceVersion`.
pub(crate) fn write(
    state: &mut State,
    kind: usize,
    ns: &str,
    name: Option<&str>,
    mut object: Value,
    part: Part,
    allow_create: bool,
) -> Result<Value, FakeApiError> {
    let name = match name.or_else(|| object["metadata"]["name"].as_str()) {
        Some(n) if !n.is_empty() => n.to_string(),
        _ => return Err(invalid(state, kind, "", "metadata.name is required")),
    };
    let ns = scope(state, kind, ns, &name)?;
    let Some(old) = state.get_value(kind, ns, &name) else {
        if allow_create {
            return create(state, kind, ns, object, part);
        }
        return Err(missing(state, kind, ns, &name));
    };
    let given = object["metadata"]["resourceVersion"].as_str().unwrap_or("");
    let current = old["metadata"]["resourceVersion"].as_str().unwrap_or("");
    if part != Part::All && !given.is_empty() && given != current {
        return Err(FakeApiError::Conflict {
            resource: state.kinds[kind].plural.clone(),
            name,
            given: given.to_string(),
            current: current.to_string(),
        });
    }
    let object = match part {
        Part::All => object,
        Part::Main if state.kinds[kind].status_subresource => {
            keep_status(&mut object, &old);
            object
        }
        Part::Main => object,
        Part::Status => {
            let mut merged = old.clone();
            keep_status(&mut merged, &object);
            merged
        }
    };
    state.commit(kind, ns, &name, object, Some(&old))
}

/// Sets `object.status` to `from.status` (removes it when `from` has none).
fn keep_status(object: &mut Value, from: &Value) {
    if let Some(obj) = object.as_object_mut() {
        match from.get("status") {
            Some(status) => obj.insert("status".into(), status.clone()),
            None => obj.remove("status"),
        };
    }
}

/// Creates an object; `generateName` gets a suffix.
pub(crate) fn create(
    state: &mut State,
    kind: usize,
    ns: &str,
    mut object: Value,
    part: Part,
) -> Result<Value, FakeApiError> {
    let meta = &object["metadata"];
    let name = match (meta["name"].as_str(), meta["generateName"].as_str()) {
        (Some(n), _) if !n.is_empty() => n.to_string(),
        (_, Some(prefix)) => format!("{prefix}{:05x}", state.resource_version + 1),
        _ => {
            return Err(invalid(
                state,
                kind,
                "",
                "metadata.name or metadata.generateName is required",
            ));
        }
    };
    let ns = scope(state, kind, ns, &name)?;
    if state.get(kind, ns, &name).is_some() {
        return Err(FakeApiError::AlreadyExists {
            resource: state.kinds[kind].plural.clone(),
            namespace: ns.to_string(),
            name,
        });
    }
    if part == Part::Main && state.kinds[kind].status_subresource {
        keep_status(&mut object, &Value::Null);
    }
    state.commit(kind, ns, &name, object, None)
}

/// The `autoscaling/v1` Scale of an object.
fn scale_of(state: &State, kind: usize, object: &Value) -> Result<Value, FakeApiError> {
    let Some(scale) = &state.kinds[kind].scale else {
        return Err(FakeApiError::NotFound {
            resource: format!("{}/scale", state.kinds[kind].plural),
            namespace: String::new(),
            name: String::new(),
        });
    };
    let meta = &object["metadata"];
    let mut status =
        json!({"replicas": at_path(object, &scale.status_replicas_path).as_i64().unwrap_or(0)});
    if let Some(sel) = scale
        .label_selector_path
        .as_ref()
        .and_then(|p| selector_string(at_path(object, p)))
    {
        status["selector"] = json!(sel);
    }
    Ok(json!({
        "apiVersion": "autoscaling/v1",
        "kind": "Scale",
        "metadata": {
            "name": meta["name"], "namespace": meta["namespace"], "uid": meta["uid"],
            "resourceVersion": meta["resourceVersion"], "creationTimestamp": meta["creationTimestamp"],
        },
        "spec": {"replicas": at_path(object, &scale.spec_replicas_path).as_i64().unwrap_or(0)},
        "status": status,
    }))
}

/// Writes a Scale's `spec.replicas` into its object; returns the new Scale.
fn write_scale(
    state: &mut State,
    kind: usize,
    ns: &str,
    name: &str,
    scale: &Value,
) -> Result<Value, FakeApiError> {
    let mut object = existing(state, kind, ns, name)?;
    let current = scale_of(state, kind, &object)?;
    let given = scale["metadata"]["resourceVersion"].as_str().unwrap_or("");
    if !given.is_empty() && Some(given) != current["metadata"]["resourceVersion"].as_str() {
        return Err(FakeApiError::Conflict {
            resource: format!("{}/scale", state.kinds[kind].plural),
            name: name.to_string(),
            given: given.to_string(),
            current: current["metadata"]["resourceVersion"]
                .as_str()
                .unwrap_or("")
                .to_string(),
        });
    }
    let Some(replicas) = scale["spec"]["replicas"].as_i64().filter(|r| *r >= 0) else {
        return Err(invalid(
            state,
            kind,
            name,
            "Scale spec.replicas must be an integer >= 0",
        ));
    };
    let path = state.kinds[kind]
        .scale
        .as_ref()
        .map(|s| s.spec_replicas_path.clone())
        .unwrap_or_default();
    set_path(&mut object, &path, json!(replicas));
    let stored = write(state, kind, ns, Some(name), object, Part::All, false)?;
    scale_of(state, kind, &stored)
}

/// Applies a PATCH body of the given content type to `target`.
fn apply_patch(target: &mut Value, content_type: &str, body: &[u8]) -> Result<(), FakeApiError> {
    let bad = |reason: String| FakeApiError::BadRequest { reason };
    let media = content_type.split(';').next().unwrap_or("").trim();
    match media {
        "application/merge-patch+json" | "application/strategic-merge-patch+json" => {
            let patch: Value = serde_json::from_slice(body)
                .map_err(|e| bad(format!("patch body is not JSON: {e}")))?;
            json_patch::merge(target, &patch);
        }
        "application/apply-patch+yaml" => {
            let patch = parse_yaml_or_json(body)?;
            json_patch::merge(target, &patch);
        }
        "application/json-patch+json" => {
            let patch: json_patch::Patch = serde_json::from_slice(body)
                .map_err(|e| bad(format!("JSON patch body is not a list of operations: {e}")))?;
            json_patch::patch(target, &patch.0)
                .map_err(|e| bad(format!("JSON patch failed: {e}")))?;
        }
        other => return Err(bad(format!("unsupported patch content type {other:?}"))),
    }
    Ok(())
}

fn parse_yaml_or_json(body: &[u8]) -> Result<Value, FakeApiError> {
    serde_json::from_slice(body).or_else(|_| {
        let text = std::str::from_utf8(body).map_err(|e| FakeApiError::BadRequest {
            reason: format!("apply body is not UTF-8: {e}"),
        })?;
        serde_saphyr::from_str::<Value>(text).map_err(|e| FakeApiError::BadRequest {
            reason: format!("apply body is neither JSON nor YAML: {e}"),
        })
    })
}

/// Where a request goes, parsed from its path.
#[derive(Debug, Default)]
struct PathInfo {
    discovery: Option<&'static str>,
    group: Option<String>,
    version: Option<String>,
    plural: Option<String>,
    namespace: Option<String>,
    name: Option<String>,
    subresource: Option<String>,
    malformed: bool,
}

fn parse_path(path: &str) -> PathInfo {
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let mut info = PathInfo::default();
    let rest = match segs.as_slice() {
        ["api"] => {
            info.discovery = Some("api");
            return info;
        }
        ["apis"] => {
            info.discovery = Some("apis");
            return info;
        }
        ["version"] => {
            info.discovery = Some("version");
            return info;
        }
        ["api", v, rest @ ..] => {
            (info.group, info.version) = (Some(String::new()), Some(v.to_string()));
            rest
        }
        ["apis", g, v, rest @ ..] => {
            (info.group, info.version) = (Some(g.to_string()), Some(v.to_string()));
            rest
        }
        _ => {
            info.malformed = true;
            return info;
        }
    };
    let rest = match rest {
        [] => {
            info.discovery = Some("resources");
            return info;
        }
        ["namespaces", ns, plural, rest @ ..] => {
            info.namespace = Some(ns.to_string());
            info.plural = Some(plural.to_string());
            rest
        }
        [plural, rest @ ..] => {
            info.plural = Some(plural.to_string());
            rest
        }
    };
    match rest {
        [] => {}
        [name] => info.name = Some(name.to_string()),
        [name, sub] => {
            (info.name, info.subresource) = (Some(name.to_string()), Some(sub.to_string()))
        }
        _ => info.malformed = true,
    }
    info
}

/// A boolean query parameter: `true` or `1`.
fn is_true(param: Option<&String>) -> bool {
    matches!(param.map(String::as_str), Some("true" | "1"))
}

fn verb_of(method: &Method, info: &PathInfo, params: &HashMap<String, String>) -> Option<Verb> {
    let watch = is_true(params.get("watch"));
    Some(match *method {
        Method::GET if info.name.is_some() || info.discovery.is_some() => Verb::Get,
        Method::GET if watch => Verb::Watch,
        Method::GET => Verb::List,
        Method::POST => Verb::Create,
        Method::PUT => Verb::Update,
        Method::PATCH => Verb::Patch,
        Method::DELETE => Verb::Delete,
        _ => return None,
    })
}

/// Answers one request and records it.
pub(crate) async fn handle<B>(api: FakeApi, req: Request<B>) -> Response<ResponseBody>
where
    B: hyper::body::Body,
    B::Error: std::fmt::Display,
{
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_string();
    let query = parts.uri.query().unwrap_or("").to_string();
    let params: HashMap<String, String> = form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    let content_type = parts
        .headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let info = parse_path(&path);
    let verb = verb_of(&parts.method, &info, &params);
    let body = body
        .collect()
        .await
        .map(|c| c.to_bytes())
        .map_err(|e| e.to_string());
    let mut record = RequestRecord {
        method: parts.method.to_string(),
        path,
        query,
        verb,
        group: info.group.clone(),
        resource: info.plural.clone(),
        subresource: info.subresource.clone(),
        namespace: info.namespace.clone(),
        name: info.name.clone(),
        content_type: content_type.clone(),
        body: body
            .as_ref()
            .ok()
            .and_then(|b| serde_json::from_slice(b).ok()),
        status: 0,
    };
    let (latency, fault) = api.admit(&record);
    if let Some(latency) = latency {
        tokio::time::sleep(latency).await;
    }
    let result = match (fault, body) {
        (Some(fault), _) => Ok(fault_response(&fault)),
        (None, Err(e)) => Err(FakeApiError::BadRequest {
            reason: format!("reading the request body: {e}"),
        }),
        (None, Ok(body)) => match verb {
            None => Err(FakeApiError::MethodNotAllowed {
                method: record.method.clone(),
                path: record.path.clone(),
            }),
            Some(verb) => dispatch(
                &api,
                verb,
                &info,
                &params,
                content_type.as_deref().unwrap_or(""),
                &body,
            ),
        },
    };
    let response = result.unwrap_or_else(|e| error_response(&e));
    record.status = response.status().as_u16();
    api.record(record);
    response
}

fn dispatch(
    api: &FakeApi,
    verb: Verb,
    info: &PathInfo,
    params: &HashMap<String, String>,
    content_type: &str,
    body: &[u8],
) -> Result<Response<ResponseBody>, FakeApiError> {
    let not_found = || FakeApiError::NotFound {
        resource: info.plural.clone().unwrap_or_default(),
        namespace: info.namespace.clone().unwrap_or_default(),
        name: info.name.clone().unwrap_or_default(),
    };
    if info.malformed {
        return Err(not_found());
    }
    if let Some(doc) = info.discovery {
        if verb != Verb::Get {
            return Err(FakeApiError::MethodNotAllowed {
                method: verb.as_str().to_string(),
                path: doc.to_string(),
            });
        }
        return discovery(&api.state(), doc, info)
            .map(|v| json_response(StatusCode::OK, &v))
            .ok_or_else(not_found);
    }
    let mut state = api.state();
    let (group, version, plural) = (
        info.group.as_deref(),
        info.version.as_deref(),
        info.plural.as_deref(),
    );
    let kind = state
        .kinds
        .iter()
        .position(|k| {
            Some(k.group.as_str()) == group
                && Some(k.version.as_str()) == version
                && Some(k.plural.as_str()) == plural
        })
        .ok_or_else(not_found)?;
    let k = state.kinds[kind].clone();
    let collection = info.name.is_none() && matches!(verb, Verb::List | Verb::Watch);
    if info.namespace.is_some() && !k.namespaced
        || info.namespace.is_none() && k.namespaced && !collection
    {
        return Err(not_found());
    }
    match info.subresource.as_deref() {
        None => {}
        Some("status") if k.status_subresource => {}
        Some("scale") if k.scale.is_some() => {}
        Some(_) => return Err(not_found()),
    }
    let ns = info.namespace.clone().unwrap_or_default();
    let name = info.name.as_deref();
    let sub = info.subresource.as_deref();
    let parse_body = || -> Result<Value, FakeApiError> {
        let mut v: Value = serde_json::from_slice(body).map_err(|e| FakeApiError::BadRequest {
            reason: format!("the body is not JSON: {e}"),
        })?;
        if let Some(given) = v["metadata"]["namespace"].as_str()
            && k.namespaced
            && given != ns
        {
            return Err(FakeApiError::BadRequest {
                reason: format!(
                    "the namespace of the object ({given}) does not match the namespace on the request ({ns})"
                ),
            });
        }
        if k.namespaced && v.is_object() {
            v["metadata"]["namespace"] = json!(ns);
        }
        Ok(v)
    };
    let object = match (verb, name, sub) {
        (Verb::Get, Some(name), Some("scale")) => {
            scale_of(&state, kind, &existing(&state, kind, &ns, name)?)?
        }
        (Verb::Get, Some(name), _) => existing(&state, kind, &ns, name)?,
        (Verb::List, None, None) => return list(&state, kind, info.namespace.as_deref(), params),
        (Verb::Watch, None, None) => return watch(&state, kind, info.namespace.clone(), params),
        (Verb::Create, None, None) => {
            let created = create(&mut state, kind, &ns, parse_body()?, Part::Main)?;
            return Ok(json_response(StatusCode::CREATED, &created));
        }
        (Verb::Update, Some(name), Some("scale")) => {
            write_scale(&mut state, kind, &ns, name, &parse_body()?)?
        }
        (Verb::Update, Some(name), sub) => {
            let part = if sub == Some("status") {
                Part::Status
            } else {
                Part::Main
            };
            let object = parse_body()?;
            if object["metadata"]["name"]
                .as_str()
                .is_some_and(|n| n != name)
            {
                return Err(FakeApiError::BadRequest {
                    reason: format!(
                        "the name of the object does not match the name on the URL ({name})"
                    ),
                });
            }
            write(&mut state, kind, &ns, Some(name), object, part, false)?
        }
        (Verb::Patch, Some(name), Some("scale")) => {
            let mut scale = scale_of(&state, kind, &existing(&state, kind, &ns, name)?)?;
            apply_patch(&mut scale, content_type, body)?;
            write_scale(&mut state, kind, &ns, name, &scale)?
        }
        (Verb::Patch, Some(name), sub) => {
            let part = if sub == Some("status") {
                Part::Status
            } else {
                Part::Main
            };
            let apply = content_type.starts_with("application/apply-patch+yaml");
            match state.get_value(kind, &ns, name) {
                None if apply && part == Part::Main => {
                    let mut object = parse_yaml_or_json(body)?;
                    if k.namespaced && object.is_object() {
                        object["metadata"]["namespace"] = json!(ns);
                    }
                    object["metadata"]["name"] = json!(name);
                    let created = create(&mut state, kind, &ns, object, Part::Main)?;
                    return Ok(json_response(StatusCode::CREATED, &created));
                }
                None => return Err(missing(&state, kind, &ns, name)),
                Some(mut object) => {
                    apply_patch(&mut object, content_type, body)?;
                    write(&mut state, kind, &ns, Some(name), object, part, false)?
                }
            }
        }
        (Verb::Delete, Some(name), None) => state.remove(kind, &ns, name).ok_or_else(not_found)?,
        _ => {
            return Err(FakeApiError::MethodNotAllowed {
                method: verb.as_str().to_string(),
                path: format!(
                    "{}{}",
                    k.plural,
                    sub.map(|s| format!("/{s}")).unwrap_or_default()
                ),
            });
        }
    };
    Ok(json_response(StatusCode::OK, &object))
}

/// A (paginated, selected) list, items serialized as stored.
fn list(
    state: &State,
    kind: usize,
    ns: Option<&str>,
    params: &HashMap<String, String>,
) -> Result<Response<ResponseBody>, FakeApiError> {
    let selector = selector_of(params)?;
    let limit = match params.get("limit").map(|l| l.parse::<usize>()) {
        None => usize::MAX,
        Some(Ok(0)) => usize::MAX,
        Some(Ok(n)) => n,
        Some(Err(_)) => {
            return Err(FakeApiError::BadRequest {
                reason: "limit must be a non-negative integer".into(),
            });
        }
    };
    let after = match params.get("continue").filter(|c| !c.is_empty()) {
        None => None,
        Some(token) => match token.split_once('/') {
            Some((ns, name)) => Some((ns.to_string(), name.to_string())),
            None => {
                return Err(FakeApiError::BadRequest {
                    reason: format!("continue token {token:?} was not issued by this server"),
                });
            }
        },
    };
    let mut matching = state
        .range(kind, ns, after)
        .filter(|((ns, name), s)| selector.matches(ns, name, &s.labels, &s.json));
    let mut items = Vec::new();
    let mut last = None;
    for (key, stored) in matching.by_ref().take(limit) {
        items.push(stored.json.clone());
        last = Some(key);
    }
    // Whether more follow; not how many (counting would scan the rest of
    // the collection for every page), so no remainingItemCount.
    let more = matching.next().is_some();
    let k = &state.kinds[kind];
    let mut meta = json!({"resourceVersion": state.resource_version.to_string()});
    if let (true, Some((ns, name))) = (more, last) {
        meta["continue"] = json!(format!("{ns}/{name}"));
    }
    let head =
        json!({"apiVersion": k.api_version(), "kind": format!("{}List", k.kind), "metadata": meta})
            .to_string();
    let mut out =
        Vec::with_capacity(head.len() + items.iter().map(|i| i.len() + 1).sum::<usize>() + 16);
    out.extend_from_slice(&head.as_bytes()[..head.len() - 1]);
    out.extend_from_slice(b",\"items\":[");
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(item);
    }
    out.extend_from_slice(b"]}");
    Ok(bytes_response(StatusCode::OK, Bytes::from(out)))
}

fn selector_of(params: &HashMap<String, String>) -> Result<Selector, FakeApiError> {
    Selector::parse(
        params.get("labelSelector").map(String::as_str),
        params.get("fieldSelector").map(String::as_str),
    )
    .map_err(|reason| FakeApiError::BadRequest { reason })
}

/// What a watch stream carries between polls.
struct WatchState {
    pending: VecDeque<Bytes>,
    rx: broadcast::Receiver<Signal>,
    kind: usize,
    namespace: Option<String>,
    selector: Selector,
    after: u64,
    deadline: tokio::time::Instant,
    bookmarks: bool,
    bookmark_type: (String, String),
    done: bool,
}

impl WatchState {
    fn wants(&self, c: &super::Change) -> bool {
        c.kind_index == self.kind
            && c.resource_version > self.after
            && self.namespace.as_ref().is_none_or(|ns| *ns == c.namespace)
            && self
                .selector
                .matches(&c.namespace, &c.name, &c.labels, &c.json)
    }

    async fn next_line(&mut self) -> Option<Bytes> {
        if let Some(line) = self.pending.pop_front() {
            return Some(line);
        }
        while !self.done {
            let signal = tokio::select! {
                _ = tokio::time::sleep_until(self.deadline) => return None,
                signal = self.rx.recv() => signal,
            };
            match signal {
                Ok(Signal::Change(c)) if self.wants(&c) => {
                    self.after = c.resource_version;
                    return Some(c.line.clone());
                }
                Ok(Signal::Change(_)) => {}
                Ok(Signal::Bookmark(rv)) if self.bookmarks => {
                    let (api_version, kind) = &self.bookmark_type;
                    let object = json!({"apiVersion": api_version, "kind": kind, "metadata": {"resourceVersion": rv.to_string()}});
                    return Some(watch_line("BOOKMARK", object.to_string().as_bytes()));
                }
                Ok(Signal::Bookmark(_)) => {}
                Ok(Signal::Expire) | Err(broadcast::error::RecvError::Lagged(_)) => {
                    self.done = true;
                    return Some(gone_line(self.after));
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
        None
    }
}

fn gone_line(rv: u64) -> Bytes {
    let status = status_json(
        410,
        "Expired",
        &format!("too old resource version: {rv}"),
        &json!({}),
    );
    watch_line("ERROR", status.to_string().as_bytes())
}

/// A watch: events after `resourceVersion` from the history (all objects
/// as ADDED when it is absent or 0), then live changes until
/// `timeoutSeconds`.
fn watch(
    state: &State,
    kind: usize,
    namespace: Option<String>,
    params: &HashMap<String, String>,
) -> Result<Response<ResponseBody>, FakeApiError> {
    let selector = selector_of(params)?;
    let timeout = match params.get("timeoutSeconds").map(|t| t.parse::<u64>()) {
        None => DEFAULT_WATCH_TIMEOUT,
        // 0 means the server's default, as in Kubernetes.
        Some(Ok(0)) => DEFAULT_WATCH_TIMEOUT,
        Some(Ok(s)) => Duration::from_secs(s),
        Some(Err(_)) => {
            return Err(FakeApiError::BadRequest {
                reason: "timeoutSeconds must be an integer".into(),
            });
        }
    };
    let k = &state.kinds[kind];
    let mut w = WatchState {
        pending: VecDeque::new(),
        rx: state.signals.subscribe(),
        kind,
        namespace,
        selector,
        after: 0,
        deadline: tokio::time::Instant::now() + timeout,
        bookmarks: matches!(
            params.get("allowWatchBookmarks").map(String::as_str),
            Some("true" | "1")
        ),
        bookmark_type: (k.api_version(), k.kind.clone()),
        done: false,
    };
    match params
        .get("resourceVersion")
        .map(String::as_str)
        .filter(|rv| !rv.is_empty() && *rv != "0")
    {
        None => {
            let ns = w.namespace.as_deref();
            for ((ns, name), s) in state.range(kind, ns, None) {
                if w.selector.matches(ns, name, &s.labels, &s.json) {
                    w.pending.push_back(watch_line("ADDED", &s.json));
                }
            }
            if is_true(params.get("sendInitialEvents")) {
                // A streaming list ends its initial events with this bookmark.
                let (api_version, kind) = &w.bookmark_type;
                let object = json!({"apiVersion": api_version, "kind": kind, "metadata": {
                    "resourceVersion": state.resource_version.to_string(),
                    "annotations": {"k8s.io/initial-events-end": "true"}}});
                w.pending
                    .push_back(watch_line("BOOKMARK", object.to_string().as_bytes()));
            }
        }
        Some(rv) => {
            let rv: u64 = rv.parse().map_err(|_| FakeApiError::BadRequest {
                reason: format!("resourceVersion {rv:?} is not one this server issued"),
            })?;
            w.after = rv;
            match state.history_after(rv) {
                None => {
                    w.pending.push_back(gone_line(rv));
                    w.done = true;
                }
                Some(changes) => {
                    let lines: Vec<Bytes> = changes
                        .iter()
                        .filter(|c| w.wants(c))
                        .map(|c| c.line.clone())
                        .collect();
                    w.pending.extend(lines);
                }
            }
        }
    }
    w.after = w.after.max(state.resource_version);
    let stream = futures_util::stream::unfold(w, |mut w| async move {
        let line = w.next_line().await?;
        Some((Ok::<_, Infallible>(Frame::data(line)), w))
    });
    let body = UnsyncBoxBody::new(StreamBody::new(stream));
    Ok(Response::builder()
        .status(StatusCode::OK)
        .header(CONTENT_TYPE, "application/json")
        .body(body)
        .unwrap_or_else(|_| Response::new(empty_body())))
}

/// `/api`, `/apis`, `/version` and the APIResourceLists.
fn discovery(state: &State, doc: &str, info: &PathInfo) -> Option<Value> {
    Some(match doc {
        "api" => json!({"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]}),
        "version" => {
            json!({"major": "1", "minor": "33", "gitVersion": "v1.33.0-karpenter-fake", "gitCommit": "",
            "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z", "goVersion": "", "compiler": "rustc",
            "platform": "linux/amd64"})
        }
        "apis" => {
            let mut groups: Vec<Value> = Vec::new();
            for k in state.kinds.iter().filter(|k| !k.group.is_empty()) {
                let gv = json!({"groupVersion": k.api_version(), "version": k.version});
                match groups.iter_mut().find(|g| g["name"] == k.group.as_str()) {
                    Some(g) if g["versions"].as_array().is_some_and(|v| v.contains(&gv)) => {}
                    Some(g) => {
                        if let Some(v) = g["versions"].as_array_mut() {
                            v.push(gv)
                        }
                    }
                    None => groups.push(
                        json!({"name": k.group, "versions": [gv.clone()], "preferredVersion": gv}),
                    ),
                }
            }
            json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
        }
        _ => {
            let (group, version) = (info.group.as_deref()?, info.version.as_deref()?);
            let verbs = json!([
                "create", "delete", "get", "list", "patch", "update", "watch"
            ]);
            let sub_verbs = json!(["get", "patch", "update"]);
            let mut resources = Vec::new();
            for k in state
                .kinds
                .iter()
                .filter(|k| k.group == group && k.version == version)
            {
                let singular = k.kind.to_lowercase();
                resources.push(json!({"name": k.plural, "singularName": singular, "namespaced": k.namespaced, "kind": k.kind, "verbs": verbs}));
                if k.status_subresource {
                    resources.push(json!({"name": format!("{}/status", k.plural), "singularName": "", "namespaced": k.namespaced, "kind": k.kind, "verbs": sub_verbs}));
                }
                if k.scale.is_some() {
                    resources.push(json!({"name": format!("{}/scale", k.plural), "singularName": "", "namespaced": k.namespaced,
                        "group": "autoscaling", "version": "v1", "kind": "Scale", "verbs": sub_verbs}));
                }
            }
            if resources.is_empty() {
                return None;
            }
            let gv = if group.is_empty() {
                version.to_string()
            } else {
                format!("{group}/{version}")
            };
            json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources})
        }
    })
}

fn status_json(code: u16, reason: &str, message: &str, details: &Value) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message, "reason": reason, "details": details, "code": code})
}

fn error_response(err: &FakeApiError) -> Response<ResponseBody> {
    let (code, reason, details) = match err {
        FakeApiError::UnknownResource { .. } => (404, "NotFound", json!({})),
        FakeApiError::NotFound { resource, name, .. } => {
            (404, "NotFound", json!({"name": name, "kind": resource}))
        }
        FakeApiError::AlreadyExists { resource, name, .. } => (
            409,
            "AlreadyExists",
            json!({"name": name, "kind": resource}),
        ),
        FakeApiError::Conflict { resource, name, .. } => {
            (409, "Conflict", json!({"name": name, "kind": resource}))
        }
        FakeApiError::Invalid { resource, name, .. } => {
            (422, "Invalid", json!({"name": name, "kind": resource}))
        }
        FakeApiError::BadRequest { .. } => (400, "BadRequest", json!({})),
        FakeApiError::MethodNotAllowed { .. } => (405, "MethodNotAllowed", json!({})),
        FakeApiError::Io { .. } => (500, "InternalError", json!({})),
    };
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    json_response(
        status,
        &status_json(code, reason, &err.to_string(), &details),
    )
}

fn fault_response(fault: &Fault) -> Response<ResponseBody> {
    let status = StatusCode::from_u16(fault.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    json_response(
        status,
        &status_json(fault.code, &fault.reason, &fault.message, &json!({})),
    )
}

fn empty_body() -> ResponseBody {
    UnsyncBoxBody::new(Full::new(Bytes::new()))
}

fn bytes_response(status: StatusCode, body: Bytes) -> Response<ResponseBody> {
    let mut response = Response::new(UnsyncBoxBody::new(Full::new(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    response
}

fn json_response(status: StatusCode, value: &Value) -> Response<ResponseBody> {
    bytes_response(status, Bytes::from(value.to_string()))
}

/// [`FakeApi`] as a tower service, for `kube::Client::new`.
#[derive(Clone, Debug)]
pub struct FakeApiService {
    api: FakeApi,
}

impl FakeApiService {
    pub(crate) fn new(api: FakeApi) -> Self {
        Self { api }
    }
}

impl<B> tower_service::Service<Request<B>> for FakeApiService
where
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: std::fmt::Display,
{
    type Response = Response<ResponseBody>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let api = self.api.clone();
        Box::pin(async move { Ok(handle(api, req).await) })
    }
}

/// A running HTTP server; dropping it stops the server.
#[derive(Debug)]
pub struct ServerHandle {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl ServerHandle {
    /// The address served.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A kubeconfig for this server: see [`kubeconfig_for`].
    pub fn kubeconfig(&self) -> String {
        kubeconfig_for(self.addr)
    }

    /// Stops accepting connections, closes open ones, and waits for the
    /// server task to end.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

pub(crate) fn serve(
    api: FakeApi,
    listener: tokio::net::TcpListener,
) -> Result<ServerHandle, FakeApiError> {
    let addr = listener.local_addr().map_err(|source| FakeApiError::Io {
        context: "reading the fake API server's address".into(),
        source,
    })?;
    let (stop, mut stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let mut connections = tokio::task::JoinSet::new();
        loop {
            tokio::select! {
                _ = &mut stopped => break,
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
                accepted = listener.accept() => {
                    let stream = match accepted {
                        Ok((stream, _)) => stream,
                        Err(e) => {
                            tracing::warn!(error = %e, "fake API server: accepting a connection failed");
                            continue;
                        }
                    };
                    let api = api.clone();
                    connections.spawn(async move {
                        let service = hyper::service::service_fn(move |req| {
                            let api = api.clone();
                            async move { Ok::<_, Infallible>(handle(api, req).await) }
                        });
                        let io = hyper_util::rt::TokioIo::new(stream);
                        if let Err(e) = hyper::server::conn::http1::Builder::new().serve_connection(io, service).await {
                            tracing::debug!(error = %e, "fake API server: connection ended with an error");
                        }
                    });
                }
            }
        }
        // Dropping the set aborts open connections, watches included.
    });
    Ok(ServerHandle {
        addr,
        stop: Some(stop),
        task: Some(task),
    })
}

/// A kubeconfig (YAML) whose current context talks to `http://ADDR` with
/// no credentials, namespace `default`.
pub fn kubeconfig_for(addr: SocketAddr) -> String {
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: http://{addr}\n\
         contexts:\n- name: fake\n  context:\n    cluster: fake\n    user: fake\n    namespace: default\n\
         current-context: fake\nusers:\n- name: fake\n  user: {{}}\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_parse_into_group_resource_namespace_name_and_subresource() {
        let p = parse_path(
            "/apis/autoscaling.karpenter.sh/v1alpha1/namespaces/ns/scalablenodegroups/g/scale",
        );
        assert_eq!(
            (
                p.group.as_deref(),
                p.version.as_deref(),
                p.plural.as_deref(),
                p.namespace.as_deref(),
                p.name.as_deref(),
                p.subresource.as_deref()
            ),
            (
                Some("autoscaling.karpenter.sh"),
                Some("v1alpha1"),
                Some("scalablenodegroups"),
                Some("ns"),
                Some("g"),
                Some("scale")
            )
        );
        let p = parse_path("/api/v1/nodes/n1");
        assert_eq!(
            (
                p.group.as_deref(),
                p.plural.as_deref(),
                p.namespace,
                p.name.as_deref()
            ),
            (Some(""), Some("nodes"), None, Some("n1"))
        );
        assert_eq!(parse_path("/api/v1").discovery, Some("resources"));
        assert!(parse_path("/api/v1/pods/a/b/c").malformed);
        assert!(parse_path("/healthz").malformed);
    }

    #[test]
    fn patches_of_every_content_type_apply() {
        let base = json!({"spec": {"replicas": 1, "paused": true}});
        let cases = [
            (
                "application/merge-patch+json",
                r#"{"spec":{"replicas":3,"paused":null}}"#,
                json!({"spec": {"replicas": 3}}),
            ),
            (
                "application/strategic-merge-patch+json",
                r#"{"spec":{"replicas":2}}"#,
                json!({"spec": {"replicas": 2, "paused": true}}),
            ),
            (
                "application/apply-patch+yaml",
                "spec:\n  replicas: 4\n",
                json!({"spec": {"replicas": 4, "paused": true}}),
            ),
            (
                "application/json-patch+json",
                r#"[{"op":"replace","path":"/spec/replicas","value":5}]"#,
                json!({"spec": {"replicas": 5, "paused": true}}),
            ),
        ];
        for (ct, body, want) in cases {
            let mut v = base.clone();
            apply_patch(&mut v, ct, body.as_bytes()).unwrap();
            assert_eq!(v, want, "{ct}");
        }
        let mut v = base.clone();
        assert!(matches!(
            apply_patch(&mut v, "text/plain", b"{}"),
            Err(FakeApiError::BadRequest { .. })
        ));
    }
}
