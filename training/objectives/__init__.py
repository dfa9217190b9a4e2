"""Training objectives: a new one is a new file here plus one entry in OBJECTIVES."""

from __future__ import annotations

from training.objectives.base import Batch, Objective, Output, RunContext
from training.objectives.dpo import DirectPreference
from training.objectives.lm import LanguageModeling
from training.objectives.sft import SupervisedFineTuning

OBJECTIVES = {
    "pretrain": LanguageModeling,
    "sft": SupervisedFineTuning,
    "dpo": DirectPreference,
}


def make_objective(cfg) -> Objective:
    return OBJECTIVES[cfg.objective](cfg)


__all__ = ["Batch", "Objective", "Output", "RunContext", "OBJECTIVES", "make_objective"]
