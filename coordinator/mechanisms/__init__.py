"""Negotiation mechanisms: plug-ins over :class:`coordinator.driver.Driver`'s fixed hooks."""
