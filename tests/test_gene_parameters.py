"""genes/parameters.py: gene_model.json, written and read back, and checked field by field on load."""

import json
import math

import numpy as np
import pytest

from genoseg.genes.locus import FEATURES, LocusModel, fit_logistic
from genoseg.genes.parameters import BUNDLED_FILE, FITTED_FIELDS, GeneParameters, check_fields
from genoseg.genes.site_models import Pwm


def test_parameters_round_trip(tmp_path):
    params = GeneParameters(min_intron=70)
    params.save(tmp_path / "p.json")
    assert GeneParameters.load(tmp_path / "p.json") == params
    loaded = GeneParameters.load(BUNDLED_FILE)
    assert loaded.donor is not None and len(loaded.hexamer) == 4096


def test_the_bundled_gene_parameters_pass_their_own_checks():
    params = GeneParameters.load(BUNDLED_FILE)
    assert params.site_classifier is not None and params.min_exon >= 1


def test_a_saved_site_model_and_chain_score_as_before(tmp_path):
    rng = np.random.default_rng(3)
    params = GeneParameters(donor=Pwm(-3, rng.normal(size=(12, 4, 4)).round(3).tolist(), order=1),
                            intron_markov=rng.normal(size=4096).round(3).tolist(), weight_intron=2.0)
    params.save(tmp_path / "gene_model.json")
    loaded = GeneParameters.load(tmp_path / "gene_model.json")
    codes = rng.integers(0, 4, 500)
    positions = np.arange(10, 490, 7)
    assert np.array_equal(loaded.donor.score(codes, positions), params.donor.score(codes, positions))
    assert np.array_equal(loaded.intron_per_base(codes), params.intron_per_base(codes))
    assert loaded.intron_per_base(codes)[:5].tolist() == [0.0] * 5  # no full 6-mer yet


@pytest.mark.parametrize("changes,needle", [
    ({"weight_coding": math.nan}, "weight_coding"),
    ({"min_exon": 0}, "min_exon"),
    ({"hexamer": [0.0] * 10}, "hexamer"),
    ({"intron_markov": [math.inf] * 4096}, "intron_markov"),
    ({"frobnicate": 1}, "frobnicate"),
    ({"typical_intron_rate": -0.001}, "typical_intron_rate"),
    ({"start_first_log_odds": [0.5, 1.0, 2.0]}, "start_first_log_odds"),
    ({"typical_gene_gap": "wide"}, "typical_gene_gap"),
    ({"locus_model": {"features": ["score"], "mean": [0], "scale": [1], "weights": [1], "bias": 0, "threshold": 0.5}},
     "locus_model"),
    ({"locus_model": {"features": list(FEATURES), "mean": [0] * len(FEATURES), "scale": [1] * len(FEATURES),
                      "weights": [math.nan] * len(FEATURES), "bias": 0, "threshold": 0.5}}, "locus_model"),
])
def test_check_fields_names_the_first_bad_field(changes, needle):
    data = json.loads(BUNDLED_FILE.read_text())
    check_fields(data)
    data.update(changes)
    with pytest.raises(ValueError, match=needle):
        check_fields(data)


def test_every_fitted_field_is_a_parameter():
    assert set(FITTED_FIELDS) <= set(GeneParameters.__dataclass_fields__)


def test_coding_per_base_reads_each_frame_class():
    """coding_markov[p] scores the last base of a 6-mer at codon position p. Frame class r
    (codons start at positions ≡ r mod 3) puts base i at codon position (i - r) mod 3, so one
    6-mer ending at base 7 scores table[(7 - r) % 3] in row r, and nothing elsewhere."""
    index = int("".join(str("ACGT".index(b)) for b in "ATGATG"), 4)
    table = np.zeros((3, 4096))
    table[:, index] = [10.0, 20.0, 30.0]
    params = GeneParameters(coding_markov=table.tolist())
    codes = np.array(["ACGT".index(b) for b in "CCATGATGCC"])
    rows = params.coding_per_base(codes)
    assert [row[7] for row in rows] == [20.0, 10.0, 30.0]
    assert all(np.count_nonzero(row) == 1 for row in rows) and len(rows[0]) == len(codes)


def test_the_bundled_locus_score_round_trips_and_scores_as_before(tmp_path):
    params = GeneParameters.load(BUNDLED_FILE)
    assert params.locus_model is not None and 0 < params.locus_model.threshold < 1
    params.save(tmp_path / "gene_model.json")
    again = GeneParameters.load(tmp_path / "gene_model.json").locus_model
    features = np.linspace(0.1, 1.0, len(FEATURES))
    assert again.probability(features) == params.locus_model.probability(features)


def test_fit_logistic_separates_what_can_be_separated():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 3))
    y = (x[:, 0] - 2 * x[:, 2] > 0).astype(float)
    mean, scale, weights, bias = fit_logistic(x, y, l2=0.1)
    model = LocusModel(mean.tolist(), scale.tolist(), weights.tolist(), bias, 0.5, features=("a", "b", "c"))
    predicted = np.array([model.probability(row) for row in x]) >= 0.5
    assert (predicted == (y == 1)).mean() > 0.97
    assert weights[0] > 0 > weights[2] and abs(weights[1]) < abs(weights[0]) / 3
