"""The Sentinel API: the multi-tenant FastAPI backend the lab measures, with every pattern toggle."""
