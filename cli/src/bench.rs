//! `mlcmp bench`'s checks and progress lines (the run itself is `mlcmp_core::bench::run`), and the
//! worker side of its processes.

use crate::args::{data_dir, ExportOpts, RunOpts};
use crate::outputs::{exit_code, say, OfResults, Outputs};
use crate::worker_args::WorkerArgs;
use crate::{backends, preflight};
use anyhow::{bail, Context, Result};
use mlcmp_core::bench::{run as bench_run, sweep, worker as bench_worker};
use mlcmp_core::driver;
use mlcmp_core::export::{bench as tables, Style};
use mlcmp_core::interrupt::request_stop;
use mlcmp_core::machine::Machine;
use mlcmp_core::recipe::Recipe;
use mlcmp_core::results::Results;
use mlcmp_core::run::RunResult;
use mlcmp_core::stats::median;
use std::process::ExitCode;

/// What `mlcmp bench` was asked for besides the recipe.
pub struct Plan<'a> {
    pub repeats: usize,
    pub warmup: usize,
    pub names: &'a [String],
    pub sweep: &'a [String],
    /// Without `--json` and `--no-save`, keep a copy under the results folder.
    pub save: bool,
    pub busy_neighbour: bool,
}

/// Every check before the first worker starts (the recipe at each sweep point, the data, threads,
/// memory, the outputs), then the bench's run ([`bench_run::run`]) with a line per worker, and the
/// tables.
pub fn bench(opts: &RunOpts, exports: &ExportOpts, plan: &Plan) -> Result<ExitCode> {
    let Plan { repeats, warmup, names, sweep, save, busy_neighbour } = *plan;
    if repeats == 0 {
        bail!("--repeats 0: use at least 1");
    }
    // First, so a signal at any later moment keeps what is finished (SIGTERM/SIGHUP as Ctrl-C).
    ctrlc::set_handler(request_stop).context("cannot install the Ctrl-C handler")?;
    let mut recipe = opts.recipe()?;
    if opts.epochs.is_none() && opts.config.is_none() {
        recipe.epochs = 1; // the article's recipe per repeat: the warm-up, then one timed epoch
    }
    let threads = recipe.threads.resolve();
    for n in names {
        backends::make(n, threads)?;
    }
    let dir = data_dir(&opts.data_dir);
    let data = driver::load_data(&dir, recipe.limit)?; // checks the files once for all workers
    let points = sweep::sweep_points(&recipe, sweep)?;
    for v in &points {
        sweep::at(&recipe, *v).validate_for(data.train.len())?;
    }
    preflight::threads(&recipe)?;
    for v in &points {
        preflight::memory(&sweep::at(&recipe, *v), data.train.len() + data.test.len())?;
    }
    drop(data);
    let outputs = Outputs { exports, save_as: (save && exports.json.is_none()).then_some("bench") };
    outputs.check(&[])?;
    let exe = std::env::current_exe().context("cannot find the mlcmp executable for the workers")?;

    let mut res = Results::new(Machine::detect(threads), backends::versions(), recipe);
    mlcmp_core::interrupt::keep_results_from_now();
    let run_plan = bench_run::Plan { repeats, warmup, names, points: &points, busy_neighbour };
    bench_run::run(&exe, &run_plan, &dir, &mut res, &mut |run, at| eprintln!("{}", progress_line(run, at)));
    mlcmp_core::verdict::attach(&mut res);
    say!("\n{}", tables::render(&res, Style::Text));
    let written = outputs.write(&OfResults { res: &res, tables: tables::render });
    Ok(exit_code(&res, written))
}

/// `bench: gluon + busy batch  128 hidden  256 repeat 2/5: median epoch 0.412 s, ok, others' CPU 3%, steal 0%`
fn progress_line(run: &RunResult, at: &bench_run::At) -> String {
    let med = median(&run.timed_epochs());
    let med = if med.is_finite() { format!("{med:.3} s") } else { "-".into() };
    let load = run
        .load
        .map(|l| format!(", others' CPU {:.0}%, steal {:.0}%", 100.0 * l.others_share, 100.0 * l.steal_share))
        .unwrap_or_default();
    format!(
        "bench: {:<12}{} batch {:>4} hidden {:>4} repeat {}/{}: median epoch {med}, {}{load}",
        run.backend,
        if run.neighbour { " + busy" } else { "" },
        at.variant.batch_size,
        at.variant.hidden,
        at.repeat + 1,
        at.repeats,
        run.status
    )
}

/// One backend in this process: `warmup` extra epochs first, then the recipe's; the result as JSON.
pub fn worker(args: &WorkerArgs, probe: Option<&str>) -> Result<ExitCode> {
    let threads = Recipe::parse(&args.recipe_json, "--recipe-json")?.threads.resolve();
    if let Some(shape) = probe {
        let dims: Vec<usize> = shape.split('x').filter_map(|d| d.parse().ok()).collect();
        let [m, k, n] = dims[..] else { bail!("--probe-matmul takes MxKxN, got '{shape}'") };
        match backends::matmul_gflops(m, k, n, threads) {
            Some(g) => say!("{g}"),
            None => bail!("the matmul probe needs the torch backend"),
        }
        return Ok(ExitCode::SUCCESS);
    }
    ctrlc::set_handler(mlcmp_core::interrupt::note_stop).context("cannot install the Ctrl-C handler")?;
    let mut backend = backends::make(&args.backend, threads)?;
    bench_worker::worker(backend.as_mut(), args.warmup, &args.recipe_json, &args.data_dir)?;
    Ok(ExitCode::SUCCESS)
}
