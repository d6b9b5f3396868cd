"""Pure tier: generated names fit Postgres' 63-byte limit, deterministically.

Layer: tests (pure tier, no database). Postgres silently truncates longer names, so two long
generated names could collide; ``names.fit`` shortens with a stable hash instead, and
``names.validate_explicit`` refuses user-given names it would have to change.
"""

from __future__ import annotations

import pytest

from pghistory_core import names
from pghistory_core.errors import InvalidNameError

LIMIT = names.MAX_IDENTIFIER_BYTES


def _size(name: str) -> int:
    return len(name.encode("utf-8"))


def test_limit_is_postgres_default_namedatalen_minus_one() -> None:
    assert LIMIT == 63


@pytest.mark.parametrize(
    ("parts", "expected"),
    [
        (("pgh", "insert"), "pgh_insert"),
        (("account", "event"), "account_event"),
        (("pgh", "", "insert"), "pgh_insert"),
        (("Ünï", "Ω"), "Ünï_Ω"),
        (("a" * 63,), "a" * 63),
        (("a" * 31, "b" * 31), "a" * 31 + "_" + "b" * 31),
    ],
)
def test_fit_keeps_names_within_the_limit_unchanged(parts: tuple[str, ...], expected: str) -> None:
    assert names.fit(*parts) == expected


def test_fit_uses_the_separator() -> None:
    assert names.fit("a", "b", separator="__") == "a__b"


@pytest.mark.parametrize(
    "parts",
    [
        ("a" * 64,),
        ("pgh", "x" * 100, "insert"),
        ("é" * 40,),  # 80 bytes, 40 characters
        ("表" * 30,),  # 90 bytes
        ("pgh", "a" * 50 + "😀" * 10),
    ],
    ids=["64 ascii", "long middle", "two-byte chars", "three-byte chars", "four-byte chars"],
)
def test_fit_shortens_long_names_to_at_most_63_bytes(parts: tuple[str, ...]) -> None:
    full = "_".join(p for p in parts if p)
    name = names.fit(*parts)
    assert _size(name) <= LIMIT
    assert name != full
    prefix, _, digest = name.rpartition("_")
    assert digest == names.stable_hash(full)
    # The readable part is a prefix of the full name, cut on a character boundary.
    assert full.startswith(prefix)
    name.encode("utf-8").decode("utf-8")  # valid UTF-8, no split character


@pytest.mark.parametrize("char", ["é", "表", "😀"])
@pytest.mark.parametrize("lead", range(0, 5))
def test_fit_never_splits_a_multibyte_character(char: str, lead: int) -> None:
    # Shift the cut point over every byte position of a multi-byte character.
    full = "a" * lead + char * 40
    name = names.fit(full)
    assert _size(name) <= LIMIT
    kept = name.rpartition("_")[0]
    assert full.startswith(kept)
    assert set(kept[lead:]) <= {char}
    # Nothing more was dropped than needed to fit the hash: one more char would not fit.
    suffix_size = 1 + len(names.stable_hash(full))
    assert _size(kept) + _size(char) > LIMIT - suffix_size


def test_fit_is_deterministic() -> None:
    long = "pgh_" + "customer_account_balance_history" * 3
    assert names.fit(long) == names.fit(long) == names.fit("pgh", "customer_account_balance_history" * 3)
    # Pinned: the hash must not depend on the machine, the process or the Python version,
    # or every installed name would change (and show as drift) after an upgrade.
    assert names.stable_hash("pghistory") == "8d27c0fb"  # sha256("pghistory")[:8]


def test_long_names_differing_only_at_the_end_get_different_results() -> None:
    base = "x" * 80
    first, second = names.fit(base + "_insert"), names.fit(base + "_update")
    assert first != second
    assert _size(first) <= LIMIT and _size(second) <= LIMIT


def test_fit_rejects_what_cannot_become_a_name() -> None:
    with pytest.raises(InvalidNameError, match="empty"):
        names.fit()
    with pytest.raises(InvalidNameError, match="empty"):
        names.fit("", "")
    with pytest.raises(InvalidNameError, match=r"NUL.*'a\\x00b'"):
        names.fit("a\x00b")


@pytest.mark.parametrize("name", ["x", "My Table", 'qu"ote', "$weird$", "ü" * 31, "a" * 63])
def test_validate_explicit_returns_valid_names_unchanged(name: str) -> None:
    assert names.validate_explicit(name, "table name") is name


@pytest.mark.parametrize(
    ("name", "fragments"),
    [
        ("", ["trigger_name", "empty or blank", "''"]),
        ("   ", ["trigger_name", "empty or blank", "'   '"]),
        ("a\x00b", ["trigger_name", "NUL", "'a\\x00b'"]),
        ("a" * 64, ["trigger_name", "64 bytes", "63", "a" * 64]),
        ("ü" * 32, ["trigger_name", "64 bytes", "ü" * 32]),
        (None, ["trigger_name", "must be a str", "NoneType"]),
        (42, ["trigger_name", "must be a str", "42"]),
    ],
    ids=["empty", "blank", "nul", "64 ascii bytes", "64 utf-8 bytes", "None", "int"],
)
def test_validate_explicit_names_the_problem_and_the_value(name: object, fragments: list[str]) -> None:
    with pytest.raises(InvalidNameError) as info:
        names.validate_explicit(name, "trigger_name")
    for fragment in fragments:
        assert fragment in str(info.value)
