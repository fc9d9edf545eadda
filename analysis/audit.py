"""Credentials in a Postgres server log: where a log leaks them and how to find them.

Usable on any Postgres log, whatever its prefix: the rules read the text of each entry. A
``cleartext`` finding is a password as typed (``CREATE/ALTER ROLE … PASSWORD '…'`` with plain,
``E''``, ``U&''`` or dollar quoting, also inside a failing statement or an error message; a
password in a connection string or ``OPTIONS (password '…')``; a bind parameter of a statement
that writes a password column). A ``verifier`` finding is a pre-hashed ``md5…``/``SCRAM-SHA-256$…``
value, or an application's stored hash (PBKDF2, bcrypt, argon2) bound to a password column: not the
password, still enough to attack it offline, so it is reported apart. A finding
never carries the secret itself, only a masked form.
"""
from __future__ import annotations

import csv
import hashlib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

Kind = Literal["cleartext", "verifier"]

_LITERAL = (r"(?:(?P<e>[Ee])'(?P<eval>(?:[^'\\]|\\.|'')*)(?:'|$)"  # E'…' with backslash escapes
            r"|(?:[Uu]&)?'(?P<val>(?:[^']|'')*)(?:'|$)"  # '…' (and U&'…'); an unterminated one runs to the end
            r"|(?P<tag>\$[A-Za-z_]*\$)(?P<dval>.*?)(?:(?P=tag)|$))")  # $tag$…$tag$
_UNTERMINATED = re.compile(r"unterminated (?:quoted|dollar-quoted) string at or near \"(?P<val>.*)\"", re.S)
_PARAMETERS = re.compile(r"(?:parameters|portal with parameters): (?P<list>.*)$", re.S)
_PARAM = re.compile(r"\$(?P<n>\d+) = '(?P<val>(?:[^']|'')*)'")
_ERROR = re.compile(r"\b(?:ERROR|FATAL|PANIC):  ")
_SQL = re.compile(r"(?:LOG:  (?:duration: [\d.]+ ms  )?(?:statement|(?:execute|bind|parse) [^:]*): |STATEMENT:  )"
                  r"(?P<sql>.*)$", re.S)
_AUDIT = re.compile(r"LOG:  AUDIT: (?P<row>.*)$", re.S)
_PID = re.compile(r"\[(\d+)\]")
_PASSWORD_WORD = re.compile(r"\bPASSWORD\b", re.I)
_SECRET_COLUMN = re.compile(r"\b(?:password|passwd|pwd|secret|credential)\w*\b", re.I)
_NOT_SECRETS = {"", "<REDACTED>", "********"}
#: an application's stored password hash (a bind parameter of a password column): PBKDF2 as Django and
#: stack/api/passwords.py write it, bcrypt, argon2, crypt(3)'s SHA-2: a verifier, not the password
_APP_HASH = re.compile(r"(?:pbkdf2_sha\d+\$\d+\$|\$2[aby]\$\d\d\$|\$argon2(?:id|i|d)\$|\$[56]\$)")


@dataclass(frozen=True)
class Leak:
    """One credential found in entry number ``entry`` (0-based) of the text searched."""

    entry: int
    kind: Kind
    rule: str  # role-password, error-message, option-password, connection-url, connection-keyword, bind-parameter
    masked: str  # first two characters and the length: enough to tell leaks apart, useless to an attacker
    digest: str  # sha256 of the secret, first 16 hex digits: matches a known secret without storing it

    @staticmethod
    def of(entry: int, rule: str, value: str) -> "Leak":
        kind: Kind = "verifier" if _VERIFIER.fullmatch(value) or _APP_HASH.match(value) else "cleartext"
        return Leak(entry, kind, rule, f"{value[:2]}…({len(value)} chars)", digest(value))


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()[:16]


def _literal_value(m: re.Match) -> str:
    for group in ("eval", "val", "dval"):
        if m[group] is not None:
            return m[group].replace("''", "'")
    return ""


@dataclass(frozen=True)
class Rule:
    """How one kind of credential shows in a log entry: the ``Leak.rule`` it reports, its pattern,
    and the secret a match holds."""

    name: str
    pattern: re.Pattern[str]
    secret: Callable[[re.Match[str]], str]


#: the credential rules, in the order :func:`secrets_in` applies them (a verifier last: reported
#: only when no rule before it holds it already)
RULES = tuple(Rule(name, re.compile(source, flags), secret) for name, source, flags, secret in (
    ("role-password", r"\b(?:CREATE|ALTER)\s+(?:ROLE|USER|GROUP)\b.*?\b(?:ENCRYPTED\s+)?PASSWORD\s+" + _LITERAL,
     re.I | re.S, _literal_value),
    ("option-password", r"\bpassword\s+" + _LITERAL, re.I | re.S, _literal_value),  # USER MAPPING … OPTIONS
    ("connection-url", r"\b(?:postgres(?:ql)?|redis|mysql|amqp|https?)://(?P<user>[^:@/\s'\"]*):(?P<val>[^@/\s'\"]+)@",
     re.I, lambda m: m["val"]),
    ("connection-keyword", r"(?<![\w.])(?:password|passwd|pwd)\s*=\s*(?P<val>'(?:[^'\\]|\\.)*'|[^\s'\",)]+)",
     re.I, lambda m: m["val"].strip("'")),
    ("verifier", r"\b(?:md5[0-9a-f]{32}|SCRAM-SHA-256\$\d+:[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+)",
     0, lambda m: m[0]),
))
_ROLE_PASSWORD, _VERIFIER = RULES[0].pattern, RULES[-1].pattern
#: a word every rule above needs in its match, case-folded: an entry without one holds no credential,
#: and most entries have none (tests/unit/test_audit.py proves the pre-filter drops no finding)
KEYWORDS = ("passw", "pwd", "://", "md5", "scram-sha-256")


