//! Where a run's outputs go, what it prints, and the exit code it ends with: one place for every
//! command.

use crate::args::ExportOpts;
use anyhow::Result;
use mlcmp_core::export::{plot, Style};
use mlcmp_core::interrupt::stop_requested;
use mlcmp_core::output::{check_folder, check_target, write_atomic, write_unique};
use mlcmp_core::results::{file_stamp, Results};
use mlcmp_core::run::Status;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Print a line on stdout. A closed stdout (`mlcmp compare | head -1`) ends the printing quietly,
/// the way `ls | head` does, and never the run or its saving.
macro_rules! say {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($t)*);
    }};
}
pub(crate) use say;

/// What goes into each export file of a command (`--json`, `--markdown`, `--csv`, `--plot`),
/// rendered only when asked for.
pub trait Contents {
    fn json(&self) -> String;
    fn markdown(&self) -> String;
    fn csv(&self) -> String;
    fn svg(&self) -> Result<String>;
}

/// A results file's exports: the JSON itself, the command's tables as Markdown, every epoch as
/// CSV, the plot.
pub struct OfResults<'a> {
    pub res: &'a Results,
    /// The command's tables (`export::compare::render` or `export::bench::render`).
    pub tables: fn(&Results, Style) -> String,
}

impl Contents for OfResults<'_> {
    fn json(&self) -> String {
        self.res.to_json()
    }
    fn markdown(&self) -> String {
        (self.tables)(self.res, Style::Markdown)
    }
    fn csv(&self) -> String {
        mlcmp_core::export::csv::csv(self.res)
    }
    fn svg(&self) -> Result<String> {
        plot::svg(self.res)
    }
}

/// One export flag: what it writes (for the "written to" line), its path, and its text.
type Export<'a> = (&'static str, &'a Option<PathBuf>, &'a dyn Fn() -> Result<String>);

/// The files a command writes besides the tables on stdout.
pub struct Outputs<'a> {
    pub exports: &'a ExportOpts,
    /// With `compare`/`bench`, no `--json` and no `--no-save`: a copy under the results folder,
    /// named by kind, so a run's results are never lost.
    pub save_as: Option<&'static str>,
}

impl Outputs<'_> {
    /// Each export flag given, with its path.
    pub fn targets(&self) -> Vec<(&'static str, &Path)> {
        let e = self.exports;
        [("--json", &e.json), ("--markdown", &e.markdown), ("--csv", &e.csv), ("--plot", &e.plot)]
            .into_iter()
            .filter_map(|(flag, p)| p.as_deref().map(|p| (flag, p)))
            .collect()
    }

    /// Before any training: no two outputs (or an output and `also`, files the run reads) on one
    /// path, and every output can be written (folder exists or can be made, writable, not
    /// clobbering without --force, nothing but a regular file replaced).
    pub fn check(&self, also: &[(&str, &Path)]) -> Result<()> {
        let mut all = also.to_vec();
        all.extend(self.targets());
        distinct(&all)?;
        for (_, p) in self.targets() {
            check_target(p, self.exports.force)?;
        }
        if self.save_as.is_some() {
            check_folder(&results_dir())?;
        }
        Ok(())
    }

    /// Write every output, each attempted even when another failed; say where each went. False
    /// when any failed (the command then exits 1).
    pub fn write(&self, c: &dyn Contents) -> bool {
        let e = self.exports;
        let files: [Export; 4] = [
            ("results", &e.json, &|| Ok(c.json())),
            ("markdown tables", &e.markdown, &|| Ok(c.markdown())),
            ("csv", &e.csv, &|| Ok(c.csv())),
            ("plot", &e.plot, &|| c.svg()),
        ];
        let mut written: Vec<(&str, Result<PathBuf>)> = files
            .into_iter()
            .filter_map(|(what, path, text)| {
                let p = path.as_ref()?;
                Some((what, text().and_then(|t| write_atomic(p, t.as_bytes(), e.force)).map(|()| p.clone())))
            })
            .collect();
        if let Some(kind) = self.save_as {
            written.push(("results", write_unique(&results_dir(), kind, &file_stamp(), c.json().as_bytes())));
        }
        let mut ok = true;
        for (what, r) in written {
            match r {
                Ok(p) => say!("{what} written to {}", p.display()),
                Err(e) => {
                    eprintln!("mlcmp: error: {e:#}");
                    ok = false;
                }
            }
        }
        if !ok {
            eprintln!("mlcmp: some outputs could not be written; the lines above say where the others went");
        }
        ok
    }
}

/// Refuse two of `paths` (each with the flag that named it) that are one file: one output would
/// replace the other, or an output the file a run reads.
pub fn distinct(paths: &[(&str, &Path)]) -> Result<()> {
    for (i, (fa, a)) in paths.iter().enumerate() {
        if let Some((fb, _)) = paths[..i].iter().find(|(_, b)| same_file(a, b)) {
            anyhow::bail!(
                "{fb} and {fa} both name {}: one would replace the other; give each its own path",
                a.display()
            );
        }
    }
    Ok(())
}

/// Whether two paths name one file: the same inode when both exist, else the same absolute path
/// once the folder's links are resolved.
fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    if let (Ok(x), Ok(y)) = (std::fs::metadata(a), std::fs::metadata(b)) {
        return (x.dev(), x.ino()) == (y.dev(), y.ino());
    }
    let resolved = |p: &Path| {
        let abs = std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
        match (abs.parent().and_then(|d| d.canonicalize().ok()), abs.file_name()) {
            (Some(dir), Some(name)) => dir.join(name),
            _ => abs,
        }
    };
    resolved(a) == resolved(b)
}

/// Where `compare` and `bench` keep a run's results when no `--json` says where they go:
/// `$MLCMP_RESULTS`, else `results/runs/` of the mlcmp checkout the current folder is in, else
/// `./results/runs`. Apart from `results/` itself, which holds only the curated tables that
/// `scripts/results` writes and the README shows.
pub fn results_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("MLCMP_RESULTS").filter(|d| !d.is_empty()) {
        return d.into();
    }
    let here = std::env::current_dir().unwrap_or_else(|_| ".".into());
    let results =
        mlcmp_data::checkout_of(&here).map(|c| c.join("results")).unwrap_or_else(|| here.join("results"));
    results.join("runs")
}

/// The exit code for a finished command: 130 interrupted (Ctrl-C, SIGTERM or SIGHUP; also between
/// runs), 1 a run failed or an output could not be written, 3 a run diverged, else 0.
pub fn exit_code(res: &Results, outputs_ok: bool) -> ExitCode {
    let has = |st: Status| res.runs.iter().any(|r| r.status == st);
    if stop_requested() || has(Status::Interrupted) {
        ExitCode::from(130)
    } else if has(Status::Failed) || !outputs_ok {
        ExitCode::from(1)
    } else if has(Status::Diverged) {
        ExitCode::from(3)
    } else {
        ExitCode::SUCCESS
    }
}
