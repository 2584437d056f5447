//! Autograd semantics, NDArray behaviour, layers, trainer and data.
use rand::Rng as _;

use mlcmp_gluon_engine::data::vision::transforms::{Compose, Normalize, ToTensor};
use mlcmp_gluon_engine::data::{ArrayDataset, DataLoader, Dataset, LastBatch, Transform};
use mlcmp_gluon_engine::nd::{self, NDArray};
use mlcmp_gluon_engine::nn::{self, Block};
use mlcmp_gluon_engine::{autograd, loss, GradReq, Init, Trainer};

#[test]
fn display_matches_mxnet() {
    let x = (nd::ones((5, 3)) + 1).unwrap();
    assert_eq!(
        format!("{x}"),
        "\n[[2. 2. 2.]\n [2. 2. 2.]\n [2. 2. 2.]\n [2. 2. 2.]\n [2. 2. 2.]]\n<NDArray 5x3 @cpu(0)>"
    );
    assert_eq!(nd::array(&[1.5, 2.25, -3.0]).to_string(), "\n[ 1.5   2.25 -3.  ]\n<NDArray 3 @cpu(0)>");
    let y = nd::arange(0.0, 8.0, 1.0).unwrap().reshape((2, 2, 2)).unwrap();
    assert_eq!(y.to_string(), "\n[[[0. 1.]\n  [2. 3.]]\n\n [[4. 5.]\n  [6. 7.]]]\n<NDArray 2x2x2 @cpu(0)>");
}

#[test]
fn shape_mismatch_is_an_error() {
    let e = (&nd::ones((5, 3)) + &nd::ones((4, 3))).unwrap_err();
    assert_eq!(e.to_string(), "operands could not be broadcast together with shapes 5x3 and 4x3");
    let e = nd::ones((2, 3)).dot(&nd::ones((2, 3))).unwrap_err();
    assert!(e.to_string().contains("do not align (inner dimensions 3 != 2)"), "{e}");
    assert!(nd::ones(3).sum(Some(&[1]), false).unwrap_err().to_string().contains("axis 1 is out of range"));
    assert!(nd::ones((2, 2)).asscalar().unwrap_err().to_string().contains("one element"));
    let e = nd::ones((2, 3)).pick(&nd::array(&[0.0, 3.0])).unwrap_err();
    assert!(e.to_string().contains("label 3 is not a class index in 0..3"), "{e}");
}

#[test]
fn grad_req_write_add_null() {
    let x = nd::array(&[1.0, 2.0]);
    let run = |x: &NDArray| autograd::record(|| (x * 3.0)?.sum(None, false)).unwrap().backward();
    x.attach_grad(GradReq::Write);
    run(&x).unwrap();
    run(&x).unwrap();
    assert_eq!(x.grad().unwrap().to_vec().unwrap(), vec![3.0, 3.0], "write overwrites");
    x.attach_grad(GradReq::Add);
    run(&x).unwrap();
    run(&x).unwrap();
    assert_eq!(x.grad().unwrap().to_vec().unwrap(), vec![6.0, 6.0], "add accumulates");
    x.attach_grad(GradReq::Null);
    assert!(x.grad().is_err(), "null keeps no gradient");
    let e = run(&x).unwrap_err();
    assert!(e.to_string().contains("cannot run backward"), "{e}");
}

#[test]
fn backward_outside_record_and_head_gradient() {
    let x = nd::array(&[1.0, 2.0, 3.0]);
    x.attach_grad(GradReq::Write);
    let y = (&x * 2.0).unwrap(); // not recorded
    assert!(y.backward().unwrap_err().to_string().contains("autograd::record"));
    assert!(!autograd::is_recording());
    let y = autograd::record(|| {
        assert!(autograd::is_recording() && autograd::is_training());
        &x * &x
    })
    .unwrap();
    assert!(!autograd::is_recording());
    y.backward_with(&nd::array(&[1.0, 0.0, 10.0])).unwrap();
    assert_eq!(x.grad().unwrap().to_vec().unwrap(), vec![2.0, 0.0, 60.0]);
    // non-scalar output: head of ones
    let y = autograd::record(|| &x * &x).unwrap();
    y.backward().unwrap();
    assert_eq!(x.grad().unwrap().to_vec().unwrap(), vec![2.0, 4.0, 6.0]);
    // pause inside record: not recorded
    autograd::record(|| autograd::pause(|| assert!(!autograd::is_recording())));
}

