//! The article's recipe, written with this crate, on the real MNIST (scripts/setup fetches it).
//! One faithful epoch lands at 94.6-95.0% test accuracy (PyTorch's run of the same recipe too: the
//! article's epoch-0 loss of 0.316 is what it takes), so the test asks for 94.5% after one epoch and
//! 96% after two.

use mlcmp_gluon_engine::data::vision::{transforms, MNIST};
use mlcmp_gluon_engine::data::{DataLoader, Dataset};
use mlcmp_gluon_engine::nn::{self, Block};
use mlcmp_gluon_engine::{autograd, loss, nd, Trainer};

#[test]
fn two_epochs_of_the_article_recipe_learn_mnist() -> mlcmp_gluon_engine::Result<()> {
    let m = mlcmp_data::Mnist::load(&mlcmp_data::default_dir())
        .unwrap_or_else(|e| panic!("{e} (run scripts/setup to fetch MNIST)"));
    let transformer = || {
        transforms::Compose::new(vec![
            Box::new(transforms::ToTensor),
            Box::new(transforms::Normalize::new(0.13, 0.31)),
        ])
    };
    let train = MNIST::from_raw(m.train.images.pixels.clone(), &m.train.labels, 28, 28)?
        .transform_first(transformer());
    let test =
        MNIST::from_raw(m.test.images.pixels.clone(), &m.test.labels, 28, 28)?.transform_first(transformer());
    nd::random::seed(0);
    let train_data = DataLoader::new(train, 128)?.shuffle(true).num_workers(1);

    let net = nn::Sequential::new();
    net.name_scope(|| {
        net.add(nn::Dense::new(256).activation("relu"));
        net.add(nn::Dense::new(10));
    });
    net.initialize()?;
    let loss_fn = loss::SoftmaxCrossEntropyLoss::new();
    let mut trainer = Trainer::new(net.collect_params(), "sgd", &[("learning_rate", 0.1)])?;
    let (x_test, y_test) = test.get_batch(&(0..test.len()).collect::<Vec<_>>())?;
    for (epoch, (published, min_acc)) in [(0.3162, 0.945), (0.1503, 0.96)].into_iter().enumerate() {
        let mut total = 0.0;
        for batch in train_data.iter() {
            let (x, y) = batch?;
            let l = autograd::record(|| loss_fn.forward(&net.forward(&x)?, &y))?;
            l.backward()?;
            trainer.step(128)?;
            total += l.mean(None, false)?.asscalar()?;
        }
        let avg = total / train_data.len() as f32;
        assert!(
            (avg - published).abs() < 0.1 * published,
            "epoch {epoch}: avg loss {avg} (MXNet: {published})"
        );
        let acc = net.forward(&x_test)?.argmax(-1)?.equal(&y_test)?.mean(None, false)?.asscalar()?;
        assert!(acc > min_acc, "epoch {epoch}: test accuracy {acc}");
    }
    Ok(())
}
