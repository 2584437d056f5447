//! The recipe parser on arbitrary text: an error naming the source, or a recipe that validates.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        match mlcmp_core::recipe::Recipe::parse(text, "fuzz.json") {
            Ok(r) => {
                r.validate().expect("a parsed recipe is valid");
                let _ = r.batches_per_epoch(60_000);
                let _ = r.threads.resolve();
            }
            Err(e) => assert!(e.to_string().starts_with("fuzz.json: ")),
        }
    }
});
