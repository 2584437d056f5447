"""d2l's MXNet Gluon LeNet ("Dive into Deep Learning", MXNet edition, 6.6: the network and
`train_ch6`), run on MXNet 1.9.1 by mlcmp's `mxnet` backend for `"model": "lenet"`. Changes forced
by mlcmp's harness are marked CHANGED; the rest is d2l's code. Prints one JSON line per epoch, like
mxnet_article.py, and waits where a phase ends for the same reason (MXNet runs asynchronously)."""
import random
import time

import mlcmp_runner as run
import mxnet as mx
import numpy as np
from mxnet import autograd, gluon, init, nd
from mxnet.gluon import nn
from mxnet.gluon.data.vision import transforms

a, recipe = run.args()
mx.random.seed(recipe["seed"])  # CHANGED: seeded, so a run is one draw of a known seed
np.random.seed(recipe["seed"])  # the DataLoader's shuffle draws from numpy
random.seed(recipe["seed"])
shared_mode = a.shared is not None

# d2l.load_data_fashion_mnist: ToTensor only (CHANGED: MNIST from the IDX files mlcmp verified,
# and a Normalize when the recipe has one)
images, labels = run.mnist(a.data_dir, True, recipe.get("limit"))
mnist_train = gluon.data.ArrayDataset(nd.array(images[..., None], dtype="uint8"), labels.astype(np.float32))
trans = [transforms.ToTensor()]
if (recipe["mean"], recipe["std"]) != (0.0, 1.0):
    trans.append(transforms.Normalize(recipe["mean"], recipe["std"]))
mnist_train = mnist_train.transform_first(transforms.Compose(trans))

net = nn.Sequential()
net.add(nn.Conv2D(channels=6, kernel_size=5, padding=2, activation='sigmoid'),
        nn.AvgPool2D(pool_size=2, strides=2),
        nn.Conv2D(channels=16, kernel_size=5, activation='sigmoid'),
        nn.AvgPool2D(pool_size=2, strides=2),
        nn.Dense(120, activation='sigmoid'),
        nn.Dense(84, activation='sigmoid'),
        nn.Dense(10))

# CHANGED: d2l always initialises with Xavier; mlcmp's "default" keeps Gluon's own
net.initialize(init=init.Xavier() if recipe["init"] == "xavier" else init.Uniform())
net(nd.zeros((1, 1, 28, 28)))  # completes the deferred initialisation (shapes for shared mode)
params = list(net.collect_params().values())
shared_params, shared_batches = run.shared(a, [p.shape for p in params])
if shared_mode:  # CHANGED: mlcmp's shared initial weights
    for p, v in zip(params, shared_params):
        p.set_data(nd.array(v))


def train_iter(epoch):
    # CHANGED: in shared mode the batches are mlcmp's (an explicit batch_sampler).
    if shared_mode:
        return gluon.data.DataLoader(mnist_train, batch_sampler=shared_batches[epoch], num_workers=recipe["workers"])
    return gluon.data.DataLoader(
        mnist_train, recipe["batch_size"], shuffle=recipe["shuffle"], num_workers=recipe["workers"]
    )


loss = gluon.loss.SoftmaxCrossEntropyLoss()
trainer = gluon.Trainer(net.collect_params(), 'sgd', {'learning_rate': recipe["lr"]})
evaluation = run.Evaluation(a, recipe)


def accuracy(train):
    """CHANGED: mlcmp evaluates after each epoch, outside the timed epoch (d2l's
    evaluate_accuracy_gpu, on mlcmp's normalised (n, 784) arrays)."""
    predict = lambda x: net(nd.array(x).reshape((-1, 1, 28, 28))).argmax(axis=1).asnumpy().astype(np.int64)
    return evaluation.accuracy(train, predict)


for epoch in range(recipe["epochs"]):
    losses = []
    clock = run.PhaseClock()
    tic = time.time()
    status = None
    for i, (X, y) in enumerate(train_iter(epoch)):
        X.wait_to_read()
        clock.lap("data")
        with autograd.record():
            y_hat = net(X)
            l = loss(y_hat, y)
        lv = l.mean().asscalar()  # CHANGED: d2l sums l; mlcmp reads each batch's mean
        clock.lap("forward")
        l.backward()
        nd.waitall()
        clock.lap("backward")
        trainer.step(X.shape[0])
        nd.waitall()
        clock.lap("update")
        status = run.batch_done(epoch, losses, lv)
        if status:
            break
    if run.end_epoch(epoch, tic, losses, clock, status, accuracy, len(mnist_train)):
        break
run.write_params(a, [p.data().asnumpy() for p in params])
run.finish(threads=recipe["threads"], version=mx.__version__)
