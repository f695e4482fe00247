//! `karpenter simulate`: score an autoscaling configuration on a workload
//! scenario before it touches a cluster, compare variants of it, and
//! backtest it against recorded replicas.
//!
//! The scenario format, the scorecard's JSON fields and the comparison
//! rules are in `docs/simulate.md`; the engine is
//! [`karpenter_fake::scenario`]. This module is the command line: reading
//! files, running the baseline and each `--variant`, printing the human
//! scorecard or `--json`, and writing `--out DIR`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use karpenter_fake::scenario::{
    Prepared, Run, RunOptions, RunOutcome, Scenario, ScenarioError, ScorecardDocument,
    pareto_better,
};
use karpenter_fake::{Column, Progress, Row, SimError, Timeline};

/// The arguments of `karpenter simulate`.
#[derive(Debug, Clone, clap::Args)]
pub struct SimulateArgs {
    /// The scenario file (YAML or JSON).
    #[arg(required_unless_present = "schema")]
    pub scenario: Option<PathBuf>,
    /// Print the scorecard as JSON (stable field names, byte-identical for
    /// a seed) instead of text.
    #[arg(long)]
    pub json: bool,
    /// Write the timeline (CSV) and chart (SVG) of every run to DIR, and
    /// with variants a chart overlaying their node counts.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Also run the scenario with PATCH.yaml merged into its manifests (a
    /// JSON merge patch per named manifest) and compare; repeatable.
    #[arg(long = "variant", value_name = "NAME=PATCH.yaml")]
    pub variants: Vec<String>,
    /// Print the JSON Schema of the scenario format and exit.
    #[arg(long, conflicts_with_all = ["json", "out", "variants"])]
    pub schema: bool,
}

/// Why `karpenter simulate` stopped: bad input (exit 2) or a failure to
/// write its outputs (exit 1).
#[derive(Debug, thiserror::Error)]
pub enum SimulateError {
    /// The scenario, a variant or a file they name is not usable.
    #[error("{0}")]
    Scenario(#[from] ScenarioError),
    /// A `--variant` argument is not `NAME=PATCH.yaml`.
    #[error(
        "--variant {0:?}: expected NAME=PATCH.yaml, e.g. --variant pid=variants/pid.yaml (NAME: letters, digits, '-', '_' and '.', not \"baseline\", unique)"
    )]
    VariantArgument(String),
    /// An output could not be written.
    #[error("{0}")]
    Output(String),
}

impl SimulateError {
    /// The exit code: 2 for bad input, 1 for an output failure.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Output(_) | Self::Scenario(ScenarioError::Sim(SimError::Io { .. })) => 1,
            Self::Scenario(ScenarioError::Sim(SimError::Chart { .. })) => 1,
            _ => 2,
        }
    }
}

/// What a simulation printed: the text for stdout, and the runs.
#[derive(Debug, Clone)]
pub struct Simulated {
    /// The scorecard document (what `--json` prints).
    pub document: ScorecardDocument,
    /// Text for stdout: the JSON, or the human scorecard.
    pub stdout: String,
}

fn variant_args(args: &[String]) -> Result<Vec<(String, PathBuf)>, SimulateError> {
    let mut out: Vec<(String, PathBuf)> = Vec::new();
    for a in args {
        let Some((name, path)) = a.split_once('=') else {
            return Err(SimulateError::VariantArgument(a.clone()));
        };
        let ok_name = !name.is_empty()
            && name != "baseline"
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            && !out.iter().any(|(n, _)| n == name);
        if !ok_name || path.is_empty() {
            return Err(SimulateError::VariantArgument(a.clone()));
        }
        out.push((name.to_string(), PathBuf::from(path)));
    }
    Ok(out)
}

