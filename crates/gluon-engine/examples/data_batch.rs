//! Cost of assembling one training batch the article's way (MNIST-sized u8 images, ToTensor then
//! Normalize, a shuffled batch of 128), split into its steps:
//! `cargo run --release -p mlcmp-gluon-engine --example data_batch`.
mod common;

use mlcmp_gluon_engine::data::vision::{transforms, MNIST};
use mlcmp_gluon_engine::data::{Dataset, Transform};

fn time(name: &str, f: impl Fn()) {
    println!("{name:<44} {:>9.1} us", common::median_s(200, f) * 1e6);
}

fn main() {
    common::tune_malloc();
    let (n, side, batch) = (60_000usize, 28usize, 128usize);
    let pixels: Vec<u8> = (0..n * side * side).map(|i| (i * 7919 % 251) as u8).collect();
    let labels: Vec<u8> = (0..n).map(|i| (i % 10) as u8).collect();
    let raw = MNIST::from_raw(pixels, &labels, side, side).unwrap();
    let idx: Vec<usize> = (0..batch).map(|i| i * 467 % n).collect();
    let t = transforms::Compose::new(vec![
        Box::new(transforms::ToTensor),
        Box::new(transforms::Normalize::new(0.13, 0.31)),
    ]);
    time("gather 128 images (u8) and labels", || drop(raw.get_batch(&idx).unwrap()));
    let (x, _) = raw.get_batch(&idx).unwrap();
    time("ToTensor + Normalize of the batch", || drop(t.apply(&x).unwrap()));
    let ds = MNIST::from_raw(vec![0; n * side * side], &labels, side, side).unwrap().transform_first(t);
    time("dataset.get_batch (both)", || drop(ds.get_batch(&idx).unwrap()));
}
