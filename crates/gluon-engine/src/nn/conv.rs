//! Convolution and pooling layers (`gluon.nn.Conv2D`, `MaxPool2D`, `AvgPool2D`) and `Flatten`,
//! NCHW like Gluon's default layout. d2l's LeNet, as the MXNet edition writes it:
//!
//! ```
//! use mlcmp_gluon_engine::nn::{self, Block};
//! use mlcmp_gluon_engine::{nd, Init};
//! let net = nn::Sequential::new();
//! net.add(nn::Conv2D::new(6, 5).padding(2).activation("sigmoid"));
//! net.add(nn::AvgPool2D::new(2).strides(2));
//! net.add(nn::Conv2D::new(16, 5).activation("sigmoid"));
//! net.add(nn::AvgPool2D::new(2).strides(2));
//! net.add(nn::Dense::new(120).activation("sigmoid"));
//! net.add(nn::Dense::new(84).activation("sigmoid"));
//! net.add(nn::Dense::new(10));
//! net.initialize_with(&Init::xavier(), false).unwrap();
//! let x = nd::random::uniform(0.0, 1.0, (2, 1, 28, 28));
//! assert_eq!(net.forward(&x).unwrap().shape(), vec![2, 10]);
//! // The in-channels were inferred at the first call: (16, 6, 5, 5).
//! assert_eq!(net.collect_params().iter().nth(2).unwrap().shape(), vec![16, 6, 5, 5]);
//! ```

use super::{layer_params, layer_params_with_prefix, Block, BlockScope, LayerSpec, Parameter, ParameterDict};
use crate::error::Result;
use crate::init::Init;
use crate::nd::{self, Act, NDArray, PoolKind, Window};
use std::sync::Arc;

/// A size given as one number for both axes (`kernel_size=5`) or as (rows, cols).
pub trait Size2 {
    fn pair(self) -> (usize, usize);
}

impl Size2 for usize {
    fn pair(self) -> (usize, usize) {
        (self, self)
    }
}

impl Size2 for (usize, usize) {
    fn pair(self) -> (usize, usize) {
        self
    }
}

/// `nn.Conv2D(channels, kernel_size, strides=1, padding=0, activation=None, use_bias=True,
/// in_channels=0)`: `act(conv(x, W) + b)` over (batch, in_channels, h, w). With `in_channels` 0
/// the weight's shape (channels, in_channels, kh, kw) is inferred at the first forward.
pub struct Conv2D {
    scope: Arc<BlockScope>,
    channels: usize,
    win: Window,
    act: std::result::Result<Option<Act>, crate::error::Error>,
    weight: Parameter,
    bias: Option<Parameter>,
}

impl Conv2D {
    pub fn new(channels: usize, kernel_size: impl Size2) -> Conv2D {
        let scope = BlockScope::create("conv");
        let p = scope.prefix().to_string();
        let kernel = kernel_size.pair();
        Conv2D {
            channels,
            win: Window { kernel, stride: (1, 1), pad: (0, 0) },
            act: Ok(None),
            weight: Parameter::new(format!("{p}weight"), vec![channels, 0, kernel.0, kernel.1], None),
            bias: Some(Parameter::new(format!("{p}bias"), vec![channels], Some(Init::Zero))),
            scope,
        }
    }

    /// `strides=2`.
    pub fn strides(mut self, s: impl Size2) -> Conv2D {
        self.win.stride = s.pair();
        self
    }

    /// `padding=2`: zeros around each image.
    pub fn padding(mut self, p: impl Size2) -> Conv2D {
        self.win.pad = p.pair();
        self
    }

    /// `activation='sigmoid'` (an unknown name is reported at the first forward).
    pub fn activation(mut self, name: &str) -> Conv2D {
        self.act = Act::parse(name).map(Some);
        self
    }

    /// `in_channels=1`: the input's channels, known up front.
    pub fn in_channels(self, c: usize) -> Conv2D {
        let (kh, kw) = self.win.kernel;
        self.weight.set_shape(vec![self.channels, c, kh, kw]);
        self
    }

