"""Client names that imitate other names: look-alike letters, mixed alphabets, hidden characters.

A client chooses its own ``client_name``, and the consent page shows it. "Сlаudе" with a
Cyrillic С, а and е renders like "Claude" in most fonts; "Ｃｌａｕｄｅ" is full-width;
a right-to-left override (U+202E) can make text display in an order other than the one it
is stored in. :func:`lookalike_warning` explains, in one sentence for the user, what is odd
about a name — or returns None for an ordinary one.

The checks follow the ideas of Unicode Technical Standard #39 (security mechanisms) in a
small form, without its full data files:

* **hidden characters** — format and control characters (general category ``Cf``/``Cc``):
  zero-width joiners, bidirectional overrides;
* **compatibility forms** — the name changes under NFKC normalization (full-width, styled
  mathematical letters, ligatures);
* **mixed scripts** — letters from more than one script, except the combinations that
  are ordinary writing (Latin with Han and Japanese kana, Bopomofo or Hangul);
* **whole-script look-alikes** — with the letters of other scripts that are drawn like
  Latin ones replaced (:data:`LATIN_LOOKALIKES`, a short hand-made table), the name turns
  into plain ASCII: "аррӏе" is all Cyrillic and reads "apple".
"""

from __future__ import annotations

import unicodedata

# Letters of other scripts whose usual glyphs match a Latin letter (a subset of what UTS #39
# calls confusables: the ones a name can be spelled with).
LATIN_LOOKALIKES = str.maketrans(
    {
        # Cyrillic
        "а": "a", "с": "c", "ԁ": "d", "е": "e", "һ": "h", "і": "i", "ј": "j", "ӏ": "l", "о": "o",
        "р": "p", "ԛ": "q", "ѕ": "s", "у": "y", "ԝ": "w", "х": "x",
        "А": "A", "В": "B", "С": "C", "Ԁ": "D", "Е": "E", "Н": "H", "І": "I", "Ј": "J", "К": "K",
        "М": "M", "О": "O", "Р": "P", "Ԛ": "Q", "Ѕ": "S", "Т": "T", "Ԝ": "W", "Х": "X", "Ү": "Y",
        # Greek
        "α": "a", "ι": "i", "ν": "v", "ο": "o", "ρ": "p", "υ": "u",
        "Α": "A", "Β": "B", "Ε": "E", "Ζ": "Z", "Η": "H", "Ι": "I", "Κ": "K", "Μ": "M", "Ν": "N",
        "Ο": "O", "Ρ": "P", "Τ": "T", "Υ": "Y", "Χ": "X",
        # Armenian
        "ց": "g", "հ": "h", "ո": "n", "օ": "o", "ս": "u",
    }
)  # fmt: skip

# Scripts that are written together in ordinary text (UTS #39 "highly restrictive" sets).
_ORDINARY_MIXES = (
    frozenset({"LATIN", "CJK", "HIRAGANA", "KATAKANA", "KATAKANA-HIRAGANA"}),  # ー is both kana
    frozenset({"LATIN", "CJK", "BOPOMOFO"}),
    frozenset({"LATIN", "CJK", "HANGUL"}),
)


def _script(letter: str) -> str:
    """The script of a letter, from the first word of its Unicode name (LATIN, CYRILLIC, CJK …)."""
    return unicodedata.name(letter, "UNKNOWN").split(" ", 1)[0]


def _compatible(ch: str) -> str:
    """A letter's NFKC form (Ｃ → C, 𝐂 → C); anything else unchanged."""
    return unicodedata.normalize("NFKC", ch) if ch.isalpha() else ch


def scripts_of(text: str) -> set[str]:
    return {_script(ch) for ch in text if ch.isalpha()}


def lookalike_warning(name: str) -> str | None:
    """One sentence on what makes ``name`` a likely imitation, or None if it is ordinary."""
    if any(unicodedata.category(ch) in ("Cf", "Cc") for ch in name):
        return (
            "This name contains invisible or text-direction characters, which can make it display "
            "differently from what it is — a trick used to imitate other apps."
        )
    # Only letters count: NFKC also rewrites harmless symbols such as ™ or ½.
    plain = "".join(_compatible(ch) for ch in name).translate(LATIN_LOOKALIKES)
    reads_as = f" and reads like “{plain}”" if plain != name and plain.isascii() else ""
    if any(_compatible(ch) != ch for ch in name):
        return (
            f"This name is written with styled or full-width letters{reads_as}: it may be "
            "imitating another app."
        )
    scripts = scripts_of(name)
    if len(scripts) > 1 and not any(scripts <= mix for mix in _ORDINARY_MIXES):
        alphabets = " and ".join(sorted(script.replace("CJK", "Han").title() for script in scripts))
        return (
            f"This name mixes letters of different alphabets ({alphabets}){reads_as}: it may be "
            "imitating another app."
        )
    if reads_as:
        return f"This name is written in look-alike letters{reads_as}: it may be imitating another app."
    return None
