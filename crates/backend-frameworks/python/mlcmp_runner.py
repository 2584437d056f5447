"""What both runners share: the recipe and data arguments, the MNIST IDX files, the shared-mode
files, the stop request, and the JSON lines mlcmp reads. The frameworks' own code is in
pytorch_article.py and mxnet_article.py."""
import argparse
import json
import math
import os
import resource
import shutil
import signal
import sys
import time

STOP = {"requested": False}
# mlcmp's rules, as it passes them (args()).
RULES = {"diverged_loss": None}
# mlcmp passes its pid: it may have died before this line ran, and then getppid() is no longer it.
PARENT = int(os.environ.get("MLCMP_PARENT_PID") or os.getppid())


def _stop(signum, frame):
    if _parent_gone():
        _orphaned()
    STOP["requested"] = True


def _parent_gone():
    """Whether mlcmp died. The kernel sends the death's SIGTERM when the thread that started this
    runner ends: then mlcmp may still be the parent while its other threads exit, its main thread a
    zombie; only after the last one does the runner get a new parent (and a second SIGTERM)."""
    if os.getppid() != PARENT:
        return True
    try:
        with open("/proc/%d/stat" % PARENT) as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state in ("Z", "X")


def _orphaned():
    """mlcmp died (it asked the kernel to send SIGTERM then): nobody reads this run any more.
    Remove the runner's folder mlcmp made, then end with every process of the group (DataLoader
    workers included)."""
    # The same death sends SIGTERM again as mlcmp's threads end; this handler must not run again
    # midway through, over a half-removed folder.
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    _remove_folder()
    _end_process(1)


def _remove_folder():
    folder = os.path.dirname(os.path.abspath(sys.argv[0]))
    if os.path.basename(folder).startswith("mlcmp-runner-"):
        shutil.rmtree(folder, ignore_errors=True)


def _end_process(code):
    """End now, without the interpreter's teardown (torch's and mxnet's take a while, and a
    SIGKILLed mlcmp meanwhile would leave the runner's folder behind), and with this run's
    DataLoader workers: mlcmp starts a runner as the leader of its own process group. Run by hand,
    in someone else's group, only this process ends."""
    if os.getpgid(0) == os.getpid():
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        os.killpg(os.getpid(), signal.SIGTERM)
    # A SIGTERM of mlcmp's death from here on is ignored: look once more.
    if _parent_gone():
        _remove_folder()
    os._exit(code)


# SIGTERM and SIGHUP stop after the current batch, like Ctrl-C does in mlcmp; set on import, so a
# runner whose mlcmp dies while the framework is still loading tidies up too.
for _s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
    signal.signal(_s, _stop)
# mlcmp starts a runner with SIGTERM blocked, so a stop (or mlcmp's death) that comes before the
# handler above waits for it; from here on it is handled.
signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
if _parent_gone():
    _orphaned()

import numpy as np  # noqa: E402 (after the handlers: numpy takes a while to import)


def args():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--recipe-json", required=True, help="the recipe, as mlcmp writes it")
    p.add_argument("--data-dir", required=True, help="folder with the four MNIST IDX files")
    p.add_argument("--shared", help="folder with params.f32 and batches.json (--init shared)")
    p.add_argument("--final-params", help="write the parameters here after training (raw f32)")
    p.add_argument("--eval-chunk", type=int, required=True, help="samples per evaluation batch (mlcmp's)")
    p.add_argument("--diverged-loss", type=float, required=True, help="a batch loss above this diverged (mlcmp's rule)")
    a = p.parse_args()
    RULES["diverged_loss"] = a.diverged_loss
    recipe = json.loads(a.recipe_json)
    threads = recipe["threads"]
    recipe["threads"] = os.cpu_count() if threads == "all" else int(threads)
    return a, recipe


