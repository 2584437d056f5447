//! `mlcmp eval`: the accuracy of saved weights, without training.

use crate::args::RunOpts;
use crate::outputs::say;
use crate::{backends, train::check_extension};
use anyhow::{Context, Result};
use mlcmp_core::backend::Job;
use mlcmp_core::driver;
use std::path::Path;
use std::process::ExitCode;

pub fn eval(opts: &RunOpts, name: &str, params: &Path, train: bool) -> Result<ExitCode> {
    let recipe = opts.recipe()?;
    let mut backend = backends::make(name, recipe.threads.resolve())?;
    check_extension(backend.as_ref(), "--params", params)?;
    mlcmp_core::input::check_regular(params, mlcmp_core::input::WEIGHTS_LIMIT, "weights file")
        .context("--params")?;
    backend.check_weights(&recipe, params).context("--params")?;
    let data = driver::load_data(&crate::args::data_dir(&opts.data_dir), recipe.limit)?;
    let e = backend.evaluate(&Job::new(&recipe, &data), params, train)?;
    let train = e.train_acc.map(|a| format!(", train acc {:.2}%", 100.0 * a)).unwrap_or_default();
    say!(
        "{}: test acc {:.2}%{train} ({} test samples)",
        params.display(),
        100.0 * e.test_acc,
        data.test.len()
    );
    Ok(ExitCode::SUCCESS)
}
