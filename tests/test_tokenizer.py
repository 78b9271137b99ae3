import numpy as np
import pytest

from genoseg.model.tokenizer import CLS_ID, Tokenizer, TokenizationError, default_vocabulary, kmer_id


def test_hand_computed_ids():
    # AAAAAA is the first 6-mer; TTTTTT = 6 + 1*(4^5+...+1) = 6 + 1365; GGGGGG is the last.
    assert kmer_id("AAAAAA") == 6
    assert kmer_id("TTTTTT") == 6 + 1365
    assert kmer_id("GGGGGG") == 4101
    # ATCGAT: digits 0 1 2 3 0 1 → 0*1024 + 1*256 + 2*64 + 3*16 + 0*4 + 1 = 433
    assert kmer_id("ATCGAT") == 6 + 433


def test_vocabulary_order_matches_published_layout():
    vocab = default_vocabulary()
    assert len(vocab) == 4107
    assert vocab[:6] == ["<unk>", "<pad>", "<mask>", "<cls>", "<eos>", "<bos>"]
    assert vocab[6] == "AAAAAA" and vocab[7] == "AAAAAT" and vocab[4101] == "GGGGGG"
    assert vocab[4102:] == ["A", "T", "C", "G", "N"]


def test_batch_matches_formula():
    rng = np.random.default_rng(0)
    seqs = ["".join(rng.choice(list("ACGT"), 48)) for _ in range(5)]
    ids = Tokenizer().encode_batch(np.frombuffer("".join(seqs).encode(), dtype=np.uint8).reshape(5, 48))
    assert ids.shape == (5, 9)
    for row, seq in zip(ids, seqs):
        assert row[0] == CLS_ID
        assert list(row[1:]) == [kmer_id(seq[i : i + 6]) for i in range(0, 48, 6)]


@pytest.mark.parametrize("bad", ["ACGTNA" * 4, "acgtac" * 4, "ACGTAC" * 3, "ACGTACGTACGTACGTACGTACGTA", ""])
def test_rejects_invalid_windows(bad):
    with pytest.raises(TokenizationError):
        Tokenizer().encode(bad)


def test_vocab_file_is_authority(tmp_path):
    vocab = default_vocabulary()
    kmers = vocab[6:4102]
    # Swap two k-mers: the file's ids must win over the formula.
    i, j = kmers.index("AAAAAA"), kmers.index("GGGGGG")
    kmers[i], kmers[j] = kmers[j], kmers[i]
    (tmp_path / "vocab.txt").write_text("\n".join(vocab[:6] + kmers + vocab[4102:]) + "\n")
    tok = Tokenizer.from_vocab_file(tmp_path / "vocab.txt")
    assert list(tok.encode("AAAAAA" * 4)) == [3, 4101, 4101, 4101, 4101]
