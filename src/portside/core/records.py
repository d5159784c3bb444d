"""Record classes: a class of named fields with ``__init__``, ``__repr__``, ``__eq__`` and
``__hash__`` made for it, frozen unless asked otherwise.

``@record`` does for the scanner's and the OCI parser's value types what
``@dataclass(frozen=True)`` did, at a fraction of the cost to define: ``portside scan``
starts a process for every image, and on a small image its start is most of its time. In
Python 3.12 the ``dataclasses`` module imports ``inspect`` (with ``ast``, ``dis`` and
``tokenize``), about 12 ms, and compiles each generated method on its own, about 0.6 ms a
class. A record compiles its methods in one piece, and this module imports nothing at run
time.

What a record is:

* fields are the class's annotated attributes, in order (``ClassVar`` ones excepted); an
  attribute's value is the field's default, or ``field(default=..., default_factory=...,
  compare=..., hash=...)``;
* ``__init__`` takes the fields positionally or by name, fills in defaults, then calls
  ``__post_init__()`` when the class has one;
* two records are equal when they are of the same class and their compared fields are
  equal; a frozen record hashes its compared fields (less those with ``hash=False``);
  ``order=True`` orders records of one class by their compared fields;
* a frozen record refuses assignment and deletion with ``FrozenInstanceError`` (an
  ``AttributeError``); its fields live in its ``__dict__``, so ``pickle`` and ``copy``
  work as for any class;
* ``fields``, ``replace`` and ``asdict`` are this module's counterparts of the
  ``dataclasses`` functions of those names.
"""

from __future__ import annotations

from operator import attrgetter

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, dataclass_transform
else:  # no typing module at run time: the marker only tells type checkers what records are

    def dataclass_transform(**_kwargs):
        return lambda decorated: decorated


class FrozenInstanceError(AttributeError):
    """An assignment to, or deletion of, a field of a frozen record."""


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


class Field:
    """What ``field()`` returns: a field's default and whether it is compared and hashed."""

    __slots__ = ("compare", "default", "default_factory", "hash", "name", "repr")

    def __init__(
        self, default: Any, default_factory: Any, compare: bool, hash: bool | None, repr: bool
    ) -> None:
        if default is not MISSING and default_factory is not MISSING:
            raise ValueError("a field cannot have both a default and a default_factory")
        self.name = ""
        self.default = default
        self.default_factory = default_factory
        self.compare = compare
        self.hash = compare if hash is None else hash
        self.repr = repr

    def __repr__(self) -> str:
        return f"Field(name={self.name!r}, compare={self.compare}, hash={self.hash})"


def field(
    *,
    default: Any = MISSING,
    default_factory: Callable[[], Any] | Any = MISSING,
    compare: bool = True,
    hash: bool | None = None,
    repr: bool = True,
) -> Any:
    """A field with a default (or a factory called for each instance), and whether
    equality, hashing and ``repr`` show it (``hash=None``: as ``compare`` says)."""
    return Field(default, default_factory, compare, hash, repr)


@dataclass_transform(frozen_default=True, field_specifiers=(field, Field))
def record[T](cls: type[T] | None = None, /, *, frozen: bool = True, order: bool = False) -> Any:
    """Make ``cls`` a record (see the module's docstring)."""

    def wrap(target: type[T]) -> type[T]:
        return _make(target, frozen=frozen, order=order)

    return wrap if cls is None else wrap(cls)


def fields(item: Any) -> tuple[Field, ...]:
    """A record's (or record class's) fields, in order."""
    try:
        return item.__record_fields__
    except AttributeError:
        raise TypeError(f"{item!r} is not a record or a record class") from None


def replace[T](item: T, /, **changes: Any) -> T:
    """A copy of the record ``item`` with ``changes`` made; ``__post_init__`` runs again."""
    values = {f.name: item.__dict__[f.name] for f in fields(item)}
    unknown = set(changes) - set(values)
    if unknown:
        raise TypeError(f"{type(item).__name__} has no field {sorted(unknown)[0]!r}")
    values.update(changes)
    return type(item)(**values)


def asdict(item: Any) -> dict[str, Any]:
    """The record as a dict, records in its fields as dicts too; lists, tuples and dicts
    are copied, so changing the result changes nothing in the record."""
    if not hasattr(type(item), "__record_fields__"):
        raise TypeError(f"asdict() takes a record, not {type(item).__name__}")
    return _plain(item)


def _plain(value: Any) -> Any:
    if hasattr(type(value), "__record_fields__"):
        return {f.name: _plain(value.__dict__[f.name]) for f in value.__record_fields__}
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(v) for v in value)
    if isinstance(value, dict):
        return {_plain(k): _plain(v) for k, v in value.items()}
    return value


def _field_names(cls: type) -> list[str]:
    # Not inspect.get_annotations: importing inspect is what records avoid.
    annotations = cls.__dict__.get("__annotations__", {})  # noqa: RUF063
    names = []
    for name, annotation in annotations.items():
        text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", "")
        if text.startswith(("ClassVar", "typing.ClassVar")):
            continue
        names.append(name)
    return names


