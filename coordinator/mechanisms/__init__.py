"""Negotiation mechanisms: plug-ins over the fixed hooks of
:class:`ptn.coordinator.runtime.driver.Driver`."""
