"""TruthSync against a real Postgres fact store: loading, verdicts, and the HTTP contract."""
import csv

import pytest
from fastapi.testclient import TestClient

from truthsync.app import create_app
from truthsync.config import Config
from truthsync.dataset import prepare
from truthsync.factstore import load, loaded_dataset

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def dataset(pg_dsn, tmp_path_factory):
    return prepare(pg_dsn, 700, 1.1, 5, tmp_path_factory.mktemp("truthsync"))


@pytest.fixture
def client(pg_dsn, redis_url, dataset):
    config = Config(database_url=pg_dsn, redis_url=redis_url, l2=False, batch_max=50, max_body_bytes=64 * 1024)
    with TestClient(create_app(config)) as c:
        yield c


def test_loading_twice_leaves_one_copy_of_the_facts(pg_dsn, dataset):
    first = load(pg_dsn, dataset)
    assert load(pg_dsn, dataset) == first == 700
    assert loaded_dataset(pg_dsn) == dataset.name


def test_supported_contradicted_and_unknown_claims_get_their_verdicts(client, dataset):
    with open(dataset / "facts.csv", newline="") as f:
        statement = next(csv.DictReader(f))["statement"]  # "The population of X is N."
    entity, value = statement[len("The population of "):-1].rsplit(" is ", 1)
    doubled = f"{int(value.replace(',', '')) * 2:,}"
    text = (f"{statement} The population of {entity} is {doubled}. The population of Nowhereville is 12. "
            "I think the weather is lovely.")
    body = client.post("/verify", json={"text": text}).json()
    verdicts = [(c["verdict"], c["fact"]["id"] if c["fact"] else None) for c in body["claims"]]
    assert verdicts == [("supported", 1), ("contradicted", 1), ("unverified", None)]
    assert body["opinions"] == ["I think the weather is lovely."]
    assert all(c["cache"] == "miss" and c["micros"] > 0 for c in body["claims"])
    assert 0 < body["claims"][0]["confidence"] <= 1


def test_verdicts_on_the_generated_corpus_match_its_labels(client, dataset):
    with open(dataset / "corpus.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["label"] != "opinion"][::5]
    got = []
    for i in range(0, len(rows), 50):
        body = client.post("/verify/batch", json={"texts": [r["text"] for r in rows[i:i + 50]]}).json()
        got += [r["claims"][0]["verdict"] for r in body["results"]]
    assert {r["label"] for r in rows} == {"supported", "contradicted", "unverified"}
    accuracy = sum(g == r["label"] for g, r in zip(got, rows)) / len(rows)
    print(f"\nverdict accuracy on {len(rows)} generated claims: {accuracy:.3f}")
    assert accuracy >= 0.97


def test_a_repeated_claim_is_answered_from_l1_with_the_same_verdict(client):
    text = {"text": "According to the World Bank, the population of Qualmor is 5."}
    first, second = (client.post("/verify", json=text).json()["claims"][0] for _ in range(2))
    assert (first["cache"], second["cache"]) == ("miss", "l1")
    assert {k: v for k, v in first.items() if k not in ("cache", "micros")} == \
        {k: v for k, v in second.items() if k not in ("cache", "micros")}
    metrics = client.get("/metrics").text
    assert 'truthsync_claims_total{cache="l1"} 1.0' in metrics
    assert 'truthsync_cache_lookups_total{level="l1",result="hit"} 1.0' in metrics
    assert "truthsync_l1_size" in metrics and "truthsync_request_duration_seconds_bucket" in metrics


@pytest.mark.parametrize("body, status, message", [
    (b'{"text": ""}', 422, "empty"),
    (b'{"text": "   "}', 422, "empty"),
    (b'{"text": 5}', 422, "string"),
    (b'["text"]', 422, "JSON object"),
    (b'{"text": "caf\xe9 is 3"}', 400, "UTF-8"),
    (b'{"text": ', 400, "not JSON"),
])
def test_bad_input_is_a_4xx_that_says_what_to_send(client, body, status, message):
    r = client.post("/verify", content=body, headers={"content-type": "application/json"})
    assert r.status_code == status and message in r.json()["detail"]


def test_a_10_mb_body_is_refused_with_413_whether_declared_or_streamed(client):
    big = b'{"text": "' + b"a" * (10 * 1024 * 1024) + b'"}'
    assert client.post("/verify", content=big).status_code == 413
    chunks = (big[i:i + 65536] for i in range(0, len(big), 65536))  # no content-length: chunked
    r = client.post("/verify", content=chunks)
    assert r.status_code == 413 and "TRUTHSYNC_MAX_BODY_BYTES" in r.json()["detail"]


def test_an_oversized_batch_is_413_and_an_empty_one_422(client):
    r = client.post("/verify/batch", json={"texts": ["The population of X is 3."] * 51})
    assert r.status_code == 413 and "TRUTHSYNC_BATCH_MAX=50" in r.json()["detail"]
    assert client.post("/verify/batch", json={"texts": []}).status_code == 422
    r = client.post("/verify/batch", json={"texts": ["ok 1.", ""]})
    assert r.status_code == 422 and "texts[1]" in r.json()["detail"]


def test_behind_a_prefix_stripping_proxy_nothing_redirects(client):
    r = client.post("/verify/", json={"text": "x"}, follow_redirects=False)
    assert r.status_code == 404 and "location" not in r.headers
    assert client.get("/health").json()["status"] == "ok"
    assert client.get("/ready").json() == {"ready": True, "facts": 700}
