"""Tests for SMS encoding, segment counting, smart replacement and the length limit."""

import random

import pytest
import regex

from commsapp.services.sms_segments import (
    GSM_7,
    GSM_BASIC,
    GSM_EXTENSION,
    MAX_SMS_CHARACTERS,
    UCS_2,
    SmsAnalysis,
    _cluster_analysis,
    analyze,
    replace_smart_punctuation,
    validate_length,
)

G, U = GSM_7, UCS_2
A = "a"
EMOJI = "😀"  # U+1F600, outside the BMP: a surrogate pair, 2 units
FAMILY = "👨\u200d👩\u200d👧\u200d👦"  # 4 emoji (2 units each) + 3 ZWJ = 11 units
FLAG_DE = "🇩🇪"  # two regional indicators, 2 units each = 4 units
E_ACUTE_COMBINING = "e\u0301"  # e + combining acute: one character, 2 units
GERMAN = "Bitte beachte die „Anführungszeichen“ im Kursplan für nächste Woche."


def case(
    case_id: str,
    text: str,
    encoding: str,
    segments: int,
    characters: int,
    units: int,
    smart: bool = False,
):
    """One row of the table: what analyze(text, smart) must report."""
    return pytest.param(text, smart, encoding, segments, characters, units, id=case_id)


