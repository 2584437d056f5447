//! What a run produced: its epochs, status and where it stopped (the results file's `runs`).

use crate::stats::mean;
use serde::{Deserialize, Deserializer, Serialize};

/// Reads a number that JSON may hold as `null`: serde_json writes a NaN (a value that could not be
/// measured) as `null`, and mlcmp must read back every file it wrote.
pub fn f64_or_nan<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochResult {
    pub epoch: usize,
    /// Mean over the epoch's batches of each batch's mean loss (the article's "avg loss").
    #[serde(deserialize_with = "f64_or_nan")]
    pub avg_loss: f64,
    #[serde(deserialize_with = "f64_or_nan")]
    pub train_acc: f64,
    #[serde(deserialize_with = "f64_or_nan")]
    pub test_acc: f64,
    /// Wall clock of the training epoch, data loading included, evaluation excluded.
    #[serde(deserialize_with = "f64_or_nan")]
    pub time_s: f64,
    /// Wall clock of the evaluation after the epoch (train and test accuracy).
    #[serde(deserialize_with = "f64_or_nan")]
    pub eval_s: f64,
    pub batches: usize,
    pub samples: usize,
    /// Where the epoch's time went.
    #[serde(default)]
    pub phases: Phases,
    /// A warm-up epoch (`mlcmp bench`): reported, left out of the timing statistics.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub warmup: bool,
    /// Each batch's mean loss, in order (kept in memory for parity checks; not saved).
    #[serde(skip)]
    pub batch_losses: Vec<f32>,
}

impl EpochResult {
    /// A finished epoch from its batch losses; the accuracies and timings are the caller's.
    pub fn new(epoch: usize, batch_losses: Vec<f32>, samples: usize) -> EpochResult {
        EpochResult {
            epoch,
            avg_loss: mean(&batch_losses),
            train_acc: f64::NAN,
            test_acc: f64::NAN,
            time_s: f64::NAN,
            eval_s: f64::NAN,
            batches: batch_losses.len(),
            samples,
            phases: Phases::default(),
            warmup: false,
            batch_losses,
        }
    }
}

/// Seconds of an epoch spent in each phase of the training loop.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Phases {
    /// Batch assembly: indexing, u8 -> f32, normalisation.
    #[serde(deserialize_with = "f64_or_nan")]
    pub data_s: f64,
    /// Forward pass and loss (including reading the loss back).
    #[serde(deserialize_with = "f64_or_nan")]
    pub forward_s: f64,
    /// Backward pass (and zeroing gradients where the framework needs it).
    #[serde(deserialize_with = "f64_or_nan")]
    pub backward_s: f64,
    /// Optimizer update.
    #[serde(deserialize_with = "f64_or_nan")]
    pub update_s: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Diverged,
    Interrupted,
    Failed,
    /// Never started: a real framework setup could not install (`error` says why and the fix).
    Unavailable,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Status::Ok => "ok",
            Status::Diverged => "diverged",
            Status::Interrupted => "interrupted",
            Status::Failed => "failed",
            Status::Unavailable => "unavailable",
        })
    }
}

/// The sizes of one point of a `bench --sweep`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Variant {
    pub batch_size: usize,
    pub hidden: usize,
}

/// `mlcmp bench`: the machine around one worker run (measured by `bench::load`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Load {
    /// 1-minute load average when the worker started (mlcmp's own earlier workers count too).
    pub loadavg: f64,
    /// CPU time of everything but the worker, as a share of the machine's capacity (cores x wall
    /// time) while it ran.
    pub others_share: f64,
    /// Steal time as a share of the machine's time; 0 where the kernel reports none.
    pub steal_share: f64,
}

impl Load {
    /// Another process took more than a tenth of the machine, or the hypervisor more than 5%.
    pub fn busy(&self) -> bool {
        self.others_share > 0.10 || self.steal_share > 0.05
    }
}

/// Where a run stopped early.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StopPoint {
    pub epoch: usize,
    pub batch: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunResult {
    pub backend: String,
    pub status: Status,
    pub threads: usize,
    pub epochs: Vec<EpochResult>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped_at: Option<StopPoint>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// `mlcmp bench`: which repeat, the sizes swept, and the worker process's peak memory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repeat: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<Variant>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak_rss_mb: Option<f64>,
    /// `mlcmp bench`: libtorch's matmul rate (GFLOP/s) probed just before this run's repeat, so
    /// "x libtorch" sets each run against the machine's speed at that moment (`floor_gflops` in
    /// files written before the rename).
    #[serde(default, alias = "floor_gflops", skip_serializing_if = "Option::is_none")]
    pub libtorch_gflops: Option<f64>,
    /// `mlcmp bench`: what else the machine did while this run's worker ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load: Option<Load>,
    /// `mlcmp bench --neighbour busy`: this run had a process spinning on one core beside it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub neighbour: bool,
    /// `mlcmp compare --seeds`: the seed this run used (the recipe's seed is the first one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// The parameters after training, in the order of the model's parameter shapes (for parity
    /// checks; not saved).
    #[serde(skip)]
    pub final_params: Vec<Vec<f32>>,
}

impl RunResult {
    /// `train --save-params`: after a run that finished, `save` the trained weights to `path` (in
    /// the backend's own format); a failure keeps the epochs and fails the run with why.
    pub fn save_weights(
        &mut self,
        path: Option<&std::path::Path>,
        save: impl FnOnce(&std::path::Path) -> anyhow::Result<()>,
    ) {
        let (Some(path), Status::Ok) = (path, self.status) else { return };
        if let Err(e) = save(path) {
            self.status = Status::Failed;
            self.error = Some(format!("trained, but the weights were not saved: {e:#}"));
        }
    }

    pub fn new(backend: &str, threads: usize) -> RunResult {
        RunResult {
            backend: backend.into(),
            status: Status::Ok,
            threads,
            epochs: vec![],
            stopped_at: None,
            error: None,
            repeat: None,
            variant: None,
            peak_rss_mb: None,
            libtorch_gflops: None,
            load: None,
            neighbour: false,
            seed: None,
            final_params: vec![],
        }
    }

    /// A run that left nothing but its reason (`status` failed or interrupted).
    pub fn failed(backend: &str, threads: usize, status: Status, why: String) -> RunResult {
        RunResult { status, error: Some(why), ..RunResult::new(backend, threads) }
    }

    /// The epoch times outside warm-up (what the timing statistics use).
    pub fn timed_epochs(&self) -> Vec<f64> {
        self.epochs.iter().filter(|e| !e.warmup).map(|e| e.time_s).collect()
    }
}
