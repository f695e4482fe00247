//! AWS errors mapped onto the provider error kinds.
//!
//! One attempt per call: the SDK's own retries are turned off (see
//! [`crate::config`]) and the registry's retry wrapper retries whatever is
//! mapped to a retryable kind here.
//!
//! | AWS says | kind | retried |
//! |---|---|---|
//! | `Throttling`, `ThrottlingException`, `RequestLimitExceeded`, `TooManyRequestsException`, ... or HTTP 429 | `Throttled` | yes |
//! | a timeout (connect, read, operation) | `Timeout` | yes |
//! | HTTP 5xx, `InternalFailure`, `ServiceUnavailable`, a refused connection, an unreadable response | `Unavailable` | yes |
//! | `ScalingActivityInProgress`, `ResourceContention`, `ResourceInUseException` | `Unavailable` | yes |
//! | `AccessDenied*`, `UnauthorizedOperation`, `InvalidClientTokenId`, `SignatureDoesNotMatch`, `ExpiredToken*`, ... or HTTP 401/403 | `AccessDenied` | no |
//! | `ResourceNotFoundException`, `AWS.SimpleQueueService.NonExistentQueue`, `QueueDoesNotExist`, ... or HTTP 404 | `NotFound` | no |
//! | `ValidationError`, `InvalidParameter*` and anything else | `Other` | no |

use std::error::Error as StdError;

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_runtime_api::http::Response;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use karpenter_core::provider::{ProviderError, ProviderErrorKind};

/// Error codes AWS services use for throttling.
const THROTTLING: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "RequestThrottled",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "BandwidthLimitExceeded",
    "SlowDown",
    "PriorRequestNotComplete",
    "EC2ThrottledException",
    "ProvisionedThroughputExceededException",
    "AWS.SimpleQueueService.RequestThrottled",
];

/// Codes of transient service-side failures (besides any 5xx).
const TRANSIENT: &[&str] = &[
    "InternalError",
    "InternalFailure",
    "InternalServiceError",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "ServerException",
    "RequestTimeout",
    "RequestTimeoutException",
    "ScalingActivityInProgress",
    "ResourceContention",
    "ResourceInUseException",
];

/// Codes that mean the credentials may not do this.
const ACCESS_DENIED: &[&str] = &[
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "UnauthorizedException",
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "InvalidAccessKeyId",
    "AuthFailure",
    "SignatureDoesNotMatch",
    "IncompleteSignature",
    "MissingAuthenticationToken",
    "ExpiredToken",
    "ExpiredTokenException",
    "RequestExpired",
    "OptInRequired",
    "AWS.SimpleQueueService.UnsupportedOperation.AccessDenied",
];

/// Codes that mean the object does not exist.
const NOT_FOUND: &[&str] = &[
    "ResourceNotFoundException",
    "NotFoundException",
    "AWS.SimpleQueueService.NonExistentQueue",
    "QueueDoesNotExist",
    "NoSuchEntity",
    "InvalidLaunchTemplateName.NotFoundException",
    "InvalidLaunchTemplateId.NotFound",
    "InvalidLaunchTemplateId.VersionNotFound",
];

/// The kind for a service error `code` answered with HTTP `status`.
pub(crate) fn kind_of(code: Option<&str>, status: Option<u16>) -> ProviderErrorKind {
    if let Some(code) = code {
        let is = |list: &[&str]| list.contains(&code);
        if is(THROTTLING) {
            return ProviderErrorKind::Throttled;
        }
        if is(ACCESS_DENIED) {
            return ProviderErrorKind::AccessDenied;
        }
        if is(NOT_FOUND) {
            return ProviderErrorKind::NotFound;
        }
        if is(TRANSIENT) {
            return ProviderErrorKind::Unavailable;
        }
    }
    match status {
        Some(429) => ProviderErrorKind::Throttled,
        Some(401 | 403) => ProviderErrorKind::AccessDenied,
        Some(404) => ProviderErrorKind::NotFound,
        Some(s) if s >= 500 => ProviderErrorKind::Unavailable,
        _ => ProviderErrorKind::Other,
    }
}

