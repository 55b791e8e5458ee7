"""The authors' released TF layers (HongyangGao/PixelDCN, utils/pixel_dcn.py: pixel_dcl, ipixel_dcl,
dilate_tensor, get_mask; utils/ops.py's deconv = conv2d_transpose SAME), ported to TF 2 graph mode
(tf.compat.v1) with only tf.contrib.layers.conv2d replaced by its arithmetic (tf.nn.conv2d SAME,
no bias, as their biases_initializer=None), timed forward + backward at the U-Net decoder shapes,
batch 1, NHWC (their default), 2 intra-op threads, medians over round-robin rounds.
Ours (the default forms, bias-free) are timed in the same rounds. TensorFlow is not a dependency of
this project; run it from an environment that has both (same numpy):

    python3.11 -m venv /tmp/tfenv && /tmp/tfenv/bin/pip install tensorflow-cpu==2.21.0
    PYTHONPATH=.:.venv/lib/python3.11/site-packages /tmp/tfenv/bin/python scripts/bench_authors_tf.py 7 2 > tf.json
"""

import json
import statistics
import sys
import time

import numpy as np
import tensorflow as tf
import torch

from pixeldcn.upsamplers import build_upsampler
from pixeldcn.utils.host_memory import keep_freed_host_memory

tf1 = tf.compat.v1
tf1.disable_eager_execution()


def conv2d(inputs, out_num, kernel_size, scope):
    shape = list(kernel_size) + [inputs.shape[-1], out_num]
    w = tf1.get_variable(scope + "/weights", shape, initializer=tf1.truncated_normal_initializer(stddev=0.02))
    return tf.nn.conv2d(inputs, w, [1, 1, 1, 1], padding="SAME")


def get_mask(shape, scope):
    new_shape = (np.prod(shape[:-2]), shape[-2], shape[-1])
    mask = np.ones(new_shape, dtype=np.float32)
    for i in range(0, new_shape[0], 2):
        mask[i, :, :] = 0
    mask = np.reshape(mask, shape, "F")
    return tf.constant(mask, dtype=tf.float32, name=scope + "/mask")


def dilate_tensor(inputs, axes, shifts, scope):
    for index, axis in enumerate(axes):
        eles = tf.unstack(inputs, axis=axis, name=scope + f"/unstack{index}")
        zeros = tf.zeros_like(eles[0], dtype=tf.float32, name=scope + f"/zeros{index}")
        for ele_index in range(len(eles), 0, -1):
            eles.insert(ele_index - shifts[index], zeros)
        inputs = tf.stack(eles, axis=axis, name=scope + f"/stack{index}")
    return inputs


def pixel_dcl(inputs, out_num, kernel_size, scope):
    axis = (1, 2)
    conv0 = conv2d(inputs, out_num, kernel_size, scope + "/conv0")
    conv1 = conv2d(conv0, out_num, kernel_size, scope + "/conv1")
    dilated_conv0 = dilate_tensor(conv0, axis, (0, 0), scope + "/dialte_conv0")
    dilated_conv1 = dilate_tensor(conv1, axis, (1, 1), scope + "/dialte_conv1")
    conv1 = tf.add(dilated_conv0, dilated_conv1, scope + "/add1")
    with tf1.variable_scope(scope + "/conv2"):
        shape = list(kernel_size) + [out_num, out_num]
        weights = tf1.get_variable("weights", shape, initializer=tf1.truncated_normal_initializer(stddev=0.02))
        weights = tf.multiply(weights, get_mask(shape, scope))
        conv2 = tf.nn.conv2d(conv1, weights, [1, 1, 1, 1], padding="SAME")
    return tf.add(conv1, conv2, name=scope + "/add2")


def ipixel_dcl(inputs, out_num, kernel_size, scope):
    axis, channel_axis = (1, 2), 3
    conv1 = conv2d(inputs, out_num, kernel_size, scope + "/conv1")
    conv1_concat = tf.concat([inputs, conv1], channel_axis, name=scope + "/concat1")
    conv2 = conv2d(conv1_concat, out_num, kernel_size, scope + "/conv2")
    conv2_concat = tf.concat([conv1_concat, conv2], channel_axis, name=scope + "/concat2")
    conv3 = conv2d(conv2_concat, 2 * out_num, kernel_size, scope + "/conv3")
    conv4, conv5 = tf.split(conv3, 2, channel_axis, name=scope + "/split")
    dialte1 = dilate_tensor(conv1, axis, (0, 0), scope + "/dialte1")
    dialte2 = dilate_tensor(conv2, axis, (1, 1), scope + "/dialte2")
    dialte3 = dilate_tensor(conv4, axis, (1, 0), scope + "/dialte3")
    dialte4 = dilate_tensor(conv5, axis, (0, 1), scope + "/dialte4")
    return tf.add_n([dialte1, dialte2, dialte3, dialte4], scope + "/add")


