//! [`Summary`]: the human summary of a [`SimulationReport`] that the
//! examples print — peak nodes, time to reach capacity, node-hours used,
//! pending time, and where the chart and data were written.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::simulation::{GroupSummary, PodSummary, QueueSummary, SimulationReport, human_duration};

/// A multi-line, human summary of a simulation run, ready to print.
///
/// [`SimulationReport`]'s own `Display` is one compact line per object, for
/// logs; this is the longer form the examples end with. Add the wall time
/// the run took and the files it wrote, if you want them shown.
///
/// ```
/// use std::time::Duration;
/// use chrono::{TimeZone, Utc};
/// use karpenter_fake::{SimClock, Simulation, summary::Summary};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let clock = SimClock::new(Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap());
/// let mut sim = Simulation::builder(&clock).build()?;
/// let report = sim.run_for(Duration::from_secs(60)).await;
/// let text = Summary::new(&report)
///     .wall_time(Duration::from_millis(20))
///     .files("out/run.csv", "out/run.svg")
///     .to_string();
/// assert!(text.starts_with("simulated 1m in 5 steps of 15s (seed 0) in 0.02 s of wall time\n"));
/// assert!(text.ends_with("chart: out/run.svg\ndata:  out/run.csv\n"));
/// # Ok::<(), karpenter_fake::SimError>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct Summary<'a> {
    report: &'a SimulationReport,
    wall: Option<Duration>,
    files: Option<Files>,
}

#[derive(Debug, Clone)]
struct Files {
    csv: PathBuf,
    svg: PathBuf,
}

impl<'a> Summary<'a> {
    /// The summary of `report`, without wall time or files.
    pub fn new(report: &'a SimulationReport) -> Self {
        Self {
            report,
            wall: None,
            files: None,
        }
    }

    /// Shows the wall time the run took on the first line.
    pub fn wall_time(mut self, wall: Duration) -> Self {
        self.wall = Some(wall);
        self
    }

    /// Ends with where the timeline's CSV and chart were written (shown
    /// relative to the current directory when inside it).
    pub fn files(mut self, csv: impl Into<PathBuf>, svg: impl Into<PathBuf>) -> Self {
        self.files = Some(Files {
            csv: csv.into(),
            svg: svg.into(),
        });
        self
    }

    /// Prints the summary to standard output.
    pub fn print(&self) {
        print!("{self}");
    }

    fn write_header(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = self.report;
        write!(
            f,
            "simulated {} in {} steps of {} (seed {})",
            human_duration((r.end - r.start).to_std().unwrap_or_default()),
            r.steps,
            human_duration(r.tick),
            r.seed,
        )?;
        if let Some(wall) = self.wall {
            write!(f, " in {:.2} s of wall time", wall.as_secs_f64())?;
        }
        writeln!(f)
    }

    fn write_errors(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.report.errors > 0 {
            writeln!(f, "{} runner errors, first:", self.report.errors)?;
            for e in &self.report.first_errors {
                writeln!(f, "  {e}")?;
            }
        }
        Ok(())
    }
}

fn write_group(f: &mut fmt::Formatter<'_>, g: &GroupSummary) -> fmt::Result {
    writeln!(f, "node group {}:", g.node_group)?;
    writeln!(
        f,
        "  peak nodes:             {} ready, first at +{} (peak desired {})",
        g.peak_ready,
        human_duration(g.peak_ready_after),
        g.peak_desired
    )?;
    writeln!(
        f,
        "  time to reach capacity: {} (longest time fewer nodes were ready than desired)",
        human_duration(g.time_to_capacity)
    )?;
    writeln!(f, "  node-hours used:        {:.1}", g.node_hours)?;
    writeln!(
        f,
        "  at the end:             {} ready, {} desired",
        g.final_ready, g.final_desired
    )
}

fn write_queue(f: &mut fmt::Formatter<'_>, q: &QueueSummary) -> fmt::Result {
    writeln!(
        f,
        "queue {}: peak {} messages, {} of {} processed; pending time: the oldest message waited {}",
        q.queue,
        q.peak_length,
        q.processed,
        q.arrived,
        human_duration(q.longest_wait)
    )
}

fn write_pods(f: &mut fmt::Formatter<'_>, p: &PodSummary) -> fmt::Result {
    writeln!(
        f,
        "pods: peak {} pending; pending time: {:.1} pod-hours in total, longest wait {}",
        p.peak_pending,
        p.pending_pod_hours,
        human_duration(p.longest_pending)
    )
}

impl fmt::Display for Summary<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_header(f)?;
        for g in &self.report.node_groups {
            write_group(f, g)?;
        }
        for q in &self.report.queues {
            write_queue(f, q)?;
        }
        if let Some(p) = &self.report.pods {
            write_pods(f, p)?;
        }
        self.write_errors(f)?;
        if let Some(files) = &self.files {
            writeln!(f, "chart: {}", display_path(&files.svg))?;
            writeln!(f, "data:  {}", display_path(&files.csv))?;
        }
        Ok(())
    }
}

/// `path` relative to the current directory when it is inside it.
///
/// ```
/// use karpenter_fake::summary::display_path;
///
/// let inside = std::env::current_dir().unwrap().join("target/run.csv");
/// assert_eq!(display_path(&inside), "target/run.csv");
/// assert_eq!(display_path(std::path::Path::new("/elsewhere/run.csv")), "/elsewhere/run.csv");
/// ```
pub fn display_path(path: &Path) -> String {
    std::env::current_dir()
        .ok()
        .and_then(|cwd| path.strip_prefix(cwd).ok().map(Path::to_path_buf))
        .unwrap_or_else(|| path.to_path_buf())
        .display()
        .to_string()
}
