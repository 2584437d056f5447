//! `nd`: the NDArray, MXNet's imperative n-dimensional array.
//!
//! ```
//! use mlcmp_gluon_engine::nd;
//! let x = (nd::ones((5, 3)) + 1.0).unwrap();
//! assert_eq!(x.to_string(), "\n[[2. 2. 2.]\n [2. 2. 2.]\n [2. 2. 2.]\n [2. 2. 2.]\n [2. 2. 2.]]\n<NDArray 5x3 @cpu(0)>");
//! ```
//!
//! Every operation runs eagerly on candle-core CPU tensors. Inside [`crate::autograd::record`], an op
//! whose inputs need a gradient also records itself so `backward()` can run it in reverse.

mod array;
mod display;
mod file;
mod op;
mod ops;
pub mod random;
mod tape;

pub use crate::kernels::conv::{PoolKind, Window};
pub use crate::kernels::dense::Act;
pub use array::{arange, array, cpu, full, ones, zeros, Context, NDArray};
pub use file::{from_bytes, load, save, to_bytes, Arrays};
pub use op::{CustomOp, Op};
pub use ops::{
    activation, convolution, dims_of, dot, fully_connected, pooling, record_custom, softmax_cross_entropy,
    stack,
};
