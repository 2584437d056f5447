//! Cost of assembling one training batch the article's way (MNIST-sized u8 images, ToTensor then
//! Normalize, a shuffled batch of 128), split into its steps, hot and as in training (cold rows,
//! between the recipe's products): `cargo run --release -p mlcmp-gluon-engine --example data_batch
//! [threads]`.
mod common;

use mlcmp_gluon_engine::data::vision::{transforms, MNIST};
use mlcmp_gluon_engine::data::{DataLoader, Dataset, Transform};
use mlcmp_gluon_engine::nd::{self, random};
use std::time::Instant;

fn time(name: &str, f: impl Fn()) {
    println!("{name:<44} {:>9.1} us", common::median_s(200, f) * 1e6);
}

fn main() {
    common::tune_malloc();
    if let Some(t) = std::env::args().nth(1).and_then(|s| s.parse().ok()) {
        mlcmp_gluon_engine::set_num_threads(t);
    }
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
    // As in training: a shuffled epoch, each batch followed by the recipe's two big products,
    // which push the previous batch's rows out of the caches. Only the loader's next() is timed.
    let t = transforms::Compose::new(vec![
        Box::new(transforms::ToTensor),
        Box::new(transforms::Normalize::new(0.13, 0.31)),
    ]);
    let pixels: Vec<u8> = (0..n * side * side).map(|i| (i * 7919 % 251) as u8).collect();
    let ds = MNIST::from_raw(pixels, &labels, side, side).unwrap().transform_first(t);
    let loader = DataLoader::new(ds, batch).unwrap().shuffle(true).seed(1);
    let w = random::uniform(-1.0, 1.0, (256, 784));
    let g = random::uniform(-1.0, 1.0, (128, 256));
    let mut times = Vec::new();
    for _ in 0..2 {
        let mut it = loader.iter();
        loop {
            let s = Instant::now();
            let Some(b) = it.next() else { break };
            times.push(s.elapsed().as_secs_f64());
            let (x, _) = b.unwrap();
            let x = x.reshape((x.shape()[0], 784)).unwrap();
            if x.shape()[0] == batch {
                drop(nd::dot(&x, &w, false, true).unwrap());
                drop(nd::dot(&g, &x, true, false).unwrap());
            }
        }
    }
    // The same batches, the gather and the transform timed apart.
    let t2 = transforms::Compose::new(vec![
        Box::new(transforms::ToTensor),
        Box::new(transforms::Normalize::new(0.13, 0.31)),
    ]);
    let pixels: Vec<u8> = (0..n * side * side).map(|i| (i * 7919 % 251) as u8).collect();
    let raw = MNIST::from_raw(pixels, &labels, side, side).unwrap();
    let (mut tg, mut tt) = (Vec::new(), Vec::new());
    for b in loader.next_epoch_batches().iter().filter(|b| b.len() == batch) {
        let s = Instant::now();
        let (x, _) = raw.get_batch(b).unwrap();
        tg.push(s.elapsed().as_secs_f64());
        let s = Instant::now();
        let x = t2.apply(&x).unwrap();
        tt.push(s.elapsed().as_secs_f64());
        let x = x.reshape((batch, 784)).unwrap();
        drop(nd::dot(&x, &w, false, true).unwrap());
        drop(nd::dot(&g, &x, true, false).unwrap());
    }
    println!(
        "gather {:.1} us, transform {:.1} us (medians between products)",
        mlcmp_core::stats::median(&tg) * 1e6,
        mlcmp_core::stats::median(&tt) * 1e6
    );
    println!(
        "{:<44} {:>9.1} us",
        "loader.next() between products (median)",
        mlcmp_core::stats::median(&times) * 1e6
    );
    println!(
        "{:<44} {:>9.1} us",
        "loader.next() between products (mean)",
        times.iter().sum::<f64>() / times.len() as f64 * 1e6
    );
}
