"""The article's PyTorch code ("Ten minutes from PyTorch to MXNet", 2018), block by block, run on
today's PyTorch by mlcmp's `pytorch` backend. Changes forced by today's APIs or by mlcmp's harness
are marked CHANGED; the rest is the article's code. Prints one JSON line per epoch."""
import time

import mlcmp_runner as run
import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms

a, recipe = run.args()
torch.set_num_threads(recipe["threads"])  # CHANGED: mlcmp sets the threads of every backend
torch.manual_seed(recipe["seed"])  # CHANGED: seeded, so a run is one draw of a known seed
np.random.seed(recipe["seed"])
hidden = recipe["hidden"]


class MNIST(Dataset):
    """CHANGED: datasets.MNIST(train=True) downloads its own files; this reads the IDX files mlcmp
    verified and behaves the same: (image, label) per sample, `transform` applied to the image."""

    def __init__(self, train):
        self.images, self.labels = run.mnist(a.data_dir, train, recipe.get("limit"))
        self.transform = None

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return self.transform(self.images[i]), int(self.labels[i])


# Data
mnist_train = MNIST(train=True)
transformer = transforms.Compose(
    [transforms.ToTensor(), transforms.Normalize(recipe["mean"], recipe["std"])]
)
mnist_train.transform = transformer
shared_params, shared_batches = run.shared(a, [(hidden, 784), (hidden,), (10, hidden), (10,)])


def train_data(epoch):
    # CHANGED: in shared mode the batches are mlcmp's (an explicit batch_sampler).
    if shared_batches is not None:
        return DataLoader(mnist_train, batch_sampler=shared_batches[epoch], num_workers=recipe["workers"])
    return DataLoader(
        mnist_train, batch_size=recipe["batch_size"], shuffle=recipe["shuffle"], num_workers=recipe["workers"]
    )


# Model
net = nn.Sequential(nn.Linear(784, hidden), nn.ReLU(), nn.Linear(hidden, 10))
if shared_params is not None:  # CHANGED: mlcmp's shared initial weights
    with torch.no_grad():
        for p, v in zip(net.parameters(), shared_params):
            p.copy_(torch.from_numpy(np.array(v)))

# Loss and optimizer
loss_fn = nn.CrossEntropyLoss()
trainer = torch.optim.SGD(net.parameters(), lr=recipe["lr"])


evaluation = run.Evaluation(a, recipe)


def accuracy(train):
    """CHANGED: mlcmp evaluates after each epoch, outside the timed epoch."""
    with torch.no_grad():
        return evaluation.accuracy(train, lambda x: net(torch.from_numpy(x)).argmax(1).numpy())


# Training
for epoch in range(recipe["epochs"]):
    total_loss = 0.0
    losses = []
    clock = run.PhaseClock()
    tic = time.time()
    status = None
    for X, y in train_data(epoch):
        # CHANGED: no Variable(X), Variable(y): tensors track gradients themselves since 0.4
        clock.lap("data")  # waiting for the DataLoader's next batch
        trainer.zero_grad()
        loss = loss_fn(net(X.view(-1, 784)), y)
        l = loss.item()  # CHANGED: the article adds the tensor; .item() reads it here, once
        clock.lap("forward")
        loss.backward()  # zero_grad above is counted with the forward
        clock.lap("backward")
        trainer.step()
        clock.lap("update")
        total_loss += l
        status = run.batch_done(epoch, losses, l)
        if status:
            break
    # The article prints total_loss / len(train_data); mlcmp reports the same mean.
    if run.end_epoch(epoch, tic, losses, clock, status, accuracy, len(mnist_train)):
        break
run.write_params(a, [p.detach().numpy() for p in net.parameters()])
run.finish(threads=torch.get_num_threads(), version=torch.__version__)
