#!/usr/bin/env python3
"""Parity fixture for salient-model: the seed's network in PyTorch with formula weights (eval
forward and checkpoints; the training step's fixture is make_train_fixture.py's).

Pinned reference environment (the one the committed fixture was made with):
    python 3.11, torch==2.15.0 (run on CPU), torchvision==0.29.2, safetensors==0.8.0, numpy==2.4.6
Rerun (from the repository root) with the project's reference venv:
    ~/.torch-ref/bin/python scripts/parity/make_fixture.py
        -> rewrites crates/salient-model/tests/fixtures/parity_reference.st (~120 KB)
    SALIENT_KEEP_CHECKPOINT=/tmp/rust.safetensors cargo test -p salient-model --test model checkpoint_round_trip
    ~/.torch-ref/bin/python scripts/parity/make_fixture.py --check-rust-checkpoint /tmp/rust.safetensors
        -> loads a checkpoint written by `SaliencyNet::save_checkpoint` into this PyTorch model with
           load_state_dict(strict=True) (after adding the num_batches_tracked counters) and prints
           its eval-mode output checksum
    ~/.torch-ref/bin/python scripts/parity/make_fixture.py --write-torch-checkpoint FILE
        -> saves this model's formula-weight state_dict with safetensors.torch.save_file, as the
           seed's notebook would, for the Rust loader (`salient inspect FILE`)

The architecture is re-stated here from ../shared/seed/SUMMARY.md (torchvision's resnet50 as the
encoder, the seed's decoder written out below), so the repository needs nothing outside itself.

Every parameter and buffer is filled by a formula the Rust tests reproduce exactly
(crates/salient-model/tests/parity_common/mod.rs): for the tensor at position k in the sorted list of
names (num_batches_tracked excluded) and flat element index i,
    value = float32(A + B * sin(0.37 * i + 1.3 * k))     (computed in float64)
with (A, B) by kind: conv weight (0, G / sqrt(fan)) with fan = in * kh * kw and G = 1.0
(10.0 for conv_0.0.weight); transposed-conv weight (0, 3.0 / sqrt(fan)) with
fan = in * kh * kw / 4 (the taps one output pixel sees); BN weight (1, 0.2); BN bias (0, 0.1);
running_mean (0, 0.1); running_var (1, 0.5) (always positive).
Input x[i] = 0.5 + 0.45 * sin(0.031 * i + 0.7).
"""
import argparse
import json
import math
import os

import numpy as np
import torch
import torch.nn as nn
import torchvision
from safetensors.torch import load_file, save_file

CONV_GAIN = 1.0
DECONV_GAIN = 3.0
# The last convolution gets a larger gain so that the sigmoid's output spreads (std ~0.04) without
# large activations earlier on, which would make float32 rounding approach the tolerance.
HEAD_GAIN = 10.0
FIXTURE = os.path.join(os.path.dirname(__file__), "..", "..", "crates", "salient-model", "tests",
                       "fixtures", "parity_reference.st")
# The modules the seed freezes (make_train_fixture.py uses the same list).
FROZEN = ("conv1", "bn1", "layer1", "layer2")


def conv_block(cin, cout, k, padding, dropout=0.0):
    """The seed's Conv: Conv2d(bias=False) -> BatchNorm2d -> LeakyReLU(0.2) -> Dropout."""
    return nn.Sequential(nn.Conv2d(cin, cout, k, 1, padding, bias=False), nn.BatchNorm2d(cout),
                         nn.LeakyReLU(0.2), nn.Dropout(dropout))


def deconv_block(cin, cout):
    """The seed's Deconv: ConvTranspose2d(4, 2, 1, bias=False) -> BatchNorm2d -> LeakyReLU(0.01)."""
    return nn.Sequential(nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=False), nn.BatchNorm2d(cout),
                         nn.LeakyReLU(0.01))