    /// `use_bias=False`.
    pub fn use_bias(mut self, yes: bool) -> Conv2D {
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

impl Block for Conv2D {
    fn forward(&self, x: &NDArray) -> Result<NDArray> {
        let act = self.act.clone()?;
        let s = x.shape();
        if s.len() != 4 {
            crate::error::bail!(
                "Conv2D '{}' needs a 4-d (batch, channels, height, width) input, got shape {s:?}",
                self.prefix()
            );
        }
        let (kh, kw) = self.win.kernel;
        self.weight.infer_shape(&[self.channels, s[1], kh, kw])?;
        let bias = match &self.bias {
            Some(b) => {
                b.infer_shape(&[self.channels])?;
                Some(b.data()?)
            }
            None => None,
        };
        nd::convolution(x, &self.weight.data()?, bias.as_ref(), self.win, act)
    }

    fn scope(&self) -> &Arc<BlockScope> {
        &self.scope
    }

    fn layers(&self) -> Option<Vec<LayerSpec>> {
        Some(vec![LayerSpec::Conv {
            weight: self.weight.clone(),
            bias: self.bias.clone(),
            channels: self.channels,
            win: self.win,
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

/// `nn.MaxPool2D` and `nn.AvgPool2D`: `pool_size=2`, `strides` (default: the pool size),
/// `padding=0`.
pub struct Pool2D {
    scope: Arc<BlockScope>,
    win: Window,
    kind: PoolKind,
}

/// `nn.MaxPool2D(pool_size)`.
pub struct MaxPool2D;
/// `nn.AvgPool2D(pool_size)` (padding counted in the mean, Gluon's default).
pub struct AvgPool2D;

impl MaxPool2D {
    #[allow(clippy::new_ret_no_self)]
    pub fn new(pool_size: impl Size2) -> Pool2D {
        Pool2D::new(pool_size.pair(), PoolKind::Max)
    }
}

impl AvgPool2D {
    #[allow(clippy::new_ret_no_self)]
    pub fn new(pool_size: impl Size2) -> Pool2D {
        Pool2D::new(pool_size.pair(), PoolKind::Avg)
    }
}

impl Pool2D {
    fn new(kernel: (usize, usize), kind: PoolKind) -> Pool2D {
        Pool2D {
            scope: BlockScope::create("pool"),
            win: Window { kernel, stride: kernel, pad: (0, 0) },
            kind,
        }
    }

    /// `strides=2`.
    pub fn strides(mut self, s: impl Size2) -> Pool2D {
        self.win.stride = s.pair();
        self
    }

    /// `padding=1`.
    pub fn padding(mut self, p: impl Size2) -> Pool2D {
        self.win.pad = p.pair();
        self
    }
}

impl Block for Pool2D {
    fn forward(&self, x: &NDArray) -> Result<NDArray> {
        nd::pooling(x, self.win, self.kind)
    }

    fn scope(&self) -> &Arc<BlockScope> {
        &self.scope
    }

    fn layers(&self) -> Option<Vec<LayerSpec>> {
        Some(vec![LayerSpec::Pool { win: self.win, kind: self.kind }])
    }

    fn collect_params(&self) -> ParameterDict {
        ParameterDict::new(self.prefix())
    }

    fn collect_params_with_prefix(&self, _prefix: &str) -> Vec<(String, Parameter)> {
        vec![]
    }
}

/// `nn.Flatten()`: (batch, ...) to (batch, features).
pub struct Flatten {
    scope: Arc<BlockScope>,
}

impl Flatten {
    pub fn new() -> Flatten {
        Flatten { scope: BlockScope::create("flatten") }
    }
}

impl Default for Flatten {
    fn default() -> Self {
        Self::new()
    }
}

impl Block for Flatten {
    fn forward(&self, x: &NDArray) -> Result<NDArray> {
        x.flatten()
    }

    fn scope(&self) -> &Arc<BlockScope> {
        &self.scope
    }

    fn layers(&self) -> Option<Vec<LayerSpec>> {
        Some(vec![LayerSpec::Flatten])
    }

    fn collect_params(&self) -> ParameterDict {
        ParameterDict::new(self.prefix())
    }

    fn collect_params_with_prefix(&self, _prefix: &str) -> Vec<(String, Parameter)> {
        vec![]
    }
}
