"""The vendored spec subset is whole: every root is in it and every reference resolves in it.

Whether it matches upstream is `extract.py --check` against the full document (see README.md);
this checks what can be checked without it, so a hand edit or a partial regeneration shows up.
"""

from tests.schema import SPEC, document
from tests.spec.extract import ROOTS, reachable, references


def test_every_root_is_there() -> None:
    schemas = document()["components"]["schemas"]
    assert [name for name in ROOTS if name not in schemas] == []


def test_every_reference_resolves_inside_the_subset() -> None:
    schemas = document()["components"]["schemas"]
    dangling = {
        name: sorted(set(references(schema)) - set(schemas))
        for name, schema in schemas.items()
        if set(references(schema)) - set(schemas)
    }
    assert dangling == {}


def test_nothing_unreachable_is_kept() -> None:
    schemas = document()["components"]["schemas"]
    assert set(schemas) - reachable(schemas, ROOTS) == set()


def test_the_subset_says_where_it_comes_from() -> None:
    head = SPEC.read_text(encoding="utf-8")[:400]
    assert "openai/openai-openapi" in head and "MIT" in head
