//! The engine's one threading policy. Every parallel kernel splits its work into
//! [`num_threads`] parts through [`for_each_part`]; nothing else in the engine starts threads:
//! gemm runs each part single-threaded, and candle's own parallel paths (its matmul, convolutions,
//! quantized ops) are not on the engine's training paths.
//!
//! - 1 thread: the part runs here.
//! - 2 threads: this thread takes one part and a persistent spinning helper the other
//!   ([`super::pair`]); a helper that has not started its part when this thread is done (its core
//!   is taken by another process) gets it taken back, and after two such parts in a row both
//!   parts run here for a while (2 ms, doubling while it keeps happening), so a starved helper
//!   does not take CPU time from this thread (`mlcmp bench --neighbour busy` shows the effect).
//!   Not rayon for two: a training step has three large products with short serial work between
//!   them, long enough for rayon's threads to fall asleep, and waking one costs a sizeable part
//!   of a product (`cargo run --release -p mlcmp-gluon-engine --example matmul` measures both).
//! - More: a rayon pool of that many threads, owned by the engine (not rayon's global pool).

use rayon::prelude::*;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// 0 until set: every available core.
static THREADS: AtomicUsize = AtomicUsize::new(0);

/// The pool for more than two threads, rebuilt when the count changes.
static POOL: Mutex<Option<(usize, Arc<rayon::ThreadPool>)>> = Mutex::new(None);

/// Use `n` threads (at least 1) for the engine's parallel kernels from now on.
pub fn set_num_threads(n: usize) {
    THREADS.store(n.max(1), Ordering::Relaxed);
}

/// The threads the engine's parallel kernels use.
pub fn num_threads() -> usize {
    match THREADS.load(Ordering::Relaxed) {
        0 => std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        n => n,
    }
}

fn pool(n: usize) -> Arc<rayon::ThreadPool> {
    let mut p = POOL.lock().unwrap_or_else(|e| e.into_inner());
    match &*p {
        Some((m, pool)) if *m == n => pool.clone(),
        _ => {
            let pool = Arc::new(
                rayon::ThreadPoolBuilder::new()
                    .num_threads(n)
                    .thread_name(|i| format!("mlcmp-gluon-engine-{i}"))
                    .build()
                    .expect("cannot start the engine's thread pool"),
            );
            *p = Some((n, pool.clone()));
            pool
        }
    }
}

/// Run `f(0)`, ..., `f(parts - 1)` across the engine's threads and return when all are done.
/// `parts` is normally [`num_threads`]; a panic in any part is resumed here after all parts finished.
pub(crate) fn for_each_part(parts: usize, f: impl Fn(usize) + Sync) {
    match parts {
        0 => {}
        1 => f(0),
        2 => super::pair::join(|| f(0), || f(1)),
        n => pool(num_threads()).install(|| (0..n).into_par_iter().for_each(&f)),
    }
}
