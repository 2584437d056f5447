//! `--sweep batch=32,128,512 --sweep hidden=256,1024`: the sizes a bench runs at.

use crate::recipe::Recipe;
use crate::run::Variant;
use anyhow::{anyhow, bail, Result};

/// Parse `--sweep` items into the sweep points (every combination), applied to `base`'s sizes.
pub fn sweep_points(base: &Recipe, items: &[String]) -> Result<Vec<Variant>> {
    let mut batches = vec![base.batch_size];
    let mut hiddens = vec![base.hidden];
    for it in items {
        let (k, vals) =
            it.split_once('=').ok_or_else(|| anyhow!("--sweep {it}: use KEY=V1,V2 (keys: batch, hidden)"))?;
        let parsed = vals
            .split(',')
            .map(|v| v.trim().parse::<usize>().ok().filter(|&n| n > 0))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| anyhow!("--sweep {it}: values must be positive integers"))?;
        match k {
            "batch" => batches = parsed,
            "hidden" if base.model != crate::model::ModelKind::Mlp => {
                bail!("--sweep {it}: the {} model has no hidden width; sweep batch only", base.model.name())
            }
            "hidden" => hiddens = parsed,
            _ => bail!("--sweep {it}: unknown key '{k}' (keys: batch, hidden)"),
        }
    }
    Ok(batches
        .iter()
        .flat_map(|&b| hiddens.iter().map(move |&h| Variant { batch_size: b, hidden: h }))
        .collect())
}

/// The recipe at one sweep point.
pub fn at(base: &Recipe, v: Variant) -> Recipe {
    Recipe { batch_size: v.batch_size, hidden: v.hidden, ..base.clone() }
}
