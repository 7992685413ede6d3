"""Evaluation: frozen benchmark sets, ranking metrics, scoring a classifier, baselines and the HTML report."""
