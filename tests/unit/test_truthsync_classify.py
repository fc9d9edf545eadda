"""Claim detection on a hand-labelled set written apart from the dataset generator's templates."""
import pytest

from truthsync.classify import Classifier

CLAIMS = [
    "The population of Lisbon is 545,000.",
    "Paris is the capital of France.",
    "According to the World Bank, Kenya's GDP grew by 5.4% in 2022.",
    "The Danube is 2,850 km long.",
    "Mount Everest is 8,849 metres high.",
    "The company was founded in 1998 in Menlo Park.",
    "Unemployment in Spain fell to 11.7 percent in March.",
    "The bridge was built in 1932.",
    "Inflation in the euro area was 2.4% in April 2024, Eurostat reported.",
    "The city recorded 312 millimetres of rain in October.",
    "Norway exported crude oil worth 40 billion dollars last year.",
    "The treaty was signed in Rome on 25 March 1957.",
    "Water boils at 100 degrees at sea level.",
    "The average salary in Portugal is 1,400 euros a month.",
    "The stadium has 80,000 seats.",
    "Berlin is home to 3.7 million people.",
    "A survey by Gallup found that 64 percent of adults drink coffee daily.",
    "The river Thames flows through London.",
    "The hospital treated 1,200 patients in 2023.",
    "Einstein was born in Ulm in 1879.",
    "The region produced 2 million tonnes of wheat.",
    "Canada borders the United States.",
    "The census counted 67 million residents.",
    "The law was published in the Official Journal in 2016.",
    "Tokyo has an area of 2,194 square kilometres.",
    "Prices rose by 3 percent last quarter.",
    "The museum contains 35,000 works of art.",
    "Data from Statistics Finland show 5.6 million inhabitants.",
    "Marie Curie died in 1934.",
    "The factory employs 450 workers.",
]
OPINIONS = [
    "I think Lisbon is the most beautiful city in Europe.",
    "The new stadium is ugly.",
    "We should lower taxes for small businesses.",
    "In my opinion the film was overrated.",
    "This is the best coffee in town.",
    "The government must do more for pensioners.",
    "Honestly, the weather here is terrible.",
    "It will probably rain tomorrow.",
    "The mayor deserves another term.",
    "Maybe the economy will recover soon.",
    "I love the old town.",
    "Is the population of Lisbon really growing?",
    "That decision was a disgrace.",
    "The service seems slow these days.",
    "The concert was absolutely amazing.",
    "Public transport ought to be free.",
    "I believe the team can win the league.",
    "What a wonderful day!",
    "The food was awful and the staff were rude.",
    "Perhaps we could meet next week.",
    "The design is clearly better than the old one.",
    "Nobody likes Mondays.",
    "The museum is a pleasant place to spend an afternoon.",
    "His speech was boring.",
    "They might cancel the project.",
    "Modern art is pointless.",
    "This town needs to invest in parks.",
    "I prefer tea to coffee.",
    "The sequel is worse than the original.",
    "Cats make better pets than dogs.",
]


def test_classifier_separates_claims_from_opinions_with_precision_and_recall_above_the_floor():
    c = Classifier()
    predicted = {s: c.is_claim(s) for s in CLAIMS + OPINIONS}
    tp = sum(predicted[s] for s in CLAIMS)
    fp = sum(predicted[s] for s in OPINIONS)
    precision, recall = tp / max(tp + fp, 1), tp / len(CLAIMS)
    print(f"\nclaim detection on {len(CLAIMS) + len(OPINIONS)} labelled sentences: "
          f"precision {precision:.2f}, recall {recall:.2f}")
    print("missed claims:", [s for s in CLAIMS if not predicted[s]])
    print("opinions taken for claims:", [s for s in OPINIONS if predicted[s]])
    assert precision >= 0.85 and recall >= 0.8


@pytest.mark.parametrize("question", ["Is the population of Lisbon 545,000?", "Was it founded in 1998?"])
def test_a_question_is_never_a_claim_even_with_numbers(question):
    assert not Classifier().is_claim(question)


def test_hedging_and_evaluation_outweigh_a_number():
    c = Classifier()
    assert c.score("The stadium has 80,000 seats.") > c.score("The stadium probably has 80,000 amazing seats.")
