//! The results file: machine, versions, recipe and runs, as JSON (schema 1).

use crate::backend::RunResult;
use crate::bench::BenchInfo;
use crate::parity::Parity;
use crate::recipe::Recipe;
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

pub const SCHEMA: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Machine {
    pub cpu: String,
    pub cores: usize,
    pub threads: usize,
    pub os: String,
}

impl Machine {
    /// This machine; `threads` is what the recipe asked for.
    pub fn detect(threads: usize) -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split(':').nth(1))
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|| std::env::consts::ARCH.to_string());
        let os = std::fs::read_to_string("/etc/os-release")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("PRETTY_NAME=").map(|v| v.trim_matches('"').to_string()))
            })
            .unwrap_or_else(|| std::env::consts::OS.to_string());
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        Machine { cpu, cores, threads, os }
    }

    /// "AMD EPYC, 2 cores".
    pub fn describe(&self) -> String {
        format!("{}, {} cores, {}", self.cpu, self.cores, self.os)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Versions {
    pub mlcmp: String,
    pub tch: String,
    pub libtorch: String,
    pub candle: String,
    pub git: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Results {
    pub schema: u32,
    /// UTC, `2026-11-27T14:41:18Z`.
    pub created: String,
    pub machine: Machine,
    pub versions: Versions,
    pub recipe: Recipe,
    pub runs: Vec<RunResult>,
    /// With `init: shared`: how far the first two runs are apart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parity: Option<Parity>,
    /// With `mlcmp bench`: repeats, warm-up and the measured matmul rate behind the floor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bench: Option<BenchInfo>,
}

impl Results {
    pub fn new(machine: Machine, versions: Versions, recipe: Recipe) -> Results {
        Results {
            schema: SCHEMA,
            created: utc_now(),
            machine,
            versions,
            recipe,
            runs: vec![],
            parity: None,
            bench: None,
        }
    }

    pub fn run(&self, backend: &str) -> Option<&RunResult> {
        self.runs.iter().find(|r| r.backend == backend)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("results serialise")
    }

    pub fn parse(text: &str, source: &str) -> Result<Results> {
        let de = &mut serde_json::Deserializer::from_str(text);
        let r: Results = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            anyhow::anyhow!("{source}: not an mlcmp results file (at '{path}': {})", e.into_inner())
        })?;
        if r.schema != SCHEMA {
            bail!(
                "{source}: results schema {} is not supported (this mlcmp reads schema {SCHEMA})",
                r.schema
            );
        }
        Ok(r)
    }

    pub fn load(path: &Path) -> Result<Results> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("{}: cannot read results", path.display()))?;
        Results::parse(&text, &path.display().to_string())
    }

    /// Write atomically (temp file, then rename); refuses to replace an existing file unless `force`.
    pub fn save(&self, path: &Path, force: bool) -> Result<()> {
        write_atomic(path, self.to_json().as_bytes(), force)
    }
}

/// Write `bytes` to `path` through a temporary file in the same folder and a rename, so a reader
/// never sees half a file; an existing file is kept unless `force`.
pub fn write_atomic(path: &Path, bytes: &[u8], force: bool) -> Result<()> {
    if path.exists() && !force {
        bail!("{} exists; pass --force to overwrite it or choose another path", path.display());
    }
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("{}: cannot create the folder", dir.display()))?;
    let name = path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes).with_context(|| format!("{}: cannot write", tmp.display()))?;
    std::fs::rename(&tmp, path)
        .with_context(|| format!("{}: cannot move the results into place", path.display()))?;
    Ok(())
}

/// Current UTC time as ISO 8601.
pub fn utc_now() -> String {
    let secs =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}
