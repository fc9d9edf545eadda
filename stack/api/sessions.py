"""P1 sessions: a signed JWT, or an opaque token whose session lives in Redis with sliding expiry.

Logout really ends the session in both modes: a JWT's id goes on a deny list in
Redis (and in this process, so it holds while Redis is down) until the token
would have expired anyway; a Redis session is deleted.
"""
from __future__ import annotations

import hashlib
import logging
import secrets
import time
from dataclasses import dataclass

import jwt
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from stack.api.metrics import Metrics

log = logging.getLogger("sentinel.sessions")


@dataclass(frozen=True)
class Principal:
    user_id: int
    tenant_id: int
    session_id: str
    expires_at: float  # Unix seconds


class SessionError(Exception):
    """The token does not name a live session (→ 401 with this message)."""


class SessionsUnavailable(Exception):
    """The session store cannot be reached (→ 503)."""


class JwtSessions:
    mode = "jwt"

    def __init__(self, redis: aioredis.Redis, secret: str, ttl_s: int, metrics: Metrics):
        self.redis, self.secret, self.ttl_s, self.metrics = redis, secret, ttl_s, metrics
        self._revoked: dict[str, float] = {}  # jti → exp, so logout holds while Redis is down

    async def create(self, user_id: int, tenant_id: int) -> str:
        now = int(time.time())
        claims = {"sub": str(user_id), "tenant": tenant_id, "iat": now, "exp": now + self.ttl_s,
                  "jti": secrets.token_hex(12)}
        return jwt.encode(claims, self.secret, algorithm="HS256")

    async def resolve(self, token: str) -> Principal:
        try:
            claims = jwt.decode(token, self.secret, algorithms=["HS256"], options={"require": ["exp", "sub", "jti"]})
            principal = Principal(int(claims["sub"]), int(claims["tenant"]), claims["jti"], float(claims["exp"]))
        except jwt.ExpiredSignatureError:
            raise SessionError("token expired; log in again") from None
        except (jwt.InvalidTokenError, KeyError, ValueError, TypeError):
            raise SessionError("invalid token; log in again") from None
        if principal.session_id in self._revoked:
            raise SessionError("session ended by logout; log in again")
        try:
            revoked = await self.redis.exists(f"sentinel:revoked:{principal.session_id}")
        except (RedisError, OSError) as exc:
            self.metrics.redis_errors.labels("sessions").inc()
            log.warning("deny list unavailable, trusting the signature: %s", exc)
            revoked = False
        if revoked:
            raise SessionError("session ended by logout; log in again")
        return principal

    async def end(self, principal: Principal) -> None:
        now = time.time()
        self._revoked = {jti: exp for jti, exp in self._revoked.items() if exp > now}
        self._revoked[principal.session_id] = principal.expires_at
        try:
            await self.redis.set(f"sentinel:revoked:{principal.session_id}", b"1",
                                 exat=int(principal.expires_at) + 1)
        except (RedisError, OSError) as exc:
            self.metrics.redis_errors.labels("sessions").inc()
            log.warning("logout recorded in this process only (Redis unavailable): %s", exc)


class RedisSessions:
    mode = "redis"

    def __init__(self, redis: aioredis.Redis, ttl_s: int, metrics: Metrics):
        self.redis, self.ttl_s, self.metrics = redis, ttl_s, metrics

    @staticmethod
    def _key(token: str) -> str:
        return "sentinel:session:" + hashlib.sha256(token.encode()).hexdigest()

    async def create(self, user_id: int, tenant_id: int) -> str:
        token = secrets.token_urlsafe(32)
        try:
            await self.redis.set(self._key(token), f"{user_id}:{tenant_id}", ex=self.ttl_s)
        except (RedisError, OSError) as exc:
            self._down(exc)
        return token

    async def resolve(self, token: str) -> Principal:
        try:
            value = await self.redis.getex(self._key(token), ex=self.ttl_s)  # sliding expiry
        except (RedisError, OSError) as exc:
            self._down(exc)
        if value is None:
            raise SessionError("no such session (expired or logged out); log in again")
        user_id, tenant_id = value.decode().split(":")
        return Principal(int(user_id), int(tenant_id), self._key(token), time.time() + self.ttl_s)

    async def end(self, principal: Principal) -> None:
        try:
            await self.redis.delete(principal.session_id)
        except (RedisError, OSError) as exc:
            self._down(exc)

    def _down(self, exc: Exception):
        self.metrics.redis_errors.labels("sessions").inc()
        raise SessionsUnavailable(f"session store (Redis) unavailable: {exc}; retry shortly") from exc
