"""Results of negotiations as files (JSON, CSV, PNG) and terminal summaries, one module per
mechanism; only what the coordinator saw."""
