"""Evaluation of a voice on held-out sentences: word error rate, MCD-DTW, DNSMOS, F0, durations, speed.

    from fastpitch.evaluation import evaluate
    report = evaluate("path/to/voice", "data/slt", limit=20, out_dir="eval-results/slt", html=True)

The metric definitions live in `fastpitch.evaluation.metrics`; the run in `fastpitch.evaluation.suite`.
"""

from fastpitch.evaluation.suite import EvaluationError, evaluate, held_out_utterances

__all__ = ["EvaluationError", "evaluate", "held_out_utterances"]
