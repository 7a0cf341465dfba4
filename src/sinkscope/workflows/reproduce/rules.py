"""The verdict rules: every threshold a verdict uses (`RULES`, also rendered into the document
by `render.rules_markdown`) and the pure functions that turn one model's claim numbers
(`stats.summarize_model`) into a verdict and its reason. docs/method.md "The claims to reproduce"."""

from __future__ import annotations

from typing import Any, Literal, get_args

from sinkscope.workflows.reproduce.values import as_float, fmt_num, fmt_pct

Verdict = Literal["reproduced", "partly", "not reproduced", "not testable here"]
VERDICTS: tuple[str, ...] = get_args(Verdict)
CLAIMS = (1, 2, 3, 4, 5)

RULES: dict[str, float] = {
    "existence_min_n": 5,  # at least this many secondary sinks ...
    "existence_min_share_middle": 0.5,  # ... at least this share born at relative depth 0.25-0.75
    "middle_lo": 0.25,
    "middle_hi": 0.75,
    "formation_min_cos": 0.9,  # median oriented cos(m_t^b, h_p^b)
    "formation_min_share_aligned": 0.5,  # share of sinks with |cos| > 0.9
    "formation_min_mlp_share": 0.5,  # median MLP share of the jump along the primary direction
    "causal_min_removed": 0.5,  # project-out removes (outcome "removed", docs/method.md §4) at least this share of the sinks
    "normlaw_min_n": 10,  # fewer distinct secondary sinks: intervals too wide to judge
    "normlaw_min_lifetimes": 3,  # the lifetime test needs this many distinct lifetimes
    "weak_ratio": 0.5,  # dip / plateau below this = weakened
    "weak_mild_ratio": 0.8,  # below this (but >= weak_ratio) = a mild dip
    "weak_min_coincide": 0.5,  # share of births within +/-1 layer of a weakened layer
    "levels_min_n": 10,
    "levels_max_span": 0.25,  # a level is discrete when its birth and lifetime spans are <= 25% of L
    "levels_cover": 0.8,  # discrete levels must hold this share of the sinks (reproduced) ...
    "levels_cover_partly": 0.5,  # ... or this share (partly)
    # not a verdict rule: add a centred-cosine re-analysis row when that detector keeps fewer than
    # this share of the distinct secondary sinks (docs/method.md pitfalls: a shared dominant direction)
    "centred_variant_below": 0.5,
}


def verdict(v: Verdict, reason: str) -> dict[str, str]:
    """One verdict as stored in results.json: {"verdict": v, "reason": reason}."""
    assert v in VERDICTS, v
    return {"verdict": v, "reason": reason}


def verdict_existence(e: dict[str, Any] | None, r: dict[str, float] = RULES) -> dict[str, str]:
    """Claim 1: not reproduced without a secondary sink; reproduced with >= existence_min_n sinks,
    >= existence_min_share_middle born at relative depth middle_lo-middle_hi and a mean score
    below the primary's (0 < ratio < 1); partly otherwise."""
    if not e or not e.get("n_tokens"):
        return verdict("not testable here", "model not run")
    n = int(e.get("n_secondary") or 0)
    if n == 0:
        return verdict("not reproduced", f"no secondary sink in {e['n_tokens']} tokens")
    sm = as_float(e.get("share_middle")) or 0.0
    ratio = as_float(e.get("score_ratio"))
    rb = (e.get("rel_birth") or {}).get("median")
    fails = []
    if n < r["existence_min_n"]:
        fails.append(f"only {n} sinks (< {r['existence_min_n']:g})")
    if sm < r["existence_min_share_middle"]:
        fails.append(f"{sm:.0%} born in middle layers (median relative depth {fmt_num(rb)})")
    if ratio is None or not 0 < ratio < 1:
        fails.append(f"score ratio to the primary {fmt_num(ratio)} (not below 1)")
    base = f"{n} distinct sinks ({fmt_num(e.get('per_1k_tokens'), 1)}/1k tokens)"
    if not fails:
        return verdict("reproduced", f"{base}, {sm:.0%} born in middle layers, score {fmt_num(ratio)} x the primary's")
    return verdict("partly", f"{base}, but " + "; ".join(fails))


