//! The command line: every subcommand and option, and the recipe the options ask for.

use anyhow::Result;
use clap::builder::{PossibleValue, PossibleValuesParser};
use clap::{Args, Parser, Subcommand, ValueEnum};
use mlcmp_core::recipe::{InitMode, Overrides, Recipe};
use mlcmp_core::registry;
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "mlcmp",
    version,
    about = "PyTorch-style vs Gluon-style MNIST training, side by side: the article's MLP (after Mu Li, 2018) and d2l's LeNet"
)]
pub struct Cli {
    #[command(subcommand)]
    pub cmd: Cmd,
}

#[derive(Subcommand)]
pub enum Cmd {
    /// Train one backend and print the article's per-epoch line with accuracies.
    Train {
        /// The backend to run.
        #[arg(long, value_parser = backends(Kind::Train))]
        backend: String,
        #[command(flatten)]
        opts: RunOpts,
        #[command(flatten)]
        exports: ExportOpts,
        #[command(flatten)]
        params: ParamsOpts,
    },
    /// The accuracy of saved weights (from train --save-params, or real MXNet), without training.
    Eval {
        /// The backend to run.
        #[arg(long, value_parser = backends(Kind::Train))]
        backend: String,
        /// The weights: MXNet's .params for gluon, a libtorch VarStore (.ot) for torch.
        #[arg(long, value_name = "FILE")]
        params: PathBuf,
        /// Also report the accuracy on the training set (six times as long).
        #[arg(long, alias = "train")]
        train_accuracy: bool,
        /// Recipe file (its model, hidden size, mean and std; default: the article's recipe).
        #[arg(long)]
        config: Option<PathBuf>,
        /// The hidden width the weights were saved with (default: the recipe's).
        #[arg(long, allow_negative_numbers = true, value_parser = at_least_1)]
        hidden: Option<usize>,
        /// Threads (default: the recipe's, "all" cores).
        #[arg(long, allow_negative_numbers = true, value_parser = at_least_1)]
        threads: Option<usize>,
        /// Use only the first N training and N test samples.
        #[arg(long, allow_negative_numbers = true, value_parser = at_least_1)]
        limit: Option<usize>,
        /// Folder with the MNIST IDX files (default: $MLCMP_DATA or data/mnist).
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// Train the backends, one after the other, and print the comparison tables.
    Compare {
        #[command(flatten)]
        opts: RunOpts,
        #[command(flatten)]
        exports: ExportOpts,
        /// Without --json, do not keep a copy of the results under results/runs/.
        #[arg(long)]
        no_save: bool,
        /// With --init shared: exit 1 when the batch losses or final weights differ by more than TOL.
        #[arg(long, value_name = "TOL")]
        check_parity: Option<f64>,
        /// With --init shared: reruns of each floor backend from weights a rounding step or two
        /// away, the f32 floor each pair's gaps are ranked among (19: a gap above all of them has
        /// p = 0.05).
        #[arg(long, value_name = "N", default_value_t = mlcmp_core::parity::DEFAULT_FLOOR_RERUNS,
              allow_negative_numbers = true, value_parser = at_least_1)]
        floor_reruns: usize,
        /// Afterwards, check the results against this baseline (as `mlcmp regress`).
        #[arg(long, value_name = "BASELINE")]
        regress: Option<PathBuf>,
        /// Backends to run, in this order, or `all` (default: torch,gluon,pytorch,mxnet, the
        /// article's comparison; there and in `all`, a real framework setup could not install is a
        /// row saying why). `--backends torch,gluon` is the quick run.
        #[arg(long, value_delimiter = ',', value_parser = backends(Kind::Compare))]
        backends: Vec<String>,
        /// Run every backend once per seed (e.g. 1,2,3; the first is the recipe's seed) and show
        /// each backend's median and range over them: one seed is one draw of the initial weights.
        #[arg(long, value_delimiter = ',', value_parser = seed, conflicts_with = "seed")]
        seeds: Vec<u64>,
    },
    /// Benchmark: each backend in its own process, a warm-up epoch, interleaved repeats, medians.
    /// Timed epochs per repeat: --epochs, else the --config recipe's, else 1.
    Bench {
        #[command(flatten)]
        opts: RunOpts,
        #[command(flatten)]
        exports: ExportOpts,
        /// Repeats per backend (each a fresh worker process).
        #[arg(long, default_value_t = 5, allow_negative_numbers = true, value_parser = at_least_1)]
        repeats: usize,
        /// Warm-up epochs before the timed ones, in each worker.
        #[arg(long, default_value_t = 1, allow_negative_numbers = true, value_parser = at_least_0)]
        warmup: usize,
        /// Backends to run, in this order within each repeat.
        #[arg(long, value_delimiter = ',', default_value = "torch,gluon,gluon-hybrid,candle,torch-bare", value_parser = backends(Kind::Bench))]
        backends: Vec<String>,
        /// Sizes to sweep, e.g. --sweep batch=32,128,512 --sweep hidden=256,1024.
        #[arg(long)]
        sweep: Vec<String>,
        /// Without --json, do not keep a copy of the results under results/runs/.
        #[arg(long)]
        no_save: bool,
        /// Afterwards, check the results against this baseline (as `mlcmp regress`).
        #[arg(long, value_name = "BASELINE")]
        regress: Option<PathBuf>,
        /// busy: also run every repeat beside a process spinning on one core (a shared CI runner)
        /// and report each backend's slowdown against its quiet repeats.
        #[arg(long, value_enum, default_value = "quiet")]
        neighbour: NeighbourArg,
        /// A/B: also run every backend with this other build's mlcmp (e.g. one built from the
        /// baseline's commit), the two builds alternating in each repeat; new/old per backend with
        /// a 95% interval, and exit 1 where a backend is slower beyond the gate twice in a row.
        #[arg(long, value_name = "MLCMP")]
        against: Option<PathBuf>,
        /// Timed epochs per worker for these backends in place of the recipe's, e.g.
        /// pytorch=2,mxnet=2 beside --epochs 6: the real frameworks' epochs are many times longer.
        #[arg(long, value_name = "BACKEND=EPOCHS,...")]
        epochs_for: Option<String>,
        /// Test only (the gate's power study): slow these backends of this build by a factor,
        /// e.g. gluon=1.05,torch=1.05 (a spin after every batch).
        #[arg(long, hide = true, value_name = "BACKEND=FACTOR,...")]
        inject_slowdown: Option<String>,
    },
    /// Check a results file against a baseline: accuracy, loss and speed relative to torch.
    Regress {
        /// The reference results (e.g. results/baseline.json).
        #[arg(long)]
        baseline: PathBuf,
        /// The results to check (from compare --json or bench --json).
        #[arg(long)]
        current: PathBuf,
        /// Replace the baseline with the current results instead of checking (only results whose
        /// every run finished).
        #[arg(long, conflicts_with_all = ["json", "markdown", "csv", "plot"])]
        update: bool,
        #[command(flatten)]
        exports: ExportOpts,
    },
    /// Render a saved results file again: tables, Markdown or CSV, and optionally the plot.
    Report {
        /// A results JSON (from compare, bench or train --json); with several (from several
        /// machines), one table with a row per machine and backend.
        #[arg(required = true, num_args = 1..)]
        files: Vec<PathBuf>,
        /// How to print the tables: text, Markdown or CSV (every epoch of every run).
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
        /// Also draw the SVG plot here; with several files, one plot overlaying them (a line per
        /// file and backend, labelled `file: backend`).
        #[arg(long)]
        plot: Option<PathBuf>,
        /// Overwrite an existing --plot file.
        #[arg(long)]
        force: bool,
    },
    /// The article's first example in both styles: ones(5,3) + 1.
    Ndarray,
    /// (internal) Run one backend for `bench` and print its result as JSON.
    #[command(hide = true)]
    Worker {
        #[command(flatten)]
        args: crate::worker_args::WorkerArgs,
        /// Instead of training: print libtorch's matmul rate for an MxKxN product.
        #[arg(long)]
        probe_matmul: Option<String>,
    },
    /// (internal) The busy neighbour of `bench --neighbour busy`: spin on the last core until killed.
    #[command(hide = true)]
    Spin,
    /// (internal) The hardware's f32 multiply-add rate for `bench`'s x peak, as JSON.
    #[command(hide = true)]
    ProbePeak {
        /// Thread counts to run the kernels at, e.g. 1,2.
        #[arg(long, value_delimiter = ',', required = true, value_parser = clap::value_parser!(u16).range(1..=1024))]
        threads: Vec<u16>,
    },
    /// MNIST: fetch, verify or describe the four IDX files.
    Data {
        #[command(subcommand)]
        cmd: DataCmd,
        /// Folder with the IDX files (default: $MLCMP_DATA or data/mnist).
        #[arg(long, global = true)]
        data_dir: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
pub enum DataCmd {
    /// Download (or find) the files and verify them (runs scripts/setup mnist).
    Fetch,
    /// Check the SHA-256 of each file.
    Verify,
    /// Counts, image size, label histograms and checksum status.
    Info,
}

/// Which command's backend list a parser is for.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `train` and `eval`: one backend `compare` runs.
    Train,
    /// `compare --backends`: those, or `all`.
    Compare,
    /// `bench --backends`: every backend, bench's reference row included.
    Bench,
}

