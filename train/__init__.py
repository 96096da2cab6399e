"""Training, evaluation and export of the Y-channel networks (installed as vsr.train)."""
