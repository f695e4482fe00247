//! An in-memory Kubernetes API server for tests, benchmarks and demos.
//!
//! [`FakeApi`] keeps objects as JSON in memory and serves them with the
//! API server's HTTP semantics: get, paginated and selected lists, watches
//! that resume from a resourceVersion (410 Gone when it is too old),
//! create, replace with optimistic concurrency, merge / strategic-merge /
//! server-side-apply / JSON patches, delete, the `status` and `scale`
//! subresources, discovery and `Status` errors. kube's typed [`kube::Api`],
//! its `watcher` and `pinned_kind` discovery work against it.
//!
//! Tests seed and inspect the store directly ([`FakeApi::upsert`],
//! [`FakeApi::get`]), read the log of every HTTP request served
//! ([`FakeApi::requests`], [`FakeApi::request_counts`]) and inject faults
//! ([`FakeApi::inject`], [`FakeApi::set_latency`]). It is served in process
//! as a tower service ([`FakeApi::service`], no sockets) or over HTTP/1.1
//! on 127.0.0.1 ([`FakeApi::serve_on_free_port`], with [`kubeconfig_for`]
//! for another process); [`run_cli`] is the `fake-apiserver` command.
//! [`fixtures`] builds realistic nodes, pods and whole clusters.
//!
//! Not modelled: admission (no schema validation, defaulting or CEL
//! rules), field ownership (apply is a merge of the applied fields, no
//! managedFields conflicts), finalizers and `deletionTimestamp` (deletes
//! are immediate), set-based selectors (`in`, `notin`), a consistent
//! snapshot across the pages of a list, ADDED/DELETED synthesized when an
//! object enters or leaves a watch's selector, `deletecollection`,
//! aggregated discovery, protobuf, authentication and authorization.
//!
//! ```
//! use k8s_openapi::api::core::v1::Pod;
//! use karpenter_k8s::fake_api::{FakeApi, Fault, Verb, fixtures};
//! use kube::api::{Api, ListParams, Patch, PatchParams};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let api = FakeApi::new();
//! api.upsert("pods", fixtures::pod("default", "web-1", None, &[("cpu", "500m")], true)).unwrap();
//! let client = kube::Client::new(api.service(), "default");
//! let pods: Api<Pod> = Api::default_namespaced(client);
//!
//! let list = pods.list(&ListParams::default()).await.unwrap();
//! assert_eq!(list.items.len(), 1);
//! let patch = serde_json::json!({"metadata": {"labels": {"app": "web"}}});
//! pods.patch("web-1", &PatchParams::default(), &Patch::Merge(&patch)).await.unwrap();
//! assert_eq!(api.get("pods", Some("default"), "web-1").unwrap()["metadata"]["labels"]["app"], "web");
//!
//! // The next delete fails with 500; the request log shows both calls.
//! api.inject(Fault::new(500, "InternalError").verb(Verb::Delete).resource("pods"));
//! assert!(pods.delete("web-1", &Default::default()).await.is_err());
//! let verbs: Vec<_> = api.take_requests().iter().map(|r| r.verb).collect();
//! assert_eq!(verbs, [Some(Verb::List), Some(Verb::Patch), Some(Verb::Delete)]);
//! # });
//! ```

mod cli;
pub mod fixtures;
mod server;
mod store;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::broadcast;

pub use cli::{FakeApiArgs, run_cli};
pub use server::{FakeApiService, ResponseBody, ServerHandle, kubeconfig_for};
pub use store::{Change, EventType, ResourceKind, ScaleSubresource, builtin_kinds};

use server::Part;
use store::{Signal, State};

/// How many changes a new store keeps for watches to resume from.
pub const DEFAULT_HISTORY: usize = 10_000;

