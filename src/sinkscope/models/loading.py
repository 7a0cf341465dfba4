"""`load_model(ref)`: turn whatever the user names into a `LoadedModel`.

`ref` may be (checked in this order):

* a `(model, tokenizer)` tuple            -> wrapped as is (`wrap_pair`)
* a catalog name (`smollm2-135m`, ...)    -> loaded from the float32 cache (~1 s); pulled on first use
* an existing folder with `config.json`   -> `from_pretrained(folder)`
* an existing `.gguf` file                -> dequantised on load
* an existing `.safetensors` file whose folder has `config.json` -> that folder
* `org/name` (hub id)                     -> `from_pretrained` as usual; a clear error when offline
* anything else                           -> ModelNotFoundError with close catalog names

Models come back in eval mode, with `attn_implementation="sdpa"` where the class supports it.
"""

from __future__ import annotations

import enum
import json
import os
import re
import socket
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from sinkscope.core.errors import (
    CorruptWeightsError,
    InputError,
    ModelNotFoundError,
    UnsupportedArchitectureError,
)
from sinkscope.core.hashing import sha256_file, sha256_files
from sinkscope.models.base import LoadedModel, wrap_pair
from sinkscope.models.catalog import (
    CATALOG,
    DEFAULT_MODEL,
    META_FILE,
    cache_path,
    get_spec,
    is_installed,
    read_meta,
    suggest_names,
)
from sinkscope.models.gguf import load_gguf
from sinkscope.models.progress import quiet_transformers
from sinkscope.models.pull import pull

_HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")

_DTYPES = {
    "float32": "float32",
    "fp32": "float32",
    "float": "float32",
    "bfloat16": "bfloat16",
    "bf16": "bfloat16",
    "float16": "float16",
    "fp16": "float16",
    "half": "float16",
}


class RefKind(str, enum.Enum):
    PAIR = "pair"
    CATALOG = "catalog"
    FOLDER = "folder"
    GGUF = "gguf"
    SAFETENSORS = "safetensors"  # a .safetensors file: its folder is loaded
    HUB = "hub"
    MISSING_PATH = "missing_path"
    UNKNOWN = "unknown"


# ---------------------------------------------------------------------------------------------
# Classification
# ---------------------------------------------------------------------------------------------


def _looks_like_path(s: str) -> bool:
    return (
        s.startswith((".", "~", "/", "\\"))
        or s.lower().endswith((".gguf", ".safetensors", ".bin", ".json"))
        or os.sep in s.strip("/")
        and not _HUB_ID.match(s)
        or (len(s) > 2 and s[1] == ":" and s[2] in "\\/")  # C:\...
        or s.count("/") > 1
    )


def classify_ref(ref: Any) -> RefKind:
    """What kind of model reference `ref` is (no loading, no network)."""
    if isinstance(ref, (tuple, list)):
        if len(ref) == 2:
            return RefKind.PAIR
        raise InputError(f"A model given as a tuple must be (model, tokenizer); got {len(ref)} items.")
    if isinstance(ref, os.PathLike):
        ref = os.fspath(ref)
    if not isinstance(ref, str):
        raise InputError(
            f"Cannot use {type(ref).__name__} as a model: give a catalog name, a path, a hub id "
            "or a (model, tokenizer) pair."
        )
    s = ref.strip()
    if not s:
        raise InputError("Empty model name; try `sinkscope models list`.")
    if s in CATALOG or s.lower() in CATALOG:
        return RefKind.CATALOG
    p = Path(s).expanduser()
    if p.exists():
        if p.is_dir():
            return RefKind.FOLDER
        if p.suffix.lower() == ".gguf":
            return RefKind.GGUF
        if p.suffix.lower() == ".safetensors":
            return RefKind.SAFETENSORS
        return RefKind.MISSING_PATH  # a file of an unknown kind: reported like a bad path
    if _HUB_ID.match(s) and not s.lower().endswith((".gguf", ".safetensors")):
        return RefKind.HUB
    if _looks_like_path(s):
        return RefKind.MISSING_PATH
    return RefKind.UNKNOWN


# ---------------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------------


def torch_dtype(dtype: Any) -> Any:
    """The `torch.dtype` for a name ("float32", "bf16", "half", ...) or a torch.dtype; InputError if unknown."""
    import torch

    if isinstance(dtype, torch.dtype):
        return dtype
    key = _DTYPES.get(str(dtype).lower().removeprefix("torch."))
    if key is None:
        raise InputError(f"Unknown dtype {dtype!r}; use float32 (default), bfloat16 or float16.")
    return getattr(torch, key)


