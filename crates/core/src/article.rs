//! The article's published numbers ("Ten minutes from PyTorch to MXNet", Mu Li, 2018): the only
//! place they are written down.

pub const TORCH_LOSS: [f64; 5] = [0.3251, 0.1509, 0.1057, 0.0820, 0.0666];
pub const TORCH_S: [f64; 5] = [3.71, 4.05, 4.07, 3.70, 3.63];
pub const MXNET_LOSS: [f64; 5] = [0.3162, 0.1503, 0.1073, 0.0830, 0.0674];
pub const MXNET_S: [f64; 5] = [1.59, 1.49, 1.46, 1.48, 1.75];
pub const TORCH_MEAN_S: f64 = 3.83;
pub const MXNET_MEAN_S: f64 = 1.55;
pub const RATIO: f64 = 2.47;
/// Samples per epoch: the whole MNIST training set.
pub const SAMPLES: usize = 60_000;
