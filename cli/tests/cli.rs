//! The mlcmp binary end to end, on a reduced recipe (--limit) of the real MNIST.

mod common;

use common::{mlcmp, text};
use std::path::Path;
use std::process::Command;

#[test]
fn ndarray_prints_both_styles() {
    let o = mlcmp(&["ndarray"]);
    let (out, _) = text(&o);
    assert!(o.status.success());
    assert!(
        out.contains(
            "[[2. 2. 2.]\n [2. 2. 2.]\n [2. 2. 2.]\n [2. 2. 2.]\n [2. 2. 2.]]\n<NDArray 5x3 @cpu(0)>"
        ),
        "{out}"
    );
    assert!(out.contains("Tensor[[5, 3], Float]"), "{out}");
}

#[test]
fn train_gluon_prints_the_article_line() {
    let o = mlcmp(&["train", "--backend", "gluon", "--limit", "3000", "--epochs", "2", "--threads", "1"]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    let lines: Vec<&str> = out.lines().filter(|l| l.starts_with("epoch ")).collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(lines[1].starts_with("epoch 1, avg loss 0."), "{out}");
    assert!(lines[1].contains(", time ") && lines[1].contains("test acc"), "{out}");
}

#[test]
fn compare_writes_json_and_tables() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("r.json");
    let j = json.to_str().unwrap();
    let o = mlcmp(&[
        "compare",
        "--backends",
        "torch,gluon",
        "--limit",
        "2000",
        "--epochs",
        "2",
        "--no-save",
        "--json",
        j,
    ]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    for title in ["Per epoch", "Per backend", "Beside the article", "gluon speedup", "2.47x"] {
        assert!(out.contains(title), "{title} missing in {out}");
    }
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(v["schema"], 4);
    assert!(v["verdicts"].as_array().is_some_and(|a| !a.is_empty()), "schema 3 stores the verdicts");
    assert_eq!(v["recipe"]["limit"], 2000);
    let runs = v["runs"].as_array().unwrap();
    assert_eq!(runs.iter().map(|r| r["backend"].as_str().unwrap()).collect::<Vec<_>>(), ["torch", "gluon"]);
    for r in runs {
        assert_eq!(r["status"], "ok");
        assert_eq!(r["epochs"].as_array().unwrap().len(), 2);
        let e = &r["epochs"][1];
        assert!(e["avg_loss"].as_f64().unwrap() < 1.0 && e["test_acc"].as_f64().unwrap() > 0.8, "{e}");
    }
    // An existing file is not overwritten without --force.
    let o = mlcmp(&["compare", "--limit", "500", "--epochs", "1", "--no-save", "--json", j]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).1.contains("exists; pass --force"));
}

#[test]
fn compare_over_seeds_shows_median_and_range() {
    let dir = tempfile::tempdir().unwrap();
    let (json, svg) = (dir.path().join("r.json"), dir.path().join("r.svg"));
    let args = ["compare", "--limit", "2000", "--epochs", "2", "--no-save"];
    let o = mlcmp(
        &[&args[..], &["--backends", "torch,gluon", "--seeds", "3,1,2", "--json", json.to_str().unwrap()]]
            .concat(),
    );
    let o2 = mlcmp(&["report", json.to_str().unwrap(), "--plot", svg.to_str().unwrap()]);
    let (out, err) = text(&o);
    assert!(o.status.success() && o2.status.success(), "{err}");
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(v["recipe"]["seed"], 3, "the first seed is the recipe's");
    let runs = v["runs"].as_array().unwrap();
    let tags: Vec<(&str, u64)> =
        runs.iter().map(|r| (r["backend"].as_str().unwrap(), r["seed"].as_u64().unwrap())).collect();
    assert_eq!(tags, [("torch", 3), ("gluon", 3), ("torch", 1), ("gluon", 1), ("torch", 2), ("gluon", 2)]);
    // Each seed is a different draw; the median and range in the table are over those three.
    let first: Vec<f64> = runs
        .iter()
        .filter(|r| r["backend"] == "gluon")
        .map(|r| r["epochs"][0]["avg_loss"].as_f64().unwrap())
        .collect();
    assert!(first[0] != first[1] && first[1] != first[2], "{first:?}");
    let mut sorted = first.clone();
    sorted.sort_by(f64::total_cmp);
    let cell = format!("{:.4} [{:.4}, {:.4}]", sorted[1], sorted[0], sorted[2]);
    assert!(out.contains("Over seeds 3, 1, 2") && out.contains(&cell), "{cell} missing in {out}");
    assert!(out.contains("Per epoch (seed 3)") && out.contains("3/3"), "{out}");
    // A seed's run is the same as a single-seed compare with that seed.
    let one = dir.path().join("one.json");
    let o = mlcmp(
        &[&args[..], &["--seed", "1", "--backends", "gluon", "--json", one.to_str().unwrap()]].concat(),
    );
    assert!(o.status.success(), "{}", text(&o).1);
    let w: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&one).unwrap()).unwrap();
    assert_eq!(w["runs"][0]["epochs"][1]["avg_loss"], runs[3]["epochs"][1]["avg_loss"]);
    assert!(std::fs::read_to_string(&svg).unwrap().contains("median and range over seeds"));
    // Bad lists are refused before anything runs.
    let o = mlcmp(&["compare", "--seeds", "1,2,1"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).1.contains("--seeds: seed 1 is listed twice"), "{}", text(&o).1);
    let o = mlcmp(&["compare", "--seeds", "1,2", "--seed", "4"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).1.contains("cannot be used with"), "{}", text(&o).1);
}

