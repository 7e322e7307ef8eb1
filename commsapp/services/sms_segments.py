"""SMS encoding and segment counting as providers (Twilio) bill it, plus the length limit."""

import re
from bisect import bisect_left
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from typing import Literal

import regex

Encoding = Literal["GSM-7", "UCS-2"]

GSM_7: Encoding = "GSM-7"
UCS_2: Encoding = "UCS-2"

# Twilio refuses message bodies over 1,600 characters.
MAX_SMS_CHARACTERS = 1600

# A segment carries 1120 bits; each part of a multi-part message spends 6 octets of
# them on the user data header that lets the phone reassemble the parts.
_SEGMENT_BITS = 1120
_UDH_BITS = 6 * 8
GSM_SINGLE = _SEGMENT_BITS // 7  # 160 septets
GSM_MULTI = (_SEGMENT_BITS - _UDH_BITS) // 7  # 153 septets
UCS2_SINGLE = _SEGMENT_BITS // 16  # 70 units
UCS2_MULTI = (_SEGMENT_BITS - _UDH_BITS) // 16  # 67 units

# GSM 03.38 default alphabet, positions 0x00-0x7F; 0x1B is the escape to the
# extension table and so has no character of its own. The Greek letters are the Greek
# capitals (U+0394 ...), not their Latin look-alikes, and 0x09 is the capital Ç.
GSM_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmno"
    "pqrstuvwxyzäöñüà"
)
# Reachable only through the escape, so each costs two septets.
GSM_EXTENSION = "\f^{}\\[]~|€"

_GSM_CHARACTERS = frozenset(GSM_BASIC + GSM_EXTENSION)

# The stdlib engine scans a plain character class several times faster than `regex`.
_NON_GSM_RE = re.compile("[^" + re.escape(GSM_BASIC + GSM_EXTENSION) + "]")
_EXTENSION_RE = re.compile("[" + re.escape(GSM_EXTENSION) + "]")
_ASTRAL_RE = re.compile("[\U00010000-\U0010ffff]")

_CLUSTER_RE = regex.compile(r"\X")
# Characters that can make a grapheme cluster longer than one code point (UAX #29 rules
# GB6-GB13; CR LF is split apart anyway). Without any of them, every code point is its
# own cluster. Lone surrogates go to the cluster walk rather than being reasoned about.
_JOINING_CLASS = (
    r"[\p{GCB=Extend}\p{GCB=ZWJ}\p{GCB=SpacingMark}\p{GCB=Prepend}"
    r"\p{GCB=L}\p{GCB=V}\p{GCB=T}\p{GCB=Regional_Indicator}\p{Cs}]"
)
_JOINING_RE = regex.compile(_JOINING_CLASS)


@cache
def _simple_run_re() -> re.Pattern[str]:
    """Runs of code points that are certainly one character each, as a fast stdlib pattern."""
    # Listing the BMP's joining characters takes ~20 ms, so only texts that need it pay.
    joining = sorted(map(ord, _JOINING_RE.findall("".join(map(chr, range(0x10000))))))
    ranges: list[list[int]] = []
    for code_point in joining:
        if ranges and ranges[-1][1] == code_point - 1:
            ranges[-1][1] = code_point
        else:
            ranges.append([code_point, code_point])
    complex_chars = "".join(f"{re.escape(chr(a))}-{re.escape(chr(b))}" for a, b in ranges)
    simple = f"[^{complex_chars}\U00010000-\U0010ffff]"
    not_simple = f"[{complex_chars}\U00010000-\U0010ffff]"
    # Between two simple code points there is always a cluster boundary (bar CR LF,
    # which is split anyway), so a run of them, preceded by a simple one or the start
    # and followed by a simple one, is that many characters of one unit each.
    return re.compile(f"(?<!{not_simple}){simple}+(?={simple})")


def _smart_table() -> dict[int, str | None]:
    # Every replacement must be GSM characters, or smart mode could make a message dearer.
    table: dict[int, str | None] = {cp: chr(cp - 0xFEE0) for cp in range(0xFF01, 0xFF5F)}
    table[ord("｀")] = "'"  # the backtick itself is not GSM
    for chars, replacement in (
        ("‘’‚‛′`‹›", "'"),
        ("“”„‟″«»", '"'),
        ("–—―‐‑‒−", "-"),
        ("…", "..."),
        ("\t\u00a0\u202f\u205f\u3000" + "".join(map(chr, range(0x2000, 0x200B))), " "),
    ):
        for char in chars:
            table[ord(char)] = replacement
    # U+200C and U+200D stay: they hold emoji sequences together.
    for char in "\u200b\ufeff\u2060\u00ad":
        table[ord(char)] = None
    return table


_SMART_TABLE = _smart_table()


@dataclass(frozen=True, slots=True)
class SmsAnalysis:
    """How a message body will be encoded and billed."""

    text: str
    encoding: Encoding
    segments: int
    characters: int
    units: int
    non_gsm_characters: tuple[str, ...]
    units_per_segment: int
    remaining_in_segment: int


def replace_smart_punctuation(text: str) -> str:
    """Replace typographic punctuation and odd spaces with their GSM look-alikes."""
    return text.translate(_SMART_TABLE)


