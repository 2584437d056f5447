//! Every differentiable op against central finite differences, on random inputs and shapes.
use rand::Rng as _;

use mlcmp_gluon_engine::nd::{
    self,
    random::{self, Rng},
    NDArray,
};
use mlcmp_gluon_engine::{autograd, GradReq, Result};

fn rand_array(rng: &mut Rng, shape: &[usize], lo: f64, hi: f64) -> NDArray {
    let v = (0..shape.iter().product()).map(|_| (lo + (hi - lo) * rng.random::<f64>()) as f32).collect();
    NDArray::from_vec(v, shape.to_vec()).unwrap()
}

/// Compare d(sum(f(x) * r))/dx from backward with central differences, for every input.
fn check(name: &str, inputs: &[NDArray], f: impl Fn(&[NDArray]) -> Result<NDArray>) {
    let mut rng = random::rng(7);
    for x in inputs {
        x.attach_grad(GradReq::Write);
    }
    let out_shape = f(inputs).unwrap().shape();
    let r = rand_array(&mut rng, &out_shape, 0.5, 1.5);
    let objective = |xs: &[NDArray]| -> f64 {
        let y = f(xs).unwrap().to_vec().unwrap();
        y.iter().zip(r.to_vec().unwrap()).map(|(a, b)| *a as f64 * b as f64).sum()
    };
    let y = autograd::record(|| f(inputs)).unwrap();
    y.backward_with(&r).unwrap();
    for (k, x) in inputs.iter().enumerate() {
        let analytic = x.grad().unwrap().to_vec().unwrap();
        let base = x.to_vec().unwrap();
        let eps = 1e-2f32;
        for i in 0..base.len() {
            let at = |d: f32| {
                let mut v = base.clone();
                v[i] += d;
                let mut xs = inputs.to_vec();
                xs[k] = NDArray::from_vec(v, x.shape()).unwrap();
                objective(&xs)
            };
            let numeric = (at(eps) - at(-eps)) / (2.0 * eps as f64);
            let a = analytic[i] as f64;
            let tol = 2e-3 + 2e-2 * numeric.abs();
            assert!(
                (a - numeric).abs() <= tol,
                "{name}: input {k} element {i}: backward {a} vs finite difference {numeric}"
            );
        }
    }
}

fn arrays(shapes: &[&[usize]], lo: f64, hi: f64) -> Vec<NDArray> {
    let mut rng = random::rng(shapes.len() as u64 * 31 + shapes[0].len() as u64);
    shapes.iter().map(|s| rand_array(&mut rng, s, lo, hi)).collect()
}

#[test]
fn binary_ops_with_broadcasting() {
    for shapes in
        [[&[3usize, 4][..], &[3, 4][..]], [&[3, 4], &[4]], [&[3, 1], &[1, 4]], [&[2, 3, 4], &[3, 1]]]
    {
        let xs = arrays(&shapes, -2.0, 2.0);
        check("add", &xs, |x| &x[0] + &x[1]);
        check("sub", &xs, |x| &x[0] - &x[1]);
        check("mul", &xs, |x| &x[0] * &x[1]);
        let ys = arrays(&shapes, 0.5, 2.0);
        check("div", &ys, |x| &x[0] / &x[1]);
    }
}

#[test]
fn scalar_and_unary_ops() {
    let xs = arrays(&[&[3, 5]], -2.0, 2.0);
    check("affine", &xs, |x| (&x[0] * 3.0)? + 1.0);
    check("rsub", &xs, |x| 2.0 - &x[0]);
    check("neg", &xs, |x| -&x[0]);
    check("exp", &xs, |x| x[0].exp());
    check("sigmoid", &xs, |x| x[0].sigmoid());
    check("tanh", &xs, |x| x[0].tanh());
    check("softmax", &xs, |x| x[0].softmax());
    check("log_softmax", &xs, |x| x[0].log_softmax());
    let pos = arrays(&[&[4, 3]], 0.5, 3.0);
    check("log", &pos, |x| x[0].log());
    check("sqrt", &pos, |x| x[0].sqrt());
    check("pow", &pos, |x| x[0].pow(2.5));
    check("rdiv", &pos, |x| 2.0 / &x[0]);
    // relu away from its kink
    let v: Vec<f32> =
        (0..12).map(|i| if i % 2 == 0 { 0.3 + i as f32 * 0.1 } else { -0.4 - i as f32 * 0.1 }).collect();
    check("relu", &[NDArray::from_vec(v, (3, 4)).unwrap()], |x| x[0].relu());
}

#[test]
fn dot_with_transposes() {
    let (m, k, n) = (3, 4, 5);
    for (ta, tb) in [(false, false), (false, true), (true, false), (true, true)] {
        let a: &[usize] = if ta { &[k, m] } else { &[m, k] };
        let b: &[usize] = if tb { &[n, k] } else { &[k, n] };
        let xs = arrays(&[a, b], -1.0, 1.0);
        check("dot", &xs, |x| nd::dot(&x[0], &x[1], ta, tb));
    }
}