def read_idx(path, dims):
    with open(path, "rb") as f:
        data = f.read()
    shape = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(bytearray(data), dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def mnist(data_dir, train, limit):
    """(images (N, 28, 28) uint8, labels (N,) int64): the raw IDX files mlcmp verified."""
    prefix = "train" if train else "t10k"
    images = read_idx(os.path.join(data_dir, prefix + "-images-idx3-ubyte"), 3)
    labels = read_idx(os.path.join(data_dir, prefix + "-labels-idx1-ubyte"), 1).astype(np.int64)
    if limit:
        images, labels = images[:limit], labels[:limit]
    return images, labels


class Evaluation:
    """mlcmp's evaluation after each epoch, outside the timed epoch: both splits read and
    normalised once, then scored in chunks of mlcmp's size (--eval-chunk) by the framework's
    `predict` (normalised float32 (n, 784) in, class indices out)."""

    def __init__(self, a, recipe):
        self.chunk = a.eval_chunk
        self.splits = {}
        for train in (True, False):
            images, labels = mnist(a.data_dir, train, recipe.get("limit"))
            x = (images.reshape(-1, 784).astype(np.float32) / np.float32(255.0) - np.float32(recipe["mean"])) / np.float32(recipe["std"])
            self.splits[train] = (x, labels)

    def accuracy(self, train, predict):
        x, labels = self.splits[train]
        c = self.chunk
        correct = sum(int((predict(x[s: s + c]) == labels[s: s + c]).sum()) for s in range(0, len(labels), c))
        return correct / len(labels)


def shared(a, shapes):
    """The shared initial parameters (in mlcmp's order and (out, in) layout) and batches."""
    if not a.shared:
        return None, None
    flat = np.fromfile(os.path.join(a.shared, "params.f32"), dtype="<f4")
    params, at = [], 0
    for s in shapes:
        n = int(np.prod(s))
        params.append(flat[at: at + n].reshape(s))
        at += n
    with open(os.path.join(a.shared, "batches.json")) as f:
        batches = json.load(f)
    return params, batches


def write_params(a, arrays):
    if a.final_params:
        np.concatenate([np.asarray(x, dtype="<f4").ravel() for x in arrays]).tofile(a.final_params)


def finish(**fields):
    """The run's last line (its threads, peak memory, framework version), then the end."""
    emit(event="end", peak_rss_mb=peak_rss_mb(), **fields)
    _end_process(0)


def peak_rss_mb():
    """This Python process's peak resident memory (its DataLoader worker processes not included)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def emit(**line):
    try:
        sys.stdout.write(json.dumps(line) + "\n")
        sys.stdout.flush()
    except BrokenPipeError:
        # mlcmp is gone: the kernel closes its end of the pipe before it sends the SIGTERM of its
        # death, so a line written in between meets a closed pipe first.
        _orphaned()


def batch_done(epoch, losses, loss):
    """Keep a batch's loss, say every 50 batches that the run is alive (mlcmp stops a runner that
    is silent too long), and whether to stop: the loss diverged (mlcmp's rule) or a stop was
    requested."""
    losses.append(float(loss))
    if len(losses) % 50 == 0:
        emit(event="batch", epoch=epoch, batch=len(losses) - 1, loss=float(loss))
    if not math.isfinite(loss) or loss > RULES["diverged_loss"]:
        return "diverged"
    if STOP["requested"]:
        return "interrupted"
    return None


def end_epoch(epoch, tic, losses, clock, status, accuracy, samples):
    """After an epoch: report where the run stopped, or evaluate (outside the timed epoch, as
    mlcmp's Rust backends do) and report the epoch. True when the run must stop."""
    time_s = time.time() - tic
    if status:
        emit(event="stopped", status=status, epoch=epoch, batch=len(losses) - 1)
        return True
    t0 = time.time()
    train_acc, test_acc = accuracy(True), accuracy(False)
    emit(
        event="epoch", epoch=epoch, avg_loss=sum(losses) / len(losses), time_s=time_s,
        train_acc=train_acc, test_acc=test_acc, eval_s=time.time() - t0, samples=samples,
        phases=clock.phases, batch_losses=losses,
    )
    return False


class PhaseClock:
    """Charges the time since the previous lap to a phase, as mlcmp's Rust backends do."""

    def __init__(self):
        self.last = time.perf_counter()
        self.phases = {"data_s": 0.0, "forward_s": 0.0, "backward_s": 0.0, "update_s": 0.0}

    def lap(self, phase):
        now = time.perf_counter()
        self.phases[phase + "_s"] += now - self.last
        self.last = now
