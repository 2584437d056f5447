//! Per-op cost of LeNet's layers on a 256-sample batch, forward and backward:
//! `cargo run --release -p mlcmp-gluon-engine --example lenet_ops`.
mod common;

use mlcmp_gluon_engine::nd::{self, random, Act, NDArray, PoolKind, Window};
use mlcmp_gluon_engine::{autograd, GradReq};

fn time(name: &str, f: impl Fn()) {
    println!("{name:<44} {:>9.1} us", common::median_s(30, f) * 1e6);
}

fn main() {
    common::tune_malloc();
    let threads = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(2);
    mlcmp_gluon_engine::set_num_threads(threads);
    let n = 256;
    let conv = |k: usize, pad: usize| Window { kernel: (k, k), stride: (1, 1), pad: (pad, pad) };
    let pool = Window { kernel: (2, 2), stride: (2, 2), pad: (0, 0) };
    let x = random::uniform(0.0, 1.0, (n, 1, 28, 28));
    let w1 = random::uniform(-0.3, 0.3, (6, 1, 5, 5));
    let b1 = nd::zeros(6);
    let a1 = random::uniform(0.0, 1.0, (n, 6, 14, 14));
    let w2 = random::uniform(-0.1, 0.1, (16, 6, 5, 5));
    let b2 = nd::zeros(16);
    let p = random::uniform(0.0, 1.0, (n, 6, 28, 28));
    for v in [&w1, &b1, &w2, &b2, &a1, &p] {
        v.attach_grad(GradReq::Write);
    }
    let fwd = |name: &str, f: &dyn Fn() -> NDArray| {
        time(&format!("{name} forward"), || drop(f()));
        let y = autograd::record(|| Ok::<_, mlcmp_gluon_engine::Error>(f())).unwrap();
        let head = nd::ones(y.shape());
        time(&format!("{name} forward+backward"), || {
            let y = autograd::record(|| Ok::<_, mlcmp_gluon_engine::Error>(f())).unwrap();
            y.backward_with(&head).unwrap();
        });
    };
    fwd("conv1 256x1x28x28 -> 6x28x28 sigmoid", &|| {
        nd::convolution(&x, &w1, Some(&b1), conv(5, 2), Some(Act::Sigmoid)).unwrap()
    });
    fwd("conv2 256x6x14x14 -> 16x10x10 sigmoid", &|| {
        nd::convolution(&a1, &w2, Some(&b2), conv(5, 0), Some(Act::Sigmoid)).unwrap()
    });
    fwd("avg pool 256x6x28x28", &|| nd::pooling(&p, pool, PoolKind::Avg).unwrap());
    time("conv1 forward, no activation", || {
        drop(nd::convolution(&x, &w1, Some(&b1), conv(5, 2), None).unwrap())
    });
}
