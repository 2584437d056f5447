//! The exports of a results file: the tables, CSV, the SVG and the bench's multiples of libtorch's rate.

mod common;

use common::{bench_info, epoch, sample_results};
use mlcmp_core::bench::peak::{HardwarePeak, PeakRate};
use mlcmp_core::export::{self, compare as report, Style};
use mlcmp_core::recipe::Recipe;
use mlcmp_core::results::Results;
use mlcmp_core::run::RunResult;
use mlcmp_core::stats::median;

#[test]
fn tables_show_the_numbers() {
    let res = sample_results();
    let md = report::epoch_table(&res, Style::Markdown).to_string();
    let lines: Vec<&str> = md.lines().collect();
    assert_eq!(
        lines[0].split('|').map(str::trim).filter(|s| !s.is_empty()).collect::<Vec<_>>(),
        [
            "epoch",
            "avg loss torch",
            "avg loss gluon",
            "test acc torch",
            "test acc gluon",
            "s torch",
            "s gluon",
            "gluon speedup"
        ]
    );
    let row1: Vec<&str> = lines[3].split('|').map(str::trim).filter(|s| !s.is_empty()).collect();
    assert_eq!(row1, ["1", "0.1509", "0.1503", "96.00%", "96.00%", "2.00", "0.50", "4.00x"]);
    let summary = report::summary_table(&res, Style::Markdown).to_string();
    assert!(summary.contains("| torch ") && summary.contains("1.500"), "{summary}");
    let art = report::article_table(&res, Style::Text).to_string();
    assert!(
        art.contains("3.83") && art.contains("1.55") && art.contains("2.47x") && art.contains("3.00x"),
        "{art}"
    );
    assert!(art.contains("Test CPU, 2 cores"));
    assert!(art.contains("mean of 0-1, 60000 samples each"), "{art}");
    // A --limit run's epochs are too short to set beside the article's: said so in the row.
    let mut short = res.clone();
    short.runs.iter_mut().flat_map(|r| r.epochs.iter_mut()).for_each(|e| e.samples = 2000);
    let art = report::article_table(&short, Style::Text).to_string();
    assert!(art.contains("not comparable: 2000 samples per epoch"), "{art}");
    assert_eq!(report::epoch_line(&res.runs[0].epochs[0]), "epoch 0, avg loss 0.3251, time 1.00");
    assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
    assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
}

#[test]
fn csv_round_trips_the_numbers() {
    let res = sample_results();
    let csv = export::csv::csv(&res);
    let rows: Vec<Vec<&str>> = csv.lines().skip(1).map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 4);
    let mut i = 0;
    for r in &res.runs {
        for e in &r.epochs {
            let row = &rows[i];
            assert_eq!(row[0], r.backend);
            assert_eq!(row[1].parse::<u64>().unwrap(), res.recipe.seed);
            assert_eq!(row[5].parse::<usize>().unwrap(), e.epoch);
            assert_eq!(row[7].parse::<f64>().unwrap(), e.avg_loss);
            assert_eq!(row[9].parse::<f64>().unwrap(), e.test_acc);
            assert_eq!(row[10].parse::<f64>().unwrap(), e.time_s);
            i += 1;
        }
    }
    let md = export::render_any(&res, Style::Markdown);
    assert!(md.starts_with("### Per epoch"));
    assert!(md.contains(&format!("{:.4}", res.runs[1].epochs[1].avg_loss)));
}