/// Errors of the fake API server; over HTTP each becomes a Kubernetes
/// `Status` with the matching code and reason.
#[derive(Debug, thiserror::Error)]
pub enum FakeApiError {
    /// The resource is not registered.
    #[error("the server does not serve resource {resource:?}; register it with FakeApi::register")]
    UnknownResource {
        /// The resource as asked for.
        resource: String,
    },
    /// No such object (404 NotFound).
    #[error("{resource} {name:?} not found in namespace {namespace:?}")]
    NotFound {
        /// Plural.
        resource: String,
        /// Namespace, empty for cluster-scoped kinds.
        namespace: String,
        /// Name.
        name: String,
    },
    /// Create of an existing object (409 AlreadyExists).
    #[error(
        "{resource} {name:?} already exists in namespace {namespace:?}; replace or patch it instead"
    )]
    AlreadyExists {
        /// Plural.
        resource: String,
        /// Namespace, empty for cluster-scoped kinds.
        namespace: String,
        /// Name.
        name: String,
    },
    /// A write carried a stale `metadata.resourceVersion` (409 Conflict).
    #[error(
        "Operation cannot be fulfilled on {resource} {name:?}: the object has been modified \
         (resourceVersion {given} given, {current} stored); please apply your changes to the latest version and try again"
    )]
    Conflict {
        /// Plural.
        resource: String,
        /// Name.
        name: String,
        /// The resourceVersion the write carried.
        given: String,
        /// The stored one.
        current: String,
    },
    /// The object is malformed (422 Invalid).
    #[error("{resource} {name:?} is invalid: {reason}")]
    Invalid {
        /// Plural.
        resource: String,
        /// Name, possibly empty.
        name: String,
        /// What is wrong and how to fix it.
        reason: String,
    },
    /// The request is malformed (400 BadRequest).
    #[error("bad request: {reason}")]
    BadRequest {
        /// What is wrong.
        reason: String,
    },
    /// The method is not allowed on this path (405 MethodNotAllowed).
    #[error("method {method} is not allowed on {path}")]
    MethodNotAllowed {
        /// HTTP method.
        method: String,
        /// Path.
        path: String,
    },
    /// Binding, serving or writing a file failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// A request's verb, in Kubernetes RBAC terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Verb {
    /// GET of one object (or of a discovery document).
    Get,
    /// GET of a collection.
    List,
    /// GET of a collection with `watch=true`.
    Watch,
    /// POST.
    Create,
    /// PUT.
    Update,
    /// PATCH.
    Patch,
    /// DELETE.
    Delete,
}

impl Verb {
    /// The RBAC verb: `get`, `list`, `watch`, `create`, `update`, `patch`, `delete`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "get",
            Self::List => "list",
            Self::Watch => "watch",
            Self::Create => "create",
            Self::Update => "update",
            Self::Patch => "patch",
            Self::Delete => "delete",
        }
    }
}

/// One HTTP request the server answered.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestRecord {
    /// HTTP method.
    pub method: String,
    /// Path without the query.
    pub path: String,
    /// The raw query string (empty when none).
    pub query: String,
    /// RBAC verb; `None` for methods the server does not know.
    pub verb: Option<Verb>,
    /// API group (empty for core); `None` for paths outside the API.
    pub group: Option<String>,
    /// Plural resource; `None` for discovery.
    pub resource: Option<String>,
    /// `status` or `scale`.
    pub subresource: Option<String>,
    /// Namespace of a namespaced path.
    pub namespace: Option<String>,
    /// Object name.
    pub name: Option<String>,
    /// The request's `Content-Type`.
    pub content_type: Option<String>,
    /// The body, when it was JSON.
    pub body: Option<Value>,
    /// The status code answered.
    pub status: u16,
}

impl RequestRecord {
    /// `"verb resource"` or `"verb resource/subresource"`, the key of
    /// [`FakeApi::request_counts`].
    pub fn key(&self) -> String {
        let verb = self.verb.map_or("other", Verb::as_str);
        match (&self.resource, &self.subresource) {
            (Some(r), Some(s)) => format!("{verb} {r}/{s}"),
            (Some(r), None) => format!("{verb} {r}"),
            _ => format!("{verb} {}", self.path),
        }
    }
}

/// Makes matching requests fail: see [`FakeApi::inject`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    verb: Option<Verb>,
    resource: Option<String>,
    subresource: Option<String>,
    times: usize,
    code: u16,
    reason: String,
    message: String,
}

impl Fault {
    /// Fails the next matching request with `code` and a `Status` of
    /// `reason` (e.g. `409, "Conflict"`; `500, "InternalError"`; `429,
    /// "TooManyRequests"`). Matches every request until narrowed.
    pub fn new(code: u16, reason: &str) -> Self {
        Self {
            verb: None,
            resource: None,
            subresource: None,
            times: 1,
            code,
            reason: reason.to_string(),
            message: format!("injected fault: {reason}"),
        }
    }

    /// Only requests with this verb.
    pub fn verb(mut self, verb: Verb) -> Self {
        self.verb = Some(verb);
        self
    }

    /// Only requests for this plural resource.
    pub fn resource(mut self, plural: &str) -> Self {
        self.resource = Some(plural.to_string());
        self
    }

    /// Only requests for this subresource (`status`, `scale`).
    pub fn subresource(mut self, subresource: &str) -> Self {
        self.subresource = Some(subresource.to_string());
        self
    }

    /// Fail this many matching requests (default 1).
    pub fn times(mut self, times: usize) -> Self {
        self.times = times;
        self
    }

    /// The `Status` message.
    pub fn message(mut self, message: &str) -> Self {
        self.message = message.to_string();
        self
    }

