//! The tape: recording an op's [`Node`] on its output, and `backward`, which walks the recorded
//! graph from an output to its leaves in reverse topological order. Only ops with an input that
//! needs a gradient are recorded, and each op computes only the input gradients that are needed.

use super::array::{NDArray, Node};
use super::op::Op;
use crate::autograd::{is_recording, GradReq};
use crate::error::{bail, Result};
use candle_core::Tensor;
use std::collections::HashMap;

/// Record `op` producing `out` from `inputs` when autograd is recording and some input needs a gradient.
pub(crate) fn record(op: Op, inputs: &[&NDArray], out: Tensor) -> NDArray {
    let node = (is_recording() && inputs.iter().any(|x| x.requires_grad()))
        .then(|| Node { op, inputs: inputs.iter().map(|x| (*x).clone()).collect() });
    NDArray::with_node(out, node)
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
        let inputs: Vec<Tensor> = node.inputs.iter().map(NDArray::tensor).collect();
        let input_grads = node.op.backward(&inputs, &a.tensor(), &g, &needs)?;
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

impl NDArray {
    /// Back-propagate from this array with a head gradient of ones (summing a non-scalar output).
    pub fn backward(&self) -> Result<()> {
        backward(self, None)
    }

    /// Back-propagate with an explicit head gradient of this array's shape.
    pub fn backward_with(&self, head: &NDArray) -> Result<()> {
        backward(self, Some(head))
    }
}