#[test]
fn the_svg_has_one_series_per_backend_and_the_article_curves() {
    let res = sample_results();
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("plot.svg");
    export::plot::write_svg(&res, &p, false).unwrap();
    let text = std::fs::read_to_string(&p).unwrap();
    let doc = roxmltree::Document::parse(&text).expect("valid SVG");
    let lines: Vec<_> = doc.descendants().filter(|n| n.has_tag_name("polyline")).collect();
    let solid = |n: &&roxmltree::Node| n.attribute("opacity") == Some("1");
    let with_stroke =
        |c: &str| lines.iter().filter(solid).filter(|n| n.attribute("stroke") == Some(c)).count();
    assert!(lines.iter().filter(|n| !solid(n)).count() > 10, "dashed article curves");
    // torch and gluon: one line per panel (3) and one legend mark per panel (3).
    assert_eq!(with_stroke("#DE4B2C"), 6, "torch");
    assert_eq!(with_stroke("#2171B5"), 6, "gluon");
    let texts: Vec<String> = doc
        .descendants()
        .filter(|n| n.has_tag_name("text"))
        .filter_map(|n| n.text())
        .map(|t| t.trim().to_string())
        .collect();
    for label in [
        "torch",
        "gluon",
        "article PyTorch (2018)",
        "article MXNet (2018)",
        "avg loss per epoch",
        "epoch",
        "seconds",
    ] {
        assert!(texts.iter().any(|t| t == label), "no text '{label}' in {texts:?}");
    }
}

/// "x libtorch" sets each bench run against the matmul rate probed before its own repeat, so a
/// machine that speeds up or slows down between repeats does not move the multiple; runs without
/// a probe of their own (older files) use the bench's first one.
#[test]
fn x_libtorch_pairs_each_run_with_its_own_probe() {
    use mlcmp_core::bench::summary::x_libtorch;
    use mlcmp_core::run::Variant;
    let mut res = sample_results();
    res.bench = Some(bench_info(100.0));
    let flops = Recipe::article().model().train_flops_per_sample() * 60_000.0;
    // The machine ran at 100 GFLOP/s in the first repeat and at 200 in the second; the run took
    // twice its time at that rate in both.
    let run = |gflops: f64| {
        let mut r = RunResult::new("gluon", 2);
        r.epochs = vec![epoch(0, 0.3, 2.0 * flops / (gflops * 1e9))];
        r.libtorch_gflops = Some(gflops);
        r
    };
    let (slow, fast) = (run(100.0), run(200.0));
    let v = Variant { batch_size: 128, hidden: 256 };
    assert!((x_libtorch(&res, v, &[&slow, &fast]) - 2.0).abs() < 1e-9);
    let (mut a, mut b) = (slow.clone(), fast.clone());
    (a.libtorch_gflops, b.libtorch_gflops) = (None, None);
    assert!((x_libtorch(&res, v, &[&a, &b]) - 1.5).abs() < 1e-9, "2x and 1x the first probe's time");
    res.runs = vec![slow, fast];
    let best = mlcmp_core::results::BestRate { gflops: 250.0, shapes: "128x784x256, 512x512x512".into() };
    res.bench.as_mut().unwrap().libtorch_best = Some(best);
    // The hardware's rate at the runs' 2 threads is the slow run's probe: the group's median epoch
    // (1.5x that probe's time) is 1.5x peak; the one-thread rate is not used.
    let rate = |threads, gflops| PeakRate { isa: "avx512f fma".into(), threads, gflops };
    res.bench.as_mut().unwrap().hardware_peak = Some(HardwarePeak {
        isa: "avx512f fma".into(),
        rates: vec![rate(1, 60.0), rate(2, 100.0)],
        unknown: None,
    });
    let json = res.to_json();
    assert!(json.contains("\"libtorch_gflops\": 200.0"), "{json}");
    let text = export::render_any(&Results::parse(&json, "t.json").unwrap(), Style::Markdown);
    assert!(text.contains("probed again before each repeat: 100 to 200 GFLOP/s"), "{text}");
    let gluon = text.lines().find(|l| l.starts_with("| gluon")).unwrap();
    let cells: Vec<&str> = gluon.split('|').map(str::trim).collect();
    assert_eq!((cells[8], cells[9]), ("1.50", "2.00"), "x peak and x libtorch in {gluon}");
    assert!(text.contains("x peak: against") && text.contains("100 GFLOP/s at 2 threads"), "{text}");
    // Files written before the rename call the probe `floor_gflops` and libtorch's best `peak`.
    let old =
        json.replace("\"libtorch_gflops\"", "\"floor_gflops\"").replace("\"libtorch_best\"", "\"peak\"");
    assert!(old.contains("\"floor_gflops\": 200.0"));
    assert_eq!(Results::parse(&old, "old.json").unwrap(), Results::parse(&json, "t.json").unwrap());
}
