//! What the recipe trains: the one place that knows the network's sizes, its parameters and its
//! work. Backends, parity and the bench floor ask this module instead of writing 784 or 10.

/// The article's MLP: `inputs -> hidden (ReLU) -> classes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Model {
    pub inputs: usize,
    pub hidden: usize,
    pub classes: usize,
}

impl Model {
    /// Parameter shapes in the order w1, b1, w2, b2, each weight (out, in): PyTorch's nn.Linear
    /// layout, which is also Gluon's Dense layout.
    pub fn param_shapes(&self) -> [Vec<usize>; 4] {
        [
            vec![self.hidden, self.inputs],
            vec![self.hidden],
            vec![self.classes, self.hidden],
            vec![self.classes],
        ]
    }

    /// The fan-in of each parameter's layer, in the order of [`Model::param_shapes`].
    pub fn fan_ins(&self) -> [usize; 4] {
        [self.inputs, self.inputs, self.hidden, self.hidden]
    }

    /// Number of trainable values.
    pub fn param_count(&self) -> usize {
        self.param_shapes().iter().map(|s| s.iter().product::<usize>()).sum()
    }

    /// f32 FLOPs (2 per multiply-add) of one training sample: forward x.W1^T and h.W2^T, backward
    /// dW2, dh and dW1 (no gradient for the data batch). 49.1 GFLOP per epoch for the article's recipe.
    pub fn train_flops_per_sample(&self) -> f64 {
        let (first, second) = ((self.inputs * self.hidden) as f64, (self.hidden * self.classes) as f64);
        2.0 * first * 2.0 + 2.0 * second * 3.0
    }

    /// A rough upper bound of the memory one backend needs to train this model with `batch`-sample
    /// batches on `samples` training and test samples (u8 images): the data twice (the loaded
    /// split and the framework's own copy, plus one f32 copy for a backend that normalises the whole
    /// set up front), four copies of the parameters (weights, gradients, optimizer and temporaries),
    /// and a training step's or an evaluation chunk's activations, whichever is larger. Used to refuse
    /// a recipe that cannot fit before it starts, not to predict a peak.
    pub fn memory_bytes(&self, batch: usize, samples: usize) -> f64 {
        let f = 4.0;
        let data = samples as f64 * self.inputs as f64 * (2.0 + f);
        let params = 4.0 * self.param_count() as f64 * f;
        let per_row = (self.inputs + 3 * self.hidden + 3 * self.classes) as f64 * f;
        let rows = batch.max(2_000) as f64; // evaluation runs in chunks of 2000
        data + params + rows * per_row
    }

    /// The recipe's largest product, `(batch x inputs).(inputs x hidden)`, as text.
    pub fn largest_product(&self, batch: usize) -> String {
        format!("({batch}x{}).({}x{})", self.inputs, self.inputs, self.hidden)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_articles_mlp() {
        let m = Model { inputs: 784, hidden: 256, classes: 10 };
        assert_eq!(m.param_count(), 203_530); // the article's count
        assert_eq!(m.param_shapes()[2], vec![10, 256]);
        let gflop = m.train_flops_per_sample() * 60_000.0 / 1e9;
        assert!((gflop - 49.1).abs() < 0.05, "{gflop}");
    }
}
