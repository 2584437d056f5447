"""d2l's PyTorch LeNet ("Dive into Deep Learning", 7.6: the network, `init_weights` and
`train_ch6`), run on today's PyTorch by mlcmp's `pytorch` backend for `"model": "lenet"`. Changes
forced by mlcmp's harness are marked CHANGED; the rest is d2l's code. Prints one JSON line per
epoch, like pytorch_article.py."""
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


class MNIST(Dataset):
    """CHANGED: d2l reads Fashion-MNIST with torchvision; this reads the MNIST IDX files mlcmp
    verified and behaves the same: (image, label) per sample, `transform` applied to the image."""

    def __init__(self, train, transform):
        self.images, self.labels = run.mnist(a.data_dir, train, recipe.get("limit"))
        self.transform = transform

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return self.transform(self.images[i]), int(self.labels[i])


# d2l.load_data_fashion_mnist: ToTensor only (CHANGED: a Normalize when the recipe has one)
trans = [transforms.ToTensor()]
if (recipe["mean"], recipe["std"]) != (0.0, 1.0):
    trans.append(transforms.Normalize(recipe["mean"], recipe["std"]))
mnist_train = MNIST(True, transforms.Compose(trans))

net = nn.Sequential(
    nn.Conv2d(1, 6, kernel_size=5, padding=2), nn.Sigmoid(),
    nn.AvgPool2d(kernel_size=2, stride=2),
    nn.Conv2d(6, 16, kernel_size=5), nn.Sigmoid(),
    nn.AvgPool2d(kernel_size=2, stride=2),
    nn.Flatten(),
    nn.Linear(16 * 5 * 5, 120), nn.Sigmoid(),
    nn.Linear(120, 84), nn.Sigmoid(),
    nn.Linear(84, 10))


def init_weights(m):
    if type(m) == nn.Linear or type(m) == nn.Conv2d:
        nn.init.xavier_uniform_(m.weight)


if recipe["init"] == "xavier":  # CHANGED: d2l always does; mlcmp's "default" keeps PyTorch's own
    net.apply(init_weights)
shared_params, shared_batches = run.shared(a, [tuple(p.shape) for p in net.parameters()])
if shared_params is not None:  # CHANGED: mlcmp's shared initial weights
    with torch.no_grad():
        for p, v in zip(net.parameters(), shared_params):
            p.copy_(torch.from_numpy(np.array(v)))


def train_iter(epoch):
    # CHANGED: in shared mode the batches are mlcmp's (an explicit batch_sampler).
    if shared_batches is not None:
        return DataLoader(mnist_train, batch_sampler=shared_batches[epoch], num_workers=recipe["workers"])
    return DataLoader(mnist_train, recipe["batch_size"], shuffle=recipe["shuffle"], num_workers=recipe["workers"])


optimizer = torch.optim.SGD(net.parameters(), lr=recipe["lr"])
loss = nn.CrossEntropyLoss()
evaluation = run.Evaluation(a, recipe)


def accuracy(train):
    """CHANGED: mlcmp evaluates after each epoch, outside the timed epoch (d2l's
    evaluate_accuracy_gpu, on mlcmp's normalised (n, 784) arrays)."""
    net.eval()
    with torch.no_grad():
        return evaluation.accuracy(train, lambda x: net(torch.from_numpy(x).view(-1, 1, 28, 28)).argmax(1).numpy())


for epoch in range(recipe["epochs"]):
    net.train()
    losses = []
    clock = run.PhaseClock()
    tic = time.time()
    status = None
    for i, (X, y) in enumerate(train_iter(epoch)):
        clock.lap("data")
        optimizer.zero_grad()
        y_hat = net(X)
        l = loss(y_hat, y)
        lv = l.item()  # CHANGED: d2l's Accumulator reads it the same way, once per batch
        clock.lap("forward")
        l.backward()
        clock.lap("backward")
        optimizer.step()
        clock.lap("update")
        status = run.batch_done(epoch, losses, lv)
        if status:
            break
    if run.end_epoch(epoch, tic, losses, clock, status, accuracy, len(mnist_train)):
        break
run.write_params(a, [p.detach().numpy() for p in net.parameters()])
run.finish(threads=torch.get_num_threads(), version=torch.__version__)
