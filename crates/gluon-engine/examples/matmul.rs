//! The recipe's two big products timed with this engine: `cargo run --release -p mlcmp-gluon-engine
//! --example matmul [threads] [batch] [hidden]` (default 2, 128, 256). Prints the median GFLOP/s
//! of 500 calls each (after a warm-up).
mod common;

use std::time::Instant;

use mlcmp_gluon_engine::nd::{self, random};

fn rate(name: &str, flops: f64, f: impl Fn()) {
    let t = common::median_s(500, f);
    println!("{name:<40} {:>7.1} GFLOP/s  (median {:.1} us)", flops / t / 1e9, t * 1e6);
}

fn main() {
    common::tune_malloc();
    let threads: usize = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(2);
    mlcmp_gluon_engine::set_num_threads(threads);
    let arg =
        |i: usize, default: usize| std::env::args().nth(i).and_then(|s| s.parse().ok()).unwrap_or(default);
    let (b, k, h) = (arg(2, 128), 784, arg(3, 256));
    let x = random::uniform(-1.0, 1.0, (b, k));
    let w = random::uniform(-1.0, 1.0, (h, k));
    let g = random::uniform(-1.0, 1.0, (b, h));
    let flops = 2.0 * (b * k * h) as f64;
    rate(&format!("forward  x . W^T   ({b}x{k}).({k}x{h})"), flops, || {
        drop(nd::dot(&x, &w, false, true).unwrap())
    });
    rate(&format!("backward g^T . x   ({h}x{b}).({b}x{k})"), flops, || {
        drop(nd::dot(&g, &x, true, false).unwrap())
    });
    // The same product after 100 us of single-threaded work, as in a training step: the pool's
    // threads have gone to sleep and must be woken.
    let busy = || {
        let t = Instant::now();
        while t.elapsed().as_micros() < 100 {
            std::hint::spin_loop();
        }
    };
    rate("forward after 100 us of other work", flops, || {
        busy();
        let t = Instant::now();
        drop(nd::dot(&x, &w, false, true).unwrap());
        let _ = t;
    });
    println!("threads: {}", mlcmp_gluon_engine::num_threads());
}
