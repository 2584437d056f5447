//! The candle backend on real MNIST: it learns, a seed reproduces a run exactly, and shared weights
//! are the ones it starts from.

use mlcmp_backend_candle::CandleBackend;
use mlcmp_core::backend::{Backend, Job};
use mlcmp_core::recipe::{InitMode, Recipe};
use mlcmp_core::shared::Shared;

fn data() -> mlcmp_data::Mnist {
    let mut d = mlcmp_data::Mnist::load(&mlcmp_data::default_dir()).expect("MNIST (run scripts/setup)");
    d.limit(Some(6_000));
    d
}

#[test]
fn learns_and_a_seed_reproduces_the_run() {
    let data = data();
    let recipe = Recipe { epochs: 2, ..Recipe::article() };
    let run = |seed| {
        let r = Recipe { seed, ..recipe.clone() };
        CandleBackend::new(2).run(&Job::new(&r, &data), &mut |_| {}).unwrap()
    };
    let (a, b, c) = (run(1), run(1), run(2));
    let e = &a.epochs[1];
    assert!(e.test_acc > 0.88, "test accuracy {}", e.test_acc);
    assert!(a.epochs[0].avg_loss > e.avg_loss, "the loss falls");
    assert_eq!(a.epochs[0].batch_losses, b.epochs[0].batch_losses, "same seed, same run");
    assert_ne!(a.epochs[0].batch_losses, c.epochs[0].batch_losses, "another seed, another run");
}

#[test]
fn starts_from_the_shared_weights() {
    let data = data();
    let recipe = Recipe { epochs: 1, init: InitMode::Shared, lr: 1e-30, ..Recipe::article() };
    let shared = Shared::draw(&recipe, &recipe.model(), data.train.len());
    let run = CandleBackend::new(1)
        .run(&Job { shared: Some(&shared), ..Job::new(&recipe, &data) }, &mut |_| {})
        .unwrap();
    // With a vanishing learning rate the final weights are the initial ones.
    assert_eq!(run.final_params.len(), 4);
    for (got, want) in run.final_params.iter().zip(&shared.params) {
        assert_eq!(got, want);
    }
    assert_eq!(run.epochs[0].batches, 47);
}
