//! The results file: machine, versions, recipe and runs, as JSON (schema 4, which adds each floor
//! rerun's gaps to the parities; schema 3 added the verdicts; schema 1 files, with a single
//! `parity`, still load).

use crate::machine::{Machine, Versions};
use crate::output::write_atomic;
use crate::parity::{PairParity, Parity};
use crate::recipe::Recipe;
use crate::run::RunResult;
use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

pub const SCHEMA: u32 = 4;

/// What a bench run measured beside the runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchInfo {
    pub repeats: usize,
    pub warmup_epochs: usize,
    /// libtorch's matmul rate at the recipe's largest product, in a worker process with the
    /// bench's threads: the best of three medians of 200 products.
    #[serde(deserialize_with = "crate::run::f64_or_nan")]
    pub matmul_gflops: f64,
    pub matmul_shape: String,
    /// The hardware's f32 multiply-add rate ([`crate::bench::peak`]), the reference of "x peak".
    /// Not `peak`: files written before it used that key for libtorch's best rate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hardware_peak: Option<crate::bench::peak::HardwarePeak>,
    /// libtorch's best GEMM rate over a few shapes (`peak` in files written before the rename).
    #[serde(default, alias = "peak", skip_serializing_if = "Option::is_none")]
    pub libtorch_best: Option<BestRate>,
    /// `--against OLD`: the baseline build's `mlcmp`, whose runs are in
    /// [`Results::baseline_runs`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub against: Option<String>,
    /// With `against`: the two builds' workers of a backend took turns epoch by epoch
    /// ([`crate::bench::lockstep`]); false where the baseline build's workers cannot.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub lockstep: bool,
    /// `--epochs-for`: backends timed over other epochs than the recipe's, and how many.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub epochs_for: std::collections::BTreeMap<String, usize>,
}

/// The best f32 GEMM rate libtorch reached on the machine, and over which shapes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BestRate {
    #[serde(deserialize_with = "crate::run::f64_or_nan")]
    pub gflops: f64,
    /// The shapes tried, e.g. `128x784x256, 512x512x512, 1024x1024x1024`.
    pub shapes: String,
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
    /// `bench --against OLD`: the baseline build's runs, paired with `runs` by backend, sweep
    /// point, neighbour and repeat ([`crate::bench::ab`]); every other table reads `runs` only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub baseline_runs: Vec<RunResult>,
    /// With `init: shared`: how far each compared pair of runs is apart, beside its floor.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parities: Vec<PairParity>,
    /// Schema 1's single comparison of the first two runs; read, then moved into `parities`.
    #[serde(default, skip_serializing)]
    parity: Option<Parity>,
    /// With `mlcmp bench`: repeats, warm-up and the measured libtorch matmul rates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bench: Option<BenchInfo>,
    /// Schema 3: each claim's verdict when the file was written (`verdict::verdicts`; the tables
    /// compute them afresh, so files of schemas 1 and 2 get theirs on load).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub verdicts: Vec<crate::claims::Verdict>,
    /// `bench --against`: each backend's A/B when the file was written ([`crate::bench::ab::checks`],
    /// which the tables compute afresh).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ab: Vec<crate::claims::AbCheck>,
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
            baseline_runs: vec![],
            parities: vec![],
            parity: None,
            bench: None,
            verdicts: vec![],
            ab: vec![],
        }
    }

    /// The first run of `backend` with the recipe's seed.
    pub fn run(&self, backend: &str) -> Option<&RunResult> {
        self.main_runs().find(|r| r.backend == backend)
    }

    /// The runs with the recipe's seed: every run, unless `compare --seeds` added other seeds.
    pub fn main_runs(&self) -> impl Iterator<Item = &RunResult> {
        self.runs.iter().filter(|r| r.seed.is_none_or(|s| s == self.recipe.seed))
    }

    /// The seeds of a `compare --seeds` run, in the order they ran; empty for one seed.
    pub fn seeds(&self) -> Vec<u64> {
        let mut out: Vec<u64> = vec![];
        for s in self.runs.iter().filter_map(|r| r.seed) {
            if !out.contains(&s) {
                out.push(s);
            }
        }
        out
    }

    /// Every number could have been measured: accuracies in 0..=1, losses and times not negative,
    /// no epoch beyond the recipe's or the backend's `--epochs-for` (and a bench's warm-up). A
    /// hand-edited or damaged file is refused with the run, epoch and key named.
    pub fn check_plausible(&self, source: &str) -> Result<()> {
        for r in self.runs.iter().chain(&self.baseline_runs) {
            let epochs = self.bench.as_ref().map_or(self.recipe.epochs, |b| {
                b.epochs_for.get(&r.backend).copied().unwrap_or(self.recipe.epochs) + b.warmup_epochs
            });
            for e in &r.epochs {
                let at = format!("{source}: the {} run's epoch {}", r.backend, e.epoch);
                if e.epoch >= epochs {
                    bail!("{at} is beyond the recipe's {epochs} epoch(s) (counted from 0); is the file damaged?");
                }
                for (key, v) in [("test_acc", e.test_acc), ("train_acc", e.train_acc)] {
                    if !v.is_nan() && !(0.0..=1.0).contains(&v) {
                        bail!("{at}: {key} {v} is not an accuracy (0 to 1); is the file damaged?");
                    }
                }
                for (key, v) in [("avg_loss", e.avg_loss), ("time_s", e.time_s), ("eval_s", e.eval_s)] {
                    if v < 0.0 {
                        bail!("{at}: {key} {v} is negative; is the file damaged?");
                    }
                }
            }
        }
        Ok(())
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("results serialise")
    }

    pub fn parse(text: &str, source: &str) -> Result<Results> {
        let de = &mut serde_json::Deserializer::from_str(text);
        let mut r: Results = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            anyhow::anyhow!("{source}: not an mlcmp results file (at '{path}': {})", e.into_inner())
        })?;
        if r.schema == 0 || r.schema > SCHEMA {
            bail!(
                "{source}: results schema {} is not supported (this mlcmp reads schemas 1 to {SCHEMA})",
                r.schema
            );
        }
        if let (Some(p), [a, b, ..]) = (r.parity.take(), r.runs.as_slice()) {
            let (a, b) = (a.backend.clone(), b.backend.clone());
            r.parities.push(PairParity {
                floor_of: b.clone(),
                floor_runs: 1,
                a,
                b,
                parity: p,
                floors: vec![],
            });
        }
        Ok(r)
    }

    pub fn load(path: &Path) -> Result<Results> {
        let text = crate::input::read_text(path, crate::input::RESULTS_LIMIT, "results file")?;
        Results::parse(&text, &path.display().to_string())
    }

    /// Write atomically (temp file, then rename); refuses to replace an existing file unless `force`.
    pub fn save(&self, path: &Path, force: bool) -> Result<()> {
        write_atomic(path, self.to_json().as_bytes(), force)
    }
}

/// A file-name stamp of the current UTC time with milliseconds: `20261127T144118123Z`.
pub fn file_stamp() -> String {
    humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string().replace([':', '-', '.'], "")
}

/// Current UTC time as ISO 8601 (`2026-11-27T14:41:18Z`).
pub fn utc_now() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}
