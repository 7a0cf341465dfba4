"""GGUF files: a fast completeness check, and dequantisation into a plain transformers model.

`check_gguf` reads the header with `struct` over an mmap (gguf's own `GGUFReader` builds numpy
views of every metadata element, tens of seconds for 150k-260k-token vocabularies) and checks
that every tensor's data lies inside the file. `load_gguf` loads with transformers
(`gguf_file=...`, `GgufConfig(dequantize=True)`) and then drops the quantizer
(`clear_quantizer`), so the model saves and runs as an ordinary float model.
"""

from __future__ import annotations

import contextlib
import tempfile
from pathlib import Path
from typing import Any

from sinkscope.core.errors import CorruptWeightsError, UnsupportedArchitectureError
from sinkscope.models.progress import PullSteps

_GGUF_SCALAR = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}


def gguf_tensor_extent(buf: Any, size: int) -> tuple[int, int]:
    """(number of tensors, end offset of the last tensor's data) from a GGUF v2/v3 header.

    A minimal parser (struct over an mmap): gguf's GGUFReader builds numpy views of every
    metadata element, which takes tens of seconds for 150k-260k-token vocabularies.
    """
    import struct

    from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType

    pos = 0

    def take(fmt: str) -> Any:
        nonlocal pos
        n = struct.calcsize("<" + fmt)
        if pos + n > size:
            raise ValueError("header runs past the end of the file")
        v = struct.unpack_from("<" + fmt, buf, pos)
        pos += n
        return v[0] if len(v) == 1 else v

    def string() -> bytes:
        nonlocal pos
        n = take("Q")
        if pos + n > size:
            raise ValueError("string runs past the end of the file")
        out = bytes(buf[pos : pos + n])
        pos += n
        return out

    def value(vtype: int) -> Any:
        nonlocal pos
        if vtype in _GGUF_SCALAR:
            return take(_GGUF_SCALAR[vtype])
        if vtype == 8:
            return string()
        if vtype == 9:
            etype, count = take("I"), take("Q")
            if etype in _GGUF_SCALAR:  # skip a numeric array in one step
                pos += count * struct.calcsize("<" + _GGUF_SCALAR[etype])
                if pos > size:
                    raise ValueError("array runs past the end of the file")
                return None
            for _ in range(count):
                value(etype)
            return None
        raise ValueError(f"unknown metadata value type {vtype}")

    magic, version = take("I"), take("I")
    if magic != 0x46554747 or version not in (2, 3):
        raise ValueError(f"unsupported GGUF version {version}")
    n_tensors, n_kv = take("Q"), take("Q")
    alignment = 32
    for _ in range(n_kv):
        key = string()
        v = value(take("I"))
        if key == b"general.alignment" and isinstance(v, int):
            alignment = v
    infos = []
    for _ in range(n_tensors):
        name = string()
        n_dims = take("I")
        dims = [take("Q") for _ in range(n_dims)]
        ttype, offset = take("I"), take("Q")
        infos.append((name, dims, ttype, offset))
    data_start = (pos + alignment - 1) // alignment * alignment
    end = data_start
    for name, dims, ttype, offset in infos:
        block, type_size = GGML_QUANT_SIZES[GGMLQuantizationType(ttype)]
        n_elems = 1
        for d in dims:
            n_elems *= d
        nbytes = n_elems * type_size // block
        end = max(end, data_start + offset + nbytes)
        if data_start + offset + nbytes > size:
            raise ValueError(f"tensor {name.decode(errors='replace')} runs past the end of the file")
    return n_tensors, end


def check_gguf(path: Path, hint: str) -> None:
    """Raise CorruptWeightsError unless `path` is a complete, readable GGUF file (header + all tensor data)."""
    import mmap

    try:
        with open(path, "rb") as f:
            magic = f.read(4)
            if magic != b"GGUF":
                raise CorruptWeightsError(f"{path} is not a GGUF file (bad magic bytes {magic!r}). {hint}")
            size = path.stat().st_size
            with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as buf:
                gguf_tensor_extent(buf, size)
    except CorruptWeightsError:
        raise
    except OSError as e:
        raise CorruptWeightsError(f"Cannot read GGUF file {path}: {e}. {hint}") from None
    except Exception as e:  # noqa: BLE001 - any parse failure means a damaged file
        raise CorruptWeightsError(
            f"GGUF file {path} is truncated or corrupt ({type(e).__name__}: {e}). {hint}"
        ) from None


def clear_quantizer(model: Any) -> None:
    """Forget the GGUF quantizer so the (already dequantised) model can be saved / used as plain.

    transformers refuses `save_pretrained` while `model.hf_quantizer` is set; the weights are
    ordinary tensors already (we load with `GgufConfig(dequantize=True)`).
    """
    q = getattr(model, "hf_quantizer", None)
    if q is not None and hasattr(q, "remove_quantization_config"):
        q.remove_quantization_config(model)  # drops hf_quantizer, config.quantization_config, ...
    if getattr(model, "hf_quantizer", None) is not None:
        model.hf_quantizer = None
    with contextlib.suppress(AttributeError):
        del model.config.quantization_config
    with contextlib.suppress(Exception):
        model.is_quantized = False
    for m in model.modules():
        cfg = getattr(m, "config", None)
        if cfg is not None and getattr(cfg, "_is_quantized", False):
            cfg._is_quantized = False


def load_gguf(
    path: Path,
    dtype: Any = None,
    device_map: Any = None,
    attn_implementation: str | None = "sdpa",
    hint: str = "Download the file again.",
    steps: PullSteps | None = None,
) -> tuple[Any, Any]:
    """Dequantise a GGUF file into a plain transformers causal LM + its tokenizer.

    `steps` (pull's progress display) gets a separate step for the tokenizer, whose conversion
    from GGUF metadata takes a while for large vocabularies (~20-50 s for Gemma's 262k tokens).
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    path = Path(path).resolve()
    check_gguf(path, hint)
    dtype = torch.float32 if dtype is None else dtype
    # An empty folder as the "repo" so no stray config/tokenizer files beside the GGUF are mixed in.
    with tempfile.TemporaryDirectory(prefix="sinkscope-gguf-") as empty:
        kwargs: dict[str, Any] = {
            "gguf_file": str(path),
            "dtype": dtype,
            "quantization_config": GgufConfig(dequantize=True),
        }
        if device_map is not None:
            kwargs["device_map"] = device_map
        try:
            try:
                model = AutoModelForCausalLM.from_pretrained(
                    empty, attn_implementation=attn_implementation, **kwargs
                )
            except ValueError as e:  # class without sdpa support (e.g. Gemma2): its default attention
                if attn_implementation and (
                    "attn_implementation" in str(e) or "scaled_dot_product_attention" in str(e)
                ):
                    model = AutoModelForCausalLM.from_pretrained(empty, **kwargs)
                else:
                    raise
            if steps is not None:
                steps.start("convert GGUF tokenizer")
            tokenizer = AutoTokenizer.from_pretrained(empty, gguf_file=str(path))
        except (ValueError, OSError, KeyError, RuntimeError) as e:
            msg = str(e)
            if "not supported" in msg.lower() and "architecture" in msg.lower():
                raise UnsupportedArchitectureError(
                    f"GGUF file {path}: transformers cannot load this architecture ({msg.splitlines()[0]})."
                ) from None
            raise CorruptWeightsError(
                f"Could not read GGUF file {path} ({type(e).__name__}: {msg.splitlines()[0] if msg else ''}). "
                f"{hint}"
            ) from None
    clear_quantizer(model)
    model.config.name_or_path = str(path)
    model.eval()
    return model, tokenizer
