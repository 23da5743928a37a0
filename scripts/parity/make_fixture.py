#!/usr/bin/env python3
"""Parity and checkpoint-interchange fixtures for salient-model: the seed's network in PyTorch.

Pinned reference environment (the one the committed fixtures were made with):
    python 3.11, torch==2.15.0 (run on CPU), torchvision==0.29.2, safetensors==0.8.0, numpy==2.4.6
Rerun (from the repository root) with the project's reference venv:
    ~/.torch-ref/bin/python scripts/parity/make_fixture.py
        -> rewrites crates/salient-model/tests/fixtures/parity_reference.st (~140 KB): formula
           weights (below) and eval outputs (the training step's fixture is
           make_train_fixture.py's)

Checkpoint interchange, both ways (tested by `cargo test -p salient-model --test interchange`):
  PyTorch -> Rust
    ~/.torch-ref/bin/python scripts/parity/make_fixture.py --interchange
        -> crates/salient-model/tests/fixtures/torch_state_dict.safetensors.gz (~540 KB): the seed's
           state_dict as `safetensors.torch.save_file` writes it (num_batches_tracked included, no
           metadata), gzipped so that the 65 MB file costs little in git; and
           torch_state_dict_reference.st: its SHA-256 and PyTorch's eval outputs at 64x64 and 64x96.
           Weights: torchvision's / the seed's initialisation from torch.manual_seed(16), each
           tensor of more than TILE elements repeating its first TILE (prime) values so that gzip
           shrinks it; BatchNorm affine parameters drawn around (1, 0); running statistics
           accumulated by CALIBRATION_BATCHES train-mode forwards of random images (momentum None,
           as a trained network's are: its eval activations neither vanish nor saturate); every
           float stored as float16 (the Rust loader converts F16 to f32; the reference outputs are
           of the float16-rounded weights, computed in float32).
    ~/.torch-ref/bin/python scripts/parity/make_fixture.py --check-torch-fixture
        -> re-checks with PyTorch that the committed .gz loads with strict=True and gives the
           recorded outputs (exit 1 if not)
  Rust -> PyTorch
    SALIENT_KEEP_CHECKPOINT=/tmp/rust.safetensors cargo test -p salient-model --test interchange rust_checkpoint
    ~/.torch-ref/bin/python scripts/parity/make_fixture.py --check-rust-checkpoint /tmp/rust.safetensors
        -> loads that checkpoint (written by `SaliencyNet::save_checkpoint`, formula weights) into
           this PyTorch model with load_state_dict(strict=True) after adding the num_batches_tracked
           counters, runs the eval forward at 64x64 and compares the file's tensor digest and the
           output with crates/salient-model/tests/fixtures/rust_checkpoint_reference.st (exit 1 if
           they differ); add --record to (re)write that fixture. The digest is SHA-256 over the
           tensors in name order of `name NUL dtype NUL shape(comma-separated) NUL raw bytes` (the
           file's own bytes vary: its metadata is a hash map), which the Rust test recomputes.
    ~/.torch-ref/bin/python scripts/parity/make_fixture.py --write-torch-checkpoint FILE
        -> writes the PyTorch -> Rust state_dict uncompressed to FILE (for `salient inspect FILE`)

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
import gzip
import hashlib
import json
import math
import os
import struct
import sys
import tempfile

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
FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "crates", "salient-model", "tests",
                        "fixtures")
TORCH_CHECKPOINT = os.path.join(FIXTURES, "torch_state_dict.safetensors.gz")
TORCH_REFERENCE = os.path.join(FIXTURES, "torch_state_dict_reference.st")
RUST_REFERENCE = os.path.join(FIXTURES, "rust_checkpoint_reference.st")
# Interchange weights: period of the repeated values (prime, so no channel repeats another) and
# the number of train-mode batches that accumulate the BatchNorm running statistics.
TILE = 509
CALIBRATION_BATCHES = 4
INTERCHANGE_SIZES = [(64, 64), (64, 96)]
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


def tensor_digest(path):
    """SHA-256 of a safetensors file's tensors: `name NUL dtype NUL shape NUL bytes`, by name."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    body = data[8 + n:]
    h = hashlib.sha256()
    for name in sorted(k for k in header if k != "__metadata__"):
        info = header[name]
        start, end = info["data_offsets"]
        h.update(name.encode() + b"\0" + info["dtype"].encode() + b"\0"
                 + ",".join(str(d) for d in info["shape"]).encode() + b"\0")
        h.update(body[start:end])
    return h.hexdigest()


def strict_load(path):
    """The seed's model with `path` loaded by load_state_dict(strict=True), counters added."""
    sd = load_file(path)
    model = SeedUnet()
    added = 0
    for n, v in model.state_dict().items():
        if n.endswith("num_batches_tracked") and n not in sd:
            sd[n] = torch.zeros_like(v)
            added += 1
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in sd.items()},
                          strict=True)
    model.eval()
    return model, len(sd) - added, added


def max_diff(a, b):
    """Largest absolute difference; NaN (or a shape mismatch) counts as infinite."""
    if a.shape != b.shape:
        return float("inf")
    d = (a.double() - b.double()).abs().max().item()
    return d if d == d else float("inf")


