//! `nd::save`/`nd::load` and `save_parameters`/`load_parameters`: MXNet's file layout, byte for
//! byte, and MXNet's loading rules. (Round trips with real MXNet are in cli/tests/params.rs.)

use mlcmp_gluon_engine::nd::{self, Arrays, NDArray};
use mlcmp_gluon_engine::nn::{self, Block, LoadOptions};

fn mlp(hidden: usize) -> nn::Sequential {
    let net = nn::Sequential::new();
    net.name_scope(|| {
        net.add(nn::Dense::new(hidden).activation("relu"));
        net.add(nn::Dense::new(10));
    });
    net
}

fn values(a: &NDArray) -> Vec<f32> {
    a.to_vec().unwrap()
}

/// The bytes MXNet 1.9.1 writes for `mx.nd.save(f, {'a': mx.nd.array([[1, 2, 3]])})`, spelled out
/// from the format: list header, one V2 dense float32 array on cpu(0), one name.
#[test]
fn the_layout_is_mxnets() {
    let a = nd::array(&[1.0, 2.0, 3.0]).reshape((1, 3)).unwrap();
    let bytes = nd::to_bytes(&Arrays::Dict(vec![("a".into(), a)])).unwrap();
    let mut want: Vec<u8> = vec![];
    want.extend(0x112u64.to_le_bytes()); // list magic
    want.extend(0u64.to_le_bytes()); // reserved
    want.extend(1u64.to_le_bytes()); // one array
    want.extend(0xF993_FAC9u32.to_le_bytes()); // NDArray V2
    want.extend(0i32.to_le_bytes()); // dense storage
    want.extend(2i32.to_le_bytes()); // ndim
    want.extend(1i64.to_le_bytes());
    want.extend(3i64.to_le_bytes());
    want.extend(1i32.to_le_bytes()); // cpu
    want.extend(0i32.to_le_bytes()); // device 0
    want.extend(0i32.to_le_bytes()); // float32
    for v in [1.0f32, 2.0, 3.0] {
        want.extend(v.to_le_bytes());
    }
    want.extend(1u64.to_le_bytes()); // one name
    want.extend(1u64.to_le_bytes());
    want.extend(b"a");
    assert_eq!(bytes, want);
}

#[test]
fn lists_and_dicts_round_trip_through_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.nd");
    let a = nd::array(&[1.5, -2.0]).reshape((2, 1)).unwrap();
    let b = nd::array(&[f32::MIN_POSITIVE, 3.0e38, -0.0]);
    nd::save(&path, &Arrays::List(vec![a.clone(), b.clone()])).unwrap();
    let Arrays::List(back) = nd::load(&path).unwrap() else { panic!("a list") };
    assert_eq!((back[0].shape(), values(&back[0])), (vec![2, 1], values(&a)));
    assert_eq!(
        values(&back[1]).iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
        [f32::MIN_POSITIVE.to_bits(), 3.0e38f32.to_bits(), (-0.0f32).to_bits()]
    );
    nd::save(&path, &Arrays::Dict(vec![("w".into(), a), ("b".into(), b)])).unwrap();
    let Arrays::Dict(back) = nd::load(&path).unwrap() else { panic!("a dict") };
    assert_eq!(back.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(), ["w", "b"]);
    // Nothing but the file is left behind (the save goes through a renamed temporary file).
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn save_parameters_uses_structural_names_and_load_completes_deferred_init() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.params");
    let net = mlp(6);
    net.initialize().unwrap();
    let x = nd::random::uniform(-1.0, 1.0, (3, 4));
    let y = net.forward(&x).unwrap();
    net.save_parameters(&path).unwrap();
    let Arrays::Dict(saved) = nd::load(&path).unwrap() else { panic!("a dict") };
    let keys: Vec<&str> = saved.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["0.weight", "0.bias", "1.weight", "1.bias"]);
    assert_eq!(saved[0].1.shape(), vec![6, 4]);

    // A fresh network (shapes still (6, 0)) loads before its first forward and computes the same.
    let fresh = mlp(6);
    assert_eq!(fresh.collect_params().iter().next().unwrap().shape(), vec![6, 0]);
    fresh.load_parameters(&path, LoadOptions::default()).unwrap();
    assert_eq!(fresh.collect_params().iter().next().unwrap().shape(), vec![6, 4]);
    assert_eq!(values(&fresh.forward(&x).unwrap()), values(&y));

    // collect_params().save uses full names; ParameterDict::load reads them back.
    let full = dir.path().join("full.params");
    net.collect_params().save(&full, "").unwrap();
    let Arrays::Dict(saved) = nd::load(&full).unwrap() else { panic!("a dict") };
    assert!(saved[0].0.ends_with("_dense0_weight"), "{}", saved[0].0);
    let other = mlp(6);
    let err = other.collect_params().load(&full, LoadOptions::default(), "").unwrap_err().to_string();
    assert!(err.contains("is missing from the file"), "another network's names differ: {err}");
    // Stripped of the network's prefix, the names load into any network of the same shape, both
    // ways MXNet allows (ParameterDict.load with restore_prefix, and load_parameters).
    let stripped = dir.path().join("stripped.params");
    net.collect_params().save(&stripped, net.prefix()).unwrap();
    other.collect_params().load(&stripped, LoadOptions::default(), other.prefix()).unwrap();
    assert_eq!(values(&other.forward(&x).unwrap()), values(&y));
    let third = mlp(6);
    third.load_parameters(&stripped, LoadOptions::default()).unwrap();
    assert_eq!(values(&third.forward(&x).unwrap()), values(&y));
}

