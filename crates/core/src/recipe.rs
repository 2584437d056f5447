//! The recipe: what both backends train, as a JSON file (`configs/article.json` is the article's).

use crate::model::{Model, ModelKind};
use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The article's recipe, embedded so the binary works from anywhere.
pub const ARTICLE_JSON: &str = include_str!("../../../configs/article.json");

/// How many threads a backend may use.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Threads {
    Count(usize),
    /// `"all"`: every core of the machine.
    All(AllCores),
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AllCores {
    All,
}

impl Threads {
    pub fn resolve(self) -> usize {
        match self {
            Threads::Count(n) => n,
            Threads::All(_) => std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        }
    }
}

/// Where the initial weights come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InitMode {
    /// Each framework's own default initialisation and shuffling (the article).
    Default,
    /// Each framework's Xavier-uniform initialiser on the weights (Gluon's `init.Xavier()`,
    /// PyTorch's `nn.init.xavier_uniform_`), biases as the framework starts them: d2l's LeNet.
    Xavier,
    /// Identical weights and batch order in every backend (parity checks), drawn as
    /// [`Model::start`] says.
    Shared,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recipe {
    #[serde(default = "default_name")]
    pub name: String,
    /// The network: `"mlp"` (the article's, the default) or `"lenet"`.
    #[serde(default, skip_serializing_if = "is_mlp")]
    pub model: ModelKind,
    pub epochs: usize,
    pub batch_size: usize,
    pub lr: f64,
    /// The MLP's hidden width; 0 (absent) for a model without one.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub hidden: usize,
    pub mean: f64,
    pub std: f64,
    pub shuffle: bool,
    pub seed: u64,
    pub threads: Threads,
    /// Background batch-assembly threads of the Gluon DataLoader (0: inline).
    #[serde(default)]
    pub workers: usize,
    #[serde(default = "default_init")]
    pub init: InitMode,
    /// Use only the first N training and N test samples (quick runs and tests).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
    /// Tolerances of `mlcmp regress` for results of this recipe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regress: Option<Tolerances>,
}

/// How far a result may fall behind its baseline before `mlcmp regress` fails.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tolerances {
    /// Absolute drop allowed in final train and test accuracy (0.005 = half a point).
    #[serde(default = "default_accuracy_tol")]
    pub accuracy: f64,
    /// Absolute rise allowed in the final epoch's avg loss.
    #[serde(default = "default_loss_tol")]
    pub loss: f64,
    /// Relative drop allowed in the speed ratio torch/backend (0.25 = 25% slower relative to torch).
    #[serde(default = "default_speed_tol")]
    pub speed_ratio: f64,
}

fn default_accuracy_tol() -> f64 {
    0.005
}
fn default_loss_tol() -> f64 {
    0.01
}
fn default_speed_tol() -> f64 {
    0.25
}

impl Default for Tolerances {
    fn default() -> Self {
        Tolerances {
            accuracy: default_accuracy_tol(),
            loss: default_loss_tol(),
            speed_ratio: default_speed_tol(),
        }
    }
}

fn is_mlp(m: &ModelKind) -> bool {
    *m == ModelKind::Mlp
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

fn default_name() -> String {
    "custom".into()
}

fn default_init() -> InitMode {
    InitMode::Default
}

/// Command-line overrides of recipe keys.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub epochs: Option<usize>,
    pub batch_size: Option<usize>,
    pub lr: Option<f64>,
    pub hidden: Option<usize>,
    pub seed: Option<u64>,
    pub threads: Option<usize>,
    pub workers: Option<usize>,
    pub init: Option<InitMode>,
    pub limit: Option<usize>,
}

impl Recipe {
    /// The article's recipe.
    pub fn article() -> Recipe {
        Recipe::parse(ARTICLE_JSON, "built-in configs/article.json").expect("the embedded recipe is valid")
    }