def check_rust_checkpoint(path, record, out):
    model, tensors, added = strict_load(path)
    digest = tensor_digest(path)
    with torch.no_grad():
        y = model(model_input((2, 3, 64, 64))).contiguous()
    print(f"strict load OK: {tensors} tensors from {path} + {added} num_batches_tracked counters; "
          f"tensor digest {digest}; eval 64x64 output mean {y.mean().item():.6f}")
    if record:
        save_file({"pytorch_eval_64x64": y}, out, metadata={
            "tensor_sha256": digest, "tensors": str(tensors), "torch": torch.__version__,
            "torchvision": torchvision.__version__})
        print(f"wrote {os.path.normpath(out)} ({os.path.getsize(out)} bytes)")
        return 0
    ref = load_file(out)
    with open(out, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        meta = json.loads(f.read(n))["__metadata__"]
    d = max_diff(y, ref["pytorch_eval_64x64"])
    same = meta["tensor_sha256"] == digest and d == 0.0
    print(f"committed {os.path.normpath(out)}: digest {'equal' if meta['tensor_sha256'] == digest else 'DIFFERENT'}, "
          f"output max abs diff {d:e} -> {'OK' if same else 'MISMATCH'}")
    return 0 if same else 1


def interchange_model():
    """The seed's network as a trained PyTorch user would save it (see the header)."""
    torch.manual_seed(16)
    model = SeedUnet()
    g = torch.Generator().manual_seed(17)
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if name.endswith("num_batches_tracked"):
                continue
            if name.endswith(".weight") and t.dim() == 1:
                t.copy_(1 + 0.1 * torch.randn(t.shape, generator=g))
            elif name.endswith(".bias"):
                t.copy_(0.1 * torch.randn(t.shape, generator=g))
            n = t.numel()
            if n > TILE:
                first = t.flatten()[:TILE].clone()
                t.copy_(first.repeat((n + TILE - 1) // TILE)[:n].view(t.shape))
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.momentum = None  # cumulative average over the calibration batches
        model.train()
        for _ in range(CALIBRATION_BATCHES):
            model(torch.rand((4, 3, 64, 64), generator=g))
        for t in model.state_dict().values():
            if t.is_floating_point():
                t.copy_(t.half().float())
    model.eval()
    return model


def save_state_dict(model, path):
    """`save_file` of the state_dict, floats as float16, counters as they are (int64)."""
    sd = {k: v.half() if v.is_floating_point() else v for k, v in model.state_dict().items()}
    save_file(sd, path)


def write_torch_checkpoint(path):
    model = interchange_model()
    save_state_dict(model, path)
    print(f"wrote {path} ({os.path.getsize(path)} bytes)")


def interchange_outputs(model):
    with torch.no_grad():
        return {f"pytorch_eval_{h}x{w}": model(model_input((2, 3, h, w))).contiguous()
                for h, w in INTERCHANGE_SIZES}


def make_torch_interchange():
    model = interchange_model()
    with tempfile.TemporaryDirectory() as tmp:
        raw = os.path.join(tmp, "state_dict.safetensors")
        save_state_dict(model, raw)
        with open(raw, "rb") as f:
            data = f.read()
    # Strict load of what was written, so the outputs are those of the file's weights.
    with tempfile.TemporaryDirectory() as tmp:
        raw = os.path.join(tmp, "state_dict.safetensors")
        with open(raw, "wb") as f:
            f.write(data)
        loaded, tensors, added = strict_load(raw)
    assert added == 0, "save_file kept every num_batches_tracked counter"
    outputs = interchange_outputs(loaded)
    for k, y in outputs.items():
        print(f"{k}: min {y.min():.4f} max {y.max():.4f} std {y.std():.4f}")
    with open(TORCH_CHECKPOINT, "wb") as f:
        f.write(gzip.compress(data, 9, mtime=0))
    save_file(outputs, TORCH_REFERENCE, metadata={
        "file_sha256": hashlib.sha256(data).hexdigest(), "file_bytes": str(len(data)),
        "tensors": str(tensors), "torch": torch.__version__, "torchvision": torchvision.__version__})
    for p in (TORCH_CHECKPOINT, TORCH_REFERENCE):
        print(f"wrote {os.path.normpath(p)} ({os.path.getsize(p)} bytes)")
    print(f"state_dict: {tensors} tensors, {len(data)} bytes uncompressed")


def check_torch_fixture():
    with gzip.open(TORCH_CHECKPOINT, "rb") as f:
        data = f.read()
    ref = load_file(TORCH_REFERENCE)
    with tempfile.TemporaryDirectory() as tmp:
        raw = os.path.join(tmp, "state_dict.safetensors")
        with open(raw, "wb") as f:
            f.write(data)
        model, tensors, added = strict_load(raw)
    worst = max(max_diff(y, ref[k]) for k, y in interchange_outputs(model).items())
    ok = added == 0 and worst <= 1e-6
    print(f"strict load OK: {tensors} tensors, {added} counters missing; outputs max abs diff "
          f"{worst:e} -> {'OK' if ok else 'MISMATCH'}")
    return 0 if ok else 1


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--check-rust-checkpoint", metavar="FILE")
    ap.add_argument("--record", action="store_true",
                    help="with --check-rust-checkpoint: (re)write the fixture instead of comparing")
    ap.add_argument("--interchange", action="store_true")
    ap.add_argument("--check-torch-fixture", action="store_true")
    ap.add_argument("--write-torch-checkpoint", metavar="FILE")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    if args.check_rust_checkpoint:
        sys.exit(check_rust_checkpoint(args.check_rust_checkpoint, args.record,
                                       args.out or RUST_REFERENCE))
    elif args.interchange:
        make_torch_interchange()
    elif args.check_torch_fixture:
        sys.exit(check_torch_fixture())
    elif args.write_torch_checkpoint:
        write_torch_checkpoint(args.write_torch_checkpoint)
    else:
        make_fixture(args.out or FIXTURE)
