"""Turkish text: normalisation, Turkish-aware casing and a cheap language check.

Python's str.lower() maps "I" to "i" and "İ" to "i̇" (two code points); Turkish needs I→ı and İ→i, so the
dotted/dotless pairs are mapped before the generic case mapping.
"""

from __future__ import annotations

import html
import re
import unicodedata

import ftfy

_LOWER_MAP = str.maketrans({"I": "ı", "İ": "i"})
_UPPER_MAP = str.maketrans({"i": "İ", "ı": "I"})

# Zero-width and invisible format characters that break tokenisation and exact matching.
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad\u200e\u200f\u202a\u202b\u202c\u202d\u202e"))
_HORIZONTAL_SPACE = re.compile(r"[^\S\n]+")
_MANY_NEWLINES = re.compile(r"\n{3,}")
_HTML_TAG = re.compile(r"<\s*/?\s*[a-zA-Z][^<>]*>")
_MD_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_MD_EMPHASIS = re.compile(r"(\*\*|__|\*|`+)(?=\S)(.+?)(?<=\S)\1")
_MD_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+", re.MULTILINE)
# UTF-8 Turkish letters read as Windows-1252/1254 ("buÄŸday"); ftfy leaves some of these pairs alone.
_MOJIBAKE_PAIR = re.compile(
    "[\u00c3\u00c4\u00c5][\u0080-\u00bf\u0152\u0153\u0160\u0161\u0178\u017d\u017e\u2018-\u201e\u2020-\u2022\u2026\u2030\u2039\u203a]"
)
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u02bc": "'", "\u2018": "'", "\u00b4": "'"})

TURKISH_LETTERS = frozenset("çğıöşüÇĞİÖŞÜ")
# Frequent Turkish function words; a text with several of them is very likely Turkish.
TURKISH_STOPWORDS = frozenset(
    """ve bir bu da de için ile çok daha en ne gibi ama veya ya olarak sonra önce kadar göre her bu şu o
    ki mi mı mu mü değil var yok ise olan olur olup ayrıca ancak yani eğer hem çünkü nasıl neden
    hangi kaç zaman ayı ayında başına dekar toprak su""".split()
)
# Letters that never occur in Turkish words; their presence argues for another language.
_FOREIGN_LETTERS = frozenset("qwxäßàéèêñ")
_WORD = re.compile(r"\w+(?:'\w+)?")


def _repair_mojibake_pair(match: re.Match) -> str:
    pair = match.group(0)
    for codepage in ("cp1252", "cp1254"):
        try:
            return pair.encode(codepage).decode("utf-8")
        except UnicodeError:
            continue
    return pair


def turkish_lower(text: str) -> str:
    """Lower-case with Turkish rules: "İSTANBUL" → "istanbul", "ILIK" → "ılık"."""
    return text.translate(_LOWER_MAP).lower()


def turkish_upper(text: str) -> str:
    """Upper-case with Turkish rules: "istanbul" → "İSTANBUL", "ılık" → "ILIK"."""
    return text.translate(_UPPER_MAP).upper()


def strip_markup(text: str) -> str:
    """Remove HTML tags/entities and Markdown decoration, keeping the visible words."""
    text = html.unescape(text)
    text = _HTML_TAG.sub(" ", text)
    text = _MD_LINK.sub(r"\1", text)
    text = _MD_HEADING.sub("", text)
    return _MD_EMPHASIS.sub(r"\2", text)


def normalize_turkish(text: str, *, markup: bool = False, keep_newlines: bool = True) -> str:
    """Clean one Turkish text for training and matching.

    Repairs mojibake ("TÃ¼rkiye" → "Türkiye"), applies NFC, removes control and zero-width characters,
    unifies apostrophes (kept: "Ankara'da"), collapses whitespace and, when ``markup`` is true, strips
    HTML/Markdown remnants.
    """
    if not text:
        return ""
    text = ftfy.fix_text(text, normalization="NFC", unescape_html=False, uncurl_quotes=False)
    text = _MOJIBAKE_PAIR.sub(_repair_mojibake_pair, text)
    text = unicodedata.normalize("NFC", text).translate(_INVISIBLE).translate(_APOSTROPHES)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = "".join(ch for ch in text if ch in "\n\t" or unicodedata.category(ch) != "Cc")
    if markup:
        text = strip_markup(text)
    if not keep_newlines:
        text = text.replace("\n", " ")
    lines = [_HORIZONTAL_SPACE.sub(" ", line).strip() for line in text.split("\n")]
    return _MANY_NEWLINES.sub("\n\n", "\n".join(lines)).strip()


def words(text: str) -> list[str]:
    """Turkish-lower-cased words and numbers, apostrophe suffixes kept attached ("ankara'da")."""
    return _WORD.findall(turkish_lower(unicodedata.normalize("NFC", text)))


def repeated_ngram_share(text: str, n: int = 3) -> float:
    """0–1: the share of word n-grams that repeat an earlier one ("a b a b a b" → 0.5 for n=3). Loops such as
    "koruyucu ve koruyucu ve …" score near 1; normal prose near 0."""
    tokens = words(text)
    ngrams = list(zip(*(tokens[i:] for i in range(n))))
    return 1.0 - len(set(ngrams)) / len(ngrams) if ngrams else 0.0


def turkish_score(text: str) -> float:
    """A score in [0, 1]: how Turkish a text looks, from stopwords and Turkish-only letters.

    Cheap and offline; meant to flag non-Turkish rows, not to identify every language.
    """
    tokens = words(text)
    if not tokens:
        return 0.0
    stopword_share = sum(token in TURKISH_STOPWORDS for token in tokens) / len(tokens)
    letters = [ch for ch in text if ch.isalpha()]
    turkish_letter_share = sum(ch in TURKISH_LETTERS for ch in letters) / max(len(letters), 1)
    foreign_share = sum(ch.lower() in _FOREIGN_LETTERS for ch in letters) / max(len(letters), 1)
    # Typical Turkish prose: ~15-25% stopwords, ~5-8% Turkish-only letters, no q/w/x.
    score = min(stopword_share / 0.12, 1.0) * 0.5 + min(turkish_letter_share / 0.04, 1.0) * 0.5
    return max(0.0, score - min(foreign_share / 0.01, 1.0) * 0.5)


def is_turkish(text: str, threshold: float = 0.35) -> bool:
    return turkish_score(text) >= threshold