#[test]
fn no_gradient_reaches_arrays_that_do_not_need_one() {
    let w = nd::ones((2, 2));
    w.attach_grad(GradReq::Write);
    let data = nd::ones((3, 2)); // the batch: no attach_grad
    let y = autograd::record(|| nd::dot(&data, &w, false, true)?.sum(None, false)).unwrap();
    y.backward().unwrap();
    assert!(data.grad().is_err());
    assert_eq!(w.grad().unwrap().to_vec().unwrap(), vec![3.0; 4]);
}

#[test]
fn deferred_initialization() {
    let net = nn::Sequential::new();
    net.name_scope(|| {
        net.add(nn::Dense::new(4).activation("relu"));
        net.add(nn::Dense::new(2).in_units(4));
    });
    let params = net.collect_params();
    let keys = params.keys();
    let w0 = params.get(&keys[0]).unwrap();
    assert_eq!(w0.shape(), vec![4, 0]);
    assert_eq!(params.get(&keys[2]).unwrap().shape(), vec![2, 4]);
    let fresh = nn::Dense::new(2);
    let e = fresh.forward(&nd::ones((3, 5))).unwrap_err();
    assert!(e.to_string().contains("has not been initialized; call initialize()"), "{e}");
    net.initialize().unwrap();
    assert!(w0.data().unwrap_err().to_string().contains("deferred initialisation"));
    assert!(params.get(&keys[2]).unwrap().is_initialized(), "known shapes initialize at once");
    let y = net.forward(&nd::ones((3, 5))).unwrap();
    assert_eq!(y.shape(), vec![3, 2]);
    assert_eq!(w0.shape(), vec![4, 5]);
    // Default init: weights in U(-0.07, 0.07), biases zero.
    let w = w0.data().unwrap().to_vec().unwrap();
    assert!(w.iter().all(|v| v.abs() <= 0.07) && w.iter().any(|v| *v != 0.0));
    assert!(params.get(&keys[1]).unwrap().data().unwrap().to_vec().unwrap().iter().all(|v| *v == 0.0));
    // A different input size later is an error naming the parameter.
    let e = net.forward(&nd::ones((3, 6))).unwrap_err();
    assert!(e.to_string().contains(&keys[0]) && e.to_string().contains("[4, 5]"), "{e}");
    assert!(nn::Dense::new(3)
        .activation("rleu")
        .forward(&nd::ones((1, 1)))
        .unwrap_err()
        .to_string()
        .contains("unknown activation 'rleu'"));
}

#[test]
fn trainer_step_rescales_by_batch_size() {
    let net = nn::Dense::new(1).in_units(2).use_bias(false);
    net.initialize_with(&Init::Constant(1.0), false).unwrap();
    let x = NDArray::from_vec(vec![1.0, 2.0, 3.0, 4.0], (2, 2)).unwrap();
    let loss = autograd::record(|| net.forward(&x)?.sum(None, false)).unwrap();
    loss.backward().unwrap();
    // grad of sum over the batch = column sums [4, 6]; step(2) uses the mean [2, 3]; lr 0.5
    assert_eq!(net.weight().grad().unwrap().to_vec().unwrap(), vec![4.0, 6.0]);
    let mut trainer = Trainer::new(net.collect_params(), "sgd", &[("learning_rate", 0.5)]).unwrap();
    trainer.step(2).unwrap();
    assert_eq!(net.weight().data().unwrap().to_vec().unwrap(), vec![0.0, -0.5]);
    // momentum: second step adds 0.9 * previous update
    let mut t2 =
        Trainer::new(net.collect_params(), "sgd", &[("learning_rate", 0.5), ("momentum", 0.9)]).unwrap();
    t2.step(2).unwrap();
    t2.step(2).unwrap();
    let w = net.weight().data().unwrap().to_vec().unwrap();
    assert!((w[0] - (0.0 - 1.0 - 1.9)).abs() < 1e-6 && (w[1] - (-0.5 - 1.5 - 2.85)).abs() < 1e-6, "{w:?}");
    assert!(Trainer::new(net.collect_params(), "adam", &[])
        .unwrap_err()
        .to_string()
        .contains("unknown optimizer 'adam'"));
    assert!(Trainer::new(net.collect_params(), "sgd", &[("lr", 0.1)])
        .unwrap_err()
        .to_string()
        .contains("unknown sgd option 'lr'"));
    assert!(Trainer::new(net.collect_params(), "sgd", &[("learning_rate", -1.0)]).is_err());
}

