//! `nn`: Blocks. A Block owns parameters and child blocks and maps an NDArray to an NDArray.
//!
//! ```
//! use mlcmp_gluon_engine::nn::{self, Block};
//! let net = nn::Sequential::new();
//! net.name_scope(|| {
//!     net.add(nn::Dense::new(256).activation("relu"));
//!     net.add(nn::Dense::new(10));
//! });
//! let p = net.collect_params();
//! assert!(p.keys()[0].ends_with("_dense0_weight")); // e.g. sequential0_dense0_weight
//! assert_eq!(p.get(&p.keys()[0]).unwrap().shape(), vec![256, 0]); // in_units inferred at the first forward
//! ```
//!
//! Saving and loading, in MXNet's own file format (real MXNet reads these files and writes
//! files this reads):
//!
//! ```
//! use mlcmp_gluon_engine::nd;
//! use mlcmp_gluon_engine::nn::{self, Block, LoadOptions};
//! let mlp = || {
//!     let net = nn::Sequential::new();
//!     net.name_scope(|| {
//!         net.add(nn::Dense::new(4).activation("relu"));
//!         net.add(nn::Dense::new(2));
//!     });
//!     net
//! };
//! let (net, x) = (mlp(), nd::ones((1, 3)));
//! net.initialize().unwrap();
//! let y = net.forward(&x).unwrap();
//! let path = std::env::temp_dir().join(format!("mlcmp-doc-{}.params", std::process::id()));
//! net.save_parameters(&path).unwrap(); // keys 0.weight, 0.bias, 1.weight, 1.bias
//! let fresh = mlp(); // shapes (4, 0): a load completes the deferred initialisation
//! fresh.load_parameters(&path, LoadOptions::default()).unwrap();
//! assert_eq!(fresh.forward(&x).unwrap().to_vec().unwrap(), y.to_vec().unwrap());
//! # std::fs::remove_file(&path).unwrap();
//! ```

mod conv;
pub(crate) mod hybrid;
mod parameter;

pub use conv::{AvgPool2D, Conv2D, Flatten, MaxPool2D, Pool2D, Size2};
pub use hybrid::LayerSpec;
pub use parameter::{LoadOptions, Parameter, ParameterDict};

use crate::error::Result;
use crate::init::Init;
pub use crate::nd::Act;
use crate::nd::{self, Arrays, NDArray};
use std::cell::RefCell;
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

/// A block's name prefix (`dense0_`) and the counters that name the children made in its scope.
pub struct BlockScope {
    prefix: String,
    counters: Mutex<HashMap<String, usize>>,
}

static GLOBAL_COUNTERS: Mutex<Option<HashMap<String, usize>>> = Mutex::new(None);

thread_local! {
    static CURRENT: RefCell<Vec<Arc<BlockScope>>> = const { RefCell::new(Vec::new()) };
}

fn next(counters: &mut HashMap<String, usize>, hint: &str) -> usize {
    let c = counters.entry(hint.to_string()).or_insert(0);
    *c += 1;
    *c - 1
}

impl BlockScope {
    /// A new block's prefix: `hint` + a counter, inside the current name scope if any. At top level
    /// the counters are per process (`sequential0_`, `sequential1_`, ...), inside a scope per parent.
    pub fn create(hint: &str) -> Arc<BlockScope> {
        let prefix = CURRENT.with(|c| match c.borrow().last() {
            Some(parent) => {
                let n = next(&mut parent.counters.lock().unwrap(), hint);
                format!("{}{hint}{n}_", parent.prefix)
            }
            None => {
                let mut g = GLOBAL_COUNTERS.lock().unwrap();
                let n = next(g.get_or_insert_with(HashMap::new), hint);
                format!("{hint}{n}_")
            }
        });
        Arc::new(BlockScope { prefix, counters: Mutex::new(HashMap::new()) })
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Run `f` with this scope current, so blocks created inside are named under it.
    pub fn enter<R>(self: &Arc<Self>, f: impl FnOnce() -> R) -> R {
        struct Pop;
        impl Drop for Pop {
            fn drop(&mut self) {
                CURRENT.with(|c| c.borrow_mut().pop());
            }
        }
        CURRENT.with(|c| c.borrow_mut().push(self.clone()));
        let _pop = Pop;
        f()
    }
}

/// `gluon.Block`.
pub trait Block {
    /// `net(x)`.
    fn forward(&self, x: &NDArray) -> Result<NDArray>;

