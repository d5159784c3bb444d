"""The entries of all of an image's layers together are bounded, not only those of each
layer: the file system the layers build keeps every entry until the scan ends."""

from __future__ import annotations

import pytest

from portside.scanner import errors
from portside.scanner.layers import Limits, Overlay, TarEntry


def _file(path: str) -> TarEntry:
    return TarEntry(path=path, kind="file", size=0, mode=0o644)


def test_the_entries_of_all_layers_together_are_bounded() -> None:
    limits = Limits(max_entries_per_layer=4, max_entries=10)
    overlay = Overlay(limits)
    for layer in range(2):  # two layers, each within its own bound
        for n in range(4):
            overlay.add(_file(f"layer{layer}/file{n}"), layer)
        overlay.end_layer()
    overlay.add(_file("layer2/whiteout-or-not"), 2)
    overlay.add(_file("layer2/tenth"), 2)
    with pytest.raises(errors.TooManyEntries) as refused:
        overlay.add(_file("layer2/eleventh"), 2)
    assert str(refused.value) == (
        "the image has more than 10 entries in its layers together (at layer 2)"
    )
    assert refused.value.limit == 10
