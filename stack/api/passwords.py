"""Password hashes: PBKDF2-SHA256 with the iteration count stored in the hash.

New hashes use ``ITERATIONS`` (OWASP's 2023 recommendation for PBKDF2-HMAC-SHA256); a stored hash says
how it was made, and the API re-hashes a weaker one at the next successful login. Seeded users get
``password-<user_id>`` (public: the load tests derive it) and ``SEED_ITERATIONS``, so that seeding
thousands of users and logging a load test's users in do not dominate a run (one hash at 600,000
iterations takes seconds on the lab's shared cores).
"""
from __future__ import annotations

import hashlib
import hmac
import secrets

ITERATIONS = 600_000
SEED_ITERATIONS = 1000


def hash_password(password: str, salt: str | None = None, iterations: int = ITERATIONS) -> str:
    salt = salt or secrets.token_hex(8)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), iterations).hex()
    return f"pbkdf2_sha256${iterations}${salt}${digest}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, iterations, salt, digest = stored.split("$")
    except ValueError:
        return False
    if scheme != "pbkdf2_sha256":
        return False
    candidate = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), int(iterations)).hex()
    return hmac.compare_digest(candidate, digest)


def iterations_of(stored: str) -> int:
    """The iteration count a stored hash was made with (0 for anything unreadable: always re-hashed)."""
    parts = stored.split("$")
    return int(parts[1]) if len(parts) == 4 and parts[1].isdigit() else 0


def seed_password(user_id: int) -> str:
    """The password the seeder gives user ``user_id`` (load tests derive it the same way)."""
    return f"password-{user_id}"
