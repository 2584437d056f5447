//! The hardware's own f32 rate, the reference of "x peak": a multiply-add micro-kernel for each
//! instruction set the engine dispatches to (AVX-512F, AVX2 with FMA, and the portable loop the
//! compiler makes for the baseline target), run on one thread and on several at once, each thread
//! on its own chains of independent multiply-adds so nothing but the vector units limits it.
//! Cores that share their vector units (SMT siblings) show up as an all-core rate below the
//! one-core rate times the cores.
//!
//! The bench runs [`probe`] in a worker process (`mlcmp probe-peak`) before its repeats; the rate
//! of the widest kernel at a run's threads is the run's peak. libtorch's matmul rate is another
//! reference ("x libtorch"), and no hardware limit: a BLAS can take slower paths on some CPUs.
//!
//! ```
//! use mlcmp_core::bench::peak::{probe_with, Isa};
//! let p = probe_with(&[1], std::time::Duration::from_millis(5));
//! let one = p.gflops(1).unwrap();
//! assert!(one > 0.1, "{one} GFLOP/s");
//! assert_eq!(p.isa, Isa::widest().name());
//! ```

use serde::{Deserialize, Serialize};
use std::hint::black_box;
use std::time::{Duration, Instant};

/// The probe's result: the widest kernel's instruction set, every kernel's rate at every thread
/// count probed, and why the rate is not the hardware's where the probe has no kernel for the CPU.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HardwarePeak {
    pub isa: String,
    pub rates: Vec<PeakRate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unknown: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PeakRate {
    pub isa: String,
    pub threads: usize,
    #[serde(deserialize_with = "crate::run::f64_or_nan")]
    pub gflops: f64,
}

impl HardwarePeak {
    /// The widest kernel's rate at `threads`: the rate probed at that many threads, else at the
    /// most threads probed below it (more threads than were probed share the same cores).
    pub fn gflops(&self, threads: usize) -> Option<f64> {
        self.rates
            .iter()
            .filter(|r| r.isa == self.isa && r.threads <= threads.max(1) && r.gflops.is_finite())
            .max_by_key(|r| r.threads)
            .map(|r| r.gflops)
    }

    /// `isa`'s rate at exactly `threads`.
    pub fn rate(&self, isa: &str, threads: usize) -> Option<f64> {
        self.rates.iter().find(|r| r.isa == isa && r.threads == threads).map(|r| r.gflops)
    }
}

/// An instruction set the engine's kernels are compiled for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isa {
    Avx512,
    Avx2Fma,
    /// The baseline target's vectors, multiply then add (Rust never fuses them): SSE2 on x86-64.
    Portable,
}

/// Independent accumulators per thread: more than an FMA's latency (4 cycles) times the FMA
/// units (2) in flight, so the units, not the dependency chains, set the rate.
const CHAINS: usize = 12;

impl Isa {
    /// Widest first.
    pub const ALL: [Isa; 3] = [Isa::Avx512, Isa::Avx2Fma, Isa::Portable];

    pub fn name(self) -> &'static str {
        match self {
            Isa::Avx512 => "avx512f fma",
            Isa::Avx2Fma => "avx2 fma",
            Isa::Portable => "portable",
        }
    }

    /// Whether this CPU runs it.
    pub fn available(self) -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            match self {
                Isa::Avx512 => std::arch::is_x86_feature_detected!("avx512f"),
                Isa::Avx2Fma => {
                    std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
                }
                Isa::Portable => true,
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            self == Isa::Portable
        }
    }

    /// The widest one this CPU runs: the one the engine's kernels take.
    pub fn widest() -> Isa {
        Isa::ALL.into_iter().find(|i| i.available()).unwrap_or(Isa::Portable)
    }

    /// FLOPs of one iteration of [`Isa::run`] (a multiply-add is two).
    fn flops_per_iter(self) -> f64 {
        let lanes = match self {
            Isa::Avx512 => 16,
            Isa::Avx2Fma => 8,
            Isa::Portable => PORTABLE_LANES,
        };
        (CHAINS * lanes * 2) as f64
    }

    /// `iters` iterations of the kernel; the result only keeps the work from being optimised away.
    fn run(self, iters: u64) -> f32 {
        match self {
            // SAFETY: `available` said the CPU has these instructions (checked by the caller).
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => unsafe { x86::fma512(iters) },
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2Fma => unsafe { x86::fma256(iters) },
            _ => portable(iters),
        }
    }
}

/// Lanes of the portable loop's vectors: SSE2's 4 on x86-64 (and NEON's on aarch64).
const PORTABLE_LANES: usize = 4;

