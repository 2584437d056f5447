//! `bench --neighbour busy`. Its own test binary, so no other test's processes run beside it and
//! the load it measures is the spinner's alone (cargo runs test binaries one after another).

mod common;

use common::{mlcmp, text};
use std::process::Command;

#[test]
fn bench_beside_a_busy_neighbour_measures_the_slowdown_and_the_load() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("b.json");
    let o = mlcmp(&[
        "bench",
        "--limit",
        "3000",
        "--repeats",
        "1",
        "--warmup",
        "0",
        "--backends",
        "gluon",
        "--neighbour",
        "busy",
        "--no-save",
        "--json",
        json.to_str().unwrap(),
    ]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(out.contains("Beside a busy neighbour") && out.contains("gluon + busy neighbour"), "{out}");
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let runs = v["runs"].as_array().unwrap();
    assert_eq!(runs.iter().map(|r| r.get("neighbour").is_some()).collect::<Vec<_>>(), [false, true]);
    // The spinner takes one core for the whole busy run: its share of the machine shows up as
    // another process's CPU (one core of n), well above the quiet run's.
    let share = |r: &serde_json::Value| r["load"]["others_share"].as_f64().unwrap();
    let cores = std::thread::available_parallelism().unwrap().get() as f64;
    assert!(share(&runs[1]) > 0.6 / cores && share(&runs[1]) > share(&runs[0]) + 0.3 / cores, "{runs:?}");
    // No spinner is left behind.
    let spinners = Command::new("pgrep").args(["-f", "mlcmp spin"]).output().unwrap();
    assert!(String::from_utf8_lossy(&spinners.stdout).trim().is_empty(), "a spinner survived");
}
