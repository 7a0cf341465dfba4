"""The typed result of `sinkscope kv` and its folder (docs/method.md §10).

    DIR/manifest.json     "kind": "kv", versions, model, policies, budgets, every policy parameter
    DIR/kv.parquet        one row per policy x budget: mean NLL, perplexity, delta vs full, 95% CI
    DIR/texts.parquet     one row per text x policy x budget: the text's mean NLL over its scored
                          positions and its delta vs full
    DIR/dropped.parquet   one row per policy x budget x layer: mean dropped full-cache attention mass
    DIR/figures/          kv_delta.(png|svg) (delta NLL vs budget per policy), kv_dropped.(png|svg)
    DIR/report.html       the tables (incl. every policy paired against streaming, `comparisons`)
                          and figures on one self-contained page
    DIR/.partial/         the finished per-text evaluations of a resumable run (`workflows.kv.work`),
                          carried over when `save` replaces the folder

The interval is a seeded percentile bootstrap over texts of the mean per-text delta (each text
weighs the same): `bootstrap_mean_ci`.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sinkscope.core.errors import InputError
from sinkscope.core.fileio import TMP_PREFIX, write_dir_atomic, write_json
from sinkscope.report.kv import budget_labels, kv_html, numeric_budgets, write_kv_figures
from sinkscope.workflows.kv.work import PARTIAL

TABLE_COLUMNS = ("model", "policy", "budget", "budget_fraction", "n_texts", "mean_nll", "ppl", "delta_nll", "ci_lo", "ci_hi",
                 "mean_keys", "dropped_mass")


def bootstrap_mean_ci(x: np.ndarray, n_boot: int = 2000, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap 95% interval of mean(x) (docs/method.md §10).

    n_boot resamples of the n values with replacement (numpy default_rng(seed)).

    Shapes:
        x: [N] with N = number of values.

    Returns:
        (low, high); (nan, nan) for no value, (x, x) for one.
    """
    x = np.asarray(x, dtype=np.float64)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, x.size, size=(n_boot, x.size))].mean(axis=1)
    return float(np.quantile(means, 0.025)), float(np.quantile(means, 0.975))


def summarize(per_text: pd.DataFrame, dropped: pd.DataFrame, n_boot: int, seed: int) -> pd.DataFrame:
    """The table of `kv.parquet` from the per-text rows (see the module docstring)."""
    rows = []
    per_text, dropped = numeric_budgets(per_text), numeric_budgets(dropped) if len(dropped) else dropped
    per_text = per_text.assign(_b=budget_labels(per_text))  # a budget is two columns, one of them NA
    d_label = budget_labels(dropped) if len(dropped) else pd.Series([], dtype=object)
    for (model, policy, label), g in per_text.groupby(["model", "policy", "_b"], sort=False):
        lo, hi = bootstrap_mean_ci(g["delta_nll"].to_numpy(), n_boot, seed)
        mean_nll = float(g["nll"].mean())
        d = dropped[(dropped["model"] == model) & (dropped["policy"] == policy) & (d_label == label)]
        rows.append(dict(model=model, policy=policy, budget=g["budget"].iloc[0],
                         budget_fraction=g["budget_fraction"].iloc[0], n_texts=len(g), mean_nll=mean_nll,
                         ppl=float(np.exp(mean_nll)), delta_nll=float(g["delta_nll"].mean()), ci_lo=lo, ci_hi=hi,
                         mean_keys=float(g["keys"].mean()),
                         dropped_mass=float(d["dropped_mass"].mean()) if len(d) else 0.0))
    return numeric_budgets(pd.DataFrame(rows, columns=list(TABLE_COLUMNS)))


PAIRED_COLUMNS = ("model", "budget", "budget_fraction", "policy", "baseline", "n_texts", "mean_diff", "ci_lo", "ci_hi", "n_better")


def paired(per_text: pd.DataFrame, policy: str, baseline: str = "streaming", n_boot: int = 2000,
           seed: int = 0) -> pd.DataFrame:
    """Per model and budget, the paired difference of two policies over the same texts (same
    scored positions): mean over texts of nll(policy) - nll(baseline), its bootstrap 95% interval
    (`bootstrap_mean_ci`), and on how many texts `policy` has the lower NLL (docs/KV.md)."""
    for name in (policy, baseline):
        if name not in set(per_text["policy"]):
            raise InputError(f"policy {name!r} is not in this kv result (it has {', '.join(dict.fromkeys(per_text['policy']))}).")
    rows = []
    per_text = numeric_budgets(per_text)
    per_text = per_text.assign(_b=budget_labels(per_text))
    for (model, _), g in per_text.groupby(["model", "_b"], sort=False):
        a = g[g["policy"] == policy].set_index("text")["nll"]
        b = g[g["policy"] == baseline].set_index("text")["nll"]
        d = (a - b).dropna()
        lo, hi = bootstrap_mean_ci(d.to_numpy(), n_boot, seed)
        rows.append(dict(model=model, budget=g["budget"].iloc[0], budget_fraction=g["budget_fraction"].iloc[0],
                         policy=policy, baseline=baseline, n_texts=len(d),
                         mean_diff=float(d.mean()) if len(d) else float("nan"), ci_lo=lo, ci_hi=hi,
                         n_better=int((d < 0).sum())))
    out = numeric_budgets(pd.DataFrame(rows, columns=list(PAIRED_COLUMNS)))
    order = np.argsort(budget_labels(out).map(float).to_numpy(), kind="stable")  # 0.25 before 64, as before
    return out.iloc[order].reset_index(drop=True)


