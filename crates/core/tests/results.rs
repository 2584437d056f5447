//! The results JSON: round trips, values nothing measured, atomic and never-clobbering saves.

mod common;

use common::{bench_info, sample_results};
use mlcmp_core::export::{self, Style};
use mlcmp_core::results::Results;

#[test]
fn results_json_round_trip_and_atomic_save() {
    let res = sample_results();
    let text = res.to_json();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["schema"], 4);
    assert_eq!(v["machine"]["cores"], 2);
    assert_eq!(v["versions"]["libtorch"], "l");
    assert_eq!(v["recipe"]["batch_size"], 128);
    assert_eq!(v["runs"][1]["backend"], "gluon");
    assert_eq!(v["runs"][0]["status"], "ok");
    assert_eq!(v["runs"][0]["epochs"][1]["avg_loss"], 0.1509);
    let back = Results::parse(&text, "r.json").unwrap();
    assert_eq!(back, res);

    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("sub/r.json");
    res.save(&p, false).unwrap();
    assert_eq!(Results::load(&p).unwrap(), res);
    let e = res.save(&p, false).unwrap_err().to_string();
    assert!(e.ends_with("exists; pass --force to overwrite it or choose another path"), "{e}");
    res.save(&p, true).unwrap();
    assert_eq!(std::fs::read_dir(p.parent().unwrap()).unwrap().count(), 1, "no temp file left");

    assert!(Results::parse("{\"schema\": 1}", "x.json")
        .unwrap_err()
        .to_string()
        .starts_with("x.json: not an mlcmp results file"));
    let mut v2 = v.clone();
    v2["schema"] = 7.into();
    assert!(Results::parse(&v2.to_string(), "x.json")
        .unwrap_err()
        .to_string()
        .contains("schema 7 is not supported"));
}

#[test]
fn what_mlcmp_writes_it_reads_back_even_unmeasured_values() {
    let mut res = sample_results();
    res.bench = Some(bench_info(f64::NAN)); // the probe needs torch: NaN in a gluon-only build
    res.runs[0].epochs[0].test_acc = f64::NAN;
    let json = res.to_json();
    assert!(json.contains("\"matmul_gflops\": null"), "serde_json writes NaN as null");
    let back = Results::parse(&json, "t.json").unwrap();
    assert!(back.bench.unwrap().matmul_gflops.is_nan());
    assert!(back.runs[0].epochs[0].test_acc.is_nan());
    assert!(export::render_any(&Results::parse(&json, "t.json").unwrap(), Style::Text).contains("x libtorch"));
}

#[test]
fn no_clobber_is_atomic_and_saved_names_are_unique() {
    use mlcmp_core::output::{write_atomic, write_unique};
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("r.json");
    write_atomic(&p, b"first", false).unwrap();
    let e = write_atomic(&p, b"second", false).unwrap_err().to_string();
    assert!(e.contains("exists; pass --force"), "{e}");
    assert_eq!(std::fs::read_to_string(&p).unwrap(), "first");
    write_atomic(&p, b"third", true).unwrap();
    assert_eq!(std::fs::read_to_string(&p).unwrap(), "third");
    // Two saves in the same millisecond by the same process still get two files.
    let a = write_unique(dir.path(), "compare", "20261128T000000000Z", b"a").unwrap();
    let b = write_unique(dir.path(), "compare", "20261128T000000000Z", b"b").unwrap();
    assert_ne!(a, b);
    assert_eq!(
        (std::fs::read_to_string(a).unwrap(), std::fs::read_to_string(b).unwrap()),
        ("a".into(), "b".into())
    );
    let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names.len(), 3, "no temporary file left: {names:?}");
}