fn toy_dataset(n: usize) -> ArrayDataset {
    let x = nd::arange(0.0, n as f32, 1.0).unwrap().reshape((n, 1)).unwrap();
    ArrayDataset::new(x, nd::arange(0.0, n as f32, 1.0).unwrap()).unwrap()
}

fn epoch_labels<D: Dataset + 'static>(l: &DataLoader<D>) -> Vec<Vec<f32>> {
    l.iter().map(|b| b.unwrap().1.to_vec().unwrap()).collect()
}

#[test]
fn dataloader_order_seeds_and_last_batch() {
    let plain = DataLoader::new(toy_dataset(10), 4).unwrap();
    assert_eq!(epoch_labels(&plain), vec![vec![0., 1., 2., 3.], vec![4., 5., 6., 7.], vec![8., 9.]]);
    let discard = DataLoader::new(toy_dataset(10), 4).unwrap().last_batch(LastBatch::Discard);
    assert_eq!(epoch_labels(&discard).len(), 2);
    let roll = DataLoader::new(toy_dataset(10), 4).unwrap().last_batch(LastBatch::Rollover);
    assert_eq!(epoch_labels(&roll), vec![vec![0., 1., 2., 3.], vec![4., 5., 6., 7.]]);
    assert_eq!(epoch_labels(&roll)[0], vec![8., 9., 0., 1.], "leftover starts the next epoch");

    let a = DataLoader::new(toy_dataset(50), 8).unwrap().shuffle(true).seed(3);
    let b = DataLoader::new(toy_dataset(50), 8).unwrap().shuffle(true).seed(3).num_workers(2);
    let (a1, b1) = (epoch_labels(&a), epoch_labels(&b));
    assert_eq!(a1, b1, "same seed, same order, with or without workers");
    let mut all: Vec<f32> = a1.concat();
    assert_ne!(all, (0..50).map(|i| i as f32).collect::<Vec<_>>(), "shuffled");
    all.sort_by(f32::total_cmp);
    assert_eq!(all, (0..50).map(|i| i as f32).collect::<Vec<_>>(), "a permutation");
    assert_ne!(epoch_labels(&a), a1, "reshuffled each epoch");
    let c = DataLoader::new(toy_dataset(50), 8).unwrap().shuffle(true).seed(4);
    assert_ne!(epoch_labels(&c), a1, "another seed, another order");
    assert!(DataLoader::new(toy_dataset(5), 0).is_err());
}

