//! MXNet's NDArray file reader (`.params`) on arbitrary bytes: an error or a consistent value,
//! never a panic; what it reads writes back to the same arrays.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mlcmp_gluon_engine::nd::{self, Arrays};

fuzz_target!(|data: &[u8]| {
    if let Ok(arrays) = nd::from_bytes(data, "fuzz") {
        let list = match &arrays {
            Arrays::List(v) => v.clone(),
            Arrays::Dict(d) => d.iter().map(|(_, a)| a.clone()).collect(),
        };
        for a in &list {
            assert_eq!(a.size(), a.shape().iter().product::<usize>());
        }
        let again = nd::from_bytes(&nd::to_bytes(&arrays).expect("writes"), "again").expect("reads back");
        assert_eq!(again.len(), arrays.len());
    }
});