def deconv(inputs, out_num, kernel_size, scope):
    n, h, w, c = inputs.shape
    weights = tf1.get_variable(
        scope + "/weights", list(kernel_size) + [out_num, c], initializer=tf1.truncated_normal_initializer(stddev=0.02)
    )
    return tf.nn.conv2d_transpose(inputs, weights, [n, 2 * h, 2 * w, out_num], [1, 2, 2, 1], padding="SAME")


LAYERS = {
    "pixeldcl": (pixel_dcl, (3, 3)),
    "ipixeldcl": (ipixel_dcl, (3, 3)),
    "deconv6": (deconv, (6, 6)),
    "deconv": (deconv, (3, 3)),
}
SHAPES = [(512, 16), (256, 32), (128, 64), (64, 128)]

rounds, warmup = int(sys.argv[1]), int(sys.argv[2])
rng = np.random.default_rng(0)
graph = tf.Graph()
steps = {}
with graph.as_default():
    for name, (layer, k) in LAYERS.items():
        for c, s in SHAPES:
            x = tf1.get_variable(f"{name}_{c}/x", initializer=rng.standard_normal((1, s, s, c), dtype=np.float32))
            g = tf.constant(rng.standard_normal((1, 2 * s, 2 * s, c), dtype=np.float32))
            y = layer(x, c, k, f"{name}_{c}")
            variables = [v for v in tf1.trainable_variables() if v.name.startswith(f"{name}_{c}/")]
            grads = tf.gradients(y, variables, grad_ys=g)
            assert len(variables) >= 2 and all(grad is not None for grad in grads), (name, variables)
            # Fetch one scalar that reads the output and every gradient: a graph asked for gradients
            # alone prunes every operation whose result no gradient reads (the whole of a
            # deconvolution's forward pass, iPixelDCL's last convolution), which once made TF look
            # 1.3-1.5x faster than it is.
            steps[(name, c)] = tf.add_n([tf.reduce_sum(y), *(tf.reduce_sum(grad) for grad in grads)])
    init = tf1.global_variables_initializer()
config = tf1.ConfigProto(intra_op_parallelism_threads=2, inter_op_parallelism_threads=1)

# Ours in the same rounds (same process, the two libraries never run at once): the default forms.

torch.set_num_threads(2)
keep_freed_host_memory()  # as train.py does (TensorFlow's own allocator keeps its memory too)
torch_calls = {}
for name in LAYERS:
    for c, s in SHAPES:
        module = build_upsampler(name, c, c, bias=False)
        x = torch.randn(1, c, s, s, requires_grad=True)
        g = torch.randn(1, c, 2 * s, 2 * s)
        torch_calls[("ours", name, c)] = lambda m=module, x=x, g=g: m(x).backward(g)

samples = {}
with tf1.Session(graph=graph, config=config) as sess:
    sess.run(init)
    calls = {("tf", name, c): (lambda op=op: sess.run(op)) for (name, c), op in steps.items()} | torch_calls
    keys = list(calls)
    samples = {key: [] for key in keys}
    for r in range(warmup + rounds):
        for key in keys[r % len(keys) :] + keys[: r % len(keys)]:
            t0 = time.perf_counter()
            calls[key]()
            dt = time.perf_counter() - t0
            if r >= warmup:
                samples[key].append(dt)
out = {}
for impl in ("tf", "ours"):
    for name in LAYERS:
        per = {c: statistics.median(samples[(impl, name, c)]) * 1e3 for c, _ in SHAPES}
        totals = [sum(r) * 1e3 for r in zip(*(samples[(impl, name, c)] for c, _ in SHAPES))]
        out[f"{impl}/{name}"] = {
            "total_ms": sum(per.values()),
            "range": [min(totals), max(totals)],
            "per_shape_ms": per,
        }
for name in LAYERS:
    ours, theirs = out[f"ours/{name}"]["total_ms"], out[f"tf/{name}"]["total_ms"]
    print(f"{name:10s} ours {ours:7.1f} ms  TF {theirs:7.1f} ms  ours/TF {ours / theirs:.2f}", file=sys.stderr)
print(json.dumps({"tf": tf.__version__, "torch": torch.__version__, "results": out}, indent=1))
