import math

import pytest
import torch
from safetensors.torch import load_file, save_file

from genoseg.model import SegmentNT, SegmentNTConfig, load_model
from genoseg.model.backbone import apply_rotary, rotary_base, rotary_cos_sin, rotary_scale
from genoseg.model.segment_nt import ModelLoadError
from tests.helpers import tiny_config

HF_KEYS_LAYER = [
    "attention.LayerNorm.weight", "attention.LayerNorm.bias",
    "attention.self.query.weight", "attention.self.query.bias",
    "attention.self.key.weight", "attention.self.key.bias",
    "attention.self.value.weight", "attention.self.value.bias",
    "attention.output.dense.weight", "attention.output.dense.bias",
    "LayerNorm.weight", "LayerNorm.bias",
    "intermediate.dense.weight", "output.dense.weight",
]


def test_rotary_base_for_segment_nt_scale():
    assert rotary_base(2.44140625, 64) == pytest.approx(25_127, abs=1)


def test_rotary_scale_follows_training_length():
    assert rotary_scale(5001, 2.44140625) == 2.44140625
    assert rotary_scale(101, 2.44140625) == 2.44140625
    assert rotary_scale(6669, 2.44140625) == pytest.approx(6669 / 2048)


def test_rotary_layout_is_rotate_half():
    cos, sin = rotary_cos_sin(7, 8, 2.44140625, torch.device("cpu"))
    assert cos.shape == (7, 8) and cos.dtype == torch.float32
    # cat(freqs, freqs): the two halves are identical, position 0 is the identity.
    assert torch.equal(cos[:, :4], cos[:, 4:]) and torch.equal(sin[:, :4], sin[:, 4:])
    assert torch.allclose(cos[0], torch.ones(8)) and torch.allclose(sin[0], torch.zeros(8))
    inv_freq0 = 1.0  # exponent 0
    assert sin[3, 0].item() == pytest.approx(math.sin(3 * inv_freq0), abs=1e-6)
    base = rotary_base(2.44140625, 8)
    assert sin[3, 1].item() == pytest.approx(math.sin(3 / base ** (2 / 8)), abs=1e-6)
    x = torch.zeros(1, 1, 7, 8)
    x[..., 0] = 1.0  # rotates into component 4 (rotate-half pairs i with i + d/2)
    y = apply_rotary(x, cos, sin)
    assert torch.allclose(y[0, 0, :, 4], sin[:, 0], atol=1e-6)


def test_fused_attention_equals_explicit_softmax():
    torch.manual_seed(0)
    model = SegmentNT(tiny_config()).eval()
    attn = model.esm.encoder.layer[0].attention
    x = torch.randn(2, 41, 32)
    cos, sin = rotary_cos_sin(41, 8, model.config.rescaling_factor, x.device)
    with torch.no_grad():
        fused = attn(x, cos, sin)
        h = attn.LayerNorm(x)
        sa = attn.self
        split = lambda t: t.view(2, 41, 4, 8).transpose(1, 2)
        q = apply_rotary(split(sa.query(h)), cos, sin)
        k = apply_rotary(split(sa.key(h)), cos, sin)
        v = split(sa.value(h))
        scores = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(8), dim=-1)
        explicit = attn.output.dense((scores @ v).transpose(1, 2).reshape(2, 41, 32))
    assert (fused - explicit).abs().max().item() <= 1e-5