def verdict_formation(fm: dict[str, Any] | None, r: dict[str, float] = RULES) -> dict[str, str]:
    """Claim 2: observational test O (median oriented cos, share |cos| > 0.9, median MLP share)
    and causal test C (project-out removes >= causal_min_removed, outcome 'removed' of
    docs/method.md §4 "Outcomes"); reproduced with O and C,
    partly with one, not reproduced with neither."""
    if not fm or not fm.get("n"):
        return verdict("not testable here", "no secondary sink to explain")
    cos, share = as_float(fm.get("median_cos")), as_float(fm.get("share_abs_cos_09"))
    mlp = as_float(fm.get("median_mlp_share"))
    obs = (
        cos is not None and cos >= r["formation_min_cos"]
        and share is not None and share >= r["formation_min_share_aligned"]
        and mlp is not None and mlp >= r["formation_min_mlp_share"]
    )
    obs_txt = f"median cos {fmt_num(cos)}, {fmt_pct(share)} with |cos|>0.9, MLP share {fmt_num(mlp)}"
    c = fm.get("causal") or {}
    tested = bool(c.get("n_sinks"))
    removed = as_float(c.get("share_removed"))
    causal = tested and removed is not None and removed >= r["causal_min_removed"]
    oc = c.get("outcomes")
    rest = (f"; weakens {oc['weakened']}, leaves {oc['unchanged']}, strengthens {oc['strengthened']} "
            f"(promotes {oc['promoted']})" if oc else "")
    c_txt = (
        f"project-out removes {c.get('n_removed', 0)}/{c.get('n_sinks', 0)} ({fmt_pct(removed)}){rest}"
        if tested else "no causal check run"
    )
    return _by_tests(obs, causal, f"{obs_txt}; {c_txt}")


def _by_tests(a: bool, b: bool, txt: str) -> dict[str, str]:
    """reproduced when both tests pass, partly when one does, not reproduced when neither."""
    if a and b:
        return verdict("reproduced", txt)
    if a or b:
        return verdict("partly", txt)
    return verdict("not reproduced", txt)


def verdict_norm_law(nl: dict[str, Any] | None, r: dict[str, float] = RULES) -> dict[str, str]:
    """Claim 3 (docs/method.md §5): S = bootstrap 95% CI of Spearman(||m||, score) above 0; T = the same
    for the lifetime, judged only with >= normlaw_min_lifetimes distinct lifetimes; needs
    >= normlaw_min_n distinct sinks."""
    if not nl or (nl.get("n") or 0) < r["normlaw_min_n"]:
        n = (nl or {}).get("n") or 0
        return verdict("not testable here", f"{n} distinct secondary sinks (< {r['normlaw_min_n']:g})")
    if as_float(nl.get("spearman_score")) is None:
        return verdict("not testable here", f"correlation with the score undefined ({nl.get('reason_score')})")

    def above(key: str) -> bool:
        lo = as_float((nl.get(key) or [None, None])[0])
        return lo is not None and lo > 0

    n_life = nl.get("n_distinct_lifetimes")
    few = n_life is not None and n_life < r["normlaw_min_lifetimes"]
    s, t = above("spearman_score_ci"), above("spearman_lifetime_ci") and not few
    s_ci, t_ci = nl.get("spearman_score_ci") or [None, None], nl.get("spearman_lifetime_ci") or [None, None]
    s_txt = f"rho(norm, score) {fmt_num(nl.get('spearman_score'))} [{fmt_num(s_ci[0])}, {fmt_num(s_ci[1])}]"
    if as_float(nl.get("spearman_lifetime")) is None:
        t_txt = f"rho(norm, lifetime) undefined ({nl.get('reason_lifetime')})"
    elif few:
        t_txt = f"rho(norm, lifetime) not judged: only {n_life} distinct lifetimes"
    else:
        t_txt = f"rho(norm, lifetime) {fmt_num(nl.get('spearman_lifetime'))} [{fmt_num(t_ci[0])}, {fmt_num(t_ci[1])}]"
    return _by_tests(s, t, f"{s_txt}; {t_txt}; n = {nl.get('n')}")