/// Runs `karpenter simulate` with `args`, returning what to print.
pub async fn simulate(args: &SimulateArgs) -> Result<Simulated, SimulateError> {
    let path = match &args.scenario {
        Some(path) if !args.schema => path,
        _ => {
            let schema = serde_json::to_string_pretty(&Scenario::json_schema())
                .map_err(|e| SimulateError::Output(e.to_string()))?;
            return Ok(Simulated {
                document: empty_document(),
                stdout: schema + "\n",
            });
        }
    };
    let wall = Instant::now();
    let variants = variant_args(&args.variants)?;
    let base = Prepared::from_file(path)?;
    let mut prepared = vec![("baseline".to_string(), base.clone())];
    let mut problems = Vec::new();
    for (name, patch) in &variants {
        let text = match std::fs::read_to_string(patch) {
            Ok(t) => t,
            Err(source) => {
                return Err(ScenarioError::Io {
                    path: patch.clone(),
                    source,
                }
                .into());
            }
        };
        match base.with_patch(&text, &patch.display().to_string()) {
            Ok(p) => prepared.push((name.clone(), p)),
            Err(ScenarioError::Invalid(list)) => problems.extend(list),
            Err(e) => return Err(e.into()),
        }
    }
    if !problems.is_empty() {
        return Err(ScenarioError::Invalid(problems).into());
    }
    let options = RunOptions {
        record_timeline: args.out.is_some(),
        progress: Progress::Auto,
    };
    let mut outcomes: Vec<(String, RunOutcome)> = Vec::new();
    for (name, p) in &prepared {
        outcomes.push((name.clone(), p.run(&options).await?));
    }
    let document = document(&base, &outcomes);
    if let Some(dir) = &args.out {
        write_outputs(dir, &base, &outcomes)?;
    }
    let stdout = if args.json {
        serde_json::to_string_pretty(&document)
            .map_err(|e| SimulateError::Output(format!("cannot encode the scorecard: {e}")))?
            + "\n"
    } else {
        human(
            &base,
            &document,
            &outcomes,
            wall.elapsed(),
            args.out.as_deref(),
        )
    };
    Ok(Simulated { document, stdout })
}

fn empty_document() -> ScorecardDocument {
    ScorecardDocument {
        api_version: karpenter_fake::scenario::API_VERSION,
        kind: "Scorecard",
        scenario: String::new(),
        seed: 0,
        start: String::new(),
        end: String::new(),
        tick_seconds: 0.0,
        runs: Vec::new(),
    }
}

fn document(base: &Prepared, outcomes: &[(String, RunOutcome)]) -> ScorecardDocument {
    let baseline = outcomes.first().map(|(_, o)| o.scorecard.totals.clone());
    let end = outcomes.first().map_or(base.start(), |(_, o)| o.report.end);
    let rfc =
        |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
    ScorecardDocument {
        api_version: karpenter_fake::scenario::API_VERSION,
        kind: "Scorecard",
        scenario: base.name().to_string(),
        seed: base.scenario().seed,
        start: rfc(base.start()),
        end: rfc(end),
        tick_seconds: base.tick().as_secs_f64(),
        runs: outcomes
            .iter()
            .enumerate()
            .map(|(i, (name, o))| Run {
                name: name.clone(),
                pareto_better: i > 0
                    && baseline
                        .as_ref()
                        .is_some_and(|b| pareto_better(&o.scorecard.totals, b)),
                scorecard: o.scorecard.clone(),
            })
            .collect(),
    }
}

fn human(
    base: &Prepared,
    document: &ScorecardDocument,
    outcomes: &[(String, RunOutcome)],
    wall: Duration,
    out: Option<&Path>,
) -> String {
    let mut text = String::new();
    let ticks = outcomes.first().map_or(0, |(_, o)| o.scorecard.ticks);
    let span = outcomes.first().map_or(Duration::ZERO, |(_, o)| {
        (o.report.end - o.report.start).to_std().unwrap_or_default()
    });
    text.push_str(&format!(
        "scenario {}: {} simulated in {ticks} ticks of {}, seed {}, {} run{} in {:.2} s of wall time\n",
        document.scenario,
        karpenter_fake::human_duration(span),
        karpenter_fake::human_duration(base.tick()),
        document.seed,
        document.runs.len(),
        if document.runs.len() == 1 { "" } else { "s" },
        wall.as_secs_f64()
    ));
    if let Some(d) = &base.scenario().description {
        text.push_str(&format!("{}\n", d.trim()));
    }
    for (run, (_, outcome)) in document.runs.iter().zip(outcomes) {
        text.push_str(&format!("\n{}:\n", run.name));
        text.push_str(&document.run_text(run));
        for e in outcome.report.first_errors.iter().take(3) {
            text.push_str(&format!("  first errors: {e}\n"));
        }
    }
    if document.runs.len() > 1 {
        text.push('\n');
        text.push_str(&document.comparison_table());
        let better: Vec<&str> = document
            .runs
            .iter()
            .filter(|r| r.pareto_better)
            .map(|r| r.name.as_str())
            .collect();
        text.push_str(&format!(
            "\nPareto-better than the baseline (no more node-hours and no more waiting, less of one): {}\n",
            if better.is_empty() {
                "none".to_string()
            } else {
                better.join(", ")
            }
        ));
    }
    if let Some(dir) = out {
        text.push_str(&format!(
            "\ncharts and timelines: {}\n",
            karpenter_fake::summary::display_path(dir)
        ));
    }
    text
}

