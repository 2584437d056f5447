//! The compare tables: per epoch, per backend, beside the article's published numbers, and parity.

use super::table::Table;
use super::table::{num as fmt, pct, right, table, Style};
use crate::article;
use crate::model::ModelKind;
use crate::parity::Parity;
use crate::results::Results;
use crate::run::{EpochResult, RunResult, Status};
use crate::stats::{mean, median};
use comfy_table::Cell;

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
    let runs: Vec<&RunResult> = res.main_runs().collect();
    let mut header = vec!["epoch".to_string()];
    header.extend(runs.iter().map(|r| format!("avg loss {}", r.backend)));
    header.extend(runs.iter().map(|r| format!("test acc {}", r.backend)));
    header.extend(runs.iter().map(|r| format!("s {}", r.backend)));
    let base = runs.iter().position(|r| r.backend == crate::registry::reference());
    let others: Vec<&RunResult> =
        runs.iter().enumerate().filter(|(i, _)| Some(*i) != base).map(|(_, r)| *r).collect();
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
            let tb = get(runs[b], |e| e.time_s);
            row.extend(others.iter().map(|r| right(format!("{}x", fmt(tb / get(r, |e| e.time_s), 2)))));
        }
        t.add_row(row);
    }
    t
}

/// Table 2, per backend: final accuracies, training seconds to 97% test accuracy, epoch time
/// statistics, throughput and threads.
pub fn summary_table(res: &Results, style: Style) -> Table {
    let header = [
        "backend",
        "status",
        "train acc",
        "test acc",
        "s to 97%",
        "mean s",
        "median s",
        "mean s (w/o epoch 0)",
        "median s (w/o epoch 0)",
        "samples/s",
        "threads",
    ];
    let mut t = table(style, &header);
    for r in res.main_runs() {
        let last = r.epochs.last();
        let status = match (r.status, r.stopped_at) {
            (Status::Ok, _) => "ok".to_string(),
            (Status::Unavailable, _) => format!("unavailable: {}", r.error.as_deref().unwrap_or("?")),
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
            right(fmt(crate::verdict::time_to(r, crate::verdict::TARGET_ACC).unwrap_or(f64::NAN), 2)),
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
    // Each PyTorch-style backend beside its Gluon-style counterpart: the Rust ports, and the
    // article's own code on today's frameworks.
    for &(label, a, b) in crate::registry::ARTICLE_PAIRS {
        let (Some(ra), Some(rb)) = (res.run(a), res.run(b)) else { continue };
        // Like with like: the same epochs of both runs, every one counted as the article did.
        let n = ra.epochs.len().min(rb.epochs.len());
        let mean_of = |r: &RunResult| mean(&r.epochs[..n].iter().map(|e| e.time_s).collect::<Vec<_>>());
        let (sa, sb) = (mean_of(ra), mean_of(rb));
        let samples = rb.epochs.first().map_or(0, |e| e.samples);
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
            Cell::new(format!("{label}: {a} vs {b}")),
            right(fmt(sa, 2)),
            right(fmt(sb, 2)),
            right(if (sa / sb).is_finite() { format!("{}x", fmt(sa / sb, 2)) } else { "-".into() }),
            Cell::new(note),
            Cell::new(format!("{}, {} threads", res.machine.describe(), res.machine.threads)),
        ]);
    }
    t
}

/// Where each backend's epoch goes: mean seconds per phase and its share of the epoch.
pub fn phase_table(res: &Results, style: Style) -> Table {
    let mut t = table(style, &["backend", "data", "forward", "backward", "update", "other", "epoch s"]);
    for r in res.main_runs() {
        let m = |get: fn(&EpochResult) -> f64| mean(&r.epochs.iter().map(get).collect::<Vec<_>>());
        let epoch = m(|e| e.time_s);
        let parts = [
            m(|e| e.phases.data_s),
            m(|e| e.phases.forward_s),
            m(|e| e.phases.backward_s),
            m(|e| e.phases.update_s),
        ];
        let untimed = !epoch.is_finite() || parts.iter().all(|&x| x == 0.0);
        let cell = |x: f64| {
            if untimed {
                "-".to_string()
            } else {
                format!("{} ({:.0}%)", fmt(x, 3), 100.0 * x / epoch)
            }
        };
        let mut row = vec![Cell::new(&r.backend)];
        row.extend(parts.iter().map(|&x| right(cell(x))));
        row.push(right(cell(epoch - parts.iter().sum::<f64>())));
        row.push(right(fmt(epoch, 3)));
        t.add_row(row);
    }
    t
}

