"""The published SegmentEnformer / SegmentBorzoi weights: haiku parameters in joblib files.

`jax_model/params.joblib` and `jax_model/state.joblib` are pickles. They are read with a
restricted unpickler that admits only what a tree of NumPy arrays needs (joblib's array
wrapper, NumPy's array and dtype reconstruction, plain containers) and refuses any other
global with an error naming it, so a crafted file cannot run code. Chosen over a one-time
conversion step so that `-m segment_enformer` works straight from the Hugging Face cache.

Haiku stores Linear weights (in, out), Conv1D (k, in, out), Conv2D (kh, kw, in, out), its
transposed convolution (k, out, in) without flipping the kernel, depthwise convolution
(k, 1, channels) and NCW biases and batch-norm vectors as (1, C, 1) or (C, 1); `to_torch` turns
each into the layout of the matching torch module.
"""

from __future__ import annotations

import pickle
import re
from pathlib import Path

import numpy as np
import torch

from genoseg.errors import DataError

# (module, name) globals a joblib file of NumPy arrays may name.
_ALLOWED = {
    ("joblib.numpy_pickle", "NumpyArrayWrapper"),
    ("numpy", "ndarray"), ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("collections", "OrderedDict"),
}


class UnsafeCheckpointError(DataError, pickle.UnpicklingError):
    """A pickle names something other than arrays and containers."""


def _array_from_jax(fun, args, array_state, _aval_state):
    """Stand-in for jax's array reconstruction: the NumPy array it wraps (no device, no code)."""
    array = fun(*args)
    array.__setstate__(array_state)
    return array


def _mapping(*args):
    """Stand-in for haiku's old FlatMapping: a plain dict of its contents."""
    return dict(args[0]) if args else {}


_STAND_INS = {
    ("jax._src.array", "_reconstruct_array"): _array_from_jax,
    ("haiku._src.data_structures", "FlatMapping"): _mapping,
    ("haiku._src.data_structures", "FlatMap"): _mapping,
}


def load_joblib_arrays(path: Path) -> dict:
    """A joblib file holding nested dicts of arrays, read without executing anything from it.

    Raises:
        UnsafeCheckpointError: the file names a global outside the allowed set.
        DataError: the file is not a readable joblib pickle.
    """
    from joblib import numpy_pickle

    class RestrictedUnpickler(numpy_pickle.NumpyUnpickler):
        def find_class(self, module: str, name: str):
            if (module, name) in _ALLOWED:
                return super().find_class(module, name)
            if (module, name) in _STAND_INS:
                return _STAND_INS[(module, name)]
            raise UnsafeCheckpointError(f"{path}: refuses to load {module}.{name} (only arrays and containers may "
                                        "be in a checkpoint)")

    # joblib's own file handling (plain, zlib, gzip, ...): its name changed in joblib 1.5.
    open_stream = getattr(numpy_pickle, "_validate_fileobject_and_memmap", None)
    try:
        with open(path, "rb") as handle:
            if open_stream is not None:
                with open_stream(handle, str(path), None) as (stream, _):
                    return _load_stream(RestrictedUnpickler, path, stream)
            with numpy_pickle._read_fileobject(handle, str(path), None) as stream:
                return _load_stream(RestrictedUnpickler, path, stream)
    except UnsafeCheckpointError:
        raise
    except Exception as exc:  # pickle, zlib and joblib errors vary
        raise DataError(f"{path}: not a readable joblib checkpoint ({type(exc).__name__}: {exc})") from None


def _load_stream(unpickler, path: Path, stream) -> dict:
    if isinstance(stream, str):  # joblib < 0.10's format, read by a compatibility loader
        raise DataError(f"{path}: a joblib file older than joblib 0.10, which genoseg does not read")
    return unpickler(str(path), stream, ensure_native_byte_order=True).load()


def flatten(tree: dict, kind: str, path: Path | str = "checkpoint") -> dict[str, np.ndarray]:
    """{module: {name: array}} → {"kind:module/name": array}, as the reference .npz files store them.

    Raises:
        DataError: the tree is not modules of named numeric arrays (haiku's layout).
    """
    if not isinstance(tree, dict) or not all(isinstance(leaves, dict) for leaves in tree.values()):
        raise DataError(f"{path}: not a haiku parameter tree (modules of named arrays)")
    out = {}
    for module, leaves in tree.items():
        for name, value in leaves.items():
            array = np.asarray(value)
            if array.dtype.kind not in "fiu":
                raise DataError(f"{path}: {module}/{name} is not a numeric array")
            out[f"{kind}:{module}/{name}"] = array
    return out