#[test]
fn transforms_and_transform_first() {
    let img = NDArray::from_u8(vec![0, 255, 51, 102, 13, 26], (1, 2, 3)).unwrap(); // H=1, W=2, C=3
    let t = ToTensor.apply(&img).unwrap();
    assert_eq!(t.shape(), vec![3, 1, 2]);
    let want = [0.0, 0.4, 1.0, 13.0 / 255.0, 0.2, 26.0 / 255.0];
    assert!(t.to_vec().unwrap().iter().zip(want).all(|(a, b)| (a - b).abs() < 1e-6), "{t}");
    // ToTensor divides by 255 as MXNet does (checked against mxnet 1.9's to_tensor: all 256 values
    // equal p / 255 in f32, while p * (1 / 255) rounds 126 of them differently), from u8 or f32.
    let all: Vec<u8> = (0..=255).collect();
    let want: Vec<f32> = (0..=255).map(|p| p as f32 / 255.0).collect();
    assert_eq!(
        ToTensor.apply(&NDArray::from_u8(all.clone(), (16, 16, 1)).unwrap()).unwrap().to_vec().unwrap(),
        want
    );
    let as_f32 = NDArray::from_vec(all.iter().map(|&p| p as f32).collect(), (16, 16, 1)).unwrap();
    assert_eq!(ToTensor.apply(&as_f32).unwrap().to_vec().unwrap(), want);
    let n = Normalize::new(0.13, 0.31).apply(&nd::array(&[0.13, 0.44])).unwrap().to_vec().unwrap();
    assert!(n[0].abs() < 1e-6 && (n[1] - 1.0).abs() < 1e-6);
    // per-sample and batched transform_first agree, labels untouched
    let images = NDArray::from_u8((0..2 * 4).map(|i| i as u8 * 30).collect(), (2, 2, 2, 1)).unwrap();
    let ds = ArrayDataset::new(images, nd::array(&[7.0, 3.0]))
        .unwrap()
        .transform_first(Compose::new(vec![Box::new(ToTensor), Box::new(Normalize::new(0.5, 0.25))]));
    let (x1, y1) = ds.get(1).unwrap();
    assert_eq!(y1.to_vec().unwrap(), vec![3.0]);
    let (xb, yb) = ds.get_batch(&[1, 0]).unwrap();
    assert_eq!(xb.shape(), vec![2, 1, 2, 2]);
    assert_eq!(yb.to_vec().unwrap(), vec![3.0, 7.0]);
    assert_eq!(&xb.to_vec().unwrap()[..4], &x1.to_vec().unwrap()[..]);
    // A batch large enough to be gathered across threads, any order, repeats allowed: the same
    // samples as one at a time, for u8 and f32 arrays; an index out of range is an error.
    let (n, row) = (300, 28 * 28);
    let idx: Vec<usize> = (0..129).map(|i| i * 7 % n).chain([299, 0, 0]).collect();
    let pixels: Vec<u8> = (0..n * row).map(|i| (i * 31 % 251) as u8).collect();
    let floats = NDArray::from_vec(pixels.iter().map(|&p| p as f32 * 0.5).collect(), (n, 28, 28)).unwrap();
    for data in [NDArray::from_u8(pixels.clone(), (n, 28, 28, 1)).unwrap(), floats] {
        let ds = ArrayDataset::new(data, nd::arange(0.0, n as f32, 1.0).unwrap()).unwrap();
        // A prefetch is a hint: any indices, in range or not, and nothing changes.
        ds.prefetch(&[0, n - 1, n, usize::MAX]);
        let (xb, yb) = ds.get_batch(&idx).unwrap();
        assert_eq!(xb.shape()[0], idx.len());
        assert_eq!(yb.to_vec().unwrap(), idx.iter().map(|&i| i as f32).collect::<Vec<_>>());
        let one_by_one: Vec<NDArray> = idx.iter().map(|&i| ds.get(i).unwrap().0).collect();
        let stacked = nd::stack(&one_by_one).unwrap();
        assert_eq!((xb.dtype(), xb.shape()), (stacked.dtype(), stacked.shape()));
        assert_eq!(xb.to_vec().unwrap(), stacked.to_vec().unwrap());
        let err = ds.get_batch(&[3, n]).unwrap_err().to_string();
        assert!(err.contains(&format!("index {n} is out of range")), "{err}");
    }

    // Compose folds ToTensor + Normalize into one pass: same values as applying them in turn,
    // per channel and on a batch.
    let img =
        NDArray::from_u8((0..2 * 4 * 5 * 3).map(|i| (i * 37 % 256) as u8).collect(), (2, 4, 5, 3)).unwrap();
    let norm = || Normalize::per_channel(vec![0.1, 0.5, 0.9], vec![0.2, 0.3, 0.4]).unwrap();
    let fused = Compose::new(vec![Box::new(ToTensor), Box::new(norm())]).apply(&img).unwrap();
    let stepwise = norm().apply(&ToTensor.apply(&img).unwrap()).unwrap();
    assert_eq!(fused.shape(), vec![2, 3, 4, 5]);
    for (a, b) in fused.to_vec().unwrap().iter().zip(stepwise.to_vec().unwrap()) {
        assert!((a - b).abs() < 1e-5, "{a} vs {b}");
    }
    // One channel (MNIST's case), a batch large enough to split across threads, every pixel
    // value: bit for bit MXNet's f32 steps, (p / 255 - mean) / std, for one Normalize (computed
    // on vectors) and for two in a row (a table).
    let pixels: Vec<u8> = (0..300 * 28 * 28).map(|i| (i * 7 % 256) as u8).collect();
    let mnist = NDArray::from_u8(pixels.clone(), (300, 28, 28, 1)).unwrap();
    let one =
        Compose::new(vec![Box::new(ToTensor), Box::new(Normalize::new(0.13, 0.31))]).apply(&mnist).unwrap();
    let want: Vec<f32> = pixels.iter().map(|&p| (p as f32 / 255.0 - 0.13) / 0.31).collect();
    assert_eq!(one.to_vec().unwrap(), want);
    let two = Compose::new(vec![
        Box::new(ToTensor),
        Box::new(Normalize::new(0.13, 0.31)),
        Box::new(Normalize::new(-1.0, 2.0)),
    ])
    .apply(&mnist)
    .unwrap();
    let want: Vec<f32> = want.iter().map(|&v| (v - -1.0) / 2.0).collect();
    assert_eq!(two.to_vec().unwrap(), want);
    // A batch of several samples of a larger image: every sample and channel in place.
    let big = NDArray::from_u8((0..5 * 90 * 80 * 3).map(|i| (i * 37 % 256) as u8).collect(), (5, 90, 80, 3))
        .unwrap();
    let fused = Compose::new(vec![Box::new(ToTensor), Box::new(norm())]).apply(&big).unwrap();
    let stepwise = norm().apply(&ToTensor.apply(&big).unwrap()).unwrap();
    assert_eq!(fused.shape(), vec![5, 3, 90, 80]);
    for (a, b) in fused.to_vec().unwrap().iter().zip(stepwise.to_vec().unwrap()) {
        assert!((a - b).abs() < 1e-5, "{a} vs {b}");
    }
}

