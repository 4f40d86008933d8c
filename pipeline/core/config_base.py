"""Base of the config records: the strict pydantic model, ConfigError, and the architecture / weighting / text
encoder option tables (which options each reads, and their defaults)."""
from __future__ import annotations

from typing import ClassVar, Dict, List, Optional, Tuple, Union

from pydantic import BaseModel, ConfigDict, model_validator

ARCHITECTURES = ("shared_bottom", "mmoe", "ple", "cgc", "cross_stitch", "hierarchical", "esmm", "aitm")
LOSS_WEIGHTINGS = ("fixed", "uncertainty", "gradnorm", "dwa")
GRADIENT_SURGERIES = ("pcgrad",)
DISTRIBUTIONS = ("none", "mirrored", "multi_worker")
# Options that only some architectures / weightings read (setting one for another is an error), with the
# default each takes when left out.
ARCHITECTURE_OPTIONS = {"experts": ("mmoe",), "expert_units": ("mmoe", "ple", "cgc"),
                        "shared_experts": ("ple", "cgc"), "task_experts": ("ple", "cgc"), "levels": ("ple",),
                        "calibrator_weight": ("aitm",)}
WEIGHTING_OPTIONS = {"gradnorm_alpha": ("gradnorm",), "dwa_temperature": ("dwa",)}
# Text encoders (trainer/encoders.py): bag = mean of the token embeddings; the others give contextual states.
TEXT_ENCODERS = ("bag", "cnn", "bilstm", "bigru", "transformer")
CONTEXTUAL_ENCODERS = TEXT_ENCODERS[1:]
ENCODER_OPTIONS = {"encoder_units": CONTEXTUAL_ENCODERS, "encoder_layers": CONTEXTUAL_ENCODERS,
                   "encoder_heads": ("transformer",), "encoder_dropout": TEXT_ENCODERS}
ENCODER_LAYERS = {"cnn": 2, "bilstm": 1, "bigru": 1, "transformer": 2}  # default depth of each encoder
OPTION_DEFAULTS = {"experts": 8, "shared_experts": 2, "task_experts": 1, "levels": 2, "gradnorm_alpha": 1.5,
                   "dwa_temperature": 2.0, "encoder_units": 64, "encoder_heads": 2, "encoder_dropout": 0.0,
                   "calibrator_weight": 0.6}

NAME_PATTERN = r"^[a-z][a-z0-9_]{0,63}$"


class ConfigError(ValueError):
    """A config (or the data it points at) does not satisfy the contract; the message names the path."""

    def __init__(self, problems: Union[str, List[str]], source: Optional[str] = None):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        head = f"invalid config {source}" if source else "invalid config"
        super().__init__(head + ":\n" + "\n".join(f"  - {p}" for p in self.problems))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class _WithOptions(_Strict):
    """A record whose `selector` field (architecture, loss_weighting, encoder) decides which of `options` it may set;
    `setting(name)` gives an option's value, or its documented default when left out (left-out options stay
    None, so a dumped and re-parsed record is still valid)."""

    selector: ClassVar[str]
    options: ClassVar[Dict[str, Tuple[str, ...]]]

    @model_validator(mode="after")
    def _options_fit_selector(self):
        chosen = getattr(self, self.selector)
        problems = [f"{option}: only {', '.join(users)} use{'s' if len(users) == 1 else ''} this option "
                    f"({self.selector} is {chosen})"
                    for option, users in self.options.items() if getattr(self, option) is not None
                    and chosen not in users]
        if problems:
            raise ValueError("\n".join(problems))
        return self

    def setting(self, name: str):
        value = getattr(self, name)
        return OPTION_DEFAULTS[name] if value is None else value