def to_torch(array: np.ndarray, layout: str) -> torch.Tensor:
    """A haiku tensor in the layout of the torch module it belongs to."""
    a = np.asarray(array, dtype=np.float32)
    if layout == "linear":
        a = a.T
    elif layout == "conv":  # (k, in, out) → (out, in, k); depthwise (k, 1, C) → (C, 1, k)
        a = a.transpose(2, 1, 0)
    elif layout == "conv_transpose":  # (k, out, in) → (in, out, k), kernel reversed
        a = a.transpose(2, 1, 0)[:, :, ::-1]
    elif layout == "conv2d":  # (1, 1, in, out) → (out, in, 1, 1)
        a = a.transpose(3, 2, 0, 1)
    elif layout == "vector":
        a = a.reshape(-1)
    return torch.from_numpy(np.ascontiguousarray(a))


# Rules shared by both trunks: (haiku path pattern, torch name template, layout). Paths are
# "param:MODULE/NAME" or "state:MODULE/NAME"; a pattern's groups fill the template.
HEAD_RULES = [
    (r"param:u_net_head/~/unet1_d_segmentation_head/~/downsample_block_(\d+)/~/conv(\d)/w", "head.unet._downsample_blocks.{0}.conv_layers.{1}.weight", "conv"),
    (r"param:u_net_head/~/unet1_d_segmentation_head/~/downsample_block_(\d+)/~/conv(\d)/b", "head.unet._downsample_blocks.{0}.conv_layers.{1}.bias", "vector"),
    (r"param:u_net_head/~/unet1_d_segmentation_head/~/upsample_block_(\d+)/~/conv_transpose(\d)/w", "head.unet._upsample_blocks.{0}.conv_layers.{1}.weight", "conv_transpose"),
    (r"param:u_net_head/~/unet1_d_segmentation_head/~/upsample_block_(\d+)/~/conv_transpose(\d)/b", "head.unet._upsample_blocks.{0}.conv_layers.{1}.bias", "vector"),
    (r"param:u_net_head/~/unet1_d_segmentation_head/~/final_conv1_d/~/conv(\d)/w", "head.unet.final_block.conv_layers.{0}.weight", "conv"),
    (r"param:u_net_head/~/unet1_d_segmentation_head/~/final_conv1_d/~/conv(\d)/b", "head.unet.final_block.conv_layers.{0}.bias", "vector"),
    (r"param:u_net_head/~/fc/w", "head.fc.weight", "linear"),
    (r"param:u_net_head/~/fc/b", "head.fc.bias", "vector"),
]


def batch_norm_rules(haiku: str, torch_name: str) -> list[tuple[str, str, str]]:
    """A haiku BatchNorm module's scale, offset and moving averages → a torch BatchNorm1d's."""
    return [
        (rf"param:{haiku}/batch_norm/scale", f"{torch_name}.batch_norm.weight", "vector"),
        (rf"param:{haiku}/batch_norm/offset", f"{torch_name}.batch_norm.bias", "vector"),
        (rf"state:{haiku}/batch_norm/~/mean_ema/average", f"{torch_name}.batch_norm.running_mean", "vector"),
        (rf"state:{haiku}/batch_norm/~/var_ema/average", f"{torch_name}.batch_norm.running_var", "vector"),
    ]


def conv_block_rules(haiku: str, torch_name: str) -> list[tuple[str, str, str]]:
    return batch_norm_rules(haiku, torch_name) + [
        (rf"param:{haiku}/conv1_d/w", f"{torch_name}.conv.weight", "conv"),
        (rf"param:{haiku}/conv1_d/b", f"{torch_name}.conv.bias", "vector"),
    ]


def transformer_rules(prefix: str) -> list[tuple[str, str, str]]:
    a, f, t = rf"param:{prefix}/~_transformer_attention/layer_(\d+)", rf"param:{prefix}/~_transformer_ffn_block/layer_(\d+)", "trunk.transformer.{0}"
    rules = [(rf"{a}/attention/{n}", f"{t}.attention.{n}", "raw") for n in ("rel_content_bias", "rel_pos_bias")]
    rules += [(rf"{a}/attention/~/attn_{h}/w", f"{t}.attention.{n}.weight", "linear")
              for h, n in (("q", "to_q"), ("k", "to_k"), ("v", "to_v"), ("to_rel_k", "to_rel_k"), ("o", "to_out"))]
    rules += [(rf"{a}/attention/~/attn_o/b", f"{t}.attention.to_out.bias", "vector")]
    for haiku, name, source in (("attn_layer_norm", "attention_norm", a), ("ffn_layer_norm", "ffn_norm", f)):
        rules += [(rf"{source}/{haiku}/scale", f"{t}.{name}.weight", "vector"),
                  (rf"{source}/{haiku}/offset", f"{t}.{name}.bias", "vector")]
    for n in ("ffn_1", "ffn_2"):
        rules += [(rf"{f}/{n}/w", f"{t}.{n}.weight", "linear"), (rf"{f}/{n}/b", f"{t}.{n}.bias", "vector")]
    return rules


