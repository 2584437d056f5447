//! `mlcmp data`: fetch, verify and describe the MNIST files.

use crate::args::DataCmd;
use anyhow::{bail, Context, Result};
use std::path::Path;
use std::process::ExitCode;

pub fn data_cmd(cmd: DataCmd, dir: &Path) -> Result<ExitCode> {
    let verify = || {
        let st = mlcmp_data::verify(dir);
        for (p, s) in &st {
            let s = match s {
                mlcmp_data::FileStatus::Ok => "ok".to_string(),
                mlcmp_data::FileStatus::Missing => "missing".to_string(),
                mlcmp_data::FileStatus::Mismatch { actual } => format!("checksum mismatch ({actual})"),
            };
            println!("{:<28} {s}", p.file_name().unwrap_or_default().to_string_lossy());
        }
        st.iter().all(|(_, s)| *s == mlcmp_data::FileStatus::Ok)
    };
    match cmd {
        DataCmd::Fetch => {
            let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/setup");
            let ok = std::process::Command::new(&script)
                .arg("mnist")
                .env("MLCMP_DATA", dir)
                .status()
                .with_context(|| format!("cannot run {}", script.display()))?
                .success();
            if !ok || !verify() {
                bail!("{}: fetching MNIST failed (see above)", dir.display());
            }
        }
        DataCmd::Verify => {
            if !verify() {
                bail!("{}: some MNIST files are missing or corrupted; run `mlcmp data fetch`", dir.display());
            }
        }
        DataCmd::Info => {
            let m = mlcmp_data::Mnist::load(dir)?;
            println!("MNIST in {}", dir.display());
            for (name, s) in [("train", &m.train), ("test", &m.test)] {
                let h = s.histogram().map(|c| c.to_string()).join(" ");
                println!(
                    "{name:<5}: {} images of {}x{}, labels 0..9: {h}",
                    s.len(),
                    s.images.rows,
                    s.images.cols
                );
            }
            println!("checksums:");
            verify();
        }
    }
    Ok(ExitCode::SUCCESS)
}
