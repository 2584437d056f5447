//! `Trainer`: applies an optimizer to a set of parameters after backward.

use crate::autograd::GradReq;
use crate::error::{bail, Result};
use crate::kernels::elementwise::axpby;
use crate::nn::ParameterDict;
use candle_core::Tensor;
use std::collections::HashMap;

/// `gluon.Trainer(params, 'sgd', {'learning_rate': 0.1, 'momentum': 0.9, 'wd': 1e-4})`.
///
/// `step(batch_size)` rescales each gradient by `1/batch_size`, so a summed loss gives the mean
/// gradient, then updates: `mom = momentum*mom - lr*(g + wd*w)`, `w += mom` (plain SGD without momentum).
#[derive(Debug)]
pub struct Trainer {
    params: ParameterDict,
    lr: f64,
    momentum: f64,
    wd: f64,
    states: HashMap<String, Tensor>,
}

impl Trainer {
    pub fn new(params: ParameterDict, optimizer: &str, options: &[(&str, f64)]) -> Result<Trainer> {
        if optimizer != "sgd" {
            bail!("unknown optimizer '{optimizer}'; this engine implements 'sgd'");
        }
        let mut t = Trainer { params, lr: 0.01, momentum: 0.0, wd: 0.0, states: HashMap::new() };
        for &(k, v) in options {
            if !v.is_finite() {
                bail!("optimizer option '{k}' must be finite, got {v}");
            }
            match k {
                "learning_rate" if v > 0.0 => t.lr = v,
                "momentum" if (0.0..1.0).contains(&v) => t.momentum = v,
                "wd" if v >= 0.0 => t.wd = v,
                "learning_rate" | "momentum" | "wd" => bail!("optimizer option '{k}' = {v} is out of range"),
                _ => bail!("unknown sgd option '{k}'; use learning_rate, momentum or wd"),
            }
        }
        Ok(t)
    }

    pub fn learning_rate(&self) -> f64 {
        self.lr
    }

    pub fn set_learning_rate(&mut self, lr: f64) {
        self.lr = lr;
    }

    /// One update with gradients rescaled by `1/batch_size`.
    pub fn step(&mut self, batch_size: usize) -> Result<()> {
        if batch_size == 0 {
            bail!("Trainer::step: batch_size must be at least 1");
        }
        let rescale = 1.0 / batch_size as f64;
        let (lr, wd, momentum) = (self.lr as f32, self.wd as f32, self.momentum as f32);
        for p in self.params.iter() {
            if p.grad_req() == GradReq::Null {
                continue;
            }
            let w = p.data()?;
            let Some(g) = w.grad_tensor() else { continue };
            let wt = w.tensor();
            let rescale = rescale as f32;
            // In place: the parameter owns its buffer (set_data copies), so nothing else sees it.
            if momentum == 0.0 {
                // w = (1 - lr*wd) w - lr * (rescale * g), MXNet's sgd_update
                axpby(&wt, 1.0 - lr * wd, &g, rescale, -lr)?;
            } else {
                let mom = match self.states.get(p.name()) {
                    Some(m) => m.clone(),
                    None => {
                        let m = wt.zeros_like()?;
                        self.states.insert(p.name().to_string(), m.clone());
                        m
                    }
                };
                // mom = momentum*mom - lr*(rescale*g + wd*w); w += mom
                axpby(&mom, momentum, &g, rescale, -lr)?;
                if wd > 0.0 {
                    axpby(&mom, 1.0, &wt, 1.0, -lr * wd)?;
                }
                axpby(&wt, 1.0, &mom, 1.0, 1.0)?;
            }
        }
        Ok(())
    }
}
