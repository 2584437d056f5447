//! `hybridize()`: the planned executor gives the imperative results, forward and gradients.

use mlcmp_gluon_engine::nd::{self, NDArray};
use mlcmp_gluon_engine::nn::{self, Block};
use mlcmp_gluon_engine::{autograd, loss, GradReq, Init, Trainer};

fn close(a: &NDArray, b: &NDArray, what: &str) {
    let (a, b) = (a.to_vec().unwrap(), b.to_vec().unwrap());
    assert_eq!(a.len(), b.len(), "{what}");
    let scale = a.iter().fold(1e-6f32, |m, x| m.max(x.abs()));
    for (x, y) in a.iter().zip(&b) {
        assert!((x - y).abs() <= 1e-5 * scale, "{what}: {x} vs {y}");
    }
}

fn net(separate_act: bool) -> nn::Sequential {
    let net = nn::Sequential::new();
    net.name_scope(|| {
        if separate_act {
            net.add(nn::Dense::new(16));
            net.add(nn::Activation::new("relu").unwrap());
        } else {
            net.add(nn::Dense::new(16).activation("relu"));
        }
        net.add(nn::Dense::new(8).activation("tanh"));
        net.add(nn::Dense::new(8).activation("sigmoid").use_bias(false));
        net.add(nn::Dense::new(3));
    });
    net
}

#[test]
fn planned_matches_imperative() {
    for separate_act in [false, true] {
        let x = nd::random::uniform(-1.0, 1.0, (5, 2, 3, 2)); // flattened to 12 features
        let y = nd::array(&[0.0, 2.0, 1.0, 1.0, 0.0]);
        plans_like_imperative(
            || net(separate_act),
            x,
            y,
            &format!("mlp, separate activation {separate_act}"),
        );
    }
}

#[test]
fn the_data_gets_no_gradient_unless_asked_and_stale_backward_is_an_error() {
    let n = net(false);
    n.initialize().unwrap();
    n.hybridize();
    let x = nd::random::uniform(-1.0, 1.0, (4, 12));
    n.forward(&x).unwrap();
    let out = autograd::record(|| n.forward(&x)).unwrap();
    out.backward().unwrap();
    assert!(x.grad().is_err(), "no attach_grad, no gradient");
    let first = autograd::record(|| n.forward(&x)).unwrap();
    let _second = autograd::record(|| n.forward(&x)).unwrap();
    let e = first.backward().unwrap_err();
    assert!(e.to_string().contains("ran forward again before this backward"), "{e}");
}

#[test]
fn blocks_that_cannot_be_planned_stay_imperative() {
    let n = nn::Sequential::new();
    n.add(nn::Activation::new("tanh").unwrap()); // nothing to fuse it into
    n.add(nn::Dense::new(2));
    n.initialize().unwrap();
    n.hybridize();
    let x = nd::ones((3, 4));
    let a = n.forward(&x).unwrap();
    let b = n.forward(&x).unwrap();
    assert!(!n.is_planned());
    close(&a, &b, "imperative both times");
}

#[test]
fn an_evaluation_between_forward_and_backward_leaves_the_backward_intact() {
    nd::random::seed(9);
    let (a, b) = (net(false), net(false));
    a.initialize().unwrap();
    b.initialize().unwrap();
    let x = nd::random::uniform(-1.0, 1.0, (4, 12));
    a.forward(&x).unwrap();
    b.forward(&x).unwrap();
    for (pa, pb) in a.collect_params().iter().zip(b.collect_params().iter()) {
        pb.set_data(&pa.data().unwrap()).unwrap();
    }
    b.hybridize();
    b.forward(&x).unwrap(); // plans
    let la = autograd::record(|| a.forward(&x)).unwrap();
    let lb = autograd::record(|| b.forward(&x)).unwrap();
    // Predict-mode evaluation on other data before the backward (outside record).
    let other = nd::random::uniform(-1.0, 1.0, (7, 12));
    close(&b.forward(&other).unwrap(), &a.forward(&other).unwrap(), "evaluation output");
    la.backward().unwrap();
    lb.backward().unwrap();
    for (pa, pb) in a.collect_params().iter().zip(b.collect_params().iter()) {
        close(&pa.grad().unwrap(), &pb.grad().unwrap(), pb.name());
    }
}

#[test]
fn a_layer_added_after_hybridize_is_not_skipped() {
    let n = nn::Sequential::new();
    n.add(nn::Dense::new(5).activation("relu"));
    n.initialize().unwrap();
    n.hybridize();
    let x = nd::ones((2, 3));
    assert_eq!(n.forward(&x).unwrap().shape(), vec![2, 5]);
    assert_eq!(n.forward(&x).unwrap().shape(), vec![2, 5]);
    assert!(n.is_planned());
    n.add(nn::Dense::new(4));
    n.initialize().unwrap();
    assert_eq!(n.forward(&x).unwrap().shape(), vec![2, 4], "the new layer runs (imperative call)");
    assert_eq!(n.forward(&x).unwrap().shape(), vec![2, 4], "and is part of the new plan");
    assert!(n.is_planned());
}

