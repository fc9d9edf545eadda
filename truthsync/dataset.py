"""A deterministic TruthSync corpus and a Zipf-distributed access sequence.

    python -m truthsync.dataset --size 10k --zipf 1.1 --seed 7 [--out DIR] [--load DSN]

Writes to DIR (default ``.lab/datasets/truthsync/<name>``):
``sources.csv`` and ``facts.csv`` (the fact store, COPY-ready), ``corpus.csv``
(texts with their expected label: supported, contradicted, unverified,
opinion), ``access.npy`` (corpus row indices in request order; item ranks are
shuffled so the hot items are a mix of labels) and ``meta.json``. Same
arguments, same bytes. ``--load`` also seeds the fact store.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import random
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from truthsync.text import normalise, numbers, template

SOURCES = (("National Statistics Office", 0.95), ("World Bank", 0.9), ("Eurostat", 0.9),
           ("Geographic Survey", 0.85), ("Open Encyclopaedia", 0.7), ("Regional Gazette", 0.6))
SYLLABLES = ("ar", "ven", "kel", "tor", "mis", "lan", "dor", "vi", "sal", "bre", "qu", "on", "tha", "rim",
             "zel", "po", "nar", "gu", "est", "fal", "mor", "en", "cas", "ti", "lo", "wen", "ash", "ur")
MONTHS = ("January", "April", "July", "October")
OPINIONS = ("I think {e} is the most beautiful town in the region.", "{e} should invest more in public transport.",
            "In my opinion the food in {e} is overrated.", "{e} is probably the best place to retire.",
            "Winters in {e} are boring and far too long.", "I believe the mayor of {e} deserves another term.")


def _attributes(rng: random.Random):
    """(template, value) makers; every template names the entity and has one number."""
    month = rng.choice(MONTHS)
    return (
        ("The population of {e} is {n:,}.", rng.randint(1_000, 5_000_000)),
        ("{e} was founded in {n}.", rng.randint(800, 2000)),
        ("The unemployment rate in {e} is {n}%.", round(rng.uniform(1, 25), 1)),
        ("{e} has an area of {n:,} square kilometres.", rng.randint(10, 90_000)),
        ("The average temperature in {e} in " + month + " is {n} degrees.", rng.randint(1, 35)),
        ("{e} exported goods worth {n:,} million euros last year.", rng.randint(5, 50_000)),
        ("The highest point of {e} is {n:,} metres above sea level.", rng.randint(50, 4_800)),
    )


def _other(value: int | float, rng: random.Random) -> int | float:
    """A clearly different value of the same kind, for a contradicting claim."""
    factor = rng.choice((0.5, 0.7, 1.3, 1.8))
    return round(value * factor, 1) if isinstance(value, float) else max(1, int(value * factor)) + (value < 4)


def _names(rng: random.Random, count: int) -> list[str]:
    names: set[str] = set()
    while len(names) < count:
        names.add("".join(rng.choice(SYLLABLES) for _ in range(rng.randint(3, 4))).capitalize())
    return sorted(names)


@dataclass(frozen=True)
class Meta:
    name: str
    size: int
    zipf: float
    seed: int
    facts: int
    corpus: int
    accesses: int


def parse_size(raw: str) -> int:
    raw = raw.strip().lower()
    scale = {"k": 1_000, "m": 1_000_000}.get(raw[-1:], 1)
    try:
        return int(float(raw.rstrip("km")) * scale)
    except ValueError:
        raise argparse.ArgumentTypeError(f"size {raw!r}: give a count such as 10k, 100k or 2500") from None


DEFAULT_ROOT = Path(".lab/datasets/truthsync")


def name(size: int, zipf: float, seed: int) -> str:
    return f"{size}-zipf{zipf:g}-seed{seed}"


def prepare(dsn: str, size: int, zipf: float, seed: int, root: Path = DEFAULT_ROOT) -> Path:
    """The dataset's directory, written if missing and loaded into the store at ``dsn`` unless already there."""
    from truthsync.factstore import load, loaded_dataset
    out = root / name(size, zipf, seed)
    if not (out / "meta.json").exists():
        generate(size, zipf, seed, out)
    if loaded_dataset(dsn) != out.name:
        load(dsn, out)
    return out


