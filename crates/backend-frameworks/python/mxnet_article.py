"""The article's MXNet Gluon code ("Ten minutes from PyTorch to MXNet", 2018), block by block, run
on MXNet 1.9.1 by mlcmp's `mxnet` backend. Changes forced by today's APIs or by mlcmp's harness are
marked CHANGED; the rest is the article's code. Prints one JSON line per epoch.

MXNet runs operators asynchronously: a timer around a call measures only the enqueue. The phase
clock therefore waits where a phase ends: the forward phase ends at `loss.mean().asscalar()` (the
article's own synchronisation point), the backward and update phases at `nd.waitall()`. The
article's code has no waits there; the epoch time includes them (a few per cent)."""
import random
import time

import mlcmp_runner as run
import mxnet as mx
import numpy as np
from mxnet import autograd, gluon, nd
from mxnet.gluon import nn
from mxnet.gluon.data.vision import transforms

a, recipe = run.args()
mx.random.seed(recipe["seed"])  # CHANGED: seeded (unseeded MXNet always draws the same weights)
np.random.seed(recipe["seed"])  # the DataLoader's shuffle draws from numpy
random.seed(recipe["seed"])
hidden = recipe["hidden"]
shared_mode = a.shared is not None

# Data
# CHANGED: gluon.data.vision.MNIST(train=True) only reads its own .gz files (and otherwise
# downloads them); the same dataset from the IDX files mlcmp verified.
images, labels = run.mnist(a.data_dir, True, recipe.get("limit"))
mnist_train = gluon.data.ArrayDataset(nd.array(images[..., None], dtype="uint8"), labels.astype(np.float32))
transformer = transforms.Compose(
    [transforms.ToTensor(), transforms.Normalize(recipe["mean"], recipe["std"])]
)
mnist_train = mnist_train.transform_first(transformer)
shared_params, shared_batches = run.shared(a, [(hidden, 784), (hidden,), (10, hidden), (10,)])


def train_data(epoch):
    # CHANGED: in shared mode the batches are mlcmp's (an explicit batch_sampler).
    if shared_mode:
        return gluon.data.DataLoader(mnist_train, batch_sampler=shared_batches[epoch], num_workers=recipe["workers"])
    return gluon.data.DataLoader(
        mnist_train, batch_size=recipe["batch_size"], shuffle=recipe["shuffle"], num_workers=recipe["workers"]
    )


# Model
net = nn.Sequential()
with net.name_scope():
    net.add(nn.Dense(hidden, activation="relu"))
    net.add(nn.Dense(10))
net.initialize()
if shared_mode:  # CHANGED: mlcmp's shared initial weights (in_units known from them)
    net(nd.zeros((1, 784)))  # completes the deferred initialisation
    for p, v in zip(net.collect_params().values(), shared_params):
        p.set_data(nd.array(v))

# Loss and optimizer
softmax_cross_entropy = gluon.loss.SoftmaxCrossEntropyLoss()
trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": recipe["lr"]})


evaluation = run.Evaluation(a, recipe)


def accuracy(train):
    """CHANGED: mlcmp evaluates after each epoch, outside the timed epoch."""
    return evaluation.accuracy(train, lambda x: net(nd.array(x)).argmax(axis=1).asnumpy().astype(np.int64))


# Training
for epoch in range(recipe["epochs"]):
    total_loss = 0.0
    losses = []
    clock = run.PhaseClock()
    tic = time.time()
    status = None
    for X, y in train_data(epoch):
        X.wait_to_read()
        clock.lap("data")  # waiting for the DataLoader's next batch
        with autograd.record():
            loss = softmax_cross_entropy(net(X), y)
        l = loss.mean().asscalar()  # the article's total_loss += loss.mean().asscalar(), read here
        clock.lap("forward")
        loss.backward()
        nd.waitall()
        clock.lap("backward")
        # As in the article: step(batch_size) with the configured size, also for the last, smaller
        # batch. CHANGED: in shared mode the actual size, so every batch matches PyTorch's mean.
        trainer.step(batch_size=X.shape[0] if shared_mode else recipe["batch_size"])
        nd.waitall()
        clock.lap("update")
        total_loss += l
        status = run.batch_done(epoch, losses, l)
        if status:
            break
    # The article prints total_loss / len(train_data); mlcmp reports the same mean.
    if run.end_epoch(epoch, tic, losses, clock, status, accuracy, len(mnist_train)):
        break
run.write_params(a, [p.data().asnumpy() for p in net.collect_params().values()])
run.finish(threads=recipe["threads"], version=mx.__version__)
