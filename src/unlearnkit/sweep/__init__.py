"""`unlearn sweep`: a grid of runs (methods × settings × seeds), resumable, summarised."""
