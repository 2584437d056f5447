//! The second recipe, d2l's LeNet (`configs/lenet.json`), through the Rust backends: the recipe's
//! checks, every port from shared weights and batches against torch, and the tables.
#![cfg(feature = "torch")]

mod common;

use common::{err as stderr, mlcmp};

const LENET: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../configs/lenet.json");

#[test]
fn the_recipe_refuses_what_lenet_does_not_have() {
    let o = mlcmp(&["train", "--backend", "gluon", "--config", LENET, "--hidden", "64"]);
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(e.contains("key 'hidden' = 64 does not apply to the lenet model"), "{e}");
    assert_eq!(e.trim().lines().count(), 1, "one line: {e}");

    let o = mlcmp(&["bench", "--config", LENET, "--sweep", "hidden=64,128", "--no-save"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("the lenet model has no hidden width; sweep batch only"), "{}", stderr(&o));

    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, std::fs::read_to_string(LENET).unwrap().replace("\"lenet\"", "\"resnet\"")).unwrap();
    let o = mlcmp(&["train", "--backend", "gluon", "--config", bad.to_str().unwrap()]);
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(e.contains("bad.json") && e.contains("key 'model'") && e.contains("resnet"), "{e}");
}

#[test]
fn every_port_computes_torchs_function_from_shared_weights() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("r.json");
    // 20 batches of 256 from the shared start (d2l's Xavier weights), through each port.
    let o = mlcmp(&[
        "compare",
        "--config",
        LENET,
        "--backends",
        "torch,gluon,gluon-hybrid,candle",
        "--init",
        "shared",
        "--epochs",
        "1",
        "--limit",
        "5120",
        "--no-save",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let table = String::from_utf8_lossy(&o.stdout);
    assert!(!table.contains("Beside the article"), "the article's numbers are the MLP's:\n{table}");
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(v["recipe"]["model"], "lenet");
    let runs = v["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 4);
    for r in runs {
        assert_eq!(r["status"], "ok", "{r}");
        assert_eq!(r["epochs"][0]["batches"], 20);
        // From Xavier weights and sigmoids LeNet starts at chance: a loss near ln(10).
        let loss = r["epochs"][0]["avg_loss"].as_f64().unwrap();
        assert!((loss - 10f64.ln()).abs() < 0.3, "{} {loss}", r["backend"]);
    }
    // Every pair agrees on every batch's loss to f32 rounding (a few ulp of 2.3), and on the
    // parameters at the end to 1e-5.
    let pairs = v["parities"].as_array().unwrap();
    assert_eq!(pairs.len(), 2, "torch vs gluon and torch vs candle: {pairs:?}");
    for p in pairs {
        let (l, w) = (
            p["parity"]["max_batch_loss_diff"].as_f64().unwrap(),
            p["parity"]["max_weight_diff"].as_f64().unwrap(),
        );
        assert!(l < 5e-6 && w < 1e-5, "{} vs {}: batch loss {l:e}, weights {w:e}", p["a"], p["b"]);
    }
    // The hybridized network (no parity pair of its own) trains the same losses as gluon.
    let avg = |i: usize| runs[i]["epochs"][0]["avg_loss"].as_f64().unwrap();
    assert!((avg(1) - avg(2)).abs() < 1e-6, "gluon {} vs gluon-hybrid {}", avg(1), avg(2));
}
