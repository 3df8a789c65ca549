"""numpy's matrix products for the 7 GEMMs of one LeNet-300-100 training step at batch 60.

Printed beside `lottery-lab bench` by `cargo xtask bench`. Weights are stored [in, out], as in
our engine: forward x @ W, weight gradient x.T @ delta, input gradient delta @ W.T.
"""
import sys
import time

import numpy as np

BATCH = int(sys.argv[1]) if len(sys.argv) > 1 else 60
SECONDS = float(sys.argv[2]) if len(sys.argv) > 2 else 3.0
LAYERS = [(784, 300), (300, 100), (100, 10)]
rng = np.random.default_rng(1)


def step_gemms():
    """(a, b) pairs whose products make one training step, and their FLOPs."""
    pairs = []
    for l, (fan_in, fan_out) in enumerate(LAYERS):
        x = rng.standard_normal((BATCH, fan_in), dtype=np.float32)
        w = rng.standard_normal((fan_in, fan_out), dtype=np.float32)
        d = rng.standard_normal((BATCH, fan_out), dtype=np.float32)
        pairs.append((x, w))  # forward
        pairs.append((x.T, d))  # weight gradient
        if l > 0:
            pairs.append((d, w.T))  # input gradient
    flops = sum(2 * a.shape[0] * a.shape[1] * b.shape[1] for a, b in pairs)
    return pairs, flops


def measure(pairs, flops):
    for a, b in pairs:
        a @ b
    reps, start = 0, time.perf_counter()
    while time.perf_counter() - start < SECONDS:
        for _ in range(20):
            for a, b in pairs:
                a @ b
        reps += 20
    return reps * flops / (time.perf_counter() - start) / 1e9


pairs, flops = step_gemms()
print(f"numpy {np.__version__}, batch {BATCH}: the {len(pairs)} GEMMs of a step: {measure(pairs, flops):6.1f} GFLOP/s")
for name, idx in [("forward 784x300", 0), ("forward 300x100", 2), ("forward 100x10", 5)]:
    a, b = pairs[idx]
    f = 2 * a.shape[0] * a.shape[1] * b.shape[1]
    print(f"  {name:<16} ({a.shape[0]}x{a.shape[1]} @ {b.shape[0]}x{b.shape[1]}): {measure([(a, b)], f):6.1f} GFLOP/s")
