//! A small HTTP/1.1 server for the controller's own endpoints: `/metrics`
//! (see [`metrics_routes`]) and any other fixed path a caller adds (the
//! health probes).
//!
//! It serves `GET` and `HEAD` on exact paths, answers 404 for other paths
//! and 405 for other methods, and stops accepting connections when its
//! shutdown future completes.
//!
//! ```
//! use std::sync::Arc;
//! use karpenter_k8s::http::{HttpServer, metrics_routes};
//! use karpenter_k8s::prometheus::Metrics;
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let metrics = Arc::new(Metrics::new());
//! let server = HttpServer::bind("127.0.0.1:0".parse().unwrap(), metrics_routes(metrics)).await.unwrap();
//! let addr = server.local_addr();
//! let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
//! let running = tokio::spawn(server.serve(async { let _ = stopped.await; }));
//! // ... Prometheus scrapes http://{addr}/metrics ...
//! # let _ = addr;
//! let _ = stop.send(());
//! running.await.unwrap();
//! # });
//! ```

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{ALLOW, CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;

use crate::prometheus::{CONTENT_TYPE as METRICS_CONTENT_TYPE, Metrics};

/// How long a client may take to send its request headers.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// What a route answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The HTTP status.
    pub status: StatusCode,
    /// The `Content-Type`.
    pub content_type: &'static str,
    /// The body.
    pub body: Bytes,
}

impl Response {
    /// `200 OK` with a text body.
    pub fn text(body: impl Into<String>) -> Self {
        Self {
            status: StatusCode::OK,
            content_type: "text/plain; charset=utf-8",
            body: Bytes::from(body.into()),
        }
    }

    /// The same response with another status.
    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }
}

/// A route's handler: called for each request of its path.
pub type Handler = Arc<dyn Fn() -> Response + Send + Sync>;

/// Exact paths and their handlers.
#[derive(Clone, Default)]
pub struct Routes {
    routes: Vec<(String, Handler)>,
}

impl std::fmt::Debug for Routes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.routes.iter().map(|(p, _)| p))
            .finish()
    }
}

impl Routes {
    /// No routes: every path is 404.
    pub fn new() -> Self {
        Self::default()
    }

    /// The same routes, with `path` answered by `handler` (a path added
    /// twice keeps the first handler).
    pub fn route(
        mut self,
        path: impl Into<String>,
        handler: impl Fn() -> Response + Send + Sync + 'static,
    ) -> Self {
        self.routes.push((path.into(), Arc::new(handler)));
        self
    }

    /// The response to `method` on `path`.
    pub fn respond(&self, method: &Method, path: &str) -> hyper::Response<Full<Bytes>> {
        let Some((_, handler)) = self.routes.iter().find(|(p, _)| p == path) else {
            return plain(StatusCode::NOT_FOUND, "not found\n");
        };
        if method != Method::GET && method != Method::HEAD {
            let mut r = plain(StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD\n");
            r.headers_mut()
                .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
            return r;
        }
        let out = handler();
        let body = if method == Method::HEAD {
            Bytes::new()
        } else {
            out.body
        };
        let mut r = hyper::Response::new(Full::new(body));
        *r.status_mut() = out.status;
        r.headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static(out.content_type));
        r
    }
}

fn plain(status: StatusCode, text: &'static str) -> hyper::Response<Full<Bytes>> {
    let mut r = hyper::Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

/// `/metrics`, serving `metrics` in the OpenMetrics text format.
pub fn metrics_routes(metrics: Arc<Metrics>) -> Routes {
    Routes::new().route("/metrics", move || Response {
        status: StatusCode::OK,
        content_type: METRICS_CONTENT_TYPE,
        body: Bytes::from(metrics.encode()),
    })
}

/// The address could not be bound.
#[derive(Debug, thiserror::Error)]
#[error("cannot listen on {addr}: {source}; choose a free address and port (e.g. 0.0.0.0:8080)")]
pub struct BindError {
    /// The address asked for.
    pub addr: SocketAddr,
    /// The I/O error.
    #[source]
    pub source: std::io::Error,
}

/// A bound listener and its routes; [`HttpServer::serve`] runs it.
#[derive(Debug)]
pub struct HttpServer {
    listener: TcpListener,
    addr: SocketAddr,
    routes: Arc<Routes>,
}

impl HttpServer {
    /// Binds `addr` (port 0 picks a free port; see
    /// [`local_addr`](Self::local_addr)).
    pub async fn bind(addr: SocketAddr, routes: Routes) -> Result<Self, BindError> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| BindError { addr, source })?;
        let addr = listener
            .local_addr()
            .map_err(|source| BindError { addr, source })?;
        Ok(Self {
            listener,
            addr,
            routes: Arc::new(routes),
        })
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves connections until `shutdown` completes, then stops accepting,
    /// lets each open connection finish the request it is serving (closing
    /// it after), and returns once they are all closed.
    pub async fn serve(self, shutdown: impl Future<Output = ()>) {
        let mut shutdown = std::pin::pin!(shutdown);
        // Tells the connections to close; they hold `closed` until they do.
        let (stop, _) = tokio::sync::watch::channel(false);
        let (closed, mut all_closed) = tokio::sync::mpsc::channel::<()>(1);
        loop {
            let accepted = tokio::select! {
                () = &mut shutdown => break,
                accepted = self.listener.accept() => accepted,
            };
            let stream = match accepted {
                Ok((stream, _)) => stream,
                // Out of file descriptors or a connection reset before it
                // was accepted: wait a little rather than spin.
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let routes = self.routes.clone();
            let mut stopping = stop.subscribe();
            let closed = closed.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req: Request<Incoming>| {
                    let response = routes.respond(req.method(), req.uri().path());
                    async move { Ok::<_, Infallible>(response) }
                });
                let conn = http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(HEADER_READ_TIMEOUT)
                    .serve_connection(TokioIo::new(stream), service);
                let mut conn = std::pin::pin!(conn);
                // A client that goes away mid-request is its own problem:
                // connection errors are not reported.
                tokio::select! {
                    _ = conn.as_mut() => {}
                    _ = stopping.changed() => {
                        conn.as_mut().graceful_shutdown();
                        let _ = conn.await;
                    }
                }
                drop(closed);
            });
        }
        drop(self.listener);
        let _ = stop.send(true);
        drop(closed);
        // Every sender is dropped once every connection has closed.
        let _ = all_closed.recv().await;
    }
}
