//! The seam between the driver and a backend.

use crate::parity::Shared;
use crate::recipe::Recipe;
use mlcmp_data::Mnist;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// What a backend reports while it runs (for progress bars and the article's per-epoch line).
#[derive(Debug, Clone)]
pub enum Event<'a> {
    EpochStart { epoch: usize, batches: usize },
    Batch { epoch: usize, batch: usize, loss: f32 },
    EpochEnd(&'a EpochResult),
}

/// What a backend is asked to run.
#[derive(Clone, Copy)]
pub struct Job<'a> {
    pub recipe: &'a Recipe,
    pub data: &'a Mnist,
    /// With `--init shared`: the initial weights and the batch order every backend must use.
    pub shared: Option<&'a Shared>,
}

/// A framework running the recipe in its own idiom.
pub trait Backend {
    /// `torch` or `gluon`.
    fn name(&self) -> &'static str;

    /// Train the job's recipe, evaluating after each epoch. A run that stops early (divergence,
    /// interruption) still returns its finished epochs with the matching status; `Err` is for
    /// failures that leave nothing to report.
    fn run(&mut self, job: &Job, on: &mut dyn FnMut(Event)) -> anyhow::Result<RunResult>;
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochResult {
    pub epoch: usize,
    /// Mean over the epoch's batches of each batch's mean loss (the article's "avg loss").
    pub avg_loss: f64,
    pub train_acc: f64,
    pub test_acc: f64,
    /// Wall clock of the training epoch, data loading included, evaluation excluded.
    pub time_s: f64,
    /// Wall clock of the evaluation after the epoch (train and test accuracy).
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
    /// A finished training epoch: its batch losses, wall clock and phases, then `evaluate` (train and
    /// test accuracy), timed separately.
    pub fn evaluated<E>(
        epoch: usize,
        time_s: f64,
        batch_losses: Vec<f32>,
        samples: usize,
        phases: Phases,
        evaluate: impl FnOnce() -> Result<(f64, f64), E>,
    ) -> Result<EpochResult, E> {
        let start = Instant::now();
        let (train_acc, test_acc) = evaluate()?;
        Ok(EpochResult {
            epoch,
            avg_loss: mean(&batch_losses),
            train_acc,
            test_acc,
            time_s,
            eval_s: start.elapsed().as_secs_f64(),
            batches: batch_losses.len(),
            samples,
            phases,
            warmup: false,
            batch_losses,
        })
    }
}

/// Seconds of an epoch spent in each phase of the training loop.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Phases {
    /// Batch assembly: indexing, u8 -> f32, normalisation.
    pub data_s: f64,
    /// Forward pass and loss (including reading the loss back).
    pub forward_s: f64,
    /// Backward pass (and zeroing gradients where the framework needs it).
    pub backward_s: f64,
    /// Optimizer update.
    pub update_s: f64,
}

/// Which phase just ended.
#[derive(Debug, Clone, Copy)]
pub enum Phase {
    Data,
    Forward,
    Backward,
    Update,
}

/// Charges the time since the previous lap to a phase: one `lap` call after each phase of the loop.
pub struct PhaseClock {
    last: Instant,
    pub phases: Phases,
}

impl PhaseClock {
    pub fn start() -> PhaseClock {
        PhaseClock { last: Instant::now(), phases: Phases::default() }
    }

    pub fn lap(&mut self, phase: Phase) {
        let now = Instant::now();
        let dt = (now - self.last).as_secs_f64();
        self.last = now;
        let p = &mut self.phases;
        *match phase {
            Phase::Data => &mut p.data_s,
            Phase::Forward => &mut p.forward_s,
            Phase::Backward => &mut p.backward_s,
            Phase::Update => &mut p.update_s,
        } += dt;
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Diverged,
    Interrupted,
    Failed,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Status::Ok => "ok",
            Status::Diverged => "diverged",
            Status::Interrupted => "interrupted",
            Status::Failed => "failed",
        })
    }
}

/// The sizes of one point of a `bench --sweep`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Variant {
    pub batch_size: usize,
    pub hidden: usize,
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
    /// The parameters after training, in the order of [`Shared::params`] (for parity checks; not saved).
    #[serde(skip)]
    pub final_params: Vec<Vec<f32>>,
}

impl RunResult {
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
            final_params: vec![],
        }
    }
}

static STOP: AtomicBool = AtomicBool::new(false);

/// Ask running backends to stop after the current batch (Ctrl-C). A second request exits at once.
pub fn request_stop() {
    if STOP.swap(true, Ordering::SeqCst) {
        std::process::exit(130);
    }
}

/// Whether a stop was requested; backends check it once per batch.
pub fn stop_requested() -> bool {
    STOP.load(Ordering::Relaxed)
}

/// The running average the article prints: mean of the batch losses.
pub fn mean(xs: &[f32]) -> f64 {
    if xs.is_empty() {
        return f64::NAN;
    }
    xs.iter().map(|&x| x as f64).sum::<f64>() / xs.len() as f64
}

/// A batch loss above this means the run has diverged. Softmax cross-entropy over 10 classes starts
/// near ln(10) = 2.3 and a stable log-softmax keeps even an exploding run finite for a long time
/// (`--lr 100` gives losses of 1e16), so a bound catches divergence where `is_finite` would not.
pub const DIVERGED_LOSS: f32 = 1e3;

/// What a backend's per-batch loop says after each batch: go on, or stop and why.
pub fn check_batch(loss: f32, epoch: usize, batch: usize, run: &mut RunResult) -> bool {
    if !loss.is_finite() || loss > DIVERGED_LOSS {
        run.status = Status::Diverged;
        run.stopped_at = Some(StopPoint { epoch, batch });
        return false;
    }
    if stop_requested() {
        run.status = Status::Interrupted;
        run.stopped_at = Some(StopPoint { epoch, batch });
        return false;
    }
    true
}

/// Run a backend, turning an error into a `failed` run so the other backend and the results survive.
pub fn run_backend(
    backend: &mut dyn Backend,
    job: &Job,
    threads: usize,
    on: &mut dyn FnMut(Event),
) -> RunResult {
    match backend.run(job, on) {
        Ok(r) => r,
        Err(e) => {
            let mut r = RunResult::new(backend.name(), threads);
            r.status = Status::Failed;
            r.error = Some(format!("{e:#}"));
            r
        }
    }
}
