//! `nd::save` / `nd::load`: MXNet's NDArray file, the container of `mx.nd.save` and of Gluon's
//! `.params` files, byte for byte as MXNet 1.x writes it, so weights move both ways.
//!
//! ```
//! use mlcmp_gluon_engine::nd::{self, Arrays};
//! let w = nd::array(&[1.0, 2.0, 3.0, 4.0]).reshape((2, 2)).unwrap();
//! let bytes = nd::to_bytes(&Arrays::Dict(vec![("0.weight".into(), w)])).unwrap();
//! let Arrays::Dict(back) = nd::from_bytes(&bytes, "w.params").unwrap() else { unreachable!() };
//! assert_eq!((back[0].0.as_str(), back[0].1.shape()), ("0.weight", vec![2, 2]));
//! ```
//!
//! The layout, little-endian, from MXNet's format (its `NDArray::Save` and the list file):
//!
//! ```text
//! file  := u64 0x112 (list magic), u64 0 (reserved),
//!          u64 n, n x array, u64 m, m x name        (m = 0 for a list, else m = n)
//! name  := u64 length, UTF-8 bytes
//! array := u32 magic, then for V2 (0xF993FAC9) and V3 (0xF993FACA, NumPy shape semantics):
//!          i32 storage type (0 dense), shape, i32 device type, i32 device id, i32 dtype, values;
//!          V1 (0xF993FAC8) has no storage type
//! shape := i32 ndim, ndim x i64
//! ```
//!
//! The engine holds dense float32 arrays: another dtype or a sparse storage type is an error that
//! names it. A file is read whole and checked before anything is built from it, so a bad file
//! never leaves a partial result.

use super::array::NDArray;
use crate::error::{bail, Error, Result};
use std::path::Path;

const LIST_MAGIC: u64 = 0x112;
const V1_MAGIC: u32 = 0xF993_FAC8;
const V2_MAGIC: u32 = 0xF993_FAC9;
const V3_MAGIC: u32 = 0xF993_FACA;
const DENSE: i32 = 0;
const CPU: i32 = 1;
const FLOAT32: i32 = 0;

/// What an NDArray file holds: `mx.nd.load` gives a list, or a dict when the arrays were saved
/// with names (every `.params` file).
#[derive(Clone, Debug)]
pub enum Arrays {
    List(Vec<NDArray>),
    Dict(Vec<(String, NDArray)>),
}

