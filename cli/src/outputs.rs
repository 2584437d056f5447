//! Where a run's outputs go, what it prints, and the exit code it ends with: one place for every
//! command.

use crate::args::RunOpts;
use anyhow::Result;
use mlcmp_core::export::plot;
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

/// The files a command writes besides the tables on stdout.
pub struct Outputs<'a> {
    pub opts: &'a RunOpts,
    /// `bench --markdown FILE`: the tables as Markdown.
    pub markdown: Option<&'a Path>,
    /// With `compare`/`bench` and no `--no-save`: a copy under the results folder, named by kind.
    pub save_as: Option<&'static str>,
}

impl Outputs<'_> {
    fn targets(&self) -> Vec<(&'static str, &Path)> {
        [
            ("--json", self.opts.json.as_deref()),
            ("--plot", self.opts.plot.as_deref()),
            ("--markdown", self.markdown),
        ]
        .into_iter()
        .filter_map(|(flag, p)| p.map(|p| (flag, p)))
        .collect()
    }

    /// Before any training: no two outputs (or an output and `also`, files the run reads) on one
    /// path, and every output can be written (folder exists or can be made, writable, not
    /// clobbering without --force, nothing but a regular file replaced).
    pub fn check(&self, also: &[(&str, &Path)]) -> Result<()> {
        let mut all = self.targets();
        all.extend_from_slice(also);
        distinct(&all)?;
        for (_, p) in self.targets() {
            check_target(p, self.opts.force)?;
        }
        if self.save_as.is_some() {
            check_folder(&results_dir())?;
        }
        Ok(())
    }

    /// Write every output, each attempted even when another failed; say where each went. False
    /// when any failed (the command then exits 1).
    pub fn write(&self, res: &Results, markdown: impl FnOnce() -> String) -> bool {
        let mut ok = true;
        let mut attempt = |what: &str, r: Result<PathBuf>| match r {
            Ok(p) => say!("{what} written to {}", p.display()),
            Err(e) => {
                eprintln!("mlcmp: error: {e:#}");
                ok = false;
            }
        };
        let force = self.opts.force;
        if let Some(p) = &self.opts.json {
            attempt("results", res.save(p, force).map(|()| p.clone()));
        }
        if let Some(p) = &self.opts.plot {
            attempt("plot", plot::write_svg(res, p, force).map(|()| p.clone()));
        }
        if let Some(p) = self.markdown {
            attempt(
                "markdown tables",
                write_atomic(p, markdown().as_bytes(), force).map(|()| p.to_path_buf()),
            );
        }
        if let Some(kind) = self.save_as {
            attempt("results", write_unique(&results_dir(), kind, &file_stamp(), res.to_json().as_bytes()));
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

/// Where `compare` and `bench` save their results unless --no-save: `$MLCMP_RESULTS`, else the
/// `results/` folder of the mlcmp checkout the current folder is in, else `./results`.
pub fn results_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("MLCMP_RESULTS").filter(|d| !d.is_empty()) {
        return d.into();
    }
    let here = std::env::current_dir().unwrap_or_else(|_| ".".into());
    mlcmp_data::checkout_of(&here).map(|c| c.join("results")).unwrap_or_else(|| here.join("results"))
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
