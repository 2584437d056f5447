//! `Parameter` and `ParameterDict`: named, shared weights with their gradients.

use crate::autograd::GradReq;
use crate::error::{bail, Result};
use crate::init::Init;
use crate::nd::NDArray;
use std::fmt;
use std::sync::{Arc, Mutex};

/// A named weight. Cloning shares it (the block and `collect_params()` see the same one).
/// A 0 in the shape is unknown until the first forward (deferred initialisation).
#[derive(Clone)]
pub struct Parameter(Arc<Inner>);

struct Inner {
    name: String,
    shape: Mutex<Vec<usize>>,
    data: Mutex<Option<NDArray>>,
    grad_req: Mutex<GradReq>,
    /// This parameter's own initializer (Dense's `bias_initializer='zeros'`), overriding the global one.
    own_init: Option<Init>,
    /// The initializer given to `initialize()` while the shape was still unknown.
    deferred: Mutex<Option<Init>>,
}

impl Parameter {
    pub fn new(name: impl Into<String>, shape: Vec<usize>, own_init: Option<Init>) -> Parameter {
        Parameter(Arc::new(Inner {
            name: name.into(),
            shape: Mutex::new(shape),
            data: Mutex::new(None),
            grad_req: Mutex::new(GradReq::Write),
            own_init,
            deferred: Mutex::new(None),
        }))
    }

    pub fn name(&self) -> &str {
        &self.0.name
    }

    /// The shape, with 0 for a dimension not yet inferred (`(256, 0)` before the first forward).
    pub fn shape(&self) -> Vec<usize> {
        self.0.shape.lock().unwrap().clone()
    }

    pub(crate) fn set_shape(&self, shape: Vec<usize>) {
        *self.0.shape.lock().unwrap() = shape;
    }

    pub fn is_initialized(&self) -> bool {
        self.0.data.lock().unwrap().is_some()
    }

    pub fn grad_req(&self) -> GradReq {
        *self.0.grad_req.lock().unwrap()
    }

    /// `param.grad_req = 'add'`.
    pub fn set_grad_req(&self, req: GradReq) {
        *self.0.grad_req.lock().unwrap() = req;
        if let Some(d) = &*self.0.data.lock().unwrap() {
            d.attach_grad(req);
        }
    }

    /// Initialize now, or remember `init` until the shape is known. Re-initialising needs `force_reinit`.
    pub fn initialize(&self, init: &Init, force_reinit: bool) -> Result<()> {
        if self.is_initialized() && !force_reinit {
            return Ok(());
        }
        let init = self.0.own_init.clone().unwrap_or_else(|| init.clone());
        if self.shape().contains(&0) {
            *self.0.deferred.lock().unwrap() = Some(init);
            return Ok(());
        }
        self.set_data(&init.for_param(self.name(), &self.shape())?)
    }

    /// Fill in unknown dimensions and finish a deferred initialisation (what the first forward does).
    pub fn infer_shape(&self, shape: &[usize]) -> Result<()> {
        {
            let mut s = self.0.shape.lock().unwrap();
            let fits = s.len() == shape.len() && s.iter().zip(shape).all(|(&a, &b)| a == 0 || a == b);
            if !fits {
                bail!(
                    "parameter '{}' has shape {:?} but the input needs {:?}; check the layer's in_units and the data",
                    self.name(),
                    *s,
                    shape
                );
            }
            *s = shape.to_vec();
        }
        if self.is_initialized() {
            return Ok(());
        }
        let pending = self.0.deferred.lock().unwrap().take();
        match pending {
            Some(init) => self.set_data(&init.for_param(self.name(), shape)?),
            None => bail!(
                "parameter '{}' has not been initialized; call initialize() on the block before the first forward",
                self.name()
            ),
        }
    }