#[test]
fn a_bad_load_says_why_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.params");
    let net = mlp(6);
    net.initialize().unwrap();
    let x = nd::ones((2, 4));
    net.forward(&x).unwrap();
    net.save_parameters(&path).unwrap();

    // A shape mismatch names the parameter and both shapes, and loads nothing, not even the
    // parameters before it.
    let wide = mlp(6);
    wide.initialize().unwrap();
    wide.forward(&nd::ones((2, 5))).unwrap();
    let before: Vec<Vec<f32>> = wide.collect_params().iter().map(|p| values(&p.data().unwrap())).collect();
    let err = wide.load_parameters(&path, LoadOptions::default()).unwrap_err().to_string();
    assert!(
        err.contains("parameter '0.weight' has shape (6, 5) in this network but (6, 4) in the file"),
        "{err}"
    );
    let after: Vec<Vec<f32>> = wide.collect_params().iter().map(|p| values(&p.data().unwrap())).collect();
    assert_eq!(before, after);

    // Missing and extra names, and the MXNet options that allow them.
    let bigger = nn::Sequential::new();
    bigger.name_scope(|| {
        bigger.add(nn::Dense::new(6).activation("relu"));
        bigger.add(nn::Dense::new(10));
        bigger.add(nn::Dense::new(3));
    });
    let err = bigger.load_parameters(&path, LoadOptions::default()).unwrap_err().to_string();
    assert!(err.contains("parameter '2.weight' is missing from the file"), "{err}");
    bigger.load_parameters(&path, LoadOptions { allow_missing: true, ignore_extra: false }).unwrap();
    let smaller = nn::Sequential::new();
    smaller.name_scope(|| smaller.add(nn::Dense::new(6).activation("relu")));
    let err = smaller.load_parameters(&path, LoadOptions::default()).unwrap_err().to_string();
    assert!(err.contains("'1.weight' in the file is not a parameter of this network"), "{err}");
    smaller.load_parameters(&path, LoadOptions { allow_missing: false, ignore_extra: true }).unwrap();
    assert_eq!(smaller.collect_params().iter().next().unwrap().shape(), vec![6, 4]);

    // Saving before the shapes are known is refused, with the parameter's name.
    let err = mlp(6).save_parameters(dir.path().join("x.params")).unwrap_err().to_string();
    assert!(err.contains("has not been initialized") || err.contains("deferred"), "{err}");
}