    /// Parse and validate; errors name `source` and the key.
    pub fn parse(text: &str, source: &str) -> Result<Recipe> {
        let de = &mut serde_json::Deserializer::from_str(text);
        let r: Recipe = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            let msg = inner.to_string();
            // serde's "unknown field `x`, expected one of ..." already names the key.
            if path == "." || msg.starts_with("unknown field") || msg.starts_with("missing field") {
                anyhow::anyhow!("{source}: {msg}")
            } else {
                anyhow::anyhow!("{source}: key '{path}': {msg}")
            }
        })?;
        r.validate().map_err(|e| anyhow::anyhow!("{source}: {e}"))?;
        Ok(r)
    }

    pub fn load(path: &Path) -> Result<Recipe> {
        let text = crate::input::read_text(path, crate::input::RECIPE_LIMIT, "recipe file")?;
        Recipe::parse(&text, &path.display().to_string())
    }

    pub fn apply(mut self, o: &Overrides) -> Result<Recipe> {
        macro_rules! set {
            ($($f:ident),*) => { $( if let Some(v) = o.$f { self.$f = v; } )* };
        }
        set!(epochs, batch_size, lr, hidden, seed, workers, init);
        if let Some(t) = o.threads {
            self.threads = Threads::Count(t);
        }
        if o.limit.is_some() {
            self.limit = o.limit;
        }
        self.validate().map_err(|e| anyhow::anyhow!("command line: {e}"))?;
        Ok(self)
    }

    /// Range checks, each naming the key and what is allowed.
    pub fn validate(&self) -> Result<()> {
        let fail = |key: &str, v: &dyn std::fmt::Display, allowed: &str| -> Result<()> {
            bail!("key '{key}' = {v} is out of range: {allowed}")
        };
        if self.epochs == 0 || self.epochs > 10_000 {
            fail("epochs", &self.epochs, "use 1..=10000")?;
        }
        if self.batch_size == 0 {
            fail("batch_size", &self.batch_size, "use at least 1 (and at most the training set size)")?;
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            fail("lr", &self.lr, "use a finite learning rate > 0")?;
        }
        match self.model {
            ModelKind::Mlp if self.hidden == 0 => {
                bail!("key 'hidden' is missing or 0: the mlp model needs its hidden width, 1..=65536 (e.g. \"hidden\": 256)")
            }
            ModelKind::Mlp if self.hidden > 1 << 16 => fail("hidden", &self.hidden, "use 1..=65536 units")?,
            ModelKind::Lenet if self.hidden != 0 => bail!(
                "key 'hidden' = {} does not apply to the lenet model (its layer sizes are d2l's); remove it",
                self.hidden
            ),
            _ => {}
        }
        if !self.mean.is_finite() {
            fail("mean", &self.mean, "use a finite number")?;
        }
        if !(self.std.is_finite() && self.std > 0.0) {
            fail("std", &self.std, "use a finite number > 0")?;
        }
        if let Threads::Count(n) = self.threads {
            if n == 0 || n > 1024 {
                fail("threads", &n, "use 1..=1024 or \"all\"")?;
            }
        }
        if self.workers > 64 {
            fail("workers", &self.workers, "use 0..=64")?;
        }
        if let Some(t) = &self.regress {
            for (k, v) in [
                ("regress.accuracy", t.accuracy),
                ("regress.loss", t.loss),
                ("regress.speed_ratio", t.speed_ratio),
            ] {
                if !(v.is_finite() && (0.0..=1.0).contains(&v)) {
                    fail(k, &v, "use a tolerance in 0..=1")?;
                }
            }
        }
        if self.limit == Some(0) {
            fail("limit", &0, "use at least 1 sample, or leave it out for the whole data set")?;
        }
        Ok(())
    }

    /// Checks that need the data: the batch must fit in the training set.
    pub fn validate_for(&self, train_len: usize) -> Result<()> {
        if self.batch_size > train_len {
            bail!(
                "key 'batch_size' = {} is out of range: the training set has {train_len} samples; use 1..={train_len}",
                self.batch_size
            );
        }
        Ok(())
    }

    /// The network this recipe trains on MNIST.
    pub fn model(&self) -> Model {
        let classes = mlcmp_data::CLASSES;
        match self.model {
            ModelKind::Mlp => Model::Mlp { inputs: mlcmp_data::PIXELS, hidden: self.hidden, classes },
            ModelKind::Lenet => Model::LeNet { side: mlcmp_data::SIDE, classes },
        }
    }

    /// Batches per epoch (the last partial batch kept).
    pub fn batches_per_epoch(&self, train_len: usize) -> usize {
        train_len.div_ceil(self.batch_size)
    }
}
