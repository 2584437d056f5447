//! Saved weights: `train --save-params`, `--load-params` and `eval`, for gluon (MXNet's `.params`
//! format, proven against real MXNet 1.9.1 both ways) and torch (a libtorch VarStore). The MXNet
//! files are made by real MXNet in the test run. Where setup could not install MXNet, those checks
//! say SKIPPED with setup's reason.

use mlcmp_backend_frameworks::Framework;
use mlcmp_core::recipe::Recipe;
use mlcmp_gluon_engine::data::Dataset;
use mlcmp_gluon_engine::nn::{Block, LoadOptions};
mod common;

use common::{mlcmp, text};
use std::path::Path;
use std::process::Command;

/// The accuracy after "test acc " in a line of mlcmp's output.
fn test_acc(out: &str) -> String {
    let at = out.rfind("test acc ").unwrap_or_else(|| panic!("no test acc in {out}"));
    out[at + 9..].split(['%', ',']).next().unwrap().to_string()
}

/// The article's network in real MXNet: load our file and write the logits of `x`, or initialise,
/// save both kinds of file MXNet writes, and write the logits.
const MXNET_SIDE: &str = r#"
import sys, numpy as np, mxnet as mx
from mxnet import gluon, nd
mode, x_path, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
net = gluon.nn.Sequential()
with net.name_scope():
    net.add(gluon.nn.Dense(256, activation='relu'))
    net.add(gluon.nn.Dense(10))
x = nd.array(np.fromfile(x_path, dtype='<f4').reshape(n, 784))
if mode == 'load':
    net.load_parameters(sys.argv[4])
else:
    mx.random.seed(3)
    net.initialize(mx.init.Xavier(magnitude=3))
    net(x)
    net.save_parameters(sys.argv[4])
    net.collect_params().save(sys.argv[5])
net(x).asnumpy().astype('<f4').tofile(x_path + '.logits')
"#;

fn mxnet(python: &Path, args: &[&str]) {
    let o = Command::new(python).arg("-c").arg(MXNET_SIDE).args(args).output().unwrap();
    assert!(o.status.success(), "MXNet: {}", text(&o).1);
}

fn read_f32(path: &Path) -> Vec<f32> {
    std::fs::read(path).unwrap().chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect()
}

fn argmax_rows(v: &[f32]) -> Vec<usize> {
    v.chunks(10).map(|r| (0..10).max_by(|&a, &b| r[a].total_cmp(&r[b])).unwrap()).collect()
}

/// Largest |a - b| over the logits, relative to the largest |logit| (1.0 at least).
fn logit_gap(a: &[f32], b: &[f32]) -> f64 {
    assert_eq!(a.len(), b.len());
    let scale = a.iter().fold(1.0f32, |m, v| m.max(v.abs())) as f64;
    a.iter().zip(b).map(|(x, y)| (x - y).abs() as f64).fold(0.0, f64::max) / scale
}

/// The only test here that builds engine networks: their names (`sequential0_...`) count per
/// process, and the full-name check needs the first one to match MXNet's.
#[test]
fn gluon_weights_move_both_ways_with_real_mxnet() {
    let python = match Framework::Mxnet.python() {
        Ok(p) => p,
        Err(why) => return eprintln!("SKIPPED: MXNet is unavailable here: {why}"),
    };
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name);
    let s = |name: &str| p(name).to_str().unwrap().to_string();
    let net = mlcmp_backend_gluon::mlp(&Recipe::article().model()); // sequential0_, as in MXNet

    // The test set as our pipeline normalises it, for both sides.
    let r = Recipe::article();
    let data = mlcmp_core::driver::load_data(&mlcmp_data::default_dir(), None).unwrap();
    let test = mlcmp_backend_gluon::dataset(&data.test, r.mean, r.std).unwrap();
    let idx: Vec<usize> = (0..test.len()).collect();
    let (x, y) = test.get_batch(&idx).unwrap();
    let n = idx.len();
    let x_values = x.to_vec().unwrap();
    std::fs::write(p("x.f32"), x_values.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>()).unwrap();
    let labels: Vec<usize> = y.to_vec().unwrap().iter().map(|&l| l as usize).collect();
    let accuracy = |logits: &[f32]| {
        argmax_rows(logits).iter().zip(&labels).filter(|(a, b)| a == b).count() as f64 / n as f64
    };
    let ours = |net: &mlcmp_gluon_engine::nn::Sequential| {
        let out = mlcmp_gluon_engine::autograd::predict_mode(|| net.forward(&x)).unwrap();
        out.to_vec().unwrap()
    };

    // 1. mlcmp trains and saves; MXNet loads the file into the article's network.
    let o = mlcmp(&[
        "train",
        "--backend",
        "gluon",
        "--limit",
        "6000",
        "--epochs",
        "1",
        "--save-params",
        &s("w.params"),
    ]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(out.contains(&format!("weights saved to {}", s("w.params"))), "{out}");
    mxnet(&python, &["load", &s("x.f32"), &n.to_string(), &s("w.params")]);
    let theirs = read_f32(&p("x.f32.logits"));
    let fresh = mlcmp_backend_gluon::mlp(&r.model());
    fresh.load_parameters(p("w.params"), LoadOptions::default()).unwrap();
    let mine = ours(&fresh);
    let gap = logit_gap(&mine, &theirs);
    eprintln!(
        "our file in MXNet: logits apart by {gap:.2e} of the largest; accuracy {} vs {}",
        accuracy(&mine),
        accuracy(&theirs)
    );
    assert!(gap < 1e-6, "logits differ by {gap:.2e} of the largest");
    assert_eq!(accuracy(&mine), accuracy(&theirs));
    // mlcmp eval reports what MXNet computes (and what train printed for the 10,000 test samples
    // is over --limit's 6,000, so compare eval with MXNet).
    let o = mlcmp(&["eval", "--backend", "gluon", "--params", &s("w.params")]);
    assert!(o.status.success(), "{}", text(&o).1);
    assert_eq!(test_acc(&text(&o).0), format!("{:.2}", 100.0 * accuracy(&theirs)));

    // 2. MXNet initialises and saves both kinds of file; our engine loads each.
    mxnet(&python, &["save", &s("x.f32"), &n.to_string(), &s("mx.params"), &s("mx-full.params")]);
    let theirs = read_f32(&p("x.f32.logits"));
    let structural = mlcmp_backend_gluon::mlp(&r.model());
    structural.load_parameters(p("mx.params"), LoadOptions::default()).unwrap();
    net.collect_params().load(p("mx-full.params"), LoadOptions::default(), "").unwrap();
    for (what, mine) in [("save_parameters", ours(&structural)), ("collect_params().save", ours(&net))] {
        let gap = logit_gap(&mine, &theirs);
        eprintln!("MXNet's {what} file here: logits apart by {gap:.2e}");
        assert!(gap < 1e-6, "{what}: logits differ by {gap:.2e} of the largest");
        assert_eq!(accuracy(&mine), accuracy(&theirs), "{what}");
    }
    // mlcmp eval reads both too (a process's first network has MXNet's full names).
    for file in ["mx.params", "mx-full.params"] {
        let o = mlcmp(&["eval", "--backend", "gluon", "--params", &s(file)]);
        assert!(o.status.success(), "{file}: {}", text(&o).1);
        assert_eq!(test_acc(&text(&o).0), format!("{:.2}", 100.0 * accuracy(&theirs)), "{file}");
    }
}

