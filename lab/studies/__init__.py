"""The seed papers' studies (``ptn study``): a private negotiation, then the papers' tables and
figures from the full-information view."""
