"""Model forward throughput against a naive baseline in the same run, with FLOP-based MFU.

    python benchmarks/forward.py --config tiny --window 3072 --batch-size 8            # CPU
    python benchmarks/forward.py --config segment_nt --window 30000 --batch-size 4 \\
        --device cuda --peak-tflops 989                                            # H100 bf16 dense
    python benchmarks/forward.py --config segment_enformer --window 196608 --batch-size 1 --iters 1
    python benchmarks/forward.py --config segment_borzoi --window 196608 --batch-size 1 --iters 1

Random weights (speed does not depend on them). The baseline is what a straightforward port
computes: eager fp32 with the attention matrix materialised (softmax(QKᵀ/√d)·V). genoseg's path
is the production one: `scaled_dot_product_attention` (fused kernels), bf16 autocast on CUDA,
inference mode, optionally `torch.compile`. Prints windows/s, bp/s, achieved TFLOP/s, MFU,
peak GPU memory, the speed-up and the largest probability difference between the two.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import resource
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from genoseg.model import SegmentNT, SegmentNTConfig, backbone, load_model
from genoseg.model.borzoi import BorzoiConfig, SegmentBorzoi
from genoseg.model.enformer import EnformerConfig, SegmentEnformer, SegmentLongRange
from genoseg.train import MODEL_SIZES


def build(config_name: str) -> SegmentNT:
    if config_name == "segment_nt":
        return SegmentNT(SegmentNTConfig())
    if config_name == "segment_enformer":
        return SegmentEnformer(EnformerConfig())
    if config_name == "segment_borzoi":
        return SegmentBorzoi(BorzoiConfig())
    if config_name in MODEL_SIZES:
        return SegmentNT(SegmentNTConfig(**MODEL_SIZES[config_name], features=["exon", "intron", "splice_donor",
                                                                              "splice_acceptor", "5UTR", "3UTR",
                                                                              "protein_coding_gene", "lncRNA"]))
    return load_model(config_name)  # a model directory


def explicit_attention(q, k, v, *args, **kwargs):
    scores = (q.float() @ k.float().transpose(-2, -1)) / math.sqrt(q.shape[-1])
    return (scores.softmax(-1) @ v.float()).to(q.dtype)


@contextlib.contextmanager
def naive_attention():
    original = backbone.F.scaled_dot_product_attention
    backbone.F.scaled_dot_product_attention = explicit_attention
    try:
        yield
    finally:
        backbone.F.scaled_dot_product_attention = original


def flops_per_window(model: SegmentNT, tokens: int) -> float:
    if isinstance(model, SegmentLongRange):  # one-hot input: count the trunk and head on zeros
        with torch.device("meta"):
            meta = type(model)(model.config)
        counter = FlopCounterMode(display=False)
        with counter, torch.no_grad():
            meta.head(meta.trunk(torch.zeros(1, 4, tokens, device="meta")))
        return float(counter.get_total_flops())
    with torch.device("meta"):
        meta = SegmentNT(model.config)
    ids = torch.zeros(1, tokens, dtype=torch.long, device="meta")
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        meta(ids)
    return float(counter.get_total_flops())


def timed(fn, ids, iters: int, device: torch.device) -> tuple[float, torch.Tensor]:
    out = fn(ids)  # warm-up (and compilation)
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(iters):
        out = fn(ids)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / iters, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="tiny",
                        help="tiny, small, base, segment_nt, segment_enformer, segment_borzoi or a model directory")
    parser.add_argument("--window", type=int, default=3072)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--iters", type=int, default=5)
    parser.add_argument("--peak-tflops", type=float, default=None, help="device peak for MFU (H100 SXM bf16: 989)")
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--skip-baseline", action="store_true")
    args = parser.parse_args()

    device = torch.device(args.device)
    torch.manual_seed(0)
    model = build(args.config).eval().to(device)
    if isinstance(model, SegmentLongRange):  # one code per base; Borzoi reads its context too
        tokens = args.window + 2 * model.context_nt if model.context_nt else -(-args.window // model.config.window_multiple) * model.config.window_multiple
        ids = torch.randint(0, 4, (args.batch_size, tokens), device=device)
        args.skip_baseline = True  # no fused attention to compare against: the forward is the same
    else:
        tokens = 1 + args.window // 6
        ids = torch.randint(4, 4 + 4096, (args.batch_size, tokens), device=device)
    flops = flops_per_window(model, tokens) * args.batch_size
    params = sum(p.numel() for p in model.parameters())
    print(f"config {args.config}: {params / 1e6:.1f} M parameters; window {args.window} nt; batch {args.batch_size}; "
          f"{flops / args.batch_size / 1e12:.3f} TFLOP per window; device {device}"
          + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else f" ({torch.get_num_threads()} threads)"))

    def report(name: str, seconds: float) -> None:
        tflops = flops / seconds / 1e12
        line = (f"{name:>9}: {args.batch_size / seconds:8.2f} windows/s  {args.batch_size * args.window / seconds:12,.0f} bp/s"
                f"  {tflops:8.3f} TFLOP/s")
        if args.peak_tflops:
            line += f"  MFU {100 * tflops / args.peak_tflops:5.1f}%"
        if device.type == "cuda":
            line += f"  peak GPU memory {torch.cuda.max_memory_allocated(device) / 2**30:.1f} GiB"
            torch.cuda.reset_peak_memory_stats(device)
        else:
            line += f"  peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.1f} GiB"
        print(line)

    results = {}
    if not args.skip_baseline:
        with naive_attention(), torch.no_grad():
            seconds, results["baseline"] = timed(model, ids, args.iters, device)
        report("baseline", seconds)
        base_seconds = seconds

    fast = torch.compile(model) if args.compile else model

    @torch.inference_mode()
    def production(x):
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            return fast(x)

    seconds, results["genoseg"] = timed(production, ids, args.iters, device)
    report("genoseg", seconds)
    if not args.skip_baseline:
        diff = (results["genoseg"].float() - results["baseline"].float()).abs().max().item()
        print(f"speed-up {base_seconds / seconds:.2f}x; max |Δ probability| vs fp32 baseline {diff:.4f}")


if __name__ == "__main__":
    main()
