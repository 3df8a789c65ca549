"""The native peer for the conv benchmark: JAX (jit, CPU) training the same Conv-2-style
digits net as `lottery-lab bench` (28x28x1 -> conv 8 3x3 pad 1 -> conv 8 3x3 pad 1 -> 2x2
max-pool -> dense 64 -> 10, ReLU, softmax cross-entropy, Adam 2e-3, fp32), channels-last like
ours, on random inputs. Prints training samples/s for the given batch.

usage: python bench_jax_conv.py BATCH SECONDS
"""

import sys
import time

import jax
import jax.numpy as jnp

batch, seconds = int(sys.argv[1]), float(sys.argv[2])
key = jax.random.PRNGKey(1)
k1, k2, k3, k4, kx, ky = jax.random.split(key, 6)


def glorot(k, shape, fan_in, fan_out):
    return jax.random.normal(k, shape) * jnp.sqrt(2.0 / (fan_in + fan_out))


params = {
    "c1": glorot(k1, (3, 3, 1, 8), 9, 72),
    "b1": jnp.zeros(8),
    "c2": glorot(k2, (3, 3, 8, 8), 72, 72),
    "b2": jnp.zeros(8),
    "d1": glorot(k3, (14 * 14 * 8, 64), 14 * 14 * 8, 64),
    "b3": jnp.zeros(64),
    "d2": glorot(k4, (64, 10), 64, 10),
    "b4": jnp.zeros(10),
}
x = jax.random.uniform(kx, (batch, 28, 28, 1))
y = jax.random.randint(ky, (batch,), 0, 10)
dn = ("NHWC", "HWIO", "NHWC")


def loss_fn(p, x, y):
    h = jax.lax.conv_general_dilated(x, p["c1"], (1, 1), "SAME", dimension_numbers=dn) + p["b1"]
    h = jax.nn.relu(h)
    h = jax.lax.conv_general_dilated(h, p["c2"], (1, 1), "SAME", dimension_numbers=dn) + p["b2"]
    h = jax.nn.relu(h)
    h = jax.lax.reduce_window(h, -jnp.inf, jax.lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "VALID")
    h = h.reshape(batch, -1)
    h = jax.nn.relu(h @ p["d1"] + p["b3"])
    logits = h @ p["d2"] + p["b4"]
    return -jnp.mean(jax.nn.log_softmax(logits)[jnp.arange(batch), y])


lr, b1, b2, eps = 2e-3, 0.9, 0.999, 1e-8


@jax.jit
def step(p, m, v, t, x, y):
    g = jax.grad(loss_fn)(p, x, y)
    t = t + 1
    m = jax.tree.map(lambda m, g: b1 * m + (1 - b1) * g, m, g)
    v = jax.tree.map(lambda v, g: b2 * v + (1 - b2) * g * g, v, g)
    step_size = lr / (1 - b1**t)
    bc2 = jnp.sqrt(1 - b2**t)
    p = jax.tree.map(lambda p, m, v: p - step_size * m / (jnp.sqrt(v) / bc2 + eps), p, m, v)
    return p, m, v, t


m = jax.tree.map(jnp.zeros_like, params)
v = jax.tree.map(jnp.zeros_like, params)
t = jnp.zeros(())
for _ in range(5):
    params, m, v, t = step(params, m, v, t, x, y)
jax.block_until_ready(params)
start = time.perf_counter()
steps = 0
while time.perf_counter() - start < seconds:
    for _ in range(5):
        params, m, v, t = step(params, m, v, t, x, y)
    jax.block_until_ready(params)
    steps += 5
elapsed = time.perf_counter() - start
print(f"  JAX {jax.__version__} (jit, CPU), Conv-2-style digits net, batch {batch:>4}: "
      f"{steps * batch / elapsed:>9.0f} samples/s")
