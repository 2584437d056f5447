//! The IDX parsers on arbitrary bytes: an error or a consistent value, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    if let Ok(imgs) = mlcmp_data::parse_images(Path::new("fuzz"), data) {
        assert_eq!(imgs.pixels.len(), imgs.count * imgs.rows * imgs.cols);
        if imgs.count > 0 {
            let _ = imgs.image(imgs.count - 1);
        }
    }
    if let Ok(labels) = mlcmp_data::parse_labels(Path::new("fuzz"), data) {
        assert!(labels.iter().all(|&l| l <= 9));
    }
});