CASES = [
    # Plain GSM: one segment up to 160 septets, then 153 per segment.
    case("empty_is_one_segment", "", G, 1, 0, 0),
    case("one_letter", A, G, 1, 1, 1),
    case("gsm_159", A * 159, G, 1, 159, 159),
    case("gsm_160_fills_one_segment", A * 160, G, 1, 160, 160),
    case("gsm_161_needs_two", A * 161, G, 2, 161, 161),  # 153 + 8
    case("gsm_153_is_still_single", A * 153, G, 1, 153, 153),
    case("gsm_306_is_two_full_parts", A * 306, G, 2, 306, 306),  # 2 x 153
    case("gsm_307_needs_three", A * 307, G, 3, 307, 307),
    case("gsm_459_is_three_full_parts", A * 459, G, 3, 459, 459),  # 3 x 153
    case("gsm_460_needs_four", A * 460, G, 4, 460, 460),
    # Extension table: escape + character = 2 septets, one character.
    *(
        case(f"extension_{name}_costs_two_septets", char, G, 1, 1, 2)
        for name, char in [
            ("caret", "^"),
            ("open_brace", "{"),
            ("close_brace", "}"),
            ("backslash", "\\"),
            ("open_bracket", "["),
            ("close_bracket", "]"),
            ("tilde", "~"),
            ("pipe", "|"),
            ("euro", "€"),
            ("form_feed", "\f"),
        ]
    ),
    case("158_letters_and_euro_fill_160", A * 158 + "€", G, 1, 159, 160),
    case("159_letters_and_euro_overflow", A * 159 + "€", G, 2, 160, 161),  # 153 | 6 + 2
    # 152 letters, then € would need septets 153-154: it moves to part 2, which holds
    # € + 151 letters = 153; the last letter makes part 3 (arithmetic would say 2).
    case("euro_escape_pair_not_split", A * 152 + "€" + A * 152, G, 3, 305, 306),
    # 151 + 2 = 153 exactly, then 153 letters: two full parts.
    case("euro_exactly_at_boundary", A * 151 + "€" + A * 153, G, 2, 305, 306),
    case("80_euros_fill_160", "€" * 80, G, 1, 80, 160),
    # A part holds 76 escape pairs (152 septets), 153 is odd: 76 + 5.
    case("81_euros_need_two", "€" * 81, G, 2, 81, 162),
    case("153_euros_need_three", "€" * 153, G, 3, 153, 306),  # 76 + 76 + 1
    # Line breaks.
    case("lf", "a\nb", G, 1, 3, 3),
    case("cr", "a\rb", G, 1, 3, 3),
    case("crlf_counts_two", "a\r\nb", G, 1, 4, 4),
    case("80_crlf_fill_160", "\r\n" * 80, G, 1, 160, 160),
    case("crlf_past_160", A * 159 + "\r\n", G, 2, 161, 161),
    # Letters: the exact GSM 03.38 table.
    case("capital_c_cedilla_is_gsm", "Ç", G, 1, 1, 1),
    case("small_c_cedilla_is_not", "ç", U, 1, 1, 1),
    *(case(f"gsm_letter_{char}", char, G, 1, 1, 1) for char in "äöüßéèàùìòñ"),
    case("gsm_capitals_and_nordic", "ÄÖÜÑÅåÆæØøÉ", G, 1, 11, 11),
    case("gsm_greek_capitals", "ΔΦΓΛΩΠΨΣΘΞ", G, 1, 10, 10),
    case("gsm_symbols", "¡¿£¥§¤@$_", G, 1, 9, 9),
    case("greek_small_alpha_is_not_gsm", "α", U, 1, 1, 1),
    *(case(f"ucs2_letter_{char}", char, U, 1, 1, 1) for char in "âêîôûáíóú"),
    # UCS-2: one segment up to 70 units, then 67 per segment.
    case("ucs2_69", "ç" + A * 68, U, 1, 69, 69),
    case("ucs2_70_fills_one_segment", "ç" + A * 69, U, 1, 70, 70),
    case("ucs2_71_needs_two", "ç" + A * 70, U, 2, 71, 71),  # 67 + 4
    case("ucs2_134_is_two_full_parts", "â" + A * 133, U, 2, 134, 134),  # 2 x 67
    case("ucs2_135_needs_three", "â" + A * 134, U, 3, 135, 135),
    # Emoji outside the BMP: 2 units, one character.
    case("emoji_alone", EMOJI, U, 1, 1, 2),
    case("66_letters_and_emoji_fit_70", A * 66 + EMOJI, U, 1, 67, 68),
    case("68_letters_and_emoji_fill_70", A * 68 + EMOJI, U, 1, 69, 70),
    case("69_letters_and_emoji_overflow", A * 69 + EMOJI, U, 2, 70, 71),  # 67 | 2 + 2
    # 65 + 2 = 67 exactly, then 67 letters: two full parts.
    case("emoji_ends_exactly_at_unit_67", A * 65 + EMOJI + A * 67, U, 2, 133, 134),
    # The emoji would take units 67-68: it moves to part 2 (2 + 65), 1 letter left.
    case("emoji_starting_at_unit_67_moves", A * 66 + EMOJI + A * 66, U, 3, 133, 134),
    case("zwj_family_is_one_character", FAMILY, U, 1, 1, 11),
    # 60 + 11 > 67: the family opens part 2 (11 + 56 = 67), 4 letters left.
    case("zwj_family_not_split", A * 60 + FAMILY + A * 60, U, 3, 121, 131),
    case("flag_is_one_character", FLAG_DE, U, 1, 1, 4),
    case("two_flags", FLAG_DE + "🇫🇷", U, 1, 2, 8),
    # 65 + 4 > 67: the flag opens part 2 (4 + 63 = 67), 2 letters left.
    case("flag_not_split", A * 65 + FLAG_DE + A * 65, U, 3, 131, 134),
    case("skin_tone_thumb", "👍🏽", U, 1, 1, 4),  # 2 + 2
    case("heart_with_variation_selector", "❤️", U, 1, 1, 2),  # U+2764 U+FE0F
    case("keycap", "1️⃣", U, 1, 1, 3),  # 1 U+FE0F U+20E3
    # Combining marks stay with their base letter.
    case("combining_acute_is_one_character", E_ACUTE_COMBINING, U, 1, 1, 2),
    case("cafe_with_combining_acute", "cafe\u0301", U, 1, 4, 5),
    case("combining_pair_not_split", A * 66 + E_ACUTE_COMBINING + A * 66, U, 3, 133, 134),
    # Pathological clusters bigger than a part are split between code points.
    case("hundred_combining_marks", "e" + "\u0301" * 100, U, 2, 1, 101),  # 67 | 34
    # 60 letters + e + 6 marks = 67 | 67 marks | 27 marks.
    case("oversized_cluster_continues_part", A * 60 + "e" + "\u0301" * 100, U, 3, 61, 161),
    # 30 men joined by 29 ZWJ = 89 units; 22 (man, ZWJ) pairs = 66, the next man
    # does not fit in 67, so part 2 takes the remaining 23 units.
    case("zwj_chain_longer_than_a_part", "\u200d".join(["👨"] * 30), U, 2, 1, 89),
    # CJK and Hangul.
    case("cjk", "你好", U, 1, 2, 2),
    case("cjk_70", "日" * 70, U, 1, 70, 70),
    case("cjk_71", "日" * 71, U, 2, 71, 71),
    case("hangul_syllables", "안녕하세요", U, 1, 5, 5),
    case("hangul_jamo_join", "\u1100\u1161\u11a8", U, 1, 1, 3),
    # Lone surrogates and control characters: non-GSM, one unit each.
    case("lone_high_surrogate", "\ud800", U, 1, 1, 1),
    case("lone_low_surrogate_between_letters", "a\udc00b", U, 1, 3, 3),
    case("71_lone_surrogates", "\ud800" * 71, U, 2, 71, 71),
    case("nul", "\x00", U, 1, 1, 1),
    case("tab_without_smart", "a\tb", U, 1, 3, 3),
    case("escape_control", "\x1b", U, 1, 1, 1),
    case("delete_control", "\x7f", U, 1, 1, 1),
    case("bell_after_text", "ding\x07", U, 1, 5, 5),
    # Smart replacement turns look-alikes into GSM.
    case("smart_curly_quotes", "‘Hi’ “there”", G, 1, 12, 12, smart=True),
    case("smart_low_and_prime_quotes", "‚a‛ „b‟ ′ ″", G, 1, 11, 11, smart=True),
    case("smart_dashes", "a–b—c―d‐e‑f‒g−h", G, 1, 15, 15, smart=True),
    case("smart_ellipsis", "Wait…", G, 1, 7, 7, smart=True),  # Wait...
    case("smart_guillemets", "«Salut»", G, 1, 7, 7, smart=True),
    case("smart_single_guillemets", "‹a›", G, 1, 3, 3, smart=True),
    case("smart_nbsp", "10\u00a0€", G, 1, 4, 5, smart=True),  # € costs 2
    case("smart_wide_spaces", "a\u2000b\u200ac\u202fd\u205fe\u3000f", G, 1, 11, 11, smart=True),
    case("smart_zero_width_removed", "a\u200bb\ufeffc\u2060d\u00ade", G, 1, 5, 5, smart=True),
    case("smart_backtick", "`x`", G, 1, 3, 3, smart=True),
    case("smart_tab", "a\tb", G, 1, 3, 3, smart=True),
    case("smart_full_width", "ＡＢＣ１２３！", G, 1, 7, 7, smart=True),
    case("smart_full_width_braces", "｛ｘ｝", G, 1, 3, 5, smart=True),  # { } are extension
    case("smart_full_width_backtick", "｀", G, 1, 1, 1, smart=True),
    case("german_quotes_without_smart", GERMAN, U, 1, 68, 68),
    case("german_quotes_with_smart", GERMAN, G, 1, 68, 68, smart=True),
    case("smart_ellipsis_saves_segments", A * 150 + "…", G, 1, 153, 153, smart=True),
    case("ellipsis_without_smart", A * 150 + "…", U, 3, 151, 151),  # 67 + 67 + 17
    case("smart_keeps_zwj_family", FAMILY, U, 1, 1, 11, smart=True),
    case("smart_leaves_other_non_gsm", "“ça”", U, 1, 4, 4, smart=True),
    case("curly_quotes_without_smart", "“x”", U, 1, 3, 3),
]