    fn matches(&self, r: &RequestRecord) -> bool {
        self.verb.is_none_or(|v| r.verb == Some(v))
            && self
                .resource
                .as_ref()
                .is_none_or(|x| r.resource.as_ref() == Some(x))
            && self
                .subresource
                .as_ref()
                .is_none_or(|x| r.subresource.as_ref() == Some(x))
    }
}

/// The request log, counters, faults and latency.
#[derive(Default)]
struct Traffic {
    log: Vec<RequestRecord>,
    logging: bool,
    counts: BTreeMap<String, u64>,
    faults: Vec<Fault>,
    latency: Option<Duration>,
}

struct Inner {
    state: Mutex<State>,
    traffic: Mutex<Traffic>,
}

/// The in-memory API server. Cloning is cheap: clones share one store.
#[derive(Clone)]
pub struct FakeApi {
    inner: Arc<Inner>,
}

impl Default for FakeApi {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for FakeApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeApi")
            .field("resource_version", &self.resource_version())
            .finish()
    }
}

impl FakeApi {
    /// An empty store serving [`builtin_kinds`], keeping the last
    /// [`DEFAULT_HISTORY`] changes for watches.
    pub fn new() -> Self {
        Self::with_history(DEFAULT_HISTORY)
    }

    /// An empty store keeping the last `changes` changes for watches; a
    /// watch from an older resourceVersion gets 410 Gone.
    pub fn with_history(changes: usize) -> Self {
        let traffic = Traffic {
            logging: true,
            ..Traffic::default()
        };
        Self {
            inner: Arc::new(Inner {
                state: Mutex::new(State::new(builtin_kinds(), changes.max(1))),
                traffic: Mutex::new(traffic),
            }),
        }
    }

    pub(crate) fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves consistent data behind
        // (every write is one insert), so poisoning is ignored.
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn traffic(&self) -> MutexGuard<'_, Traffic> {
        self.inner.traffic.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Serves another kind too.
    pub fn register(&self, kind: ResourceKind) {
        self.state().register(kind);
    }

    /// The kinds served.
    pub fn kinds(&self) -> Vec<ResourceKind> {
        self.state().kinds.clone()
    }