def load_model(ref: Any, dtype: Any = "float32", device_map: Any = None) -> LoadedModel:
    """Load a model for capture. See the module docstring for what `ref` may be.

    dtype: "float32" (default), "bfloat16" or "float16" (or a torch.dtype); ignored for a
    (model, tokenizer) pair, which is used as given. device_map: passed to `from_pretrained`
    (accelerate), e.g. `{"": "cpu"}` or `"auto"`.
    """
    kind = classify_ref(ref)
    if kind is RefKind.PAIR:
        model, tokenizer = ref
        return wrap_pair(model, tokenizer, ref="<in-memory>")
    tdtype = torch_dtype(dtype)
    s = os.fspath(ref).strip()

    if kind is RefKind.CATALOG:
        return _load_catalog(s, tdtype, device_map)
    if kind is RefKind.FOLDER:
        return _load_folder(Path(s).expanduser(), s, tdtype, device_map)
    if kind is RefKind.SAFETENSORS:
        folder = Path(s).expanduser().resolve().parent
        if not (folder / "config.json").is_file():
            raise ModelNotFoundError(
                f"{s} is a bare safetensors file: sinkscope needs the whole model folder (config.json, "
                "tokenizer files and weights). Pass the folder instead."
            )
        return _load_folder(folder, s, tdtype, device_map)
    if kind is RefKind.GGUF:
        return _load_gguf_file(Path(s).expanduser(), s, tdtype, device_map)
    if kind is RefKind.HUB:
        return _load_hub(s, tdtype, device_map)
    if kind is RefKind.MISSING_PATH:
        p = Path(s).expanduser()
        if p.exists():
            raise ModelNotFoundError(
                f"{s} is a file sinkscope cannot load as a model: give a model folder (with config.json), "
                "a .gguf file, a catalog name or a hub id."
            )
        raise ModelNotFoundError(
            f"No such file or folder: {s}. Check the path, or use a catalog name "
            f"(`sinkscope models list`; default {DEFAULT_MODEL})."
        )
    sugg = suggest_names(s)
    hint = f" Did you mean {', '.join(repr(x) for x in sugg)}?" if sugg else ""
    raise ModelNotFoundError(
        f"Unknown model {s!r}: not a catalog name, not an existing path, and not a hub id (org/name).{hint} "
        f"Catalog: {', '.join(CATALOG)} (see `sinkscope models list`)."
    )


# ---------------------------------------------------------------------------------------------
# Loaders
# ---------------------------------------------------------------------------------------------


def _check_safetensors(folder: Path, hint: str) -> None:
    from safetensors import safe_open

    for p in sorted(folder.glob("*.safetensors")):
        try:
            with safe_open(str(p), framework="pt") as f:
                f.keys()
        except Exception as e:  # noqa: BLE001 - SafetensorError and friends
            raise CorruptWeightsError(f"Weights file {p} is truncated or corrupt ({e}). {hint}") from None


def _model_class(config: Any, where: str):
    """The transformers class to instantiate for `config` (its `architectures`, else Auto*)."""
    import transformers
    from transformers import AutoModel, AutoModelForCausalLM

    for arch in getattr(config, "architectures", None) or []:
        cls = getattr(transformers, arch, None)
        if cls is not None:
            return cls
    for auto in (AutoModelForCausalLM, AutoModel):
        try:
            return auto._model_mapping[type(config)]
        except (KeyError, AttributeError):
            continue
    raise UnsupportedArchitectureError(
        f"{where}: transformers has no model class for architecture "
        f"{(getattr(config, 'architectures', None) or [getattr(config, 'model_type', '?')])[0]!r}."
    )


