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
use mlcmp_core::run::{RunResult, Status};
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
    /// `--against`: the baseline build's mlcmp.
    pub against: Option<&'a std::path::Path>,
    /// `--inject-slowdown`: [`mlcmp_core::tracker::SLOWDOWN_VAR`] for this build's workers.
    pub slowdown: Option<&'a str>,
    /// `--epochs-for`: timed epochs per backend in place of the recipe's.
    pub epochs_for: Option<&'a str>,
}

/// Every check before the first worker starts (the recipe at each sweep point, the data, threads,
/// memory, the outputs), then the bench's run ([`bench_run::run`]) with a line per worker, and the
/// tables.
pub fn bench(opts: &RunOpts, exports: &ExportOpts, plan: &Plan) -> Result<ExitCode> {
    let Plan { repeats, warmup, names, sweep, save, busy_neighbour, against, slowdown, epochs_for } = *plan;
    if repeats == 0 {
        bail!("--repeats 0: use at least 1");
    }
    if let Some(old) = against {
        if !old.is_file() {
            bail!("--against {}: no such file; give the path of another build's mlcmp binary", old.display());
        }
        if repeats < 3 {
            bail!("--against needs --repeats 3 or more: the gate's signed-rank interval needs 6 paired repeats over the run and its confirming run");
        }
    }
    if let Some(spec) = slowdown {
        if against.is_none() {
            bail!("--inject-slowdown is for A/B runs: give --against too");
        }
        // The workers read it; check it here so a typo fails at once, not in every worker.
        mlcmp_core::tracker::slowdown_in(spec, "")
            .map_err(|e| anyhow::anyhow!("--inject-slowdown {spec}: {e}"))?;
    }
    let epochs_for = bench_run::epochs_for(epochs_for.unwrap_or(""), names)
        .map_err(|e| anyhow::anyhow!("--epochs-for {}: {e}", plan.epochs_for.unwrap_or("")))?;
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
    let run_plan = bench_run::Plan {
        repeats,
        warmup,
        names,
        points: &points,
        busy_neighbour,
        against,
        slowdown,
        epochs_for: &epochs_for,
    };
    bench_run::run(&exe, &run_plan, &dir, &mut res, &mut |run, at| eprintln!("{}", progress_line(run, at)));
    mlcmp_core::verdict::attach(&mut res);
    res.ab = mlcmp_core::bench::ab::checks(&res);
    say!("\n{}", tables::render(&res, Style::Text));
    let written = outputs.write(&OfResults { res: &res, tables: tables::render });
    let checks = &res.ab;
    if against.is_some()
        && !res.baseline_runs.is_empty()
        && res.baseline_runs.iter().all(|r| r.status != Status::Ok)
    {
        let why = res.baseline_runs[0].error.as_deref().unwrap_or("no result");
        eprintln!("mlcmp: the --against build ran no backend ({why}); nothing to compare");
        return Ok(ExitCode::from(2));
    }
    let slower = mlcmp_core::bench::ab::regressed(checks);
    for c in &slower {
        let i = c
            .ratio
            .as_ref()
            .map(|i| format!("{:.3}x [{:.3}, {:.3}]", i.estimate, i.lo, i.hi))
            .unwrap_or_default();
        let busy = if c.neighbour { " beside the busy neighbour" } else { "" };
        eprintln!(
            "mlcmp: {}{busy} is slower than the baseline build: new/old {i} over the run and its confirming runs, beyond the gate's +{:.0}%",
            c.backend,
            100.0 * mlcmp_core::bench::ab::GATE
        );
    }
    match exit_code(&res, written) {
        code if code != ExitCode::SUCCESS => Ok(code),
        _ if !slower.is_empty() => Ok(ExitCode::from(1)),
        code => Ok(code),
    }
}

/// `bench: gluon + busy batch  128 hidden  256 repeat 2/5: median epoch 0.412 s, ok, others' CPU 3%, steal 0%`
fn progress_line(run: &RunResult, at: &bench_run::At) -> String {
    let med = median(&run.timed_epochs());
    let med = if med.is_finite() { format!("{med:.3} s") } else { "-".into() };
    let load = run
        .load
        .map(|l| format!(", others' CPU {:.0}%, steal {:.0}%", 100.0 * l.others_share, 100.0 * l.steal_share))
        .unwrap_or_default();
    let build = match (at.baseline, at.confirming) {
        (false, false) => "",
        (true, false) => " (baseline)",
        (false, true) => " (confirming)",
        (true, true) => " (baseline, confirming)",
    };
    format!(
        "bench: {:<12}{}{build} batch {:>4} hidden {:>4} repeat {}/{}: median epoch {med}, {}{load}",
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
    bench_worker::worker(backend.as_mut(), args.warmup, &args.recipe_json, &args.data_dir, args.lockstep)?;
    Ok(ExitCode::SUCCESS)
}
