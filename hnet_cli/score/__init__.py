"""Scoring with a model: per-record log-likelihoods, per-position surprisal and boundary
probabilities (bedGraph), and variant effects (alt minus ref log-likelihood, VCF)."""

from hnet_cli.score.api import run_score
from hnet_cli.score.positions import PositionScores, score_positions
from hnet_cli.score.request import ScoreRequest, ScoreResult

__all__ = ["PositionScores", "ScoreRequest", "ScoreResult", "run_score", "score_positions"]