fn portable(iters: u64) -> f32 {
    let (a, b) = (black_box(0.999_999_f32), black_box(1e-7_f32));
    let mut acc = [[1.0_f32; PORTABLE_LANES]; CHAINS];
    for _ in 0..iters {
        for chain in acc.iter_mut() {
            for x in chain.iter_mut() {
                *x = *x * a + b;
            }
        }
    }
    acc.iter().flatten().sum()
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::CHAINS;
    use std::arch::x86_64::*;
    use std::hint::black_box;

    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn fma512(iters: u64) -> f32 {
        let (a, b) = (_mm512_set1_ps(black_box(0.999_999)), _mm512_set1_ps(black_box(1e-7)));
        let mut acc = [_mm512_set1_ps(1.0); CHAINS];
        for _ in 0..iters {
            for x in acc.iter_mut() {
                *x = _mm512_fmadd_ps(*x, a, b);
            }
        }
        acc.iter().map(|&x| _mm512_reduce_add_ps(x)).sum()
    }

    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn fma256(iters: u64) -> f32 {
        let (a, b) = (_mm256_set1_ps(black_box(0.999_999)), _mm256_set1_ps(black_box(1e-7)));
        let mut acc = [_mm256_set1_ps(1.0); CHAINS];
        for _ in 0..iters {
            for x in acc.iter_mut() {
                *x = _mm256_fmadd_ps(*x, a, b);
            }
        }
        let mut lanes = [0f32; 8];
        for x in acc {
            let mut v = [0f32; 8];
            _mm256_storeu_ps(v.as_mut_ptr(), x);
            lanes.iter_mut().zip(v).for_each(|(l, v)| *l += v);
        }
        lanes.iter().sum()
    }
}

/// `isa`'s rate in GFLOP/s with `threads` threads running it at once, each for about `span`: the
/// best of three tries (a try is the FLOPs of all threads over the time from their common start
/// to the last one's end).
pub fn rate(isa: Isa, threads: usize, span: Duration) -> f64 {
    if !isa.available() {
        return f64::NAN;
    }
    // Iterations for `span` on one thread, from a short calibration run.
    let calibrate = 1 << 14;
    let t = Instant::now();
    black_box(isa.run(calibrate));
    let per_iter = t.elapsed().as_secs_f64().max(1e-9) / calibrate as f64;
    let iters = ((span.as_secs_f64() / per_iter) as u64).max(1);
    let flops = isa.flops_per_iter() * iters as f64 * threads as f64;
    (0..3)
        .map(|_| {
            let barrier = std::sync::Barrier::new(threads + 1);
            std::thread::scope(|s| {
                for _ in 0..threads {
                    s.spawn(|| {
                        barrier.wait();
                        black_box(isa.run(iters));
                    });
                }
                barrier.wait();
                let start = Instant::now();
                // The scope joins every thread before it returns.
                start
            })
            .elapsed()
        })
        .map(|took| flops / took.as_secs_f64() / 1e9)
        .fold(f64::NAN, f64::max)
}

/// Every available kernel at each of `threads`, about 100 ms a try.
pub fn probe(threads: &[usize]) -> HardwarePeak {
    probe_with(threads, Duration::from_millis(100))
}

/// [`probe`] with tries of about `span`.
pub fn probe_with(threads: &[usize], span: Duration) -> HardwarePeak {
    let mut rates = vec![];
    for isa in Isa::ALL.into_iter().filter(|i| i.available()) {
        for &t in threads {
            rates.push(PeakRate {
                isa: isa.name().to_string(),
                threads: t,
                gflops: rate(isa, t.max(1), span),
            });
        }
    }
    let unknown = (!cfg!(target_arch = "x86_64")).then(|| {
        format!(
            "the probe has FMA kernels for x86-64 only; on {} the rate is the portable loop's (multiply then add), not the vector units' peak",
            std::env::consts::ARCH
        )
    });
    HardwarePeak { isa: Isa::widest().name().to_string(), rates, unknown }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every kernel this CPU runs does the multiply-adds its FLOP count claims: after n iterations
    /// each of its values is x_n of x <- a x + b from x_0 = 1, so their sum is known.
    #[test]
    fn kernels_do_the_work_they_count() {
        let (a, b) = (0.999_999_f32 as f64, 1e-7_f32 as f64);
        let n = 5000;
        let fixed = b / (1.0 - a);
        let x_n = fixed + (1.0 - fixed) * a.powi(n);
        for isa in Isa::ALL.into_iter().filter(|i| i.available()) {
            let values = isa.flops_per_iter() / 2.0;
            let (got, want) = (isa.run(n as u64) as f64, values * x_n);
            assert!((got - want).abs() < 1e-4 * want, "{isa:?}: {got} vs {want}");
        }
    }

    /// A run's peak is the widest kernel's rate at its threads, or at the most threads probed
    /// below them; the narrower kernels' rates are kept but never used for it.
    #[test]
    fn a_runs_peak_is_the_widest_kernel_at_its_threads() {
        let r = |isa: &str, threads, gflops| PeakRate { isa: isa.into(), threads, gflops };
        let p = HardwarePeak {
            isa: "avx512f fma".into(),
            rates: vec![r("avx512f fma", 1, 250.0), r("avx512f fma", 2, 450.0), r("avx2 fma", 2, 230.0)],
            unknown: None,
        };
        assert_eq!(p.gflops(1), Some(250.0));
        assert_eq!(p.gflops(2), Some(450.0));
        assert_eq!(p.gflops(8), Some(450.0), "8 threads on the cores probed with 2");
        assert_eq!(p.gflops(0), Some(250.0));
        assert_eq!(p.rate("avx2 fma", 2), Some(230.0));
        let json = serde_json::to_string(&p).unwrap();
        assert_eq!(serde_json::from_str::<HardwarePeak>(&json).unwrap(), p);
    }
}
