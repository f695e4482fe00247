//! The `karpenter` binary.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use karpenter_k8s::decide::{DecideError, ReadError, decide_document, read_document};

// A simulation allocates a little per object per tick: with mimalloc,
// `karpenter simulate` needs about 13 % less CPU time than with the system
// allocator (BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Metrics-driven node autoscaling.
#[derive(Debug, Parser)]
#[command(name = "karpenter", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the controllers in a cluster: ScalableNodeGroups,
    /// HorizontalAutoscalers and MetricsProducers (docs/install.md).
    ///
    /// Connects with the pod's service account, or KUBECONFIG outside a
    /// cluster. Serves /metrics and the /healthz and /readyz probes, logs
    /// to stderr (filter with RUST_LOG, e.g. `RUST_LOG=karpenter_k8s=debug`),
    /// and on SIGTERM finishes the writes in flight, releases the leader
    /// Lease and exits 0. A replica that loses the Lease exits 1.
    Controller(Box<karpenter_k8s::controller::cli::ControllerArgs>),
    /// An in-memory Kubernetes API server on 127.0.0.1 filled with a
    /// generated cluster (for measuring and trying the controller; not a
    /// real API server).
    #[command(hide = true)]
    FakeApiserver(karpenter_k8s::fake_api::FakeApiArgs),
    /// Dry-run one decision: read an autoscaler and what it observes (YAML
    /// or JSON, from FILE or stdin) and print the decision as JSON.
    ///
    /// The document has `now` (RFC 3339), `autoscaler` (a
    /// HorizontalAutoscaler manifest), `target: {specReplicas,
    /// statusReplicas}`, `observations` (one `{value: N}` or `{error: "..."}`
    /// per metric) and an optional `history: {recommendations, scaleEvents}`.
    /// Input starting with `{` or `[` is read as JSON, anything else as
    /// YAML. Unknown fields are errors. The input may be at most 16 MiB.
    /// Invalid input exits with status 2 and the problems on stderr; a
    /// failed write of the output exits with status 1 (a closed pipe, as in
    /// `| head`, ends quietly with status 0).
    Decide {
        /// The document; `-` or omitted reads stdin.
        file: Option<PathBuf>,
        /// Print the explanation as readable text instead of JSON.
        #[arg(long)]
        explain: bool,
    },
    /// Print the CustomResourceDefinitions (ScalableNodeGroup,
    /// HorizontalAutoscaler, MetricsProducer) as YAML for `kubectl apply -f -`.
    Crds(karpenter_k8s::crd::CrdsCommand),
    /// Score an autoscaling configuration on a workload scenario in
    /// simulated time (docs/simulate.md): node-hours, message and pod
    /// waiting, peak nodes, scale events. `--variant NAME=PATCH.yaml`
    /// compares configurations on the same workload; `--json` prints the
    /// scorecard machine-readable; `--schema` prints the scenario format's
    /// JSON Schema. Invalid input exits with status 2, a failed write with 1.
    Simulate(karpenter_k8s::simulate::SimulateArgs),
    /// Which node group each pending pod of a cluster snapshot would go to,
    /// the nodes each group needs, and why a pod fits no group.
    ///
    /// SNAPSHOT is the output of `kubectl get nodes,pods,daemonsets -A -o
    /// json` (or `-o yaml`), a List, read as it streams. Each -f FILE holds
    /// MetricsProducers (those with pendingCapacity are used),
    /// ScalableNodeGroups (their spec.replicas is the desired size) and
    /// NodeTemplate documents (the node a group with no Ready node would
    /// add), as YAML streams, JSON or Lists. Bad input exits with status 2
    /// and the problems on stderr; a failed write of the output with 1.
    Pending {
        /// The snapshot; `-` reads stdin.
        snapshot: PathBuf,
        /// A manifests file; repeat for several.
        #[arg(short = 'f', long = "filename", required = true)]
        files: Vec<PathBuf>,
        /// Print JSON for tools instead of text.
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    // rustls's crypto provider, once, before any TLS client is built.
    karpenter_k8s::tls::install_crypto_provider();
    let cli = Cli::parse();
    match cli.command {
        Command::Controller(args) => run_async(karpenter_k8s::controller::cli::run(*args)),
        Command::FakeApiserver(args) => run_async(karpenter_k8s::fake_api::run_cli(args)),
        Command::Decide { file, explain } => decide(file, explain),
        Command::Crds(cmd) => match cmd.run(&mut std::io::stdout().lock()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                report(&[format!("error: {e}")]);
                ExitCode::from(1)
            }
        },
        Command::Simulate(args) => karpenter_k8s::simulate::main(&args),
        Command::Pending {
            snapshot,
            files,
            json,
        } => karpenter_k8s::pending::cli::run(&snapshot, &files, json),
    }
}

/// Runs `work` on a multi-threaded runtime: exit 0, or 1 with the error.
fn run_async<E: std::fmt::Display>(work: impl Future<Output = Result<(), E>>) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            report(&[format!("error: cannot start the async runtime: {e}")]);
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(work) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            report(&[format!("error: {e}")]);
            ExitCode::from(1)
        }
    }
}

/// Writes lines to stderr; a stderr that cannot be written to is ignored
/// (there is nowhere left to report it).
fn report(lines: &[String]) {
    let mut err = std::io::stderr().lock();
    for line in lines {
        let _ = writeln!(err, "{line}");
    }
}

fn invalid(e: &DecideError) -> ExitCode {
    let mut lines = vec!["error: invalid decide document:".to_string()];
    lines.extend(e.to_string().lines().map(|l| format!("  {l}")));
    report(&lines);
    ExitCode::from(2)
}

fn decide(file: Option<PathBuf>, explain: bool) -> ExitCode {
    let read = match &file {
        Some(path) if path.as_os_str() != "-" => match std::fs::File::open(path) {
            Ok(f) => read_document(f),
            Err(e) => {
                report(&[format!("error: cannot read {}: {e}", path.display())]);
                return ExitCode::from(2);
            }
        },
        _ => read_document(std::io::stdin().lock()),
    };
    let text = match read {
        Ok(t) => t,
        Err(ReadError::Invalid(e)) => return invalid(&e),
        Err(ReadError::Io(e)) => {
            let what = match &file {
                Some(path) if path.as_os_str() != "-" => path.display().to_string(),
                _ => "stdin".to_string(),
            };
            report(&[format!("error: cannot read {what}: {e}")]);
            return ExitCode::from(2);
        }
    };
    let out = match decide_document(&text) {
        Ok(out) => out,
        Err(e) => return invalid(&e),
    };
    let rendered = if explain {
        out.to_text()
    } else {
        match serde_json::to_string_pretty(&out) {
            Ok(json) => json + "\n",
            Err(e) => {
                report(&[format!("error: cannot encode the decision: {e}")]);
                return ExitCode::from(1);
            }
        }
    };
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(rendered.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Ok(()) => ExitCode::SUCCESS,
        // The reader went away (`karpenter decide ... | head -c1`): what it
        // wanted, it got. End quietly, as a SIGPIPE would.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            report(&[format!(
                "error: cannot write the decision to stdout: {e}; check the disk or the output file"
            )]);
            ExitCode::from(1)
        }
    }
}
