//! What the recipe trains: the one place that knows each network's layers, its parameters, how
//! they start and its work. Backends, parity and the bench floor ask this module instead of writing
//! 784, 10 or a kernel size.

use serde::{Deserialize, Serialize};

/// The recipe's `"model"` key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelKind {
    /// The article's MLP (`"hidden"` sets its width).
    #[default]
    Mlp,
    /// LeNet as "Dive into Deep Learning" teaches it (sigmoid, average pooling).
    Lenet,
}

impl ModelKind {
    pub fn name(self) -> &'static str {
        match self {
            ModelKind::Mlp => "mlp",
            ModelKind::Lenet => "lenet",
        }
    }
}

/// Samples per evaluation batch in every backend (and the real frameworks' runner): big enough to
/// keep the products efficient, small enough that the evaluation does not set the process's peak
/// memory.
pub const EVAL_CHUNK: usize = 2_000;

/// A network on `channels x height x width` images with `classes` outputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Model {
    /// The article's MLP: `inputs -> hidden (ReLU) -> classes`.
    Mlp { inputs: usize, hidden: usize, classes: usize },
    /// d2l's LeNet on a `1 x side x side` image: Conv(6, 5x5, pad 2) sigmoid, AvgPool 2/2,
    /// Conv(16, 5x5) sigmoid, AvgPool 2/2, Dense 120 sigmoid, Dense 84 sigmoid, Dense classes.
    LeNet { side: usize, classes: usize },
}

/// One convolution of LeNet: `out` filters of `kernel x kernel` over `channels` input channels
/// of `side x side` images, zero-padded by `pad`, stride 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvShape {
    pub channels: usize,
    pub out: usize,
    pub kernel: usize,
    pub pad: usize,
    pub side: usize,
}

impl ConvShape {
    /// The output's side.
    pub fn out_side(&self) -> usize {
        self.side + 2 * self.pad + 1 - self.kernel
    }

    /// Multiply-adds of the forward per sample.
    pub fn macs(&self) -> usize {
        self.out * self.out_side().pow(2) * self.channels * self.kernel * self.kernel
    }
}

/// How one parameter starts (in a backend without its own seeded initialisation, and in shared
/// mode for every backend).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Start {
    /// U(-bound, bound).
    Uniform(f64),
    Zero,
}

/// LeNet's filters, its pooling (2x2, stride 2) and its dense widths.
pub const LENET_FILTERS: [usize; 2] = [6, 16];
pub const LENET_KERNEL: usize = 5;
pub const LENET_DENSE: [usize; 2] = [120, 84];

impl Model {
    pub fn kind(&self) -> ModelKind {
        match self {
            Model::Mlp { .. } => ModelKind::Mlp,
            Model::LeNet { .. } => ModelKind::Lenet,
        }
    }

    /// Values per input sample.
    pub fn inputs(&self) -> usize {
        match *self {
            Model::Mlp { inputs, .. } => inputs,
            Model::LeNet { side, .. } => side * side,
        }
    }

    pub fn classes(&self) -> usize {
        match *self {
            Model::Mlp { classes, .. } | Model::LeNet { classes, .. } => classes,
        }
    }

    /// LeNet's two convolutions (empty for the MLP).
    pub fn convs(&self) -> Vec<ConvShape> {
        let Model::LeNet { side, .. } = *self else { return vec![] };
        let first = ConvShape { channels: 1, out: LENET_FILTERS[0], kernel: LENET_KERNEL, pad: 2, side };
        let second = ConvShape {
            channels: LENET_FILTERS[0],
            out: LENET_FILTERS[1],
            kernel: LENET_KERNEL,
            pad: 0,
            side: first.out_side() / 2,
        };
        vec![first, second]
    }

