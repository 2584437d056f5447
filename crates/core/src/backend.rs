//! The seam between the driver and a backend: the [`Backend`] trait, the [`Job`] it is given and
//! the [`Event`]s it reports.

use crate::recipe::Recipe;
use crate::run::{EpochResult, RunResult, Status};
use crate::shared::Shared;
use mlcmp_data::Mnist;
use std::path::Path;

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
    /// `--load-params` / `--save-params`, in the backend's own format.
    pub params: ParamFiles<'a>,
}

impl<'a> Job<'a> {
    /// The recipe on `data`, each backend's own initialisation, no weight files.
    pub fn new(recipe: &'a Recipe, data: &'a Mnist) -> Job<'a> {
        Job { recipe, data, shared: None, params: ParamFiles::default() }
    }
}

/// Saved weights to start from, and where to save the trained ones (only after a run that
/// finished).
#[derive(Clone, Copy, Debug, Default)]
pub struct ParamFiles<'a> {
    pub load: Option<&'a Path>,
    pub save: Option<&'a Path>,
}

/// `mlcmp eval`: the accuracy of saved weights.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Evaluation {
    pub test_acc: f64,
    /// Only when asked (it takes six times as long).
    pub train_acc: Option<f64>,
}

/// A framework running the recipe in its own idiom.
pub trait Backend {
    /// `torch`, `gluon`, ...: the name in tables and results.
    fn name(&self) -> &'static str;

    /// Train the job's recipe, evaluating after each epoch. A run that stops early (divergence,
    /// interruption) still returns its finished epochs with the matching status; `Err` is for
    /// failures that leave nothing to report.
    fn run(&mut self, job: &Job, on: &mut dyn FnMut(Event)) -> anyhow::Result<RunResult>;

    /// The file extensions of this backend's saved weights (the first is the usual one), from
    /// its registry row; empty when it cannot save or load them.
    fn params_extensions(&self) -> &'static [&'static str] {
        crate::registry::get(self.name()).map_or(&[], |b| b.weights)
    }

    /// Before any training: the weights in `params` (this backend's format) load into the
    /// recipe's network, so a file of another network is refused with what it was saved with.
    fn check_weights(&mut self, recipe: &Recipe, params: &Path) -> anyhow::Result<()> {
        let _ = (recipe, params);
        anyhow::bail!("the {} backend cannot load saved weights; use gluon or torch", self.name())
    }

    /// The accuracy of the weights in `params` (this backend's format) on the job's test set, and
    /// on its training set when `train` is set, without training.
    fn evaluate(&mut self, job: &Job, params: &Path, train: bool) -> anyhow::Result<Evaluation> {
        let _ = (job, params, train);
        anyhow::bail!("the {} backend cannot load saved weights; use gluon or torch", self.name())
    }
}

/// A weight file that does not fit the recipe's network, with the `--hidden` it was saved with
/// where `file_shapes` (every array's shape in the file) tells.
pub fn weights_misfit(e: anyhow::Error, recipe: &Recipe, file_shapes: &[Vec<usize>]) -> anyhow::Error {
    match recipe.model().other_hidden(file_shapes) {
        Some(h) => {
            anyhow::anyhow!("{e:#}; the file was saved with --hidden {h}: pass --hidden {h} to use it")
        }
        None => e,
    }
}

/// The first line of a panic's message (a `String` or `&str` payload), for a one-line error.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> &str {
    let msg = payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied())
        .unwrap_or("unknown cause");
    msg.lines().next().unwrap_or_default()
}

/// Run a backend, turning an error or a panic (tch panics when libtorch cannot allocate) into a
/// `failed` run with its message, so the other backends and the results survive.
pub fn run_backend(
    backend: &mut dyn Backend,
    job: &Job,
    threads: usize,
    on: &mut dyn FnMut(Event),
) -> RunResult {
    let name = backend.name();
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| backend.run(job, on))) {
        Ok(Ok(run)) => run,
        Ok(Err(e)) => RunResult::failed(name, threads, Status::Failed, format!("{e:#}")),
        Err(payload) => {
            let msg = panic_message(payload.as_ref());
            RunResult::failed(
                name,
                threads,
                Status::Failed,
                format!("the backend stopped with an internal error: {msg}"),
            )
        }
    }
}
