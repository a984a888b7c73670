"""Public VI-ReID evaluation API: ``from toplight_plugin.evaluation import evaluate_sysu, evaluate_regdb``."""

from toplight_plugin.core.evaluation.distances import FeatureDistances
from toplight_plugin.core.evaluation.metrics import evaluate_regdb, evaluate_sysu

__all__ = ["FeatureDistances", "evaluate_regdb", "evaluate_sysu"]
