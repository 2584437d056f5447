//! `--init shared`: the same initial weights and batch order for every backend, drawn once from the
//! recipe's seed.

use crate::model::{Model, Start};
use crate::recipe::Recipe;
use rand::{Rng, SeedableRng};
use rand_xoshiro::SplitMix64;

/// Initial weights and batch order.
#[derive(Debug, Clone, PartialEq)]
pub struct Shared {
    /// The model's parameters in the order and layout of [`Model::param_shapes`], row-major.
    pub params: Vec<Vec<f32>>,
    /// For each epoch, its batches of sample indices.
    pub epochs: Vec<Vec<Vec<usize>>>,
    /// The floor rerun: a backend that can (the gluon engine) sums every product in another valid
    /// order, so f32 rounding differs at every step as it does between two libraries.
    pub reorder_sums: bool,
}

impl Shared {
    /// Parameters as [`Model::start`] says (the MLP's as PyTorch's default, LeNet's as d2l's
    /// Xavier), then one shuffle per epoch.
    pub fn draw(recipe: &Recipe, model: &Model, train_len: usize) -> Shared {
        let mut rng = SplitMix64::seed_from_u64(recipe.seed);
        let params = model
            .param_shapes()
            .iter()
            .zip(model.start())
            .map(|(shape, start)| {
                let n = shape.iter().product();
                match start {
                    Start::Uniform(bound) => {
                        (0..n).map(|_| ((2.0 * rng.random::<f64>() - 1.0) * bound) as f32).collect()
                    }
                    Start::Zero => vec![0.0; n],
                }
            })
            .collect();
        let epochs = (0..recipe.epochs)
            .map(|_| {
                let mut order: Vec<usize> = (0..train_len).collect();
                if recipe.shuffle {
                    shuffle(&mut rng, &mut order);
                }
                order.chunks(recipe.batch_size).map(<[usize]>::to_vec).collect()
            })
            .collect();
        Shared { params, epochs, reorder_sums: false }
    }

    /// The same, with every initial weight moved by `steps` f32 rounding steps
    /// (x * (1 + steps * 2^-23)). Running one backend from both shows how far f32 rounding alone
    /// carries two runs apart: the floor that two frameworks with different summation orders cannot
    /// beat.
    pub fn perturbed(&self, steps: f32) -> Shared {
        let k = 1.0 + steps * f32::EPSILON;
        let params = self.params.iter().map(|p| p.iter().map(|v| v * k).collect()).collect();
        Shared { params, epochs: self.epochs.clone(), reorder_sums: self.reorder_sums }
    }

    /// The `n` reruns that measure the f32 floor: weights 1, -1, 2, -2, ... rounding steps away
    /// and, where the backend can, every product summed in another order. A 1-ulp change of the
    /// start alone can stay at 1 ulp for a whole epoch, while two libraries round differently at
    /// every step; the reordered sums reproduce that. The floor is a chaotic quantity, so one rerun
    /// is one draw of it: parity places a pair's gap among `n` of them
    /// ([`crate::parity::rank_test`]).
    pub fn floors(&self, n: usize) -> Vec<Shared> {
        floor_steps(n).into_iter().map(|k| Shared { reorder_sums: true, ..self.perturbed(k) }).collect()
    }
}

/// The perturbations of `n` floor reruns, in rounding steps of every initial weight: 1, -1, 2,
/// -2, ..., each distinct, so each rerun is its own draw.
pub fn floor_steps(n: usize) -> Vec<f32> {
    (0..n).map(|i| (i / 2 + 1) as f32 * if i % 2 == 0 { 1.0 } else { -1.0 }).collect()
}

/// Fisher-Yates with the index drawn as `floor(u * (i + 1))` from a uniform f64. Kept instead of
/// `SliceRandom::shuffle` (which draws indices another way) so a seed gives the same batches as
/// every earlier mlcmp release and as the saved baselines.
fn shuffle(rng: &mut SplitMix64, v: &mut [usize]) {
    for i in (1..v.len()).rev() {
        v.swap(i, (rng.random::<f64>() * (i + 1) as f64) as usize);
    }
}
