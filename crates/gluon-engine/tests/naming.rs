//! MXNet's parameter names. Its own test binary: the counters are per process.

use mlcmp_gluon_engine::nn::{self, Block};

#[test]
fn name_scope_gives_mxnet_names() {
    let net = nn::Sequential::new();
    net.name_scope(|| {
        net.add(nn::Dense::new(256).activation("relu"));
        net.add(nn::Dense::new(10));
    });
    assert_eq!(
        net.collect_params().keys(),
        vec![
            "sequential0_dense0_weight",
            "sequential0_dense0_bias",
            "sequential0_dense1_weight",
            "sequential0_dense1_bias"
        ]
    );
    assert_eq!(net.collect_params().get("sequential0_dense0_weight").unwrap().shape(), vec![256, 0]);
    assert_eq!(
        net.collect_params().to_string(),
        "sequential0_ (\n  Parameter sequential0_dense0_weight (shape=(256, 0), dtype=float32)\n  \
         Parameter sequential0_dense0_bias (shape=(256,), dtype=float32)\n  \
         Parameter sequential0_dense1_weight (shape=(10, 0), dtype=float32)\n  \
         Parameter sequential0_dense1_bias (shape=(10,), dtype=float32)\n)"
    );
    // A second network counts on; a Dense outside any scope uses the process-wide counter.
    let net2 = nn::Sequential::new();
    net2.name_scope(|| net2.add(nn::Dense::new(5)));
    assert_eq!(net2.collect_params().keys()[0], "sequential1_dense0_weight");
    assert_eq!(nn::Dense::new(3).prefix(), "dense0_");
    assert_eq!(nn::Dense::new(3).prefix(), "dense1_");
    // Re-entering a scope keeps counting.
    net.name_scope(|| net.add(nn::Dense::new(2)));
    assert_eq!(net.collect_params().keys()[4], "sequential0_dense2_weight");
}
