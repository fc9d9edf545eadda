"""The generated corpus: deterministic, labelled consistently, and Zipf-skewed."""
import numpy as np

from truthsync.classify import Classifier
from truthsync.dataset import generate, parse_size, read_corpus


def test_the_same_arguments_write_the_same_bytes(tmp_path):
    generate(700, 1.1, 3, tmp_path / "a")
    generate(700, 1.1, 3, tmp_path / "b")
    for name in ("facts.csv", "corpus.csv", "access.npy", "meta.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    generate(700, 1.1, 4, tmp_path / "c")
    assert (tmp_path / "a" / "facts.csv").read_bytes() != (tmp_path / "c" / "facts.csv").read_bytes()


def test_a_higher_zipf_exponent_concentrates_accesses_on_fewer_items(tmp_path):
    def top_share(s):
        meta = generate(500, s, 1, tmp_path / str(s))
        counts = np.bincount(np.load(tmp_path / str(s) / "access.npy"), minlength=meta.corpus)
        return np.sort(counts)[::-1][: meta.corpus // 100].sum() / counts.sum()
    flat, skewed = top_share(0.6), top_share(1.2)
    print(f"\naccesses to the top 1% of items: zipf 0.6 → {flat:.0%}, zipf 1.2 → {skewed:.0%}")
    assert skewed > 1.5 * flat


def test_every_label_occurs_and_the_classifier_agrees_with_the_generator(tmp_path):
    generate(700, 1.0, 2, tmp_path)
    corpus = read_corpus(tmp_path)
    labels = {label for _, label in corpus}
    assert labels == {"supported", "contradicted", "unverified", "opinion"}
    c = Classifier()
    wrong = [t for t, label in corpus if c.is_claim(t) != (label != "opinion")]
    assert not wrong, wrong[:5]


def test_sizes_read_like_people_write_them():
    assert (parse_size("10k"), parse_size("100K"), parse_size("2500"), parse_size("1m")) == (10_000, 100_000,
                                                                                             2500, 1_000_000)
