//! Each op the recipe uses, forward and gradient, in gluon and in libtorch on the same random
//! inputs: they must agree to f32 rounding.
use rand::Rng as _;

use mlcmp_gluon_engine::nd::{
    self,
    random::{self, Rng},
    NDArray,
};
use mlcmp_gluon_engine::{autograd, GradReq};
use tch::{Kind, Tensor};

fn random(rng: &mut Rng, shape: &[usize]) -> Vec<f32> {
    (0..shape.iter().product()).map(|_| (rng.random::<f64>() * 4.0 - 2.0) as f32).collect()
}

fn to_tch(v: &[f32], shape: &[usize]) -> Tensor {
    let s: Vec<i64> = shape.iter().map(|&d| d as i64).collect();
    Tensor::from_slice(v).view(s.as_slice()).set_requires_grad(true)
}

fn vec_of(t: &Tensor) -> Vec<f32> {
    Vec::<f32>::try_from(t.flatten(0, -1).to_kind(Kind::Float)).unwrap()
}

fn max_rel_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "sizes differ");
    let scale = a.iter().fold(1e-6f32, |m, x| m.max(x.abs()));
    a.iter().zip(b).map(|(x, y)| (x - y).abs() / scale).fold(0.0, f32::max)
}

/// Run `g` (gluon) and `t` (tch) on the same inputs with the same head gradient; compare the output
/// and every input gradient.
fn check(
    name: &str,
    shapes: &[&[usize]],
    g: impl Fn(&[NDArray]) -> mlcmp_gluon_engine::Result<NDArray>,
    t: impl Fn(&[Tensor]) -> Tensor,
) {
    let mut rng = random::rng(11);
    let values: Vec<Vec<f32>> = shapes.iter().map(|s| random(&mut rng, s)).collect();
    let gx: Vec<NDArray> =
        values.iter().zip(shapes).map(|(v, s)| NDArray::from_vec(v.clone(), s.to_vec()).unwrap()).collect();
    gx.iter().for_each(|x| x.attach_grad(GradReq::Write));
    let tx: Vec<Tensor> = values.iter().zip(shapes).map(|(v, s)| to_tch(v, s)).collect();

    let gy = autograd::record(|| g(&gx)).unwrap();
    let ty = t(&tx);
    let head = random(&mut rng, &gy.shape());
    assert_eq!(gy.shape().iter().map(|&d| d as i64).collect::<Vec<_>>(), ty.size(), "{name}: output shapes");
    let fwd = max_rel_diff(&gy.to_vec().unwrap(), &vec_of(&ty));
    assert!(fwd < 1e-5, "{name}: forward differs by {fwd:e}");
    gy.backward_with(&NDArray::from_vec(head.clone(), gy.shape()).unwrap()).unwrap();
    (&ty * Tensor::from_slice(&head).view(ty.size().as_slice())).sum(Kind::Float).backward();
    for (i, (a, b)) in gx.iter().zip(&tx).enumerate() {
        let d = max_rel_diff(&a.grad().unwrap().to_vec().unwrap(), &vec_of(&b.grad()));
        assert!(d < 1e-5, "{name}: gradient of input {i} differs by {d:e}");
    }
}

#[test]
fn matmul() {
    check("dot", &[&[128, 784], &[784, 256]], |x| x[0].dot(&x[1]), |x| x[0].matmul(&x[1]));
    check(
        "dot(a, b^T)",
        &[&[128, 784], &[256, 784]],
        |x| nd::dot(&x[0], &x[1], false, true),
        |x| x[0].matmul(&x[1].tr()),
    );
}

#[test]
fn add_with_broadcasting() {
    check("add bias", &[&[128, 256], &[256]], |x| &x[0] + &x[1], |x| &x[0] + &x[1]);
    check("add column", &[&[4, 5], &[4, 1]], |x| &x[0] + &x[1], |x| &x[0] + &x[1]);
}

