//! One HTTPS client, one TLS crypto provider, and the SDK settings every
//! service client here shares.
//!
//! TLS is rustls with the *ring* crypto provider (no OpenSSL, and no
//! aws-lc-rs, which needs cmake to build). [`install_crypto_provider`]
//! makes ring the process-wide rustls default, so other rustls users in the
//! same program (a Kubernetes client, reqwest) use the same provider; call
//! it once at start-up ([`load_sdk_config`] does).
//!
//! The SDK's own retries are turned off on every client: a provider makes
//! one attempt per call, and the registry's retry wrapper
//! ([`karpenter_core::provider::CallPolicy`]) retries what is retryable.

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use karpenter_core::provider::{ProviderError, ProviderErrorKind};

/// How long to wait for a TCP connection to an AWS endpoint.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// Makes rustls' *ring* provider the process-wide default crypto provider.
///
/// Idempotent: returns `true` if this call installed it, `false` if a
/// default was already installed (by an earlier call, or by the program).
///
/// ```
/// karpenter_aws::install_crypto_provider();
/// assert!(rustls::crypto::CryptoProvider::get_default().is_some());
/// ```
pub fn install_crypto_provider() -> bool {
    rustls::crypto::ring::default_provider()
        .install_default()
        .is_ok()
}

/// The HTTPS client every AWS service client here uses: hyper with rustls
/// and the *ring* crypto provider, trusting the platform's root
/// certificates.
pub fn http_client() -> SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .build_https()
}

/// Loads the standard AWS configuration chain (environment such as
/// `AWS_REGION`, `AWS_PROFILE`, `AWS_ENDPOINT_URL`; `~/.aws/config` and
/// `~/.aws/credentials`; web identity; ECS and EC2 instance metadata), with
/// [`http_client`], the SDK's retries off and a [`CONNECT_TIMEOUT`].
///
/// Installs the crypto provider first ([`install_crypto_provider`]).
pub async fn load_sdk_config() -> SdkConfig {
    install_crypto_provider();
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(http_client())
        .retry_config(RetryConfig::disabled())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .build(),
        )
        .load()
        .await
}

/// The region to talk to about `object`: the one its id names (an ARN, an
/// AWS queue URL), else the configured one; a clear error when there is
/// neither.
pub(crate) fn region_for(
    sdk: &SdkConfig,
    from_id: Option<&str>,
    object: &str,
) -> Result<Region, ProviderError> {
    if let Some(r) = from_id {
        return Ok(Region::new(r.to_string()));
    }
    sdk.region().cloned().ok_or_else(|| {
        ProviderError::new(
            ProviderErrorKind::Other,
            format!(
                "{object}: no AWS region is configured; set AWS_REGION (or AWS_DEFAULT_REGION) in the controller's environment, or `region` in the profile of ~/.aws/config, or give the id as an ARN, which names its region"
            ),
        )
    })
}

/// Builds one service's client from `sdk` for `region`, with retries off.
macro_rules! client_for {
    ($krate:ident, $sdk:expr, $region:expr) => {{
        let conf = $krate::config::Builder::from($sdk)
            .region($region)
            .retry_config(::aws_config::retry::RetryConfig::disabled())
            .build();
        $krate::Client::from_conf(conf)
    }};
}
pub(crate) use client_for;