    /// The latest resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.state().resource_version
    }

    /// Creates or replaces an object as given, status included; the
    /// namespace is read from `metadata.namespace`. `resource` is a plural
    /// (`pods`) or `plural.group` (`events.events.k8s.io`). Returns the
    /// stored object with its new resourceVersion.
    pub fn upsert(&self, resource: &str, object: Value) -> Result<Value, FakeApiError> {
        let mut state = self.state();
        let kind = state.kind_index(resource)?;
        let namespace = object["metadata"]["namespace"]
            .as_str()
            .unwrap_or("")
            .to_string();
        server::write(&mut state, kind, &namespace, None, object, Part::All, true)
    }

    /// Creates an object; [`FakeApiError::AlreadyExists`] if it exists.
    pub fn create(&self, resource: &str, object: Value) -> Result<Value, FakeApiError> {
        let mut state = self.state();
        let kind = state.kind_index(resource)?;
        let namespace = object["metadata"]["namespace"]
            .as_str()
            .unwrap_or("")
            .to_string();
        server::create(&mut state, kind, &namespace, object, Part::All)
    }

    /// Applies an RFC 7386 merge patch to an object, status included.
    pub fn merge_patch(
        &self,
        resource: &str,
        namespace: Option<&str>,
        name: &str,
        patch: &Value,
    ) -> Result<Value, FakeApiError> {
        let mut state = self.state();
        let kind = state.kind_index(resource)?;
        let ns = namespace.unwrap_or("");
        let mut object = server::existing(&state, kind, ns, name)?;
        json_patch::merge(&mut object, patch);
        server::write(&mut state, kind, ns, Some(name), object, Part::All, false)
    }

    /// One object, or `None`.
    pub fn get(&self, resource: &str, namespace: Option<&str>, name: &str) -> Option<Value> {
        let state = self.state();
        let kind = state.kind_index(resource).ok()?;
        state.get_value(kind, namespace.unwrap_or(""), name)
    }

    /// All objects of a kind in a namespace (every namespace for `None`),
    /// ordered by namespace and name.
    pub fn list(&self, resource: &str, namespace: Option<&str>) -> Vec<Value> {
        let state = self.state();
        let Ok(kind) = state.kind_index(resource) else {
            return Vec::new();
        };
        state
            .range(kind, namespace, None)
            .filter_map(|(_, s)| serde_json::from_slice(&s.json).ok())
            .collect()
    }

    /// Deletes an object; returns it, or `None` when there was none.
    pub fn delete(&self, resource: &str, namespace: Option<&str>, name: &str) -> Option<Value> {
        let mut state = self.state();
        let kind = state.kind_index(resource).ok()?;
        state.remove(kind, namespace.unwrap_or(""), name)
    }

    /// Every change from now on (a lagging receiver misses changes).
    pub fn subscribe(&self) -> ChangeStream {
        ChangeStream {
            rx: self.state().signals.subscribe(),
        }
    }

    /// Drops the change history (as an etcd compaction does): watches
    /// asking to resume from an older resourceVersion get 410 Gone.
    pub fn compact(&self) {
        self.state().compact();
    }

    /// Compacts the history and ends every open watch with an `ERROR`
    /// event carrying a 410 Gone `Status`, as a real server does when a
    /// watch falls too far behind: kube's watcher then lists again.
    pub fn expire_watches(&self) {
        let mut state = self.state();
        state.compact();
        let _ = state.signals.send(Signal::Expire);
    }

    /// Sends a BOOKMARK at the current resourceVersion to every open watch
    /// that asked for bookmarks (`allowWatchBookmarks=true`).
    pub fn bookmark(&self) {
        let state = self.state();
        let _ = state.signals.send(Signal::Bookmark(state.resource_version));
    }

    /// Every request served since the last [`take_requests`](Self::take_requests).
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.traffic().log.clone()
    }

    /// Returns and clears the request log (the counters stay).
    pub fn take_requests(&self) -> Vec<RequestRecord> {
        std::mem::take(&mut self.traffic().log)
    }

    /// Requests served since the start (or [`reset_counts`](Self::reset_counts)),
    /// keyed by [`RequestRecord::key`], e.g. `"patch scalablenodegroups/status"`.
    pub fn request_counts(&self) -> BTreeMap<String, u64> {
        self.traffic().counts.clone()
    }

    /// Zeroes the counters.
    pub fn reset_counts(&self) {
        self.traffic().counts.clear();
    }

    /// Whether to keep records in the log (on by default; the counters
    /// always count). Turn it off for long benchmarks.
    pub fn set_request_log(&self, enabled: bool) {
        self.traffic().logging = enabled;
    }

    /// Fails the next `fault.times` requests that match it. Faults are
    /// checked in the order they were injected.
    pub fn inject(&self, fault: Fault) {
        self.traffic().faults.push(fault);
    }

    /// Delays every request by `latency` (`None`: no delay).
    pub fn set_latency(&self, latency: Option<Duration>) {
        self.traffic().latency = latency;
    }

    /// The latency and the fault, if one matches, for a request; the
    /// fault's count is used up.
    fn admit(&self, record: &RequestRecord) -> (Option<Duration>, Option<Fault>) {
        let mut t = self.traffic();
        let latency = t.latency;
        let Some(i) = t.faults.iter().position(|f| f.matches(record)) else {
            return (latency, None);
        };
        t.faults[i].times -= 1;
        let fault = if t.faults[i].times == 0 {
            t.faults.remove(i)
        } else {
            t.faults[i].clone()
        };
        (latency, Some(fault))
    }

    fn record(&self, record: RequestRecord) {
        let mut t = self.traffic();
        *t.counts.entry(record.key()).or_default() += 1;
        if t.logging {
            t.log.push(record);
        }
    }

    /// A tower service answering kube's requests in process:
    /// `kube::Client::new(api.service(), "default")`.
    pub fn service(&self) -> FakeApiService {
        FakeApiService::new(self.clone())
    }

    /// Serves HTTP/1.1 on 127.0.0.1 on a free port until the handle is
    /// shut down or dropped.
    pub async fn serve_on_free_port(&self) -> Result<ServerHandle, FakeApiError> {
        self.serve_on(SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    /// Serves HTTP/1.1 on `addr` (use a loopback address) until the handle
    /// is shut down or dropped.
    pub async fn serve_on(&self, addr: SocketAddr) -> Result<ServerHandle, FakeApiError> {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| FakeApiError::Io {
                context: format!("binding the fake API server to {addr}"),
                source,
            })?;
        self.serve(listener)
    }

    /// Serves HTTP/1.1 on a bound listener until the handle is shut down
    /// or dropped.
    pub fn serve(&self, listener: tokio::net::TcpListener) -> Result<ServerHandle, FakeApiError> {
        server::serve(self.clone(), listener)
    }
}

/// Changes to the store: see [`FakeApi::subscribe`].
#[derive(Debug)]
pub struct ChangeStream {
    rx: broadcast::Receiver<Signal>,
}

impl ChangeStream {
    /// The next change; `None` when the store is gone. Changes missed by
    /// lagging too far behind are skipped.
    pub async fn next(&mut self) -> Option<Arc<Change>> {
        loop {
            match self.rx.recv().await {
                Ok(Signal::Change(c)) => return Some(c),
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }
}
