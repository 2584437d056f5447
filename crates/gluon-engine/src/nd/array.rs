//! The NDArray itself: a shared handle to a value, its gradient buffer and, when recorded, the
//! [`Node`] that computed it.

use super::op::Op;
use crate::autograd::GradReq;
use crate::error::{bail, Result};
use candle_core::{DType, Shape, Tensor};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};

/// The only context this engine runs on, printed like MXNet's `cpu(0)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Context;

impl std::fmt::Display for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("cpu(0)")
    }
}

/// `mx.cpu()`.
pub fn cpu() -> Context {
    Context
}

pub(crate) use crate::kernels::storage::DEV;

/// How a recorded array was computed: the tape is the graph of these.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub(crate) op: Op,
    pub(crate) inputs: Vec<NDArray>,
}

/// An n-dimensional array: a cheap handle, cloning it shares the data (like a Python reference).
#[derive(Clone)]
pub struct NDArray(pub(crate) Arc<Inner>);

pub(crate) struct Inner {
    pub(crate) id: usize,
    pub(crate) data: RwLock<Tensor>,
    pub(crate) grad: Mutex<Option<Tensor>>,
    pub(crate) grad_req: Mutex<GradReq>,
    /// How this array was computed, when it was recorded; `None` for leaves.
    pub(crate) node: Option<Node>,
}

static NEXT_ID: AtomicUsize = AtomicUsize::new(0);

impl NDArray {
    /// Wrap a candle tensor (a leaf: no history, no gradient).
    pub fn from_tensor(t: Tensor) -> NDArray {
        Self::with_node(t, None)
    }

    pub(crate) fn with_node(t: Tensor, node: Option<Node>) -> NDArray {
        NDArray(Arc::new(Inner {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            data: RwLock::new(t),
            grad: Mutex::new(None),
            grad_req: Mutex::new(GradReq::Null),
            node,
        }))
    }

    /// `nd.array(values).reshape(shape)`: f32 values in row-major order.
    pub fn from_vec(v: Vec<f32>, shape: impl Into<Shape>) -> Result<NDArray> {
        let shape = shape.into();
        if v.len() != shape.elem_count() {
            bail!("{} values cannot fill shape {}", v.len(), fmt_shape(shape.dims()));
        }
        Ok(Self::from_tensor(Tensor::from_vec(v, shape, &DEV)?))
    }

    /// u8 values (images before `ToTensor`).
    pub fn from_u8(v: Vec<u8>, shape: impl Into<Shape>) -> Result<NDArray> {
        let shape = shape.into();
        if v.len() != shape.elem_count() {
            bail!("{} values cannot fill shape {}", v.len(), fmt_shape(shape.dims()));
        }
        Ok(Self::from_tensor(Tensor::from_vec(v, shape, &DEV)?))
    }

    pub(crate) fn id(&self) -> usize {
        self.0.id
    }

    /// The current value as a candle tensor (shares storage).
    pub fn tensor(&self) -> Tensor {
        self.0.data.read().unwrap().clone()
    }

    /// Replace the value in place (what an optimizer update does); the shape must stay the same.
    pub fn set_tensor(&self, t: Tensor) -> Result<()> {
        let mut d = self.0.data.write().unwrap();
        if d.dims() != t.dims() {
            bail!(
                "cannot assign an array of shape {} to one of shape {}",
                fmt_shape(t.dims()),
                fmt_shape(d.dims())
            );
        }
        *d = t;
        Ok(())
    }

    /// The shape, as a tuple-like slice.
    pub fn shape(&self) -> Vec<usize> {
        self.0.data.read().unwrap().dims().to_vec()
    }

    pub fn ndim(&self) -> usize {
        self.shape().len()
    }

    pub fn size(&self) -> usize {
        self.shape().iter().product()
    }

    pub fn dtype(&self) -> DType {
        self.0.data.read().unwrap().dtype()
    }

    pub fn context(&self) -> Context {
        Context
    }

