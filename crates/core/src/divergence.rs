//! When a run counts as diverged.

/// A batch loss above this means the run has diverged. Softmax cross-entropy over 10 classes starts
/// near ln(10) = 2.3 and a stable log-softmax keeps even an exploding run finite for a long time
/// (`--lr 100` gives losses of 1e16), so a bound catches divergence where `is_finite` would not.
pub const DIVERGED_LOSS: f32 = 1e3;

/// Whether a batch loss says the run diverged: not finite, or above [`DIVERGED_LOSS`].
pub fn diverged(loss: f32) -> bool {
    !loss.is_finite() || loss > DIVERGED_LOSS
}
