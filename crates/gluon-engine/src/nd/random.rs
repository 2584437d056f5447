//! Seeded random numbers, like `mx.random.seed` / `nd.random.uniform`: one generator per process,
//! so a seed makes initialisation and shuffling reproducible.
//!
//! The generator is SplitMix64 (`rand_xoshiro`), small and fast, drawn through `rand`'s
//! distributions.

use super::array::NDArray;
use candle_core::Shape;
use rand::{Rng as _, SeedableRng};
use rand_distr::StandardNormal;
use rand_xoshiro::SplitMix64;
use std::sync::{LazyLock, Mutex};

/// The engine's generator.
pub type Rng = SplitMix64;

/// A generator seeded with `seed`.
pub fn rng(seed: u64) -> Rng {
    SplitMix64::seed_from_u64(seed)
}

/// Fisher-Yates with the index drawn as `floor(u * (i + 1))` from a uniform f64. Kept instead of
/// `SliceRandom::shuffle` (which draws indices another way) so a seed gives the same batches as
/// earlier releases of this engine.
pub fn shuffle<T>(rng: &mut Rng, v: &mut [T]) {
    for i in (1..v.len()).rev() {
        v.swap(i, (rng.random::<f64>() * (i + 1) as f64) as usize);
    }
}

static GLOBAL: LazyLock<Mutex<Rng>> = LazyLock::new(|| Mutex::new(rng(0)));

/// Seed the process-wide generator (`mx.random.seed`).
pub fn seed(s: u64) {
    *GLOBAL.lock().unwrap_or_else(|e| e.into_inner()) = rng(s);
}

/// Run `f` with the process-wide generator.
pub fn with_rng<R>(f: impl FnOnce(&mut Rng) -> R) -> R {
    f(&mut GLOBAL.lock().unwrap_or_else(|e| e.into_inner()))
}

/// Samples of U(low, high).
pub fn uniform(low: f64, high: f64, shape: impl Into<Shape>) -> NDArray {
    let shape = shape.into();
    let v: Vec<f32> = with_rng(|r| {
        (0..shape.elem_count()).map(|_| (low + (high - low) * r.random::<f64>()) as f32).collect()
    });
    NDArray::from_vec(v, shape).expect("length matches shape")
}

/// Samples of N(loc, scale^2).
pub fn normal(loc: f64, scale: f64, shape: impl Into<Shape>) -> NDArray {
    let shape = shape.into();
    let v: Vec<f32> = with_rng(|r| {
        (0..shape.elem_count()).map(|_| (loc + scale * r.sample::<f64, _>(StandardNormal)) as f32).collect()
    });
    NDArray::from_vec(v, shape).expect("length matches shape")
}