impl Arrays {
    pub fn len(&self) -> usize {
        match self {
            Arrays::List(v) => v.len(),
            Arrays::Dict(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// `mx.nd.save(path, data)`, written to a temporary file beside `path` and renamed over it, so a
/// failed save leaves no half-written file.
pub fn save(path: impl AsRef<Path>, data: &Arrays) -> Result<()> {
    let path = path.as_ref();
    let bytes = to_bytes(data)?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    let written = std::fs::write(&tmp, &bytes).and_then(|_| std::fs::rename(&tmp, path));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        bail!("{}: cannot write the NDArray file ({e})", path.display());
    }
    Ok(())
}

/// `mx.nd.load(path)`.
pub fn load(path: impl AsRef<Path>) -> Result<Arrays> {
    let path = path.as_ref();
    let bytes = std::fs::read(path)
        .map_err(|e| Error(format!("{}: cannot read the NDArray file ({e})", path.display())))?;
    from_bytes(&bytes, &path.display().to_string())
}

/// The file's bytes (V2 arrays on `cpu(0)`, as MXNet 1.x saves outside NumPy mode).
pub fn to_bytes(data: &Arrays) -> Result<Vec<u8>> {
    let (arrays, names): (Vec<&NDArray>, Vec<&str>) = match data {
        Arrays::List(v) => (v.iter().collect(), vec![]),
        Arrays::Dict(v) => v.iter().map(|(n, a)| (a, n.as_str())).unzip(),
    };
    let mut out = vec![];
    out.extend(LIST_MAGIC.to_le_bytes());
    out.extend(0u64.to_le_bytes());
    out.extend((arrays.len() as u64).to_le_bytes());
    for a in arrays {
        let values = a.to_vec()?;
        out.extend(V2_MAGIC.to_le_bytes());
        out.extend(DENSE.to_le_bytes());
        out.extend((a.ndim() as i32).to_le_bytes());
        for d in a.shape() {
            out.extend((d as i64).to_le_bytes());
        }
        out.extend(CPU.to_le_bytes());
        out.extend(0i32.to_le_bytes());
        out.extend(FLOAT32.to_le_bytes());
        values.iter().for_each(|v| out.extend(v.to_le_bytes()));
    }
    out.extend((names.len() as u64).to_le_bytes());
    for n in names {
        out.extend((n.len() as u64).to_le_bytes());
        out.extend(n.as_bytes());
    }
    Ok(out)
}

/// Read a file's bytes; `source` names it in errors.
pub fn from_bytes(bytes: &[u8], source: &str) -> Result<Arrays> {
    let parsed = parse(bytes).map_err(|e| Error(format!("{source}: {e}")))?;
    let arrays = parsed
        .arrays
        .into_iter()
        .map(|(shape, values)| NDArray::from_vec(values, shape))
        .collect::<Result<Vec<_>>>()?;
    Ok(if parsed.names.is_empty() && !arrays.is_empty() {
        Arrays::List(arrays)
    } else {
        Arrays::Dict(parsed.names.into_iter().zip(arrays).collect())
    })
}

struct Parsed {
    arrays: Vec<(Vec<usize>, Vec<f32>)>,
    names: Vec<String>,
}

/// A cursor that reports a short read as a truncated file.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &str) -> std::result::Result<&'a [u8], String> {
        let left = self.bytes.len() - self.at;
        if n > left {
            return Err(format!(
                "truncated: {what} needs {n} bytes at offset {}, the file has {left} left; the file is cut short or not an MXNet NDArray file",
                self.at
            ));
        }
        self.at += n;
        Ok(&self.bytes[self.at - n..self.at])
    }

    fn u32(&mut self, what: &str) -> std::result::Result<u32, String> {
        Ok(u32::from_le_bytes(self.take(4, what)?.try_into().expect("4 bytes")))
    }

    fn i32(&mut self, what: &str) -> std::result::Result<i32, String> {
        Ok(i32::from_le_bytes(self.take(4, what)?.try_into().expect("4 bytes")))
    }

    fn u64(&mut self, what: &str) -> std::result::Result<u64, String> {
        Ok(u64::from_le_bytes(self.take(8, what)?.try_into().expect("8 bytes")))
    }

    fn i64(&mut self, what: &str) -> std::result::Result<i64, String> {
        Ok(i64::from_le_bytes(self.take(8, what)?.try_into().expect("8 bytes")))
    }
}

fn parse(bytes: &[u8]) -> std::result::Result<Parsed, String> {
    let mut r = Reader { bytes, at: 0 };
    let magic = r.u64("the file header")?;
    if magic != LIST_MAGIC {
        return Err(format!(
            "not an MXNet NDArray file (header {magic:#x}, expected {LIST_MAGIC:#x}); save it with mx.nd.save or net.save_parameters"
        ));
    }
    r.u64("the reserved header field")?;
    let n = r.u64("the array count")?;
    let mut arrays = vec![];
    for i in 0..n {
        arrays.push(array(&mut r).map_err(|e| format!("array {} of {n}: {e}", i + 1))?);
    }
    let m = r.u64("the name count")?;
    if m != 0 && m != n {
        return Err(format!("{n} arrays but {m} names; the file is damaged"));
    }
    let mut names = vec![];
    for i in 0..m {
        let len = r.u64("a name's length")?;
        let len = usize::try_from(len).map_err(|_| format!("name {} is {len} bytes long", i + 1))?;
        let name = std::str::from_utf8(r.take(len, "a name")?)
            .map_err(|_| format!("name {} is not UTF-8; the file is damaged", i + 1))?;
        if names.contains(&name.to_string()) {
            return Err(format!("the name '{name}' appears twice; the file is damaged"));
        }
        names.push(name.to_string());
    }
    if r.at != bytes.len() {
        return Err(format!(
            "{} bytes after the last name; the file is damaged or not an MXNet NDArray file",
            bytes.len() - r.at
        ));
    }
    Ok(Parsed { arrays, names })
}

/// MXNet's dtype flags, in order (`mshadow`'s type flags).
const DTYPES: [&str; 13] = [
    "float32", "float64", "float16", "uint8", "int32", "int8", "int64", "bool", "int16", "uint16", "uint32",
    "uint64", "bfloat16",
];

fn array(r: &mut Reader) -> std::result::Result<(Vec<usize>, Vec<f32>), String> {
    let magic = r.u32("the array header")?;
    match magic {
        V2_MAGIC | V3_MAGIC => match r.i32("the storage type")? {
            DENSE => {}
            1 => return Err("storage type row_sparse is not supported; save it with .tostype('default')".into()),
            2 => return Err("storage type csr is not supported; save it with .tostype('default')".into()),
            s => return Err(format!("unknown storage type {s}; the file is damaged")),
        },
        V1_MAGIC => {}
        _ => {
            return Err(format!(
                "unknown array format {magic:#x} (MXNet writes {V2_MAGIC:#x}); the file is damaged or from before MXNet 1.0"
            ))
        }
    }
    let ndim = r.i32("the number of dimensions")?;
    if ndim <= 0 && magic != V3_MAGIC {
        return Err("an empty (uninitialised) NDArray; save initialised arrays only".into());
    }
    if ndim < 0 {
        return Err("an array of unknown shape (ndim -1); save initialised arrays only".into());
    }
    let mut shape = vec![];
    for _ in 0..ndim {
        let d = r.i64("a dimension")?;
        let d = usize::try_from(d).map_err(|_| format!("dimension {d} is negative; the file is damaged"))?;
        shape.push(d);
    }
    r.i32("the device type")?;
    r.i32("the device id")?;
    let dtype = r.i32("the dtype")?;
    if dtype != FLOAT32 {
        let name = usize::try_from(dtype).ok().and_then(|i| DTYPES.get(i)).copied().unwrap_or("unknown");
        return Err(format!(
            "dtype {name} (type flag {dtype}) is not supported: the engine holds float32; save it with .astype('float32')"
        ));
    }
    // Every stride must fit too, also beside a zero dimension ((0, 2^40, 2^40) holds nothing but
    // its strides overflow).
    let strides_fit = shape.iter().try_fold(4usize, |acc, &d| acc.checked_mul(d.max(1))).is_some();
    if !strides_fit {
        return Err(format!("shape {shape:?} is too large; the file is damaged"));
    }
    let count: usize = shape.iter().product(); // cannot overflow: at most the product above
    let raw = r.take(count * 4, "the values")?;
    let values = raw.chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes"))).collect();
    Ok((shape, values))
}
