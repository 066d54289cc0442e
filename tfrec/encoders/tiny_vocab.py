"""A small WordPiece vocabulary shipped in code, for the tiny randomly initialised BERT.

Tests and smoke runs need a real tokenizer without any download. Single letters and digits
(plain and ``##`` continuation) guarantee that every lowercase ASCII word tokenises to known
pieces, so [UNK] only appears for other scripts.
"""

import string

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]

_WORDS = """
the a an and or of to in on for with at by from is are was be this that it as not
movie film story love life world man woman family war time new day night city house home
action comedy drama horror thriller romance adventure fantasy science fiction animation music
good bad great best old young first last big small dark light red blue green black white
book game song show series season episode hero friend school team car road water fire sun
""".split()

_PUNCTUATION = list(".,;:!?'\"()-&/")


def tiny_vocabulary() -> list[str]:
    """Returns the vocabulary: special tokens first ([PAD] is id 0), then words and pieces."""
    pieces = list(string.ascii_lowercase) + list(string.digits)
    vocab = SPECIAL_TOKENS + _WORDS + _PUNCTUATION + pieces + [f"##{p}" for p in pieces]
    seen = set()
    unique = []
    for token in vocab:
        if token not in seen:
            seen.add(token)
            unique.append(token)
    return unique
