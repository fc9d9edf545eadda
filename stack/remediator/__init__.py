"""The remediator (pattern P3): Alertmanager alerts in, allow-listed actions out, every decision audited.

It never runs a command it was given: an alert (or an n8n workflow) can only
name an action from the allow-list, with parameters the action validates.
"""
