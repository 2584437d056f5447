//! `mlcmp bench` and its worker processes.

use crate::worker_args::WorkerArgs;
use crate::{backends, data_dir, RunOpts};
use anyhow::{bail, Context, Result};
use mlcmp_core::backend::stop_requested;
use mlcmp_core::bench::{self, BenchInfo};
use mlcmp_core::report::{median, Style};
use mlcmp_core::{driver, results, Machine, Recipe, Results};
use std::path::Path;
use std::process::{Command, ExitCode};

pub fn bench(
    opts: &RunOpts,
    repeats: usize,
    warmup: usize,
    names: &[String],
    sweep: &[String],
    markdown: Option<&Path>,
    save: bool,
) -> Result<ExitCode> {
    if repeats == 0 {
        bail!("--repeats 0: use at least 1");
    }
    let mut recipe = opts.recipe()?;
    if opts.epochs.is_none() && opts.config.is_none() {
        recipe.epochs = 1; // the article's recipe per repeat: the warm-up, then one timed epoch
    }
    let threads = recipe.threads.resolve();
    for n in names {
        backends::make_named(n, threads)?;
    }
    let dir = data_dir(&opts.data_dir);
    let data = driver::load_data(&dir, recipe.limit)?; // checks the files once for all workers
    let points = bench::sweep_points(&recipe, sweep)?;
    for v in &points {
        Recipe { batch_size: v.batch_size, hidden: v.hidden, ..recipe.clone() }
            .validate_for(data.train.len())?;
    }
    drop(data);
    opts.check_json_target()?;
    ctrlc::set_handler(mlcmp_core::backend::request_stop).context("cannot install the Ctrl-C handler")?;
    let exe = std::env::current_exe().context("cannot find the mlcmp executable for the workers")?;

    let mut res = Results::new(Machine::detect(threads), backends::versions(), recipe.clone());
    let gflops = probe_matmul(&exe, recipe.batch_size, recipe.hidden, &recipe, &dir);
    res.bench = Some(BenchInfo {
        repeats,
        warmup_epochs: warmup,
        matmul_gflops: gflops,
        matmul_shape: format!("({}x784).(784x{})", recipe.batch_size, recipe.hidden),
    });
    'all: for v in &points {
        let r = Recipe { batch_size: v.batch_size, hidden: v.hidden, ..recipe.clone() };
        for rep in 0..repeats {
            for name in names {
                if stop_requested() {
                    break 'all;
                }
                let mut run = bench::run_worker(&exe, name, &r, warmup, &dir);
                run.repeat = Some(rep);
                if points.len() > 1 {
                    run.variant = Some(*v);
                }
                let med = median(&bench::timed(&run));
                let med = if med.is_finite() { format!("{med:.3} s") } else { "-".into() };
                eprintln!(
                    "bench: {name:<12} batch {:>4} hidden {:>4} repeat {}/{repeats}: median epoch {med}, {}",
                    v.batch_size,
                    v.hidden,
                    rep + 1,
                    run.status
                );
                res.runs.push(run);
            }
        }
    }
    println!("\n{}", bench::render(&res, Style::Text));
    if let Some(p) = markdown {
        results::write_atomic(p, bench::render(&res, Style::Markdown).as_bytes(), true)?;
        println!("markdown tables written to {}", p.display());
    }
    opts.write_outputs(&res, save.then_some("bench"))?;
    Ok(crate::exit_code(&res))
}

/// The matmul rate, measured in a worker like the runs (NaN when torch is not built in).
fn probe_matmul(exe: &Path, batch: usize, hidden: usize, r: &Recipe, dir: &Path) -> f64 {
    Command::new(exe)
        .args([
            "worker",
            "--backend",
            "torch",
            "--recipe-json",
            &serde_json::to_string(r).expect("serialises"),
        ])
        .arg("--data-dir")
        .arg(dir)
        .args(["--probe-matmul", &format!("{batch}x{hidden}")])
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse::<f64>().ok())
        .unwrap_or(f64::NAN)
}

/// One backend in this process: `warmup` extra epochs first, then the recipe's; the result as JSON.
pub fn worker(args: &WorkerArgs, probe: Option<&str>) -> Result<ExitCode> {
    let threads = Recipe::parse(&args.recipe_json, "--recipe-json")?.threads.resolve();
    if let Some(shape) = probe {
        let (b, h) = shape
            .split_once('x')
            .and_then(|(b, h)| Some((b.parse().ok()?, h.parse().ok()?)))
            .context("--probe-matmul takes BATCHxHIDDEN")?;
        match backends::matmul_gflops(b, h, threads) {
            Some(g) => println!("{g}"),
            None => bail!("the matmul probe needs the torch backend"),
        }
        return Ok(ExitCode::SUCCESS);
    }
    ctrlc::set_handler(mlcmp_core::backend::request_stop).context("cannot install the Ctrl-C handler")?;
    let mut backend = backends::make_named(&args.backend, threads)?;
    bench::worker(backend.as_mut(), args.warmup, &args.recipe_json, &args.data_dir)?;
    Ok(ExitCode::SUCCESS)
}
