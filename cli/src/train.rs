//! `mlcmp train` and `mlcmp compare`: the backends one after the other in this process.

use crate::args::{ParamsOpts, RunOpts};
use crate::outputs::{exit_code, say, Outputs};
use crate::{backends, preflight, progress};
use anyhow::{bail, Context, Result};
use mlcmp_core::backend::{Backend, Event, ParamFiles};
use mlcmp_core::driver;
use mlcmp_core::export::{compare, Style};
use mlcmp_core::interrupt::request_stop;
use mlcmp_core::machine::Machine;
use mlcmp_core::recipe::InitMode;
use mlcmp_core::results::Results;
use mlcmp_core::run::Status;
use std::process::ExitCode;

pub fn train_or_compare(
    opts: &RunOpts,
    names: &[String],
    tables: bool,
    save: bool,
    check_parity: Option<f64>,
    seeds: &[u64],
    params: &ParamsOpts,
) -> Result<ExitCode> {
    // First, so a signal at any later moment keeps what is finished (SIGTERM/SIGHUP as Ctrl-C).
    ctrlc::set_handler(request_stop).context("cannot install the Ctrl-C handler")?;
    let mut recipe = opts.recipe()?;
    if let Some(i) = (1..seeds.len()).find(|&i| seeds[..i].contains(&seeds[i])) {
        bail!("--seeds: seed {} is listed twice; give each seed once, e.g. --seeds 1,2,3", seeds[i]);
    }
    if let Some(&first) = seeds.first() {
        recipe.seed = first;
    }
    if let Some(tol) = check_parity {
        if recipe.init != InitMode::Shared {
            bail!("--check-parity needs --init shared (identical weights and batches)");
        }
        if !(tol.is_finite() && tol >= 0.0) {
            bail!("--check-parity {tol}: use a finite tolerance >= 0");
        }
    }
    let mut backends =
        names.iter().map(|n| backends::make(n, recipe.threads.resolve())).collect::<Result<Vec<_>>>()?;
    if let Some(b) = backends.first_mut() {
        check_params(b.as_mut(), params, &recipe, opts.force)?;
    }
    let data = driver::load_data(&crate::args::data_dir(&opts.data_dir), recipe.limit)?;
    recipe.validate_for(data.train.len())?;
    preflight::threads(&recipe)?;
    preflight::memory(&recipe, data.train.len() + data.test.len())?;
    let outputs = Outputs { opts, markdown: None, save_as: (tables && save).then_some("compare") };
    let weights = [("--load-params", &params.load_params), ("--save-params", &params.save_params)];
    let weights: Vec<(&str, &std::path::Path)> =
        weights.iter().filter_map(|(f, p)| p.as_deref().map(|p| (*f, p))).collect();
    outputs.check(&weights)?;

    let mut results =
        Results::new(Machine::detect(recipe.threads.resolve()), backends::versions(), recipe.clone());
    let mut progress = progress::Progress::new(names.len() > 1 || seeds.len() > 1);
    let on: &mut dyn FnMut(&str, Event) = &mut |b, e| progress.event(b, e);
    mlcmp_core::interrupt::keep_results_from_now();
    let files = ParamFiles { load: params.load_params.as_deref(), save: params.save_params.as_deref() };
    match seeds {
        [] | [_] => driver::run_all(&recipe, &data, &mut backends, &mut results, files, on),
        [_, others @ ..] => driver::run_seeds(&recipe, &data, &mut backends, &mut results, others, on),
    }
    progress.finish();

    if tables {
        say!("\n{}", compare::render(&results, Style::Text));
    }
    let written = outputs.write(&results, String::new);
    if let (Some(p), Some(r)) = (&params.save_params, results.runs.first()) {
        match r.status {
            Status::Ok => say!("weights saved to {}", p.display()),
            _ => eprintln!("mlcmp: weights not saved to {}: the run did not finish", p.display()),
        }
    }
    for r in results.runs.iter().filter(|r| r.status != Status::Ok) {
        let at =
            r.stopped_at.map(|p| format!(" at epoch {}, batch {}", p.epoch, p.batch)).unwrap_or_default();
        let why = r.error.as_deref().map(|e| format!(": {e}")).unwrap_or_default();
        eprintln!("mlcmp: {} {}{at}{why}", r.backend, r.status);
    }
    if let Some(tol) = check_parity {
        if results.parities.is_empty() {
            eprintln!("mlcmp: parity check failed: no two complete runs to compare");
            return Ok(ExitCode::from(1));
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
        if !ok {
            return Ok(ExitCode::from(1));
        }
    }
    Ok(exit_code(&results, written))
}

/// `--save-params` / `--load-params`, before any training: the backend can read and write
/// weights, each file's extension is its format, the file to load is there, and the file to save
/// can be written (an existing one is replaced only with --force).
fn check_params(
    b: &mut dyn Backend,
    p: &ParamsOpts,
    recipe: &mlcmp_core::recipe::Recipe,
    force: bool,
) -> Result<()> {
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
