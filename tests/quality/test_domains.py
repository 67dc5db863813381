from __future__ import annotations

import pytest

from fidele.quality.domains import (
    REFERENCE_DOMAINS,
    TypoFinder,
    domains_judge,
    edit_distance,
    is_disposable,
)


@pytest.mark.parametrize(
    ("typo", "meant"),
    [
        ("gmial.com", "gmail.com"),
        ("hotmial.fr", "hotmail.fr"),
        ("orange.ff", "orange.fr"),
        ("wanadoo.frr", "wanadoo.fr"),
        ("gmail.con", "gmail.com"),
        ("yahooo.fr", "yahoo.fr"),
        ("laposte.nte", "laposte.net"),
        ("gmaill.com", "gmail.com"),
        ("hotmal.fr", "hotmail.fr"),
    ],
)
def test_it_finds_the_domain_a_typo_misspells_by_edit_distance(typo, meant):
    assert domains_judge({typo: 2, "gmail.com": 500}).typos == {typo: meant}


def test_real_providers_near_each_other_are_never_typos():
    counts = {domain: 3 for domain in REFERENCE_DOMAINS}
    assert domains_judge(counts).typos == {}


def test_a_domain_nearly_as_common_as_its_neighbour_is_a_real_one():
    # Two firms' domains one letter apart: the smaller is not rare beside the larger.
    assert domains_judge({"cave-leo.fr": 40, "cave-lea.fr": 60}).typos == {}
    assert domains_judge({"cave-leo.fr": 2, "cave-lea.fr": 60}).typos == {
        "cave-leo.fr": "cave-lea.fr"
    }


def test_a_typo_is_found_near_the_bases_own_common_domains():
    verdicts = domains_judge({"gmail.example": 500, "gmial.example": 4, "mairie-bergerac.fr": 3})
    assert verdicts.typos == {"gmial.example": "gmail.example"}


def test_a_common_typo_in_a_large_base_is_still_a_typo():
    assert domains_judge({"gmail.com": 300_000, "gmail.con": 150}).typos == {
        "gmail.con": "gmail.com"
    }


def test_disposable_domains_come_from_the_maintained_list_with_their_subdomains():
    assert is_disposable("yopmail.com")
    assert is_disposable("inbox.mailinator.com")
    assert not is_disposable("orange.fr")
    verdicts = domains_judge({"yopmail.com": 2, "jetable.org": 1, "orange.fr": 9})
    assert verdicts.disposable == {"yopmail.com", "jetable.org"}
    assert verdicts.typos == {}


def test_a_typo_of_a_published_domain_is_a_typo_even_when_squatters_list_it_as_disposable():
    verdicts = domains_judge({"gmial.com": 2})
    assert verdicts.typos == {"gmial.com": "gmail.com"}
    assert verdicts.disposable == set()


def test_invalid_domains_are_only_invalid():
    verdicts = domains_judge({"": 1, "localhost": 1, "x.test": 2, "gmail.com": 3})
    assert verdicts.invalid == {"", "localhost", "x.test"}
    assert verdicts.typos == {} and verdicts.disposable == set()


def test_edit_distance_counts_a_swap_as_one_edit_and_stops_past_its_limit():
    assert edit_distance("gmial.com", "gmail.com", 2) == 1
    assert edit_distance("orange.ff", "orange.fr", 2) == 1
    assert edit_distance("abc", "abcdef", 1) == 2
    assert edit_distance("kitten", "sitting", 5) == 3


def test_the_finder_prefers_the_nearest_then_the_most_used_domain():
    finder = TypoFinder({})
    assert finder.fix("hotmail.fe", 1) == "hotmail.fr"
    assert finder.fix("gmail.com", 1) is None
