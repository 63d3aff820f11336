"""English word kinds without a POS tagger: the tokenization and the same-kind rules of augmentation.

Owns splitting a text into words and punctuation (`TOKEN_RE`, `tokenize`,
`is_word`) and giving each word a coarse kind (`word_kind`, from the
closed-class lists `CLOSED_CLASSES` and a few suffix rules), so that
transfer-set augmentation (`materials.augment`) replaces a word only by
another word of the same kind. These are language rules, with their own
tests and limits, apart from the sampler that uses them.

Tokenization: `TOKEN_RE` finds abbreviations ("U.S."), words with inner
hyphens or apostrophes as ONE token ("after-effects", "it's", "don't"), and
single punctuation characters; a token is a word when it starts with a word
character (`is_word`), else punctuation.

"Same kind" without a POS tagger (none is available offline). Each word gets
one kind from its lowercased form, in this order:

- closed classes, from the small hand-written lists in `CLOSED_CLASSES`
  (articles, demonstratives, quantifiers, personal pronouns by case,
  possessive determiners, indefinite pronouns, wh-words, prepositions,
  coordinating and subordinating conjunctions, a few closed adverbs, forms of
  be / have / do, modals, negations). Closed-class words carry the syntax, so
  they are only swapped within their own list ("the" -> "a", "he" -> "they",
  "is" -> "was");
- `number`: any token with a digit ("1967", "20th", "179-minute");
- contractions: "...n't" -> `negated_aux` (don't, isn't, can't);
  a closed-class word + 's/'re/'ll/'ve/'d/'m -> `contraction` (it's, that's,
  i'm); any other word + 's -> `possessive` (film's);
- open-class words split by a crude suffix rule, so that number and tense
  survive a swap more often: `open_ly` (-ly, 5+ letters: mostly adverbs),
  `open_ing` (-ing, 6+), `open_ed` (-ed, 5+), `open_s` (-s, 4+, not -ss/-us/-is:
  plurals and 3rd-person verbs), else `open_other`.

Known limits, stated plainly: `open_other` mixes nouns, verbs and adjectives
("film" may become "funny"); suffixes misfire ("family" is `open_ly`, "need"
stays `open_other` only because it is short); a closed word used in another
role keeps its listed kind ("like" is a preposition, "that" a
demonstrative). The variants are meant to probe the teacher near the data,
not to be grammatical.
"""

from __future__ import annotations

import re

TOKEN_RE = re.compile(r"(?:[^\W\d_]\.){2,}(?![^\W\d_])|\w+(?:[-'\u2019]\w+)*|[^\w\s]")
_WORD_START = re.compile(r"\w")

CLOSED_CLASSES: dict[str, tuple[str, ...]] = {
    "article": ("a", "an", "the"),
    "demonstrative": ("this", "that", "these", "those"),
    "quantifier": ("all", "any", "both", "each", "either", "every", "few", "many", "much", "several",
                   "some", "such", "another", "other", "more", "most", "less", "least", "enough"),
    "pronoun_subject": ("i", "you", "he", "she", "it", "we", "they"),
    "pronoun_object": ("me", "him", "us", "them", "myself", "yourself", "himself", "herself", "itself",
                       "ourselves", "yourselves", "themselves"),
    "possessive_determiner": ("my", "your", "his", "her", "its", "our", "their"),
    "indefinite_pronoun": ("someone", "somebody", "anyone", "anybody", "everyone", "everybody",
                           "something", "anything", "everything"),
    "wh_word": ("who", "whom", "whose", "which", "what", "where", "when", "why", "how", "whatever",
                "whoever"),
    "preposition": ("about", "above", "across", "after", "against", "along", "among", "around", "at",
                    "before", "behind", "below", "beneath", "beside", "besides", "between", "beyond", "by",
                    "despite", "down", "during", "except", "for", "from", "in", "inside", "into", "like",
                    "near", "of", "off", "on", "onto", "out", "outside", "over", "past", "per", "through",
                    "throughout", "to", "toward", "towards", "under", "underneath", "up", "upon", "via",
                    "with", "within", "without"),
    "coordinator": ("and", "or", "but", "nor", "yet"),
    "subordinator": ("although", "because", "if", "though", "unless", "whereas", "while", "since",
                     "until", "whether", "than", "as"),
    "closed_adverb": ("very", "too", "so", "quite", "rather", "just", "even", "still", "only", "almost",
                      "also", "already", "always", "often", "sometimes", "again", "ever", "here", "there",
                      "then", "now", "soon"),
    "be": ("am", "is", "are", "was", "were", "be", "been", "being"),
    "have": ("has", "have", "had", "having"),
    "do": ("do", "does", "did"),
    "modal": ("can", "could", "will", "would", "shall", "should", "may", "might", "must"),
    "negation": ("not", "no", "never", "nothing", "none", "nobody", "nowhere", "neither"),
}
CLOSED_KIND = {word: kind for kind, words in CLOSED_CLASSES.items() for word in words}
_CLITICS = ("s", "re", "ll", "ve", "d", "m")


def tokenize(text: str) -> list[str]:
    """The tokens of `text` (words and single punctuation characters), as `TOKEN_RE` finds them."""
    return TOKEN_RE.findall(text)


def is_word(token: str) -> bool:
    """Whether a token is a word (maskable, replaceable, counted) rather than punctuation."""
    return bool(_WORD_START.match(token))


def word_kind(word: str) -> str:
    """The coarse kind of a word (see the module docstring): replacement stays within a kind."""
    w = word.lower().replace("\u2019", "'")
    kind = CLOSED_KIND.get(w)
    if kind is not None:
        return kind
    if any(c.isdigit() for c in w):
        return "number"
    if w.endswith("n't"):
        return "negated_aux"
    base, apostrophe, clitic = w.rpartition("'")
    if apostrophe and clitic in _CLITICS:
        if base in CLOSED_KIND:
            return "contraction"
        if clitic == "s":
            return "possessive"
    if len(w) >= 5 and w.endswith("ly"):
        return "open_ly"
    if len(w) >= 6 and w.endswith("ing"):
        return "open_ing"
    if len(w) >= 5 and w.endswith("ed"):
        return "open_ed"
    if len(w) >= 4 and w.endswith("s") and not w.endswith(("ss", "us", "is")):
        return "open_s"
    return "open_other"