/// With `--init shared`: how far each compared pair is apart, each beside its f32 floor (the
/// largest gap of one backend's reruns from perturbed weights; see `Shared::floors`) and the rank
/// test's p of its gaps among the reruns'.
pub fn parity_table(res: &Results, style: Style) -> Option<Table> {
    if res.parities.is_empty() {
        return None;
    }
    let mut header = vec!["shared weights and batches".to_string()];
    for pp in &res.parities {
        header.push(format!("{} vs {}", pp.a, pp.b));
        header.push(match pp.floor_runs {
            1 => format!("floor: {} rerun", pp.floor_of),
            n => format!("floor: {}, largest of {n} reruns", pp.floor_of),
        });
    }
    let mut t = table(style, &header);
    let sci = |x: f64| format!("{x:.2e}");
    let rows: [(&str, crate::parity::Measure); 4] = [
        ("max |batch loss difference|", |p| p.max_batch_loss_diff),
        ("max relative batch loss difference, epoch 0", |p| p.max_batch_loss_rel_epoch0),
        ("max |avg loss difference| over epochs", |p| p.max_avg_loss_diff),
        ("max |weight difference| at the end", |p| p.max_weight_diff),
    ];
    for (label, get) in rows {
        let mut row = vec![Cell::new(label)];
        for pp in &res.parities {
            row.push(right(sci(get(&pp.parity))));
            row.push(right(pp.parity.floor.as_deref().map(|f| sci(get(f))).unwrap_or("-".into())));
        }
        t.add_row(row);
    }
    let mut row = vec![Cell::new("gap / floor (batch loss, weights)")];
    for pp in &res.parities {
        let ratio = |get: fn(&Parity) -> f64| {
            pp.parity
                .floor
                .as_deref()
                .map(|f| format!("{:.1}x", get(&pp.parity) / get(f)))
                .unwrap_or("-".into())
        };
        row.push(right(format!("{}, {}", ratio(|p| p.max_batch_loss_diff), ratio(|p| p.max_weight_diff))));
        row.push(Cell::new(""));
    }
    t.add_row(row);
    if res.parities.iter().any(|pp| !pp.floors.is_empty()) {
        let mut row = vec![Cell::new("p, the gaps ranked among the reruns'")];
        for pp in &res.parities {
            let p = crate::parity::rank_test(&pp.parity, &pp.floors);
            row.push(right(p.map(|t| format!("{:.2}", t.p)).unwrap_or("-".into())));
            row.push(Cell::new(""));
        }
        t.add_row(row);
    }
    let mut row = vec![Cell::new("batches compared")];
    for pp in &res.parities {
        row.push(right(pp.parity.batches_compared));
        row.push(right(
            pp.parity.floor.as_deref().map(|f| f.batches_compared.to_string()).unwrap_or("-".into()),
        ));
    }
    t.add_row(row);
    Some(t)
}

/// `median [min, max]` of `v` with `digits` decimals (as percentages with `pct`), `-` when empty.
fn spread(v: &[f64], digits: usize, as_pct: bool) -> String {
    let v: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return "-".into();
    }
    let (lo, hi) = v.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| (a.min(x), b.max(x)));
    let f = |x: f64| if as_pct { pct(x) } else { fmt(x, digits) };
    format!("{} [{}, {}]", f(median(&v)), f(lo), f(hi))
}

/// The backends in the order they ran.
fn backend_names(res: &Results) -> Vec<&str> {
    let mut names: Vec<&str> = vec![];
    for r in &res.runs {
        if !names.contains(&r.backend.as_str()) {
            names.push(&r.backend);
        }
    }
    names
}

