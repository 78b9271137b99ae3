"""The whole SegmentNT model on top of transformers' PreTrainedModel.

`PreTrainedModel` provides `save_pretrained` / `from_pretrained` (safetensors, sharding, the hub
cache); we add strict key checking, name resolution through the local cache, and refusal of
anything that would execute code from a checkpoint.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import torch
from torch import nn
from transformers import PreTrainedModel
from transformers.utils import logging as transformers_logging

from genoseg.errors import DataError
from genoseg.model.backbone import NucleotideTransformer
from genoseg.model.config import ConfigError, SegmentNTConfig
from genoseg.model.head import UNetHead
from genoseg.model.tokenizer import Tokenizer

OUTPUTS_PER_TOKEN = 6
HUB_ALIASES = {
    "segment_nt": "InstaDeepAI/segment_nt",
    "segment_nt_multi_species": "InstaDeepAI/segment_nt_multi_species",
    "segment_enformer": "InstaDeepAI/segment_enformer",
    "segment_borzoi": "InstaDeepAI/segment_borzoi",
}
# Present in the published checkpoints but not part of the computation.
UNUSED_KEY_PATTERNS = [
    r"^esm\.embeddings\.position_embeddings\.weight$",
    r"^esm\.contact_head\.",
    r"rotary_embeddings\.inv_freq$",
]
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json",
                "jax_model/params.joblib")


class ModelLoadError(DataError, RuntimeError):
    """A model could not be found or its checkpoint does not match the architecture."""


class SegmentNT(PreTrainedModel):
    config_class = SegmentNTConfig
    base_model_prefix = "segment_nt"
    _keys_to_ignore_on_load_unexpected = UNUSED_KEY_PATTERNS
    _supports_sdpa = True

    def __init__(self, config: SegmentNTConfig) -> None:
        config.validate()
        super().__init__(config)
        self.esm = NucleotideTransformer(config)
        self.unet = UNetHead(config.hidden_size, config.hidden_size, config.num_layers_head)
        self.fc = nn.Linear(config.hidden_size, OUTPUTS_PER_TOKEN * config.num_features * 2)
        self.post_init()

    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, std=0.02)
            if getattr(module, "bias", None) is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.LayerNorm):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)

    @property
    def features(self) -> list[str]:
        return list(self.config.features)

    def logits(self, token_ids: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """(B, 1 + L) token ids → (B, 6L, F, 2) logits; L must be divisible by 2^num_layers_head.

        `lengths` (B,): real tokens of each row, <cls> included, when rows are padded at the end;
        the padding then has no effect on the real positions (their outputs are those of the
        unpadded row) and its own outputs are meaningless.
        """
        tokens = token_ids.shape[1] - 1
        unit = 2**self.config.num_layers_head
        if tokens % unit:
            raise ValueError(f"{tokens} tokens (without <cls>) is not divisible by {unit}")
        valid = None
        if lengths is not None:
            if bool(((lengths - 1) % unit).any()):
                raise ValueError(f"every row's real length (without <cls>) must be divisible by {unit}")
            valid = torch.arange(tokens, device=token_ids.device)[None, :] < (lengths.to(token_ids.device)[:, None] - 1)
        embeddings = self.esm(token_ids, lengths)[:, 1:]
        hidden = nn.functional.silu(self.unet(embeddings, valid))
        out = self.fc(hidden)
        batch = out.shape[0]
        return out.view(batch, tokens * OUTPUTS_PER_TOKEN, self.config.num_features, 2)

    def forward(self, token_ids: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """(B, 1 + L) token ids → (B, 6L, F) per-nucleotide probabilities of each feature."""
        logits = self.logits(token_ids, lengths).float()
        # softmax(...)[..., 1] of a pair equals sigmoid of the difference, without the exp overflow.
        return torch.sigmoid(logits[..., 1] - logits[..., 0])

    @property
    def tokenizer(self) -> Tokenizer:
        vocab = getattr(self, "_vocab_path", None)
        return Tokenizer.from_vocab_file(vocab) if vocab else Tokenizer()


def _is_checkpoint_dir(path: Path) -> bool:
    return path.is_dir() and (path / "config.json").is_file() and any((path / f).is_file() for f in WEIGHT_FILES)


def resolve_model_dir(name_or_path: str | os.PathLike[str]) -> Path:
    """A local checkpoint directory for a path, an alias (`segment_nt`) or a hub id, cache first."""
    path = Path(name_or_path).expanduser()
    if path.exists():
        if not path.is_dir():
            raise ModelLoadError(f"{path}: a model must be a directory with config.json and model weights")
        if not (path / "config.json").is_file() and not (path / "jax_model" / "params.joblib").is_file():
            raise ModelLoadError(f"{path}: no config.json in model directory")
        if not any((path / f).is_file() for f in WEIGHT_FILES):
            raise ModelLoadError(f"{path}: no model.safetensors or pytorch_model.bin in model directory")
        return path
    repo_id = HUB_ALIASES.get(str(name_or_path), str(name_or_path))
    if repo_id.count("/") != 1 or str(name_or_path).startswith((".", "/", "~")):
        raise ModelLoadError(f"{name_or_path}: no such model directory")
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    patterns = ["config.json", "vocab.txt", "*.safetensors", "*.safetensors.index.json", "pytorch_model*.bin*",
                "jax_model/*.joblib"]
    try:
        return Path(snapshot_download(repo_id, allow_patterns=patterns, local_files_only=True))
    except (LocalEntryNotFoundError, FileNotFoundError, OSError, ValueError):
        pass
    hint = (
        f"model {repo_id} is not in the local Hugging Face cache; on a machine with network access run "
        f"`huggingface-cli download {repo_id}` (or `hf download {repo_id}`), or pass --model DIR "
        "with config.json and model weights"
    )
    if os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes"):
        raise ModelLoadError(hint)
    try:
        return Path(snapshot_download(repo_id, allow_patterns=patterns))
    except (HfHubHTTPError, OSError, ValueError, Exception) as exc:  # network errors vary by backend
        raise ModelLoadError(f"{hint} (download failed: {type(exc).__name__})") from None


# No SegmentNT checkpoint comes near this (the published ones hold 0.5-0.6 G parameters); a
# config that asks for more is refused before anything is allocated.
MAX_PARAMETERS = 4_000_000_000


def checkpoint_shapes(model_dir: Path) -> dict[str, tuple[int, ...]]:
    """Every tensor's shape in a checkpoint, read without loading any weight.

    safetensors files are read from their JSON headers; pickled `pytorch_model.bin` files are
    memory-mapped with `weights_only=True`, so no tensor data is read either.
    """
    import json

    from safetensors import safe_open

    index = next((model_dir / f for f in ("model.safetensors.index.json", "pytorch_model.bin.index.json")
                  if (model_dir / f).is_file()), None)
    if index is not None:
        weight_map = json.loads(index.read_text()).get("weight_map", {})
        files = sorted({model_dir / Path(str(f)).name for f in weight_map.values()})
    else:
        files = [model_dir / f for f in ("model.safetensors", "pytorch_model.bin") if (model_dir / f).is_file()][:1]
    shapes: dict[str, tuple[int, ...]] = {}
    for path in files:
        if path.suffix == ".safetensors":
            with safe_open(str(path), framework="pt") as handle:
                for key in handle.keys():
                    shapes[key] = tuple(handle.get_slice(key).get_shape())
        else:
            state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
            shapes.update({k: tuple(v.shape) for k, v in state.items() if isinstance(v, torch.Tensor)})
    return shapes


def check_checkpoint_shapes(model_dir: Path, config: SegmentNTConfig) -> None:
    """Refuse a config whose model would not fit the checkpoint, or be too large, before allocating.

    The model is built on the meta device (shapes only), so a crafted config of plausible
    sizes that together need many GiB costs nothing here.
    """
    with torch.device("meta"):
        expected = {k: tuple(v.shape) for k, v in SegmentNT(config).state_dict().items()}
    total = sum(math.prod(shape) for shape in expected.values())
    if total > MAX_PARAMETERS:
        raise ModelLoadError(f"{model_dir / 'config.json'}: the configured model would hold {total:,} parameters "
                             f"(more than {MAX_PARAMETERS:,}); not a SegmentNT configuration")
    try:
        found = checkpoint_shapes(model_dir)
    except Exception as exc:  # safetensors and torch report corrupt files variously
        raise ModelLoadError(f"{model_dir}: unreadable checkpoint ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})") from None
    for name, shape in expected.items():
        if name in found and found[name] != shape:
            raise ModelLoadError(f"{model_dir}: weight {name} has shape {list(found[name])} in the checkpoint but "
                                 f"{list(shape)} in config.json; the two do not belong together")


def load_model(
    name_or_path: str | os.PathLike[str], device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32
) -> SegmentNT:
    """Load a SegmentNT checkpoint strictly: every parameter present, nothing unexpected."""
    model_dir = resolve_model_dir(name_or_path)
    if (model_dir / "jax_model" / "params.joblib").is_file():
        from genoseg.model.jax_weights import load_jax_model

        return load_jax_model(model_dir, str(name_or_path), device, dtype)
    # Our own error below names every problem; transformers' progress bars and load table
    # would only add noise on a user's terminal.
    transformers_logging.set_verbosity_error()
    transformers_logging.disable_progress_bar()
    try:
        config = SegmentNTConfig.from_pretrained(model_dir)
        config.validate()
    except ConfigError as exc:
        raise ModelLoadError(f"{model_dir / 'config.json'}: {exc}") from None
    except (OSError, ValueError, TypeError) as exc:
        raise ModelLoadError(f"{model_dir / 'config.json'}: unreadable model config ({exc})") from None
    check_checkpoint_shapes(model_dir, config)
    # Pickled weights are only ever read with weights_only=True: transformers enforces it for
    # pytorch_model.bin, and we never pass trust_remote_code.
    try:
        model, info = SegmentNT.from_pretrained(
            model_dir, config=config, output_loading_info=True, dtype=dtype, use_safetensors=None,
            ignore_mismatched_sizes=True,  # reported below with every key named, then refused
        )
    except Exception as exc:  # transformers wraps size mismatches and unpickling errors variously
        raise ModelLoadError(f"{model_dir}: cannot load weights: {str(exc).splitlines()[0]}") from None
    problems = []
    if info.get("missing_keys"):
        problems.append("missing keys: " + ", ".join(sorted(info["missing_keys"])))
    if info.get("unexpected_keys"):
        problems.append("unexpected keys: " + ", ".join(sorted(info["unexpected_keys"])))
    if info.get("mismatched_keys"):
        problems.append("shape mismatches: " + ", ".join(sorted(str(k[0] if isinstance(k, tuple) else k) for k in info["mismatched_keys"])))
    if info.get("error_msgs"):
        problems.extend(info["error_msgs"])
    if problems:
        raise ModelLoadError(f"{model_dir}: checkpoint does not match the SegmentNT architecture: " + "; ".join(problems))
    for name, tensor in model.state_dict().items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise ModelLoadError(f"{model_dir}: weight {name} holds NaN or infinite values")
    if (model_dir / "vocab.txt").is_file():
        model._vocab_path = model_dir / "vocab.txt"
    model.name_or_path = str(name_or_path)
    return model.to(device).eval()
