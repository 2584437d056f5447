//! The two backends from shared weights and batches, 200 batches of the article's recipe: they
//! compute the same function up to f32 rounding, measured against the rounding floor (one backend
//! against itself from weights one rounding step away).
#![cfg(feature = "torch")]

use mlcmp_core::{driver, Backend, InitMode, Machine, Recipe, Results, Versions};

#[test]
fn two_hundred_batches_agree() {
    let data = driver::load_data(&mlcmp_data::default_dir(), Some(200 * 128)).unwrap();
    let recipe = Recipe {
        epochs: 1,
        init: InitMode::Shared,
        threads: mlcmp_core::Threads::Count(2),
        ..Recipe::article()
    };
    let v = Versions {
        mlcmp: "t".into(),
        tch: "t".into(),
        libtorch: "t".into(),
        candle: "t".into(),
        git: "t".into(),
    };
    let mut res = Results::new(Machine::detect(2), v, recipe.clone());
    let mut backends: Vec<Box<dyn Backend>> =
        vec![Box::new(mlcmp_torch::TorchBackend::new(2)), Box::new(mlcmp_gluon::GluonBackend::new(2))];
    driver::run_all(&recipe, &data, &mut backends, &mut res, &mut |_, _| {});

    let (t, g) = (&res.runs[0].epochs[0], &res.runs[1].epochs[0]);
    assert_eq!((t.batch_losses.len(), g.batch_losses.len()), (200, 200));
    // Before rounding differences have been amplified by training, the losses agree to f32 precision.
    for (i, (a, b)) in t.batch_losses.iter().zip(&g.batch_losses).take(3).enumerate() {
        assert!((a - b).abs() <= 1e-5 * a.abs(), "batch {i}: torch {a} vs gluon {b}");
    }
    let p = res.parity.as_ref().expect("parity measured");
    let floor = p.floor.as_deref().expect("floor measured");
    assert_eq!((p.batches_compared, floor.batches_compared), (200, 200));
    // Measured here: 3.2e-5, 4.3e-7 and 2.8e-4; the floor 6.7e-6, 8e-8 and 4.7e-5.
    assert!(p.max_batch_loss_diff < 2e-4, "{p:?}");
    assert!(p.max_avg_loss_diff < 5e-6, "{p:?}");
    assert!(p.max_weight_diff < 2e-3, "{p:?}");
    assert!(p.max_weight_diff < 20.0 * floor.max_weight_diff, "far above the rounding floor: {p:?}");
    assert!(floor.max_weight_diff > 0.0, "the perturbed rerun must differ");
}
