//! The compare tables: per epoch, per backend, beside the article's published numbers, and parity.

use super::table::{num as fmt, pct, right, table, Style};
use crate::article;
use crate::parity::Parity;
use crate::results::Results;
use crate::run::{EpochResult, RunResult, Status};
use crate::stats::{mean, median};
use comfy_table::{Cell, Table};

fn times(r: &RunResult, skip_first: bool) -> Vec<f64> {
    r.epochs.iter().filter(|e| !(skip_first && e.epoch == 0)).map(|e| e.time_s).collect()
}

/// Mean epoch time (all epochs).
pub fn mean_epoch_s(r: &RunResult) -> f64 {
    mean(&times(r, false))
}

fn epoch_of(r: &RunResult, i: usize) -> Option<&EpochResult> {
    r.epochs.iter().find(|e| e.epoch == i)
}

/// 1. Per epoch: loss, test accuracy and time of each backend, and each backend's speedup over torch.
pub fn epoch_table(res: &Results, style: Style) -> Table {
    let runs = &res.runs;
    let mut header = vec!["epoch".to_string()];
    header.extend(runs.iter().map(|r| format!("avg loss {}", r.backend)));
    header.extend(runs.iter().map(|r| format!("test acc {}", r.backend)));
    header.extend(runs.iter().map(|r| format!("s {}", r.backend)));
    let base = runs.iter().position(|r| r.backend == "torch");
    let others: Vec<&RunResult> =
        runs.iter().enumerate().filter(|(i, _)| Some(*i) != base).map(|(_, r)| r).collect();
    if base.is_some() {
        header.extend(others.iter().map(|r| format!("{} speedup", r.backend)));
    }
    let mut t = table(style, &header);
    let n = runs.iter().map(|r| r.epochs.len()).max().unwrap_or(0);
    for i in 0..n {
        let mut row = vec![right(i.to_string())];
        let get = |r: &RunResult, f: fn(&EpochResult) -> f64| epoch_of(r, i).map(f).unwrap_or(f64::NAN);
        row.extend(runs.iter().map(|r| right(fmt(get(r, |e| e.avg_loss), 4))));
        row.extend(runs.iter().map(|r| right(pct(get(r, |e| e.test_acc)))));
        row.extend(runs.iter().map(|r| right(fmt(get(r, |e| e.time_s), 2))));
        if let Some(b) = base {
            let tb = get(&runs[b], |e| e.time_s);
            row.extend(others.iter().map(|r| right(format!("{}x", fmt(tb / get(r, |e| e.time_s), 2)))));
        }
        t.add_row(row);
    }
    t
}

/// 2. Per backend: final accuracies, epoch time statistics, throughput and threads.
pub fn summary_table(res: &Results, style: Style) -> Table {
    let header = [
        "backend",
        "status",
        "train acc",
        "test acc",
        "mean s",
        "median s",
        "mean s (w/o epoch 0)",
        "median s (w/o epoch 0)",
        "samples/s",
        "threads",
    ];
    let mut t = table(style, &header);
    for r in &res.runs {
        let last = r.epochs.last();
        let status = match (r.status, r.stopped_at) {
            (Status::Ok, _) => "ok".to_string(),
            (s, Some(p)) => format!("{s} (epoch {}, batch {})", p.epoch, p.batch),
            (s, None) => s.to_string(),
        };
        let med = median(&times(r, false));
        let samples = last.map(|e| e.samples as f64).unwrap_or(f64::NAN);
        t.add_row(vec![
            Cell::new(&r.backend),
            Cell::new(status),
            right(pct(last.map(|e| e.train_acc).unwrap_or(f64::NAN))),
            right(pct(last.map(|e| e.test_acc).unwrap_or(f64::NAN))),
            right(fmt(mean(&times(r, false)), 3)),
            right(fmt(med, 3)),
            right(fmt(mean(&times(r, true)), 3)),
            right(fmt(median(&times(r, true)), 3)),
            right(fmt(samples / med, 0)),
            right(r.threads.to_string()),
        ]);
    }
    t
}

