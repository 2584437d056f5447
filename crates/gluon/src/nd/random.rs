//! Seeded random numbers, like `mx.random.seed` / `nd.random.uniform`: one generator per process,
//! so a seed makes initialisation and shuffling reproducible.

use super::NDArray;
use candle_core::Shape;
use std::sync::Mutex;

/// SplitMix64: tiny, fast and good enough for initialisation and shuffling.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1) with 53 bits.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform integer in 0..n.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_f64() * n as f64) as usize
    }

    /// Standard normal (Box-Muller).
    pub fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.next_f64();
        let u2 = self.next_f64();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }

    /// Fisher-Yates shuffle.
    pub fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            v.swap(i, self.below(i + 1));
        }
    }
}

static GLOBAL: Mutex<Rng> = Mutex::new(Rng(0));

/// Seed the process-wide generator (`mx.random.seed`).
pub fn seed(s: u64) {
    *GLOBAL.lock().unwrap() = Rng::new(s);
}

/// Run `f` with the process-wide generator.
pub fn with_rng<R>(f: impl FnOnce(&mut Rng) -> R) -> R {
    f(&mut GLOBAL.lock().unwrap())
}

/// Samples of U(low, high).
pub fn uniform(low: f64, high: f64, shape: impl Into<Shape>) -> NDArray {
    let shape = shape.into();
    let v: Vec<f32> =
        with_rng(|r| (0..shape.elem_count()).map(|_| (low + (high - low) * r.next_f64()) as f32).collect());
    NDArray::from_vec(v, shape).expect("length matches shape")
}

/// Samples of N(loc, scale^2).
pub fn normal(loc: f64, scale: f64, shape: impl Into<Shape>) -> NDArray {
    let shape = shape.into();
    let v: Vec<f32> =
        with_rng(|r| (0..shape.elem_count()).map(|_| (loc + scale * r.normal()) as f32).collect());
    NDArray::from_vec(v, shape).expect("length matches shape")
}
