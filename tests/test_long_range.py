"""SegmentEnformer and SegmentBorzoi (model/enformer.py, model/borzoi.py, model/jax_weights.py)
against the official JAX code's outputs (tests/data/jax, made by scripts/make_jax_references.py
from random parameters of small configurations with the published structure)."""

from __future__ import annotations

import json
import math
import os
import pickle
from pathlib import Path

import joblib
import numpy as np
import pytest
import torch
from click.testing import CliRunner

from genoseg.cli import main
from genoseg.errors import DataError
from genoseg.model import load_model
from genoseg.model import jax_weights
from genoseg.model.borzoi import BorzoiConfig, SegmentBorzoi
from genoseg.model.enformer import EnformerConfig, SegmentEnformer, one_hot
from genoseg.model.jax_weights import UnsafeCheckpointError, load_joblib_arrays
from tests.helpers import write_fasta

DATA = Path(__file__).parent / "data" / "jax"
TOLERANCE = 1e-4  # on probabilities, float32 (the bound; measured differences are ~1e-7)
OFFICIAL_CODES = {10: 0, 12: 1, 13: 2, 11: 3, 14: 4}  # official token ids → A C G T N codes
ENFORMER_FIELDS = ("embed_dim", "num_transformer_layers", "num_attention_heads", "attention_dim_key",
                   "num_downsamples", "dim_divisible_by", "features")
BORZOI_FIELDS = ENFORMER_FIELDS + ("int_embed_dim", "res_tower_embed_dim_init", "num_rel_pos_features",
                                   "num_unet_conv", "final_conv_block_embed_dim", "target_length")


def reference(trunk: str):
    """(config, haiku tensors, base codes, the official probabilities) of a trunk's fixture."""
    data = np.load(DATA / f"segment_{trunk}_small.npz")
    recorded = json.loads(str(data["config"]))
    if trunk == "enformer":
        config = EnformerConfig(**{k: recorded[k] for k in ENFORMER_FIELDS}, genoseg_window_nt=480)
    else:
        config = BorzoiConfig(**{k: recorded[k] for k in BORZOI_FIELDS}, genoseg_input_nt=data["tokens"].shape[1])
    arrays = {k: data[k] for k in data.files if k.startswith(("param:", "state:"))}
    bases = torch.from_numpy(np.vectorize(OFFICIAL_CODES.get)(data["tokens"]))
    return config, arrays, bases, data["probabilities"]


def converted(trunk: str, arrays: dict, config):
    rules, unused = jax_weights.enformer_rules() if trunk == "enformer" else jax_weights.borzoi_rules()
    model = (SegmentEnformer if trunk == "enformer" else SegmentBorzoi)(config).eval()
    missing, unexpected = model.load_state_dict(jax_weights.convert(arrays, rules, unused), strict=False)
    assert not unexpected and all(k.endswith("num_batches_tracked") for k in missing)
    return model


def probabilities(model, bases: torch.Tensor) -> np.ndarray:
    with torch.no_grad():
        logits = model.logits(bases).float()
    return torch.sigmoid(logits[..., 1] - logits[..., 0]).numpy()


def misses(trunk: str, model, bases: torch.Tensor, expected: np.ndarray) -> list[str]:
    """What differs from the official code beyond the tolerance: the probabilities, or the
    embedding the trunk hands the head (where a trunk's own mistakes show most; compared
    relative to its scale)."""
    official = np.load(DATA / f"segment_{trunk}_small.npz")["embedding"]
    with torch.no_grad():
        embedding = model.trunk(one_hot(bases)).numpy()
    out = []
    if np.abs(probabilities(model, bases) - expected).max() >= TOLERANCE:
        out.append("probabilities")
    if np.abs(embedding - official).max() >= TOLERANCE * max(1.0, float(np.abs(official).max())):
        out.append("embedding")
    return out


@pytest.mark.parametrize("trunk", ["enformer", "borzoi"])
def test_probabilities_equal_the_official_code(trunk):
    config, arrays, bases, expected = reference(trunk)
    model = converted(trunk, arrays, config)
    assert probabilities(model, bases).shape == expected.shape
    assert misses(trunk, model, bases, expected) == []
    assert expected.std() > 0.05  # random weights that give informative outputs, not a flat 0.5