def test_unet_shapes_and_skip_additions():
    torch.manual_seed(0)
    model = SegmentNT(tiny_config()).eval()
    unet = model.unet
    assert [tuple(b.conv_layers[0].weight.shape) for b in unet._downsample_blocks] == [(32, 32, 3), (64, 32, 3)]
    # ConvTranspose1d weights are [in, out, 3], as stored in the HF checkpoint.
    assert [tuple(b.conv_layers[0].weight.shape) for b in unet._upsample_blocks] == [(64, 64, 3), (64, 32, 3)]
    x = torch.randn(3, 40, 32)
    seen = {}

    def keep(name, pick=lambda o: o):
        def hook(module, inputs, output):
            seen[name] = pick(output)  # returning None keeps the module's output unchanged

        return hook

    hooks = [
        unet._downsample_blocks[0].register_forward_hook(keep("h0", lambda o: o[1])),
        unet._upsample_blocks[1].conv_layers[1].register_forward_hook(keep("up1")),
        unet._upsample_blocks[1].register_forward_hook(keep("out1")),
    ]
    with torch.no_grad():
        out = unet(x)
    for h in hooks:
        h.remove()
    assert out.shape == (3, 40, 32)
    expected = torch.nn.functional.silu(seen["up1"]).repeat_interleave(2, dim=-1) + seen["h0"]
    assert torch.allclose(seen["out1"], expected, atol=1e-6)


def test_output_shape_and_range():
    model = SegmentNT(tiny_config()).eval()
    ids = torch.randint(6, 4102, (2, 1 + 80))
    ids[:, 0] = 3
    with torch.no_grad():
        probs = model(ids)
    assert probs.shape == (2, 480, 8)
    assert probs.min() >= 0 and probs.max() <= 1
    with pytest.raises(ValueError):
        model(ids[:, :-1])  # 79 tokens: not divisible by 4


def _hf_keys(layers: int) -> set[str]:
    keys = {"esm.embeddings.word_embeddings.weight", "esm.encoder.emb_layer_norm_after.weight",
            "esm.encoder.emb_layer_norm_after.bias", "fc.weight", "fc.bias"}
    for i in range(layers):
        keys |= {f"esm.encoder.layer.{i}.{k}" for k in HF_KEYS_LAYER}
    for block in ("_downsample_blocks.0", "_downsample_blocks.1", "_upsample_blocks.0", "_upsample_blocks.1", "final_block"):
        for conv in (0, 1):
            keys |= {f"unet.{block}.conv_layers.{conv}.weight", f"unet.{block}.conv_layers.{conv}.bias"}
    return keys


def test_state_dict_uses_hf_key_names():
    model = SegmentNT(tiny_config())
    assert set(model.state_dict()) == _hf_keys(2)


def test_save_load_round_trip_identical(tmp_path):
    torch.manual_seed(3)
    model = SegmentNT(tiny_config()).eval()
    model.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").is_file() and (tmp_path / "config.json").is_file()
    loaded = load_model(tmp_path)
    assert loaded.features == model.features
    ids = torch.randint(6, 4102, (2, 41))
    ids[:, 0] = 3
    with torch.no_grad():
        assert torch.equal(model(ids), loaded(ids))


def test_hf_checkpoint_with_unused_keys_loads_strictly(tmp_path):
    """A checkpoint as published: pickled .bin with position embeddings and contact head."""
    torch.manual_seed(4)
    model = SegmentNT(tiny_config()).eval()
    state = dict(model.state_dict())
    state["esm.embeddings.position_embeddings.weight"] = torch.zeros(1026, 32)
    state["esm.contact_head.regression.weight"] = torch.zeros(1, 8)
    state["esm.encoder.layer.0.attention.self.rotary_embeddings.inv_freq"] = torch.zeros(4)
    torch.save(state, tmp_path / "pytorch_model.bin")
    model.config.save_pretrained(tmp_path)
    loaded = load_model(tmp_path)
    ids = torch.randint(6, 4102, (1, 41))
    ids[:, 0] = 3
    with torch.no_grad():
        assert torch.equal(model(ids), loaded(ids))


