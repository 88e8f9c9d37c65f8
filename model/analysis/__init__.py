"""Studying the model: calibration, sensitivity and learning from cases, with their plots."""