    /// The dense layers as (inputs, outputs), in order.
    pub fn dense(&self) -> Vec<(usize, usize)> {
        match *self {
            Model::Mlp { inputs, hidden, classes } => vec![(inputs, hidden), (hidden, classes)],
            Model::LeNet { classes, .. } => {
                let last = self.convs()[1];
                let flat = last.out * (last.out_side() / 2).pow(2);
                let [a, b] = LENET_DENSE;
                vec![(flat, a), (a, b), (b, classes)]
            }
        }
    }

    /// Parameter shapes, each layer's weight then its bias, layer by layer: weights (out, in) for
    /// dense layers and (out, in, kh, kw) for convolutions, PyTorch's layout and Gluon's.
    pub fn param_shapes(&self) -> Vec<Vec<usize>> {
        let convs = self.convs().into_iter().map(|c| (vec![c.out, c.channels, c.kernel, c.kernel], c.out));
        let dense = self.dense().into_iter().map(|(i, o)| (vec![o, i], o));
        convs.chain(dense).flat_map(|(w, b)| [w, vec![b]]).collect()
    }

    /// For weights of the wrong shape: the hidden width an MLP's weight file was saved with (the
    /// rows of the weight that takes the inputs), where it is not this model's. None for LeNet.
    pub fn other_hidden(&self, file_shapes: &[Vec<usize>]) -> Option<usize> {
        let Model::Mlp { inputs, hidden, .. } = *self else { return None };
        let rows = file_shapes.iter().find_map(|s| match s[..] {
            [rows, cols] if cols == inputs => Some(rows),
            _ => None,
        })?;
        (rows != hidden).then_some(rows)
    }

    /// Each parameter's (fan_in, fan_out), in the order of [`Model::param_shapes`].
    pub fn fans(&self) -> Vec<(usize, usize)> {
        let convs = self.convs().into_iter().map(|c| {
            let k = c.kernel * c.kernel;
            (c.channels * k, c.out * k)
        });
        convs.chain(self.dense()).flat_map(|f| [f, f]).collect()
    }

    /// How each parameter starts when one draw serves every backend: the MLP as PyTorch's
    /// `nn.Linear` does (U(+-1/sqrt(fan_in)) for weight and bias, the article's PyTorch side), LeNet
    /// as d2l does (Xavier-uniform weights, U(+-sqrt(6/(fan_in+fan_out))), and zero biases, Gluon's).
    pub fn start(&self) -> Vec<Start> {
        let xavier = self.kind() == ModelKind::Lenet;
        self.fans()
            .into_iter()
            .enumerate()
            .map(|(i, (fan_in, fan_out))| match (xavier, i % 2 == 1) {
                (false, _) => Start::Uniform(1.0 / (fan_in as f64).sqrt()),
                (true, false) => Start::Uniform((6.0 / (fan_in + fan_out) as f64).sqrt()),
                (true, true) => Start::Zero,
            })
            .collect()
    }

    /// Number of trainable values.
    pub fn param_count(&self) -> usize {
        self.param_shapes().iter().map(|s| s.iter().product::<usize>()).sum()
    }

    /// f32 FLOPs (2 per multiply-add) of one training sample: every layer's forward product, and
    /// in the backward its weight gradient and (except the first layer's, on the data) its input
    /// gradient. Pooling, activations and the loss are not counted. 49.1 GFLOP per epoch for the
    /// article's MLP, 135.8 for LeNet.
    pub fn train_flops_per_sample(&self) -> f64 {
        let macs: Vec<usize> = self
            .convs()
            .iter()
            .map(ConvShape::macs)
            .chain(self.dense().iter().map(|&(i, o)| i * o))
            .collect();
        macs.iter().enumerate().map(|(i, &m)| 2.0 * m as f64 * if i == 0 { 2.0 } else { 3.0 }).sum()
    }

    /// The largest activation of one sample, in values (for the memory bound).
    fn widest_activation(&self) -> usize {
        let conv = self.convs().iter().map(|c| c.out * c.out_side().pow(2)).max().unwrap_or(0);
        let dense = self.dense().iter().map(|&(i, o)| i.max(o)).max().unwrap_or(0);
        conv.max(dense)
    }

