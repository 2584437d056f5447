//! Checks that need the machine, made before any training: threads against cores, and the
//! recipe's memory against what the process may use.

use anyhow::{bail, Result};
use mlcmp_core::machine::memory_available;
use mlcmp_core::recipe::Recipe;

/// Refuse more than 4 threads per core (a typo, not a plan); warn above one per core, where
/// libtorch's spinning OpenMP threads make runs many times slower.
pub fn threads(recipe: &Recipe) -> Result<()> {
    let (n, cores) = (recipe.threads.resolve(), std::thread::available_parallelism().map_or(1, |c| c.get()));
    if n > 4 * cores {
        bail!(
            "--threads {n}: this machine has {cores} cores; use 1..={} (one per core is fastest)",
            4 * cores
        );
    }
    if n > cores {
        eprintln!("mlcmp: warning: {n} threads on {cores} cores: expect much slower epochs (libtorch's OpenMP threads spin); use --threads {cores} or fewer");
    }
    Ok(())
}

/// Refuse a recipe whose model cannot fit in the memory this process may use (exit 2 before any
/// training, instead of an allocation failure in the middle of it).
pub fn memory(recipe: &Recipe, samples: usize) -> Result<()> {
    let need = recipe.model().memory_bytes(recipe.batch_size, samples);
    if let Some((have, limit)) = memory_available() {
        if need > have {
            bail!(
                "the recipe needs about {:.1} GB (hidden {}, batch_size {}) but {limit} leaves {:.1} GB; use a smaller hidden or batch_size",
                need / 1e9,
                recipe.hidden,
                recipe.batch_size,
                have.max(0.0) / 1e9
            );
        }
    }
    Ok(())
}
