//! The gluon backend on the real MNIST: one epoch with MXNet's default initialisation.

use mlcmp_core::backend::{Backend, Job};
use mlcmp_core::recipe::Recipe;

#[test]
fn one_epoch_matches_mxnet() {
    let data = mlcmp_data::Mnist::load(&mlcmp_data::default_dir())
        .unwrap_or_else(|e| panic!("{e} (run scripts/setup to fetch MNIST)"));
    let recipe = Recipe { epochs: 1, ..Recipe::article() };
    let run = mlcmp_backend_gluon::GluonBackend::new(2).run(&Job::new(&recipe, &data), &mut |_| {}).unwrap();
    let e = &run.epochs[0];
    assert_eq!((e.batches, e.batch_losses.len()), (469, 469));
    // MXNet's published epoch-0 loss is 0.3162.
    assert!((e.avg_loss - 0.3162).abs() < 0.03, "avg loss {}", e.avg_loss);
    assert!(e.test_acc > 0.94, "test accuracy {}", e.test_acc);
}

#[test]
fn the_network_reads_like_the_article() {
    use mlcmp_gluon_engine::nn::Block;
    let net = mlcmp_backend_gluon::mlp(&Recipe::article().model());
    let p = net.collect_params();
    assert_eq!(p.len(), 4);
    assert!(p.keys()[0].ends_with("_dense0_weight") && p.keys()[3].ends_with("_dense1_bias"));
}
