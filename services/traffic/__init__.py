"""The traffic department: road network and travel demand (private), station loads (public)."""
