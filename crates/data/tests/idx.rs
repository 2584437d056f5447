use mlcmp_data::{parse_images, parse_labels, read_images, read_labels, verify, FileStatus, Mnist, Split};
use std::path::Path;

fn images_bytes(count: u32, rows: u32, cols: u32, body: usize) -> Vec<u8> {
    let mut b = Vec::new();
    for w in [2051, count, rows, cols] {
        b.extend_from_slice(&u32::to_be_bytes(w));
    }
    b.extend(std::iter::repeat_n(7u8, body));
    b
}

fn labels_bytes(labels: &[u8]) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&2049u32.to_be_bytes());
    b.extend_from_slice(&(labels.len() as u32).to_be_bytes());
    b.extend_from_slice(labels);
    b
}

fn err_images(bytes: &[u8]) -> String {
    parse_images(Path::new("x/imgs"), bytes).unwrap_err().to_string()
}

#[test]
fn well_formed_small_files_parse() {
    let imgs = parse_images(Path::new("a"), &images_bytes(2, 2, 3, 12)).unwrap();
    assert_eq!((imgs.count, imgs.rows, imgs.cols), (2, 2, 3));
    assert_eq!(imgs.image(1), &[7; 6]);
    assert_eq!(parse_labels(Path::new("b"), &labels_bytes(&[0, 9, 3])).unwrap(), vec![0, 9, 3]);
}

#[test]
fn empty_file_is_a_truncated_header() {
    assert_eq!(
        err_images(&[]),
        "x/imgs: truncated header: 0 bytes, an IDX file with 3 dimension(s) needs 16"
    );
}

#[test]
fn truncated_header() {
    let b = images_bytes(1, 28, 28, 0);
    assert!(err_images(&b[..10]).contains("truncated header: 10 bytes"));
}

#[test]
fn truncated_body() {
    let e = err_images(&images_bytes(2, 28, 28, 784 + 100));
    assert_eq!(e, "x/imgs: truncated body: header promises 2 images of 28x28 (1568 bytes) but 884 follow");
}

#[test]
fn trailing_bytes() {
    assert!(err_images(&images_bytes(1, 2, 2, 5)).contains("trailing bytes"));
}

#[test]
fn wrong_magic() {
    let e = parse_images(Path::new("l"), &labels_bytes(&[1, 2])).unwrap_err().to_string();
    assert_eq!(e, "l: wrong magic number 2049, expected 2051 for IDX images");
    let e = parse_labels(Path::new("i"), &images_bytes(1, 1, 1, 1)).unwrap_err().to_string();
    assert_eq!(e, "i: wrong magic number 2051, expected 2049 for IDX labels");
}

#[test]
fn label_out_of_range() {
    let e = parse_labels(Path::new("lab"), &labels_bytes(&[3, 11, 2])).unwrap_err().to_string();
    assert_eq!(e, "lab: label 11 at index 1 is not a digit 0..=9");
}

#[test]
fn count_mismatch_between_images_and_labels() {
    let dir = tempfile::tempdir().unwrap();
    let (i, l) = (dir.path().join("i"), dir.path().join("l"));
    std::fs::write(&i, images_bytes(3, 2, 2, 12)).unwrap();
    std::fs::write(&l, labels_bytes(&[1, 2])).unwrap();
    let e = Split::load(&i, &l).unwrap_err();
    assert_eq!(e.path, i);
    assert!(e.message.starts_with("holds 3 images but"), "{e}");
    assert!(e.message.ends_with("holds 2 labels; the two files must come from the same split"), "{e}");
}

#[test]
fn missing_file_names_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let e = Mnist::load(dir.path()).unwrap_err().to_string();
    assert!(e.contains("train-images-idx3-ubyte: missing; run `mlcmp data fetch`"), "{e}");
    assert!(read_labels(&dir.path().join("nope")).unwrap_err().to_string().contains("cannot read"));
    let st = verify(dir.path());
    assert!(st.iter().all(|(_, s)| *s == FileStatus::Missing));
}

#[test]
fn checksum_mismatch_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("train-labels-idx1-ubyte"), labels_bytes(&[1])).unwrap();
    let st = verify(dir.path());
    assert!(matches!(st[1].1, FileStatus::Mismatch { .. }));
}

// The real files (scripts/setup puts them in data/mnist, or MLCMP_DATA).
#[test]
fn real_mnist_counts_histograms_and_pixels() {
    let dir = mlcmp_data::default_dir();
    let st = verify(&dir);
    assert!(
        st.iter().all(|(_, s)| *s == FileStatus::Ok),
        "MNIST not verified in {}: {st:?}; run scripts/setup",
        dir.display()
    );
    let m = Mnist::load(&dir).unwrap();
    assert_eq!((m.train.len(), m.test.len()), (60_000, 10_000));
    assert_eq!((m.train.images.rows, m.train.images.cols), (28, 28));
    assert_eq!(m.train.histogram(), [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]);
    assert_eq!(m.test.histogram(), [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]);
    let (px, label) = m.train.sample(0);
    assert_eq!(label, 5);
    assert_eq!((px[151], px[152], px[156]), (0, 3, 126));
    assert_eq!(px.iter().map(|&p| p as u32).sum::<u32>(), 27525);
    assert_eq!(&m.test.labels[..5], &[7, 2, 1, 0, 4]);
    assert_eq!(&m.test.images.image(0)[202..206], &[84, 185, 159, 151]);
    let imgs = read_images(&dir.join("t10k-images-idx3-ubyte")).unwrap();
    assert_eq!(imgs.pixels.iter().take(784).map(|&p| p as u32).sum::<u32>(), 18454);
}

/// The one checksum list names each of the four files once, with a SHA-256 in lower-case hex.
#[test]
fn every_file_has_one_published_sha256() {
    for (name, _) in mlcmp_data::FILES {
        let sum = mlcmp_data::published_sha256(name).unwrap_or_else(|| panic!("{name}: no SHA-256"));
        assert!(
            sum.len() == 64 && sum.chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()),
            "{sum}"
        );
        assert_eq!(mlcmp_data::SHA256SUMS.lines().filter(|l| l.ends_with(&format!("  {name}"))).count(), 1);
    }
    assert_eq!(mlcmp_data::SHA256SUMS.lines().count(), 4);
    assert_eq!(mlcmp_data::published_sha256("t10k-labels"), None);
}