@dataclass
class KVResult:
    """What `evaluate` returns (docs/method.md §10).

    table     one row per model x policy x budget (`TABLE_COLUMNS`): mean_nll over texts of each
              text's mean NLL over its scored positions, ppl = exp(mean_nll), delta_nll = mean over
              texts of (policy - full), [ci_lo, ci_hi] its bootstrap 95% interval, mean_keys the
              budget in keys (fractions resolve per text), dropped_mass the mean over layers
    per_text  one row per text x policy x budget: nll, delta_nll, keys (K), n_tokens, prompt_len, n_scored
    dropped   one row per policy x budget x layer: dropped_mass, the mean over texts and scored
              queries of the full-cache attention on the keys the policy hid (mean over heads)
    manifest  the run's settings
    """

    table: pd.DataFrame
    per_text: pd.DataFrame
    dropped: pd.DataFrame
    manifest: dict[str, Any] = field(default_factory=dict)

    def row(self, policy: str, budget: Any) -> dict[str, Any]:
        """The table row of (policy, budget) as a dict (budget: a count such as 64 or a fraction such
        as 0.25, as given to `evaluate`); KeyError when absent."""
        t = self.table[(self.table["policy"] == policy) & (budget_labels(self.table) == f"{budget:g}")]
        if t.empty:
            raise KeyError(f"no row for policy {policy!r} at budget {budget!r}")
        return t.iloc[0].to_dict()

    def save(self, path: str | Path, overwrite: bool = False, figures: bool = True) -> Path:
        """Write the result folder atomically (the layout in the module docstring). An existing
        PATH/.partial (the stored evaluations of a resumable run) is copied into the new folder, so
        a later run with more texts still reuses them."""
        partial = Path(path) / PARTIAL

        def write(d: Path) -> None:
            self.write_into(d, figures=figures)
            if partial.is_dir():
                shutil.copytree(partial, d / PARTIAL, ignore=shutil.ignore_patterns(f"{TMP_PREFIX}*"))

        return write_dir_atomic(path, write, overwrite=overwrite)

    def write_into(self, d: Path, figures: bool = True) -> None:
        d.mkdir(parents=True, exist_ok=True)
        self.table.to_parquet(d / "kv.parquet", index=False)
        self.per_text.to_parquet(d / "texts.parquet", index=False)
        self.dropped.to_parquet(d / "dropped.parquet", index=False)
        write_json(d / "manifest.json", self.manifest)
        svgs: dict[str, str] = {}
        if figures:
            for p in write_kv_figures(self.table, self.dropped, d / "figures"):
                if p.suffix == ".svg":
                    text = p.read_text(encoding="utf-8")
                    svgs[p.stem] = text[text.find("<svg"):]  # inline: no XML prolog in HTML
        (d / "report.html").write_text(kv_html(self.table, self.dropped, self.manifest, svgs, self.comparisons()),
                                       encoding="utf-8")

    def paired(self, policy: str, baseline: str = "streaming", n_boot: int = 2000, seed: int = 0) -> pd.DataFrame:
        """`paired(self.per_text, ...)`: policy minus baseline per budget, paired over texts."""
        return paired(self.per_text, policy, baseline, n_boot, seed)

    def comparisons(self, baseline: str = "streaming") -> pd.DataFrame:
        """`paired` of every evicting policy other than `baseline` against it (rows in policy
        order, then budget), with the run's bootstrap settings; no rows when `baseline` was not
        run. The report's and the command's "paired against streaming" table."""
        run = list(dict.fromkeys(self.per_text["policy"])) if len(self.per_text) else []
        if baseline not in run:
            return pd.DataFrame(columns=list(PAIRED_COLUMNS))
        p = self.manifest.get("parameters", {})
        parts = [self.paired(name, baseline, int(p.get("n_boot", 2000)), int(p.get("seed", 0)))
                 for name in run if name not in ("full", baseline)]
        return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=list(PAIRED_COLUMNS))

    @classmethod
    def load(cls, path: str | Path) -> KVResult:
        """Read a folder written by `save`."""
        d = Path(path)
        try:
            manifest = json.loads((d / "manifest.json").read_text(encoding="utf-8"))
            tables = [pd.read_parquet(d / f"{n}.parquet") for n in ("kv", "texts", "dropped")]
        except (OSError, ValueError) as e:
            raise InputError(f"'{d}' is not a sinkscope kv result folder ({e}).") from e
        if manifest.get("kind") != "kv":
            raise InputError(f"'{d}/manifest.json' is not a kv manifest (\"kind\" is {manifest.get('kind')!r}).")
        return cls(*[numeric_budgets(t) for t in tables], manifest=manifest)
