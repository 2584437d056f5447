//! `hybridize()`: after one imperative call, a block made of Dense, Conv2D, pooling, Flatten and
//! Activation layers runs as a planned executor. Each layer is one fused step: its bias is written
//! into the output buffer and the product accumulated on top (one gemm, no separate add), then the
//! activation applied in place; a pooling right after a convolution is fused into it, each sample
//! pooled while its convolution output is in cache. The buffers live in the plan and are reused call
//! after call; the whole network is one node on the autograd tape, whose backward walks the steps in
//! reverse with the same fused kernels (activation derivative applied in place, bias gradient as
//! sums, no gradient for the data input unless it asked for one).

use super::parameter::Parameter;
use crate::autograd::is_recording;
use crate::error::{bail, Result};
use crate::kernels::conv::{Conv, Pool};
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

/// A step's backward given its input values: the input's gradient when asked for.
type StepBackward<'a> = &'a mut dyn FnMut(&[f32]) -> Result<Option<Vec<f32>>>;

/// One fused step.
enum Step {
    /// `act(x W^T + b)`.
    Dense {
        weight: Parameter,
        bias: Option<Parameter>,
        units: usize,
        act: Option<Act>,
    },
    /// `act(conv(x, W) + b)`, then the pooling after it when there is one.
    Conv {
        weight: Parameter,
        bias: Option<Parameter>,
        win: Window,
        act: Option<Act>,
        pool: Option<(Window, PoolKind)>,
    },
    Pool {
        win: Window,
        kind: PoolKind,
    },
}

impl Step {
    fn params(&self) -> Option<(&Parameter, &Option<Parameter>)> {
        match self {
            Step::Dense { weight, bias, .. } | Step::Conv { weight, bias, .. } => Some((weight, bias)),
            Step::Pool { .. } => None,
        }
    }
}

/// The shape of one sample between steps: an image (channels, rows, cols) or features.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Dims {
    Image(usize, usize, usize),
    Flat(usize),
    #[default]
    Unknown,
}

impl Dims {
    fn len(self) -> usize {
        match self {
            Dims::Image(c, h, w) => c * h * w,
            Dims::Flat(f) => f,
            Dims::Unknown => 0,
        }
    }

    fn image(self, step: usize) -> Result<(usize, usize, usize)> {
        match self {
            Dims::Image(c, h, w) => Ok((c, h, w)),
            _ => bail!("hybridized step {step}: a convolution or pooling needs (batch, channels, height, width) input"),
        }
    }
}

/// Buffers of the last forward, kept for its backward.
#[derive(Default)]
struct State {
    generation: u64,
    batch: usize,
    x: Option<Tensor>,
    x_dims: Dims,
    /// Each step's output (a fused convolution's pooled output).
    outs: Vec<Vec<f32>>,
    /// A fused convolution's output before pooling, as `Conv::forward_pooled` keeps it (empty for
    /// other steps).
    unpooled: Vec<Vec<f32>>,
    dims: Vec<Dims>,
}

pub struct Plan {
    steps: Vec<Step>,
    state: Mutex<State>,
}

impl std::fmt::Debug for Plan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Plan({} fused steps)", self.steps.len())
    }
}

impl Plan {
    /// A plan for these layers, or None when they do not form fusable steps (an activation or a
    /// pooling with nothing to fuse into is fine; an activation after a pooling is not planned).
    pub fn build(specs: Vec<LayerSpec>) -> Option<Plan> {
        let mut steps: Vec<Step> = vec![];
        for s in specs {
            match s {
                LayerSpec::Dense { weight, bias, units, act } => {
                    steps.push(Step::Dense { weight, bias, units, act })
                }
                LayerSpec::Conv { weight, bias, win, act, .. } => {
                    steps.push(Step::Conv { weight, bias, win, act, pool: None })
                }
                // A standalone activation fuses into the layer before it, if that one has none.
                LayerSpec::Act(a) => match steps.last_mut() {
                    Some(Step::Dense { act: act @ None, .. })
                    | Some(Step::Conv { act: act @ None, pool: None, .. }) => *act = Some(a),
                    _ => return None,
                },
                LayerSpec::Pool { win, kind } => match steps.last_mut() {
                    Some(Step::Conv { pool: pool @ None, .. }) => *pool = Some((win, kind)),
                    _ => steps.push(Step::Pool { win, kind }),
                },
                // The steps read each sample's values in order, flat or not.
                LayerSpec::Flatten => {}
            }
        }
        (!steps.is_empty()).then(|| Plan { steps, state: Mutex::new(State::default()) })
    }