/// The one parser of `--backend` and `--backends`: a name from the registry, each listed in the
/// help with what it is.
fn backends(kind: Kind) -> PossibleValuesParser {
    let mut values: Vec<PossibleValue> = registry::BACKENDS
        .iter()
        .filter(|b| b.compared || kind == Kind::Bench)
        .map(|b| PossibleValue::new(b.name).help(b.about))
        .collect();
    if kind == Kind::Compare {
        values.push(PossibleValue::new("all").help("every backend of `all` that can run here"));
    }
    PossibleValuesParser::new(values)
}

/// `train`'s weight files, in the backend's own format: MXNet's `.params` for gluon (what
/// `net.save_parameters` writes), a libtorch VarStore (`.ot`, or `.safetensors`) for torch.
#[derive(Args, Clone, Default)]
pub struct ParamsOpts {
    /// After training, save the weights here (replacing a file only with --force).
    #[arg(long, value_name = "FILE")]
    pub save_params: Option<PathBuf>,
    /// Start from these weights instead of the initialisation.
    #[arg(long, value_name = "FILE")]
    pub load_params: Option<PathBuf>,
}

#[derive(Args, Clone, Default)]
pub struct RunOpts {
    /// Recipe file (default: the article's recipe, configs/article.json).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Training epochs (the article's recipe: 5).
    #[arg(long, allow_negative_numbers = true, value_parser = at_least_1)]
    pub epochs: Option<usize>,
    /// Samples per batch (the article's recipe: 128).
    #[arg(long, allow_negative_numbers = true, value_parser = at_least_1)]
    pub batch_size: Option<usize>,
    /// SGD learning rate (the article's recipe: 0.1).
    #[arg(long, allow_negative_numbers = true)]
    pub lr: Option<f64>,
    /// The MLP's hidden width (the article's recipe: 256; not for LeNet).
    #[arg(long, allow_negative_numbers = true, value_parser = at_least_1)]
    pub hidden: Option<usize>,
    /// Seed of the initial weights and the batch order.
    #[arg(long, allow_negative_numbers = true, value_parser = seed)]
    pub seed: Option<u64>,
    /// Threads per backend (default: the recipe's, "all" cores).
    #[arg(long, allow_negative_numbers = true, value_parser = at_least_1)]
    pub threads: Option<usize>,
    /// Background batch-assembly threads of the Gluon DataLoader.
    #[arg(long, allow_negative_numbers = true, value_parser = at_least_0)]
    pub workers: Option<usize>,
    /// Use only the first N training and N test samples.
    #[arg(long, allow_negative_numbers = true, value_parser = at_least_1)]
    pub limit: Option<usize>,
    /// default: each framework's own initialisation; xavier: each framework's Xavier-uniform on
    /// the weights (d2l's LeNet); shared: identical weights and batches.
    #[arg(long, value_enum)]
    pub init: Option<InitArg>,
    /// Folder with the MNIST IDX files (default: $MLCMP_DATA or data/mnist).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
}