@pytest.mark.parametrize("trunk,variant", [
    ("enformer", "kernel not flipped"), ("enformer", "positions off by one"), ("enformer", "exact gelu"),
    ("borzoi", "kernel not flipped"), ("borzoi", "positions off by one"),
])
def test_the_parity_test_can_fail(trunk, variant, monkeypatch):
    """Each mistake a port could make moves the probabilities well past the tolerance."""
    config, arrays, bases, expected = reference(trunk)
    if variant == "kernel not flipped":
        original = jax_weights.to_torch

        def unflipped(array, layout):
            tensor = original(array, layout)
            return tensor.flip(-1) if layout == "conv_transpose" else tensor

        monkeypatch.setattr(jax_weights, "to_torch", unflipped)
    model = converted(trunk, arrays, config)
    if variant == "positions off by one":
        for layer in model.trunk.transformer:
            shifted = layer.attention.positions
            layer.attention.positions = lambda n, f, shifted=shifted: shifted(n + 1, f)[:-2]  # distance d read as d - 1
    if variant == "exact gelu":
        from genoseg.model import enformer

        for module in model.modules():
            if isinstance(module, enformer.ConvBlock):
                module.activation = torch.nn.functional.gelu
    assert misses(trunk, model, bases, expected)


def write_published_layout(directory: Path, arrays: dict, config=None) -> Path:
    """jax_model/params.joblib and state.joblib as the published repositories hold them: haiku's
    {module: {name: array}} trees, dumped by joblib (plus genoseg's config.json for a small model)."""
    trees: dict[str, dict] = {"param": {}, "state": {}}
    for path, array in arrays.items():
        kind, rest = path.split(":", 1)
        module, name = rest.rsplit("/", 1)
        trees[kind].setdefault(module, {})[name] = array
    (directory / "jax_model").mkdir(parents=True)
    joblib.dump(trees["param"], directory / "jax_model" / "params.joblib")
    joblib.dump(trees["state"], directory / "jax_model" / "state.joblib")
    if config is not None:
        (directory / "config.json").write_text(config.to_json_string())
    return directory


@pytest.mark.parametrize("trunk", ["enformer", "borzoi"])
def test_a_checkpoint_in_the_published_layout_loads_and_predicts(trunk, tmp_path):
    config, arrays, bases, expected = reference(trunk)
    model = load_model(write_published_layout(tmp_path / "m", arrays, config))
    assert type(model) is (SegmentEnformer if trunk == "enformer" else SegmentBorzoi)
    np.testing.assert_allclose(probabilities(model, bases), expected, atol=TOLERANCE)
    with torch.no_grad():  # the pipeline's entry point: Borzoi's window is the input less its context
        np.testing.assert_allclose(model(bases).numpy(), expected, atol=TOLERANCE)


def test_a_config_of_the_wrong_types_is_one_clear_error(tmp_path):
    config, arrays, _, _ = reference("enformer")
    directory = write_published_layout(tmp_path / "m", arrays, config)
    data = json.loads((directory / "config.json").read_text())
    data["embed_dim"] = "wide"
    (directory / "config.json").write_text(json.dumps(data))
    with pytest.raises(DataError, match="not a usable segment_enformer config"):
        load_model(directory)


def test_a_checkpoint_that_does_not_fit_its_config_is_refused(tmp_path):
    config, arrays, _, _ = reference("enformer")
    config.num_transformer_layers = 3
    with pytest.raises(DataError, match="lacks .* tensors"):
        load_model(write_published_layout(tmp_path / "m", arrays, config))
    arrays = dict(arrays)
    arrays["param:Enformer/~_stem/conv1_d/w"] = arrays["param:Enformer/~_stem/conv1_d/w"][:, :, :4]
    config, _, _, _ = reference("enformer")
    with pytest.raises(DataError, match="shape"):
        load_model(write_published_layout(tmp_path / "n", arrays, config))


