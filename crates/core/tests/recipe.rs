//! The recipe: the article's values, a recipe file's errors naming the key, overrides.

mod common;

use mlcmp_core::recipe::Recipe;

fn err(json: &str) -> String {
    Recipe::parse(json, "cfg.json").unwrap_err().to_string()
}

fn article_with(key: &str, value: &str) -> String {
    let mut v: serde_json::Value = serde_json::from_str(mlcmp_core::recipe::ARTICLE_JSON).unwrap();
    v[key] = serde_json::from_str(value).unwrap();
    v.to_string()
}

#[test]
fn the_article_recipe() {
    let r = Recipe::article();
    assert_eq!((r.epochs, r.batch_size, r.hidden, r.seed), (5, 128, 256, 42));
    assert_eq!((r.lr, r.mean, r.std), (0.1, 0.13, 0.31));
    assert!(r.shuffle);
    assert_eq!(r.threads.resolve(), std::thread::available_parallelism().unwrap().get());
    assert_eq!(r.batches_per_epoch(60_000), 469);
}

#[test]
fn config_errors_name_the_key() {
    assert!(
        err(&article_with("colour", "1")).starts_with("cfg.json: unknown field `colour`, expected one of")
    );
    assert!(err(&article_with("lr", "\"fast\""))
        .starts_with("cfg.json: key 'lr': invalid type: string \"fast\", expected f64"));
    assert!(err(&article_with("epochs", "-1")).starts_with("cfg.json: key 'epochs': invalid value"));
    assert_eq!(
        err(&article_with("lr", "0")),
        "cfg.json: key 'lr' = 0 is out of range: use a finite learning rate > 0"
    );
    assert_eq!(
        err(&article_with("epochs", "0")),
        "cfg.json: key 'epochs' = 0 is out of range: use 1..=10000"
    );
    assert!(err(&article_with("batch_size", "0")).contains("key 'batch_size' = 0 is out of range"));
    assert!(err(&article_with("hidden", "0")).contains("key 'hidden' is missing or 0"));
    assert!(err(&article_with("hidden", "70000")).contains("key 'hidden' = 70000 is out of range"));
    assert!(err(&article_with("model", "\"resnet\""))
        .starts_with("cfg.json: key 'model': unknown variant `resnet`"));
    let lenet = Recipe::parse(include_str!("../../../configs/lenet.json"), "lenet.json").unwrap();
    assert_eq!((lenet.model.name(), lenet.hidden, lenet.model().param_count()), ("lenet", 0, 61_706));
    let e =
        Recipe::parse(&include_str!("../../../configs/lenet.json").replace("{", "{\"hidden\": 8,"), "l.json");
    assert_eq!(
        e.unwrap_err().to_string(),
        "l.json: key 'hidden' = 8 does not apply to the lenet model (its layer sizes are d2l's); remove it"
    );
    assert!(err(&article_with("threads", "0"))
        .contains("key 'threads' = 0 is out of range: use 1..=1024 or \"all\""));
    assert!(err(&article_with("threads", "\"many\"")).contains("key 'threads'"));
    assert!(err(&article_with("std", "0")).contains("key 'std' = 0"));
    let e = err("{");
    assert!(e.starts_with("cfg.json: ") && e.contains("EOF while parsing"), "{e}");
    let big = Recipe::article();
    assert!(big.validate_for(128).is_ok());
    let mut r = Recipe::article();
    r.batch_size = 101;
    assert_eq!(
        r.validate_for(100).unwrap_err().to_string(),
        "key 'batch_size' = 101 is out of range: the training set has 100 samples; use 1..=100"
    );
}

#[test]
fn overrides_are_validated() {
    let o = mlcmp_core::recipe::Overrides { lr: Some(f64::NAN), ..Default::default() };
    assert!(Recipe::article().apply(&o).unwrap_err().to_string().starts_with("command line: key 'lr' = NaN"));
    let o = mlcmp_core::recipe::Overrides { epochs: Some(2), threads: Some(1), ..Default::default() };
    let r = Recipe::article().apply(&o).unwrap();
    assert_eq!((r.epochs, r.threads.resolve()), (2, 1));
}
