"""Exact inference over discrete tables: the junction tree, the compiled engine, evidence checks,
batch scoring, sampling and posterior intervals. Knows nothing of cramps."""