    /// The value; an error before initialisation.
    pub fn data(&self) -> Result<NDArray> {
        match &*self.0.data.lock().unwrap() {
            Some(d) => Ok(d.clone()),
            None if self.0.deferred.lock().unwrap().is_some() => bail!(
                "parameter '{}' has deferred initialisation: its shape {:?} is known after the first forward",
                self.name(),
                self.shape()
            ),
            None => bail!(
                "parameter '{}' has not been initialized; call initialize() on the block before the first forward",
                self.name()
            ),
        }
    }

    /// The gradient buffer.
    pub fn grad(&self) -> Result<NDArray> {
        self.data()?.grad()
    }

    /// Replace the value (e.g. to load weights); the shape must match any known dimensions.
    pub fn set_data(&self, value: &NDArray) -> Result<()> {
        let known = self.shape();
        let fits =
            known.len() == value.ndim() && known.iter().zip(value.shape()).all(|(&a, b)| a == 0 || a == b);
        if !fits {
            bail!(
                "cannot set parameter '{}' of shape {:?} from an array of shape {:?}",
                self.name(),
                known,
                value.shape()
            );
        }
        *self.0.shape.lock().unwrap() = value.shape();
        let mut data = self.0.data.lock().unwrap();
        match &*data {
            // A copy: the trainer updates parameters in place, which must not reach `value`.
            Some(d) => d.set_tensor(value.tensor().copy()?)?,
            None => {
                let d = NDArray::from_tensor(value.tensor().copy()?);
                d.attach_grad(self.grad_req());
                *data = Some(d);
            }
        }
        Ok(())
    }
}

impl fmt::Debug for Parameter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Parameter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s: Vec<String> = self.shape().iter().map(|d| d.to_string()).collect();
        let tuple = if s.len() == 1 { format!("({},)", s[0]) } else { format!("({})", s.join(", ")) };
        write!(f, "Parameter {} (shape={tuple}, dtype=float32)", self.name())
    }
}

/// `collect_params()`: parameters by name, in creation order.
#[derive(Clone, Default, Debug)]
pub struct ParameterDict {
    pub prefix: String,
    params: Vec<Parameter>,
}

impl ParameterDict {
    pub fn new(prefix: impl Into<String>) -> Self {
        ParameterDict { prefix: prefix.into(), params: Vec::new() }
    }

    pub fn push(&mut self, p: Parameter) {
        if !self.params.iter().any(|q| Arc::ptr_eq(&q.0, &p.0)) {
            self.params.push(p);
        }
    }

    pub fn extend(&mut self, other: ParameterDict) {
        other.params.into_iter().for_each(|p| self.push(p));
    }

    pub fn get(&self, name: &str) -> Option<&Parameter> {
        self.params.iter().find(|p| p.name() == name)
    }

    pub fn keys(&self) -> Vec<String> {
        self.params.iter().map(|p| p.name().to_string()).collect()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Parameter> {
        self.params.iter()
    }

    pub fn len(&self) -> usize {
        self.params.len()
    }

    pub fn is_empty(&self) -> bool {
        self.params.is_empty()
    }

    /// Total number of values (known shapes only).
    pub fn num_values(&self) -> usize {
        self.params.iter().map(|p| p.shape().iter().product::<usize>()).sum()
    }

    pub fn initialize(&self, init: &Init, force_reinit: bool) -> Result<()> {
        self.params.iter().try_for_each(|p| p.initialize(init, force_reinit))
    }

    /// `params.setattr('grad_req', 'add')`.
    pub fn set_grad_req(&self, req: GradReq) {
        self.params.iter().for_each(|p| p.set_grad_req(req));
    }

    /// Reset every gradient to zero (needed only with grad_req 'add').
    pub fn zero_grad(&self) -> Result<()> {
        for p in &self.params {
            if let Ok(d) = p.data() {
                if let Some(g) = d.grad_tensor() {
                    d.set_grad_tensor(Some(g.zeros_like()?));
                }
            }
        }
        Ok(())
    }
}

impl fmt::Display for ParameterDict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} (", self.prefix)?;
        for p in &self.params {
            writeln!(f, "  {p}")?;
        }
        write!(f, ")")
    }
}