fn write_outputs(
    dir: &Path,
    base: &Prepared,
    outcomes: &[(String, RunOutcome)],
) -> Result<(), SimulateError> {
    let stem = base.name();
    for (name, o) in outcomes {
        let Some(t) = &o.timeline else { continue };
        let file = if outcomes.len() == 1 {
            stem.to_string()
        } else {
            format!("{stem}.{name}")
        };
        t.write_csv(dir.join(format!("{file}.csv")))
            .map_err(ScenarioError::from)?;
        t.write_svg(dir.join(format!("{file}.svg")), &format!("{stem}: {name}"))
            .map_err(ScenarioError::from)?;
    }
    if outcomes.len() > 1
        && let Some(overlay) = overlay(outcomes)
    {
        overlay
            .write_csv(dir.join(format!("{stem}.comparison.csv")))
            .map_err(ScenarioError::from)?;
        overlay
            .write_svg(
                dir.join(format!("{stem}.comparison.svg")),
                &format!("{stem}: nodes of each run (all node groups)"),
            )
            .map_err(ScenarioError::from)?;
    }
    Ok(())
}

/// One timeline with each run's ready and desired nodes (summed over node
/// groups), for the comparison chart.
fn overlay(outcomes: &[(String, RunOutcome)]) -> Option<Timeline> {
    let first = outcomes.first()?.1.timeline.as_ref()?;
    let start = first.rows().first()?.time;
    let mut columns = Vec::new();
    for (name, _) in outcomes {
        columns.push(Column::new(
            format!("{name}.ready_nodes"),
            "Nodes ready (all node groups)",
            name.clone(),
        ));
    }
    for (name, _) in outcomes {
        columns.push(
            Column::new(
                format!("{name}.desired_nodes"),
                "Nodes desired (all node groups)",
                name.clone(),
            )
            .dashed(),
        );
    }
    let sums = |t: &Timeline, suffix: &str| -> Vec<Option<f64>> {
        let cols: Vec<usize> = t
            .columns()
            .iter()
            .enumerate()
            .filter(|(_, c)| c.name.ends_with(suffix))
            .map(|(i, _)| i)
            .collect();
        t.rows()
            .iter()
            .map(|r| {
                Some(
                    cols.iter()
                        .filter_map(|&i| r.values.get(i).copied().flatten())
                        .sum(),
                )
            })
            .collect()
    };
    type Values = Vec<Option<f64>>;
    let per_run: Vec<(Values, Values)> = outcomes
        .iter()
        .map(|(_, o)| {
            o.timeline.as_ref().map_or((Vec::new(), Vec::new()), |t| {
                (sums(t, ".ready_replicas"), sums(t, ".desired_replicas"))
            })
        })
        .collect();
    let mut timeline = Timeline::new(start, columns);
    for (i, row) in first.rows().iter().enumerate() {
        let mut values = Vec::new();
        for (ready, _) in &per_run {
            values.push(ready.get(i).copied().flatten());
        }
        for (_, desired) in &per_run {
            values.push(desired.get(i).copied().flatten());
        }
        timeline.push(Row {
            time: row.time,
            values,
        });
    }
    Some(timeline)
}

/// `karpenter simulate`: runs it and prints; the exit code.
pub fn main(args: &SimulateArgs) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            report(&[format!("error: cannot start the runtime: {e}")]);
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(simulate(args)) {
        Ok(out) => {
            let mut stdout = std::io::stdout().lock();
            match stdout
                .write_all(out.stdout.as_bytes())
                .and_then(|()| stdout.flush())
            {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
                Err(e) => {
                    report(&[format!("error: cannot write to stdout: {e}")]);
                    ExitCode::from(1)
                }
            }
        }
        Err(e) => {
            let code = e.exit_code();
            let mut lines = vec![if code == 2 {
                "error: invalid scenario:".to_string()
            } else {
                "error: simulate failed:".to_string()
            }];
            lines.extend(e.to_string().lines().map(|l| format!("  {l}")));
            report(&lines);
            ExitCode::from(code)
        }
    }
}

fn report(lines: &[String]) {
    let mut err = std::io::stderr().lock();
    for line in lines {
        let _ = writeln!(err, "{line}");
    }
}
