//! Running the recipe through backends, one after the other, into one [`Results`].

use crate::backend::{run_backend, stop_requested, Backend, Event};
use crate::recipe::Recipe;
use crate::results::Results;
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
            FileStatus::Mismatch { actual } => bail!(
                "{}: checksum mismatch (SHA-256 {actual}); the file is corrupted or not MNIST: delete it and run `mlcmp data fetch`",
                path.display()
            ),
        }
    }
    let mut m = Mnist::load(dir)?;
    if let Some(n) = limit {
        m.train.truncate(n);
        m.test.truncate(n);
    }
    Ok(m)
}

/// Run each backend in turn (never two at once: their thread pools would fight for the cores),
/// appending its run to `results`. A failing or diverging backend does not stop the next one; a
/// requested stop (Ctrl-C) does.
pub fn run_all(
    recipe: &Recipe,
    data: &Mnist,
    backends: &mut [Box<dyn Backend>],
    results: &mut Results,
    on: &mut dyn FnMut(&str, Event),
) {
    let threads = recipe.threads.resolve();
    for b in backends.iter_mut() {
        if stop_requested() {
            break;
        }
        let name = b.name();
        let run = run_backend(b.as_mut(), recipe, data, threads, &mut |e| on(name, e));
        results.runs.push(run);
    }
}