@pytest.mark.parametrize(("text", "smart", "encoding", "segments", "characters", "units"), CASES)
def test_analyze_counts_as_providers_bill(
    text: str, smart: bool, encoding: str, segments: int, characters: int, units: int
) -> None:
    """Encoding, segments, characters and units match the hand-derived figures."""
    result = analyze(text, smart=smart)
    assert (result.encoding, result.segments, result.characters, result.units) == (
        encoding,
        segments,
        characters,
        units,
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("ça va", ("ç",), id="c_cedilla"),
        pytest.param("ç, â et ç", ("ç", "â"), id="distinct_in_order"),
        pytest.param("Ça va", (), id="gsm_only"),
        pytest.param("cafe\u0301", (E_ACUTE_COMBINING,), id="whole_cluster"),
        pytest.param("Hi " + FAMILY, (FAMILY,), id="zwj_family"),
        pytest.param("a\tb", ("\t",), id="control"),
    ],
)
def test_non_gsm_characters_lists_what_forced_ucs2(text: str, expected: tuple[str, ...]) -> None:
    """The distinct characters that forced UCS-2 are reported in order of first appearance."""
    assert analyze(text).non_gsm_characters == expected


@pytest.mark.parametrize(
    ("text", "per_segment", "remaining"),
    [
        pytest.param("", 160, 160, id="empty"),
        pytest.param(A * 160, 160, 0, id="gsm_full_single"),
        pytest.param(A * 161, 153, 145, id="gsm_second_part_holds_8"),
        pytest.param(A * 152 + "€" + A * 152, 153, 152, id="third_part_holds_1"),
        pytest.param("ç", 70, 69, id="ucs2_single"),
        pytest.param(A * 69 + EMOJI, 67, 63, id="ucs2_second_part_holds_4"),
    ],
)
def test_counter_values_for_the_ui(text: str, per_segment: int, remaining: int) -> None:
    """Units per segment and units left in the current segment suit a live counter."""
    result = analyze(text)
    assert (result.units_per_segment, result.remaining_in_segment) == (per_segment, remaining)