    /// This block's scope (its prefix and child counters).
    fn scope(&self) -> &Arc<BlockScope>;

    /// This block's and its children's parameters.
    fn collect_params(&self) -> ParameterDict;

    /// Parameters under their structural names, each its attribute name after the positions of
    /// the children that hold it (`0.weight`, `1.bias`): MXNet's `_collect_params_with_prefix`,
    /// the keys of `save_parameters`.
    fn collect_params_with_prefix(&self, prefix: &str) -> Vec<(String, Parameter)>;

    /// `net.save_parameters(path)`: every parameter under its structural name, in MXNet's file
    /// format (real MXNet loads it with `net.load_parameters`).
    fn save_parameters(&self, path: impl AsRef<Path>) -> Result<()>
    where
        Self: Sized,
    {
        let arrays = self
            .collect_params_with_prefix("")
            .into_iter()
            .map(|(name, p)| Ok((name, p.data()?)))
            .collect::<Result<Vec<_>>>()?;
        nd::save(path, &Arrays::Dict(arrays))
    }

    /// `net.load_parameters(path, allow_missing=..., ignore_extra=...)`: names and shapes are
    /// checked before anything is set; a layer still waiting for its input size takes the saved
    /// shape. A file whose names have no `.` holds full names without this block's prefix (MXNet's
    /// older `save_params`) and loads by those, as in MXNet.
    fn load_parameters(&self, path: impl AsRef<Path>, opts: LoadOptions) -> Result<()>
    where
        Self: Sized,
    {
        let path = path.as_ref();
        let source = path.display().to_string();
        let loaded = parameter::named(nd::load(path)?, &source)?;
        if !loaded.is_empty() && !loaded.iter().any(|(k, _)| k.contains('.')) {
            return self.collect_params().load_dict(loaded, opts, self.prefix(), &source);
        }
        parameter::load_into(&self.collect_params_with_prefix(""), loaded, opts, &source)
    }

    fn prefix(&self) -> &str {
        self.scope().prefix()
    }

    /// `with net.name_scope():` — children created inside `f` are named under this block.
    fn name_scope<R>(&self, f: impl FnOnce() -> R) -> R
    where
        Self: Sized,
    {
        self.scope().enter(f)
    }

    /// This block as fusable layers, for `hybridize()`; None when it cannot be planned.
    fn layers(&self) -> Option<Vec<LayerSpec>> {
        None
    }

    /// `net.initialize()`: the default initializer, `Uniform(0.07)` for weights and zeros for biases.
    fn initialize(&self) -> Result<()> {
        self.initialize_with(&Init::default(), false)
    }

    /// `net.initialize(init, force_reinit=...)`.
    fn initialize_with(&self, init: &Init, force_reinit: bool) -> Result<()> {
        self.collect_params().initialize(init, force_reinit)
    }
}

/// `nn.Sequential()` (and `nn.HybridSequential()`): children run one after the other.
pub struct Sequential {
    scope: Arc<BlockScope>,
    children: RefCell<Vec<Box<dyn Block>>>,
    hybrid: RefCell<Hybrid>,
}

/// Where `hybridize()` stands.
enum Hybrid {
    Off,
    /// Hybridized; the next call traces the children and plans them.
    Pending,
    Planned(Arc<hybrid::Plan>),
    /// The children cannot be planned: imperative it stays.
    Unsupported,
}

impl Sequential {
    pub fn new() -> Sequential {
        Sequential {
            scope: BlockScope::create("sequential"),
            children: RefCell::new(Vec::new()),
            hybrid: RefCell::new(Hybrid::Off),
        }
    }

