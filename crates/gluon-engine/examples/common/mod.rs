//! Shared by the examples: the median wall time of a call.

use std::time::Instant;

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
