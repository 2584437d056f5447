//! `mlcmp bench` and its worker processes.

use crate::args::{data_dir, RunOpts};
use crate::outputs::{exit_code, say, Outputs};
use crate::worker_args::WorkerArgs;
use crate::{backends, preflight};
use anyhow::{bail, Context, Result};
use mlcmp_core::bench::{sweep, worker as bench_worker};
use mlcmp_core::driver;
use mlcmp_core::export::{bench as tables, Style};
use mlcmp_core::interrupt::{request_stop, stop_requested};
use mlcmp_core::machine::Machine;
use mlcmp_core::recipe::Recipe;
use mlcmp_core::results::{BenchInfo, Peak, Results};
use mlcmp_core::stats::median;
use std::path::Path;
use std::process::{Command, ExitCode};

/// What `mlcmp bench` was asked for besides the recipe.
pub struct Plan<'a> {
    pub repeats: usize,
    pub warmup: usize,
    pub names: &'a [String],
    pub sweep: &'a [String],
    pub markdown: Option<&'a Path>,
    pub save: bool,
    pub busy_neighbour: bool,
}

pub fn bench(opts: &RunOpts, plan: &Plan) -> Result<ExitCode> {
    let Plan { repeats, warmup, names, sweep, markdown, save, busy_neighbour } = *plan;
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
    let outputs = Outputs { opts, markdown, save_as: save.then_some("bench") };
    outputs.check(&[])?;
    let exe = std::env::current_exe().context("cannot find the mlcmp executable for the workers")?;

    let mut res = Results::new(Machine::detect(threads), backends::versions(), recipe.clone());
    let model = recipe.model();
    let gflops = probe_matmul(&exe, model.largest_product(recipe.batch_size), &recipe, &dir);
    // The machine's peak: the best GEMM rate over the recipe's product and two square ones big
    // enough for libtorch's kernels to reach their top speed.
    let squares = [[512; 3], [1024; 3]];
    let peak = squares.iter().map(|&s| probe_matmul(&exe, s, &recipe, &dir)).fold(gflops, f64::max);
    res.bench = Some(BenchInfo {
        repeats,
        warmup_epochs: warmup,
        matmul_gflops: gflops,
        matmul_shape: model.largest_product_text(recipe.batch_size),
        peak: peak.is_finite().then(|| Peak {
            gflops: peak,
            shapes: format!("{}, 512x512x512, 1024x1024x1024", model.largest_product_text(recipe.batch_size)),
        }),
    });
    mlcmp_core::interrupt::keep_results_from_now();
    'all: for v in &points {
        let r = sweep::at(&recipe, *v);
        for rep in 0..repeats {
            // The machine's speed drifts (this VM's probe gave 187 and 279 GFLOP/s within an
            // hour): each repeat's runs get the rate probed just before them for "x floor".
            let probed = match rep {
                0 if *v == points[0] => gflops,
                _ => probe_matmul(&exe, model.largest_product(recipe.batch_size), &recipe, &dir),
            };
            // Quiet, then (with --neighbour busy) beside the spinning neighbour, each repeat.
            for neighbour in [false, true].into_iter().filter(|&n| !n || busy_neighbour) {
                for name in names {
                    if stop_requested() {
                        break 'all;
                    }
                    let mut run = bench_worker::run_worker(&exe, name, &r, warmup, &dir, neighbour);
                    run.repeat = Some(rep);
                    run.floor_gflops = probed.is_finite().then_some(probed);
                    if points.len() > 1 {
                        run.variant = Some(*v);
                    }
                    let med = median(&run.timed_epochs());
                    let med = if med.is_finite() { format!("{med:.3} s") } else { "-".into() };
                    let load = run
                        .load
                        .map(|l| {
                            format!(
                                ", others' CPU {:.0}%, steal {:.0}%",
                                100.0 * l.others_share,
                                100.0 * l.steal_share
                            )
                        })
                        .unwrap_or_default();
                    eprintln!(
                        "bench: {name:<12}{} batch {:>4} hidden {:>4} repeat {}/{repeats}: median epoch {med}, {}{load}",
                        if neighbour { " + busy" } else { "" },
                        v.batch_size,
                        v.hidden,
                        rep + 1,
                        run.status
                    );
                    res.runs.push(run);
                }
            }
        }
    }
    // A repeat's probe can beat the first ones: the peak is the best rate seen.
    let fastest = res.runs.iter().filter_map(|r| r.floor_gflops).fold(peak, f64::max);
    if let Some(p) = res.bench.as_mut().and_then(|b| b.peak.as_mut()) {
        p.gflops = fastest;
    }
    say!("\n{}", tables::render(&res, Style::Text));
    let written = outputs.write(&res, || tables::render(&res, Style::Markdown));
    Ok(exit_code(&res, written))
}

/// The matmul rate for an (m x k).(k x n) product, measured in a worker like the runs (NaN when
/// torch is not built in).
fn probe_matmul(exe: &Path, [m, k, n]: [usize; 3], r: &Recipe, dir: &Path) -> f64 {
    mlcmp_core::child::die_with_parent(&mut Command::new(exe), mlcmp_core::child::Orphaned::Kill)
        .args([
            "worker",
            "--backend",
            // libtorch's rate: the speed reference's library.
            mlcmp_core::registry::reference(),
            "--recipe-json",
            &serde_json::to_string(r).expect("serialises"),
        ])
        .arg("--data-dir")
        .arg(dir)
        .args(["--probe-matmul", &format!("{m}x{k}x{n}")])
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse::<f64>().ok())
        .unwrap_or(f64::NAN)
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
