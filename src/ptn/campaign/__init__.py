"""Campaigns: many negotiations of one base scenario with parameters varied, as one study.

Why this package exists: a parameter study (EV share × tariff × penalty, repeated) is dozens to
thousands of whole negotiations. ``ptn sweep CAMPAIGN.toml`` and :func:`ptn.sweep` read a
campaign file (:mod:`~ptn.campaign.spec`), expand it into trials (:mod:`~ptn.campaign.trials`),
run them concurrently, isolated and retried on a lost node (:mod:`~ptn.campaign.runner`), keep
one durable row per trial with resume by fingerprint (:mod:`~ptn.campaign.store`), show
progress and Prometheus gauges (:mod:`~ptn.campaign.progress`) and draw each output against
each varied parameter (:mod:`~ptn.campaign.plots`). docs/campaigns.md is the user's guide.
"""