    /// `net.hybridize()`: the next call runs imperatively (finishing deferred initialisation) and
    /// plans the network; later calls run the plan. Results match the imperative mode to f32 rounding.
    pub fn hybridize(&self) {
        *self.hybrid.borrow_mut() = Hybrid::Pending;
    }

    /// Whether calls run a plan (false before the first call after `hybridize()` and for blocks that
    /// cannot be planned).
    pub fn is_planned(&self) -> bool {
        matches!(*self.hybrid.borrow(), Hybrid::Planned(_))
    }

    fn forward_imperative(&self, x: &NDArray) -> Result<NDArray> {
        let mut x = x.clone();
        for c in self.children.borrow().iter() {
            x = c.forward(&x)?;
        }
        Ok(x)
    }

    /// `net.add(block)`. On a hybridized network the plan is rebuilt at the next call, so the new
    /// layer is never skipped.
    pub fn add(&self, block: impl Block + 'static) {
        self.children.borrow_mut().push(Box::new(block));
        let mut h = self.hybrid.borrow_mut();
        if !matches!(*h, Hybrid::Off) {
            *h = Hybrid::Pending;
        }
    }

    pub fn len(&self) -> usize {
        self.children.borrow().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Default for Sequential {
    fn default() -> Self {
        Self::new()
    }
}

impl Block for Sequential {
    fn forward(&self, x: &NDArray) -> Result<NDArray> {
        let plan = match &*self.hybrid.borrow() {
            Hybrid::Planned(p) => Some(p.clone()),
            _ => None,
        };
        if let Some(p) = plan {
            return p.forward(x);
        }
        let y = self.forward_imperative(x)?;
        if matches!(*self.hybrid.borrow(), Hybrid::Pending) {
            let planned = self.layers().and_then(hybrid::Plan::build);
            *self.hybrid.borrow_mut() = match planned {
                Some(p) => Hybrid::Planned(Arc::new(p)),
                None => Hybrid::Unsupported,
            };
        }
        Ok(y)
    }

    fn layers(&self) -> Option<Vec<LayerSpec>> {
        let mut all = vec![];
        for c in self.children.borrow().iter() {
            all.extend(c.layers()?);
        }
        Some(all)
    }

    fn scope(&self) -> &Arc<BlockScope> {
        &self.scope
    }

    fn collect_params(&self) -> ParameterDict {
        let mut d = ParameterDict::new(self.prefix());
        for c in self.children.borrow().iter() {
            d.extend(c.collect_params());
        }
        d
    }

    fn collect_params_with_prefix(&self, prefix: &str) -> Vec<(String, Parameter)> {
        let dot = if prefix.is_empty() { String::new() } else { format!("{prefix}.") };
        let children = self.children.borrow();
        children
            .iter()
            .enumerate()
            .flat_map(|(i, c)| c.collect_params_with_prefix(&format!("{dot}{i}")))
            .collect()
    }
}

/// A layer's own parameters (Dense, Conv2D): its weight and, when it has one, its bias.
fn layer_params(prefix: &str, weight: &Parameter, bias: &Option<Parameter>) -> ParameterDict {
    let mut d = ParameterDict::new(prefix);
    d.push(weight.clone());
    if let Some(b) = bias {
        d.push(b.clone());
    }
    d
}

/// The same under structural names: `{prefix}.weight`, `{prefix}.bias`.
fn layer_params_with_prefix(
    prefix: &str,
    weight: &Parameter,
    bias: &Option<Parameter>,
) -> Vec<(String, Parameter)> {
    let dot = if prefix.is_empty() { String::new() } else { format!("{prefix}.") };
    let mut out = vec![(format!("{dot}weight"), weight.clone())];
    out.extend(bias.iter().map(|b| (format!("{dot}bias"), b.clone())));
    out
}

/// `nn.Dense(units, activation=None, use_bias=True, in_units=0)`: `act(x W^T + b)`, with the input
/// flattened to (batch, features). With `in_units` 0 the weight's shape is inferred at the first forward.
pub struct Dense {
    scope: Arc<BlockScope>,
    units: usize,
    act: std::result::Result<Option<Act>, crate::error::Error>,
    weight: Parameter,
    bias: Option<Parameter>,
}

impl Dense {
    pub fn new(units: usize) -> Dense {
        let scope = BlockScope::create("dense");
        let p = scope.prefix().to_string();
        Dense {
            units,
            act: Ok(None),
            weight: Parameter::new(format!("{p}weight"), vec![units, 0], None),
            bias: Some(Parameter::new(format!("{p}bias"), vec![units], Some(Init::Zero))),
            scope,
        }
    }

    /// `activation='relu'` (an unknown name is reported at the first forward).
    pub fn activation(mut self, name: &str) -> Dense {
        self.act = Act::parse(name).map(Some);
        self
    }

    /// `in_units=784`: the input size, known up front.
    pub fn in_units(self, n: usize) -> Dense {
        self.weight.set_shape(vec![self.units, n]);
        self
    }

    /// `use_bias=False`.
    pub fn use_bias(mut self, yes: bool) -> Dense {
        if !yes {
            self.bias = None;
        }
        self
    }

    pub fn weight(&self) -> &Parameter {
        &self.weight
    }

    pub fn bias(&self) -> Option<&Parameter> {
        self.bias.as_ref()
    }
}

impl Block for Dense {
    fn forward(&self, x: &NDArray) -> Result<NDArray> {
        let act = self.act.clone()?;
        let x = if x.ndim() == 2 { x.clone() } else { x.flatten()? };
        self.weight.infer_shape(&[self.units, x.shape()[1]])?;
        let bias = match &self.bias {
            Some(b) => {
                b.infer_shape(&[self.units])?;
                Some(b.data()?)
            }
            None => None,
        };
        nd::fully_connected(&x, &self.weight.data()?, bias.as_ref(), act)
    }

    fn scope(&self) -> &Arc<BlockScope> {
        &self.scope
    }

    fn layers(&self) -> Option<Vec<LayerSpec>> {
        Some(vec![LayerSpec::Dense {
            weight: self.weight.clone(),
            bias: self.bias.clone(),
            units: self.units,
            act: self.act.clone().ok()?,
        }])
    }

    fn collect_params(&self) -> ParameterDict {
        layer_params(self.prefix(), &self.weight, &self.bias)
    }

    fn collect_params_with_prefix(&self, prefix: &str) -> Vec<(String, Parameter)> {
        layer_params_with_prefix(prefix, &self.weight, &self.bias)
    }
}

/// `nn.Activation('relu')`.
pub struct Activation {
    scope: Arc<BlockScope>,
    act: Act,
}

impl Activation {
    pub fn new(name: &str) -> Result<Activation> {
        Ok(Activation { act: Act::parse(name)?, scope: BlockScope::create(name) })
    }
}

impl Block for Activation {
    fn forward(&self, x: &NDArray) -> Result<NDArray> {
        nd::activation(x, self.act)
    }

    fn layers(&self) -> Option<Vec<LayerSpec>> {
        Some(vec![LayerSpec::Act(self.act)])
    }

    fn scope(&self) -> &Arc<BlockScope> {
        &self.scope
    }

    fn collect_params(&self) -> ParameterDict {
        ParameterDict::new(self.prefix())
    }

    fn collect_params_with_prefix(&self, _prefix: &str) -> Vec<(String, Parameter)> {
        vec![]
    }
}