/// `compare --seeds`: each backend's median and range over the seeds, per epoch (avg loss) and at
/// the end. `None` for a run of one seed.
pub fn seeds_tables(res: &Results, style: Style) -> Option<(Table, Table)> {
    if res.seeds().len() < 2 {
        return None;
    }
    let names = backend_names(res);
    let runs_of = |b: &str| -> Vec<&RunResult> { res.runs.iter().filter(|r| r.backend == b).collect() };
    let at = |b: &str, i: usize, f: fn(&EpochResult) -> f64| -> Vec<f64> {
        runs_of(b).into_iter().filter_map(|r| epoch_of(r, i)).map(f).collect()
    };
    let mut header = vec!["epoch".to_string()];
    header.extend(names.iter().map(|b| format!("avg loss {b}")));
    let mut curves = table(style, &header);
    let n = res.runs.iter().map(|r| r.epochs.len()).max().unwrap_or(0);
    for i in 0..n {
        let mut row = vec![right(i)];
        row.extend(names.iter().map(|b| right(spread(&at(b, i, |e| e.avg_loss), 4, false))));
        curves.add_row(row);
    }
    let mut ends = table(style, &["backend", "seeds finished", "test acc", "avg loss", "mean s/epoch"]);
    for b in names {
        let finished: Vec<&RunResult> =
            runs_of(b).into_iter().filter(|r| r.status == Status::Ok && !r.epochs.is_empty()).collect();
        let last = |f: fn(&EpochResult) -> f64| -> Vec<f64> {
            finished.iter().filter_map(|r| r.epochs.last()).map(f).collect()
        };
        let secs: Vec<f64> = finished.iter().map(|r| mean_epoch_s(r)).collect();
        ends.add_row(vec![
            Cell::new(b),
            right(format!("{}/{}", finished.len(), runs_of(b).len())),
            right(spread(&last(|e| e.test_acc), 2, true)),
            right(spread(&last(|e| e.avg_loss), 4, false)),
            right(spread(&secs, 3, false)),
        ]);
    }
    Some((curves, ends))
}

/// All tables with titles.
pub fn render(res: &Results, style: Style) -> String {
    let title = |s: &str| style.title(s);
    // With several seeds, the tables up to the seed spread are the first seed's runs.
    let of_seed = match res.seeds().len() {
        0 | 1 => String::new(),
        _ => format!(" (seed {})", res.recipe.seed),
    };
    let mut out = format!(
        "{}{}\n\n{}{}\n",
        title(&format!("Per epoch{of_seed}")),
        epoch_table(res, style),
        title(&format!("Per backend{of_seed}")),
        summary_table(res, style),
    );
    // The article's published numbers are the MLP's; another model has nothing to sit beside.
    if res.recipe.model == ModelKind::Mlp {
        out.push_str(&format!("\n{}{}\n", title("Beside the article"), article_table(res, style)));
    }
    out.push_str(&format!(
        "\n{}{}\n",
        title("Where the time goes (mean seconds per epoch and share)"),
        phase_table(res, style)
    ));
    if let Some((curves, ends)) = seeds_tables(res, style) {
        let seeds = res.seeds().iter().map(u64::to_string).collect::<Vec<_>>().join(", ");
        out.push_str(&format!(
            "\n{}{curves}\n\n{}{ends}\n",
            title(&format!("Over seeds {seeds}: avg loss per epoch, median [min, max]")),
            title("Over seeds: at the end, median [min, max]")
        ));
    }
    if let Some(p) = parity_table(res, style) {
        out.push_str(&format!("\n{}{p}\n", title("Parity")));
    }
    out.push_str(&format!("\n{}", super::verdict::render(res, style)));
    out
}

/// The article's per-epoch line: `epoch 0, avg loss 0.3251, time 3.71`.
pub fn epoch_line(e: &EpochResult) -> String {
    format!("epoch {}, avg loss {:.4}, time {:.2}", e.epoch, e.avg_loss, e.time_s)
}