class SeedUnet(nn.Module):
    """The seed's U-Net: registration order gives the seed's state_dict order and names."""

    def __init__(self):
        super().__init__()
        r = torchvision.models.resnet50(weights=None)
        self.conv1, self.bn1, self.relu, self.maxpool = r.conv1, r.bn1, r.relu, r.maxpool
        self.layer1, self.layer2, self.layer3, self.layer4 = r.layer1, r.layer2, r.layer3, r.layer4
        self.conv_5 = conv_block(2048, 512, 1, 0)
        self.conv_4 = conv_block(1536, 512, 1, 0)
        self.conv_3 = conv_block(768, 256, 1, 0)
        self.conv_2 = conv_block(384, 128, 1, 0)
        self.conv_1 = conv_block(128, 64, 1, 0)
        self.conv_0 = conv_block(32, 1, 3, 1)
        self.deconv4 = deconv_block(512, 512)
        self.deconv3 = deconv_block(512, 256)
        self.deconv2 = deconv_block(256, 128)
        self.deconv1 = deconv_block(128, 64)
        self.deconv0 = deconv_block(64, 32)

    def forward(self, x):
        s1 = self.relu(self.bn1(self.conv1(x)))
        s2 = self.layer1(self.maxpool(s1))
        s3 = self.layer2(s2)
        s4 = self.layer3(s3)
        x = self.conv_5(self.layer4(s4))
        x = self.conv_4(torch.cat([self.deconv4(x), s4], 1))
        x = self.conv_3(torch.cat([self.deconv3(x), s3], 1))
        x = self.conv_2(torch.cat([self.deconv2(x), s2], 1))
        x = self.conv_1(torch.cat([self.deconv1(x), s1], 1))
        return torch.sigmoid(self.conv_0(self.deconv0(x)))


def formula(name, shape, k):
    n = int(np.prod(shape))
    if name.endswith("running_var"):
        a, b = 1.0, 0.5
    elif name.endswith("running_mean"):
        a, b = 0.0, 0.1
    elif len(shape) == 4:
        if name.startswith("deconv"):
            fan, gain = shape[0] * shape[2] * shape[3] / 4, DECONV_GAIN
        else:
            fan = shape[1] * shape[2] * shape[3]
            gain = HEAD_GAIN if name.startswith("conv_0.") else CONV_GAIN
        a, b = 0.0, gain / math.sqrt(fan)
    elif name.endswith("weight"):
        a, b = 1.0, 0.2
    else:
        a, b = 0.0, 0.1
    v = a + b * np.sin(0.37 * np.arange(n, dtype=np.float64) + 1.3 * k)
    return torch.from_numpy(v.astype(np.float32).reshape(shape))


def fill(model):
    sd = model.state_dict()
    names = sorted(n for n in sd if not n.endswith("num_batches_tracked"))
    with torch.no_grad():
        for k, n in enumerate(names):
            sd[n].copy_(formula(n, tuple(sd[n].shape), k))


def signal(shape, freq, phase, offset, amp):
    n = int(np.prod(shape))
    v = offset + amp * np.sin(freq * np.arange(n, dtype=np.float64) + phase)
    return torch.from_numpy(v.astype(np.float32).reshape(shape))


def model_input(shape):
    return signal(shape, 0.031, 0.7, 0.5, 0.45)


def make_fixture(path):
    torch.manual_seed(0)
    model = SeedUnet()
    fill(model)
    out = {}
    model.eval()
    with torch.no_grad():
        for (h, w) in [(64, 64), (96, 128)]:
            y = model(model_input((2, 3, h, w)))
            out[f"eval_{h}x{w}"] = y.contiguous()
            print(f"eval {h}x{w}: min {y.min():.4f} max {y.max():.4f} mean {y.mean():.4f}")
    names = [(n, list(v.shape)) for n, v in model.state_dict().items()
             if not n.endswith("num_batches_tracked")]
    meta = {
        "state_dict": json.dumps(names),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
    }
    os.makedirs(os.path.dirname(path), exist_ok=True)
    save_file(out, path, metadata=meta)
    print(f"wrote {os.path.normpath(path)} ({os.path.getsize(path)} bytes)")


def check_rust_checkpoint(path):
    sd = load_file(path)
    model = SeedUnet()
    for n, v in model.state_dict().items():
        if n.endswith("num_batches_tracked"):
            sd[n] = torch.zeros_like(v)
    model.load_state_dict(sd, strict=True)
    model.eval()
    with torch.no_grad():
        y = model(model_input((2, 3, 64, 64)))
    print(f"strict load OK: {len(sd)} tensors; eval 64x64 output sum {y.sum().item():.6f}")


def write_torch_checkpoint(path):
    model = SeedUnet()
    fill(model)
    save_file(model.state_dict(), path, metadata={"input_size": "64x64", "normalize": "none"})
    model.eval()
    with torch.no_grad():
        y = model(model_input((2, 3, 64, 64)))
    print(f"wrote {path}; eval 64x64 output sum {y.sum().item():.6f}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--check-rust-checkpoint", metavar="FILE")
    ap.add_argument("--write-torch-checkpoint", metavar="FILE")
    ap.add_argument("--out", default=FIXTURE)
    args = ap.parse_args()
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    if args.check_rust_checkpoint:
        check_rust_checkpoint(args.check_rust_checkpoint)
    elif args.write_torch_checkpoint:
        write_torch_checkpoint(args.write_torch_checkpoint)
    else:
        make_fixture(args.out)
