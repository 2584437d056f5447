//! Hand-written CPU kernels for the few places where candle's generic ops cost more than the work:
//! matrix products split across cores, the fused dense layer, fused element-wise passes and
//! in-place updates. They work on f32 slices; [`storage`] borrows them from candle tensors,
//! [`threads`] splits them across cores and [`simd`] compiles their loops for the widest vectors.
//!
//! Why: candle hands the whole product to `gemm`, which keeps a 128x784x256 product on
//! one core; and every candle op allocates its result, so a chain of three ops makes three passes
//! and three buffers where one would do.

pub(crate) mod conv;
pub(crate) mod dense;
pub(crate) mod elementwise;
pub(crate) mod gemm;
mod pair;
pub(crate) mod simd;
pub(crate) mod storage;
pub(crate) mod threads;
