"""Public evaluation API: VI-ReID protocols (SYSU-MM01, RegDB) and NIR-VIS face metrics."""

from toplight_plugin.core.evaluation.distances import FeatureDistances
from toplight_plugin.core.evaluation.face import evaluate_face
from toplight_plugin.core.evaluation.metrics import evaluate_regdb, evaluate_sysu

__all__ = ["FeatureDistances", "evaluate_face", "evaluate_regdb", "evaluate_sysu"]
