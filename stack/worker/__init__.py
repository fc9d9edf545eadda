"""The Sentinel Celery worker and beat: background tasks the API enqueues and the periodic ones.

Entry points: ``python -m stack.worker`` (worker + /health + /metrics) and
``python -m stack.worker.beat`` (the scheduler). Task names are an interface.
"""
