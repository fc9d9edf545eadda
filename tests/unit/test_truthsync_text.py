"""Sentence splitting and claim normalisation: what the caches and the fact store key on."""
from truthsync.text import normalise, numbers, split_sentences, stable_key, template


def test_sentences_split_after_terminal_punctuation_but_not_inside_decimals():
    text = "Growth was 4.2 percent in 2020. I think that is great! Was it? \"Yes,\" she said."
    assert split_sentences(text) == ["Growth was 4.2 percent in 2020.", "I think that is great!", "Was it?",
                                     "\"Yes,\" she said."]


def test_surface_variants_of_one_claim_normalise_to_the_same_key():
    variants = ["The population of Arvenia is 4,200,000.", "the population of arvenia is 4200000",
                "According to the World Bank, the population of Arvenia is 4,200,000.",
                "The population of Arvenia is 4,200,000, according to Eurostat.",
                "THE POPULATION OF ARVENIA IS 4,200,000!"]
    assert {normalise(v) for v in variants} == {"the population of arvenia is 4200000"}
    assert len({stable_key(normalise(v)) for v in variants}) == 1


def test_numbers_are_masked_in_the_template_and_parsed_exactly():
    claim = normalise("Unemployment in Kelt fell to 12.5% in 2021.")
    assert template(claim) == "unemployment in kelt fell to # percent in #"
    assert numbers(claim) == (12.5, 2021.0)


def test_contractions_become_an_explicit_negation():
    assert normalise("Arvenia isn't the capital of Kelt.") == "arvenia is not the capital of kelt"


def test_stable_key_is_pinned_so_every_instance_and_version_finds_the_same_l2_entry():
    assert stable_key("the population of arvenia is 4200000") == "ts:v1:270f92b4bc79308317ff6cec"
    assert stable_key("a") != stable_key("b")
