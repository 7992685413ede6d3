"""Training: title sources, encoder fine-tuning, head fitting, calibration, recipes (the O*NET taxonomy and corpus are :mod:`jobclass.onet`)."""
