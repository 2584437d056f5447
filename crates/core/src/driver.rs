//! Running the recipe through backends, one after the other, into one [`Results`].

use crate::backend::{run_backend, Backend, Event, Job};
use crate::interrupt::stop_requested;
use crate::parity;
use crate::recipe::{InitMode, Recipe};
use crate::results::Results;
use crate::shared::Shared;
use anyhow::{bail, Result};
use mlcmp_data::{FileStatus, Mnist};
use std::path::Path;

/// Load MNIST from `dir` after checking every file's SHA-256, keeping the first `limit` samples of
/// each split when asked.
pub fn load_data(dir: &Path, limit: Option<usize>) -> Result<Mnist> {
    for (path, status) in mlcmp_data::verify(dir) {
        match status {
            FileStatus::Ok => {}
            FileStatus::Missing => bail!(
                "{}: missing; run `mlcmp data fetch` (or scripts/setup), or point --data-dir / MLCMP_DATA at the four MNIST IDX files",
                path.display()
            ),
            FileStatus::Unreadable { reason } => bail!(
                "{}: cannot be read ({reason}); fix its permissions or replace it, e.g. with `mlcmp data fetch`",
                path.display()
            ),
            FileStatus::Mismatch { actual } => bail!(
                "{}: checksum mismatch (SHA-256 {actual}); the file is corrupted or not MNIST: delete it and run `mlcmp data fetch`",
                path.display()
            ),
        }
    }
    let mut m = Mnist::load(dir)?;
    m.limit(limit);
    Ok(m)
}

/// Run each backend in turn (never two at once: their thread pools would fight for the cores),
/// appending its run to `results`. A failing or diverging backend does not stop the next one; a
/// requested stop (Ctrl-C) does. With `init: shared` every backend gets the same initial weights and
/// batch order, and `results.parity` compares the first two runs.
pub fn run_all(
    recipe: &Recipe,
    data: &Mnist,
    backends: &mut [Box<dyn Backend>],
    results: &mut Results,
    on: &mut dyn FnMut(&str, Event),
) {
    let threads = recipe.threads.resolve();
    let shared =
        (recipe.init == InitMode::Shared).then(|| Shared::draw(recipe, &recipe.model(), data.train.len()));
    let job = Job { recipe, data, shared: shared.as_ref() };
    for b in backends.iter_mut() {
        if stop_requested() {
            break;
        }
        let name = b.name();
        let run = run_backend(b.as_mut(), &job, threads, &mut |e| on(name, e));
        results.runs.push(run);
    }
    let (Some(shared), [a, b, ..]) = (&shared, results.runs.as_slice()) else { return };
    results.parity = parity::compare(a, b);
    // The floor: the last backend again, from weights one rounding step away.
    if let (Some(p), Some(last)) = (results.parity.as_mut(), backends.last_mut()) {
        if stop_requested() {
            return;
        }
        let perturbed = shared.perturbed();
        let job = Job { recipe, data, shared: Some(&perturbed) };
        let name = format!("{}, 1-ulp perturbed", last.name());
        let rerun = run_backend(last.as_mut(), &job, threads, &mut |e| on(&name, e));
        p.floor = parity::compare(b, &rerun).map(Box::new);
    }
}
