"""Scores and choices: the tolerant edge F-measure, compare's scores and ranking, its report, and selection."""
