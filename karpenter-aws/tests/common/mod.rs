//! What the integration tests share: a `moto_server` on loopback, an SDK
//! configuration pointing at it, and an HTTP client that can fail chosen
//! calls the way AWS throttles.
//!
//! No test reaches a non-loopback address: the SDK configuration is built
//! explicitly (static credentials, region, endpoint), so the standard
//! chain, which could probe the EC2 instance metadata service, is never
//! consulted.

#![allow(dead_code)] // each test binary uses its own part of this module
#![allow(clippy::unwrap_used, clippy::expect_used)] // test support fails loudly on purpose

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_sqs::config::{Credentials, SharedCredentialsProvider};
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;

/// The region every test uses.
pub const REGION: &str = "us-east-1";
/// The account moto serves for any access key it does not know.
pub const ACCOUNT: &str = "123456789012";

/// A `moto_server` on 127.0.0.1 and a free port, killed when dropped.
#[derive(Debug)]
pub struct Moto {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
}

impl Moto {
    /// Starts `moto_server` and waits until it answers. `None`, after a
    /// loud message on standard error, only when the binary is not
    /// installed (`.ci/run` installs it with pip).
    pub async fn start() -> Option<Moto> {
        let port = {
            let l = TcpListener::bind("127.0.0.1:0").expect("a free loopback port");
            l.local_addr().expect("its address").port()
        };
        let spawned = Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let child = match spawned {
            Ok(c) => c,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                eprintln!(
                    "\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n\
                     !! SKIPPED: moto_server is not on PATH, so this AWS integration test did  !!\n\
                     !! not run. Install it with: pip install 'moto[server]'                   !!\n\
                     !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n"
                );
                return None;
            }
            Err(e) => panic!("starting moto_server failed: {e}"),
        };
        let moto = Moto {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return Some(moto);
            }
            assert!(
                Instant::now() < deadline,
                "moto_server did not listen on 127.0.0.1:{port} within 60 s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The SDK configuration for this server.
    pub fn sdk(&self) -> SdkConfig {
        sdk_config(Some(&self.endpoint), karpenter_aws::http_client())
    }

    /// The SDK configuration for this server, through `faults`.
    pub fn sdk_with_faults(&self, faults: &Faults) -> SdkConfig {
        sdk_config(Some(&self.endpoint), faults.client())
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Static credentials, [`REGION`], `endpoint`, retries off: nothing in it
/// looks at the environment, profiles or instance metadata.
pub fn sdk_config(endpoint: Option<&str>, http: SharedHttpClient) -> SdkConfig {
    karpenter_aws::install_crypto_provider();
    let mut b = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "testing", "testing", None, None, "static",
        )))
        .http_client(http)
        .retry_config(RetryConfig::disabled())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(3))
                .operation_timeout(Duration::from_secs(30))
                .build(),
        );
    if let Some(e) = endpoint {
        b = b.endpoint_url(e);
    }
    b.build()
}

/// One armed fault: the next request whose URI or body contains every one
/// of `needles` answers `status` with `body` (and `headers`) instead of
/// reaching the server.
#[derive(Debug, Clone)]
pub struct Fault {
    pub needles: Vec<String>,
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
}

impl Fault {
    /// How the EC2 Auto Scaling (awsQuery) API throttles `action` on the
    /// group `group`.
    pub fn query_throttle(action: &str, group: &str) -> Self {
        Self {
            needles: vec![format!("Action={action}"), format!("AutoScalingGroupName={group}")],
            status: 400,
            headers: vec![("content-type", "text/xml".to_string())],
            body: "<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code>\
                   <Message>Rate exceeded</Message></Error><RequestId>fault</RequestId></ErrorResponse>"
                .to_string(),
        }
    }

    /// How a REST-JSON API (EKS) throttles a request to a path containing
    /// `path`.
    pub fn rest_json_throttle(path: &str) -> Self {
        Self {
            needles: vec![path.to_string()],
            status: 429,
            headers: vec![
                ("content-type", "application/json".to_string()),
                ("x-amzn-errortype", "ThrottlingException".to_string()),
            ],
            body: r#"{"message":"Rate exceeded"}"#.to_string(),
        }
    }
}

/// Faults to inject into the HTTP traffic of the clients built from
/// [`Moto::sdk_with_faults`]; each fires once.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    armed: Arc<Mutex<Vec<Fault>>>,
    fired: Arc<Mutex<Vec<String>>>,
}

impl Faults {
    pub fn arm(&self, fault: Fault) {
        self.armed.lock().unwrap().push(fault);
    }

    /// Disarms every fault that has not fired; returns how many there were.
    pub fn disarm(&self) -> usize {
        std::mem::take(&mut *self.armed.lock().unwrap()).len()
    }

    /// The needles of every fault that fired, in order.
    pub fn fired(&self) -> Vec<String> {
        self.fired.lock().unwrap().clone()
    }

    fn client(&self) -> SharedHttpClient {
        SharedHttpClient::new(FaultyClient {
            inner: karpenter_aws::http_client(),
            faults: self.clone(),
        })
    }

    fn take_matching(&self, request: &HttpRequest) -> Option<Fault> {
        let body = request
            .body()
            .bytes()
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .unwrap_or_default();
        let text = format!("{} {body}", request.uri());
        let mut armed = self.armed.lock().unwrap();
        let i = armed
            .iter()
            .position(|f| f.needles.iter().all(|n| text.contains(n.as_str())))?;
        let fault = armed.remove(i);
        self.fired.lock().unwrap().push(fault.needles.join(" "));
        Some(fault)
    }
}

#[derive(Debug)]
struct FaultyClient {
    inner: SharedHttpClient,
    faults: Faults,
}

impl HttpClient for FaultyClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(FaultyConnector {
            inner: self.inner.http_connector(settings, components),
            faults: self.faults.clone(),
        })
    }
}

#[derive(Debug)]
struct FaultyConnector {
    inner: SharedHttpConnector,
    faults: Faults,
}

impl HttpConnector for FaultyConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let Some(fault) = self.faults.take_matching(&request) else {
            return self.inner.call(request);
        };
        let status = StatusCode::try_from(fault.status).expect("a valid status");
        let mut response = HttpResponse::new(status, SdkBody::from(fault.body));
        for (name, value) in fault.headers {
            response.headers_mut().insert(name, value);
        }
        HttpConnectorFuture::ready(Ok(response))
    }
}
