//! `autograd`: record imperative code, then run it backwards.
//!
//! ```
//! use gluon::{autograd, nd, GradReq};
//! let x = nd::array(&[1.0, 2.0, 3.0]);
//! x.attach_grad(GradReq::Write);
//! let y = autograd::record(|| (&x * &x)?.sum(None, false)).unwrap();
//! y.backward().unwrap();
//! assert_eq!(x.grad().unwrap().to_vec().unwrap(), vec![2.0, 4.0, 6.0]); // d(sum x^2)/dx = 2x
//! ```
//!
//! The tape is the graph itself: every recorded output holds its [`Op`] and its inputs, so backward
//! walks from the output to the leaves in reverse topological order. Only ops with an input that needs
//! a gradient are recorded, and each op computes only the input gradients that are needed.

use crate::error::{bail, Result};
use crate::nd::{NDArray, Op};
use candle_core::Tensor;
use std::cell::Cell;
use std::collections::HashMap;

/// How backward writes a leaf's gradient (MXNet's `grad_req`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GradReq {
    /// Overwrite the gradient at each backward (the default; no zero_grad needed).
    Write,
    /// Accumulate into the gradient across backwards.
    Add,
    /// Keep no gradient.
    Null,
}

impl std::str::FromStr for GradReq {
    type Err = crate::Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "write" => Ok(GradReq::Write),
            "add" => Ok(GradReq::Add),
            "null" => Ok(GradReq::Null),
            _ => bail!("unknown grad_req '{s}'; use 'write', 'add' or 'null'"),
        }
    }
}

/// How a recorded array was computed.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub(crate) op: Op,
    pub(crate) inputs: Vec<NDArray>,
}

thread_local! {
    static RECORDING: Cell<bool> = const { Cell::new(false) };
    static TRAINING: Cell<bool> = const { Cell::new(false) };
}

/// Restores the previous recording/training state when dropped, also on early return or panic.
struct Scope {
    recording: bool,
    training: bool,
}

impl Scope {
    fn enter(recording: bool, training: bool) -> Scope {
        let prev = Scope { recording: is_recording(), training: is_training() };
        RECORDING.with(|c| c.set(recording));
        TRAINING.with(|c| c.set(training));
        prev
    }
}

impl Drop for Scope {
    fn drop(&mut self) {
        RECORDING.with(|c| c.set(self.recording));
        TRAINING.with(|c| c.set(self.training));
    }
}

/// `with autograd.record():` — run `f` recording ops, in training mode.
pub fn record<T>(f: impl FnOnce() -> T) -> T {
    record_mode(true, f)
}

/// `with autograd.record(train_mode=...):`.
pub fn record_mode<T>(train_mode: bool, f: impl FnOnce() -> T) -> T {
    let _s = Scope::enter(true, train_mode);
    f()
}

/// `with autograd.pause():` — run `f` without recording, in predict mode.
pub fn pause<T>(f: impl FnOnce() -> T) -> T {
    let _s = Scope::enter(false, false);
    f()
}

/// `with autograd.train_mode():` — training behaviour without recording.
pub fn train_mode<T>(f: impl FnOnce() -> T) -> T {
    let _s = Scope::enter(is_recording(), true);
    f()
}

/// `with autograd.predict_mode():`.
pub fn predict_mode<T>(f: impl FnOnce() -> T) -> T {
    let _s = Scope::enter(is_recording(), false);
    f()
}

pub fn is_recording() -> bool {
    RECORDING.with(|c| c.get())
}

pub fn is_training() -> bool {
    TRAINING.with(|c| c.get())
}

/// The recorded arrays reachable from `root`, inputs before the arrays computed from them.
fn topo_order(root: &NDArray) -> Vec<NDArray> {
    let mut order = Vec::new();
    let mut seen = std::collections::HashSet::new();
    // Iterative DFS: (array, children pushed?)
    let mut stack = vec![(root.clone(), false)];
    while let Some((a, expanded)) = stack.pop() {
        if expanded {
            order.push(a);
            continue;
        }
        if !seen.insert(a.id()) {
            continue;
        }
        stack.push((a.clone(), true));
        if let Some(node) = &a.0.node {
            for x in &node.inputs {
                if x.requires_grad() && !seen.contains(&x.id()) {
                    stack.push((x.clone(), false));
                }
            }
        }
    }
    order
}

pub(crate) fn backward(root: &NDArray, head: Option<&NDArray>) -> Result<()> {
    if root.0.node.is_none() {
        bail!(
            "cannot run backward: this array was not computed inside autograd::record from an array with \
             attach_grad() (or a parameter); record the forward pass first"
        );
    }
    let head = match head {
        Some(h) if h.shape() != root.shape() => {
            bail!("head gradient of shape {:?} does not match the output shape {:?}", h.shape(), root.shape())
        }
        Some(h) => h.tensor(),
        None => root.tensor().ones_like()?,
    };
    let mut grads: HashMap<usize, Tensor> = HashMap::from([(root.id(), head)]);
    for a in topo_order(root).iter().rev() {
        let Some(g) = grads.remove(&a.id()) else { continue };
        let Some(node) = &a.0.node else {
            write_leaf_grad(a, g)?;
            continue;
        };
        let needs: Vec<bool> = node.inputs.iter().map(|x| x.requires_grad()).collect();
        let input_grads = node.op.backward(&node.inputs, &a.tensor(), &g, &needs)?;
        for (x, gx) in node.inputs.iter().zip(input_grads) {
            let Some(gx) = gx else { continue };
            match grads.remove(&x.id()) {
                Some(prev) => grads.insert(x.id(), (prev + gx)?),
                None => grads.insert(x.id(), gx),
            };
        }
    }
    Ok(())
}

fn write_leaf_grad(leaf: &NDArray, g: Tensor) -> Result<()> {
    match leaf.grad_req() {
        GradReq::Null => {}
        GradReq::Write => leaf.set_grad_tensor(Some(g.contiguous()?)),
        GradReq::Add => {
            let total = match leaf.grad_tensor() {
                Some(prev) => (prev + g)?,
                None => g,
            };
            leaf.set_grad_tensor(Some(total));
        }
    }
    Ok(())
}
