"""n8n for the local stack: its launcher (``python -m stack.n8n``) and the workflows it imports."""
