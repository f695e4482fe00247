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
//! cargo run -p karpenter-examples --example pending_pods
//! cargo run -p karpenter-examples --example scheduled_capacity
//! cargo run -p karpenter-examples --example custom_provider
//! cargo run -p karpenter-examples --example sim_scale
//! ```
//!
//! With the `aws` feature, `aws_queue_autoscaling` runs a shortened queue
//! scenario in real time against a local AWS emulator (`moto_server`) with
//! the real AWS providers; see the README.
//!
//! This library holds what they share: where outputs go and how dates are
//! written. The summary they print is
//! [`karpenter_fake::summary::Summary`], usable from any program.
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

/// Every example allocates through mimalloc. A simulation builds and drops
/// a few dozen small values per object per tick (statuses, conditions,
/// reports, boxed futures); glibc's allocator spends about a third of a
/// run on them, mimalloc a fraction of that (see BENCHMARKS.md). A program
/// of yours that embeds the library chooses its own allocator the same way.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use chrono::{DateTime, TimeZone, Utc};
use karpenter_fake::summary::Summary;
use karpenter_fake::{SimError, Simulation, SimulationReport};

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

/// Prints the summary every example ends with (peak nodes, time to reach
/// capacity, node-hours used, pending time, and where the chart is): a
/// [`Summary`] with the wall time and the files written.
pub fn print_summary(report: &SimulationReport, outputs: &Outputs, wall: Duration) {
    Summary::new(report)
        .wall_time(wall)
        .files(&outputs.csv, &outputs.svg)
        .print();
}
