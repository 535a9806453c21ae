"""Word lists and light text normalisation for the extractive backend.

Every word the acoustic descriptors can say (:func:`audiodissect.descriptors.vocabulary`)
is a sound adjective here, and their phrase nouns ("onsets", "rhythm",
"attack") are :data:`~audiodissect.descriptors.QUALITY_NOUNS` and stop words, so a description such as
"... sound with steady onsets in a loose rhythm and a soft attack." is read
as qualities only, never as the names of sound sources.
"""

from __future__ import annotations

import re

from ..descriptors import QUALITY_NOUNS
from ..descriptors import vocabulary as descriptor_vocabulary

#: Words that can describe the tone, emotion or acoustic features of a sound.
SOUND_ADJECTIVES = frozenset("""
loud quiet soft faint gentle harsh noisy silent deafening booming thunderous
high low deep shrill piercing squeaky squealing screechy raspy husky hoarse
breathy airy whispery nasal guttural throaty sibilant
bright dark warm cold mellow crisp clear muddy muffled dull hollow metallic wooden
glassy tinny brassy reedy woody rich thin full thick heavy light smooth rough
gritty grainy fuzzy distorted clean dry wet reverberant echoing echoey resonant
ringing droning humming buzzing hissing crackling rumbling rattling whistling
tonal atonal harmonic inharmonic melodic melodious tuneful dissonant consonant
percussive rhythmic repetitive steady constant continuous intermittent sporadic
periodic pulsing pulsating sustained decaying short long brief abrupt sudden sharp
staccato legato fast slow rapid quick tempo upbeat lively energetic dynamic intense
powerful strong weak mild subtle delicate
calm peaceful relaxing soothing serene tranquil ambient atmospheric dreamy ethereal
eerie spooky creepy ominous menacing scary frightening tense suspenseful dramatic
sad melancholic melancholy somber sombre mournful gloomy dark haunting nostalgic
happy joyful cheerful playful excited exciting joyous triumphant festive
angry aggressive violent urgent alarming annoying irritating unpleasant pleasant
beautiful harmonious chaotic busy cluttered sparse natural artificial synthetic
electronic acoustic mechanical robotic organic vocal instrumental
musical noiselike natural distant close near far muted amplified compressed
vibrant vivid expressive emotional romantic majestic epic grand solemn religious
spacious wide narrow hollow lush dense layered complex simple minimal
moderate pitched unpitched regular irregular mixed
high-pitched low-pitched mid-pitched high-frequency low-frequency mid-range
loud-ish soft-spoken fast-paced slow-paced
""".split()) | descriptor_vocabulary()


#: Word endings of compound sound adjectives ("high-pitched", "sweet-sounding").
SOUND_ADJECTIVE_ENDINGS = ("-pitched", "-sounding", "-toned", "-frequency", "-paced", "-tempo")

#: Function words and words too generic to say what clips share.
STOP_WORDS = frozenset("""
a an the and or but nor so yet of in on at by for with without from to into onto
over under about above below between through during before after while as than
then there here this that these those it its it's they them their he she his her
we our you your i me my is are was were be been being am has have had do does did
can could will would should may might must shall not no also very quite rather
some any all each every most more less many much few several other another such
same both either neither one two three which who whom whose what when where why how
like just only even still too again ever often mostly mainly usually generally
sound sounds sounding clip clips audio recording recordings recorded record
track tracks sample samples noise-free feature features featuring featured
contains contain containing include includes including heard hear hearing
present presence appears appear seems seem type kind sort some thing things
tag tags label labels description descriptions
onset onsets attack attacks rhythm pitch tone timbre texture quality volume level character
background foreground overall various different certain variety mix etc
""".split()) | QUALITY_NOUNS

_WORD_RE = re.compile(r"[a-z0-9]+(?:[-'][a-z0-9]+)*")


def words(text: str) -> list[str]:
    """Lower-case words of `text`, hyphenated compounds kept whole."""
    return _WORD_RE.findall(text.lower())


def singular(word: str) -> str:
    """A crude singular used as a counting key ("drums" -> "drum", "glass" stays)."""
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        if word.endswith("ies") and len(word) > 4:
            return word[:-3] + "y"
        return word[:-1]
    return word


def stem(word: str) -> str:
    """A crude stem for matching ("barking" -> "bark", "dogs" -> "dog")."""
    word = singular(word)
    if len(word) > 5 and word.endswith("ing"):
        word = word[:-3]
    elif len(word) > 4 and word.endswith("ed"):
        word = word[:-2]
    return word


def is_sound_adjective(word: str) -> bool:
    """Whether `word` is a known descriptor of a sound's tone, emotion or acoustics."""
    word = word.strip().lower()
    return word in SOUND_ADJECTIVES or word.endswith(SOUND_ADJECTIVE_ENDINGS)
