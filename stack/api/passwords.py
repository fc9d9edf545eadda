"""Password hashes: PBKDF2-SHA256 with the iteration count stored in the hash.

Seeded users get ``password-<user_id>`` and a low iteration count so that a
load test can log thousands of users in without the login dominating the run;
``hash_password`` defaults to the same count, and a stored hash always says
how it was made, so raising it later needs no migration.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets

SEED_ITERATIONS = 1000


def hash_password(password: str, salt: str | None = None, iterations: int = SEED_ITERATIONS) -> str:
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


def seed_password(user_id: int) -> str:
    """The password the seeder gives user ``user_id`` (load tests derive it the same way)."""
    return f"password-{user_id}"
