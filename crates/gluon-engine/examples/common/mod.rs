//! Shared by the examples: malloc tuned as `mlcmp` tunes it, and the median wall time of a call.

use std::time::Instant;

/// Keep freed memory for reuse, as `mlcmp` and its bench workers do (`cli/src/malloc.rs`):
/// without it every large buffer freed and allocated again pays fresh zeroed pages, and an
/// example would time page faults the bench does not see (conv1's forward and backward took
/// twice as long).
pub fn tune_malloc() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes malloc's tuning; it is called before any other thread starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 64 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
    }
}

/// Median seconds of `reps` calls of `f`, after 50 warm-up calls.
pub fn median_s(reps: usize, f: impl Fn()) -> f64 {
    for _ in 0..50 {
        f();
    }
    let mut t: Vec<f64> = (0..reps)
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed().as_secs_f64()
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[reps / 2]
}
