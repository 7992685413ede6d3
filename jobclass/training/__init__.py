"""Training: the taxonomy, the corpus and title sources, encoder fine-tuning, head fitting, calibration, recipes."""