/// 3. The article beside this run: mean epoch times and their ratio.
pub fn article_table(res: &Results, style: Style) -> Table {
    let mut t = table(
        style,
        &["", "PyTorch-style s/epoch", "Gluon-style s/epoch", "PyTorch / Gluon", "epochs", "machine"],
    );
    t.add_row(vec![
        Cell::new("article (2018): PyTorch vs MXNet"),
        right(fmt(article::TORCH_MEAN_S, 2)),
        right(fmt(article::MXNET_MEAN_S, 2)),
        right(format!("{}x", fmt(article::RATIO, 2))),
        Cell::new(format!("mean of 0-4, {} samples each", article::SAMPLES)),
        Cell::new("not stated (CPU)"),
    ]);
    let Some(torch) = res.run("torch") else { return t };
    for g in res.runs.iter().filter(|r| r.backend != "torch") {
        // Like with like: the same epochs of both runs, every one counted as the article did.
        let n = torch.epochs.len().min(g.epochs.len());
        let mean_of = |r: &RunResult| mean(&r.epochs[..n].iter().map(|e| e.time_s).collect::<Vec<_>>());
        let (ts, gs) = (mean_of(torch), mean_of(g));
        let samples = g.epochs.first().map_or(0, |e| e.samples);
        let epochs = match n {
            0 => "none finished".to_string(),
            1 => "epoch 0 only".to_string(),
            n => format!("mean of 0-{}", n - 1),
        };
        let note = if samples < article::SAMPLES {
            format!("{epochs}; not comparable: {samples} samples per epoch, where fixed costs weigh more")
        } else {
            format!("{epochs}, {samples} samples each")
        };
        t.add_row(vec![
            Cell::new(format!("this run: torch vs {}", g.backend)),
            right(fmt(ts, 2)),
            right(fmt(gs, 2)),
            right(format!("{}x", fmt(ts / gs, 2))),
            Cell::new(note),
            Cell::new(format!("{}, {} threads", res.machine.describe(), res.machine.threads)),
        ]);
    }
    t
}

/// 4. With `--init shared`: how far the two backends are apart.
pub fn parity_table(res: &Results, style: Style) -> Option<Table> {
    let p = res.parity.as_ref()?;
    let names: Vec<&str> = res.runs.iter().map(|r| r.backend.as_str()).collect();
    let floor_name = format!("{} vs itself from 1-ulp perturbed weights", names.last().unwrap_or(&""));
    let mut t = table(style, &["shared weights and batches".to_string(), names.join(" vs "), floor_name]);
    let sci = |x: f64| format!("{x:.2e}");
    let f = p.floor.as_deref();
    let mut row = |label: String, get: fn(&Parity) -> f64| {
        t.add_row(vec![
            Cell::new(label),
            right(sci(get(p))),
            right(f.map(|f| sci(get(f))).unwrap_or("-".into())),
        ]);
    };
    let at = p.max_batch_loss_diff_at;
    row(format!("max |batch loss difference| (at epoch {}, batch {})", at.epoch, at.batch), |p| {
        p.max_batch_loss_diff
    });
    row("max relative batch loss difference, epoch 0".into(), |p| p.max_batch_loss_rel_epoch0);
    row("max |avg loss difference| over epochs".into(), |p| p.max_avg_loss_diff);
    row("max |weight difference| at the end".into(), |p| p.max_weight_diff);
    t.add_row(vec![
        Cell::new("batches compared"),
        right(p.batches_compared.to_string()),
        right(f.map(|f| f.batches_compared.to_string()).unwrap_or("-".into())),
    ]);
    Some(t)
}

/// All tables with titles.
pub fn render(res: &Results, style: Style) -> String {
    let title = |s: &str| style.title(s);
    let mut out = format!(
        "{}{}\n\n{}{}\n\n{}{}\n",
        title("Per epoch"),
        epoch_table(res, style),
        title("Per backend"),
        summary_table(res, style),
        title("Beside the article"),
        article_table(res, style)
    );
    if let Some(p) = parity_table(res, style) {
        out.push_str(&format!("\n{}{p}\n", title("Parity")));
    }
    out
}

/// The article's per-epoch line: `epoch 0, avg loss 0.3251, time 3.71`.
pub fn epoch_line(e: &EpochResult) -> String {
    format!("epoch {}, avg loss {:.4}, time {:.2}", e.epoch, e.avg_loss, e.time_s)
}