@pytest.mark.parametrize("params,needle", [
    (b"not a pickle at all", "not a readable joblib checkpoint"),
    ([1, 2, 3], "not a haiku parameter tree"),
    ({"Enformer/~_stem/conv1_d": {"w": np.array(["a", "b"])}}, "not a numeric array"),
])
def test_a_damaged_checkpoint_is_one_clear_error(params, needle, tmp_path):
    directory = tmp_path / "m" / "jax_model"
    directory.mkdir(parents=True)
    if isinstance(params, bytes):
        (directory / "params.joblib").write_bytes(params)
    else:
        joblib.dump(params, directory / "params.joblib")
    joblib.dump({}, directory / "state.joblib")
    fasta = write_fasta(tmp_path / "g.fa", {"c": "ACGT" * 200})
    result = CliRunner().invoke(main, ["annotate", str(fasta), "-m", str(tmp_path / "m"), "-o", str(tmp_path / "o")])
    assert result.exit_code == 1 and needle in result.output, result.output
    assert len(result.output.strip().splitlines()) == 1 and not (tmp_path / "o").exists()


class _Payload:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_a_pickle_that_would_run_code_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    bad = tmp_path / "m" / "jax_model"
    bad.mkdir(parents=True)
    joblib.dump({"Enformer/~_stem/conv1_d": {"w": _Payload(marker)}}, bad / "params.joblib")
    joblib.dump({}, bad / "state.joblib")
    with pytest.raises(UnsafeCheckpointError, match="refuses to load (posix|os).system"):
        load_joblib_arrays(bad / "params.joblib")
    fasta = write_fasta(tmp_path / "g.fa", {"c": "ACGT" * 200})
    result = CliRunner().invoke(main, ["annotate", str(fasta), "-m", str(tmp_path / "m"), "-o", str(tmp_path / "o")])
    assert result.exit_code == 1 and "refuses to load" in result.output and "Traceback" not in result.output
    assert not marker.exists()
    # The same file through the standard unpickler would have run it: the payload is real.
    with open(bad / "params.joblib", "rb") as handle:
        pickle.load(handle)
    assert marker.exists()


def test_published_sizes_on_the_meta_device(capsys):
    """Parameter counts of the published configurations; the official checkpoints also hold the
    trunks' human (and mouse) heads and Enformer's final pointwise block, which segmentation
    does not use: with them the totals are the published ones."""
    with torch.device("meta"):
        enformer, borzoi = SegmentEnformer(EnformerConfig()), SegmentBorzoi(BorzoiConfig())

    def count(module) -> int:
        return sum(p.numel() for p in module.parameters())

    # Enformer's final pointwise block: batch norm (1536) and a 1536 → 3072 convolution; heads on 3072.
    final_pointwise = 2 * 1536 + 1536 * 3072 + 3072
    enformer_heads = 3072 * 5313 + 5313 + 3072 * 1643 + 1643
    borzoi_head = 1920 * 7611 + 7611
    sizes = {"SegmentEnformer trunk": count(enformer.trunk), "SegmentEnformer head": count(enformer.head),
             "SegmentBorzoi trunk": count(borzoi.trunk), "SegmentBorzoi head": count(borzoi.head)}
    print("\n".join(f"{name}: {value:,}" for name, value in sizes.items()))
    assert count(enformer) + final_pointwise + enformer_heads == 405_387_052
    assert count(borzoi) + borzoi_head == 337_693_403
    assert round((count(enformer.trunk) + final_pointwise) / 1e6, 1) == 229.8
    assert round(count(enformer.head) / 1e6, 1) == 154.2
    assert round(count(borzoi.trunk) / 1e6, 1) == 171.3 and round(count(borzoi.head) / 1e6, 1) == 151.8
    assert math.isclose(enformer_heads / 1e6, 21.4, abs_tol=0.05) and math.isclose(borzoi_head / 1e6, 14.6, abs_tol=0.05)