def _make[T](cls: type[T], *, frozen: bool, order: bool) -> type[T]:
    if "__slots__" in cls.__dict__:
        raise TypeError("a record keeps its fields in __dict__: it cannot have __slots__")
    for base in cls.__mro__[1:]:
        if "__record_fields__" in base.__dict__:
            raise TypeError("a record cannot inherit fields from another record")
    namespace: dict[str, Any] = {"MISSING": MISSING}
    made: list[Field] = []
    parameters: list[str] = []
    body: list[str] = []
    seen_default = False
    for name in _field_names(cls):
        if not name.isidentifier() or name.startswith("__"):
            raise TypeError(f"{name!r} cannot be a record's field")
        value = cls.__dict__.get(name, MISSING)
        spec = value if isinstance(value, Field) else Field(value, MISSING, True, None, True)
        spec.name = name
        made.append(spec)
        if spec.default is not MISSING:
            namespace[f"_default_{name}"] = spec.default
            parameters.append(f"{name}=_default_{name}")
            setattr(cls, name, spec.default)
        elif spec.default_factory is not MISSING:
            namespace[f"_factory_{name}"] = spec.default_factory
            parameters.append(f"{name}=MISSING")
            body.append(f"  if {name} is MISSING: {name} = _factory_{name}()")
            if name in cls.__dict__:
                delattr(cls, name)
        else:
            if seen_default:
                raise TypeError(f"field {name!r} without a default follows one with a default")
            parameters.append(name)
            if name in cls.__dict__:
                delattr(cls, name)
        if spec.default is not MISSING or spec.default_factory is not MISSING:
            seen_default = True
        body.append(f"  _d[{name!r}] = {name}")
    source = "\n".join(
        (
            f"def __init__(self, {', '.join(parameters)}):",
            "  _d = self.__dict__",
            *body,
            *(["  self.__post_init__()"] if hasattr(cls, "__post_init__") else []),
        )
    )
    # Only __init__ is compiled (from the class's own identifiers, checked above): the
    # other methods are closures over the fields' names, which cost nothing to make.
    exec(source, namespace)  # noqa: S102
    methods: dict[str, Any] = {"__init__": namespace["__init__"]}
    compared = _getter([f.name for f in made if f.compare])
    hashed = _getter([f.name for f in made if f.hash])
    shown = tuple(f.name for f in made if f.repr)

    def __repr__(self: Any) -> str:
        inner = ", ".join(f"{name}={self.__dict__[name]!r}" for name in shown)
        return f"{self.__class__.__qualname__}({inner})"

    def __eq__(self: Any, other: Any) -> Any:
        if other.__class__ is self.__class__:
            return compared(self) == compared(other)
        return NotImplemented

    methods["__repr__"] = __repr__
    methods["__eq__"] = __eq__
    if frozen:

        def __hash__(self: Any) -> int:
            return hash(hashed(self))

        methods["__hash__"] = __hash__
        methods["__setattr__"] = _frozen_setattr
        methods["__delattr__"] = _frozen_delattr
    else:
        methods["__hash__"] = None  # mutable and compared by value: not hashable
    if order:
        methods.update(_ordering(compared))
    for method, function in methods.items():
        if method in cls.__dict__ and not (method == "__hash__" and cls.__dict__[method] is None):
            raise TypeError(f"a record makes its own {method}; {cls.__name__} cannot define it")
        if function is not None and method not in ("__setattr__", "__delattr__"):
            function.__qualname__ = f"{cls.__qualname__}.{method}"
            function.__module__ = cls.__module__
        setattr(cls, method, function)
    cls.__record_fields__ = tuple(made)  # type: ignore[attr-defined]
    cls.__match_args__ = tuple(f.name for f in made)  # type: ignore[attr-defined,misc]
    return cls


def _getter(names: list[str]) -> Callable[[Any], tuple[Any, ...]]:
    """The named fields of a record, as a tuple."""
    if not names:
        return lambda _item: ()
    if len(names) == 1:
        (name,) = names
        return lambda item: (item.__dict__[name],)
    return attrgetter(*names)


def _frozen_setattr(self: Any, name: str, value: Any) -> None:
    raise FrozenInstanceError(f"cannot assign to field {name!r}")


def _frozen_delattr(self: Any, name: str) -> None:
    raise FrozenInstanceError(f"cannot delete field {name!r}")


def _ordering(key: Callable[[Any], tuple[Any, ...]]) -> dict[str, Callable[[Any, Any], Any]]:
    def __lt__(self: Any, other: Any) -> Any:
        return key(self) < key(other) if other.__class__ is self.__class__ else NotImplemented

    def __le__(self: Any, other: Any) -> Any:
        return key(self) <= key(other) if other.__class__ is self.__class__ else NotImplemented

    def __gt__(self: Any, other: Any) -> Any:
        return key(self) > key(other) if other.__class__ is self.__class__ else NotImplemented

    def __ge__(self: Any, other: Any) -> Any:
        return key(self) >= key(other) if other.__class__ is self.__class__ else NotImplemented

    return {"__lt__": __lt__, "__le__": __le__, "__gt__": __gt__, "__ge__": __ge__}