def _load_hf(
    name_or_path: str,
    ref: str,
    dtype: Any,
    device_map: Any,
    hint: str,
    source: str | None,
    source_hash: str | None,
    extra: dict[str, Any] | None = None,
    **hub_kwargs: Any,
) -> LoadedModel:
    """Config -> class check -> weights -> tokenizer, for a folder or a hub id."""
    from transformers import AutoConfig, AutoTokenizer

    try:
        config = AutoConfig.from_pretrained(name_or_path, **hub_kwargs)
    except ValueError as e:
        msg = str(e)
        if "trust_remote_code" in msg or "does not recognize this architecture" in msg or "model type" in msg:
            raise UnsupportedArchitectureError(
                f"{ref}: transformers {_tf_version()} cannot build this model ({msg.splitlines()[0]}). "
                "sinkscope does not run custom (remote) model code."
            ) from None
        raise CorruptWeightsError(f"{ref}: cannot read config.json ({msg.splitlines()[0]}). {hint}") from None
    cls = _model_class(config, ref)
    # No refusal by class flag: whether attention routes through the interface is observed on the
    # first batch of every capture (docs/method.md §11).
    kwargs: dict[str, Any] = dict(dtype=dtype, **hub_kwargs)
    if getattr(cls, "_supports_sdpa", False):
        kwargs["attn_implementation"] = "sdpa"
    if device_map is not None:
        kwargs["device_map"] = device_map

    with quiet_transformers():
        try:
            model = cls.from_pretrained(name_or_path, config=config, **kwargs)
        except (OSError, RuntimeError, ValueError, KeyError) as e:
            if _is_network_error(e):
                raise
            msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise CorruptWeightsError(f"Could not load the weights of {ref} ({msg}). {hint}") from None
        except Exception as e:  # SafetensorError is not an OSError
            if type(e).__name__ == "SafetensorError":
                raise CorruptWeightsError(
                    f"Weights of {ref} are truncated or corrupt ({e}). {hint}"
                ) from None
            raise
        try:
            tokenizer = AutoTokenizer.from_pretrained(name_or_path, **hub_kwargs)
        except Exception as e:
            if _is_network_error(e):
                raise
            raise ModelNotFoundError(
                f"{ref}: the model loaded but its tokenizer did not ({type(e).__name__}: "
                f"{str(e).strip().splitlines()[0] if str(e).strip() else ''}). Save the tokenizer into the "
                "same folder (`tokenizer.save_pretrained(folder)`)."
            ) from None
    return wrap_pair(model, tokenizer, ref=ref, source=source, source_hash=source_hash, extra=extra)


def _tf_version() -> str:
    import transformers

    return transformers.__version__


def _load_catalog(name: str, dtype: Any, device_map: Any) -> LoadedModel:
    spec = get_spec(name)
    folder = cache_path(spec.name)
    if not is_installed(spec.name):
        first = "first use" if spec.name == DEFAULT_MODEL else "not pulled yet"
        print(
            f"sinkscope: pulling {spec.name} ({first}, ~{round(spec.download_mb, -1):.0f} MB, "
            f"{spec.pull_estimate})...",
            file=sys.stderr,
            flush=True,
        )
        pull(spec.name, progress=sys.stderr.isatty())
    hint = f"Run `sinkscope models pull {spec.name} --force` to rebuild the cache."
    _check_safetensors(folder, hint)
    meta = read_meta(spec.name) or {}
    return _load_hf(
        str(folder),
        spec.name,
        dtype,
        device_map,
        hint,
        source=str(folder),
        source_hash=meta.get("weights_sha256"),
        extra={"catalog": spec.name, "upstream": spec.upstream},
    )


def local_tokenizer(ref: str) -> Any | None:
    """The tokenizer of `ref` when it is on this machine without a download or a weight load: a
    pulled catalog model's cached folder, or a local folder holding a tokenizer; else None."""
    from transformers import AutoTokenizer

    folder = cache_path(ref) if ref in CATALOG and is_installed(ref) else Path(ref).expanduser()
    if not folder.is_dir() or not any((folder / f).exists() for f in ("tokenizer.json", "tokenizer_config.json")):
        return None
    with quiet_transformers():
        return AutoTokenizer.from_pretrained(str(folder), local_files_only=True)


def _load_folder(folder: Path, ref: str, dtype: Any, device_map: Any) -> LoadedModel:
    folder = folder.resolve()
    if not (folder / "config.json").is_file():
        ggufs = sorted(folder.glob("*.gguf"))
        if len(ggufs) == 1:
            return _load_gguf_file(ggufs[0], ref, dtype, device_map)
        raise ModelNotFoundError(
            f"{ref} is a folder but not a Hugging Face model folder (no config.json"
            f"{'; several .gguf files: name one' if ggufs else ''}). Give a folder written by "
            "`save_pretrained`, a .gguf file, or a catalog name."
        )
    hint = "Re-download or re-save the model folder (the weight files are damaged)."
    _check_safetensors(folder, hint)
    digest = _folder_hash(folder)
    return _load_hf(str(folder), ref, dtype, device_map, hint, source=str(folder), source_hash=digest)


