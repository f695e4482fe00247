//! The `karpenter` binary.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use karpenter_k8s::decide::decide_document;

/// Metrics-driven node autoscaling.
#[derive(Debug, Parser)]
#[command(name = "karpenter", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Dry-run one decision: read an autoscaler and what it observes (YAML
    /// or JSON, from FILE or stdin) and print the decision as JSON.
    ///
    /// The document has `now` (RFC 3339), `autoscaler` (a
    /// HorizontalAutoscaler manifest), `target: {specReplicas,
    /// statusReplicas}`, `observations` (one `{value: N}` or `{error: "..."}`
    /// per metric) and an optional `history: {recommendations, scaleEvents}`.
    /// Invalid input exits with status 2 and the problems on stderr.
    Decide {
        /// The document; `-` or omitted reads stdin.
        file: Option<PathBuf>,
        /// Print the explanation as readable text instead of JSON.
        #[arg(long)]
        explain: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Decide { file, explain } => decide(file, explain),
    }
}

fn decide(file: Option<PathBuf>, explain: bool) -> ExitCode {
    let text = match &file {
        Some(path) if path.as_os_str() != "-" => match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("error: cannot read {}: {e}", path.display());
                return ExitCode::from(2);
            }
        },
        _ => {
            let mut t = String::new();
            if let Err(e) = std::io::stdin().read_to_string(&mut t) {
                eprintln!("error: cannot read stdin: {e}");
                return ExitCode::from(2);
            }
            t
        }
    };
    match decide_document(&text) {
        Ok(out) => {
            if explain {
                print!("{}", out.to_text());
            } else {
                match serde_json::to_string_pretty(&out) {
                    Ok(json) => println!("{json}"),
                    Err(e) => {
                        eprintln!("error: cannot encode the decision: {e}");
                        return ExitCode::from(1);
                    }
                }
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: invalid decide document:");
            for line in e.to_string().lines() {
                eprintln!("  {line}");
            }
            ExitCode::from(2)
        }
    }
}
