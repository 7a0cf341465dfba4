"""Hand-made claim numbers (one model entry of a run, and a run) and a two-prompt synthetic scan,
shared by the reproduce tests."""

from __future__ import annotations

from sinkscope.workflows.reproduce import RULES


def existence(**kw):
    d = {
        "n_layers": 24, "n_prompts": 4, "n_tokens": 2000, "n_tokens_distinct": 1950, "n_secondary": 20,
        "n_secondary_records": 26, "per_1k_tokens": 10.3, "n_prompts_with_secondary": 4, "share_in_generated": 0.5,
        "shared_prefix_tokens": 24, "share_in_shared_prefix": 0.1,
        "position": {"median": 150.0, "q1": 80.0, "q3": 300.0, "min": 5.0, "max": 450.0},
        "n_primary_like": 0, "birth_layers": [8, 14],
        "rel_birth": {"median": 0.5, "q1": 0.4, "q3": 0.6, "min": 0.35, "max": 0.61},
        "share_early": 0.0, "share_middle": 1.0, "share_late": 0.0,
        "lifetime": {"median": 8.0, "q1": 6.0, "q3": 10.0, "min": 5.0, "max": 12.0},
        "mean_score_secondary": 0.05, "mean_score_primary": 0.4, "score_ratio": 0.125,
        "top_tokens": [[" the", 10], ["\n", 5]], "n_secondary_centred": 18,
    }
    d.update(kw)
    return d


def causal(**kw):
    d = {"mode": "project-out", "n_prompts": 3, "n_sinks": 9, "n_removed": 8, "share_removed": 8 / 9,
         "outcomes": {"removed": 8, "weakened": 0, "unchanged": 0, "strengthened": 1, "promoted": 1},
         "mean_delta_score": -0.04, "mean_score_before": 0.05, "mean_delta_lifetime": -6.0,
         "mean_delta_primary_score": 0.01, "mean_delta_nll": 0.02, "max_delta_nll": 1.5}
    d.update(kw)
    return d


def formation(**kw):
    d = {"n": 20, "median_cos": 0.97, "median_cos_primary_mlp": 0.99, "share_abs_cos_09": 0.9,
         "median_mlp_share": 0.95, "median_mlp_norm": 300.0, "causal": causal()}
    d.update(kw)
    return d


def norm_law(**kw):
    d = {"n": 20, "n_distinct_lifetimes": 6, "spearman_score": 0.9, "spearman_score_ci": [0.8, 0.95], "pearson_score": 0.85,
         "pearson_score_ci": [0.7, 0.9], "spearman_lifetime": 0.6, "spearman_lifetime_ci": [0.3, 0.8],
         "pearson_lifetime": 0.55, "pearson_lifetime_ci": [0.2, 0.8], "reason_score": None,
         "reason_lifetime": None, "n_boot": 2000}
    d.update(kw)
    return d


def weakening(**kw):
    d = {"n_layers": 24, "window": [2, 21], "plateau": 0.4, "plateau_layer": 4, "dip_layer": 12,
         "dip_rel_depth": 0.52, "dip_score": 0.08, "dip_ratio": 0.2, "weakened_layers": [8, 9, 10, 11, 12, 13],
         "n_births": 20.0, "coincides_with_births": 0.8, "share_prompts_weakened": 0.75, "reason": None}
    d.update(kw)
    return d


def levels(**kw):
    d = {"n_layers": 24, "n_sinks": 20, "n_levels": 2, "n_clusters": 3, "levels": [
        {"birth": [8, 9], "lifetime": [5, 6], "count": 10, "share": 0.5, "top_tokens": [[" the", 6]]},
        {"birth": [13, 14], "lifetime": [10, 11], "count": 9, "share": 0.45, "top_tokens": [["\n", 4]]},
    ]}
    d.update(kw)
    return d


def model(name="m-a", **parts):
    entry = {
        "name": name, "label": name, "status": "ok", "reason": None, "params": "1B",
        "existence": existence(), "formation": formation(), "norm_law": norm_law(),
        "weakening": weakening(), "levels": levels(),
        "setup": {"n_prompts": 4, "categories": {"math": 2, "code": 1, "prose": 1}, "chat": True, "generate": 32,
                  "prompt_tokens": {"min": 100, "max": 300, "median": 200.0, "total": 800},
                  "generated_tokens": 128, "tokens_total": 928},
        "timings": {"load_s": 1.0, "scan_s": 30.0, "interventions_s": 5.0, "figures_s": 2.0, "total_s": 38.0},
        "figures": {"normlaw": f"reproduction/{name}/normlaw.png", "weakening": f"reproduction/{name}/weakening.png",
                    "levels": f"reproduction/{name}/levels.png"},
        "scan_dir": f"reproduce-runs/{name}/scan",
    }
    entry.update(parts)
    return entry


def run_dict(models, mode="full"):
    """A run dict as `reproduce` returns it, around hand-made model entries."""
    return {"mode": mode, "created": "2026-01-01T00:00:00+00:00", "command": "sinkscope reproduce",
            "environment": {"cpus": 2, "threads": 1, "python": "3.11", "torch": "2.13", "transformers": "5.24",
                            "sinkscope": "0.1.0"},
            "config": {"mode": "general", "tau": 0.9, "cosine": "raw", "k": 3.0},
            "rules": dict(RULES), "plans": {m["name"]: {"prompts": 4, "generate": 32, "intervene_prompts": 3, "max_sinks": 3} for m in models},
            "models": models, "timings": {"total_s": 120.0}}


def two_prompt_scan(change_at: int):
    """Two synthetic prompts (tests/analysis/synth.py, 5 secondary sinks each at positions 20, 35,
    50, 64, 70) whose token ids agree up to `change_at`."""
    from sinkscope.analysis import DetectConfig, analyze
    from sinkscope.capture.trace import CaptureSettings, Trace
    from sinkscope.workflows.scan import ScanResult
    from tests.analysis import synth

    a, b = synth.make_trace(synth.spec24()), synth.make_trace(synth.spec24())
    b.token_ids = b.token_ids.copy()
    b.token_ids[change_at] += 1000
    cfg = DetectConfig()
    manifest = {"prompts": [{"n_prompt_tokens": 100}, {"n_prompt_tokens": 100}]}
    return ScanResult(Trace(prompts=[a, b], settings=CaptureSettings()), analyze([a, b], cfg), manifest)
