//! `mlcmp`: argument parsing and printing. The ML lives in the crates under `crates/`.

mod backends;
mod bench;
mod progress;
mod worker_args;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};
use mlcmp_core::backend::Status;
use mlcmp_core::report::{self, Style};
use mlcmp_core::{driver, InitMode, Machine, Overrides, Recipe, Results};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "mlcmp",
    version,
    about = "PyTorch-style vs Gluon-style MNIST MLP, side by side (after Mu Li, 2018)"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Train one backend and print the article's per-epoch line with accuracies.
    Train {
        #[arg(long, value_enum)]
        backend: BackendName,
        #[command(flatten)]
        opts: RunOpts,
    },
    /// Train both backends, one after the other, and print the comparison tables.
    Compare {
        #[command(flatten)]
        opts: RunOpts,
        /// Do not save the results under results/.
        #[arg(long)]
        no_save: bool,
        /// With --init shared: exit 1 when the batch losses or final weights differ by more than TOL.
        #[arg(long, value_name = "TOL")]
        check_parity: Option<f64>,
        /// Afterwards, check the results against this baseline (as `mlcmp regress`).
        #[arg(long, value_name = "BASELINE")]
        regress: Option<PathBuf>,
        /// Also run gluon hybridized (net.hybridize()) as a third backend.
        #[arg(long)]
        hybridize: bool,
    },
    /// Benchmark: each backend in its own process, a warm-up epoch, interleaved repeats, medians.
    /// Timed epochs per repeat: --epochs, else the --config recipe's, else 1.
    Bench {
        #[command(flatten)]
        opts: RunOpts,
        /// Repeats per backend (each a fresh worker process).
        #[arg(long, default_value_t = 5)]
        repeats: usize,
        /// Warm-up epochs before the timed ones, in each worker.
        #[arg(long, default_value_t = 1)]
        warmup: usize,
        /// Backends to run, in this order within each repeat.
        #[arg(long, value_delimiter = ',', default_value = "torch,gluon,gluon-hybrid,torch-bare")]
        backends: Vec<String>,
        /// Sizes to sweep, e.g. --sweep batch=32,128,512 --sweep hidden=256,1024.
        #[arg(long)]
        sweep: Vec<String>,
        /// Also write the tables as Markdown here.
        #[arg(long)]
        markdown: Option<PathBuf>,
        /// Do not save the results under results/.
        #[arg(long)]
        no_save: bool,
        /// Afterwards, check the results against this baseline (as `mlcmp regress`).
        #[arg(long, value_name = "BASELINE")]
        regress: Option<PathBuf>,
    },
    /// Check a results file against a baseline: accuracy, loss and speed relative to torch.
    Regress {
        /// The reference results (e.g. results/baseline.json).
        #[arg(long)]
        baseline: PathBuf,
        /// The results to check (from compare --json or bench --json).
        #[arg(long)]
        current: PathBuf,
        /// Replace the baseline with the current results instead of checking.
        #[arg(long)]
        update: bool,
        /// Also write the table as Markdown here.
        #[arg(long)]
        markdown: Option<PathBuf>,
    },
    /// Render a saved results file again: tables, Markdown or CSV, and optionally the plot.
    Report {
        /// A results JSON (from compare, bench or train --json).
        file: PathBuf,
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
        /// Also draw the SVG plot here.
        #[arg(long)]
        plot: Option<PathBuf>,
    },
    /// The article's first example in both styles: ones(5,3) + 1.
    Ndarray,
    /// (internal) Run one backend for `bench` and print its result as JSON.
    #[command(hide = true)]
    Worker {
        #[command(flatten)]
        args: worker_args::WorkerArgs,
        /// Instead of training: print libtorch's matmul rate at BATCHxHIDDEN.
        #[arg(long)]
        probe_matmul: Option<String>,
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
enum DataCmd {
    /// Download (or find) the files and verify them (runs scripts/setup mnist).
    Fetch,
    /// Check the SHA-256 of each file.
    Verify,
    /// Counts, image size, label histograms and checksum status.
    Info,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq, Debug)]
pub enum BackendName {
    Torch,
    Gluon,
    /// gluon with net.hybridize()
    GluonHybrid,
}