def generate(size: int, zipf: float, seed: int, out: Path, accesses: int | None = None) -> Meta:
    """Write the dataset of ``size`` facts into ``out``; ``accesses`` defaults to 10 × the corpus."""
    rng = random.Random(seed)
    per_entity = len(_attributes(rng))
    n_entities = -(-size // per_entity)
    names = _names(rng, n_entities + n_entities // 4)
    rng.shuffle(names)
    known, unknown = names[:n_entities], names[n_entities:]
    facts, corpus = [], []
    for entity in known:
        for tmpl, value in _attributes(rng):
            if len(facts) == size:
                break
            fid, source = len(facts) + 1, rng.randrange(len(SOURCES))
            statement = tmpl.format(e=entity, n=value)
            norm = normalise(statement)
            facts.append((fid, statement, template(norm), "{" + ",".join(map(str, numbers(norm))) + "}",
                          source + 1))
            corpus.append((statement, "supported", fid))
            corpus.append((f"According to the {SOURCES[source][0]}, {statement[0].lower()}{statement[1:]}",
                           "supported", fid))
            if rng.random() < 0.5:
                corpus.append((tmpl.format(e=entity, n=_other(value, rng)), "contradicted", fid))
    for i in range(size // 4):
        tmpl, value = rng.choice(_attributes(rng))
        corpus.append((tmpl.format(e=unknown[i % len(unknown)], n=value), "unverified", ""))
        corpus.append((rng.choice(OPINIONS).format(e=rng.choice(known)), "opinion", ""))
    accesses = accesses or 10 * len(corpus)
    order = np.random.default_rng(seed).permutation(len(corpus))  # rank -> corpus row
    weights = 1.0 / np.arange(1, len(corpus) + 1) ** zipf
    ranks = np.random.default_rng(seed + 1).choice(len(corpus), size=accesses, p=weights / weights.sum())
    meta = Meta(name(size, zipf, seed), size, zipf, seed, len(facts), len(corpus), accesses)
    out.mkdir(parents=True, exist_ok=True)
    _csv(out / "sources.csv", ("id", "name", "trust"), [(i + 1, n, t) for i, (n, t) in enumerate(SOURCES)])
    _csv(out / "facts.csv", ("id", "statement", "template", "numbers", "source_id"), facts)
    _csv(out / "corpus.csv", ("text", "label", "fact_id"), corpus)
    np.save(out / "access.npy", order[ranks].astype(np.int32))
    (out / "meta.json").write_text(json.dumps(asdict(meta), indent=2) + "\n")
    return meta


def _csv(path: Path, header: tuple[str, ...], rows: list[tuple]) -> None:
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)


def read_corpus(directory: Path) -> list[tuple[str, str]]:
    """(text, label) rows of ``corpus.csv``, in file order (the indices ``access.npy`` refers to)."""
    with (directory / "corpus.csv").open(newline="") as f:
        return [(row["text"], row["label"]) for row in csv.DictReader(f)]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m truthsync.dataset", description=__doc__.split("\n")[0])
    p.add_argument("--size", type=parse_size, default=parse_size("10k"), help="facts: 10k, 100k, ...")
    p.add_argument("--zipf", type=float, default=1.1, help="Zipf exponent of the access sequence")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--accesses", type=int, default=None, help="length of the access sequence (10 x corpus)")
    p.add_argument("--out", type=Path, default=None, help=f"default {DEFAULT_ROOT}/<name>")
    p.add_argument("--load", metavar="DSN", nargs="?", const=os.environ.get("DATABASE_URL"), default=None,
                   help="also load the fact store at DSN (without one: $DATABASE_URL, which keeps it out of ps)")
    args = p.parse_args(argv)
    if "--load" in (sys.argv[1:] if argv is None else argv) and not args.load:
        p.error("--load needs a DSN or DATABASE_URL set")
    out = args.out or DEFAULT_ROOT / name(args.size, args.zipf, args.seed)
    meta = generate(args.size, args.zipf, args.seed, out, args.accesses)
    print(f"wrote {meta.facts} facts, {meta.corpus} corpus texts, {meta.accesses} accesses to {out}")
    if args.load:
        from truthsync.factstore import load
        print(f"loaded {load(args.load, out)} facts")
    return 0


if __name__ == "__main__":
    sys.exit(main())
