"""The options the commands share, declared once.

Each option is a typer `Annotated` alias used by `scan`, `intervene` and `sweep`; choices come
from the `Literal` types (`literal_choice`), threshold defaults from `AnalysisConfig` (`DEFAULTS`),
and `analysis_config` is the one builder from option values to the config. Everything here is
checked while the command line is parsed or right after, before torch is imported or a model
loads, and every message names the option as the user typed it (`--tau`, not a class field).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Optional, get_args

import typer

from sinkscope.analysis.config import DEFAULTS, AnalysisConfig, ConfigError, CosineKind, Mode
from sinkscope.capture.inputs import InputFields, OnError
from sinkscope.core.errors import InputError
from sinkscope.models.catalog import DEFAULT_MODEL

Dtype = Literal["float32", "bfloat16"]  # what the CLI offers (the API also takes float16)
ExecutorKind = Literal["local", "ray"]  # sweep.executor.EXECUTORS


class OptionError(typer.BadParameter):
    """A bad option value, reported like every other input error: the message alone, exit 1."""

    exit_code = 1

    def format_message(self) -> str:
        return self.message


def literal_choice(literal: Any, flag: str) -> Any:
    """A parser accepting exactly the values of a `Literal` type; a bad value fails while the
    command line is parsed, with "--flag must be one of a, b (got 'x')."."""
    allowed = tuple(str(v) for v in get_args(literal))

    def parse(value: Any) -> str:
        if value in allowed:
            return str(value)
        raise OptionError(f"{flag} must be one of {', '.join(allowed)} (got '{value}').")

    return parse


def _choice(literal: Any, flag: str, *, help: str) -> Any:
    metavar = "[" + "|".join(str(v) for v in get_args(literal)) + "]"
    return typer.Option(flag, parser=literal_choice(literal, flag), metavar=metavar, help=help)


# ---- what to scan -----------------------------------------------------------------------------
FileOpt = Annotated[Optional[str], typer.Option(
    "--file", "-f",
    help=".txt (one prompt) or .jsonl, one input per line: a \"text\"; token ids (\"input_ids\" or "
    "\"token_ids\", used exactly as given); a \"prompt\" + \"response\" / \"output\" / \"completion\" (the "
    "response is the generated region); or vLLM's offline output (prompt_token_ids + outputs[0].token_ids). "
    "`bundled` = the bundled prompt set (113 prompts: math with worked solutions, code, prose, chat).",
)]
DatasetOpt = Annotated[Optional[str], typer.Option(
    help="Read the inputs with Hugging Face datasets: a local .jsonl / .json / .csv / .parquet file (never sent "
    "to the hub) or a hub dataset name; rows as --file's lines, with the field options.",
)]
SplitOpt = Annotated[Optional[str], typer.Option(help="--dataset: the split (default train).")]
LimitOpt = Annotated[Optional[int], typer.Option(help="Use only the first N inputs of --file / --dataset.")]
TextFieldOpt = Annotated[Optional[str], typer.Option(help="The text field of --file / --dataset rows (default text).")]
IdsFieldOpt = Annotated[Optional[str], typer.Option(
    help="A field of token ids, used exactly as given (default: input_ids, else token_ids; a row's n_prompt_tokens, "
    "when present, marks where the response starts).",
)]
PromptFieldOpt = Annotated[Optional[str], typer.Option(
    help="The prompt field (default prompt): rendered through the chat template with --chat, else used as is.",
)]
ResponseFieldOpt = Annotated[Optional[str], typer.Option(
    help="The response field (default: the first of response / output / completion present), appended verbatim "
    "after the prompt: the generated region.",
)]
ModelOpt = Annotated[str, typer.Option(
    "--model", "-m", help="Catalog name (see `sinkscope models`), local folder, .gguf file or hub id.",
)]
MODEL_DEFAULT = DEFAULT_MODEL
ChatOpt = Annotated[bool, typer.Option(help="Wrap each text as a user turn with the tokenizer's chat template.")]
GenerateOpt = Annotated[int, typer.Option(
    help="Greedy-generate N tokens after each prompt and analyse prompt + continuation (the paper analyses "
    "model responses).",
)]
DtypeOpt = Annotated[str, _choice(Dtype, "--dtype", help="Model weights and activations; reductions always "
                                  "accumulate in float32.")]
BatchSizeOpt = Annotated[int, typer.Option(
    help="Prompts (intervene --auto / --dose: edited copies) per forward pass (right-padded; results are identical).",
)]
OnErrorOpt = Annotated[str, _choice(OnError, "--on-error", help="Bad JSONL lines (and, for sweep, prompts over "
                                    "a model's context): fail, or skip them and report each (file:line, "
                                    "reason) on screen and in manifest.json / sweep.json.")]
OverwriteOpt = Annotated[bool, typer.Option(
    help="Replace --out if it is a sinkscope result folder (or empty); a folder holding anything else is refused.",
)]

# ---- detection thresholds (docs/method.md §2-§3); defaults: AnalysisConfig -------------------------
ModeOpt = Annotated[str, _choice(Mode, "--mode", help="general: scale-free rule, all layers, confirmed by "
                                 "attention score (docs/method.md §3). paper: the published code to the letter, on the states it "
                                 "reads (HF's hidden_states[1:], the last one after the final norm).")]
TauOpt = Annotated[float, typer.Option(help="Sink-likeness: |cos(h_t, h_primary)| >= tau (docs/method.md §2), in (0, 1].")]
CosineOpt = Annotated[str, _choice(CosineKind, "--cosine", help="raw, or centred (subtract the layer's mean "
                                   "residual first; separates sinks from a shared dominant direction, e.g. Gemma3).")]
KOpt = Annotated[float, typer.Option(
    help="general mode: mean score over the lifetime must be >= k x the baseline of non-sink keys.",
)]
MinLifetimeOpt = Annotated[int, typer.Option(help="general mode: minimum lifetime (layers) of a secondary sink, >= 0.")]
MinQueriesOpt = Annotated[int, typer.Option(help="Keys seen by fewer queries are reported but not classified.")]
NCandidatesOpt = Annotated[int, typer.Option(help="Leading positions considered for the primary sink (general "
                                             "mode; paper mode: 3 with --chat, 2 without, as published).")]

D = DEFAULTS  # the defaults of the threshold options above: `def scan(tau: TauOpt = D.tau, ...)`

# the option each AnalysisConfig field is set by (for messages)
FLAGS = {"mode": "--mode", "tau": "--tau", "cosine": "--cosine", "k": "--k", "min_lifetime": "--min-lifetime",
         "min_queries": "--min-queries", "n_candidates": "--n-candidates", "levels_min_share": "--min-share",
         "levels_tol": "--tol"}


def analysis_config(**values: Any) -> AnalysisConfig:
    """The one builder from option values to the config: `values` are AnalysisConfig fields
    (mode, tau, cosine, k, min_lifetime, min_queries, n_candidates, ...); the rest keep their
    defaults. A value out of range raises `InputError` naming the option (`--tau must be ...`)."""
    try:
        return AnalysisConfig(**values)
    except ConfigError as e:
        flag = FLAGS.get(e.field, "--" + e.field.replace("_", "-"))
        raise InputError(f"{flag} must be {e.requirement} (got {e.value!r}).") from None


def input_fields(text_field: str | None, ids_field: str | None, prompt_field: str | None,
                 response_field: str | None) -> InputFields:
    """The field options (--text-field, --ids-field, --prompt-field, --response-field) as `InputFields`;
    they name one input form, so --text-field and --ids-field exclude the others."""
    named = [flag for flag, v in (("--text-field", text_field), ("--ids-field", ids_field),
                                  ("--prompt-field/--response-field", prompt_field or response_field)) if v]
    if len(named) > 1:
        raise InputError(f"{' and '.join(named)} name different input forms: give one of them.")
    for flag, v in (("--text-field", text_field), ("--ids-field", ids_field), ("--prompt-field", prompt_field),
                    ("--response-field", response_field)):
        require(flag, repr(v), v is None or bool(v.strip()), "a field name")
    return InputFields(text=text_field, ids=ids_field, prompt=prompt_field, response=response_field)


def require(flag: str, value: Any, ok: bool, requirement: str) -> None:
    """`InputError("--flag must be <requirement> (got <value>).")` unless `ok`."""
    if not ok:
        raise InputError(f"{flag} must be {requirement} (got {value}).")


def check_choice(flag: str, value: str, allowed: tuple[str, ...]) -> None:
    """For choices that cannot be declared with `literal_choice` (their Literal lives in a heavy module)."""
    require(flag, f"'{value}'", value in allowed, "one of " + ", ".join(allowed))