/// What a user can do about an error of `kind` from `operation`.
fn advice(kind: ProviderErrorKind, operation: &str, service: &str) -> String {
    match kind {
        ProviderErrorKind::Throttled => {
            "AWS is throttling the account's API calls; the call is retried with backoff"
                .to_string()
        }
        ProviderErrorKind::Timeout => {
            "the call is retried; check the network path to the AWS endpoint if it persists"
                .to_string()
        }
        ProviderErrorKind::Unavailable => "the call is retried".to_string(),
        ProviderErrorKind::AccessDenied => format!(
            "grant {service}:{operation} to the credentials the controller runs with (see docs/aws.md, \"Permissions\"), and check they are valid"
        ),
        ProviderErrorKind::NotFound => {
            "check the id and the region (spec.id, AWS_REGION)".to_string()
        }
        _ => "check the spec".to_string(),
    }
}

/// Maps an SDK error of `operation` (e.g. `DescribeAutoScalingGroups`) on
/// the `service` IAM prefix (e.g. `autoscaling`) about `object` (e.g.
/// `Auto Scaling group "web"`) to a [`ProviderError`] that names the object,
/// says what AWS answered and what to do, and keeps the SDK error as its
/// source.
pub(crate) fn map_sdk_error<E>(
    err: SdkError<E, Response>,
    object: &str,
    operation: &str,
    service: &str,
) -> ProviderError
where
    E: StdError + ProvideErrorMetadata + Send + Sync + 'static,
{
    let (kind, what) = match &err {
        SdkError::TimeoutError(_) => (
            ProviderErrorKind::Timeout,
            "timed out waiting for AWS".to_string(),
        ),
        SdkError::DispatchFailure(d) => {
            let kind = if d.is_timeout() {
                ProviderErrorKind::Timeout
            } else if d.is_user() {
                ProviderErrorKind::Other
            } else {
                ProviderErrorKind::Unavailable
            };
            (
                kind,
                format!(
                    "could not reach AWS: {}",
                    DisplayErrorContext(&err as &dyn StdError)
                ),
            )
        }
        SdkError::ResponseError(_) => (
            ProviderErrorKind::Unavailable,
            format!(
                "AWS sent a response that could not be read: {}",
                DisplayErrorContext(&err as &dyn StdError)
            ),
        ),
        SdkError::ConstructionFailure(_) => (
            ProviderErrorKind::Other,
            format!(
                "the request could not be built: {}",
                DisplayErrorContext(&err as &dyn StdError)
            ),
        ),
        SdkError::ServiceError(ctx) => {
            let status = ctx.raw().status().as_u16();
            let code = err.code();
            let kind = kind_of(code, Some(status));
            let message = err.message().unwrap_or("no message");
            (
                kind,
                format!(
                    "AWS answered HTTP {status} {}: {message}",
                    code.unwrap_or("(no error code)")
                ),
            )
        }
        _ => (
            ProviderErrorKind::Other,
            DisplayErrorContext(&err as &dyn StdError).to_string(),
        ),
    };
    let advice = advice(kind, operation, service);
    ProviderError::new(
        kind,
        format!("{object}: {operation} failed: {what}; {advice}"),
    )
    .with_source(err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ProviderErrorKind::*;

    #[test]
    fn codes_and_statuses_map_to_kinds() {
        let table: &[(Option<&str>, Option<u16>, ProviderErrorKind)] = &[
            (Some("Throttling"), Some(400), Throttled),
            (Some("ThrottlingException"), Some(400), Throttled),
            (Some("RequestLimitExceeded"), Some(503), Throttled),
            (None, Some(429), Throttled),
            (Some("AccessDenied"), Some(403), AccessDenied),
            (Some("AccessDeniedException"), Some(403), AccessDenied),
            (Some("UnrecognizedClientException"), Some(400), AccessDenied),
            (None, Some(403), AccessDenied),
            (Some("ValidationError"), Some(400), Other),
            (Some("InvalidParameterValue"), Some(400), Other),
            (Some("ResourceNotFoundException"), Some(404), NotFound),
            (
                Some("AWS.SimpleQueueService.NonExistentQueue"),
                Some(400),
                NotFound,
            ),
            (None, Some(404), NotFound),
            (Some("InternalFailure"), Some(500), Unavailable),
            (None, Some(502), Unavailable),
            (Some("ScalingActivityInProgress"), Some(400), Unavailable),
            (Some("ResourceInUseException"), Some(409), Unavailable),
            (Some("SomethingNew"), Some(400), Other),
        ];
        for (code, status, want) in table {
            assert_eq!(kind_of(*code, *status), *want, "{code:?} {status:?}");
        }
    }
}
