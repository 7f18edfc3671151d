"""Scoring with a model: per-record log-likelihoods, per-position surprisal and boundary
probabilities (bedGraph), and variant effects (alt minus ref log-likelihood, VCF)."""

from hnet_cli.score.api import ScoreRequest, ScoreResult, run_score
from hnet_cli.score.positions import PositionScores, score_positions

__all__ = ["PositionScores", "ScoreRequest", "ScoreResult", "run_score", "score_positions"]
