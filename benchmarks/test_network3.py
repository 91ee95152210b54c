"""One training epoch of chapter 6's convolutional networks.

The book's one- and two-conv-layer networks (``conv.py``'s
``basic_conv`` and ``dbl_conv``: 5x5 filters, 2x2 max-pooling, sigmoid,
a fully connected layer of 100, softmax; eta 0.1, mini-batches of 10)
trained by ``fastnet.network3`` in float32 and float64, beside the same
networks in PyTorch on the CPU (skipped when PyTorch is not installed).

An epoch here is the first ``min(--bench-samples, 5000)`` MNIST training
images; each benchmark's ``extra_info`` scales its median to the book's
epoch of 50,000 images and gives the compute floor: the epoch's
matrix-product FLOPs (forward, and backward for weights and inputs)
divided by this machine's rate on a large matrix product in the same
precision (on BLAS's default threads; the rate on one thread, which is how
``fastnet.network3`` trains at this mini-batch size, gives a second
floor).  ``pytest benchmarks/test_network3.py --benchmark-json out.json``
keeps them.
"""

import contextlib
import functools
import time

import numpy as np
import pytest

from fastnet import conv_kernels, network3

SUBSET = 5000
BOOK_EPOCH = 50000
MINI_BATCH_SIZE = 10
ETA = 0.1

#: ``(name, layer specs)``: ("conv", filter_shape, image_shape) or
#: ("fc" / "softmax", n_in, n_out), as conv.py builds them.
NETWORKS = {
    "one-conv": [("conv", (20, 1, 5, 5), (MINI_BATCH_SIZE, 1, 28, 28)),
                 ("fc", 20 * 12 * 12, 100), ("softmax", 100, 10)],
    "two-conv": [("conv", (20, 1, 5, 5), (MINI_BATCH_SIZE, 1, 28, 28)),
                 ("conv", (40, 20, 5, 5), (MINI_BATCH_SIZE, 20, 12, 12)),
                 ("fc", 40 * 4 * 4, 100), ("softmax", 100, 10)],
}


def build_fastnet(spec, dtype):
    np.random.seed(0)
    layers = []
    for kind, first, second in spec:
        if kind == "conv":
            layers.append(network3.ConvPoolLayer(first, second, (2, 2)))
        elif kind == "fc":
            layers.append(network3.FullyConnectedLayer(first, second))
        else:
            layers.append(network3.SoftmaxLayer(first, second))
    return network3.Network(layers, MINI_BATCH_SIZE, dtype=dtype)


def flops_per_example(spec):
    """Multiply-adds (counted as 2 FLOPs) of one example's forward pass,
    weight gradient and input gradient (none for the first layer)."""
    total = 0
    for j, (kind, first, second) in enumerate(spec):
        if kind == "conv":
            filters, channels, kh, kw = first
            oh, ow = second[2] - kh + 1, second[3] - kw + 1
            products = oh * ow * filters * channels * kh * kw
        else:
            products = first * second
        total += 2 * products * (3 if j else 2)
    return total


@functools.lru_cache(maxsize=None)
def matmul_rate(dtype, one_thread=False, n=2048):
    """FLOPs per second of an n x n matrix product, best of three, on
    BLAS's default threads or on one (as fastnet.network3 trains)."""
    rng = np.random.default_rng(0)
    a, b = (rng.random((n, n)).astype(dtype) for _ in range(2))
    best = np.inf
    with (network3.single_threaded_blas() if one_thread
          else contextlib.nullcontext()):
        for _ in range(3):
            started = time.perf_counter()
            a @ b
            best = min(best, time.perf_counter() - started)
    return 2 * n ** 3 / best


@pytest.fixture(scope="module")
def mnist_subset(samples):
    training, _, _ = network3.load_data_shared()
    n = min(samples, SUBSET) // MINI_BATCH_SIZE * MINI_BATCH_SIZE
    conv_kernels.warm_up()
    return training[0][:n], training[1][:n]


def fastnet_epoch(spec, dtype, x, y):
    net = build_fastnet(spec, dtype)
    x = x.astype(dtype)

    def run():
        with network3.single_threaded_blas():   # as SGD trains
            for k in range(0, len(y), MINI_BATCH_SIZE):
                net.update_mini_batch(x[k:k + MINI_BATCH_SIZE],
                                      y[k:k + MINI_BATCH_SIZE], ETA, 0.0,
                                      len(y) // MINI_BATCH_SIZE)
    return run


def pytorch_epoch(spec, dtype, x, y):
    import torch
    torch.manual_seed(0)
    modules = []
    for kind, first, second in spec:
        if kind == "conv":
            modules += [torch.nn.Conv2d(first[1], first[0], first[2:]),
                        torch.nn.MaxPool2d(2), torch.nn.Sigmoid()]
        else:
            if not any(isinstance(m, torch.nn.Flatten) for m in modules):
                modules.append(torch.nn.Flatten())
            modules.append(torch.nn.Linear(first, second))
            if kind == "fc":
                modules.append(torch.nn.Sigmoid())
    torch_dtype = {"float32": torch.float32, "float64": torch.float64}[dtype]
    model = torch.nn.Sequential(*modules).to(torch_dtype)
    optimizer = torch.optim.SGD(model.parameters(), lr=ETA)
    images = torch.from_numpy(x.astype(dtype).reshape(-1, 1, 28, 28))
    labels = torch.from_numpy(y)

    def run():
        for k in range(0, len(labels), MINI_BATCH_SIZE):
            optimizer.zero_grad()
            output = model(images[k:k + MINI_BATCH_SIZE])
            loss = torch.nn.functional.cross_entropy(
                output, labels[k:k + MINI_BATCH_SIZE])
            loss.backward()
            optimizer.step()
    return run


IMPLEMENTATIONS = {"fastnet": fastnet_epoch, "pytorch": pytorch_epoch}


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("network", NETWORKS)
def test_conv_epoch(benchmark, mnist_subset, rounds, record, network, dtype,
                    implementation):
    if implementation == "pytorch":
        pytest.importorskip("torch")   # before timing: no empty benchmark
    x, y = mnist_subset
    spec = NETWORKS[network]
    label = f"chapter6 {network} {dtype} batch {MINI_BATCH_SIZE}"
    benchmark.group = f"{label}, {len(y)} samples"
    benchmark.pedantic(
        lambda run: run(),
        setup=lambda: ((IMPLEMENTATIONS[implementation](spec, dtype, x, y),),
                       {}),
        rounds=rounds, iterations=1)
    flops = flops_per_example(spec) * BOOK_EPOCH
    floor = flops / matmul_rate(np.dtype(dtype))
    one_thread_floor = flops / matmul_rate(np.dtype(dtype), True)
    scale = BOOK_EPOCH / len(y)
    record(label, implementation, benchmark, floor=one_thread_floor / scale)
    if benchmark.stats is not None:
        epoch = benchmark.stats.stats.median * scale
        benchmark.extra_info.update(
            implementation=implementation, samples=len(y),
            seconds_per_50k_epoch=epoch, flops_per_50k_epoch=flops,
            floor_seconds_per_50k_epoch=floor, times_floor=epoch / floor,
            one_thread_floor_seconds_per_50k_epoch=one_thread_floor)
