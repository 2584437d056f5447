//! Per-op cost of one training step of the recipe: `cargo run --release -p mlcmp-gluon-engine --example ops`.
mod common;

use mlcmp_gluon_engine::nd::{self, random, NDArray};
use mlcmp_gluon_engine::{autograd, GradReq};

fn time(name: &str, f: impl Fn()) {
    println!("{name:<36} {:>8.1} us", common::median_s(300, f) * 1e6);
}

fn main() {
    common::tune_malloc();
    mlcmp_gluon_engine::set_num_threads(2);
    let x = random::uniform(-1.0, 1.0, (128, 784));
    let w1 = random::uniform(-0.07, 0.07, (256, 784));
    let b1 = nd::zeros(256);
    let w2 = random::uniform(-0.07, 0.07, (10, 256));
    let b2 = nd::zeros(10);
    let y = NDArray::from_vec((0..128).map(|i| (i % 10) as f32).collect(), 128).unwrap();
    let h = random::uniform(-1.0, 1.0, (128, 256));
    let o = random::uniform(-1.0, 1.0, (128, 10));
    time("dot x.W1^T", || drop(nd::dot(&x, &w1, false, true).unwrap()));
    time("add bias (128x256)+(256)", || drop((&h + &b1).unwrap()));
    time("relu 128x256", || drop(h.relu().unwrap()));
    time("dot h.W2^T", || drop(nd::dot(&h, &w2, false, true).unwrap()));
    time("softmax CE", || drop(nd::softmax_cross_entropy(&o, &y).unwrap()));
    time("sum axis 0 (128x256)", || drop(h.sum(Some(&[0]), false).unwrap()));
    time("mean + asscalar (128)", || {
        y.mean(None, false).unwrap().asscalar().unwrap();
    });
    for p in [&w1, &b1, &w2, &b2] {
        p.attach_grad(GradReq::Write);
    }
    let step = || {
        autograd::record(|| {
            let h = (nd::dot(&x, &w1, false, true)? + &b1)?.relu()?;
            let o = (nd::dot(&h, &w2, false, true)? + &b2)?;
            nd::softmax_cross_entropy(&o, &y)
        })
        .unwrap()
    };
    let hh = h.detach();
    hh.attach_grad(GradReq::Write);
    let oo = o.detach();
    oo.attach_grad(GradReq::Write);
    let back = |name: &str, f: &dyn Fn() -> mlcmp_gluon_engine::Result<NDArray>| {
        time(name, || autograd::record(f).unwrap().backward().unwrap())
    };
    back("fwd+bwd dot x.W1^T (dW1 only)", &|| nd::dot(&x, &w1, false, true));
    back("fwd+bwd h + b1", &|| &hh + &b1);
    back("fwd+bwd relu", &|| hh.relu());
    back("fwd+bwd dot h.W2^T (dh, dW2)", &|| nd::dot(&hh, &w2, false, true));
    back("fwd+bwd softmax CE", &|| nd::softmax_cross_entropy(&oo, &y));
    time("forward (recorded)", || drop(step()));
    time("forward + backward", || step().backward().unwrap());
}
