"""Negotiation mechanisms: plug-ins over :class:`ptn.coordinator.driver.Driver`'s fixed hooks."""