def test_smart_analysis_reports_the_replaced_text() -> None:
    """With smart=True the analysis carries the text that was counted."""
    assert analyze("„Hallo“ – bis gleich…", smart=True).text == '"Hallo" - bis gleich...'


def test_analysis_without_smart_keeps_the_text() -> None:
    """Without smart replacement the text is counted as given."""
    assert analyze("„Hallo“").text == "„Hallo“"


def test_smart_replacement_never_introduces_non_gsm_characters() -> None:
    """Every character smart mode replaces becomes GSM text (or disappears)."""
    replaced = (
        "‘’‚‛“”„‟′″–—―‐‑‒−…«»‹›\u00a0\u202f\u205f\u3000\u200b\ufeff\u2060\u00ad`\t"
        + "".join(map(chr, range(0x2000, 0x200B)))
        + "".join(map(chr, range(0xFF01, 0xFF5F)))
    )
    for char in replaced:
        assert analyze(replace_smart_punctuation(char)).encoding == GSM_7, repr(char)


def test_smart_replacement_leaves_emoji_joiners() -> None:
    """ZWJ and ZWNJ survive smart replacement because they hold emoji sequences together."""
    assert replace_smart_punctuation(FAMILY + "\u200c") == FAMILY + "\u200c"


def test_over_limit_text_is_refused_with_the_limit_named() -> None:
    """A 2,000-character text is refused with a reason that names the 1,600 limit."""
    reason = validate_length(A * 2000)
    assert reason is not None
    assert "1,600" in reason
    assert "2,000" in reason


@pytest.mark.parametrize(
    ("text", "allowed"),
    [
        pytest.param(A * MAX_SMS_CHARACTERS, True, id="exactly_1600"),
        pytest.param(A * 1601, False, id="1601"),
        pytest.param(FAMILY * 1600, True, id="1600_zwj_families_are_1600_characters"),
        pytest.param("\r\n" * 800, True, id="800_crlf_are_1600"),
        pytest.param("\r\n" * 801, False, id="801_crlf_are_1602"),
    ],
)
def test_length_limit_counts_user_visible_characters(text: str, allowed: bool) -> None:
    """The limit counts grapheme clusters, with CR LF as two characters."""
    assert (validate_length(text) is None) is allowed