    /// A rough upper bound of the memory one backend needs to train this model with `batch`-sample
    /// batches on `samples` training and test samples (u8 images): the data twice (the loaded
    /// split and the framework's own copy, plus one f32 copy for a backend that normalises the whole
    /// set up front), four copies of the parameters (weights, gradients, optimizer and temporaries),
    /// and a training step's or an evaluation chunk's activations (every layer's output, its
    /// gradient and a lowered copy), whichever is larger. Used to refuse a recipe that cannot fit
    /// before it starts, not to predict a peak.
    pub fn memory_bytes(&self, batch: usize, samples: usize) -> f64 {
        let f = 4.0;
        let data = samples as f64 * self.inputs() as f64 * (2.0 + f);
        let params = 4.0 * self.param_count() as f64 * f;
        let layers = (self.convs().len() + self.dense().len()) as f64;
        let per_row = (self.inputs() as f64 + 3.0 * layers * self.widest_activation() as f64) * f;
        let rows = batch.max(EVAL_CHUNK) as f64;
        data + params + rows * per_row
    }

    /// The recipe's product with the most work per sample as libtorch would run it on a batch,
    /// `[m, k, n]` for (m x k).(k x n): the bench times it for the FLOP floor. The MLP's first layer;
    /// LeNet's second convolution lowered to a product (batch x positions rows, in x kernel
    /// columns).
    pub fn largest_product(&self, batch: usize) -> [usize; 3] {
        match *self {
            Model::Mlp { inputs, hidden, .. } => [batch, inputs, hidden],
            Model::LeNet { .. } => {
                let c = self.convs()[1];
                [batch * c.out_side().pow(2), c.channels * c.kernel * c.kernel, c.out]
            }
        }
    }

    /// [`Model::largest_product`] as text, `(128x784).(784x256)`.
    pub fn largest_product_text(&self, batch: usize) -> String {
        let [m, k, n] = self.largest_product(batch);
        format!("({m}x{k}).({k}x{n})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_articles_mlp() {
        let m = Model::Mlp { inputs: 784, hidden: 256, classes: 10 };
        assert_eq!(m.param_count(), 203_530); // the article's count
        assert_eq!(m.param_shapes()[2], vec![10, 256]);
        let gflop = m.train_flops_per_sample() * 60_000.0 / 1e9;
        assert!((gflop - 49.1).abs() < 0.05, "{gflop}");
        assert_eq!(m.start()[1], Start::Uniform(1.0 / 28.0));
    }

    #[test]
    fn d2ls_lenet() {
        let m = Model::LeNet { side: 28, classes: 10 };
        // d2l prints these shapes: conv 6x28x28, pool 6x14x14, conv 16x10x10, pool 16x5x5, 400.
        let c = m.convs();
        assert_eq!((c[0].out_side(), c[1].side, c[1].out_side()), (28, 14, 10));
        assert_eq!(m.dense(), vec![(400, 120), (120, 84), (84, 10)]);
        assert_eq!(m.param_shapes()[2], vec![16, 6, 5, 5]);
        // 156 + 2416 + 48120 + 10164 + 850, d2l's parameter count.
        assert_eq!(m.param_count(), 61_706);
        assert_eq!(c[0].macs() + c[1].macs(), 117_600 + 240_000);
        // Xavier over (fan_in, fan_out) = (25, 150) for the first filters; zero biases.
        assert_eq!(m.start()[0], Start::Uniform((6.0f64 / 175.0).sqrt()));
        assert_eq!(m.start()[1], Start::Zero);
        let gflop = m.train_flops_per_sample() * 60_000.0 / 1e9;
        assert!((gflop - 135.8).abs() < 0.05, "{gflop}");
        assert_eq!(m.largest_product(256), [25_600, 150, 16]);
    }
}
