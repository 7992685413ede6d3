"""Turn a raw posting (title, body) into encoder input.

The title keeps its words, less a job ad's decorations (location, pay, schedule, work arrangement,
requisition numbers, hiring calls), with common abbreviations spelled out. The body loses HTML, contact details, job-board boilerplate,
punctuation, digits and stop words. A classifier reads only its duty sentences (``min_duty_score``),
and when it is longer than the encoder's window its most duty-like sentences are kept first (not
blind truncation).
"""

from __future__ import annotations

import html
import re
import unicodedata
from functools import lru_cache

import ftfy
from nltk.tokenize import RegexpTokenizer
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

from jobclass.paths import RESOURCES_DIR

# A body budget in words: MiniLM's 128-token window holds about 90 cleaned words with the title.
DEFAULT_BODY_WORDS = 80
# The duty score a sentence needs for a classifier to read it (see :func:`duty_score`): a leading
# task verb scores 2 and a cue phrase ("responsible for", "you will") 1, so 1 keeps either.
DUTY_SENTENCE_SCORE = 1.0

_TAG = re.compile(r"<[^>]{0,2000}>")
_SCRIPT = re.compile(r"<(script|style)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_URL = re.compile(r"\b(?:https?://|ftp://|www\.)\S+", re.IGNORECASE)
_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")
_PHONE = re.compile(r"(?:\+?\d{1,3}[\s.-]?)?(?:\(\d{2,4}\)|\d{2,4})[\s.-]\d{3,4}[\s.-]\d{3,4}\b")
# Sentence ends: terminal punctuation before a capital or end, line breaks, bullets, or a
# run-on boundary such as "merit.If" that USAJOBS texts are full of.
_SENTENCE_END = re.compile(r"(?<=[.!?;:])\s+|(?<=[a-z][.!?])(?=[A-Z])|\s*[\n\r\u2022\u25cf\u25aa\u2023]+\s*")
_WORDS = RegexpTokenizer(r"[a-z][a-z+#]*")
_DUTY_CUES = re.compile(
    r"\b(responsib\w*|duties|dut(y|ies) include|you will|you'll|will be (responsible|expected)|"
    r"in this role|your (role|responsibilities|tasks|day)|what you('ll| will) do|the incumbent|major duties|"
    r"tasks include|(we are|we're) (looking|seeking|hiring)|join (us|our team) as)\b",
    re.IGNORECASE,
)
# What a title never looks like: a sentence. Openers of sentences, slogans and section headings
# that scraped postings carry in their first line; a title can be long, but not this long.
_SENTENCE_OPENERS = re.compile(
    r"^(this|these|we|we're|our|you|your|are you|do you|join|see|click|apply|about|come|"
    r"looking|location|work schedule|summary|overview|description|announcement|there|if)\b",
    re.IGNORECASE,
)
MAX_TITLE_WORDS = 14


def _read_list(name: str) -> list[str]:
    lines = (RESOURCES_DIR / name).read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


@lru_cache(maxsize=1)
def stop_words() -> frozenset[str]:
    """scikit-learn's English list minus words that name jobs (``computer``, ``fire``...)."""
    return frozenset(ENGLISH_STOP_WORDS) - set(_read_list("stop_words_keep.txt"))


@lru_cache(maxsize=1)
def boilerplate_patterns() -> tuple[re.Pattern[str], ...]:
    return tuple(re.compile(p, re.IGNORECASE) for p in _read_list("boilerplate.txt"))


@lru_cache(maxsize=1)
def boilerplate_regex() -> re.Pattern[str]:
    """Every boilerplate pattern in one regex, the leading word boundary they share tested once
    per position: three times faster than a search per pattern (measured on the USAJOBS bodies)."""
    patterns = [p.pattern for p in boilerplate_patterns()]
    bounded = [p[2:] for p in patterns if p.startswith(r"\b")]
    others = [p for p in patterns if not p.startswith(r"\b")]
    alternatives = [r"\b(?:" + "|".join(f"(?:{p})" for p in bounded) + ")"] if bounded else []
    return re.compile("|".join(alternatives + [f"(?:{p})" for p in others]), re.IGNORECASE)


@lru_cache(maxsize=1)
def duty_verbs() -> frozenset[str]:
    return frozenset(_read_list("duty_verbs.txt"))


def repair_text(raw: str | bytes | None) -> str:
    """Decode, repair mojibake, unescape entities and drop HTML tags."""
    if raw is None:
        return ""
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", errors="replace")
    return _repair(raw)


@lru_cache(maxsize=2048)  # a 1,000-posting chunk: its titles and bodies (bodies <= 20,000 chars)
def _repair(raw: str) -> str:
    """:func:`repair_text` of a str, cached: validation and cleaning repair the same texts."""
    text = ftfy.fix_text(raw)
    text = _SCRIPT.sub(" ", text)
    # Block tags end sentences; inline ones just vanish.
    text = re.sub(r"<\s*(br|/p|/li|/div|/h\d|li|p)\b[^>]*>", "\n", text, flags=re.IGNORECASE)
    text = _TAG.sub(" ", text)
    text = html.unescape(text)
    return text.replace("\u00a0", " ")


def remove_contact_details(text: str) -> str:
    return _PHONE.sub(" ", _EMAIL.sub(" ", _URL.sub(" ", text)))


def _fold(text: str) -> str:
    """Lower-case and strip accents."""
    if text.isascii():
        return text.lower()
    text = unicodedata.normalize("NFKD", text.lower())
    return "".join(ch for ch in text if not unicodedata.combining(ch))


def words(text: str, drop_stop_words: bool) -> list[str]:
    """Lower-cased word tokens without punctuation or digits (``c++`` and ``c#`` survive)."""
    tokens = _WORDS.tokenize(_fold(text))
    return without_stop_words(tokens) if drop_stop_words else tokens


def without_stop_words(tokens: list[str]) -> list[str]:
    stops = stop_words()
    return [t for t in tokens if t not in stops]


_STATES = (
    "AL|AK|AZ|AR|CA|CO|CT|DE|DC|FL|GA|HI|ID|IL|IN|IA|KS|KY|LA|ME|MD|MA|MI|MN|MS|MO|MT|NE|NV|NH|NJ|NM|NY|NC|ND|"
    "OH|OK|OR|PA|RI|SC|SD|TN|TX|UT|VT|VA|WA|WV|WI|WY|PR"
)
_CITY_STATE = r"(?-i:[A-Z][\w.'-]*(?:\s+[A-Z][\w.'-]*){0,3},\s*(?:" + _STATES + r"))\b(?:\s+\d{5})?"  # Chicago, IL
_PAY_AMOUNT = r"(?:\bup\s+to\s+)?\$\s?\d[\d,.]*\s?k?"
_PAY = (  # $22/hr, up to $85,000/yr, $45k - $60k
    _PAY_AMOUNT + r"(?:\s*(?:-|to)\s*\$?\s?\d[\d,.]*\s?k?)?"
    r"(?:\s*(?:/|per|an|a)\s*(?:hr|hour|hourly|yr|year|annually|wk|week|weekly|mo|month))?"
)
# One decoration of an ad title; a segment made only of these (and joiners) is dropped.
_DECORATION = re.compile(
    r"(?:\bin\s+)?" + _CITY_STATE
    + r"|\b(?:remote|hybrid|on[- ]?site|in[- ]office|wfh|work\s+from\s+home|telecommute|anywhere|nationwide)\b|"
    + _PAY
    + r"|\b\d[\d,.]*\s?k\b|\bdoe\b|\bcompetitive\s+pay\b|\b(?:great\s+|excellent\s+|full\s+)?benefits\b"
    r"|\bhome\s+(?:daily|nightly|weekly|weekends|every\s+weekend)\b"
    r"|\b(?:sign(?:ing)?[- ]?on|retention|relocation|referral)?\s*bonus(?:es)?(?:\s+available)?\b"
    r"|\b(?:full|part)[- ]?time\b|\b(?:prn|per\s+diem|temp|temporary|contract|contractor|seasonal|permanent)\b"
    r"|\b(?:ft|pt)\s*/\s*(?:ft|pt)\b|\b\d+\+?\s*(?:weeks?|wks?|months?|mos?)\b|\bcontract[- ]to[- ]hire\b"
    r"|\b(?:all\s+)?(?:days?|nights?|evenings?|overnights?|weekends?|1st|2nd|3rd|first|second|third|graveyard|swing"
    r"|rotating)(?:\s+shifts?)?\b|\b(?:all\s+)?shifts?\b|\b\d{1,2}\s?(?:hr|hour)s?\b|\bm\s?-\s?f\b"
    r"|\b(?:weekly|daily|same[- ]day|bi-?weekly)\s+pay(?:outs?)?\b|\b(?:earn|make)\b|\b(?:cash\s+)?tips\b"
    r"|\bentry[- ]level\b|\bno\s+experience(?:\s+(?:needed|required|necessary))?\b|\bwill\s+train\b"
    r"|\b(?:paid\s+)?training\s+provided\b|\bpaid\s+training\b|\b[\w/+-]+\s+(?:preferred|required|a\s+plus)\b"
    r"|\b(?:20\d\d(?:\s*[-/]\s*(?:20)?\d\d)?\s+)?school\s+year\b|\b20\d\d\s*[-/]\s*(?:20)?\d\d\b"
    r"|\b(?:us|usa|u\.s\.|united\s+states|uk|canada|us[- ]based)\b"
    r"|\b(?:(?:now|urgently|immediately)\s+)?hiring(?:\s+now|\s+immediately)?\b|\bapply\s+(?:now|today)\b"
    r"|\bimmediate\s+(?:start|openings?|need)\b|\burgent(?:ly)?\b|\bnew\b|\bhot\s+job\b"
    r"|(?:\b(?:req(?:uisition)?|job|ref|id)\b\.?\s*(?:id|no|number)?\.?\s*[#:]?\s*|#\s?)[\w-]*\d[\w-]*"
    r"|\b[mfwhdx](?:\s*/\s*[mfwhdx]){1,3}\b|\ball\s+genders\b",
    re.IGNORECASE,
)
_JOINERS = re.compile(r"^[\s,;:&+/!.*%()\[\]-]*(?:(?:and|or|with|w|plus|up|to|available|\d+)\b[\s,;:&+/!.*%()\[\]-]*)*$", re.IGNORECASE)
_SEGMENT_BREAK = re.compile(r"\s+[-\u2013\u2014|\u2022]\s+|\s*(?:[|\u2022]|\*+)\s*|\s*[(\[]([^)\]]*)[)\]]\s*")
_HIRING_PREFIX = re.compile(
    r"^\s*(?:(?:urgent(?:ly)?|now|immediately|we\s*(?:'|a)?re)\s+)*(?:hiring\b|urgent\s*[:!-])\s*[:!-]*\s*", re.IGNORECASE
)
_TRAILER = re.compile(  # a location or schedule at the end of the title itself
    r"(?:\s+(?:in|at)|,)?\s+" + _CITY_STATE + r"\s*$"
    r"|\s+(?:(?:1st|2nd|3rd|first|second|third|nights?|days?|evenings?|overnight|weekends?|graveyard|swing)\s+shift"
    r"|(?:full|part)[- ]time)\s*$",
    re.IGNORECASE,
)
_LEVEL_SUFFIX = re.compile(r"\s+(?:II|III|IV|(?:level|lvl|grade)\s*\d+|L\d)\s*$")
_PAY_OR_ID = re.compile(  # within the title itself: an amount, a unit only after "/" or "per"
    _PAY_AMOUNT + r"(?:\s*(?:/|per)\s*(?:hr|hour|yr|year|wk|week|mo|month))?|#\s?[\w-]*\d[\w-]*", re.IGNORECASE
)


def strip_ad_decorations(title: str) -> str:
    """``title`` without what job ads add to the occupation: location, pay, schedule, work
    arrangement, requisition numbers, gender tags, hiring calls and trailing level numerals.

    The first segment is the title and always stays (less pay, ids and a leading hiring call); a
    later segment, or a bracketed one, goes when it holds nothing but decorations. Titles without
    decorations, such as O*NET's, come back unchanged.
    """
    parts = _SEGMENT_BREAK.split(title)
    # re.split yields text segments, with bracket contents (or None) between them.
    segments = [p for i, p in enumerate(parts) if i % 2 == 0 or p is not None]
    kept: list[str] = []
    for i, segment in enumerate(segments):
        if not segment or not segment.strip():
            continue
        if i == 0 or not kept:
            core = _PAY_OR_ID.sub(" ", _HIRING_PREFIX.sub("", segment)).rstrip()
            while (trimmed := _TRAILER.sub("", core)) != core and trimmed.strip():
                core = trimmed
            if core.strip(" -:!,"):
                kept.append(core)
            continue
        if not _JOINERS.match(_DECORATION.sub(" ", segment)):
            kept.append(_PAY_OR_ID.sub(" ", segment))
    if not kept:
        return title
    return _LEVEL_SUFFIX.sub("", " ".join(s.strip() for s in kept)).strip()


@lru_cache(maxsize=1)
def title_abbreviations() -> dict[str, str]:
    """Ad-title abbreviations and their O*NET wording, ``sr`` -> ``senior``."""
    return dict(line.split(maxsplit=1) for line in _read_list("title_abbreviations.txt"))


def normalize_title(title: str | None) -> str:
    """The comparison key for titles: used to keep benchmark titles out of training."""
    return " ".join(_WORDS.tokenize(_fold(repair_text(title))))


def clean_title(title: str | None) -> str:
    """The title: repaired, without ad decorations or contact details, abbreviations spelled out,
    lower-cased, without punctuation or digits."""
    return _clean_title(title) if isinstance(title, str) else _clean_title(repair_text(title))


@lru_cache(maxsize=8192)
def _clean_title(title: str) -> str:
    text = strip_ad_decorations(remove_contact_details(repair_text(title)))
    expand = title_abbreviations()
    return " ".join(expand.get(w, w) for w in words(text, drop_stop_words=False))


def is_usable_title(title: str | None) -> bool:
    """Whether a posting's title field holds a title, not a sentence, a slogan or a heading.

    Scraped postings often carry their first line as the title: "We are a leading provider of
    ...", "Work Schedule:", "This position is located in ...". Such a posting is read from its
    body alone (:meth:`jobclass.model.classifier.JobClassifier.encoder_inputs`).
    """
    text = repair_text(title).strip()
    tokens = words(text, drop_stop_words=False)
    if not tokens:
        return False
    if len(tokens) > MAX_TITLE_WORDS or text.endswith(":"):
        return False
    if text.endswith((".", "!", "?")) and len(tokens) >= 5:
        return False
    return not (_SENTENCE_OPENERS.match(text) and len(tokens) >= 4)


def split_sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(text) if s and s.strip()]


def is_boilerplate(sentence: str) -> bool:
    return boilerplate_regex().search(sentence) is not None


@lru_cache(maxsize=1 << 16)
def is_duty_verb(token: str) -> bool:
    """``token`` is a duty verb in its base ("prepare"), third-person ("prepares") or -ing form."""
    verbs = duty_verbs()
    if token in verbs:
        return True
    if token.endswith("ies"):
        bases: tuple[str, ...] = (token[:-3] + "y",)
    elif token.endswith("ing") and len(token) > 5:
        stem = token[:-3]
        bases = (stem, stem + "e", stem[:-1] if stem[-1] == stem[-2] else stem)  # cooking, managing, running
    elif token.endswith("es"):
        bases = (token[:-2], token[:-1])  # teaches, manages
    elif token.endswith("s") and not token.endswith("ss"):
        bases = (token[:-1],)
    else:
        return False
    return any(base in verbs for base in bases)


def duty_score(sentence: str, tokens: list[str] | None = None) -> float:
    """How much a sentence reads like a duty: leading task verbs and duty cue phrases.

    ``tokens`` are the sentence's :func:`words` (with stop words) when the caller has them.
    """
    tokens = words(sentence, drop_stop_words=False) if tokens is None else tokens
    if not tokens:
        return 0.0
    score = 2.0 if is_duty_verb(tokens[0]) else 0.0
    score += sum(map(is_duty_verb, tokens[1:])) / len(tokens)
    score += 1.0 if _DUTY_CUES.search(sentence) else 0.0
    return score


def select_body_words(body: str | None, max_words: int = DEFAULT_BODY_WORDS, min_duty_score: float = 0.0) -> list[str]:
    """Cleaned body words within ``max_words``: boilerplate dropped, duty sentences first.

    Sentences are ranked by :func:`duty_score` (ties keep document order), taken while they
    fit, and emitted in document order. Sentences that score under ``min_duty_score`` are
    dropped, so a body with no duty sentence gives no words.
    """
    return [w for _, toks in _read_sentences(body, max_words, min_duty_score) for w in toks]


def select_body_sentences(
    body: str | None, max_words: int = DEFAULT_BODY_WORDS, min_duty_score: float = 0.0
) -> list[str]:
    """The sentences (repaired, contact details removed) that :func:`select_body_words` reads
    words from, in document order: what a reviewer sees highlighted."""
    return [sentence for sentence, _ in _read_sentences(body, max_words, min_duty_score)]


def _read_sentences(body: str | None, max_words: int, min_duty_score: float) -> list[tuple[str, list[str]]]:
    """(sentence, its kept words) for the sentences read, in document order."""
    sentences = [
        s for s in split_sentences(remove_contact_details(repair_text(body))) if not is_boilerplate(s)
    ]
    tokenised = []
    for i, sentence in enumerate(sentences):
        tokens = words(sentence, drop_stop_words=False)
        tokenised.append((i, without_stop_words(tokens), duty_score(sentence, tokens)))
    tokenised = [t for t in tokenised if t[1] and t[2] >= min_duty_score]
    ranked = sorted(tokenised, key=lambda t: (-t[2], t[0]))
    kept: list[tuple[int, list[str]]] = []
    budget = max_words
    for i, toks, _ in ranked:
        if budget <= 0:
            break
        kept.append((i, toks[:budget]))
        budget -= len(kept[-1][1])
    return [(sentences[i], toks) for i, toks in sorted(kept)]


def clean_body(body: str | None, max_words: int = DEFAULT_BODY_WORDS, min_duty_score: float = 0.0) -> str:
    return " ".join(select_body_words(body, max_words, min_duty_score))


def compose_input(
    title: str | None, body: str | None, max_body_words: int = DEFAULT_BODY_WORDS, min_duty_score: float = 0.0
) -> str:
    """One encoder input: the full cleaned title, then the selected body words."""
    return join_title_body(clean_title(title), clean_body(body, max_body_words, min_duty_score))


def join_title_body(head: str, tail: str) -> str:
    """A cleaned title and cleaned body words as one encoder input."""
    return f"{head}. {tail}" if head and tail else head or tail