#[test]
fn config_errors_exit_2_with_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("bad.json");
    std::fs::write(&cfg, r#"{"epochs": 1, "batch_size": 128, "lr": 0.1, "hidden": 256, "mean": 0.13, "std": 0.31, "shuffle": true, "seed": 1, "threads": "all", "speed": 11}"#).unwrap();
    let o = mlcmp(&["train", "--backend", "gluon", "--config", cfg.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let (_, err) = text(&o);
    assert!(err.starts_with(&format!("mlcmp: error: {}: unknown field `speed`", cfg.display())), "{err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");

    let o = mlcmp(&["train", "--backend", "gluon", "--lr", "-1"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).1.contains("key 'lr' = -1 is out of range"));
    let o = mlcmp(&["train", "--backend", "gluon", "--batch-size", "5000", "--limit", "1000"]);
    assert!(text(&o)
        .1
        .contains("key 'batch_size' = 5000 is out of range: the training set has 1000 samples"));
    let o = mlcmp(&["train", "--backend", "gluon", "--config", "/nonexistent.json"]);
    assert!(text(&o).1.contains("/nonexistent.json: cannot read the recipe file"));
}

#[test]
fn data_errors_name_the_file_and_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let o = mlcmp(&["train", "--backend", "gluon", "--data-dir", dir.path().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let err = text(&o).1;
    assert!(err.contains("train-images-idx3-ubyte: missing; run `mlcmp data fetch`"), "{err}");
    let o = mlcmp(&["data", "info"]);
    let out = text(&o).0;
    assert!(out.contains(
        "train: 60000 images of 28x28, labels 0..9: 5923 6742 5958 6131 5842 5421 5918 6265 5851 5949"
    ));
    assert!(out.contains("test : 10000 images"));
    // A corrupted copy: same size, one byte changed.
    let real = mlcmp_data_dir();
    for (name, _, _) in [
        ("train-images-idx3-ubyte", 0, 0),
        ("train-labels-idx1-ubyte", 0, 0),
        ("t10k-images-idx3-ubyte", 0, 0),
        ("t10k-labels-idx1-ubyte", 0, 0),
    ] {
        std::fs::copy(real.join(name), dir.path().join(name)).unwrap();
    }
    let lab = dir.path().join("t10k-labels-idx1-ubyte");
    let mut b = std::fs::read(&lab).unwrap();
    b[100] = (b[100] + 1) % 10;
    std::fs::write(&lab, b).unwrap();
    let o = mlcmp(&["train", "--backend", "gluon", "--data-dir", dir.path().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).1.contains("t10k-labels-idx1-ubyte: checksum mismatch"), "{}", text(&o).1);
    let o = mlcmp(&["data", "verify", "--data-dir", dir.path().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).0.contains("t10k-labels-idx1-ubyte       checksum mismatch"));
}

fn mlcmp_data_dir() -> std::path::PathBuf {
    std::env::var_os("MLCMP_DATA")
        .map(Into::into)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/mnist"))
}

#[test]
fn divergence_is_reported_and_the_other_backend_still_runs() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("d.json");
    let o = mlcmp(&[
        "compare",
        "--backends",
        "torch,gluon",
        "--lr",
        "100",
        "--limit",
        "2000",
        "--epochs",
        "2",
        "--no-save",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o).1);
    let (out, err) = text(&o);
    assert!(out.contains("diverged (epoch 0, batch"), "{out}");
    assert!(
        err.contains("mlcmp: torch diverged at epoch 0, batch") && err.contains("mlcmp: gluon diverged"),
        "{err}"
    );
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    for r in v["runs"].as_array().unwrap() {
        assert_eq!(r["status"], "diverged");
        assert_eq!(r["stopped_at"]["epoch"], 0);
        assert!(r["stopped_at"]["batch"].as_u64().is_some());
    }
}

#[test]
fn ctrl_c_sigterm_and_sighup_keep_finished_epochs_and_exit_quickly() {
    for signal in ["INT", "TERM", "HUP"] {
        interrupted_by(signal);
    }
}

fn interrupted_by(signal: &str) {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("i.json");
    let mut child = common::mlcmp_cmd()
        .args([
            "compare",
            "--backends",
            "torch,gluon",
            "--epochs",
            "50",
            "--limit",
            "6000",
            "--no-save",
            "--json",
            json.to_str().unwrap(),
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the first epoch has finished, then press Ctrl-C.
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    while !line.starts_with("[torch] epoch 0") {
        line.clear();
        assert!(std::io::BufRead::read_line(&mut stdout, &mut line).unwrap() > 0, "no epoch line");
    }
    let pressed = std::time::Instant::now();
    Command::new("kill").args([&format!("-{signal}"), &child.id().to_string()]).status().unwrap();
    let status = child.wait().unwrap();
    assert!(pressed.elapsed().as_secs_f64() < 2.0, "SIG{signal} took {:?}", pressed.elapsed());
    assert_eq!(status.code(), Some(130), "SIG{signal}");
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(left, [std::ffi::OsString::from("i.json")], "no temporary file is left");
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let runs = v["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 1, "gluon never started");
    assert_eq!(runs[0]["status"], "interrupted");
    assert!(!runs[0]["epochs"].as_array().unwrap().is_empty(), "finished epochs are kept");
}

#[test]
fn bench_report_and_regress_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("b.json");
    let md = dir.path().join("b.md");
    let o = mlcmp(&[
        "bench",
        "--limit",
        "2000",
        "--repeats",
        "2",
        "--backends",
        "torch,gluon,gluon-hybrid",
        "--epochs-for",
        "gluon-hybrid=2",
        "--no-save",
        "--json",
        json.to_str().unwrap(),
        "--markdown",
        md.to_str().unwrap(),
    ]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    for title in [
        "Epoch time per backend",
        "Speed ratios (paired repeats)",
        "torch / gluon-hybrid",
        "Where the time goes",
        "x peak: against",
        "x libtorch, a second reference and no hardware limit: against",
    ] {
        assert!(out.contains(title), "{title} missing in {out}");
    }
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let runs = v["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 6, "3 backends x 2 repeats");
    for r in runs {
        assert_eq!(r["status"], "ok");
        assert!(r["peak_rss_mb"].as_f64().unwrap() > 1.0);
        // A warm-up epoch, then the recipe's one timed epoch, or --epochs-for's two.
        let timed = if r["backend"] == "gluon-hybrid" { 2 } else { 1 };
        let e = r["epochs"].as_array().unwrap();
        assert_eq!(
            (e.len(), e[0]["warmup"].as_bool(), e[1].get("warmup")),
            (1 + timed, Some(true), None),
            "{r}"
        );
    }
    assert_eq!(v["bench"]["epochs_for"], serde_json::json!({"gluon-hybrid": 2}));
    assert!(v["bench"]["matmul_gflops"].as_f64().unwrap() > 1.0);
    // libtorch's best is the best of the probed shapes, so never below the recipe's product's rate.
    assert!(
        v["bench"]["libtorch_best"]["gflops"].as_f64().unwrap()
            >= v["bench"]["matmul_gflops"].as_f64().unwrap()
    );
    for r in runs {
        let load = &r["load"];
        assert!((0.0..=1.0).contains(&load["others_share"].as_f64().unwrap()), "{load}");
        assert!((0.0..=1.0).contains(&load["steal_share"].as_f64().unwrap()), "{load}");
    }
    assert!(out.contains("x libtorch best") && out.contains("others' CPU"), "{out}");
    assert!(std::fs::read_to_string(&md).unwrap().starts_with("### Epoch time per backend"));

    // report renders the same file again; CSV has one row per epoch.
    let o = mlcmp(&["report", json.to_str().unwrap(), "--format", "csv"]);
    assert_eq!(text(&o).0.lines().count(), 1 + 4 * 2 + 2 * 3);

    // regress: against itself ok; against a copy with gluon twice as slow, exit 1 naming the metric.
    let o = mlcmp(&["regress", "--baseline", json.to_str().unwrap(), "--current", json.to_str().unwrap()]);
    assert!(o.status.success() && text(&o).0.contains("no regression"), "{}", text(&o).1);
    let mut slow = v.clone();
    for r in slow["runs"].as_array_mut().unwrap().iter_mut().filter(|r| r["backend"] == "gluon") {
        for e in r["epochs"].as_array_mut().unwrap() {
            e["time_s"] = (e["time_s"].as_f64().unwrap() * 2.0).into();
        }
    }
    let slow_path = dir.path().join("slow.json");
    std::fs::write(&slow_path, slow.to_string()).unwrap();
    let o =
        mlcmp(&["regress", "--baseline", json.to_str().unwrap(), "--current", slow_path.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).1.contains("mlcmp: regression: speed ratio torch / gluon"), "{}", text(&o).1);
    // Accuracies after other epochs are not compared: a one-line error names the backend.
    let mut fewer = v.clone();
    for r in fewer["runs"].as_array_mut().unwrap().iter_mut().filter(|r| r["backend"] == "gluon-hybrid") {
        r["epochs"].as_array_mut().unwrap().pop();
    }
    let fewer_path = dir.path().join("fewer.json");
    std::fs::write(&fewer_path, fewer.to_string()).unwrap();
    let o =
        mlcmp(&["regress", "--baseline", json.to_str().unwrap(), "--current", fewer_path.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o).1.contains("gluon-hybrid trained 3 epochs per run in the baseline and 2"),
        "{}",
        text(&o).1
    );
    let o = mlcmp(&["regress", "--baseline", "/nonexistent/base.json", "--current", json.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).1.contains("/nonexistent/base.json: cannot read the results file"));
}

#[test]
fn report_puts_several_machines_in_one_table() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let (amd, intel) = (root.join("results/baseline.json"), root.join("results/bench-ci-intel-xeon.json"));
    let o = mlcmp(&["report", amd.to_str().unwrap(), intel.to_str().unwrap(), "--format", "markdown"]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(out.contains("| file") && out.contains("libtorch best GFLOP/s"), "{out}");
    // A row per machine and backend, each naming its CPU, with torch's own ratio 1.00x.
    for (file, cpu) in [("baseline.json", "AMD EPYC"), ("bench-ci-intel-xeon.json", "Intel(R) Xeon(R)")] {
        let rows: Vec<&str> = out.lines().filter(|l| l.contains(file) && l.contains(cpu)).collect();
        assert!(rows.iter().any(|l| l.contains("| gluon ")), "{file}: {out}");
        assert!(
            rows.iter().any(|l| l.contains("| torch ") && l.trim_end().ends_with("1.00x |")),
            "{file}: {out}"
        );
    }
    let o = mlcmp(&["report", amd.to_str().unwrap(), intel.to_str().unwrap(), "--format", "csv"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).1.contains("--format csv takes one file"), "{}", text(&o).1);

    // --plot overlays the files: a line per file and backend, each machine in the title.
    let dir = tempfile::tempdir().unwrap();
    let svg = dir.path().join("machines.svg");
    let o =
        mlcmp(&["report", amd.to_str().unwrap(), intel.to_str().unwrap(), "--plot", svg.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o).1);
    let drawn = std::fs::read_to_string(&svg).unwrap();
    for label in
        ["baseline: torch", "baseline: gluon", "bench-ci-intel-xeon: torch", "bench-ci-intel-xeon: gluon"]
    {
        assert!(drawn.contains(label), "{label} missing from the plot");
    }
    assert!(
        drawn.contains("AMD EPYC") && drawn.contains("Intel(R) Xeon(R)"),
        "machines missing from the title"
    );
    // Files of different models are not drawn together.
    let lenet = root.join("results/lenet-bench.json");
    let o = mlcmp(&[
        "report",
        amd.to_str().unwrap(),
        lenet.to_str().unwrap(),
        "--plot",
        svg.to_str().unwrap(),
        "--force",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).1.contains("plot files of one model together"), "{}", text(&o).1);
    assert!(o.stdout.is_empty(), "a refused plot prints no table either: {}", text(&o).0);
}
