//! `mlcmp regress`, and `--regress` on compare and bench.

use crate::args::ExportOpts;
use crate::outputs::{say, Contents, Outputs};
use anyhow::{bail, Result};
use mlcmp_core::export::plot::svg_overlay;
use mlcmp_core::export::regress::{csv_of, json_of, table_of};
use mlcmp_core::export::Style;
use mlcmp_core::regress::Check;
use mlcmp_core::results::Results;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The regress exports: the checks as Markdown, CSV and JSON, and the two results overlaid.
struct OfChecks<'a> {
    checks: &'a [Check],
    baseline: (&'a Path, &'a Results),
    current: (&'a str, &'a Results),
}

impl Contents for OfChecks<'_> {
    fn json(&self) -> String {
        json_of(&self.baseline.0.display().to_string(), self.current.0, self.checks)
    }
    fn markdown(&self) -> String {
        format!(
            "### Regression check against {}\n\n{}\n",
            self.baseline.0.display(),
            table_of(self.checks, Style::Markdown)
        )
    }
    fn csv(&self) -> String {
        csv_of(self.checks)
    }
    fn svg(&self) -> Result<String> {
        let base = (format!("baseline {}", self.baseline.0.display()), self.baseline.1.clone());
        let cur = (format!("current {}", self.current.0), self.current.1.clone());
        svg_overlay(&[base, cur])
    }
}

/// `mlcmp regress --baseline B --current C`: refuse an export on either input before reading them
/// (the two inputs may be one file: a results file checked against itself).
pub fn check_exports(baseline: &Path, current: &Path, exports: &ExportOpts) -> Result<()> {
    let outputs = Outputs { exports, save_as: None };
    outputs.check(&[("--baseline", baseline)])?;
    let mut paths = vec![("--current", current)];
    paths.extend(outputs.targets());
    crate::outputs::distinct(&paths)
}

/// Print the regression table of `current` against the baseline file and write the exports; exit 1
/// when a metric regressed. `current_name` names the current results in errors (its file).
pub fn regress(
    baseline: &Path,
    current: &Results,
    current_name: &str,
    exports: &ExportOpts,
) -> Result<ExitCode> {
    let base = Results::load(baseline)?;
    mlcmp_core::regress::check_baseline(&base, &baseline.display().to_string())?;
    current.check_plausible(current_name)?;
    let checks = mlcmp_core::regress::checks(&base, current)?;
    say!("Regression check against {}", baseline.display());
    say!("{}", table_of(&checks, Style::Text));
    let outputs = Outputs { exports, save_as: None };
    let written = outputs.write(&OfChecks {
        checks: &checks,
        baseline: (baseline, &base),
        current: (current_name, current),
    });
    let failed: Vec<&str> =
        checks.iter().filter(|c| c.pass == Some(false)).map(|c| c.metric.as_str()).collect();
    if failed.is_empty() {
        say!("no regression");
        Ok(if written { ExitCode::SUCCESS } else { ExitCode::from(1) })
    } else {
        eprintln!("mlcmp: regression: {}", failed.join("; "));
        Ok(ExitCode::from(1))
    }
}

/// `--regress` needs `--json`, and a readable baseline, before any training.
pub fn regress_needs_json(baseline: &Option<PathBuf>, exports: &ExportOpts) -> Result<()> {
    if baseline.is_some() && exports.json.is_none() {
        bail!("--regress needs --json FILE: the results to check are written there first");
    }
    if let Some(b) = baseline {
        let e = exports;
        let outputs =
            [("--json", &e.json), ("--markdown", &e.markdown), ("--csv", &e.csv), ("--plot", &e.plot)];
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
            regress(b, &Results::load(j)?, &j.display().to_string(), &ExportOpts::default())
        }
        _ => Ok(code),
    }
}