/// Hybridized against imperative on the same weights: loss, input gradient and every parameter's
/// gradient over three training steps.
fn plans_like_imperative(make: impl Fn() -> nn::Sequential, x: NDArray, y: NDArray, what: &str) {
    nd::random::seed(5);
    let (a, b) = (make(), make());
    a.initialize_with(&Init::xavier(), false).unwrap();
    b.initialize_with(&Init::xavier(), false).unwrap();
    a.forward(&x).unwrap();
    b.forward(&x).unwrap();
    for (pa, pb) in a.collect_params().iter().zip(b.collect_params().iter()) {
        pb.set_data(&pa.data().unwrap()).unwrap();
    }
    b.hybridize();
    let ce = loss::SoftmaxCrossEntropyLoss::new();
    for call in 0..3 {
        let (xa, xb) = (x.detach(), x.detach());
        xa.attach_grad(GradReq::Write);
        xb.attach_grad(GradReq::Write);
        let la = autograd::record(|| ce.forward(&a.forward(&xa)?, &y)).unwrap();
        let lb = autograd::record(|| ce.forward(&b.forward(&xb)?, &y)).unwrap();
        assert!(b.is_planned(), "{what}: planned after the first call");
        close(&la, &lb, &format!("{what} call {call}: loss"));
        la.backward().unwrap();
        lb.backward().unwrap();
        close(&xa.grad().unwrap(), &xb.grad().unwrap(), &format!("{what}: input gradient"));
        assert_eq!(xb.grad().unwrap().shape(), x.shape(), "{what}: the input's gradient has its shape");
        for (pa, pb) in a.collect_params().iter().zip(b.collect_params().iter()) {
            close(&pa.grad().unwrap(), &pb.grad().unwrap(), &format!("{what}: {}", pb.name()));
        }
        close(&b.forward(&x).unwrap(), &a.forward(&x).unwrap(), &format!("{what}: predict mode"));
        // Train both a step so the next call checks fresh weights too.
        let n = x.shape()[0];
        Trainer::new(a.collect_params(), "sgd", &[("learning_rate", 0.5)]).unwrap().step(n).unwrap();
        Trainer::new(b.collect_params(), "sgd", &[("learning_rate", 0.5)]).unwrap().step(n).unwrap();
    }
}

#[test]
fn convolution_networks_plan_like_imperative() {
    let x = nd::random::uniform(0.0, 1.0, (4, 1, 12, 12));
    let y = nd::array(&[0.0, 2.0, 1.0, 1.0]);
    // LeNet's shape: sigmoid convolutions with average pooling fused in, Flatten, dense layers.
    let lenet = || {
        let net = nn::Sequential::new();
        net.name_scope(|| {
            net.add(nn::Conv2D::new(3, 5).padding(2).activation("sigmoid"));
            net.add(nn::AvgPool2D::new(2).strides(2));
            net.add(nn::Conv2D::new(4, 3).activation("tanh"));
            net.add(nn::MaxPool2D::new(2));
            net.add(nn::Flatten::new());
            net.add(nn::Dense::new(6).activation("sigmoid"));
            net.add(nn::Dense::new(3));
        });
        net
    };
    plans_like_imperative(lenet, x.clone(), y.clone(), "lenet-like");
    // A separate activation fused into its convolution, an overlapping padded pooling (the general
    // path), a standalone pooling after a pooling, a strided convolution without bias or activation
    // and a pooling fused into it (the lowering with a column per output position).
    let other = || {
        let net = nn::Sequential::new();
        net.name_scope(|| {
            net.add(nn::Conv2D::new(2, (3, 2)));
            net.add(nn::Activation::new("relu").unwrap());
            net.add(nn::MaxPool2D::new(3).strides(1).padding(1));
            net.add(nn::AvgPool2D::new(2));
            net.add(nn::Conv2D::new(3, 2).strides(2).use_bias(false));
            net.add(nn::MaxPool2D::new(2));
            net.add(nn::Dense::new(3));
        });
        net
    };
    plans_like_imperative(other, x.clone(), y.clone(), "strided");
    // Pooling that leaves the last row and column of an 11x11 convolution output uncovered: their
    // gradient is zero in every sample, not what the sample before left there.
    let uncovered = || {
        let net = nn::Sequential::new();
        net.name_scope(|| {
            net.add(nn::Conv2D::new(2, 2).activation("sigmoid"));
            net.add(nn::AvgPool2D::new(2));
            net.add(nn::Dense::new(3));
        });
        net
    };
    plans_like_imperative(uncovered, x, y, "uncovered");
}