def verdict_weakening(wk: dict[str, Any] | None, r: dict[str, float] = RULES) -> dict[str, str]:
    """Claim 4 (docs/method.md §6): W = dip / plateau < weak_ratio; B = >= weak_min_coincide of the
    births within +/-1 layer of a weakened layer. reproduced: W and B; partly: W alone or a mild
    dip (weak_ratio <= ratio < weak_mild_ratio); not reproduced otherwise."""
    ratio = as_float((wk or {}).get("dip_ratio"))
    if not wk or ratio is None:
        return verdict("not testable here", f"no dip defined ({(wk or {}).get('reason') or 'model not run'})")
    coin = as_float(wk.get("coincides_with_births"))
    w = ratio < r["weak_ratio"]
    b = coin is not None and coin >= r["weak_min_coincide"]
    dip = f"dip to {ratio:.2f} x plateau at layer {wk.get('dip_layer')}"
    if coin is None:
        births = "no secondary births"
    elif not wk.get("weakened_layers"):
        births = f"no layer below {r['weak_ratio']:g} x plateau, so no birth coincides"
    else:
        births = f"{coin:.0%} of births within +/-1 of a weakened layer"
    txt = f"{dip}; {births}"
    if w and b:
        return verdict("reproduced", txt)
    if w or ratio < r["weak_mild_ratio"]:
        return verdict("partly", txt + ("" if w else " (mild dip)"))
    return verdict("not reproduced", txt)


def discrete_levels(lv: dict[str, Any], r: dict[str, float] = RULES) -> list[dict[str, Any]]:
    """The levels whose birth and lifetime ranges each span <= levels_max_span x L layers."""
    L = max(int(lv.get("n_layers") or 1), 1)
    span = r["levels_max_span"] * L
    return [
        x for x in lv.get("levels") or []
        if (x["birth"][1] - x["birth"][0] + 1) <= span and (x["lifetime"][1] - x["lifetime"][0] + 1) <= span
    ]


def verdict_levels(lv: dict[str, Any] | None, r: dict[str, float] = RULES) -> dict[str, str]:
    """Claim 5 (docs/method.md §7): reproduced with >= 2 discrete levels holding >= levels_cover of the
    sinks; partly with discrete levels holding >= levels_cover_partly; needs >= levels_min_n sinks."""
    n = int((lv or {}).get("n_sinks") or 0)
    if not lv or n < r["levels_min_n"]:
        return verdict("not testable here", f"{n} secondary sinks (< {r['levels_min_n']:g})")
    disc = discrete_levels(lv, r)
    cover = sum(as_float(x.get("share")) or 0.0 for x in disc)
    txt = f"{lv.get('n_levels', 0)} level(s), {len(disc)} discrete, holding {cover:.0%} of {n} sinks"
    if len(disc) >= 2 and cover >= r["levels_cover"]:
        return verdict("reproduced", txt)
    if disc and cover >= r["levels_cover_partly"]:
        return verdict("partly", txt + (" (a single level)" if len(disc) == 1 else ""))
    return verdict("not reproduced", txt)


def verdicts(model: dict[str, Any]) -> dict[int, dict[str, str]]:
    """The five verdicts of one model entry of a run (status != 'ok' -> all not testable)."""
    if model.get("status") != "ok":
        why = model.get("reason") or "model not run"
        return {c: verdict("not testable here", why) for c in CLAIMS}
    return {
        1: verdict_existence(model.get("existence")),
        2: verdict_formation(model.get("formation")),
        3: verdict_norm_law(model.get("norm_law")),
        4: verdict_weakening(model.get("weakening")),
        5: verdict_levels(model.get("levels")),
    }
