//! The torch backend on the real MNIST: one epoch, PyTorch's default initialisation.

use mlcmp_core::backend::{Backend, Event, Job};
use mlcmp_core::recipe::Recipe;

#[test]
fn one_epoch_matches_pytorch() {
    let data = mlcmp_data::Mnist::load(&mlcmp_data::default_dir())
        .unwrap_or_else(|e| panic!("{e} (run scripts/setup to fetch MNIST)"));
    let recipe = Recipe { epochs: 1, ..Recipe::article() };
    let mut batches = 0;
    let run = mlcmp_backend_torch::TorchBackend::new(2)
        .run(&Job::new(&recipe, &data), &mut |e| {
            if let Event::Batch { .. } = e {
                batches += 1
            }
        })
        .unwrap();
    assert_eq!(batches, 469);
    assert_eq!(run.threads, 2, "threads read back from libtorch");
    let e = &run.epochs[0];
    assert_eq!(e.batch_losses.len(), 469);
    // PyTorch's published epoch-0 loss is 0.3251; a faithful port lands within a few percent.
    assert!((e.avg_loss - 0.3251).abs() < 0.03, "avg loss {}", e.avg_loss);
    assert!(e.test_acc > 0.94, "test accuracy {}", e.test_acc);
}

#[test]
fn pytorch_default_init_bounds() {
    let vs = tch::nn::VarStore::new(tch::Device::Cpu);
    let _net = mlcmp_backend_torch::mlp(&vs.root(), &Recipe::article().model(), false);
    let vars = vs.variables();
    let largest = |k: &str| vars[k].abs().max().double_value(&[]);
    // The values are f32, so the reachable bound is 1/sqrt(fan_in) rounded to f32: for fan_in 784
    // that is 1.6e-9 above 1/28, and 19 inits in 1000 drew a weight that rounds to it (none past it).
    let bound = |fan_in: f64| (1.0 / fan_in.sqrt()) as f32 as f64;
    let (w0, b0, w2) = (largest("0.weight"), largest("0.bias"), largest("2.weight"));
    assert!(w0 <= bound(784.0) && w0 > 0.9 * bound(784.0), "0.weight reaches {w0}");
    assert!(b0 <= bound(784.0) && b0 > 0.5 * bound(784.0), "bias is random too: {b0}");
    assert!(w2 <= bound(256.0) && w2 > 0.9 * bound(256.0), "2.weight reaches {w2}");
}
