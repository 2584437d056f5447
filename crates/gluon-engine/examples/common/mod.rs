//! Shared by the examples: malloc tuned as `mlcmp` tunes it, and the median wall time of a call.

use std::time::Instant;

/// Keep freed memory for reuse, as `mlcmp` and its bench workers do: without it an example
/// times page faults the bench does not see (conv1's forward and backward took twice as long).
pub fn tune_malloc() {
    mlcmp_core::malloc::keep_freed_memory();
}

/// Median seconds of `reps` calls of `f`, after 50 warm-up calls.
pub fn median_s(reps: usize, f: impl Fn()) -> f64 {
    for _ in 0..50 {
        f();
    }
    let t: Vec<f64> = (0..reps)
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed().as_secs_f64()
        })
        .collect();
    mlcmp_core::stats::median(&t)
}
