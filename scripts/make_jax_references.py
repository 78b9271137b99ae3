"""Reference outputs of the official SegmentEnformer / SegmentBorzoi JAX code, for parity tests.

Not run in CI, and not a genoseg dependency: run it in a side environment with the official code
checked out (instadeepai/nucleotide-transformer, CC BY-NC-SA: read and run, not copied here):

    python -m venv jaxenv && jaxenv/bin/pip install "jax[cpu]" dm-haiku jmp einops numpy
    jaxenv/bin/python scripts/make_jax_references.py --source PATH/TO/nucleotide-transformer \\
        --out tests/data/jax

For each trunk it builds the official forward (trunk + the SegmentNT U-Net head, as the official
`get_pretrained_segment_*_model` wires them) at a small configuration with the published
structure, initialises random parameters, randomises everything that initialises to a constant
(biases, batch-norm scales, offsets and moving statistics, so that a wrongly mapped tensor
shows), runs a batch of random sequences with N bases, and saves one .npz per trunk:

- `param:MODULE/NAME`, `state:MODULE/NAME`: every haiku parameter and state tensor, float32,
  under its haiku path (the published joblib files use the same paths);
- `tokens` (B, L) in the official token ids (A 10, T 11, C 12, G 13, N 14);
- `probabilities` (B, L', F): softmax over the two logits of each class, class 1 (the official
  forward in float32; its policy fixes the one-hot input to float32, so no float64 run);
- `embedding` (B, positions, C): what the trunk hands the head (Enformer: the transformer's
  output; Borzoi: the cropped final convolution block's), where a trunk's mistakes are largest;
- `config`: the configuration as JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

FEATURES = ["protein_coding_gene", "exon", "splice_donor"]

ENFORMER = dict(embed_dim=48, num_transformer_layers=2, num_attention_heads=2, num_human_output_heads=5,
                num_mouse_output_heads=3, target_length=-1, attention_dim_key=8, num_downsamples=3,
                dim_divisible_by=8)
BORZOI = dict(int_embed_dim=16, res_tower_embed_dim_init=24, embed_dim=32, num_transformer_layers=2,
              num_attention_heads=2, num_human_output_heads=5, num_mouse_output_heads=3, target_length=48,
              attention_dim_key=8, num_rel_pos_features=8, num_downsamples=5, dim_divisible_by=8,
              num_unet_conv=2, final_conv_block_embed_dim=40)
# Borzoi's separable convolution ends in 1536 channels whatever embed_dim is (as published); the
# small configuration keeps that, so the 1536-wide tensors after each U-Net block are exercised.


def randomise(tree, rng: np.random.Generator, positive: bool = False):
    """Every leaf replaced by random values of its shape (moving variances and scales positive)."""
    import jax.numpy as jnp

    out = {}
    for module, leaves in tree.items():
        out[module] = {}
        for name, value in leaves.items():
            shape = np.shape(value)
            if positive or name in ("scale", "counter") or module.endswith("var_ema"):
                data = rng.uniform(0.5, 1.5, shape)
            else:
                data = rng.normal(0, 0.5 if name in ("offset", "b", "mean", "average") else 0.3, shape)
                if name == "w" and len(shape) >= 2:
                    data = data / np.sqrt(np.prod(shape[:-1]) / 4)
                # Sharp attention with strong relative-position terms, so that a position
                # feature read one distance off moves the outputs well past the tolerance.
                if module.endswith(("attn_to_rel_k", "attn_q", "attn_k")):
                    data = data * 4
            out[module][name] = jnp.asarray(data, dtype=np.asarray(value).dtype)
    return out


def build(trunk: str, source: Path):
    sys.path.insert(0, str(source))
    import haiku as hk
    import jax.numpy as jnp

    from nucleotide_transformer.enformer.heads import UNetHead

    if trunk == "enformer":
        from nucleotide_transformer.enformer.model import EnformerConfig, build_enformer_with_head_fn

        config = EnformerConfig(**ENFORMER)
        embedding = "embedding_transformer_tower"
        builder = build_enformer_with_head_fn
        name = "Enformer"
    else:
        from nucleotide_transformer.borzoi.model import BorzoiConfig, build_borzoi_fn_with_head_fn

        config = BorzoiConfig(**BORZOI)
        embedding = "embedding"
        builder = build_borzoi_fn_with_head_fn
        name = "Borzoi"

    def head_fn():
        return UNetHead(features=FEATURES, embed_dimension=config.embed_dim, nucl_per_token=config.dim_divisible_by,
                        remove_cls_token=False)

    forward = builder(config=config, head_fn=head_fn, embedding_name=embedding, name=name,
                      compute_dtype=jnp.float32)
    return hk.transform_with_state(forward), config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", type=Path, required=True, help="checkout of instadeepai/nucleotide-transformer")
    parser.add_argument("--out", type=Path, default=Path("tests/data/jax"))
    parser.add_argument("--trunks", nargs="+", default=["enformer", "borzoi"])
    args = parser.parse_args()
    import dataclasses

    import jax

    args.out.mkdir(parents=True, exist_ok=True)
    for trunk in args.trunks:
        rng = np.random.default_rng(7)
        model, config = build(trunk, args.source)
        length = 256 if trunk == "enformer" else 1024
        tokens = rng.choice([10, 11, 12, 13], size=(2, length))
        tokens[0, 40:57] = 14  # a run of N inside a window
        tokens[1, -5:] = 14
        params, state = model.init(jax.random.PRNGKey(0), tokens, is_training=True)  # creates the moving averages
        params, state = randomise(params, rng), randomise(state, rng)

        outs, _ = model.apply(params, state, jax.random.PRNGKey(1), tokens)
        logits = np.asarray(outs["logits"], dtype=np.float64)
        probs32 = np.exp(logits[..., 1] - np.logaddexp(logits[..., 0], logits[..., 1]))
        embedding = np.asarray(outs["embedding_transformer_tower" if trunk == "enformer" else "embedding"], np.float32)
        arrays = {f"param:{m}/{n}": np.asarray(v, np.float32) for m, leaves in params.items() for n, v in leaves.items()}
        arrays |= {f"state:{m}/{n}": np.asarray(v, np.float32) for m, leaves in state.items() for n, v in leaves.items()}
        record = dataclasses.asdict(config) | {"features": FEATURES}
        np.savez_compressed(args.out / f"segment_{trunk}_small.npz", tokens=tokens.astype(np.int32),
                            probabilities=probs32.astype(np.float32), embedding=embedding,
                            config=np.array(json.dumps(record)), **arrays)
        print(f"{trunk}: {len(arrays)} tensors, probabilities {probs32.shape}")


if __name__ == "__main__":
    main()
