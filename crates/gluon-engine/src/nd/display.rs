//! `print(x)` as MXNet does it: NumPy's rendering of the values, then `<NDArray 5x3 @cpu(0)>`.

use super::array::{fmt_shape, NDArray};
use candle_core::DType;
use std::fmt;

impl fmt::Display for NDArray {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let dims = self.shape();
        let values = self.to_vec().map_err(|_| fmt::Error)?;
        let strings = format_values(&values, self.dtype() != DType::F32 && self.dtype() != DType::F64);
        let mut out = String::new();
        if dims.is_empty() {
            out.push_str(&strings[0]);
        } else {
            nest(&mut out, &strings, &dims, 0, 0);
        }
        write!(f, "\n{out}\n<NDArray {} @{}>", fmt_shape(&dims), self.context())
    }
}

impl fmt::Debug for NDArray {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// NumPy's default float style: up to 8 decimals, trailing zeros dropped, then every value padded to
/// the same integer and fraction width (`[1.5  2.25]`, `[2. 2.]`).
fn format_values(values: &[f32], integer_dtype: bool) -> Vec<String> {
    if integer_dtype {
        let s: Vec<String> = values.iter().map(|v| format!("{}", *v as i64)).collect();
        let w = s.iter().map(|x| x.len()).max().unwrap_or(0);
        return s.into_iter().map(|x| format!("{x:>w$}")).collect();
    }
    let finite = values.iter().filter(|v| v.is_finite());
    let max = finite.clone().fold(0f32, |m, v| m.max(v.abs()));
    let min_nonzero = finite.filter(|v| **v != 0.0).fold(f32::INFINITY, |m, v| m.min(v.abs()));
    if max >= 1e8 || min_nonzero < 1e-4 || (max / min_nonzero) > 1e3 && min_nonzero < 1e-3 {
        return values.iter().map(|v| format!("{v:.4e}")).collect();
    }
    let parts: Vec<(String, String)> = values
        .iter()
        .map(|v| {
            if !v.is_finite() {
                return (format!("{v}").replace("NaN", "nan"), String::new());
            }
            let s = format!("{:.8}", v);
            let s = s.trim_end_matches('0');
            let (i, fr) = s.split_once('.').unwrap_or((s, ""));
            (i.to_string(), fr.to_string())
        })
        .collect();
    let iw = parts.iter().map(|p| p.0.len()).max().unwrap_or(0);
    let fw = parts.iter().map(|p| p.1.len()).max().unwrap_or(0);
    parts
        .into_iter()
        .map(|(i, fr)| {
            if fr.is_empty() && (i == "inf" || i == "-inf" || i == "nan") {
                format!("{i:>w$}", w = iw + 1 + fw)
            } else {
                format!("{i:>iw$}.{fr:<fw$}")
            }
        })
        .collect()
}

fn nest(out: &mut String, s: &[String], dims: &[usize], depth: usize, offset: usize) {
    out.push('[');
    let n = dims[depth];
    let inner: usize = dims[depth + 1..].iter().product();
    for i in 0..n {
        if i > 0 {
            if depth + 1 == dims.len() {
                out.push(' ');
            } else {
                out.push_str(&"\n".repeat(dims.len() - depth - 1));
                out.push_str(&" ".repeat(depth + 1));
            }
        }
        if depth + 1 == dims.len() {
            out.push_str(&s[offset + i]);
        } else {
            nest(out, s, dims, depth + 1, offset + i * inner);
        }
    }
    out.push(']');
}