def reference_analysis(text: str) -> SmsAnalysis:
    """The billing rules spelled out plainly: walk every cluster, fill segments one by one."""
    clusters = []
    for cluster in regex.findall(r"\X", text):
        clusters += ["\r", "\n"] if cluster == "\r\n" else [cluster]
    gsm = set(GSM_BASIC + GSM_EXTENSION)
    non_gsm = tuple(dict.fromkeys(c for c in clusters if c not in gsm))
    if non_gsm:
        encoding, single, multi = UCS_2, 70, 67
        costs = []
        for cluster in clusters:
            units = [2 if ord(char) > 0xFFFF else 1 for char in cluster]
            costs += units if sum(units) > multi else [sum(units)]
    else:
        encoding, single, multi = GSM_7, 160, 153
        costs = [2 if c in GSM_EXTENSION else 1 for c in clusters]
    segments, used = 1, sum(costs)
    if used > single:
        used = 0
        for cost in costs:
            if used + cost > multi:
                segments, used = segments + 1, 0
            used += cost
    per_segment = single if segments == 1 else multi
    return SmsAnalysis(
        text=text,
        encoding=encoding,
        segments=segments,
        characters=len(clusters),
        units=sum(costs),
        non_gsm_characters=non_gsm,
        units_per_segment=per_segment,
        remaining_in_segment=per_segment - used,
    )


_ALPHABETS = {
    "gsm_basic": "abcXYZ 0189.,!?\n\rÇéüßΔΩ£¥§¤@_",
    "gsm_with_extension": "abc xyz\r\n€{}[]^~|\\\f",
    "bmp_non_gsm": "abc €{ çâêôú„“–…日本語αβ\r\n안녕",
    "astral_no_joiners": "abc €ç日" + EMOJI + "🎉🚀𝄞",
    "everything": (
        "abc €{ç日\r\n\t\x00" + EMOJI + "👨👩\u200d\u200c\ufe0f🏽\u0301\u0308"
        "🇩🇪🇫🇷\u1100\u1161\u11a8\u0915\u094d\u0937\u0903\u0600\ud800\udc00"
    ),  # Long plain runs with a few clusters in between, the common shape of real messages.
    "mostly_plain": "abcdefghij klmnopqrst uvwxyz.," * 4 + "ç👍🏽❤️👨\u200d👩e\u0301",
    # Simple characters whose cluster is decided by what comes before them: after a
    # Prepend, a Hangul leading jamo, a ZWJ (BMP pictographs) or a virama.
    "joined_from_the_left": "ab 가각\u0600\u1100\u200d❤♀\u0915\u094d",
}


def random_texts(alphabet: str) -> list[str]:
    """Seeded random texts from one alphabet, many of them near segment boundaries."""
    rng = random.Random(f"sms-{alphabet}")
    chars = _ALPHABETS[alphabet]
    lengths = [0, 1, 66, 67, 68, 69, 70, 71, 133, 134, 135, 152, 153, 154, 159, 160, 161, 306, 307]
    lengths += [rng.randint(0, 420) for _ in range(400)]
    return ["".join(rng.choice(chars) for _ in range(n)) for n in lengths for _ in range(3)]


@pytest.mark.parametrize("alphabet", list(_ALPHABETS), ids=list(_ALPHABETS))
def test_analyze_agrees_with_the_plain_rules(alphabet: str) -> None:
    """analyze(), shortcuts and all, gives exactly what the plainly spelled rules give."""
    for text in random_texts(alphabet):
        assert analyze(text) == reference_analysis(text), repr(text)


@pytest.mark.parametrize("alphabet", list(_ALPHABETS), ids=list(_ALPHABETS))
def test_cluster_walk_agrees_with_the_plain_rules(alphabet: str) -> None:
    """The cluster walk, run even where a shortcut would apply, matches the plain rules."""
    for text in random_texts(alphabet):
        expected = reference_analysis(text)
        if expected.encoding == UCS_2:
            assert _cluster_analysis(text) == expected, repr(text)
