//! TLS: rustls with the `ring` crypto provider, never OpenSSL.
//!
//! rustls needs one process-wide crypto provider. karpenter-k8s builds its
//! HTTPS clients (the Prometheus client) with reqwest's
//! `rustls-no-provider` feature, so no provider is picked implicitly:
//! [`install_crypto_provider`] installs `ring`'s once. The `karpenter`
//! binary calls it at start-up, and [`PrometheusSource::new`] calls it
//! before it builds a client, so a program embedding the library needs to
//! call it only if it builds its own rustls clients first.
//!
//! [`PrometheusSource::new`]: crate::prometheus::PrometheusSource::new

/// Installs rustls's `ring` crypto provider as the process default, unless
/// the program installed one already (that one is kept). Idempotent and
/// cheap: call it at start-up, before building any TLS client.
///
/// ```
/// karpenter_k8s::tls::install_crypto_provider();
/// karpenter_k8s::tls::install_crypto_provider(); // again: no-op
/// assert!(rustls::crypto::CryptoProvider::get_default().is_some());
/// ```
pub fn install_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Two threads may race here: the loser's error only says that a
        // provider is installed now, which is all that is needed.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}
