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
    let bound = |k: &str| vars[k].abs().max().double_value(&[]);
    assert!(bound("0.weight") <= 1.0 / 28.0 && bound("0.weight") > 0.9 / 28.0);
    assert!(bound("0.bias") <= 1.0 / 28.0 && bound("0.bias") > 0.5 / 28.0, "bias is random too");
    assert!(bound("2.weight") <= 1.0 / 16.0 && bound("2.weight") > 0.9 / 16.0);
}
