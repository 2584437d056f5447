//! `Parameter` and `ParameterDict`: named, shared weights with their gradients.

use crate::autograd::GradReq;
use crate::error::{bail, Result};
use crate::init::Init;
use crate::nd::{self, Arrays, NDArray};
use std::fmt;
use std::path::Path;
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
        write!(f, "Parameter {} (shape={}, dtype=float32)", self.name(), tuple(&self.shape()))
    }
}

/// A shape as Python prints a tuple: `(256, 784)`, `(10,)`.
fn tuple(shape: &[usize]) -> String {
    let s: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    if s.len() == 1 {
        format!("({},)", s[0])
    } else {
        format!("({})", s.join(", "))
    }
}

/// The keyword options of `load_parameters` and `ParameterDict::load`, as in MXNet.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LoadOptions {
    /// Leave parameters the file does not have as they are (else: an error naming the first).
    pub allow_missing: bool,
    /// Skip arrays in the file that the network has no parameter for (else: an error naming it).
    pub ignore_extra: bool,
}

/// A few names for a message: the first six, then how many more.
fn some_names<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let all: Vec<&str> = names.collect();
    let mut s = all.iter().take(6).map(|n| format!("'{n}'")).collect::<Vec<_>>().join(", ");
    if all.len() > 6 {
        s.push_str(&format!(" and {} more", all.len() - 6));
    }
    if s.is_empty() {
        "none".into()
    } else {
        s
    }
}

/// Load `loaded` into `params` (both by the same kind of name). Every name and shape is checked
/// before the first value is set, so a load that fails changes nothing. A parameter waiting for
/// its shape (deferred initialisation) takes the saved one, as in MXNet.
pub(crate) fn load_into(
    params: &[(String, Parameter)],
    loaded: Vec<(String, NDArray)>,
    opts: LoadOptions,
    source: &str,
) -> Result<()> {
    if !opts.allow_missing {
        if let Some((name, _)) = params.iter().find(|(n, _)| !loaded.iter().any(|(k, _)| k == n)) {
            bail!(
                "{source}: parameter '{name}' is missing from the file, which has {}; load a file saved from this network",
                some_names(loaded.iter().map(|(k, _)| k.as_str()))
            );
        }
    }
    let mut plan = vec![];
    for (key, value) in &loaded {
        let Some((_, p)) = params.iter().find(|(n, _)| n == key) else {
            if opts.ignore_extra {
                continue;
            }
            bail!(
                "{source}: '{key}' in the file is not a parameter of this network, which has {}; load a file saved from this network, or ignore extra parameters",
                some_names(params.iter().map(|(n, _)| n.as_str()))
            );
        };
        let known = p.shape();
        let fits =
            known.len() == value.ndim() && known.iter().zip(value.shape()).all(|(&a, b)| a == 0 || a == b);
        if !fits {
            bail!(
                "{source}: parameter '{key}' has shape {} in this network but {} in the file; build the network the file was saved from",
                tuple(&known),
                tuple(&value.shape())
            );
        }
        plan.push((p, value));
    }
    plan.into_iter().try_for_each(|(p, v)| p.set_data(v))
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

    /// `params.save(path, strip_prefix)`: every parameter under its full name, `strip_prefix`
    /// removed (MXNet's NDArray file, readable by `mx.nd.load` and `ParameterDict.load`).
    pub fn save(&self, path: impl AsRef<Path>, strip_prefix: &str) -> Result<()> {
        let mut arrays = vec![];
        for p in &self.params {
            let Some(name) = p.name().strip_prefix(strip_prefix) else {
                bail!(
                    "cannot strip the prefix '{strip_prefix}' from parameter '{}', which does not start with it",
                    p.name()
                );
            };
            arrays.push((name.to_string(), p.data()?));
        }
        nd::save(path, &Arrays::Dict(arrays))
    }

    /// `params.load(path, allow_missing=..., ignore_extra=..., restore_prefix=...)`: arrays by full
    /// name, `restore_prefix` put back in front of each.
    pub fn load(&self, path: impl AsRef<Path>, opts: LoadOptions, restore_prefix: &str) -> Result<()> {
        let path = path.as_ref();
        let source = path.display().to_string();
        let loaded = named(nd::load(path)?, &source)?;
        self.load_dict(loaded, opts, restore_prefix, &source)
    }

    pub(crate) fn load_dict(
        &self,
        loaded: Vec<(String, NDArray)>,
        opts: LoadOptions,
        restore_prefix: &str,
        source: &str,
    ) -> Result<()> {
        if let Some(p) = self.params.iter().find(|p| !p.name().starts_with(restore_prefix)) {
            bail!(
                "cannot restore the prefix '{restore_prefix}': parameter '{}' does not start with it",
                p.name()
            );
        }
        // `arg:` and `aux:` mark the arrays of a Module checkpoint; MXNet drops them too.
        let loaded = loaded
            .into_iter()
            .map(|(k, v)| {
                let k = k.strip_prefix("arg:").or_else(|| k.strip_prefix("aux:")).unwrap_or(&k);
                (format!("{restore_prefix}{k}"), v)
            })
            .collect();
        let params: Vec<(String, Parameter)> =
            self.params.iter().map(|p| (p.name().to_string(), p.clone())).collect();
        load_into(&params, loaded, opts, source)
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

/// A parameters file's arrays by name; a list without names is an error.
pub(crate) fn named(arrays: Arrays, source: &str) -> Result<Vec<(String, NDArray)>> {
    match arrays {
        Arrays::Dict(d) => Ok(d),
        Arrays::List(_) => bail!(
            "{source}: holds arrays without names, so none can be matched to a parameter; save with net.save_parameters or a dict"
        ),
    }
}