#[test]
fn torch_saves_its_var_store_and_both_backends_start_from_saved_weights() {
    let dir = tempfile::tempdir().unwrap();
    let s = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    let run = ["--limit", "3000", "--epochs", "1"];
    for (backend, file) in [("torch", "w.ot"), ("gluon", "w.params")] {
        let o = mlcmp(&[&["train", "--backend", backend, "--save-params", &s(file)], &run[..]].concat());
        let (out, err) = text(&o);
        assert!(o.status.success(), "{backend}: {err}");
        // Evaluated on the same 3,000 test samples, the saved weights give what training printed.
        let o = mlcmp(&["eval", "--backend", backend, "--params", &s(file), "--limit", "3000", "--train"]);
        let (eval, err) = text(&o);
        assert!(o.status.success(), "{backend}: {err}");
        assert_eq!(test_acc(&eval), test_acc(&out), "{backend}: {eval} vs {out}");
        let train_acc =
            |t: &str| t[t.rfind("train acc ").unwrap() + 10..].split('%').next().unwrap().to_string();
        assert_eq!(train_acc(&eval), train_acc(&out), "{backend}");
        // Starting from them, the next epoch's loss is below a fresh first epoch's.
        let o = mlcmp(&[&["train", "--backend", backend, "--load-params", &s(file)], &run[..]].concat());
        let (again, err) = text(&o);
        assert!(o.status.success(), "{backend}: {err}");
        let loss = |t: &str| {
            t[t.find("avg loss ").unwrap() + 9..].split(',').next().unwrap().parse::<f64>().unwrap()
        };
        assert!(loss(&again) < 0.8 * loss(&out), "{backend}: {again} vs {out}");
        // An existing file is replaced only with --force.
        let o = mlcmp(&[&["train", "--backend", backend, "--save-params", &s(file)], &run[..]].concat());
        assert_eq!(o.status.code(), Some(2), "{backend}");
        assert!(text(&o).1.contains("exists; pass --force"), "{}", text(&o).1);
    }
}

#[test]
fn weight_files_in_the_wrong_format_or_place_are_refused_before_training() {
    let dir = tempfile::tempdir().unwrap();
    let s = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    let cases: [(&[&str], &str); 6] = [
        (
            &["train", "--backend", "torch", "--save-params", "w.params"],
            "the torch backend's weights are a libtorch VarStore (.ot); name the file w.ot",
        ),
        (
            &["train", "--backend", "gluon", "--save-params", "w.ot"],
            "the gluon backend's weights are MXNet's .params format; name the file w.params",
        ),
        (
            &["train", "--backend", "candle", "--save-params", "w.params"],
            "the candle backend cannot save or load weights",
        ),
        (
            &["train", "--backend", "gluon", "--load-params", "/nonexistent/w.params"],
            "--load-params: /nonexistent/w.params: cannot read the weights file",
        ),
        (
            &["train", "--backend", "gluon", "--load-params", "w.params", "--init", "shared"],
            "cannot go with --init shared",
        ),
        (&["eval", "--backend", "torch", "--params", "w.params"], "name the file w.ot"),
    ];
    for (args, want) in cases {
        let o = mlcmp(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        let err = text(&o).1;
        assert!(err.contains(want) && err.lines().count() == 1, "{args:?}: {err}");
    }
    // A damaged file: one line naming the file and what is wrong, exit 2, nothing trained.
    std::fs::write(s("bad.params"), b"\x12\x01\0\0\0\0\0\0\0\0\0\0\0\0\0\0\x05").unwrap();
    for args in [
        vec!["eval", "--backend", "gluon", "--params", &s("bad.params")],
        vec![
            "train",
            "--backend",
            "gluon",
            "--epochs",
            "1",
            "--limit",
            "500",
            "--load-params",
            &s("bad.params"),
        ],
    ] {
        let o = mlcmp(&args);
        let (out, err) = text(&o);
        assert!(err.contains("bad.params: truncated"), "{err}");
        assert!(!out.contains("epoch 0"), "nothing trained: {out}");
        assert_ne!(o.status.code(), Some(0));
    }
}
