//! The `karpenter pending` command: files in, report out, exit codes.
//!
//! Exit codes, as for `karpenter decide`: 0 with the report on stdout; 2
//! when an input is bad (a file that cannot be read, a snapshot that is not
//! a List, an unparsable quantity, an unknown field in a manifest, no
//! `pendingCapacity` producer), with the problems on stderr; 1 when the
//! report cannot be written (a closed pipe, as in `| head`, ends quietly
//! with 0).

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use super::manifests::PendingInputs;
use super::snapshot::read_list;
use super::{PendingError, PendingReport};
use crate::decide::{ReadError, read_document};

/// Runs the command: reads `snapshot` (`-` for stdin) and the manifests
/// `files`, and prints the report (JSON with `json`).
pub fn run(snapshot: &Path, files: &[PathBuf], json: bool) -> ExitCode {
    match build(snapshot, files) {
        Ok(report) => print(&report, json),
        Err(lines) => {
            let mut err = io::stderr().lock();
            for line in lines {
                let _ = writeln!(err, "{line}");
            }
            ExitCode::from(2)
        }
    }
}

fn build(snapshot: &Path, files: &[PathBuf]) -> Result<PendingReport, Vec<String>> {
    let mut inputs = PendingInputs::default();
    for file in files {
        let name = file.display().to_string();
        let read = match File::open(file) {
            Ok(f) => read_document(f),
            Err(e) => return Err(vec![format!("error: cannot read {name}: {e}")]),
        };
        let text = match read {
            Ok(t) => t,
            Err(ReadError::Io(e)) => return Err(vec![format!("error: cannot read {name}: {e}")]),
            Err(ReadError::Invalid(e)) => return Err(vec![format!("error: {name}: {e}")]),
        };
        inputs.read(&name, &text).map_err(invalid)?;
    }
    let list = if snapshot.as_os_str() == "-" {
        read_list(io::stdin().lock())
    } else {
        match File::open(snapshot) {
            Ok(f) => read_list(f),
            Err(e) => {
                return Err(vec![format!(
                    "error: cannot read {}: {e}",
                    snapshot.display()
                )]);
            }
        }
    };
    let list = list.map_err(|e| invalid(PendingError::Snapshot(e)))?;
    PendingReport::build(&list, &inputs).map_err(invalid)
}

fn invalid(e: impl Into<PendingError>) -> Vec<String> {
    let e: PendingError = e.into();
    let mut lines = vec!["error: invalid input for karpenter pending:".to_string()];
    lines.extend(e.to_string().lines().map(|l| format!("  {l}")));
    lines
}

fn print(report: &PendingReport, json: bool) -> ExitCode {
    let stdout = io::stdout().lock();
    let mut out = io::BufWriter::new(stdout);
    let written = if json {
        serde_json::to_writer_pretty(&mut out, report)
            .map_err(io::Error::from)
            .and_then(|()| out.write_all(b"\n"))
    } else {
        out.write_all(report.to_text().as_bytes())
    };
    match written.and_then(|()| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        // The reader went away: what it wanted, it got.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(
                io::stderr(),
                "error: cannot write the report to stdout: {e}; check the disk or the output file"
            );
            ExitCode::from(1)
        }
    }
}