def convert(arrays: dict[str, np.ndarray], rules: list[tuple[str, str, str]], unused: list[str]) -> dict[str, torch.Tensor]:
    """Flattened haiku tensors → a torch state dict by `rules`; paths matching an `unused`
    pattern (the published human/mouse heads, batch-norm counters) are left out.

    Raises:
        DataError: a tensor that no rule and no unused pattern accounts for.
    """
    compiled = [(re.compile(pattern), template, layout) for pattern, template, layout in rules]
    skipped = [re.compile(p) for p in unused]
    out: dict[str, torch.Tensor] = {}
    for path, array in arrays.items():
        for pattern, template, layout in compiled:
            match = pattern.fullmatch(path)
            if match:
                out[template.format(*match.groups())] = to_torch(array, layout)
                break
        else:
            if not any(p.fullmatch(path) for p in skipped):
                raise DataError(f"checkpoint tensor {path} {tuple(np.shape(array))} is not part of the architecture")
    return out


def enformer_rules() -> tuple[list[tuple[str, str, str]], list[str]]:
    """How the official Enformer trunk's haiku paths map onto `enformer.EnformerTrunk`; and what
    SegmentEnformer does not use (the final pointwise block and the human/mouse heads)."""
    p = "Enformer/~"
    rules = conv_block_rules(rf"{p}_stem/residual_conv_block/conv_block", "trunk.stem_residual")
    rules += [(rf"param:{p}_stem/conv1_d/w", "trunk.stem.weight", "conv"),
              (rf"param:{p}_stem/conv1_d/b", "trunk.stem.bias", "vector"),
              (rf"param:{p}_stem/attention_pool/~/conv2_d/w", "trunk.stem_pool.to_logits.weight", "conv2d")]
    layer = rf"{p}_conv_tower/layer_(\d+)"
    rules += conv_block_rules(rf"{layer}/conv_block", "trunk.tower.{0}.conv")
    rules += conv_block_rules(rf"{layer}/residual_conv_block/conv_block", "trunk.tower.{0}.residual")
    rules += [(rf"param:{layer}/attention_pool/~/conv2_d/w", "trunk.tower.{0}.pool.to_logits.weight", "conv2d")]
    rules += transformer_rules("Enformer") + HEAD_RULES
    unused = [rf"(param|state):{p}_final_pointwise/.*", rf"param:{p}_heads/.*", r"state:.*/(counter|hidden)"]
    return rules, unused


def borzoi_rules() -> tuple[list[tuple[str, str, str]], list[str]]:
    """How the official Borzoi trunk's haiku paths map onto `borzoi.BorzoiTrunk`; and what
    SegmentBorzoi does not use (the human head)."""
    p = "Borzoi/~"
    rules = [(rf"param:{p}_stem/conv1_d/w", "trunk.stem.weight", "conv"),
             (rf"param:{p}_stem/conv1_d/b", "trunk.stem.bias", "vector")]
    rules += conv_block_rules(rf"{p}_conv_tower/layer_(\d+)/conv_block", "trunk.tower.{0}")
    block = rf"{p}_unet_conv/u_net_conv_block_(\d+)"
    for haiku, name in (("batch_norm", "batch_norm"), ("batch_norm_unet_repr", "batch_norm_skip")):
        rules += [(rf"param:{block}/{haiku}/scale", f"trunk.unet.{{0}}.{name}.weight", "vector"),
                  (rf"param:{block}/{haiku}/offset", f"trunk.unet.{{0}}.{name}.bias", "vector"),
                  (rf"state:{block}/{haiku}/~/mean_ema/average", f"trunk.unet.{{0}}.{name}.running_mean", "vector"),
                  (rf"state:{block}/{haiku}/~/var_ema/average", f"trunk.unet.{{0}}.{name}.running_var", "vector")]
    for haiku, name in (("linear", "linear"), ("linear_unet", "linear_skip")):
        rules += [(rf"param:{block}/{haiku}/w", f"trunk.unet.{{0}}.{name}.weight", "linear"),
                  (rf"param:{block}/{haiku}/b", f"trunk.unet.{{0}}.{name}.bias", "vector")]
    rules += [(rf"param:{block}/separable_depthwise_conv1_d/~/depthwise_conv1_d/w", "trunk.unet.{0}.depthwise.weight", "conv"),
              (rf"param:{block}/separable_depthwise_conv1_d/~/conv1_d/w", "trunk.unet.{0}.pointwise.weight", "conv")]
    rules += conv_block_rules(rf"{p}_final_conv_block/conv_block", "trunk.final")
    rules += transformer_rules("Borzoi") + HEAD_RULES
    unused = [rf"param:{p}_heads/.*", r"state:.*/(counter|hidden)"]
    return rules, unused


