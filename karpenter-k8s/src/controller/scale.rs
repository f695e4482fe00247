//! [`ScaleTarget`] over the `scale` subresource of whatever a
//! HorizontalAutoscaler's `scaleTargetRef` names, and the mapping of
//! Kubernetes API errors onto provider error kinds.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use karpenter_core::api::v1alpha1::CrossVersionObjectReference;
use karpenter_core::provider::{
    ProviderError, ProviderErrorKind, ProviderResult, Scale, ScaleTarget,
};
use kube::Client;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::core::{ApiResource, GroupVersionKind};

use crate::crd;

/// How long one API call may take before it counts as a timeout.
pub const API_TIMEOUT: Duration = Duration::from_secs(10);

/// Maps a Kubernetes client error onto the provider error kinds the core
/// engine reasons with: 404 not found, 403 access denied, 409 conflict and
/// 429 throttling, 5xx and transport failures unavailable (the last three
/// retryable).
pub fn provider_error(e: kube::Error, what: &str) -> ProviderError {
    let kind = match &e {
        kube::Error::Api(s) => match s.code {
            404 => ProviderErrorKind::NotFound,
            401 | 403 => ProviderErrorKind::AccessDenied,
            409 | 500..=599 => ProviderErrorKind::Unavailable,
            429 => ProviderErrorKind::Throttled,
            400 | 422 => ProviderErrorKind::InvalidId,
            _ => ProviderErrorKind::Other,
        },
        kube::Error::HyperError(_) | kube::Error::Service(_) | kube::Error::HttpError(_) => {
            ProviderErrorKind::Unavailable
        }
        _ => ProviderErrorKind::Other,
    };
    ProviderError::new(kind, format!("{what}: {e}"))
}

/// Runs one API call with [`API_TIMEOUT`].
pub(crate) async fn timed<T>(
    what: &str,
    call: impl Future<Output = Result<T, kube::Error>>,
) -> ProviderResult<T> {
    match tokio::time::timeout(API_TIMEOUT, call).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(provider_error(e, what)),
        Err(_) => Err(ProviderError::new(
            ProviderErrorKind::Timeout,
            format!("{what}: no answer from the API server within {API_TIMEOUT:?}"),
        )),
    }
}

/// Resolves `scaleTargetRef`s to API resources: our own kinds and the apps
/// kinds directly, anything else through API discovery (cached).
pub struct TargetResolver {
    client: Client,
    discovered: Mutex<HashMap<(String, String), ApiResource>>,
}

impl std::fmt::Debug for TargetResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TargetResolver").finish_non_exhaustive()
    }
}

impl TargetResolver {
    /// A resolver over `client`.
    pub fn new(client: Client) -> Self {
        Self {
            client,
            discovered: Mutex::new(HashMap::new()),
        }
    }

    /// The target `reference` names in `namespace`.
    pub async fn target(
        &self,
        namespace: &str,
        reference: &CrossVersionObjectReference,
    ) -> ProviderResult<KubeScaleTarget> {
        let resource = self.resource(reference).await?;
        Ok(KubeScaleTarget {
            api: Api::namespaced_with(self.client.clone(), namespace, &resource),
            kind: reference.kind.clone(),
            name: reference.name.clone(),
            namespace: namespace.to_string(),
        })
    }

    async fn resource(&self, r: &CrossVersionObjectReference) -> ProviderResult<ApiResource> {
        let api_version = match (r.api_version.as_deref(), r.kind.as_str()) {
            (Some(v), _) => v.to_string(),
            (None, "ScalableNodeGroup") => karpenter_core::api::v1alpha1::API_VERSION.to_string(),
            (None, "Deployment" | "StatefulSet" | "ReplicaSet") => "apps/v1".to_string(),
            (None, kind) => {
                return Err(ProviderError::new(
                    ProviderErrorKind::InvalidId,
                    format!(
                        "scaleTargetRef.apiVersion is required for kind {kind:?}: set it, e.g. \"apps/v1\""
                    ),
                ));
            }
        };
        if api_version == karpenter_core::api::v1alpha1::API_VERSION
            && r.kind == "ScalableNodeGroup"
        {
            return Ok(ApiResource::erase::<crd::ScalableNodeGroup>(&()));
        }
        let key = (api_version.clone(), r.kind.clone());
        if let Some(found) = self
            .discovered
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
        {
            return Ok(found.clone());
        }
        let (group, version) = match api_version.split_once('/') {
            Some((g, v)) => (g.to_string(), v.to_string()),
            None => (String::new(), api_version.clone()),
        };
        let gvk = GroupVersionKind::gvk(&group, &version, &r.kind);
        let what = format!("discovering {} {}", api_version, r.kind);
        let (resource, _) = timed(&what, kube::discovery::pinned_kind(&self.client, &gvk)).await?;
        self.discovered
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, resource.clone());
        Ok(resource)
    }
}

/// The `scale` subresource of one object.
#[derive(Clone)]
pub struct KubeScaleTarget {
    api: Api<DynamicObject>,
    kind: String,
    name: String,
    namespace: String,
}

impl std::fmt::Debug for KubeScaleTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}/{}", self.kind, self.namespace, self.name)
    }
}

#[async_trait]
impl ScaleTarget for KubeScaleTarget {
    async fn scale(&self) -> ProviderResult<Scale> {
        let what = format!("reading the scale of {self:?}");
        let scale = timed(&what, self.api.get_scale(&self.name)).await?;
        Ok(Scale {
            spec_replicas: scale.spec.and_then(|s| s.replicas).unwrap_or(0),
            status_replicas: scale.status.as_ref().map_or(0, |s| s.replicas),
            selector: scale.status.and_then(|s| s.selector),
        })
    }

    async fn set_replicas(&self, replicas: i32) -> ProviderResult<()> {
        let what = format!("writing {replicas} replicas to the scale of {self:?}");
        let patch = Patch::Merge(serde_json::json!({"spec": {"replicas": replicas}}));
        timed(
            &what,
            self.api
                .patch_scale(&self.name, &PatchParams::default(), &patch),
        )
        .await?;
        Ok(())
    }
}

/// A target that could not be resolved: every read fails with why.
#[derive(Debug)]
pub(crate) struct Unresolved(pub(crate) ProviderError);

#[async_trait]
impl ScaleTarget for Unresolved {
    async fn scale(&self) -> ProviderResult<Scale> {
        Err(self.0.clone())
    }
    async fn set_replicas(&self, _: i32) -> ProviderResult<()> {
        Err(self.0.clone())
    }
}