#[test]
fn relu_log_softmax_pick() {
    check("relu", &[&[64, 256]], |x| x[0].relu(), |x| x[0].relu());
    check("log_softmax", &[&[128, 10]], |x| x[0].log_softmax(), |x| x[0].log_softmax(-1, Kind::Float));
    let labels: Vec<f32> = (0..128).map(|i| (i * 7 % 10) as f32).collect();
    let li: Vec<i64> = labels.iter().map(|&l| l as i64).collect();
    let (gl, tl) = (NDArray::from_vec(labels.clone(), 128).unwrap(), Tensor::from_slice(&li));
    check(
        "pick",
        &[&[128, 10]],
        |x| x[0].pick(&gl),
        |x| x[0].gather(1, &tl.unsqueeze(1), false).squeeze_dim(1),
    );
    check(
        "softmax cross-entropy",
        &[&[128, 10]],
        |x| mlcmp_gluon_engine::loss::SoftmaxCrossEntropyLoss::new().forward(&x[0], &gl)?.mean(None, false),
        |x| x[0].cross_entropy_for_logits(&tl).view([1]),
    );
}

#[test]
fn sum_and_mean() {
    check("sum", &[&[32, 10]], |x| x[0].sum(None, false), |x| x[0].sum(Kind::Float).view([1]));
    check(
        "sum axis 0",
        &[&[32, 10]],
        |x| x[0].sum(Some(&[0]), false),
        |x| x[0].sum_dim_intlist(0, false, Kind::Float),
    );
    check(
        "mean axis 1",
        &[&[32, 10]],
        |x| x[0].mean(Some(&[1]), false),
        |x| x[0].mean_dim(1, false, Kind::Float),
    );
}

#[test]
fn the_whole_mlp_step() {
    let mut rng = random::rng(3);
    let labels: Vec<f32> = (0..128).map(|_| rng.random_range(0..10usize) as f32).collect();
    let li: Vec<i64> = labels.iter().map(|&l| l as i64).collect();
    let (gl, tl) = (NDArray::from_vec(labels, 128).unwrap(), Tensor::from_slice(&li));
    check(
        "mlp loss",
        &[&[128, 784], &[256, 784], &[256], &[10, 256], &[10]],
        |x| {
            let h = (nd::dot(&x[0], &x[1], false, true)? + &x[2])?.relu()?;
            let o = (nd::dot(&h, &x[3], false, true)? + &x[4])?;
            mlcmp_gluon_engine::loss::SoftmaxCrossEntropyLoss::new().forward(&o, &gl)?.mean(None, false)
        },
        |x| {
            let h = x[0].linear(&x[1], Some(&x[2])).relu();
            h.linear(&x[3], Some(&x[4])).cross_entropy_for_logits(&tl).view([1])
        },
    );
}

#[test]
fn convolution_and_pooling_as_lenet_uses_them() {
    use mlcmp_gluon_engine::nn::Act;
    let win = |k: usize, pad: usize| nd::Window { kernel: (k, k), stride: (1, 1), pad: (pad, pad) };
    check(
        "convolution 5x5 pad 2, sigmoid",
        &[&[16, 1, 28, 28], &[6, 1, 5, 5], &[6]],
        |x| nd::convolution(&x[0], &x[1], Some(&x[2]), win(5, 2), Some(Act::Sigmoid)),
        |x| x[0].conv2d(&x[1], Some(&x[2]), [1, 1], [2, 2], [1, 1], 1).sigmoid(),
    );
    check(
        "convolution 5x5 from 6 channels",
        &[&[16, 6, 14, 14], &[16, 6, 5, 5], &[16]],
        |x| nd::convolution(&x[0], &x[1], Some(&x[2]), win(5, 0), None),
        |x| x[0].conv2d(&x[1], Some(&x[2]), [1, 1], [0, 0], [1, 1], 1),
    );
    check(
        "convolution 3x3 stride 2",
        &[&[4, 3, 9, 8], &[5, 3, 3, 3]],
        |x| {
            nd::convolution(
                &x[0],
                &x[1],
                None,
                nd::Window { kernel: (3, 3), stride: (2, 2), pad: (1, 1) },
                None,
            )
        },
        |x| x[0].conv2d::<Tensor>(&x[1], None, [2, 2], [1, 1], [1, 1], 1),
    );
    let pool = nd::Window { kernel: (2, 2), stride: (2, 2), pad: (0, 0) };
    check(
        "average pooling 2/2",
        &[&[16, 6, 28, 28]],
        |x| nd::pooling(&x[0], pool, nd::PoolKind::Avg),
        |x| x[0].avg_pool2d([2, 2], [2, 2], [0, 0], false, true, None::<i64>),
    );
    check(
        "max pooling 2/2",
        &[&[16, 6, 28, 28]],
        |x| nd::pooling(&x[0], pool, nd::PoolKind::Max),
        |x| x[0].max_pool2d([2, 2], [2, 2], [0, 0], [1, 1], false),
    );
}
