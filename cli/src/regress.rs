//! `mlcmp regress`, and `--regress` on compare and bench.

use crate::args::RunOpts;
use crate::outputs::say;
use anyhow::{bail, Result};
use mlcmp_core::export::{regress::table_of, Style};
use mlcmp_core::output::write_atomic;
use mlcmp_core::results::Results;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Print the regression table of `current` against the baseline file; exit 1 when a metric regressed.
/// `current_name` names the current results in errors (its file).
pub fn regress(
    baseline: &Path,
    current: &Results,
    current_name: &str,
    markdown: Option<(&Path, bool)>,
) -> Result<ExitCode> {
    let base = Results::load(baseline)?;
    mlcmp_core::regress::check_baseline(&base, &baseline.display().to_string())?;
    current.check_plausible(current_name)?;
    let checks = mlcmp_core::regress::checks(&base, current)?;
    say!("Regression check against {}", baseline.display());
    say!("{}", table_of(&checks, Style::Text));
    if let Some((p, force)) = markdown {
        let md = format!(
            "### Regression check against {}\n\n{}\n",
            baseline.display(),
            table_of(&checks, Style::Markdown)
        );
        write_atomic(p, md.as_bytes(), force)?;
    }
    let failed: Vec<&str> =
        checks.iter().filter(|c| c.pass == Some(false)).map(|c| c.metric.as_str()).collect();
    if failed.is_empty() {
        say!("no regression");
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("mlcmp: regression: {}", failed.join("; "));
        Ok(ExitCode::from(1))
    }
}

/// `--regress` needs `--json`, and a readable baseline, before any training.
pub fn regress_needs_json(baseline: &Option<PathBuf>, opts: &RunOpts) -> Result<()> {
    if baseline.is_some() && opts.json.is_none() {
        bail!("--regress needs --json FILE: the results to check are written there first");
    }
    if let Some(b) = baseline {
        let outputs = [("--json", &opts.json), ("--plot", &opts.plot)];
        let mut paths: Vec<(&str, &Path)> =
            outputs.iter().filter_map(|(f, p)| p.as_deref().map(|p| (*f, p))).collect();
        paths.push(("--regress", b));
        crate::outputs::distinct(&paths)?;
        // A missing, malformed or unfit baseline fails before any training.
        mlcmp_core::regress::check_baseline(&Results::load(b)?, &b.display().to_string())?;
    }
    Ok(())
}

/// `compare/bench --regress BASELINE`: the check runs on the results just written with --json.
pub fn finish_with_regress(code: ExitCode, baseline: Option<&Path>, json: Option<&Path>) -> Result<ExitCode> {
    match (baseline, json) {
        (Some(b), Some(j)) if code == ExitCode::SUCCESS => {
            regress(b, &Results::load(j)?, &j.display().to_string(), None)
        }
        _ => Ok(code),
    }
}