@pytest.mark.parametrize("change", ["rename", "drop"])
def test_wrong_checkpoint_fails_naming_keys(tmp_path, change):
    SegmentNT(tiny_config()).save_pretrained(tmp_path)
    state = load_file(tmp_path / "model.safetensors")
    tensor = state.pop("unet.final_block.conv_layers.1.weight")
    if change == "rename":
        state["unet.final_block.conv_layers.9.weight"] = tensor
    save_file(state, tmp_path / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(ModelLoadError) as err:
        load_model(tmp_path)
    assert "unet.final_block.conv_layers.1.weight" in str(err.value)
    if change == "rename":
        assert "unet.final_block.conv_layers.9.weight" in str(err.value)


def test_missing_model_gives_download_hint(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    with pytest.raises(ModelLoadError) as err:
        load_model("segment_nt")
    assert "huggingface-cli download InstaDeepAI/segment_nt" in str(err.value)
    with pytest.raises(ModelLoadError, match="no such model directory"):
        load_model(str(tmp_path / "nowhere"))


def test_hub_alias_resolves_through_local_cache(tmp_path, monkeypatch):
    """A checkpoint in the HF cache layout is found by its alias with no network."""
    cache = tmp_path / "hub"
    snapshot = cache / "models--InstaDeepAI--segment_nt" / "snapshots" / ("a" * 40)
    SegmentNT(tiny_config()).save_pretrained(snapshot)
    (cache / "models--InstaDeepAI--segment_nt" / "refs").mkdir()
    (cache / "models--InstaDeepAI--segment_nt" / "refs" / "main").write_text("a" * 40)
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    import huggingface_hub.constants as hc
    monkeypatch.setattr(hc, "HF_HUB_CACHE", str(cache))
    model = load_model("segment_nt")
    assert model.config.hidden_size == 32


def test_real_segment_nt_size_on_meta_device():
    with torch.device("meta"):
        model = SegmentNT(SegmentNTConfig())
    params = sum(p.numel() for p in model.parameters())
    assert abs(params - 557e6) <= 1e6
    assert model.fc.weight.shape == (168, 1024)
    assert model.esm.encoder.layer[0].intermediate.dense.weight.shape == (8192, 1024)
    assert len(model.esm.encoder.layer) == 29


def test_invalid_config_rejected_before_allocation(tmp_path):
    tiny_config().save_pretrained(tmp_path)
    SegmentNT(tiny_config()).save_pretrained(tmp_path)
    import json
    cfg = json.loads((tmp_path / "config.json").read_text())
    cfg["hidden_size"] = 10**9
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ModelLoadError, match="hidden_size|implausibly"):
        load_model(tmp_path)


@pytest.mark.parametrize("rescaling_factor", [2.44140625, None])
def test_padded_rows_equal_unpadded_rows(rescaling_factor):
    """Short windows run padded in batches; padding must not change their real positions."""
    torch.manual_seed(5)
    # With rescaling_factor None the rotary scale grows past 2,048 tokens, so rows of different
    # real lengths need different rotary tables within one batch.
    model = SegmentNT(tiny_config(rescaling_factor=rescaling_factor)).eval()
    with torch.no_grad():
        model.fc.weight.mul_(40.0)
    tokens = 2_400 if rescaling_factor is None else 80
    real = [tokens, tokens // 2, 4]
    ids = torch.randint(6, 4102, (3, tokens + 1))
    ids[:, 0] = 3
    lengths = torch.tensor([1 + n for n in real])
    with torch.no_grad():
        padded = model(ids, lengths)
        scrambled = ids.clone()
        scrambled[1, 1 + real[1]:] = 7  # other padding content: no effect on the real part
        again = model(scrambled, lengths)
        for row, n in enumerate(real):
            alone = model(ids[row : row + 1, : 1 + n])[0]
            torch.testing.assert_close(padded[row, : 6 * n], alone, atol=2e-6, rtol=0)
            torch.testing.assert_close(again[row, : 6 * n], alone, atol=2e-6, rtol=0)
    with pytest.raises(ValueError, match="divisible"):
        model(ids, torch.tensor([tokens + 1, 1 + 6, 5]))
