//! `hybridize()`: after one imperative call, a block made of Dense and Activation layers runs as a
//! planned executor. Each layer is one fused step: its bias is written into the output buffer and
//! the product accumulated on top (one gemm, no separate add), then the activation applied in place.
//! The buffers live in the plan and are reused call after call; the whole network is one node on the
//! autograd tape, whose backward walks the layers in reverse with the same fused steps (activation
//! derivative applied in place, bias gradient as column sums, no gradient for the data input unless
//! it asked for one).

use super::parameter::Parameter;
use crate::autograd::is_recording;
use crate::error::{bail, Result};
use crate::kernels::dense::Dense;
use crate::kernels::storage::{tensor, with_f32};
use crate::nd::{record_custom, Act, CustomOp, NDArray, PoolKind, Window};
use candle_core::Tensor;
use std::sync::{Arc, Mutex};

/// What a block contributes to a plan (MXNet's `hybrid_forward` would give the same as symbols).
pub enum LayerSpec {
    Dense { weight: Parameter, bias: Option<Parameter>, units: usize, act: Option<Act> },
    Act(Act),
    Conv { weight: Parameter, bias: Option<Parameter>, channels: usize, win: Window, act: Option<Act> },
    Pool { win: Window, kind: PoolKind },
    Flatten,
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
                // Dense layers take (batch, features) already.
                LayerSpec::Flatten => {}
                LayerSpec::Conv { .. } | LayerSpec::Pool { .. } => return None,
            }
        }
        (!layers.is_empty()).then(|| Plan { layers, state: Mutex::new(State::default()) })
    }

    /// The planned forward. When autograd is recording it is one node on the tape and keeps its
    /// buffers for the backward; otherwise (an evaluation between forward and backward, say) it
    /// runs in buffers of its own and leaves a pending backward intact.
    pub fn forward(self: &Arc<Self>, x: &NDArray) -> Result<NDArray> {
        let weights: Vec<NDArray> = self.layers.iter().map(|l| l.weight.data()).collect::<Result<_>>()?;
        let biases: Vec<Option<NDArray>> = self
            .layers
            .iter()
            .map(|l| l.bias.as_ref().map(|b| b.data()).transpose())
            .collect::<Result<_>>()?;
        if !is_recording() {
            let out = self.compute(&mut State::default(), x, &weights, &biases)?;
            return Ok(NDArray::from_tensor(out));
        }
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        st.generation += 1;
        let out = self.compute(&mut st, x, &weights, &biases)?;
        let mut inputs = vec![x.clone()];
        for (w, b) in weights.into_iter().zip(biases) {
            inputs.push(w);
            inputs.extend(b);
        }
        let call = PlanCall { plan: self.clone(), generation: st.generation };
        Ok(record_custom(Arc::new(call), &inputs, out))
    }

    /// Run the layers on `x` into `st`'s buffers; the last layer's output as a tensor.
    fn compute(
        &self,
        st: &mut State,
        x: &NDArray,
        weights: &[NDArray],
        biases: &[Option<NDArray>],
    ) -> Result<Tensor> {
        let xt = x.tensor();
        let n = xt.dims().first().copied().unwrap_or(0);
        let features = xt.elem_count() / n.max(1);
        let xt = xt.reshape((n, features))?.contiguous()?;
        st.batch = n;
        st.outs.resize(self.layers.len(), vec![]);
        let mut k = features;
        for (i, l) in self.layers.iter().enumerate() {
            let w = weights[i].tensor();
            if w.dims() != [l.units, k] {
                bail!(
                    "hybridized layer '{}': weight {:?} does not take {k} inputs",
                    l.weight.name(),
                    w.dims()
                );
            }
            let layer = Dense { n, k, units: l.units, act: l.act };
            let (done, rest) = st.outs.split_at_mut(i);
            let out = &mut rest[0];
            let bias = biases[i].as_ref().map(NDArray::tensor);
            with_f32(&w, |wv| {
                let mut forward = |input: &[f32]| match &bias {
                    Some(b) => with_f32(b, |bv| layer.forward(out, input, wv, Some(bv)))?,
                    None => layer.forward(out, input, wv, None),
                };
                match i {
                    0 => with_f32(&xt, forward)?,
                    _ => forward(&done[i - 1]),
                }
            })??;
            k = l.units;
        }
        st.x = Some(xt);
        tensor(st.outs.last().expect("a layer").clone(), &[n, k])
    }

    /// Gradients of [x, w0, b0, w1, b1, ...] (biases only where present) from the output gradient.
    fn backward(
        &self,
        generation: u64,
        x_shape: &[usize],
        g: &Tensor,
        needs: &[bool],
    ) -> Result<Vec<Option<Tensor>>> {
        let st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if st.generation != generation {
            bail!("a hybridized block ran forward again before this backward; call backward before the next forward");
        }
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
        let mut dz = with_f32(g, |v| v.to_vec())?;
        let x = st.x.clone().expect("forward ran");
        for (i, l) in self.layers.iter().enumerate().rev() {
            let k = if i == 0 { x.dims()[1] } else { self.layers[i - 1].units };
            let layer = Dense { n, k, units: l.units, act: l.act };
            let need = (i > 0 || needs[0], needs[slot[i]], l.bias.is_some() && needs[slot[i] + 1]);
            let w = l.weight.data()?.tensor();
            let d = with_f32(&w, |wv| match i {
                0 => with_f32(&x, |xs| layer.backward(&mut dz, &st.outs[0], xs, wv, need))?,
                _ => layer.backward(&mut dz, &st.outs[i], &st.outs[i - 1], wv, need),
            })??;
            if let Some(dw) = d.dw {
                grads[slot[i]] = Some(tensor(dw, &[l.units, k])?);
            }
            if let Some(db) = d.db {
                grads[slot[i] + 1] = Some(tensor(db, &[l.units])?);
            }
            if let Some(dx) = d.dx {
                dz = dx;
            }
        }
        if needs[0] {
            grads[0] = Some(tensor(dz, &[n, x.dims()[1]])?.reshape(x_shape)?);
        }
        Ok(grads)
    }
}

/// One planned forward on the tape: its backward is the plan's, checked against the generation so a
/// stale backward (another forward ran since) is an error, never a wrong gradient.
struct PlanCall {
    plan: Arc<Plan>,
    generation: u64,
}

impl CustomOp for PlanCall {
    fn name(&self) -> String {
        format!("Hybrid({} fused layers, call {})", self.plan.layers.len(), self.generation)
    }

    fn backward(
        &self,
        inputs: &[Tensor],
        _out: &Tensor,
        g: &Tensor,
        needs: &[bool],
    ) -> Result<Vec<Option<Tensor>>> {
        self.plan.backward(self.generation, inputs[0].dims(), g, needs)
    }
}
