"""Name normalisation for sanctions screening.

Two spellings of a name match when they have the same :func:`name_key`: the same
words, whatever their case, accents, punctuation, spacing and order. So
``"José María Ejemplo-Ficticio"``, ``"FICTICIO, Jose Maria Ejemplo"`` and
``"  ejemplo   jose  maria ficticio "`` are one name.

The steps, in order:

1. Unicode NFKD decomposition, then every combining mark is dropped (``é`` -> ``e``,
   the ligature ``ﬁ`` -> ``fi``).
2. Case folding (``ß`` -> ``ss``), then letters that carry no separable accent are
   folded by a short table (``ø`` -> ``o``, ``æ`` -> ``ae``, ``ł`` -> ``l``, ...).
3. Apostrophes and full stops join (``O'Neil`` -> ``oneil``, ``J.R.`` -> ``jr``); every
   other character that is not a letter or digit separates words.
4. The words are sorted.

What it does not do, and a production screening engine would: transliterate
between scripts (Cyrillic and Latin spellings stay different), match partial names
(a missing middle name is a different name), or score fuzzy similarity (typos,
phonetic variants). Those belong to a vendor list and a human review queue, not to
a deterministic rule.
"""

from __future__ import annotations

import unicodedata

_FOLD = str.maketrans(
    {
        "ø": "o",
        "æ": "ae",
        "œ": "oe",
        "đ": "d",
        "ð": "d",
        "ł": "l",
        "þ": "th",
        "ı": "i",
        "ħ": "h",
        "ŧ": "t",
        "ŋ": "n",
    }
)
_JOINERS = frozenset("'’ʼ‘`´.")


def name_words(name: str) -> tuple[str, ...]:
    """Return the normalised words of ``name``, sorted (see the module docstring).

    Runtime complexity: O(n log n) in the length of the name.
    """
    decomposed = unicodedata.normalize("NFKD", name)
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    folded = bare.casefold().translate(_FOLD)
    spaced = "".join(ch if ch.isalnum() else ("" if ch in _JOINERS else " ") for ch in folded)
    return tuple(sorted(spaced.split()))


def name_key(name: str) -> str:
    """Return the comparison key of ``name``: its normalised words, sorted, joined by spaces."""
    return " ".join(name_words(name))
