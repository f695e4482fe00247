//! # karpenter-examples
//!
//! Runnable scenarios against the in-memory fake, one per file, named after
//! what the user wants. Each loads real manifests from YAML, runs the whole
//! loop in simulated time, prints a short summary and writes a CSV and an
//! SVG chart under `target/karpenter-examples/` (or `--out DIR`):
//!
//! ```text
//! cargo run -p karpenter-examples --example queue_autoscaling
//! cargo run -p karpenter-examples --example reserved_capacity
//! cargo run -p karpenter-examples --example scheduled_capacity
//! cargo run -p karpenter-examples --example custom_provider
//! cargo run -p karpenter-examples --example sim_scale
//! ```
//!
//! This library holds what they share: where outputs go, how dates are
//! written, and the summary they print.
//!
//! ```
//! use karpenter_examples::{parse_out_dir, utc};
//!
//! let dir = parse_out_dir(["--out", "/tmp/charts"].map(String::from))?;
//! assert_eq!(dir, Some(std::path::PathBuf::from("/tmp/charts")));
//! assert!(utc(2026, 2, 30, 0, 0).is_err());
//! # Ok::<(), karpenter_examples::ExampleError>(())
//! ```

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use karpenter_fake::{SimError, Simulation, SimulationReport, human_duration};

/// Why an example could not run.
#[derive(Debug, thiserror::Error)]
pub enum ExampleError {
    /// A command-line argument is not understood.
    #[error(
        "unknown argument {0:?}; usage: cargo run -p karpenter-examples --example NAME [-- --out DIR]"
    )]
    Usage(String),
    /// A date in the scenario does not exist.
    #[error("{0} is not a valid UTC date and time; fix the scenario's start time")]
    Date(String),
}

/// The directory named by `--out DIR` (or `--out=DIR`) in `args` (without
/// the program name), if any.
pub fn parse_out_dir(
    args: impl IntoIterator<Item = String>,
) -> Result<Option<PathBuf>, ExampleError> {
    let mut args = args.into_iter();
    let mut out = None;
    while let Some(arg) = args.next() {
        if arg == "--out" {
            match args.next() {
                Some(dir) => out = Some(PathBuf::from(dir)),
                None => return Err(ExampleError::Usage(arg)),
            }
        } else if let Some(dir) = arg.strip_prefix("--out=") {
            out = Some(PathBuf::from(dir));
        } else {
            return Err(ExampleError::Usage(arg));
        }
    }
    Ok(out)
}

/// Where the examples write: `--out DIR` from the command line, else
/// `target/karpenter-examples/` under the workspace root.
pub fn output_dir() -> Result<PathBuf, ExampleError> {
    match parse_out_dir(std::env::args().skip(1))? {
        Some(dir) => Ok(dir),
        None => {
            let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
            let root = manifest.parent().unwrap_or(manifest);
            Ok(root.join("target").join("karpenter-examples"))
        }
    }
}

/// `y-m-d h:mi:00` UTC.
pub fn utc(y: i32, m: u32, d: u32, h: u32, mi: u32) -> Result<DateTime<Utc>, ExampleError> {
    Utc.with_ymd_and_hms(y, m, d, h, mi, 0)
        .single()
        .ok_or_else(|| ExampleError::Date(format!("{y:04}-{m:02}-{d:02} {h:02}:{mi:02}")))
}

/// The files an example wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outputs {
    /// The timeline as CSV.
    pub csv: PathBuf,
    /// The chart.
    pub svg: PathBuf,
}

/// Writes the simulation's timeline as `{dir}/{name}.csv` and
/// `{dir}/{name}.svg` (titled `title`).
pub fn write_outputs(
    sim: &Simulation,
    dir: &Path,
    name: &str,
    title: &str,
) -> Result<Outputs, SimError> {
    let out = Outputs {
        csv: dir.join(format!("{name}.csv")),
        svg: dir.join(format!("{name}.svg")),
    };
    if let Some(timeline) = sim.timeline() {
        timeline.write_csv(&out.csv)?;
        timeline.write_svg(&out.svg, title)?;
    }
    Ok(out)
}

/// `path` relative to the current directory when it is inside it.
pub fn display_path(path: &Path) -> String {
    std::env::current_dir()
        .ok()
        .and_then(|cwd| path.strip_prefix(cwd).ok().map(Path::to_path_buf))
        .unwrap_or_else(|| path.to_path_buf())
        .display()
        .to_string()
}

/// Prints the summary every example ends with: peak nodes, time to reach
/// capacity, node-hours used, pending time, and where the chart is.
pub fn print_summary(report: &SimulationReport, outputs: &Outputs, wall: Duration) {
    println!(
        "simulated {} in {} steps of {} (seed {}) in {:.2} s of wall time",
        human_duration((report.end - report.start).to_std().unwrap_or_default()),
        report.steps,
        human_duration(report.tick),
        report.seed,
        wall.as_secs_f64()
    );
    for g in &report.node_groups {
        println!("node group {}:", g.node_group);
        println!(
            "  peak nodes:             {} ready, first at +{} (peak desired {})",
            g.peak_ready,
            human_duration(g.peak_ready_after),
            g.peak_desired
        );
        println!(
            "  time to reach capacity: {} (longest time fewer nodes were ready than desired)",
            human_duration(g.time_to_capacity)
        );
        println!("  node-hours used:        {:.1}", g.node_hours);
        println!(
            "  at the end:             {} ready, {} desired",
            g.final_ready, g.final_desired
        );
    }
    for q in &report.queues {
        println!(
            "queue {}: peak {} messages, {} of {} processed; pending time: the oldest message waited {}",
            q.queue,
            q.peak_length,
            q.processed,
            q.arrived,
            human_duration(q.longest_wait)
        );
    }
    if let Some(p) = &report.pods {
        println!(
            "pods: peak {} pending; pending time: {:.1} pod-hours in total, longest wait {}",
            p.peak_pending,
            p.pending_pod_hours,
            human_duration(p.longest_pending)
        );
    }
    if report.errors > 0 {
        println!("{} runner errors, first:", report.errors);
        for e in &report.first_errors {
            println!("  {e}");
        }
    }
    println!("chart: {}", display_path(&outputs.svg));
    println!("data:  {}", display_path(&outputs.csv));
}
