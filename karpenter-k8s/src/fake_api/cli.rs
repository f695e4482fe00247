//! `fake-apiserver`: a [`FakeApi`] filled with a generated cluster, served
//! on 127.0.0.1 for another process (the controller under a memory or
//! latency measurement, `kubectl`).

use std::net::SocketAddr;
use std::path::PathBuf;

use super::{FakeApi, FakeApiError, fixtures};

/// Arguments of `fake-apiserver`.
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct FakeApiArgs {
    /// Port on 127.0.0.1; 0 picks a free one. The address is printed.
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Nodes to generate, spread over 4 node groups.
    #[arg(long, default_value_t = 10)]
    pub nodes: usize,
    /// Running pods to generate, bound to the nodes in turn.
    #[arg(long, default_value_t = 100)]
    pub pods: usize,
    /// Unschedulable (Pending) pods to generate.
    #[arg(long, default_value_t = 0)]
    pub pending_pods: usize,
    /// Write a kubeconfig for the server to this file.
    #[arg(long)]
    pub kubeconfig_out: Option<PathBuf>,
    /// Seed of the generated requests.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

/// Fills a store with the generated cluster and serves it until SIGTERM
/// or Ctrl-C. Prints `fake-apiserver listening on http://ADDR` once ready.
pub async fn run_cli(args: FakeApiArgs) -> Result<(), FakeApiError> {
    let api = FakeApi::new();
    // Nobody reads the log of a standalone server; the counters remain.
    api.set_request_log(false);
    fixtures::cluster(args.nodes, args.pods, args.seed).load_into(&api)?;
    for pod in fixtures::pending_pods(args.pending_pods, args.seed) {
        api.upsert("pods", pod)?;
    }
    let server = api
        .serve_on(SocketAddr::from(([127, 0, 0, 1], args.port)))
        .await?;
    if let Some(path) = &args.kubeconfig_out {
        // Written whole, then renamed, so a reader never sees half a file.
        let partial = path.with_extension("partial");
        let io = |source| FakeApiError::Io {
            context: format!(
                "writing the kubeconfig to {} (check that its directory exists and is writable)",
                path.display()
            ),
            source,
        };
        tokio::fs::write(&partial, server.kubeconfig())
            .await
            .map_err(io)?;
        tokio::fs::rename(&partial, path).await.map_err(io)?;
    }
    println!("fake-apiserver listening on http://{}", server.addr());
    wait_for_signal().await?;
    server.shutdown().await;
    Ok(())
}

async fn wait_for_signal() -> Result<(), FakeApiError> {
    let io = |source| FakeApiError::Io {
        context: "installing the SIGTERM handler".into(),
        source,
    };
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .map_err(io)?;
        tokio::select! {
            _ = term.recv() => {}
            r = tokio::signal::ctrl_c() => r.map_err(io)?,
        }
    }
    #[cfg(not(unix))]
    tokio::signal::ctrl_c().await.map_err(io)?;
    Ok(())
}