    /// The planned forward. When autograd is recording it is one node on the tape and keeps its
    /// buffers for the backward; otherwise (an evaluation between forward and backward, say) it
    /// runs in buffers of its own and leaves a pending backward intact.
    pub fn forward(self: &Arc<Self>, x: &NDArray) -> Result<NDArray> {
        let mut params: Vec<(NDArray, Option<NDArray>)> = vec![];
        for (w, b) in self.steps.iter().filter_map(Step::params) {
            params.push((w.data()?, b.as_ref().map(|b| b.data()).transpose()?));
        }
        if !is_recording() {
            let out = self.compute(&mut State::default(), x, &params)?;
            return Ok(NDArray::from_tensor(out));
        }
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        st.generation += 1;
        let out = self.compute(&mut st, x, &params)?;
        let mut inputs = vec![x.clone()];
        for (w, b) in params {
            inputs.push(w);
            inputs.extend(b);
        }
        let call = PlanCall { plan: self.clone(), generation: st.generation };
        Ok(record_custom(Arc::new(call), &inputs, out))
    }

    /// Run the steps on `x` into `st`'s buffers; the last step's output as a tensor.
    fn compute(&self, st: &mut State, x: &NDArray, params: &[(NDArray, Option<NDArray>)]) -> Result<Tensor> {
        let xt = x.tensor().contiguous()?;
        let n = xt.dims().first().copied().unwrap_or(0);
        st.x_dims = match xt.dims()[..] {
            [_, c, h, w] => Dims::Image(c, h, w),
            _ => Dims::Flat(xt.elem_count() / n.max(1)),
        };
        st.batch = n;
        st.outs.resize(self.steps.len(), vec![]);
        st.unpooled.resize(self.steps.len(), vec![]);
        st.dims.resize(self.steps.len(), Dims::Unknown);
        let mut dims = st.x_dims;
        let mut params = params.iter();
        for (i, step) in self.steps.iter().enumerate() {
            let (done, rest) = st.outs.split_at_mut(i);
            let out = &mut rest[0];
            let p = step.params().map(|_| params.next().expect("a value per parameter"));
            let w = p.map(|(w, _)| w.tensor());
            let b = p.and_then(|(_, b)| b.as_ref().map(NDArray::tensor));
            let bias = |f: &mut dyn FnMut(Option<&[f32]>) -> Result<()>| match &b {
                Some(b) => with_f32(b, |bv| f(Some(bv)))?,
                None => f(None),
            };
            let run = |f: &mut dyn FnMut(&[f32]) -> Result<()>| match i {
                0 => with_f32(&xt, |xs| f(xs))?,
                _ => f(&done[i - 1]),
            };
            dims = match step {
                Step::Dense { weight, units, act, .. } => {
                    let (w, k) = (w.expect("dense weight"), dims.len());
                    if w.dims() != [*units, k] {
                        bail!(
                            "hybridized layer '{}': weight {:?} does not take {k} inputs",
                            weight.name(),
                            w.dims()
                        );
                    }
                    let layer = Dense { n, k, units: *units, act: *act };
                    with_f32(&w, |wv| run(&mut |input| bias(&mut |bv| layer.forward(out, input, wv, bv))))??;
                    Dims::Flat(*units)
                }
                Step::Conv { weight, win, act, pool, .. } => {
                    let (c, h, wd) = dims.image(i)?;
                    let w = w.expect("conv weight");
                    let o = w.dims()[0];
                    if w.dims() != [o, c, win.kernel.0, win.kernel.1] {
                        bail!(
                            "hybridized layer '{}': weight {:?} does not take {c} channels",
                            weight.name(),
                            w.dims()
                        );
                    }
                    let conv = Conv { n, c, h, w: wd, o, win: *win, act: *act };
                    let (ho, wo) = conv.out_hw()?;
                    let unpooled = &mut st.unpooled[i];
                    match pool {
                        Some((pwin, kind)) => {
                            let pool = Pool { planes: n * o, h: ho, w: wo, win: *pwin, kind: *kind };
                            let (hp, wp) = pool.out_hw()?;
                            with_f32(&w, |wv| {
                                run(&mut |input| {
                                    bias(&mut |bv| {
                                        conv.forward_pooled(unpooled, input, wv, bv, Some((&pool, &mut *out)))
                                    })
                                })
                            })??;
                            Dims::Image(o, hp, wp)
                        }
                        None => {
                            with_f32(&w, |wv| {
                                run(&mut |input| bias(&mut |bv| conv.forward(out, input, wv, bv)))
                            })??;
                            Dims::Image(o, ho, wo)
                        }
                    }
                }
                Step::Pool { win, kind } => {
                    let (c, h, w) = dims.image(i)?;
                    let pool = Pool { planes: n * c, h, w, win: *win, kind: *kind };
                    let (ho, wo) = pool.out_hw()?;
                    run(&mut |input| pool.forward(out, input))?;
                    Dims::Image(c, ho, wo)
                }
            };
            st.dims[i] = dims;
        }
        st.x = Some(xt);
        let shape = match dims {
            Dims::Image(c, h, w) => vec![n, c, h, w],
            _ => vec![n, dims.len()],
        };
        tensor(st.outs.last().expect("a step").clone(), &shape)
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
        // Each step's first input slot (its weight), for the steps that have parameters.
        let mut slot = vec![None; self.steps.len()];
        let mut next = 1;
        for (i, step) in self.steps.iter().enumerate() {
            if let Some((_, b)) = step.params() {
                slot[i] = Some(next);
                next += 1 + usize::from(b.is_some());
            }
        }
        let mut dz = with_f32(g, |v| v.to_vec())?;
        let x = st.x.clone().expect("forward ran");
        for (i, step) in self.steps.iter().enumerate().rev() {
            let in_dims = if i == 0 { st.x_dims } else { st.dims[i - 1] };
            let need_dx = i > 0 || needs[0];
            let input = |f: StepBackward| match i {
                0 => with_f32(&x, |xs| f(xs))?,
                _ => f(&st.outs[i - 1]),
            };
            let dx = match step {
                Step::Dense { weight, bias, units, act } => {
                    let s = slot[i].expect("dense has a slot");
                    let layer = Dense { n, k: in_dims.len(), units: *units, act: *act };
                    let need = (need_dx, needs[s], bias.is_some() && needs[s + 1]);
                    let w = weight.data()?.tensor();
                    let mut d = None;
                    let dx = with_f32(&w, |wv| {
                        input(&mut |xs| {
                            let r = layer.backward(&mut dz, &st.outs[i], xs, wv, need)?;
                            d = Some((r.dw, r.db));
                            Ok(r.dx)
                        })
                    })??;
                    let (dw, db) = d.take().expect("ran");
                    if let Some(dw) = dw {
                        grads[s] = Some(tensor(dw, &[*units, in_dims.len()])?);
                    }
                    if let Some(db) = db {
                        grads[s + 1] = Some(tensor(db, &[*units])?);
                    }
                    dx
                }
                Step::Conv { weight, bias, win, act, pool } => {
                    let s = slot[i].expect("conv has a slot");
                    let (c, h, wd) = in_dims.image(i)?;
                    let w = weight.data()?.tensor();
                    let o = w.dims()[0];
                    let conv = Conv { n, c, h, w: wd, o, win: *win, act: *act };
                    let (ho, wo) = conv.out_hw()?;
                    let pool = pool.map(|(pwin, kind)| Pool { planes: n * o, h: ho, w: wo, win: pwin, kind });
                    let y = if pool.is_some() { &st.unpooled[i] } else { &st.outs[i] };
                    let need = (need_dx, needs[s], bias.is_some() && needs[s + 1]);
                    let mut d = None;
                    let dx = with_f32(&w, |wv| {
                        input(&mut |xs| {
                            let r = conv.backward_pooled(&mut dz, y, xs, wv, need, pool.as_ref())?;
                            d = Some((r.dw, r.db));
                            Ok(r.dx)
                        })
                    })??;
                    let (dw, db) = d.take().expect("ran");
                    if let Some(dw) = dw {
                        grads[s] = Some(tensor(dw, w.dims())?);
                    }
                    if let Some(db) = db {
                        grads[s + 1] = Some(tensor(db, &[o])?);
                    }
                    dx
                }
                Step::Pool { win, kind } => {
                    let (c, h, w) = in_dims.image(i)?;
                    let pool = Pool { planes: n * c, h, w, win: *win, kind: *kind };
                    match need_dx {
                        true => input(&mut |xs| Ok(Some(pool.backward(&dz, xs)?)))?,
                        false => None,
                    }
                }
            };
            match dx {
                Some(dx) => dz = dx,
                None => break,
            }
        }
        if needs[0] {
            grads[0] = Some(tensor(dz, &[n, st.x_dims.len()])?.reshape(x_shape)?);
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
        format!("Hybrid({} fused steps, call {})", self.plan.steps.len(), self.generation)
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
