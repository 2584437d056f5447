//! The real frameworks running the article's code (`pytorch`, `mxnet`): a small slice end to end,
//! and each Rust port against its framework from shared weights and batches. Where setup could
//! not install a framework these tests say SKIPPED with setup's reason; where it did, they run.

mod common;

use mlcmp_backend_frameworks::Framework;

/// None when the framework is installed; else setup's reason, printed loudly.
fn skipped(fw: Framework) -> bool {
    match fw.python() {
        Ok(_) => false,
        Err(why) => {
            eprintln!("SKIPPED: the {} backend is unavailable here: {why}", fw.name());
            true
        }
    }
}

fn compare(args: &[&str]) -> serde_json::Value {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("r.json");
    let o = common::mlcmp_cmd()
        .args(["compare", "--no-save", "--json", json.to_str().unwrap()])
        .args(args)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap()
}

#[test]
fn the_articles_code_runs_on_both_frameworks() {
    if skipped(Framework::Pytorch) || skipped(Framework::Mxnet) {
        return;
    }
    let v = compare(&["--backends", "pytorch,mxnet", "--limit", "4000", "--epochs", "1"]);
    for r in v["runs"].as_array().unwrap() {
        assert_eq!(r["status"], "ok", "{r}");
        // The Python process's own peak memory: importing either framework alone takes > 100 MB.
        assert!(r["peak_rss_mb"].as_f64().unwrap() > 100.0, "{}", r["peak_rss_mb"]);
        let e = &r["epochs"][0];
        assert!(e["test_acc"].as_f64().unwrap() > 0.7, "{} {e}", r["backend"]);
        assert!(e["phases"]["data_s"].as_f64().unwrap() > 0.0, "phases measured: {e}");
        assert_eq!(e["batches"], 32);
    }
}

#[test]
fn each_port_is_at_the_rounding_floor_of_its_framework() {
    if skipped(Framework::Pytorch) || skipped(Framework::Mxnet) {
        return;
    }
    // 100 batches of the article's recipe from shared weights and batches.
    let v = compare(&["--backends", "all", "--init", "shared", "--epochs", "1", "--limit", "12800"]);
    let pairs = v["parities"].as_array().unwrap();
    let get = |a: &str, b: &str| {
        pairs.iter().find(|p| p["a"] == a && p["b"] == b).unwrap_or_else(|| panic!("{a} vs {b} in {pairs:?}"))
    };
    // torch and PyTorch run the same libtorch kernels: the same numbers, bit for bit.
    let tp = &get("torch", "pytorch")["parity"];
    assert_eq!(tp["max_batch_loss_diff"].as_f64(), Some(0.0), "{tp}");
    assert_eq!(tp["max_weight_diff"].as_f64(), Some(0.0), "{tp}");
    // gluon and MXNet: at the f32 floor (measured here 0.9x and 0.8x of it).
    let gm = &get("gluon", "mxnet")["parity"];
    let f = &gm["floor"];
    for k in ["max_batch_loss_diff", "max_weight_diff"] {
        let (gap, floor) = (gm[k].as_f64().unwrap(), f[k].as_f64().unwrap());
        assert!(floor > 1e-6, "the floor rerun has grown to the rounding scale: {f}");
        eprintln!("{k}: gluon vs mxnet {gap:.2e}, floor {floor:.2e}");
        assert!(gap < 2.0 * floor, "{k}: gluon vs mxnet {gap:.2e}, floor {floor:.2e}");
    }
    assert_eq!(gm["batches_compared"], 100);
}

#[test]
fn d2ls_lenet_on_both_frameworks_computes_the_ports_function() {
    if skipped(Framework::Pytorch) || skipped(Framework::Mxnet) {
        return;
    }
    let lenet = concat!(env!("CARGO_MANIFEST_DIR"), "/../configs/lenet.json");
    // 20 batches of d2l's LeNet from shared (Xavier) weights, through both ports and d2l's code.
    let v = compare(&[
        "--config",
        lenet,
        "--backends",
        "torch,gluon,pytorch,mxnet",
        "--init",
        "shared",
        "--epochs",
        "1",
        "--limit",
        "5120",
    ]);
    for r in v["runs"].as_array().unwrap() {
        assert_eq!(r["status"], "ok", "{r}");
        assert_eq!(r["epochs"][0]["batches"], 20, "{}", r["backend"]);
    }
    let pairs = v["parities"].as_array().unwrap();
    for (a, b) in [("torch", "pytorch"), ("gluon", "mxnet"), ("torch", "gluon")] {
        let p = &pairs.iter().find(|p| p["a"] == a && p["b"] == b).unwrap_or_else(|| panic!("{a} vs {b}"))
            ["parity"];
        let (l, w) = (p["max_batch_loss_diff"].as_f64().unwrap(), p["max_weight_diff"].as_f64().unwrap());
        eprintln!("{a} vs {b}: batch loss {l:.2e}, weights {w:.2e}");
        // Measured on an Intel Xeon: torch vs PyTorch 0 and 0 (the same libtorch kernels), gluon
        // vs MXNet 4.3e-6 and 1.7e-6, torch vs gluon 4.8e-7 and 8.7e-8: f32 rounding of a loss of
        // 2.3 and of weights up to 0.5, where a wrong layer would be off by 1e-2 or more.
        assert!(l < 2e-5 && w < 2e-5, "{a} vs {b}: batch loss {l:e}, weights {w:e}");
    }
}
