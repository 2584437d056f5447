//! `hybridize()`: after one imperative call, a block made of Dense and Activation layers runs as a
//! planned executor. Each layer is one fused step: its bias is written into the output buffer and
//! the product accumulated on top (one gemm, no separate add), then the activation applied in place.
//! The buffers live in the plan and are reused call after call; the whole network is one node on the
//! autograd tape, whose backward walks the layers in reverse with the same fused steps (activation
//! derivative applied in place, bias gradient as column sums, no gradient for the data input unless
//! it asked for one).

use super::{Act, Parameter};
use crate::error::{bail, Result};
use crate::kernels::{self, activate, activate_backward, mat};
use crate::nd::{record_hybrid, NDArray};
use candle_core::Tensor;
use std::sync::Mutex;

/// What a block contributes to a plan (MXNet's `hybrid_forward` would give the same as symbols).
pub enum LayerSpec {
    Dense { weight: Parameter, bias: Option<Parameter>, units: usize, act: Option<Act> },
    Act(Act),
}

/// One fused step: `act(x W^T + b)`.
struct Layer {
    weight: Parameter,
    bias: Option<Parameter>,
    units: usize,
    act: Option<Act>,
}

/// Buffers of the last forward, kept for its backward.
#[derive(Default)]
struct State {
    generation: u64,
    batch: usize,
    x: Option<Tensor>,
    outs: Vec<Vec<f32>>,
    dz: Vec<f32>,
    dprev: Vec<f32>,
}

pub struct Plan {
    layers: Vec<Layer>,
    state: Mutex<State>,
}

impl std::fmt::Debug for Plan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Plan({} fused layers)", self.layers.len())
    }
}

impl Plan {
    /// A plan for these layers, or None when they do not form `Dense (+ activation)` steps.
    pub fn build(specs: Vec<LayerSpec>) -> Option<Plan> {
        let mut layers: Vec<Layer> = vec![];
        for s in specs {
            match s {
                LayerSpec::Dense { weight, bias, units, act } => {
                    layers.push(Layer { weight, bias, units, act })
                }
                // A standalone activation fuses into the Dense before it, if that one has none.
                LayerSpec::Act(a) => match layers.last_mut() {
                    Some(l) if l.act.is_none() => l.act = Some(a),
                    _ => return None,
                },
            }
        }
        (!layers.is_empty()).then(|| Plan { layers, state: Mutex::new(State::default()) })
    }

    /// The planned forward; recorded as one node when autograd is recording.
    pub fn forward(self: &std::sync::Arc<Self>, x: &NDArray) -> Result<NDArray> {
        let xt = x.tensor();
        let n = xt.dims().first().copied().unwrap_or(0);
        let features = xt.elem_count() / n.max(1);
        let xt = xt.reshape((n, features))?.contiguous()?;
        let weights: Vec<NDArray> = self.layers.iter().map(|l| l.weight.data()).collect::<Result<_>>()?;
        let biases: Vec<Option<NDArray>> = self
            .layers
            .iter()
            .map(|l| l.bias.as_ref().map(|b| b.data()).transpose())
            .collect::<Result<_>>()?;
        let mut st = self.state.lock().unwrap();
        st.generation += 1;
        st.batch = n;
        st.outs.resize(self.layers.len(), vec![]);
        let mut in_features = features;
        for (i, l) in self.layers.iter().enumerate() {
            let w = weights[i].tensor();
            if w.dims() != [l.units, in_features] {
                bail!(
                    "hybridized layer '{}': weight {:?} does not take {in_features} inputs",
                    l.weight.name(),
                    w.dims()
                );
            }
            let (done, rest) = st.outs.split_at_mut(i);
            let out = &mut rest[0];
            out.clear();
            match &biases[i] {
                Some(b) => {
                    kernels::with_f32(&b.tensor(), |bv| (0..n).for_each(|_| out.extend_from_slice(bv)))?
                }
                None => out.resize(n * l.units, 0.0),
            }
            let c = in_features;
            match i {
                0 => kernels::with_f32(&xt, |iv| {
                    kernels::with_f32(&w, |wv| {
                        kernels::gemm_into(out, mat(iv, c, false), mat(wv, c, true), true)
                    })
                })???,
                _ => kernels::with_f32(&w, |wv| {
                    kernels::gemm_into(out, mat(&done[i - 1], c, false), mat(wv, c, true), true)
                })??,
            }
            if let Some(a) = l.act {
                activate(a, out);
            }
            in_features = l.units;
        }
        st.x = Some(xt);
        let last = kernels::tensor(st.outs.last().expect("a layer").clone(), &[n, in_features])?;
        let mut inputs = vec![x.clone()];
        for (w, b) in weights.into_iter().zip(biases) {
            inputs.push(w);
            inputs.extend(b);
        }
        Ok(record_hybrid(self.clone(), st.generation, inputs, last))
    }

    /// Gradients of [x, w0, b0, w1, b1, ...] (biases only where present) from the output gradient.
    pub(crate) fn backward(
        &self,
        generation: u64,
        x_shape: &[usize],
        g: &Tensor,
        needs: &[bool],
    ) -> Result<Vec<Option<Tensor>>> {
        let mut st = self.state.lock().unwrap();
        if st.generation != generation {
            bail!("a hybridized block ran forward again before this backward; call backward before the next forward");
        }
        let st = &mut *st;
        let n = st.batch;
        let mut grads: Vec<Option<Tensor>> = vec![None; needs.len()];
        let slot: Vec<usize> = self
            .layers
            .iter()
            .scan(1, |k, l| {
                let s = *k;
                *k += 1 + usize::from(l.bias.is_some());
                Some(s)
            })
            .collect();
        st.dz.clear();
        kernels::with_f32(g, |v| st.dz.extend_from_slice(v))?;
        let x = st.x.clone().expect("forward ran");
        for (i, l) in self.layers.iter().enumerate().rev() {
            if let Some(a) = l.act {
                activate_backward(a, &mut st.dz, &st.outs[i]);
            }
            let in_features = if i == 0 { x.dims()[1] } else { self.layers[i - 1].units };
            let w = l.weight.data()?.tensor();
            if needs[slot[i]] {
                // dW = dz^T . input
                let dzt = mat(&st.dz, l.units, true);
                let dw = match i {
                    0 => kernels::with_f32(&x, |iv| kernels::gemm_new(dzt, mat(iv, in_features, false)))??,
                    _ => kernels::gemm_new(dzt, mat(&st.outs[i - 1], in_features, false))?,
                };
                grads[slot[i]] = Some(kernels::tensor(dw, &[l.units, in_features])?);
            }
            if l.bias.is_some() && needs[slot[i] + 1] {
                let mut db = vec![0f32; l.units];
                for row in st.dz.chunks(l.units) {
                    db.iter_mut().zip(row).for_each(|(d, &v)| *d += v);
                }
                grads[slot[i] + 1] = Some(kernels::tensor(db, &[l.units])?);
            }
            if i > 0 || needs[0] {
                // dinput = dz . W
                st.dprev.clear();
                st.dprev.resize(n * in_features, 0.0);
                let dz = mat(&st.dz, l.units, false);
                kernels::with_f32(&w, |wv| {
                    kernels::gemm_into(&mut st.dprev, dz, mat(wv, in_features, false), false)
                })??;
                std::mem::swap(&mut st.dz, &mut st.dprev);
            }
        }
        if needs[0] {
            grads[0] = Some(kernels::tensor(st.dz.clone(), &[n, x.dims()[1]])?.reshape(x_shape)?);
        }
        Ok(grads)
    }
}