def _folder_hash(folder: Path) -> str | None:
    """sha256 of the folder's safetensors (`core.hashing.sha256_files`); taken from a sinkscope
    cache's `sinkscope.json` when present."""
    if not any(folder.glob("*.safetensors")):
        return None
    try:
        meta = json.loads((folder / META_FILE).read_text())
        files = {p.name for p in folder.glob("*.safetensors")}
        if meta.get("weights_sha256") and set(meta.get("files_sha256", {})) == files:
            return meta["weights_sha256"]
    except (OSError, ValueError):
        pass
    return sha256_files(folder.glob("*.safetensors"))[0]


def _load_gguf_file(path: Path, ref: str, dtype: Any, device_map: Any) -> LoadedModel:
    path = path.resolve()
    print(f"sinkscope: dequantising {path.name} (GGUF; this takes a while)...", file=sys.stderr, flush=True)
    hint = "Download the .gguf file again (it is truncated or damaged)."
    with quiet_transformers():
        model, tokenizer = load_gguf(path, dtype=dtype, device_map=device_map, hint=hint)
    return wrap_pair(
        model,
        tokenizer,
        ref=ref,
        source=str(path),
        source_hash=sha256_file(path),
        extra={"gguf": True},
    )


# ---------------------------------------------------------------------------------------------
# Hub ids
# ---------------------------------------------------------------------------------------------


def _is_network_error(e: BaseException) -> bool:
    names = {type(x).__name__ for x in _chain(e)}
    if names & {
        "LocalEntryNotFoundError",
        "OfflineModeIsEnabled",
        "ConnectionError",
        "ConnectTimeout",
        "ReadTimeout",
        "ConnectError",
        "TimeoutException",
    }:
        return True
    return "couldn't connect to" in str(e).lower()


def _chain(e: BaseException):
    seen = set()
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        yield e
        e = e.__cause__ or e.__context__


def _offline_env() -> bool:
    return any(
        os.environ.get(v, "").strip().lower() in {"1", "true", "yes", "on"}
        for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    )


def _hub_reachable(timeout: float = 3.0) -> bool:
    """Quick TCP check of the hub endpoint (skipped when a proxy is configured)."""
    if any(os.environ.get(v) for v in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return True
    try:
        from huggingface_hub import constants

        endpoint = os.environ.get("HF_ENDPOINT") or constants.ENDPOINT
    except Exception:  # noqa: BLE001
        endpoint = "https://huggingface.co"
    u = urlparse(endpoint)
    host = u.hostname or "huggingface.co"
    port = u.port or (443 if u.scheme != "http" else 80)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _unreachable(ref: str, why: str) -> ModelNotFoundError:
    return ModelNotFoundError(
        f"Cannot load {ref!r} from the Hugging Face hub: {why}, and it is not in the local HF cache. "
        f"Use a catalog name (`sinkscope models list`, e.g. {DEFAULT_MODEL}) or a local model folder / "
        ".gguf file."
    )


def _load_hub(ref: str, dtype: Any, device_map: Any) -> LoadedModel:
    hint = "Delete it from the Hugging Face cache (~/.cache/huggingface) and download it again."
    # 1. already in the local HF cache? (works offline, no network touched)
    try:
        return _load_hf(
            ref, ref, dtype, device_map, hint, source=ref, source_hash=None, local_files_only=True
        )
    except (OSError, CorruptWeightsError, ModelNotFoundError):
        pass  # not (completely) cached: try the hub itself
    # 2. not cached: is the hub reachable at all?
    if _offline_env():
        raise _unreachable(ref, "offline mode is on (HF_HUB_OFFLINE / TRANSFORMERS_OFFLINE)") from None
    if not _hub_reachable():
        raise _unreachable(ref, "the hub is unreachable (no network)") from None
    try:
        return _load_hf(ref, ref, dtype, device_map, hint, source=ref, source_hash=None)
    except OSError as e:
        if _is_network_error(e):
            raise _unreachable(ref, "the hub is unreachable") from None
        names = {type(x).__name__ for x in _chain(e)}
        if "GatedRepoError" in names:
            raise ModelNotFoundError(
                f"{ref!r} is a gated model on the hub: accept its licence on huggingface.co and log in "
                "(`hf auth login`), or use a catalog name / local path."
            ) from None
        raise ModelNotFoundError(
            f"{ref!r} was not found on the Hugging Face hub (and is not a local path or catalog name). "
            f"Check the id; catalog models: {', '.join(CATALOG)}."
        ) from None