#[derive(Args, Clone)]
pub struct RunOpts {
    /// Recipe file (default: the article's recipe, configs/article.json).
    #[arg(long)]
    config: Option<PathBuf>,
    #[arg(long)]
    epochs: Option<usize>,
    #[arg(long)]
    batch_size: Option<usize>,
    #[arg(long, allow_negative_numbers = true)]
    lr: Option<f64>,
    #[arg(long)]
    hidden: Option<usize>,
    #[arg(long)]
    seed: Option<u64>,
    /// Threads per backend (default: the recipe's, "all" cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Background batch-assembly threads of the Gluon DataLoader.
    #[arg(long)]
    workers: Option<usize>,
    /// Use only the first N training and N test samples.
    #[arg(long)]
    limit: Option<usize>,
    /// default: each framework's own initialisation; shared: identical weights and batches.
    #[arg(long, value_enum)]
    init: Option<InitArg>,
    /// Folder with the MNIST IDX files (default: $MLCMP_DATA or data/mnist).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Write the results JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Overwrite an existing --json file.
    #[arg(long)]
    force: bool,
    /// Draw the results as an SVG (loss, accuracy and time per epoch beside the article's).
    #[arg(long)]
    plot: Option<PathBuf>,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Table,
    Markdown,
    Csv,
}

#[derive(Clone, Copy, ValueEnum)]
enum InitArg {
    Default,
    Shared,
}

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
            mlcmp_core::plot::write_svg(res, p)?;
            println!("plot written to {}", p.display());
        }
        if let Some(kind) = save_as {
            let p = results_dir().join(format!("{kind}-{}.json", res.created.replace([':', '-'], "")));
            res.save(&p, false)?;
            println!("results saved to {}", p.display());
        }
        Ok(())
    }

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
                InitArg::Shared => InitMode::Shared,
            }),
            limit: self.limit,
        })
    }
}

pub fn data_dir(flag: &Option<PathBuf>) -> PathBuf {
    flag.clone().unwrap_or_else(mlcmp_data::default_dir)
}