def annotate_with(model_dir: Path, fasta: Path, out: Path, *extra: str):
    result = CliRunner().invoke(main, ["annotate", str(fasta), "-m", str(model_dir), "-o", str(out), "-q",
                                       "--bigwig-precision", "0", *extra])
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def genome(tmp_path_factory):
    rng = np.random.default_rng(5)
    long = "".join(rng.choice(list("ACGT"), 3000))
    long = long[:1400] + "N" * 150 + long[1550:]
    return write_fasta(tmp_path_factory.mktemp("g") / "genome.fa", {"chr1": long, "short": "".join(rng.choice(list("ACGT"), 300))})


def direct(model, bases: str) -> np.ndarray:
    """The model's probabilities for one input (for Borzoi, of the window inside its context)."""
    codes = torch.tensor([[{"A": 0, "C": 1, "G": 2, "T": 3}.get(b, 4) for b in bases]])
    with torch.no_grad():
        return model(codes).numpy()[0]


@pytest.mark.parametrize("trunk", ["enformer", "borzoi"])
def test_annotate_runs_the_long_range_models(trunk, genome, tmp_path):
    """A genome annotated end to end; the first window's bases that no other window covers hold
    exactly the model's output for that window (Borzoi: read with its context, N beyond the
    record's start), and N runs get no values."""
    from tests.helpers import bigwig_values

    config, arrays, _, _ = reference(trunk)
    model_dir = write_published_layout(tmp_path / "m", arrays, config)
    model = load_model(model_dir)
    out = annotate_with(model_dir, genome, tmp_path / "out")
    sequence = "".join(open(genome).read().split(">chr1\n")[1].split(">")[0].split())
    exon = bigwig_values(out / "genome.genoseg.exon.bw", "chr1", 3000)
    assert np.isnan(exon[1400:1550]).all() and not np.isnan(exon[:1400]).any()
    window, overlap = config.genoseg_window_nt, config.default_overlap_nt
    alone = window - overlap  # the first window's bases that the second does not cover
    context = model.context_nt
    expected = direct(model, "N" * context + sequence[: window + context])[:, config.features.index("exon")]
    np.testing.assert_allclose(exon[:alone], expected[:alone], atol=1e-5)
    short = bigwig_values(out / "genome.genoseg.exon.bw", "short", 300)
    assert not np.isnan(short).any() and 0 < short.min() and short.max() < 1
    summary = json.loads((out / "run.json").read_text())
    assert summary["model_features"] == config.features and summary["window"] == window
    if trunk == "borzoi":  # a window beyond the predicted span is refused before anything runs
        result = CliRunner().invoke(main, ["annotate", str(genome), "-m", str(model_dir), "-o", str(tmp_path / "w"),
                                           "--window", str(window + 24)])
        assert result.exit_code == 2 and "predicts at most 384 bases" in result.output


@pytest.mark.parametrize("trunk", ["enformer", "borzoi"])
def test_the_alias_finds_the_published_layout_in_the_hub_cache(trunk, tmp_path, monkeypatch):
    """`-m segment_enformer` / `segment_borzoi`: the Hugging Face cache, offline; when absent, the
    download hint."""
    from genoseg.model.segment_nt import ModelLoadError

    import huggingface_hub.constants as hub

    cache = tmp_path / "hub"
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(hub, "HF_HUB_CACHE", str(cache))
    with pytest.raises(ModelLoadError, match=f"huggingface-cli download InstaDeepAI/segment_{trunk}"):
        load_model(f"segment_{trunk}")
    repo = cache / f"models--InstaDeepAI--segment_{trunk}"
    config, arrays, bases, expected = reference(trunk)
    write_published_layout(repo / "snapshots" / ("b" * 40), arrays, config)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("b" * 40)
    model = load_model(f"segment_{trunk}")
    np.testing.assert_allclose(probabilities(model, bases), expected, atol=TOLERANCE)


@pytest.mark.parametrize("trunk", ["enformer", "borzoi"])
def test_bf16_autocast_runs_and_stays_near_float32(trunk):
    """The pipeline runs these models under bf16 autocast on CUDA; CPU autocast exercises the same
    dtype paths (positions, one-hot, batch norm): measured differences are about 1e-3."""
    config, arrays, bases, expected = reference(trunk)
    model = converted(trunk, arrays, config)
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        got = model(bases).float().numpy()
    assert np.abs(got - expected).max() < 0.01
