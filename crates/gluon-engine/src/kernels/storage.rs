//! Borrowing a candle tensor's values as a slice, and wrapping a vector as a tensor.

use crate::error::{bail, Result};
use candle_core::{Device, Storage, Tensor};

/// The only device this engine runs on.
pub(crate) const DEV: Device = Device::Cpu;

/// Borrow a tensor's values as `T` (row-major; the tensor is made contiguous first when it is not).
pub(crate) fn with_slice<T: candle_core::WithDType, R>(t: &Tensor, f: impl FnOnce(&[T]) -> R) -> Result<R> {
    let t = if t.is_contiguous() { t.clone() } else { t.contiguous()? };
    let (storage, layout) = t.storage_and_layout();
    let Some((start, end)) = layout.contiguous_offsets() else { bail!("internal: tensor is not contiguous") };
    match &*storage {
        Storage::Cpu(cpu) => match cpu.as_slice::<T>() {
            Ok(v) => Ok(f(&v[start..end])),
            Err(_) => bail!("this operation needs a {:?} array, got {:?}", T::DTYPE, t.dtype()),
        },
        _ => bail!("this engine runs on the CPU only"),
    }
}

/// Borrow a tensor's f32 values.
pub(crate) fn with_f32<R>(t: &Tensor, f: impl FnOnce(&[f32]) -> R) -> Result<R> {
    with_slice(t, f)
}

/// Borrow a tensor's u8 values (images before ToTensor).
pub(crate) fn with_u8<R>(t: &Tensor, f: impl FnOnce(&[u8]) -> R) -> Result<R> {
    with_slice(t, f)
}

/// A new f32 tensor of `shape` from `values`, without copying.
pub(crate) fn tensor(values: Vec<f32>, shape: &[usize]) -> Result<Tensor> {
    Ok(Tensor::from_vec(values, shape, &DEV)?)
}