def may_hold_credential(text: str) -> bool:
    """The pre-filter: whether ``text`` holds a word some credential rule needs (substring tests on the
    case-folded text, several times faster than one case-insensitive regex; case-folded, not lower-cased,
    because ``re.I`` also matches ``ſ`` to ``s``)."""
    folded = text.casefold()
    return any(word in folded for word in KEYWORDS)


def secrets_in(text: str) -> list[tuple[str, str]]:
    """(rule, secret) for every credential in one log entry's text."""
    return detailed_secrets_in(text) if may_hold_credential(text) else []


def detailed_secrets_in(text: str) -> list[tuple[str, str]]:
    """:func:`secrets_in` without the pre-filter: every rule tried on ``text``."""
    found: list[tuple[str, str]] = []
    role_spans = [m.span() for m in _ROLE_PASSWORD.finditer(text)]
    for rule in RULES:
        for m in rule.pattern.finditer(text):
            value = rule.secret(m)
            if rule.name == "option-password" and any(a <= m.start() < b for a, b in role_spans):
                continue  # a role statement's PASSWORD, found by the rule before
            if rule.name == "verifier" and any(value in held for _, held in found):
                continue
            found.append((rule.name, value))
        if rule is RULES[0] and "''" in text:
            # a statement inside a string (DO … EXECUTE '… PASSWORD ''x'''): one quoting level less
            found += [(rule.name, rule.secret(m)) for m in rule.pattern.finditer(text.replace("''", "'"))]
    return [(rule, value) for rule, value in found if value not in _NOT_SECRETS and not value.startswith("$")]


def scan(entries: Iterable[str]) -> list[Leak]:
    """Every credential in a sequence of log entries (continuation lines joined, as
    ``analysis.collect.pglog.entries`` gives them). Bind parameters (``parameters: $1 = …``, or
    pgaudit's parameter field) are leaks when their statement writes or compares a password
    column; the statement is the one logged before them on the same backend, or, on the error
    path, the ``STATEMENT:`` entry that follows the error."""
    leaks: list[Leak] = []  # each regex below runs only where the literal it needs is in the entry
    sql_by_pid: dict[str, str | None] = {}
    pending: dict[str, list[tuple[int, str]]] = {}  # parameters waiting for their statement
    for i, text in enumerate(entries):
        pid = _pid(text)
        if _ERROR.search(text[:120]):
            sql_by_pid[pid] = None
            # an unterminated literal is in the error message itself
            if "unterminated " in text and (bad := _UNTERMINATED.search(text)) is not None:
                pending.setdefault(pid, []).append((i, "unterminated:" + bad["val"]))
        elif "parameters: " in text and (params := _PARAMETERS.search(text)) is not None:
            if sql_by_pid.get(pid):
                leaks += _bound(i, sql_by_pid[pid], params["list"])
            else:
                pending.setdefault(pid, []).append((i, params["list"]))
        elif (sql := _SQL.search(text)) is not None:
            sql_by_pid[pid] = sql["sql"]
            leaks += [leak for j, values in pending.pop(pid, []) for leak in _bound(j, sql["sql"], values)]
        if "AUDIT: " in text and (audit := _AUDIT.search(text)) is not None:
            leaks += _audit_parameters(i, audit["row"])
        leaks += [Leak.of(i, rule, value) for rule, value in secrets_in(text)]
    return leaks


def _bound(entry: int, sql: str, values: str) -> list[Leak]:
    if values.startswith("unterminated:"):
        literal = values[len("unterminated:"):].lstrip("EU&$").strip("'")
        return [Leak.of(entry, "error-message", literal)] if _PASSWORD_WORD.search(sql) else []
    if not _SECRET_COLUMN.search(sql):
        return []
    return [Leak.of(entry, "bind-parameter", p["val"].replace("''", "'")) for p in _PARAM.finditer(values)
            if p["val"] and _param_is_secret(sql, int(p["n"]))]


def _audit_parameters(entry: int, row_text: str) -> list[Leak]:
    """pgaudit with ``log_parameter``: the last CSV field holds the statement's parameters."""
    try:
        row = next(csv.reader([row_text]))
    except (csv.Error, StopIteration):
        return []
    if len(row) < 9 or row[-1] in ("<none>", "<not logged>", "") or not _SECRET_COLUMN.search(row[7]):
        return []
    values = next(csv.reader([row[-1]]))
    return [Leak.of(entry, "bind-parameter", v) for n, v in enumerate(values, 1)
            if v and _param_is_secret(row[7], n)]


def _pid(text: str) -> str:
    m = _PID.search(text, 0, 80)
    return m[1] if m else ""


def _param_is_secret(sql: str, n: int) -> bool:
    """Whether ``$n`` is bound to a password-like column: ``INSERT … (a, password) VALUES ($1, $2)``,
    ``SET password = $2``, ``WHERE password = $2``; unknown positions count as secret."""
    cols = re.search(r"\(([^()]*)\)\s*VALUES\s*\(([^()]*)\)", sql, re.I | re.S)
    if cols:
        names = [c.strip() for c in cols[1].split(",")]
        values = [v.strip() for v in cols[2].split(",")]
        return any(_SECRET_COLUMN.search(c) and v == f"${n}" for c, v in zip(names, values))
    if re.search(rf"{_SECRET_COLUMN.pattern}\s*(?:=|:=)\s*(?:crypt\()?\${n}\b", sql, re.I):
        return True
    return not re.search(rf"\${n}\b", sql)  # a statement we cannot map: assume the worst
