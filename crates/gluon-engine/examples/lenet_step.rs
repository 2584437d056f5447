//! One hybridized LeNet training step (d2l's, batch 256), the gluon-hybrid backend's inner loop
//! without data or bookkeeping: forward, forward+backward and the update, medians in us.
//! `cargo run --release -p mlcmp-gluon-engine --example lenet_step [threads] [steps]`; with a
//! steps count it runs that many steps untimed, for a profiler (build it with `--profile profiling`
//! for line tables).
mod common;

use mlcmp_gluon_engine::nd::{self, random};
use mlcmp_gluon_engine::nn::{self, Block};
use mlcmp_gluon_engine::{autograd, loss, Init, Trainer};

fn main() -> mlcmp_gluon_engine::Result<()> {
    common::tune_malloc();
    let mut args = std::env::args().skip(1).map(|a| a.parse::<usize>().ok());
    mlcmp_gluon_engine::set_num_threads(args.next().flatten().unwrap_or(2));
    let steps = args.next().flatten();
    let net = nn::Sequential::new();
    net.name_scope(|| {
        net.add(nn::Conv2D::new(6, 5).padding(2).activation("sigmoid"));
        net.add(nn::AvgPool2D::new(2).strides(2));
        net.add(nn::Conv2D::new(16, 5).activation("sigmoid"));
        net.add(nn::AvgPool2D::new(2).strides(2));
        net.add(nn::Dense::new(120).activation("sigmoid"));
        net.add(nn::Dense::new(84).activation("sigmoid"));
        net.add(nn::Dense::new(10));
    });
    net.initialize_with(&Init::xavier(), false)?;
    net.hybridize();
    let x = random::uniform(0.0, 1.0, (256, 1, 28, 28));
    let y = nd::array(&(0..256).map(|i| (i % 10) as f32).collect::<Vec<_>>());
    let ce = loss::SoftmaxCrossEntropyLoss::new();
    let mut trainer = Trainer::new(net.collect_params(), "sgd", &[("learning_rate", 0.9)])?;
    let step = |trainer: &mut Trainer| {
        let l = autograd::record(|| ce.forward(&net.forward(&x)?, &y)).unwrap();
        l.backward().unwrap();
        trainer.step(256).unwrap();
    };
    if let Some(n) = steps {
        (0..n).for_each(|_| step(&mut trainer));
        return Ok(());
    }
    let trainer = std::cell::RefCell::new(trainer);
    let time = |name: &str, f: &dyn Fn()| println!("{name:<24} {:>9.1} us", common::median_s(40, f) * 1e6);
    time("forward", &|| drop(net.forward(&x).unwrap()));
    time("forward+backward", &|| {
        let l = autograd::record(|| ce.forward(&net.forward(&x)?, &y)).unwrap();
        l.backward().unwrap();
    });
    time("step with update", &|| step(&mut trainer.borrow_mut()));
    Ok(())
}
