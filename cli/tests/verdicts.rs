//! `mlcmp compare` with no `--backends`: the article's comparison, and where a framework cannot run
//! here, a row and a verdict that say so, exit 0.

mod common;

use common::{err, text};

#[test]
fn the_default_comparison_names_what_it_could_not_run() {
    // A copy of the binary outside any checkout finds no .venv for the real frameworks: exactly
    // what a machine where setup could not install them sees.
    let bin = tempfile::tempdir().unwrap();
    let exe = bin.path().join("mlcmp");
    std::fs::copy(env!("CARGO_BIN_EXE_mlcmp"), &exe).unwrap();
    let json = bin.path().join("r.json");
    let o = std::process::Command::new(&exe)
        .args(["compare", "--limit", "600", "--epochs", "3", "--threads", "1", "--json"])
        .arg(&json)
        .current_dir(bin.path())
        .env("MLCMP_DATA", mlcmp_data::default_dir())
        .env_remove("MLCMP_PYTORCH_PYTHON")
        .env_remove("MLCMP_MXNET_PYTHON")
        .output()
        .unwrap();
    let (out, e) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{e}");
    assert!(e.contains("pytorch unavailable: no mlcmp checkout here"), "{e}");
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let runs: Vec<(&str, &str)> = v["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["backend"].as_str().unwrap(), r["status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        runs,
        [("torch", "ok"), ("gluon", "ok"), ("pytorch", "unavailable"), ("mxnet", "unavailable")]
    );
    // The per-backend table says why; the verdict says which claim it could not check.
    assert!(out.contains("unavailable: no mlcmp checkout here"), "{out}");
    let verdicts = v["verdicts"].as_array().unwrap();
    let article =
        verdicts.iter().find(|x| x["claim"].as_str().unwrap().contains("the article's code today")).unwrap();
    assert_eq!(article["word"], "unavailable", "{article}");
    let ports = verdicts.iter().find(|x| x["claim"].as_str().unwrap().contains("Rust ports")).unwrap();
    assert!(["reproduced", "refuted", "inconclusive"].contains(&ports["word"].as_str().unwrap()), "{ports}");
    assert!(ports["interval"]["lo"].as_f64().unwrap() <= ports["interval"]["hi"].as_f64().unwrap());
    assert!(out.contains("intervals: 95% Welch's t on the logs"), "{out}");

    // Named alone, an unavailable framework is an error, as before.
    let o = std::process::Command::new(&exe)
        .args(["compare", "--backends", "mxnet", "--limit", "600", "--epochs", "1"])
        .current_dir(bin.path())
        .env("MLCMP_DATA", mlcmp_data::default_dir())
        .env_remove("MLCMP_MXNET_PYTHON")
        .output()
        .unwrap();
    assert_ne!(o.status.code(), Some(0), "{}", err(&o));
}
