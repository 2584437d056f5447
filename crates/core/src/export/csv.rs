//! Every epoch of every run as CSV, numbers at full precision.

use crate::results::Results;

/// One CSV field: quoted (RFC 4180) where it holds a comma, a quote or a line break.
pub fn field(s: &str) -> String {
    match s.contains([',', '"', '\n', '\r']) {
        true => format!("\"{}\"", s.replace('"', "\"\"")),
        false => s.to_string(),
    }
}

pub fn csv(res: &Results) -> String {
    let mut out = String::from(
        "backend,seed,repeat,batch_size,hidden,epoch,warmup,avg_loss,train_acc,test_acc,time_s,eval_s\n",
    );
    for r in &res.runs {
        let (b, h) =
            r.variant.map(|v| (v.batch_size, v.hidden)).unwrap_or((res.recipe.batch_size, res.recipe.hidden));
        let rep = r.repeat.map(|x| x.to_string()).unwrap_or_default();
        let seed = r.seed.unwrap_or(res.recipe.seed);
        for e in &r.epochs {
            out.push_str(&format!(
                "{},{seed},{rep},{b},{h},{},{},{},{},{},{},{}\n",
                field(&r.backend),
                e.epoch,
                e.warmup,
                e.avg_loss,
                e.train_acc,
                e.test_acc,
                e.time_s,
                e.eval_s
            ));
        }
    }
    out
}