/// Every way a file can be wrong gives an error that says which, never a panic.
#[test]
fn damaged_files_are_refused_with_the_reason() {
    let a = nd::array(&[1.0, 2.0, 3.0, 4.0]).reshape((2, 2)).unwrap();
    let good = nd::to_bytes(&Arrays::Dict(vec![("0.weight".into(), a)])).unwrap();
    let err = |bytes: &[u8]| nd::from_bytes(bytes, "f.params").unwrap_err().to_string();

    assert!(err(&good[..good.len() - 1]).starts_with("f.params: truncated"), "{}", err(&good[..20]));
    assert!(err(b"PK\x03\x04 a zip file, not MXNet").contains("not an MXNet NDArray file"));
    let with = |offset: usize, value: &[u8]| {
        let mut b = good.clone();
        b[offset..offset + value.len()].copy_from_slice(value);
        b
    };
    // Offsets: 24 array magic, 28 storage type, 32 ndim, 36 dims, 52 device, 60 dtype.
    assert!(err(&with(24, &7u32.to_le_bytes())).contains("unknown array format 0x7"));
    assert!(err(&with(28, &1i32.to_le_bytes())).contains("storage type row_sparse is not supported"));
    assert!(err(&with(28, &2i32.to_le_bytes())).contains("storage type csr is not supported"));
    assert!(err(&with(60, &2i32.to_le_bytes())).contains("dtype float16 (type flag 2) is not supported"));
    assert!(err(&with(60, &1i32.to_le_bytes())).contains("dtype float64"));
    assert!(err(&with(36, &(-3i64).to_le_bytes())).contains("dimension -3 is negative"));
    assert!(err(&with(36, &i64::MAX.to_le_bytes())).contains("too large"));
    // A zero dimension holds nothing, but the other dimensions' strides must still fit (found by
    // the fuzzer: candle's stride computation overflowed).
    let mut zero = with(36, &0i64.to_le_bytes());
    zero[44..52].copy_from_slice(&(1i64 << 62).to_le_bytes());
    assert!(err(&zero).contains("too large"), "{}", err(&zero));
    zero[44..52].copy_from_slice(&7i64.to_le_bytes());
    let cut: Vec<u8> = [&zero[..64], &zero[80..]].concat(); // (0, 7): no values
    let Arrays::Dict(d) = nd::from_bytes(&cut, "z").unwrap() else { panic!("a dict") };
    assert_eq!((d[0].1.shape(), d[0].1.size()), (vec![0, 7], 0));
    let mut extra = good.clone();
    extra.push(0);
    assert!(err(&extra).contains("1 bytes after the last name"));
    // The fuzzer's finds (crates/fuzz): huge dimensions beside a zero one overflowed candle's
    // strides or the element count; now each is an error.
    for hex in [
        "120100000000000000000000000400000100000000000000c9fa93f900000000040000000012010000000d030000000000000000000000000000002092010000000000000000000000000000000000000000000000000000",
        "120100000000000000000000000400000100000000000000c9fa93f900000000040000000012010000000d000000000000000000000000000000000812010000000000000000000000000000000000000000000000000000",
        "120100000000000000000000000000040000020000000027c9fa93f9000000000200000000120100000100002b0073fc000000000000000000000000000000000400020069",
    ] {
        let bytes: Vec<u8> = (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()).collect();
        assert!(nd::from_bytes(&bytes, "f").is_err());
    }
    // Every truncation of a good file is an error, never a panic.
    for n in 0..good.len() {
        assert!(nd::from_bytes(&good[..n], "f").is_err(), "prefix of {n} bytes");
    }
    // And the error reaches load_parameters with the file's name.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cut.params");
    std::fs::write(&path, &good[..40]).unwrap();
    let e = mlp(2).load_parameters(&path, LoadOptions::default()).unwrap_err().to_string();
    assert!(e.starts_with(&format!("{}: array 1 of 1: truncated", path.display())), "{e}");
    let e = mlp(2).load_parameters(dir.path().join("none.params"), LoadOptions::default()).unwrap_err();
    assert!(e.to_string().contains("cannot read the NDArray file"), "{e}");
}

/// A cheap stand-in for the fuzz target (crates/fuzz/fuzz_targets/ndarray_file.rs) that runs in
/// every test run: random single-byte and multi-byte changes of a valid file.
#[test]
fn mutated_files_never_panic() {
    use rand::{Rng, SeedableRng};
    let a = nd::array(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]).reshape((2, 3)).unwrap();
    let good =
        nd::to_bytes(&Arrays::Dict(vec![("0.weight".into(), a.clone()), ("0.bias".into(), a)])).unwrap();
    let mut rng = rand_xoshiro::SplitMix64::seed_from_u64(7);
    for _ in 0..20_000 {
        let mut b = good.clone();
        for _ in 0..rng.random_range(1..4) {
            let i = rng.random_range(0..b.len());
            b[i] = rng.random();
        }
        if let Ok(arrays) = nd::from_bytes(&b, "m") {
            let Arrays::Dict(d) = arrays else { continue };
            assert!(d.iter().all(|(_, v)| v.size() == v.shape().iter().product::<usize>()));
        }
    }
}
