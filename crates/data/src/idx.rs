//! The IDX format: a big-endian header (magic, then one u32 per dimension) followed by u8 data.

use crate::Error;
use std::path::Path;

const IMAGES_MAGIC: u32 = 2051;
const LABELS_MAGIC: u32 = 2049;

/// `count` images of `rows x cols` u8 pixels, stored row-major one after the other.
#[derive(Debug, Clone, PartialEq)]
pub struct Images {
    pub count: usize,
    pub rows: usize,
    pub cols: usize,
    pub pixels: Vec<u8>,
}

impl Images {
    /// Pixels of image `i`.
    pub fn image(&self, i: usize) -> &[u8] {
        let n = self.rows * self.cols;
        &self.pixels[i * n..(i + 1) * n]
    }
}

fn read(path: &Path) -> Result<Vec<u8>, Error> {
    std::fs::read(path).map_err(|e| Error::new(path, format!("cannot read: {e}")))
}

fn header(path: &Path, bytes: &[u8], magic: u32, dims: usize) -> Result<Vec<usize>, Error> {
    let need = 4 * (1 + dims);
    let truncated = || {
        Error::new(
            path,
            format!(
                "truncated header: {} bytes, an IDX file with {dims} dimension(s) needs {need}",
                bytes.len()
            ),
        )
    };
    if bytes.len() < 4 {
        return Err(truncated());
    }
    let word =
        |i: usize| u32::from_be_bytes([bytes[4 * i], bytes[4 * i + 1], bytes[4 * i + 2], bytes[4 * i + 3]]);
    let found = word(0);
    if found != magic {
        let kind = if magic == IMAGES_MAGIC { "images" } else { "labels" };
        return Err(Error::new(path, format!("wrong magic number {found}, expected {magic} for IDX {kind}")));
    }
    if bytes.len() < need {
        return Err(truncated());
    }
    Ok((1..=dims).map(|i| word(i) as usize).collect())
}

fn check_body(
    path: &Path,
    bytes: &[u8],
    header_len: usize,
    expected: usize,
    what: &str,
) -> Result<(), Error> {
    let body = bytes.len() - header_len;
    if body != expected {
        let kind = if body < expected { "truncated body" } else { "trailing bytes" };
        return Err(Error::new(
            path,
            format!("{kind}: header promises {what} ({expected} bytes) but {body} follow"),
        ));
    }
    Ok(())
}

/// Parse IDX image bytes (magic 2051). `path` only names the source in errors.
pub fn parse_images(path: &Path, bytes: &[u8]) -> Result<Images, Error> {
    let d = header(path, bytes, IMAGES_MAGIC, 3)?;
    let (count, rows, cols) = (d[0], d[1], d[2]);
    if rows == 0 || cols == 0 {
        return Err(Error::new(path, format!("image size {rows}x{cols} is empty")));
    }
    let expected = count
        .checked_mul(rows)
        .and_then(|n| n.checked_mul(cols))
        .ok_or_else(|| Error::new(path, format!("header dimensions {count}x{rows}x{cols} overflow")))?;
    check_body(path, bytes, 16, expected, &format!("{count} images of {rows}x{cols}"))?;
    Ok(Images { count, rows, cols, pixels: bytes[16..].to_vec() })
}

/// Parse IDX label bytes (magic 2049); every label must be a digit 0..=9.
pub fn parse_labels(path: &Path, bytes: &[u8]) -> Result<Vec<u8>, Error> {
    let count = header(path, bytes, LABELS_MAGIC, 1)?[0];
    check_body(path, bytes, 8, count, &format!("{count} labels"))?;
    let labels = bytes[8..].to_vec();
    if let Some((i, l)) = labels.iter().enumerate().find(|(_, &l)| l > 9) {
        return Err(Error::new(path, format!("label {l} at index {i} is not a digit 0..=9")));
    }
    Ok(labels)
}

/// Read and validate an IDX image file.
pub fn read_images(path: &Path) -> Result<Images, Error> {
    parse_images(path, &read(path)?)
}

/// Read and validate an IDX label file.
pub fn read_labels(path: &Path) -> Result<Vec<u8>, Error> {
    parse_labels(path, &read(path)?)
}