/// The files `train`, `compare`, `bench` and `regress` write besides the tables on stdout, under
/// one rule: checked before any work, written atomically, an existing file replaced only with
/// `--force`.
#[derive(Args, Clone, Default)]
pub struct ExportOpts {
    /// Write the results as JSON here (regress: the checks).
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Write the tables as Markdown here.
    #[arg(long, value_name = "FILE")]
    pub markdown: Option<PathBuf>,
    /// Write every epoch of every run as CSV here (regress: the checks).
    #[arg(long, value_name = "FILE")]
    pub csv: Option<PathBuf>,
    /// Draw an SVG here: loss, accuracy and time per epoch beside the article's (regress: the
    /// baseline and the current results overlaid).
    #[arg(long, value_name = "FILE")]
    pub plot: Option<PathBuf>,
    /// Replace existing output files (--json, --markdown, --csv, --plot, train's --save-params).
    #[arg(long)]
    pub force: bool,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Format {
    Table,
    Markdown,
    Csv,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum NeighbourArg {
    Quiet,
    Busy,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum InitArg {
    Default,
    Xavier,
    Shared,
}

impl RunOpts {
    pub fn recipe(&self) -> Result<Recipe> {
        let base = match &self.config {
            Some(p) => Recipe::load(p)?,
            None => Recipe::article(),
        };
        base.apply(&Overrides {
            epochs: self.epochs,
            batch_size: self.batch_size,
            lr: self.lr,
            hidden: self.hidden,
            seed: self.seed,
            threads: self.threads,
            workers: self.workers,
            init: self.init.map(|i| match i {
                InitArg::Default => InitMode::Default,
                InitArg::Xavier => InitMode::Xavier,
                InitArg::Shared => InitMode::Shared,
            }),
            limit: self.limit,
        })
    }
}

pub fn data_dir(flag: &Option<PathBuf>) -> PathBuf {
    flag.clone().unwrap_or_else(mlcmp_data::default_dir)
}

/// A count of at least `min`, with a message that says the value is out of range (clap's own would
/// call `-1` an unexpected argument).
fn count(s: &str, min: usize) -> Result<usize, String> {
    match s.trim().parse::<i128>() {
        Ok(n) if n >= min as i128 && n <= usize::MAX as i128 => Ok(n as usize),
        Ok(n) => Err(format!("{n} is out of range: use a whole number >= {min}")),
        Err(_) => Err(format!("'{s}' is not a whole number")),
    }
}

fn at_least_1(s: &str) -> Result<usize, String> {
    count(s, 1)
}

fn at_least_0(s: &str) -> Result<usize, String> {
    count(s, 0)
}

fn seed(s: &str) -> Result<u64, String> {
    s.trim()
        .parse::<u64>()
        .map_err(|_| format!("'{s}' is out of range: use a whole number in 0..={}", u64::MAX))
}
