//! `mlcmp data`: fetch, verify and describe the MNIST files.

use crate::args::DataCmd;
use crate::outputs::say;
use anyhow::{bail, Context, Result};
use mlcmp_data::FileStatus;
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

/// The project's setup script, carried in the binary so `mlcmp data fetch` works from an installed
/// or moved binary too (it only needs bash, python3 with pip, and curl or PyPI).
const SETUP: &str = include_str!("../../scripts/setup");

/// Print each file's checksum status; true when all four are fine.
fn verify(dir: &Path) -> bool {
    let st = mlcmp_data::verify(dir);
    for (p, s) in &st {
        let s = match s {
            FileStatus::Ok => "ok".to_string(),
            FileStatus::Missing => "missing".to_string(),
            FileStatus::Mismatch { actual } => format!("checksum mismatch ({actual})"),
            FileStatus::Unreadable { reason } => format!("unreadable ({reason})"),
        };
        say!("{:<28} {s}", p.file_name().unwrap_or_default().to_string_lossy());
    }
    st.iter().all(|(_, s)| *s == FileStatus::Ok)
}

/// `user_named`: the folder came from --data-dir or MLCMP_DATA (setup then never replaces a file
/// in it).
fn fetch(dir: &Path, user_named: bool) -> Result<bool> {
    let mut script =
        tempfile::NamedTempFile::new().context("cannot write the setup script to a temporary file")?;
    script.write_all(SETUP.as_bytes()).context("cannot write the setup script")?;
    let status = mlcmp_core::child::die_with_parent(
        &mut std::process::Command::new("bash"),
        mlcmp_core::child::Orphaned::Kill,
    )
    .arg(script.path())
    .arg("mnist")
    .env("MLCMP_DATA", dir)
    .env("MLCMP_DATA_IS_DEFAULT", if user_named { "" } else { "1" })
    .env("MLCMP_MNIST_SHA256SUMS", mlcmp_data::SHA256SUMS)
    .status()
    .context("cannot run bash for the setup script")?;
    Ok(status.success())
}

pub fn data_cmd(cmd: DataCmd, dir: &Path, user_named: bool) -> Result<ExitCode> {
    let fetching = matches!(cmd, DataCmd::Fetch);
    let ok = match cmd {
        DataCmd::Fetch => fetch(dir, user_named)? && verify(dir),
        DataCmd::Verify => verify(dir),
        DataCmd::Info => {
            let m = mlcmp_data::Mnist::load(dir)?;
            say!("MNIST in {}", dir.display());
            for (name, s) in [("train", &m.train), ("test", &m.test)] {
                let h = s.histogram().map(|c| c.to_string()).join(" ");
                say!(
                    "{name:<5}: {} images of {}x{}, labels 0..9: {h}",
                    s.len(),
                    s.images.rows,
                    s.images.cols
                );
            }
            say!("checksums:");
            verify(dir)
        }
    };
    if !ok && fetching {
        bail!(
            "{}: no verified copy of every MNIST file could be put there; the lines above say which and why",
            dir.display()
        );
    }
    if !ok {
        bail!(
            "{}: some MNIST files are missing, unreadable or corrupted; run `mlcmp data fetch`",
            dir.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}