#[test]
fn reductions_and_shape_ops() {
    let xs = arrays(&[&[2, 3, 4]], -2.0, 2.0);
    check("sum all", &xs, |x| x[0].sum(None, false));
    check("sum axis 1", &xs, |x| x[0].sum(Some(&[1]), false));
    check("sum axes 0,2 keepdims", &xs, |x| x[0].sum(Some(&[0, -1]), true));
    check("mean axis -1", &xs, |x| x[0].mean(Some(&[-1]), false));
    check("mean all", &xs, |x| x[0].mean(None, false));
    check("max axis 2", &xs, |x| x[0].max(Some(&[2]), false));
    check("reshape", &xs, |x| x[0].reshape((4, ())));
    check("flatten", &xs, |x| x[0].flatten());
    check("transpose", &xs, |x| x[0].transpose_axes(&[2, 0, 1]));
    check("T", &arrays(&[&[3, 5]], -1.0, 1.0), |x| x[0].transpose());
}

#[test]
fn pick_and_losses() {
    let xs = arrays(&[&[4, 6]], -3.0, 3.0);
    let label = nd::array(&[5.0, 0.0, 2.0, 2.0]);
    check("pick", &xs, |x| x[0].pick(&label));
    check("softmax cross-entropy", &xs, |x| {
        mlcmp_gluon_engine::loss::SoftmaxCrossEntropyLoss::new().forward(&x[0], &label)
    });
    check("composed -pick(log_softmax)", &xs, |x| x[0].log_softmax()?.pick(&label)?.neg());
    let ys = arrays(&[&[4, 6], &[4, 6]], -1.0, 1.0);
    check("L2Loss", &ys, |x| mlcmp_gluon_engine::loss::L2Loss::new().forward(&x[0], &x[1]));
}

#[test]
fn fused_cross_entropy_equals_composition() {
    let x = arrays(&[&[5, 10]], -4.0, 4.0).remove(0);
    let label = nd::array(&[1.0, 9.0, 0.0, 3.0, 3.0]);
    let fused = nd::softmax_cross_entropy(&x, &label).unwrap().to_vec().unwrap();
    let composed = x.log_softmax().unwrap().pick(&label).unwrap().neg().unwrap().to_vec().unwrap();
    for (a, b) in fused.iter().zip(&composed) {
        assert!((a - b).abs() < 1e-5, "{fused:?} vs {composed:?}");
    }
}

#[test]
fn a_graph_that_reuses_a_value() {
    // y = x*x + x: x feeds three edges, gradients must sum: 2x + 1
    let xs = arrays(&[&[6]], -1.0, 1.0);
    check("reuse", &xs, |x| (&x[0] * &x[0])? + &x[0]);
}

#[test]
fn fully_connected_with_each_activation() {
    use mlcmp_gluon_engine::nn::Act;
    for act in [None, Some(Act::Relu), Some(Act::Sigmoid), Some(Act::Tanh), Some(Act::SoftRelu)] {
        let xs = arrays(&[&[4, 5], &[3, 5], &[3]], -1.5, 1.5);
        check(&format!("fully_connected {act:?}"), &xs, |x| {
            nd::fully_connected(&x[0], &x[1], Some(&x[2]), act)
        });
        let ys = arrays(&[&[4, 5], &[3, 5]], -1.5, 1.5);
        check(&format!("fully_connected no bias {act:?}"), &ys, |x| {
            nd::fully_connected(&x[0], &x[1], None, act)
        });
    }
}

#[test]
fn convolution_with_padding_strides_and_activations() {
    use mlcmp_gluon_engine::nn::Act;
    // Stride 1 (lowered on the padded grid) with and without padding, and other strides (im2col).
    let cases = [
        ((3, 3), (1, 1), (1, 1)),
        ((2, 3), (2, 1), (0, 2)),
        ((5, 5), (1, 1), (2, 2)),
        ((3, 2), (1, 1), (0, 0)),
        ((2, 3), (1, 1), (1, 0)),
    ];
    for (kernel, stride, pad) in cases {
        let win = nd::Window { kernel, stride, pad };
        for act in [None, Some(Act::Sigmoid), Some(Act::Tanh)] {
            let xs = arrays(&[&[2, 2, 5, 6], &[3, 2, kernel.0, kernel.1], &[3]], -1.0, 1.0);
            check(&format!("convolution {win:?} {act:?}"), &xs, |x| {
                nd::convolution(&x[0], &x[1], Some(&x[2]), win, act)
            });
        }
        let ys = arrays(&[&[1, 3, 6, 5], &[2, 3, kernel.0, kernel.1]], -1.0, 1.0);
        check(&format!("convolution no bias {win:?}"), &ys, |x| {
            nd::convolution(&x[0], &x[1], None, win, None)
        });
    }
}

#[test]
fn pooling_average_and_max() {
    use nd::PoolKind;
    for (kernel, stride, pad) in
        [((2, 2), (2, 2), (0, 0)), ((3, 2), (1, 2), (1, 1)), ((3, 3), (2, 2), (1, 0))]
    {
        let win = nd::Window { kernel, stride, pad };
        // Distinct values a finite-difference step apart, so each window has one maximum.
        let mut v: Vec<f32> = (0..2 * 3 * 7 * 6).map(|i| ((i * 37) % 252) as f32 * 0.05 - 6.0).collect();
        v.reverse();
        let x = NDArray::from_vec(v, (2, 3, 7, 6)).unwrap();
        for kind in [PoolKind::Avg, PoolKind::Max] {
            check(&format!("pooling {kind:?} {win:?}"), std::slice::from_ref(&x), |x| {
                nd::pooling(&x[0], win, kind)
            });
        }
    }
}
