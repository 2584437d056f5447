//! `init`: how parameters get their first values (`mx.init`).

use crate::error::{bail, Result};
use crate::nd::{self, random, NDArray};

/// An initializer. `Init::default()` is MXNet's `Uniform(0.07)`.
#[derive(Debug, Clone, PartialEq)]
pub enum Init {
    /// U(-scale, scale).
    Uniform(f64),
    /// N(0, sigma^2).
    Normal(f64),
    /// Glorot uniform: U(-s, s) with s = sqrt(magnitude / ((fan_in + fan_out) / 2)); MXNet's default magnitude is 3.
    Xavier {
        magnitude: f64,
    },
    Zero,
    One,
    Constant(f32),
}

impl Default for Init {
    fn default() -> Self {
        Init::Uniform(0.07)
    }
}

impl Init {
    pub fn xavier() -> Init {
        Init::Xavier { magnitude: 3.0 }
    }

    /// Values for the parameter `name` of `shape`. Like MXNet's global initializers, names ending in
    /// `bias` or `beta` start at zero and `gamma` at one; the initializer itself applies to weights.
    pub fn for_param(&self, name: &str, shape: &[usize]) -> Result<NDArray> {
        if name.ends_with("bias") || name.ends_with("beta") {
            return Init::Zero.create(shape);
        }
        if name.ends_with("gamma") {
            return Init::One.create(shape);
        }
        self.create(shape)
    }

    /// Values of `shape` drawn from this initializer (seeded by `nd::random::seed`).
    pub fn create(&self, shape: &[usize]) -> Result<NDArray> {
        if shape.contains(&0) {
            bail!("cannot initialize an array of unknown shape {shape:?}");
        }
        let s = shape.to_vec();
        Ok(match *self {
            Init::Uniform(scale) => random::uniform(-scale, scale, s),
            Init::Normal(sigma) => random::normal(0.0, sigma, s),
            Init::Xavier { magnitude } => {
                if shape.len() < 2 {
                    bail!("Xavier needs a parameter with at least 2 dimensions, got shape {shape:?}");
                }
                let receptive: usize = shape[2..].iter().product();
                let (fan_out, fan_in) = (shape[0] * receptive, shape[1] * receptive);
                let s2 = (magnitude / ((fan_in + fan_out) as f64 / 2.0)).sqrt();
                random::uniform(-s2, s2, s)
            }
            Init::Zero => nd::zeros(s),
            Init::One => nd::ones(s),
            Init::Constant(v) => nd::full(s, v),
        })
    }
}
