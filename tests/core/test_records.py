"""Records behave as the frozen dataclasses they stand for: construction, defaults,
equality, hashing, order, immutability, copying, and the errors of misuse."""

from __future__ import annotations

import copy
import pickle
from typing import ClassVar

import pytest

from portside.core.records import FrozenInstanceError, asdict, field, fields, record, replace


@record
class Point:
    x: int
    y: int = 0
    tags: tuple[str, ...] = ()
    note: dict[str, str] = field(default_factory=dict, compare=False)
    LIMIT: ClassVar[int] = 10


@record(order=True)
class Version:
    major: int
    minor: int


@record
class Checked:
    value: int

    def __post_init__(self) -> None:
        if self.value < 0:
            raise ValueError("negative")


@record(frozen=False)
class Box:
    items: list[int] = field(default_factory=list)
    hidden: object = field(default=None, repr=False)


@record
class Nested:
    point: Point
    points: tuple[Point, ...]
    table: dict[str, list[Point]]


def test_fields_defaults_and_factories() -> None:
    point = Point(1)
    assert (point.x, point.y, point.tags, point.note) == (1, 0, (), {})
    assert Point(1, 2, ("a",)).tags == ("a",)
    assert Point(x=3, y=4).y == 4
    assert Point(1).note is not Point(1).note  # a factory makes one per instance
    assert [f.name for f in fields(Point)] == ["x", "y", "tags", "note"]
    assert fields(Point(1)) == fields(Point)
    assert Point.LIMIT == 10
    assert Point.__match_args__ == ("x", "y", "tags", "note")  # type: ignore[attr-defined]


def test_equality_and_hashing_follow_the_compared_fields() -> None:
    assert Point(1, 2, note={"a": "b"}) == Point(1, 2)
    assert hash(Point(1, 2, note={"a": "b"})) == hash(Point(1, 2))
    assert Point(1, 2) != Point(2, 1)
    assert Point(1) != (1, 0, (), {})
    assert len({Point(1), Point(1), Point(2)}) == 2


def test_order() -> None:
    assert sorted([Version(1, 10), Version(1, 2), Version(0, 99)]) == [
        Version(0, 99),
        Version(1, 2),
        Version(1, 10),
    ]
    assert Version(1, 2) <= Version(1, 2) < Version(1, 3)
    assert Version(2, 0) > Version(1, 9) >= Version(1, 9)
    with pytest.raises(TypeError):
        assert Version(1, 2) < (1, 3)  # type: ignore[operator]


def test_frozen_records_refuse_changes() -> None:
    point = Point(1)
    with pytest.raises(FrozenInstanceError, match="cannot assign to field 'x'"):
        point.x = 2  # type: ignore[misc]
    with pytest.raises(AttributeError):
        del point.y  # type: ignore[misc]
    assert point.x == 1


def test_mutable_records_are_not_hashable() -> None:
    box = Box()
    box.items.append(1)
    box.items = [2]
    assert box == Box([2])
    with pytest.raises(TypeError):
        hash(box)


def test_repr_leaves_out_what_it_is_told_to() -> None:
    assert repr(Point(1, 2)) == "Point(x=1, y=2, tags=(), note={})"
    assert repr(Box([1], hidden="secret")) == "Box(items=[1])"


def test_post_init_runs_on_construction_and_replace() -> None:
    assert Checked(1).value == 1
    with pytest.raises(ValueError, match="negative"):
        Checked(-1)
    with pytest.raises(ValueError, match="negative"):
        replace(Checked(1), value=-1)


def test_replace_copies_with_changes() -> None:
    point = Point(1, 2, ("a",))
    moved = replace(point, y=5)
    assert moved == Point(1, 5, ("a",)) and point.y == 2
    with pytest.raises(TypeError, match="no field 'z'"):
        replace(point, z=1)
    with pytest.raises(TypeError):
        replace(object())


def test_asdict_recurses_and_copies() -> None:
    inner = Point(1, note={"k": "v"})
    nested = Nested(inner, (inner,), {"a": [inner]})
    plain = asdict(nested)
    assert plain == {
        "point": {"x": 1, "y": 0, "tags": (), "note": {"k": "v"}},
        "points": ({"x": 1, "y": 0, "tags": (), "note": {"k": "v"}},),
        "table": {"a": [{"x": 1, "y": 0, "tags": (), "note": {"k": "v"}}]},
    }
    plain["point"]["note"]["k"] = "changed"
    assert inner.note == {"k": "v"}
    with pytest.raises(TypeError):
        asdict({"x": 1})


def test_pickle_and_copy_keep_the_record() -> None:
    point = Point(1, 2, ("a",), {"k": "v"})
    for again in (pickle.loads(pickle.dumps(point)), copy.copy(point), copy.deepcopy(point)):
        assert again == point and again.note == {"k": "v"}
        with pytest.raises(FrozenInstanceError):
            again.x = 5  # type: ignore[misc]


def test_misuse_is_refused() -> None:
    with pytest.raises(TypeError, match="without a default follows"):

        @record
        class Wrong:
            a: int = 0
            b: int

    with pytest.raises(TypeError, match="cannot inherit"):

        @record
        class Child(Point):
            z: int = 0

    with pytest.raises(TypeError, match="makes its own __eq__"):

        @record
        class OwnEquality:
            a: int

            def __eq__(self, other: object) -> bool:
                return True

    with pytest.raises(TypeError, match="__slots__"):

        @record
        class Slotted:
            __slots__ = ("a",)
            a: int

    with pytest.raises(ValueError, match="both"):
        field(default=1, default_factory=list)
    with pytest.raises(TypeError, match="not a record"):
        fields(object())


def test_the_records_module_imports_nothing_heavy() -> None:
    import subprocess
    import sys

    script = "import sys, portside.core.records; print(sorted(sys.modules))"
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    for heavy in ("'typing'", "'dataclasses'", "'inspect'"):
        assert heavy not in run.stdout
