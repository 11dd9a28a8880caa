"""The reserved words of the spec language, where every layer that needs them can import them:
the front end (a bare keyword is never a name), the compiler's printer (it quotes a
proposition whose name is a keyword) and the formatter. ``tests/speclang/test_keywords.py``
checks them against the words of ``grammars/*.lark``."""

from __future__ import annotations

# The words that start a declaration; after a syntax error the parser resumes at a line that
# starts with one.
DECLARATION_KEYWORDS = ("import", "props", "observe", "prop", "def", "spec", "progression")

# Reserved words: never plain names (a quoted "next" is a fine proposition name).
KEYWORDS = frozenset({
    "true", "false", "tt", "ff", "not", "and", "or", "implies", "iff", "xor", "last", "end",
    "first", "start", "next", "weak_next", "eventually", "always", "until", "release",
    "weak_until", "strong_release", "yesterday", "weak_yesterday", "once", "historically",
    "since", "trigger", *DECLARATION_KEYWORDS,
})

# Words of the grammar that are keywords only in one place (right after the observable of a
# text proposition: ``prop p = reply matches /x/``) and plain names everywhere else.
CONTEXTUAL_KEYWORDS = frozenset({"matches", "contains", "classifies"})
