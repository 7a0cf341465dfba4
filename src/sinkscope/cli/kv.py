"""`sinkscope kv`: NLL under simulated KV-cache eviction, per policy and budget (docs/method.md §10)."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from typing import Annotated, Optional

import typer

from sinkscope.cli.common import (
    check_input_options,
    console,
    err_console,
    progress_bar,
    read_inputs,
    stage,
    user_errors,
)
from sinkscope.cli.options import (
    MODEL_DEFAULT,
    ChatOpt,
    D,
    DatasetOpt,
    DtypeOpt,
    FileOpt,
    IdsFieldOpt,
    LimitOpt,
    ModelOpt,
    OverwriteOpt,
    PromptFieldOpt,
    ResponseFieldOpt,
    SplitOpt,
    TauOpt,
    TextFieldOpt,
    check_choice,
    input_fields,
    require,
)
from sinkscope.core.errors import InputError
from sinkscope.workflows.outputs import check_output_folder

#: what `kv` writes into its folder
KV_OUTPUTS = ("manifest.json", "kv.parquet", "texts.parquet", "dropped.parquet", "report.html", "figures/")
POLICY_NAMES = ("full", "recent", "streaming", "streaming+secondary", "heavy-hitter", "snap")  # capture.kv_policies.POLICIES


def _number(flag: str, value: str) -> int | float:
    """'128' -> 128 keys; '0.25' -> a fraction of the text."""
    try:
        return int(value)
    except ValueError:
        pass
    try:
        return float(value)
    except ValueError:
        raise InputError(f"{flag} must be an integer or a fraction in (0, 1] (got '{value}').") from None


def kv(
    text: Annotated[Optional[list[str]], typer.Argument(help="Text(s) to evaluate (or use --file).")] = None,
    file: FileOpt = None,
    dataset: DatasetOpt = None,
    split: SplitOpt = None,
    limit: LimitOpt = None,
    text_field: TextFieldOpt = None,
    ids_field: IdsFieldOpt = None,
    prompt_field: PromptFieldOpt = None,
    response_field: ResponseFieldOpt = None,
    chat: ChatOpt = False,
    model: ModelOpt = MODEL_DEFAULT,
    policy: Annotated[Optional[list[str]], typer.Option("--policy", "-p", help="Policy (repeat the option): "
                      + ", ".join(POLICY_NAMES) + ". Default: all.")] = None,
    budget: Annotated[Optional[list[str]], typer.Option("--budget", "-b", help="Kept keys per query: an integer, "
                      "or a fraction in (0, 1] of each text's tokens (repeat the option). Default: 64 128 256 512.")] = None,
    prompt_len: Annotated[Optional[str], typer.Option(help="Prompt length P (tokens, or a fraction of the text): "
                          "NLL is scored from P on, snap selects from the prompt. Default: the trace's "
                          "n_prompt_tokens, else half the text. Rounded down to a multiple of 32.")] = None,
    max_secondary: Annotated[int, typer.Option(help="streaming+secondary: at most this many secondary sinks kept.")] = 8,
    tau: TauOpt = D.tau,
    recent_frac: Annotated[float, typer.Option(help="heavy-hitter and snap: share of the budget kept as the recent window.")] = 0.5,
    obs_window: Annotated[int, typer.Option(help="snap: observation window (last queries of the prompt).")] = 32,
    n_boot: Annotated[int, typer.Option(help="Bootstrap resamples (over texts) of the 95% interval.")] = 2000,
    seed: Annotated[int, typer.Option(help="Bootstrap seed.")] = 0,
    dtype: DtypeOpt = "float32",
    device: Annotated[Optional[str], typer.Option(help="Load the model onto this torch device (e.g. cuda, cuda:1). "
                      "Default: CPU.")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Output folder. Default: sinkscope-runs/kv-<model>-<time>.")] = None,
    overwrite: OverwriteOpt = False,
    threads: Annotated[Optional[int], typer.Option(help="torch threads. Default: all cores if the machine is idle, "
                       "else 1 (spinning threads on busy shared cores are ~10x slower).")] = None,
) -> None:
    """Measure what KV-cache eviction costs: next-token NLL of each text when every attention layer keeps only BUDGET keys per query, for full / recent / streaming (first 4 + window) / streaming+secondary (secondary sinks detected so far replace the window's oldest keys) / heavy-hitter (H2O) / snap (SnapKV), at equal budget (docs/method.md §10).

    Prints mean NLL, perplexity and delta vs the full cache with a 95% bootstrap interval over texts, and writes DIR/manifest.json, kv.parquet, texts.parquet, dropped.parquet (attention mass each policy drops per layer), report.html and figures/ (kv_delta, kv_dropped).

    Resumable: every finished (text, policy, budget) evaluation is stored in DIR/.partial at once, so re-running an interrupted command with the same arguments continues where it stopped, and a larger --limit later reuses the texts already done. Other settings into the same DIR are refused; --overwrite starts it again.

    Examples:\n
      sinkscope kv "A long text ..." --budget 64 --policy streaming --policy streaming+secondary\n
      sinkscope kv --file docs/reproduction/long/traces/smollm2-135m.jsonl --limit 8 --out runs/kv-smol\n
      sinkscope kv --file texts.jsonl --budget 0.25 --budget 0.5 --prompt-len 0.5
    """
    with user_errors():
        policies = list(dict.fromkeys(policy or POLICY_NAMES))
        for p in policies:
            check_choice("--policy", p, POLICY_NAMES)
        budgets = [_number("--budget", b) for b in (budget or ["64", "128", "256", "512"])]
        for b in budgets:
            require("--budget", b, (isinstance(b, int) and b >= 1) or (isinstance(b, float) and 0 < b <= 1),
                    "an integer >= 1 or a fraction in (0, 1]")
        plen = _number("--prompt-len", prompt_len) if prompt_len is not None else None
        if plen is not None:
            require("--prompt-len", plen, (isinstance(plen, int) and plen >= 0) or (isinstance(plen, float) and 0 <= plen < 1),
                    "an integer >= 0 or a fraction in [0, 1)")
        require("--tau", tau, 0 < tau <= 1, "in (0, 1]")
        require("--max-secondary", max_secondary, max_secondary >= 0, "an integer >= 0")
        require("--recent-frac", recent_frac, 0 < recent_frac <= 1, "in (0, 1]")
        require("--obs-window", obs_window, obs_window >= 1, "an integer >= 1")
        require("--n-boot", n_boot, n_boot >= 1, "an integer >= 1")
        if limit is not None:
            require("--limit", limit, limit >= 1, "an integer >= 1")
        default = Path("sinkscope-runs") / f"kv-{Path(model).name}-{datetime.now():%Y%m%d-%H%M%S}"
        dest = out or default
        from sinkscope.workflows.kv import KVText, evaluate, is_work_folder
        from sinkscope.workflows.kv.inputs import kv_texts
        from sinkscope.workflows.reproduce.plans import choose_threads

        if not is_work_folder(dest):  # a kv run's own folder is resumed (its settings are checked after load)
            check_output_folder(dest, overwrite=overwrite)
        n_threads = choose_threads(threads)
        fields = input_fields(text_field, ids_field, prompt_field, response_field)
        texts: list = list(text or [])
        source: dict = {"arguments": len(texts)} if texts else {}
        check_input_options(file, dataset, split, fields)
        if file is not None or dataset is not None:
            read = read_inputs(file, "fail", dataset=dataset, split=split, limit=limit, fields=fields)
            texts += kv_texts(read, file if dataset is None else None)
            source.update(read.source)
        if not texts:
            raise InputError("give a TEXT argument, --file or --dataset.")
        writers = {t.model for t in texts if isinstance(t, KVText) and t.model and t.model != Path(model).name}
        foreign = _writer_tokenizers(writers, model)

        import torch

        import sinkscope

        torch.set_num_threads(n_threads)
        with progress_bar(eta=False) as bar:
            with stage(bar, f"load {model} ({n_threads} thread{'s' if n_threads > 1 else ''})"):
                lm = sinkscope.load_model(model, dtype=dtype, device_map={"": device} if device else None)
            _check_same_vocabulary(foreign, lm.tokenizer, model)
            progress = _Ticker(bar)
            try:
                res = evaluate(lm, texts, policies, budgets, prompt_len=plen, max_secondary=max_secondary, tau=tau,
                               recent_frac=recent_frac, obs_window=obs_window, n_boot=n_boot, seed=seed,
                               progress=progress, work=dest, restart=overwrite, chat=chat)
            except KeyboardInterrupt:
                err_console.print(f"[yellow]interrupted[/]: the finished evaluations are kept in {dest}/.partial; "
                                  "run the same command again to continue.", soft_wrap=True)
                raise typer.Exit(130) from None
            if source:
                res.manifest["inputs"] = source  # where the texts came from, the fields used
            with stage(bar, f"write {dest}"):
                saved = res.save(dest, overwrite=True)
        _print_table(res.table)
        _print_paired(res.comparisons())
        ev = res.manifest["evaluations"]
        console.print(f"\nwrote [bold]{saved}[/] ({', '.join(KV_OUTPUTS)}); {ev['computed']} evaluations computed, "
                      f"{ev['reused']} reused from {dest}/.partial")


def _writer_tokenizers(writers: set[str], model: str) -> dict:
    """The tokenizers of the models that wrote --file's token ids (other than --model); refuses,
    before any load, a writer whose tokenizer is not on this machine to compare."""
    from sinkscope.models import local_tokenizer

    found = {}
    for w in sorted(writers):
        tok = local_tokenizer(w)
        if tok is None:
            raise InputError(
                f"--file holds token ids written by {w}, not --model {model}: token ids only make sense for the "
                f"tokenizer that made them, and {w}'s tokenizer is not on this machine to compare "
                f"(`sinkscope models pull {w}` if it is a catalog model), or give the texts as \"text\" lines.")
        found[w] = tok
    return found


def _check_same_vocabulary(foreign: dict, tokenizer, model: str) -> None:
    """Token ids written by another model are used as they are only when its vocabulary (token ->
    id, added tokens included) equals --model's, e.g. models of one family sharing a tokenizer."""
    mine = tokenizer.get_vocab()
    for w, tok in foreign.items():
        theirs = tok.get_vocab()
        if theirs != mine:
            differ = sum(1 for t, i in theirs.items() if mine.get(t) != i) + len(set(mine) - set(theirs))
            raise InputError(f"--file holds token ids written by {w}, whose vocabulary differs from --model "
                             f"{model}'s ({len(theirs):,} vs {len(mine):,} tokens, {differ:,} entries differ): "
                             "give the texts as \"text\" lines, or use token ids from the same tokenizer.")
        err_console.print(f"token ids written by {w}: the same vocabulary as {model} ({len(mine):,} tokens), "
                          "used as they are", soft_wrap=True)


class _Ticker:
    """The `progress(unit, done, total)` of `evaluate` on a progress bar: a "texts" task whose
    description carries the ETA (forward passes left x mean seconds per forward pass so far), and a
    "forward passes" task."""

    def __init__(self, bar) -> None:
        self.bar, self.tasks, self.start = bar, {}, time.monotonic()
        self.forwards = (0, 0)

    def __call__(self, unit: str, done: int, total: int) -> None:
        if unit == "forward passes":
            self.forwards = (done, total)
        if unit not in self.tasks:
            self.tasks[unit] = self.bar.add_task(unit, total=total, completed=done, unit=unit.split()[-1])
        self.bar.update(self.tasks[unit], completed=done, total=total)
        fw_done, fw_total = self.forwards
        if "texts" in self.tasks and fw_done:
            left = (time.monotonic() - self.start) / fw_done * (fw_total - fw_done)
            self.bar.update(self.tasks["texts"], description=f"texts (eta {_duration(left)})")


def _duration(s: float) -> str:
    """'42 s', '12 min', '2 h 05 min'."""
    if s < 60:
        return f"{s:.0f} s"
    m = int(round(s / 60))
    return f"{m} min" if m < 60 else f"{m // 60} h {m % 60:02d} min"


def _print_rows(title: str, columns: tuple[str, ...], rows) -> None:
    """A rich table on stdout: `columns` right-aligned except "policy", `rows` of strings."""
    from rich.table import Table

    t = Table(title=title)
    for col in columns:
        t.add_column(col, justify="left" if col == "policy" else "right")
    for row in rows:
        t.add_row(*row)
    console.print(t)


def _print_table(table) -> None:
    from sinkscope.report.kv import budget_label

    _print_rows("NLL under KV eviction (Δ = policy − full, mean over texts, 95% bootstrap CI)",
                ("budget", "keys", "policy", "texts", "mean NLL", "ppl", "Δ NLL", "95% CI", "dropped mass"),
                ((budget_label(r.budget, r.budget_fraction), f"{r.mean_keys:.0f}", r.policy, str(r.n_texts), f"{r.mean_nll:.4f}", f"{r.ppl:.3f}",
                  f"{r.delta_nll:+.4f}", f"[{r.ci_lo:+.4f}, {r.ci_hi:+.4f}]", f"{r.dropped_mass:.3f}")
                 for r in table.sort_values("mean_keys", kind="stable").itertuples()))


def _print_paired(paired) -> None:
    """Every policy minus streaming over the same texts (`KVResult.comparisons`); nothing without streaming."""
    if not len(paired):
        return
    from sinkscope.report.kv import budget_label

    base = paired["baseline"].iloc[0]
    _print_rows(f"Paired against {base} (policy − {base} on the same texts; negative is better)",
                ("policy", "budget", "texts", f"Δ NLL vs {base}", "95% CI", "better on"),
                ((r.policy, budget_label(r.budget, r.budget_fraction), str(r.n_texts), f"{r.mean_diff:+.4f}", f"[{r.ci_lo:+.4f}, {r.ci_hi:+.4f}]",
                  f"{r.n_better} of {r.n_texts}") for r in paired.itertuples()))
