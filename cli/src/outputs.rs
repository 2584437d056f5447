//! Where a run's outputs go and the exit code it ends with: one place for every command.

use crate::args::RunOpts;
use anyhow::{bail, Result};
use mlcmp_core::export::plot;
use mlcmp_core::interrupt::stop_requested;
use mlcmp_core::results::Results;
use mlcmp_core::run::Status;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

impl RunOpts {
    /// Refuse an existing --json file up front, before any training.
    pub fn check_json_target(&self) -> Result<()> {
        match &self.json {
            Some(p) if p.exists() && !self.force => {
                bail!("{} exists; pass --force to overwrite it or choose another path", p.display())
            }
            _ => Ok(()),
        }
    }

    /// Write what the options ask for (--json, --plot) and, with `save_as`, a timestamped copy
    /// under results/ (`compare-20261127T144118Z.json`) that never overwrites.
    pub fn write_outputs(&self, res: &Results, save_as: Option<&str>) -> Result<()> {
        if let Some(p) = &self.json {
            res.save(p, true)?;
            println!("results written to {}", p.display());
        }
        if let Some(p) = &self.plot {
            plot::write_svg(res, p, true)?;
            println!("plot written to {}", p.display());
        }
        if let Some(kind) = save_as {
            let p = results_dir().join(format!("{kind}-{}.json", res.created.replace([':', '-'], "")));
            res.save(&p, false)?;
            println!("results saved to {}", p.display());
        }
        Ok(())
    }
}

/// Where `compare` saves its results unless --no-save.
pub fn results_dir() -> PathBuf {
    std::env::var_os("MLCMP_RESULTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../results"))
}

/// The exit code for a finished command: 130 interrupted (also between runs), 1 a run failed,
/// 3 a run diverged, else 0.
pub fn exit_code(res: &Results) -> ExitCode {
    let has = |st: Status| res.runs.iter().any(|r| r.status == st);
    if stop_requested() || has(Status::Interrupted) {
        ExitCode::from(130)
    } else if has(Status::Failed) {
        ExitCode::from(1)
    } else if has(Status::Diverged) {
        ExitCode::from(3)
    } else {
        ExitCode::SUCCESS
    }
}
