"""materials.word_kinds: tokenization into words and punctuation, and the coarse kind of each word."""

from materials.word_kinds import CLOSED_CLASSES, CLOSED_KIND, is_word, tokenize, word_kind


def test_word_kinds():
    assert len(CLOSED_KIND) == sum(len(w) for w in CLOSED_CLASSES.values())   # lists are disjoint
    expect = {"the": "article", "The": "article", "It's": "contraction", "don't": "negated_aux",
              "isn\u2019t": "negated_aux", "film's": "possessive", "quickly": "open_ly",
              "running": "open_ing", "wanted": "open_ed", "films": "open_s", "glass": "open_other",
              "1967": "number", "179-minute": "number", "after-effects": "open_s", "of": "preposition",
              "could": "modal", "never": "negation", "U.S.": "open_other"}
    assert {w: word_kind(w) for w in expect} == expect


def test_suffix_rules_need_a_minimum_length():
    assert [word_kind(w) for w in ("fly", "sing", "bed", "bus", "news", "glass", "focus", "basis")] == \
        ["open_other", "open_other", "open_other", "open_other", "open_s", "open_other", "open_other", "open_other"]
    assert [word_kind(w) for w in ("early", "saying", "toned")] == ["open_ly", "open_ing", "open_ed"]


def test_tokenize_keeps_words_whole_and_splits_punctuation():
    assert tokenize("It's a three-hour film, isn't it? The U.S. -- 1967.") == \
        ["It's", "a", "three-hour", "film", ",", "isn't", "it", "?", "The", "U.S.", "-", "-", "1967", "."]


def test_words_start_with_a_word_character():
    assert [is_word(t) for t in tokenize("It's 1967, [MASK]!")] == [True, True, False, False, True, False, False]
