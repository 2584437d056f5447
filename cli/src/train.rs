//! `mlcmp train` and `mlcmp compare`: the backends one after the other in this process, after one
//! shared setup step.

use crate::args::{ExportOpts, ParamsOpts, RunOpts};
use crate::outputs::{exit_code, say, OfResults, Outputs};
use crate::{backends, preflight, progress};
use anyhow::{bail, Context, Result};
use mlcmp_core::backend::{Backend, Event, ParamFiles};
use mlcmp_core::driver;
use mlcmp_core::export::{compare, Style};
use mlcmp_core::interrupt::request_stop;
use mlcmp_core::machine::Machine;
use mlcmp_core::recipe::{InitMode, Recipe};
use mlcmp_core::results::Results;
use mlcmp_core::run::{RunResult, Status};
use mlcmp_data::Mnist;
use std::path::Path;
use std::process::ExitCode;

/// What `train` and `compare` share before any training: the recipe, its backends, the data, the
/// checked outputs and the results to fill.
struct Setup {
    recipe: Recipe,
    backends: Vec<Box<dyn Backend>>,
    data: Mnist,
    results: Results,
}

/// Every check that can fail before training: the recipe, the backends and the weight files they
/// read or write, the data, the threads and memory, each output path.
fn setup(
    opts: &RunOpts,
    names: &[String],
    outputs: &Outputs,
    params: &ParamsOpts,
    seed: Option<u64>,
) -> Result<Setup> {
    // First, so a signal at any later moment keeps what is finished (SIGTERM/SIGHUP as Ctrl-C).
    ctrlc::set_handler(request_stop).context("cannot install the Ctrl-C handler")?;
    let mut recipe = opts.recipe()?;
    if let Some(s) = seed {
        recipe.seed = s;
    }
    let threads = recipe.threads.resolve();
    let mut backends = names.iter().map(|n| backends::make(n, threads)).collect::<Result<Vec<_>>>()?;
    if let Some(b) = backends.first_mut() {
        check_params(b.as_mut(), params, &recipe, outputs.exports.force)?;
    }
    let data = driver::load_data(&crate::args::data_dir(&opts.data_dir), recipe.limit)?;
    recipe.validate_for(data.train.len())?;
    preflight::threads(&recipe)?;
    preflight::memory(&recipe, data.train.len() + data.test.len())?;
    let weights = [("--load-params", &params.load_params), ("--save-params", &params.save_params)];
    let weights: Vec<(&str, &Path)> =
        weights.iter().filter_map(|(f, p)| p.as_deref().map(|p| (*f, p))).collect();
    outputs.check(&weights)?;
    let results = Results::new(Machine::detect(threads), backends::versions(), recipe.clone());
    Ok(Setup { recipe, backends, data, results })
}

/// `mlcmp train`: one backend, the article's line per epoch, optionally from and to weight files.
pub fn train(opts: &RunOpts, exports: &ExportOpts, name: &str, params: &ParamsOpts) -> Result<ExitCode> {
    let outputs = Outputs { exports, save_as: None };
    let mut s = setup(opts, &[name.to_string()], &outputs, params, None)?;

    let mut progress = progress::Progress::new(false);
    mlcmp_core::interrupt::keep_results_from_now();
    let files = ParamFiles { load: params.load_params.as_deref(), save: params.save_params.as_deref() };
    let on: &mut dyn FnMut(&str, Event) = &mut |b, e| progress.event(b, e);
    // One backend: no pairs, so no floor reruns.
    driver::run_all(&s.recipe, &s.data, &mut s.backends, &mut s.results, files, 0, on);
    progress.finish();
    mlcmp_core::verdict::attach(&mut s.results);

    let written = outputs.write(&OfResults { res: &s.results, tables: compare::render });
    if let (Some(p), Some(r)) = (&params.save_params, s.results.runs.first()) {
        match r.status {
            Status::Ok => say!("weights saved to {}", p.display()),
            _ => eprintln!("mlcmp: weights not saved to {}: the run did not finish", p.display()),
        }
    }
    report_unfinished(&s.results);
    Ok(exit_code(&s.results, written))
}

/// What `compare` was asked for besides the recipe and the backends.
pub struct CompareOpts<'a> {
    /// Without `--json` and `--no-save`, keep a copy under the results folder.
    pub save: bool,
    pub check_parity: Option<f64>,
    /// Floor reruns per floor backend (with `--init shared`).
    pub floor_reruns: usize,
    pub seeds: &'a [u64],
    /// Backends asked for that cannot run here, each with why: a row each, not a failure.
    pub unavailable: &'a [(String, String)],
}

