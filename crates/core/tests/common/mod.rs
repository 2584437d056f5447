//! What several core test files build their results from.
#![allow(dead_code)] // each test file uses some of these

use mlcmp_core::machine::{Machine, Versions};
use mlcmp_core::recipe::Recipe;
use mlcmp_core::results::{BenchInfo, Results};
use mlcmp_core::run::{EpochResult, RunResult};

/// Results of the article's recipe on a made-up 2-core machine, with no runs yet.
pub fn empty_results() -> Results {
    let versions = Versions {
        mlcmp: "0".into(),
        tch: "t".into(),
        libtorch: "l".into(),
        candle: "c".into(),
        git: "g".into(),
    };
    let machine = Machine { cpu: "Test CPU".into(), cores: 2, threads: 2, os: "TestOS".into() };
    Results::new(machine, versions, Recipe::article())
}

/// Epoch `i` of a made-up run: loss, time and accuracies as given or plausible.
pub fn epoch(i: usize, loss: f64, t: f64) -> EpochResult {
    EpochResult {
        epoch: i,
        avg_loss: loss,
        train_acc: 0.9,
        test_acc: 0.95 + i as f64 / 100.0,
        time_s: t,
        eval_s: 0.1,
        batches: 469,
        samples: 60_000,
        phases: Default::default(),
        warmup: false,
        batch_losses: vec![],
    }
}

/// torch and gluon, two epochs each, at the article's published losses.
pub fn sample_results() -> Results {
    let mut res = empty_results();
    let mut t = RunResult::new("torch", 2);
    t.epochs = vec![epoch(0, 0.3251, 1.0), epoch(1, 0.1509, 2.0)];
    let mut g = RunResult::new("gluon", 2);
    g.epochs = vec![epoch(0, 0.3162, 0.5), epoch(1, 0.1503, 0.5)];
    res.runs = vec![t, g];
    res
}

/// A bench's record of the article recipe's matmul probe at `matmul_gflops`, without a peak.
pub fn bench_info(matmul_gflops: f64) -> BenchInfo {
    BenchInfo {
        repeats: 2,
        warmup_epochs: 1,
        matmul_gflops,
        matmul_shape: "(128x784).(784x256)".into(),
        libtorch_best: None,
        against: None,
        lockstep: false,
        epochs_for: Default::default(),
        hardware_peak: None,
    }
}
