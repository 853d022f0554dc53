"""The DSO: feeders, loads and DER (private); prices, loads and its own cost (public)."""