/// Where `compare` saves its results unless --no-save.
pub fn results_dir() -> PathBuf {
    std::env::var_os("MLCMP_RESULTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../results"))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("mlcmp: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.cmd {
        Cmd::Train { backend, opts } => train_or_compare(&opts, &[backend], false, true, None),
        Cmd::Compare { opts, no_save, check_parity, regress: baseline, hybridize } => {
            regress_needs_json(&baseline, &opts)?;
            let mut names = vec![BackendName::Torch, BackendName::Gluon];
            if hybridize {
                names.push(BackendName::GluonHybrid);
            }
            let code = train_or_compare(&opts, &names, true, !no_save, check_parity)?;
            finish_with_regress(code, baseline.as_deref(), opts.json.as_deref())
        }
        Cmd::Bench { opts, repeats, warmup, backends, sweep, markdown, no_save, regress: baseline } => {
            regress_needs_json(&baseline, &opts)?;
            let code =
                bench::bench(&opts, repeats, warmup, &backends, &sweep, markdown.as_deref(), !no_save)?;
            finish_with_regress(code, baseline.as_deref(), opts.json.as_deref())
        }
        Cmd::Worker { args, probe_matmul } => bench::worker(&args, probe_matmul.as_deref()),
        Cmd::Regress { baseline, current, update, markdown } => {
            let cur = Results::load(&current)?;
            if update {
                cur.save(&baseline, true)?;
                println!("baseline {} replaced by {} (--update)", baseline.display(), current.display());
                return Ok(ExitCode::SUCCESS);
            }
            regress(&baseline, &cur, markdown.as_deref())
        }
        Cmd::Report { file, format, plot } => {
            let res = Results::load(&file)?;
            match format {
                Format::Table => println!("{}", report::render_any(&res, Style::Text)),
                Format::Markdown => println!("{}", report::render_any(&res, Style::Markdown)),
                Format::Csv => print!("{}", report::csv(&res)),
            }
            if let Some(p) = plot {
                mlcmp_core::plot::write_svg(&res, &p)?;
                eprintln!("plot written to {}", p.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Ndarray => {
            backends::print_ndarray_example()?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Data { cmd, data_dir: dir } => data_cmd(cmd, &data_dir(&dir)),
    }
}

fn train_or_compare(
    opts: &RunOpts,
    names: &[BackendName],
    tables: bool,
    save: bool,
    check_parity: Option<f64>,
) -> Result<ExitCode> {
    let recipe = opts.recipe()?;
    if let Some(tol) = check_parity {
        if recipe.init != InitMode::Shared {
            bail!("--check-parity needs --init shared (identical weights and batches)");
        }
        if !(tol.is_finite() && tol >= 0.0) {
            bail!("--check-parity {tol}: use a finite tolerance >= 0");
        }
    }
    let mut backends =
        names.iter().map(|&n| backends::make(n, recipe.threads.resolve())).collect::<Result<Vec<_>>>()?;
    let data = driver::load_data(&data_dir(&opts.data_dir), recipe.limit)?;
    recipe.validate_for(data.train.len())?;
    opts.check_json_target()?;
    ctrlc::set_handler(mlcmp_core::backend::request_stop).context("cannot install the Ctrl-C handler")?;

    let mut results =
        Results::new(Machine::detect(recipe.threads.resolve()), backends::versions(), recipe.clone());
    let mut progress = progress::Progress::new(names.len() > 1);
    driver::run_all(&recipe, &data, &mut backends, &mut results, &mut |b, e| progress.event(b, e));
    progress.finish();

    if tables {
        println!("\n{}", report::render_all(&results, Style::Text));
    }
    opts.write_outputs(&results, (tables && save).then_some("compare"))?;
    for r in results.runs.iter().filter(|r| r.status != Status::Ok) {
        let at =
            r.stopped_at.map(|p| format!(" at epoch {}, batch {}", p.epoch, p.batch)).unwrap_or_default();
        let why = r.error.as_deref().map(|e| format!(": {e}")).unwrap_or_default();
        eprintln!("mlcmp: {} {}{at}{why}", r.backend, r.status);
    }
    if let Some(tol) = check_parity {
        match &results.parity {
            Some(p) if p.within(tol) => println!(
                "parity ok: max batch loss difference {:.2e}, max weight difference {:.2e} <= {tol:.0e}",
                p.max_batch_loss_diff, p.max_weight_diff
            ),
            Some(p) => {
                eprintln!(
                    "mlcmp: parity check failed: max batch loss difference {:.2e}, max weight difference {:.2e}, tolerance {tol:.0e}",
                    p.max_batch_loss_diff, p.max_weight_diff
                );
                return Ok(ExitCode::from(1));
            }
            None => {
                eprintln!("mlcmp: parity check failed: no two complete runs to compare");
                return Ok(ExitCode::from(1));
            }
        }
    }
    Ok(exit_code(&results))
}

/// Print the regression table of `current` against the baseline file; exit 1 when a metric regressed.
fn regress(baseline: &Path, current: &Results, markdown: Option<&Path>) -> Result<ExitCode> {
    let base = Results::load(baseline)?;
    let checks = mlcmp_core::regress::checks(&base, current)?;
    println!("Regression check against {}", baseline.display());
    println!("{}", mlcmp_core::regress::table(&checks, Style::Text));
    if let Some(p) = markdown {
        let md = format!(
            "### Regression check against {}\n\n{}\n",
            baseline.display(),
            mlcmp_core::regress::table(&checks, Style::Markdown)
        );
        mlcmp_core::results::write_atomic(p, md.as_bytes(), true)?;
    }
    let failed: Vec<&str> =
        checks.iter().filter(|c| c.pass == Some(false)).map(|c| c.metric.as_str()).collect();
    if failed.is_empty() {
        println!("no regression");
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("mlcmp: regression: {}", failed.join("; "));
        Ok(ExitCode::from(1))
    }
}

/// The exit code for a finished command: 130 interrupted (also between runs), 1 a run failed,
/// 3 a run diverged, else 0.
pub fn exit_code(res: &Results) -> ExitCode {
    let has = |st: Status| res.runs.iter().any(|r| r.status == st);
    if mlcmp_core::backend::stop_requested() || has(Status::Interrupted) {
        ExitCode::from(130)
    } else if has(Status::Failed) {
        ExitCode::from(1)
    } else if has(Status::Diverged) {
        ExitCode::from(3)
    } else {
        ExitCode::SUCCESS
    }
}

fn regress_needs_json(baseline: &Option<PathBuf>, opts: &RunOpts) -> Result<()> {
    if baseline.is_some() && opts.json.is_none() {
        bail!("--regress needs --json FILE: the results to check are written there first");
    }
    if let Some(b) = baseline {
        Results::load(b)?; // a missing or malformed baseline fails before any training
    }
    Ok(())
}

/// `compare/bench --regress BASELINE`: the check runs on the results just written with --json.
fn finish_with_regress(code: ExitCode, baseline: Option<&Path>, json: Option<&Path>) -> Result<ExitCode> {
    match (baseline, json) {
        (Some(b), Some(j)) if code == ExitCode::SUCCESS => regress(b, &Results::load(j)?, None),
        _ => Ok(code),
    }
}

fn data_cmd(cmd: DataCmd, dir: &Path) -> Result<ExitCode> {
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