#[test]
fn a_tiny_network_learns_xor_like_task() {
    nd::random::seed(1);
    // Points in 4 quadrants; class = same sign of x and y.
    let mut rng = nd::random::rng(5);
    let (mut xs, mut ys) = (Vec::new(), Vec::new());
    for _ in 0..256 {
        let (a, b) = (rng.random::<f64>() * 2.0 - 1.0, rng.random::<f64>() * 2.0 - 1.0);
        xs.extend([a as f32, b as f32]);
        ys.push(if a * b > 0.0 { 1.0 } else { 0.0 });
    }
    let x = NDArray::from_vec(xs, (256, 2)).unwrap();
    let y = NDArray::from_vec(ys, 256).unwrap();
    let net = nn::Sequential::new();
    net.name_scope(|| {
        net.add(nn::Dense::new(16).activation("tanh"));
        net.add(nn::Dense::new(2));
    });
    net.initialize_with(&Init::xavier(), false).unwrap();
    let loss_fn = loss::SoftmaxCrossEntropyLoss::new();
    let mut trainer =
        Trainer::new(net.collect_params(), "sgd", &[("learning_rate", 0.5), ("momentum", 0.9)]).unwrap();
    let mut first = None;
    let mut last = 0.0;
    for _ in 0..300 {
        let l = autograd::record(|| loss_fn.forward(&net.forward(&x)?, &y)).unwrap();
        l.backward().unwrap();
        trainer.step(256).unwrap();
        last = l.mean(None, false).unwrap().asscalar().unwrap();
        first.get_or_insert(last);
    }
    let acc = net
        .forward(&x)
        .unwrap()
        .argmax(-1)
        .unwrap()
        .equal(&y)
        .unwrap()
        .mean(None, false)
        .unwrap()
        .asscalar()
        .unwrap();
    assert!(last < 0.3 * first.unwrap(), "loss {first:?} -> {last}");
    assert!(acc > 0.9, "accuracy {acc}");
}