/// `mlcmp compare`: the backends one after the other, then the comparison tables.
pub fn compare(opts: &RunOpts, exports: &ExportOpts, names: &[String], c: &CompareOpts) -> Result<ExitCode> {
    if let Some(i) = (1..c.seeds.len()).find(|&i| c.seeds[..i].contains(&c.seeds[i])) {
        bail!("--seeds: seed {} is listed twice; give each seed once, e.g. --seeds 1,2,3", c.seeds[i]);
    }
    if let Some(tol) = c.check_parity {
        if opts.recipe()?.init != InitMode::Shared {
            bail!("--check-parity needs --init shared (identical weights and batches)");
        }
        if !(tol.is_finite() && tol >= 0.0) {
            bail!("--check-parity {tol}: use a finite tolerance >= 0");
        }
    }
    let save_as = (c.save && exports.json.is_none()).then_some("compare");
    let outputs = Outputs { exports, save_as };
    let mut s = setup(opts, names, &outputs, &ParamsOpts::default(), c.seeds.first().copied())?;

    let mut progress = progress::Progress::new(names.len() > 1 || c.seeds.len() > 1);
    let on: &mut dyn FnMut(&str, Event) = &mut |b, e| progress.event(b, e);
    mlcmp_core::interrupt::keep_results_from_now();
    match c.seeds {
        [] | [_] => {
            let reruns = c.floor_reruns;
            driver::run_all(
                &s.recipe,
                &s.data,
                &mut s.backends,
                &mut s.results,
                ParamFiles::default(),
                reruns,
                on,
            )
        }
        [_, others @ ..] => {
            driver::run_seeds(&s.recipe, &s.data, &mut s.backends, &mut s.results, others, c.floor_reruns, on)
        }
    }
    progress.finish();
    let threads = s.recipe.threads.resolve();
    for (name, why) in c.unavailable {
        s.results.runs.push(RunResult::failed(name, threads, Status::Unavailable, why.clone()));
    }
    mlcmp_core::verdict::attach(&mut s.results);

    say!("\n{}", compare::render(&s.results, Style::Text));
    let written = outputs.write(&OfResults { res: &s.results, tables: compare::render });
    report_unfinished(&s.results);
    if let Some(tol) = c.check_parity {
        if !parity_within(&s.results, tol) {
            return Ok(ExitCode::from(1));
        }
    }
    Ok(exit_code(&s.results, written))
}

/// A line on stderr for each run that did not finish: its status, where it stopped and why.
fn report_unfinished(results: &Results) {
    for r in results.runs.iter().filter(|r| r.status != Status::Ok) {
        let at =
            r.stopped_at.map(|p| format!(" at epoch {}, batch {}", p.epoch, p.batch)).unwrap_or_default();
        let why = r.error.as_deref().map(|e| format!(": {e}")).unwrap_or_default();
        eprintln!("mlcmp: {} {}{at}{why}", r.backend, r.status);
    }
}

/// `--check-parity TOL`: every compared pair within the tolerance, a line each.
fn parity_within(results: &Results, tol: f64) -> bool {
    if results.parities.is_empty() {
        eprintln!("mlcmp: parity check failed: no two complete runs to compare");
        return false;
    }
    let mut ok = true;
    for pp in &results.parities {
        let p = &pp.parity;
        let line = format!(
            "{} vs {}: max batch loss difference {:.2e}, max weight difference {:.2e}, tolerance {tol:.0e}",
            pp.a, pp.b, p.max_batch_loss_diff, p.max_weight_diff
        );
        if p.within(tol) {
            say!("parity ok: {line}");
        } else {
            eprintln!("mlcmp: parity check failed: {line}");
            ok = false;
        }
    }
    ok
}

/// `--save-params` / `--load-params`, before any training: the backend can read and write
/// weights, each file's extension is its format, the file to load is there, and the file to save
/// can be written (an existing one is replaced only with --force).
fn check_params(b: &mut dyn Backend, p: &ParamsOpts, recipe: &Recipe, force: bool) -> Result<()> {
    for (flag, path) in [("--save-params", &p.save_params), ("--load-params", &p.load_params)] {
        let Some(path) = path else { continue };
        check_extension(b, flag, path)?;
    }
    if let Some(path) = &p.load_params {
        if recipe.init == InitMode::Shared {
            bail!("--load-params replaces the initial weights, so it cannot go with --init shared; drop one of them");
        }
        mlcmp_core::input::check_regular(path, mlcmp_core::input::WEIGHTS_LIMIT, "weights file")
            .context("--load-params")?;
        b.check_weights(recipe, path).context("--load-params")?;
    }
    if let Some(path) = &p.save_params {
        mlcmp_core::output::check_target(path, force)?;
    }
    Ok(())
}

/// The file's extension names the backend's format (`.params` for gluon, `.ot` for torch).
pub fn check_extension(b: &dyn Backend, flag: &str, path: &std::path::Path) -> Result<()> {
    let exts = b.params_extensions();
    let Some(usual) = exts.first() else {
        bail!("{flag}: the {} backend cannot save or load weights; use gluon or torch", b.name());
    };
    if path.is_dir() {
        bail!(
            "{flag} {}: a folder; name a file in it, e.g. {}",
            path.display(),
            path.join(format!("weights.{usual}")).display()
        );
    }
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    if !exts.contains(&ext) {
        let format = if *usual == "params" { "MXNet's .params format" } else { "a libtorch VarStore (.ot)" };
        bail!(
            "{flag} {}: the {} backend's weights are {format}; name the file {}",
            path.display(),
            b.name(),
            path.with_extension(usual).display()
        );
    }
    Ok(())
}