    /// Allocate a gradient buffer and say how backward fills it (`x.attach_grad(grad_req='write')`).
    pub fn attach_grad(&self, req: GradReq) {
        *self.0.grad_req.lock().unwrap() = req;
        let zeros = match req {
            GradReq::Null => None,
            _ => Some(self.tensor().zeros_like().expect("zeros of an existing shape")),
        };
        *self.0.grad.lock().unwrap() = zeros;
    }

    pub fn grad_req(&self) -> GradReq {
        *self.0.grad_req.lock().unwrap()
    }

    /// The gradient buffer (`x.grad`); an error when `attach_grad` was not called.
    pub fn grad(&self) -> Result<NDArray> {
        match &*self.0.grad.lock().unwrap() {
            Some(g) => Ok(NDArray::from_tensor(g.clone())),
            None => bail!(
                "this array has no gradient: call attach_grad() (grad_req write or add) before backward"
            ),
        }
    }

    pub(crate) fn grad_tensor(&self) -> Option<Tensor> {
        self.0.grad.lock().unwrap().clone()
    }

    pub(crate) fn set_grad_tensor(&self, g: Option<Tensor>) {
        *self.0.grad.lock().unwrap() = g;
    }

    /// Whether backward must reach this array: it was recorded, or it is a leaf with a gradient.
    pub(crate) fn requires_grad(&self) -> bool {
        self.0.node.is_some() || self.grad_req() != GradReq::Null
    }

    /// A copy of the value without history (`x.detach()`).
    pub fn detach(&self) -> NDArray {
        NDArray::from_tensor(self.tensor())
    }

    /// The value of a one-element array (`x.asscalar()`).
    pub fn asscalar(&self) -> Result<f32> {
        if self.size() != 1 {
            bail!(
                "asscalar() needs an array with one element, this one has shape {}",
                fmt_shape(&self.shape())
            );
        }
        Ok(self.to_vec()?[0])
    }

    /// All values as f32, row-major (`x.asnumpy().ravel()`).
    pub fn to_vec(&self) -> Result<Vec<f32>> {
        Ok(self.tensor().flatten_all()?.to_dtype(DType::F32)?.to_vec1::<f32>()?)
    }

    /// Same values in another dtype (`x.astype('float32')`); not recorded.
    pub fn astype(&self, dtype: DType) -> Result<NDArray> {
        Ok(NDArray::from_tensor(self.tensor().to_dtype(dtype)?))
    }
}

/// MXNet writes shapes as `5x3`.
pub(crate) fn fmt_shape(dims: &[usize]) -> String {
    if dims.is_empty() {
        return "()".into();
    }
    dims.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("x")
}

/// `nd.zeros(shape)`.
pub fn zeros(shape: impl Into<Shape>) -> NDArray {
    NDArray::from_tensor(Tensor::zeros(shape, DType::F32, &DEV).expect("cpu allocation"))
}

/// `nd.ones(shape)`.
pub fn ones(shape: impl Into<Shape>) -> NDArray {
    NDArray::from_tensor(Tensor::ones(shape, DType::F32, &DEV).expect("cpu allocation"))
}

/// `nd.full(shape, value)`.
pub fn full(shape: impl Into<Shape>, value: f32) -> NDArray {
    NDArray::from_tensor(Tensor::full(value, shape, &DEV).expect("cpu allocation"))
}

/// `nd.arange(start, stop, step)` as f32.
pub fn arange(start: f32, stop: f32, step: f32) -> Result<NDArray> {
    if step == 0.0 || !step.is_finite() {
        bail!("arange step must be finite and non-zero, got {step}");
    }
    let n = ((stop - start) / step).ceil().max(0.0) as usize;
    NDArray::from_vec((0..n).map(|i| start + i as f32 * step).collect(), n)
}

/// `nd.array(values)` for a flat list (1-d).
pub fn array(values: &[f32]) -> NDArray {
    NDArray::from_vec(values.to_vec(), values.len()).expect("length matches")
}
