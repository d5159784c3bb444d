"""The difference between two frozen manifests, as the review page shows it."""

from __future__ import annotations

import copy

from portside.catalog.manifest import diff, readable

BASE = {
    "name": "Acme Cache",
    "icon": "images/" + "a" * 64 + ".png",
    "short_description": "An in-memory cache.",
    "category": {"slug": "databases", "name": "Databases"},
    "search_tags": ["cache", "memory"],
    "screenshots": [{"image": "images/" + "b" * 64 + ".png", "caption": "Dashboard"}],
    "sla": {"hours": "Mon-Fri", "critical_hours": 4, "major_hours": None, "minor_hours": 72},
    "platforms": ["enterprise", "community"],
    "publisher_support": True,
    "sources": [{"repository": "acme/cache", "tags": {"1.0": "sha256:" + "c" * 64}}],
    "tiers": [
        {
            "name": "Business",
            "price": "29.00",
            "currency": "EUR",
            "billing_period": "monthly",
            "access": [{"repository": "acme/cache", "tags": ["1.0", "2.0"]}],
        },
        {"name": "Community", "price": "0", "currency": "USD", "billing_period": "free"},
    ],
}


def test_only_changed_items_are_listed_in_display_order() -> None:
    new = copy.deepcopy(BASE)
    new["tiers"][0]["price"] = "39.00"
    new["short_description"] = "A cache."
    changes = diff(BASE, new)
    assert [c["field"] for c in changes] == ["short_description", "tiers"]
    assert changes[1]["before_text"].startswith("Business: EUR 29.00, Monthly")
    assert changes[1]["after_text"].startswith("Business: EUR 39.00, Monthly")
    assert diff(BASE, copy.deepcopy(BASE)) == []


def test_a_first_revision_lists_every_item_with_a_value_and_no_before() -> None:
    changes = diff(None, BASE)
    assert {c["field"] for c in changes} == set(BASE)
    assert all(c["before_text"] is None for c in changes)


def test_items_read_as_words_not_json() -> None:
    assert readable("category", BASE["category"]) == "Databases"
    assert readable("search_tags", BASE["search_tags"]) == "cache, memory"
    assert readable("publisher_support", False) == "No"
    assert readable("platforms", ["community"]) == "Community Edition"
    sla = readable("sla", BASE["sla"])
    assert "Critical: 4 h" in sla and "major: not stated" in sla
    assert readable("screenshots", BASE["screenshots"]).startswith("1. Dashboard (image ")
    assert readable("sources", BASE["sources"]) == "acme/cache: 1.0 @ sha256:cccccccccccc"
    tiers = readable("tiers", BASE["tiers"]).splitlines()
    assert tiers == [
        "Business: EUR 29.00, Monthly; pulls acme/cache:1.0,2.0",
        "Community: free, Free; pulls nothing",
    ]
    assert readable("long_description", "") == "(empty)"
    for text in (readable(k, v) for k, v in BASE.items()):
        assert "{" not in text and "[" not in text
