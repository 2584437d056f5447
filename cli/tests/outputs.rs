//! The export flags (`--json`, `--markdown`, `--csv`, `--plot`, `--force`) on compare and regress,
//! where a run's results go when no `--json` says, and that the committed tables match their JSON.

mod common;

use common::{err, mlcmp, mlcmp_cmd, text};
use std::path::{Path, PathBuf};

fn dumps(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn compare_writes_every_export_and_keeps_a_copy_only_without_json() {
    let dir = tempfile::tempdir().unwrap();
    let runs = dir.path().join("runs");
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    let (csv, md, svg, json) = (path("c.csv"), path("c.md"), path("c.svg"), path("c.json"));
    let quick = ["compare", "--backends", "gluon", "--limit", "500", "--epochs", "1", "--threads", "1"];
    let run =
        |extra: &[&str]| mlcmp_cmd().env("MLCMP_RESULTS", &runs).args(quick).args(extra).output().unwrap();

    let o = run(&["--csv", &csv, "--markdown", &md, "--plot", &svg]);
    assert!(o.status.success(), "{}", err(&o));
    let csv_text = std::fs::read_to_string(&csv).unwrap();
    assert!(csv_text.starts_with("backend,seed,repeat,"), "{csv_text}");
    assert_eq!(csv_text.lines().count(), 2, "a header and gluon's one epoch: {csv_text}");
    assert!(std::fs::read_to_string(&md).unwrap().starts_with("### Per epoch"));
    assert!(std::fs::read_to_string(&svg).unwrap().contains("<svg"));
    let saved = dumps(&runs);
    assert_eq!(saved.len(), 1, "no --json: one copy under the results folder, {saved:?}");
    let name = saved[0].file_name().unwrap().to_string_lossy().into_owned();
    assert!(name.starts_with("compare-") && name.ends_with(".json"), "{name}");

    // The exports exist now: without --force each is refused before training, naming the flag's file.
    let o = run(&["--csv", &csv]);
    assert_eq!(o.status.code(), Some(2));
    assert!(err(&o).contains("c.csv") && err(&o).contains("--force"), "{}", err(&o));
    // --json says where the results go, and --no-save keeps nothing: no new copy either way.
    let o = run(&["--json", &json]);
    assert!(o.status.success(), "{}", err(&o));
    let o = run(&["--no-save"]);
    assert!(o.status.success(), "{}", err(&o));
    assert_eq!(dumps(&runs).len(), 1, "{:?}", dumps(&runs));
}

#[test]
fn a_run_outside_a_checkout_keeps_its_copy_in_results_runs() {
    let dir = tempfile::tempdir().unwrap();
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/mnist");
    let o = mlcmp_cmd()
        .env_remove("MLCMP_RESULTS")
        .env("MLCMP_DATA", std::env::var_os("MLCMP_DATA").unwrap_or(data.into_os_string()))
        .current_dir(dir.path())
        .args(["compare", "--backends", "gluon", "--limit", "300", "--epochs", "1", "--threads", "1"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", err(&o));
    let saved = dumps(&dir.path().join("results/runs"));
    assert_eq!(saved.len(), 1, "{saved:?}; stdout: {}", text(&o).0);
}

#[test]
fn regress_exports_the_checks_under_the_output_rule() {
    let dir = tempfile::tempdir().unwrap();
    let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("../results/baseline.json");
    let base = base.to_str().unwrap();
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    let (json, csv, md, svg) = (path("r.json"), path("r.csv"), path("r.md"), path("r.svg"));
    let args = ["regress", "--baseline", base, "--current", base];
    let exports = ["--json", &json, "--csv", &csv, "--markdown", &md, "--plot", &svg];
    let o = mlcmp(&[&args[..], &exports[..]].concat());
    assert!(o.status.success(), "a file against itself: {}", err(&o));

    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(v["regressed"], false, "{v}");
    let checks = v["checks"].as_array().unwrap();
    assert!(checks.iter().any(|c| c["pass"] == true), "{v}");
    assert!(checks.iter().all(|c| c["baseline"] == c["current"]), "{v}");
    let csv_text = std::fs::read_to_string(&csv).unwrap();
    assert!(csv_text.starts_with("metric,baseline,current,allowed,verdict\n"), "{csv_text}");
    assert_eq!(csv_text.lines().count(), 1 + checks.len());
    assert!(std::fs::read_to_string(&md).unwrap().starts_with("### Regression check against"));
    let plot = std::fs::read_to_string(&svg).unwrap();
    assert!(plot.contains("<svg") && plot.contains("baseline "), "the two files overlaid");

    // Again without --force: refused before anything is written, the files unchanged.
    let before = std::fs::read_to_string(&json).unwrap();
    let o = mlcmp(&[&args[..], &exports[..]].concat());
    assert_eq!(o.status.code(), Some(2), "{}", err(&o));
    assert_eq!(std::fs::read_to_string(&json).unwrap(), before);
    // --update writes only the baseline; an export beside it is a usage error.
    let o = mlcmp(&[&args[..], &["--update", "--json", &json]].concat());
    assert_eq!(o.status.code(), Some(2));
    assert!(err(&o).contains("--update") && err(&o).contains("--json"), "{}", err(&o));
}

/// Every committed `results/*.md` and every table quoted in the READMEs is what
/// `scripts/results render` makes of the committed JSON today.
#[test]
fn committed_tables_match_their_json() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let o = std::process::Command::new(root.join("scripts/results"))
        .arg("check")
        .env("MLCMP_BIN", env!("CARGO_BIN_EXE_mlcmp"))
        .output()
        .unwrap();
    let (out, e) = text(&o);
    assert!(o.status.success(), "{out}{e}");
}