PARAMS_FILE, STATE_FILE = "jax_model/params.joblib", "jax_model/state.joblib"


def is_jax_checkpoint(model_dir: Path) -> bool:
    return (model_dir / PARAMS_FILE).is_file()


def _config_for(model_dir: Path, kind: str):
    """The config.json beside the weights when genoseg wrote one for this trunk, else the
    published configuration (the published repositories hold only jax_model/)."""
    import json

    from genoseg.model.borzoi import BorzoiConfig
    from genoseg.model.enformer import EnformerConfig

    cls = EnformerConfig if kind == "Enformer" else BorzoiConfig
    path = model_dir / "config.json"
    if path.is_file():
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise DataError(f"{path}: unreadable model config ({exc})") from None
        if isinstance(data, dict) and data.get("model_type") == cls.model_type:
            try:
                return cls(**{k: v for k, v in data.items() if k != "model_type"})
            except (TypeError, ValueError) as exc:
                raise DataError(f"{path}: not a {cls.model_type} config ({exc})") from None
    return cls()


def load_jax_model(model_dir: Path, name: str, device, dtype: torch.dtype):
    """SegmentEnformer or SegmentBorzoi from a directory holding jax_model/params.joblib and
    state.joblib (the published layout), checked tensor by tensor before anything is loaded.

    Raises:
        UnsafeCheckpointError: a joblib file names anything but arrays and containers.
        DataError: unreadable files, a trunk that is neither, tensors that do not fit the
            configuration, or NaN weights.
    """
    from genoseg.model.borzoi import SegmentBorzoi
    from genoseg.model.config import ConfigError
    from genoseg.model.enformer import SegmentEnformer

    if not (model_dir / STATE_FILE).is_file():
        raise DataError(f"{model_dir}: {PARAMS_FILE} without {STATE_FILE} (the batch-norm statistics)")
    arrays = flatten(load_joblib_arrays(model_dir / PARAMS_FILE), "param", model_dir / PARAMS_FILE)
    arrays |= flatten(load_joblib_arrays(model_dir / STATE_FILE), "state", model_dir / STATE_FILE)
    kinds = {path.split(":", 1)[1].split("/", 1)[0] for path in arrays} & {"Enformer", "Borzoi"}
    if len(kinds) != 1:
        raise DataError(f"{model_dir}: not a SegmentEnformer or SegmentBorzoi checkpoint (no Enformer/ or Borzoi/ "
                        "parameters)")
    kind = kinds.pop()
    config = _config_for(model_dir, kind)
    model_class = SegmentEnformer if kind == "Enformer" else SegmentBorzoi
    try:
        config.validate()
        with torch.device("meta"):  # shapes only: a config of absurd sizes costs nothing here
            expected = {k: tuple(v.shape) for k, v in model_class(config).state_dict().items()
                        if not k.endswith("num_batches_tracked")}
    except (ConfigError, TypeError, ValueError, RuntimeError) as exc:
        raise DataError(f"{model_dir / 'config.json'}: not a usable {config.model_type} config ({exc})") from None
    rules, unused = enformer_rules() if kind == "Enformer" else borzoi_rules()
    state = convert(arrays, rules, unused)
    missing = sorted(set(expected) - set(state))
    if missing:
        raise DataError(f"{model_dir}: checkpoint lacks {len(missing)} tensors of the {config.model_type} "
                        f"architecture, such as {missing[0]}")
    for key, shape in expected.items():
        if tuple(state[key].shape) != shape:
            raise DataError(f"{model_dir}: tensor {key} has shape {list(state[key].shape)} in the checkpoint but "
                            f"{list(shape)} in the configuration; the two do not belong together")
        if not bool(torch.isfinite(state[key]).all()):
            raise DataError(f"{model_dir}: tensor {key} holds NaN or infinite values")
    model = model_class(config)
    model.load_state_dict(state, strict=False)
    model.name_or_path = str(name)
    return model.to(device=device, dtype=dtype).eval()