def analyze(text: str, smart: bool = False) -> SmsAnalysis:
    """Encoding, segments and counts for a message body, optionally after smart replacement."""
    if smart:
        text = replace_smart_punctuation(text)
    non_gsm = _NON_GSM_RE.findall(text)
    if not non_gsm:
        return _gsm_analysis(text)
    distinct = tuple(dict.fromkeys(non_gsm))
    if _JOINING_RE.search("".join(distinct)):
        return _cluster_analysis(text)
    # Nothing joins, so every code point is a character; astral ones cost 2 units.
    starts = [m.start() + offset for offset, m in enumerate(_ASTRAL_RE.finditer(text))]
    return _result(
        text,
        UCS_2,
        len(text),
        len(text) + len(starts),
        distinct,
        (UCS2_SINGLE, UCS2_MULTI),
        starts,
        [start + 2 for start in starts],
    )


def validate_length(text: str) -> str | None:
    """Why the message is too long for the provider, or None when it is within the limit."""
    characters = analyze(text).characters
    if characters <= MAX_SMS_CHARACTERS:
        return None
    return (
        f"The message is {characters:,} characters long; "
        f"an SMS can be at most {MAX_SMS_CHARACTERS:,} characters."
    )


def _gsm_analysis(text: str) -> SmsAnalysis:
    """GSM-7 text: every code point is a character, extension ones cost 2 septets."""
    # GSM characters never join into clusters, so no cluster walk is needed.
    starts = [m.start() + offset for offset, m in enumerate(_EXTENSION_RE.finditer(text))]
    return _result(
        text,
        GSM_7,
        len(text),
        len(text) + len(starts),
        (),
        (GSM_SINGLE, GSM_MULTI),
        starts,
        [start + 2 for start in starts],
    )


def _cluster_analysis(text: str) -> SmsAnalysis:
    """UCS-2 text where some characters span several code points: walk the clusters."""
    characters = units = 0
    non_gsm: dict[str, None] = {}
    starts: list[int] = []
    ends: list[int] = []
    for piece, is_simple_run in _pieces(text):
        if is_simple_run:
            characters += len(piece)
            units += len(piece)
            non_gsm.update(dict.fromkeys(_NON_GSM_RE.findall(piece)))
            continue
        for cluster in _clusters(piece):
            characters += 1
            # A multi-code-point cluster is never in the set: it is non-GSM as a whole.
            if cluster not in _GSM_CHARACTERS:
                non_gsm[cluster] = None
            parts = [cluster]
            if _utf16_units(cluster) > UCS2_MULTI:
                # A cluster bigger than a whole segment (a long ZWJ chain, a letter with
                # dozens of combining marks) cannot be kept whole, so it is split between
                # code points: unit granularity, except a surrogate pair stays together.
                parts = list(cluster)
            for part in parts:
                cost = _utf16_units(part)
                if cost > 1:
                    starts.append(units)
                    ends.append(units + cost)
                units += cost
    return _result(
        text,
        UCS_2,
        characters,
        units,
        tuple(non_gsm),
        (UCS2_SINGLE, UCS2_MULTI),
        starts,
        ends,
    )


def _pieces(text: str) -> Iterator[tuple[str, bool]]:
    """Split text into runs of one-unit characters (True) and the stretches between (False)."""
    position = 0
    for run in _simple_run_re().finditer(text):
        if run.start() > position:
            yield text[position : run.start()], False
        yield run.group(), True
        position = run.end()
    if position < len(text):
        yield text[position:], False


def _clusters(text: str) -> list[str]:
    """Grapheme clusters, except that CR LF is two characters as providers count it."""
    clusters: list[str] = []
    for cluster in _CLUSTER_RE.findall(text):
        if cluster == "\r\n":
            clusters += ("\r", "\n")
        else:
            clusters.append(cluster)
    return clusters


def _utf16_units(text: str) -> int:
    # surrogatepass lets a lone surrogate count as the one unit it would occupy.
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _result(
    text: str,
    encoding: Encoding,
    characters: int,
    units: int,
    non_gsm: tuple[str, ...],
    capacities: tuple[int, int],
    starts: list[int],
    ends: list[int],
) -> SmsAnalysis:
    """Build the analysis; starts/ends bound, in units, each character wider than one unit."""
    single, multi = capacities
    if units <= single:
        segments, last_used, per_segment = 1, units, single
    else:
        segments, last_used = _fill_greedily(units, starts, ends, multi)
        per_segment = multi
    return SmsAnalysis(
        text=text,
        encoding=encoding,
        segments=segments,
        characters=characters,
        units=units,
        non_gsm_characters=non_gsm,
        units_per_segment=per_segment,
        remaining_in_segment=per_segment - last_used,
    )


def _fill_greedily(
    units: int, starts: list[int], ends: list[int], capacity: int
) -> tuple[int, int]:
    """Segments used, and units in the last one, when no wide character may straddle a cut."""
    segments, segment_start = 1, 0
    while units - segment_start > capacity:
        cut = segment_start + capacity
        straddling = bisect_left(starts, cut) - 1
        if straddling >= 0 and ends[straddling] > cut:
            # No character is wider than a segment, so this still moves forward.
            cut = starts[straddling]
        segment_start = cut
        segments += 1
    return segments, units - segment_start
