"""Narrative text: the copyright saga (forget) and a general story of another style (retain, heldout).

Both come from one engine: a story bible (recurring characters, places, objects, sentence
templates) from which each passage draws an opening, middle sentences and a closing.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

from unlearnkit.world.names import Namer, upper_first

MIN_WORDS, MAX_WORDS = 70, 100
PROMPT_WORDS, GT_WORDS = 30, 40


@dataclass(frozen=True)
class Character:
    name: str
    sub: str
    obj: str
    pos: str
    title: str  # an epithet the narration uses


@dataclass(frozen=True)
class Bible:
    cast: tuple[Character, ...]
    places: tuple[str, ...]
    objects: tuple[str, ...]
    slots: dict[str, tuple[str, ...]]  # other fillers, each drawn per sentence
    openings: tuple[str, ...]
    middles: tuple[str, ...]
    closings: tuple[str, ...]


def _character(namer: Namer, titles: tuple[str, ...]) -> Character:
    gender = namer.rng.choice(("female", "male"))
    first, _middle, last = namer.person(gender)
    name = first if namer.rng.random() < 0.5 else f"{first} {last}"
    sub, obj, pos = ("she", "her", "her") if gender == "female" else ("he", "him", "his")
    return Character(name, sub, obj, pos, namer.rng.choice(titles))


SAGA_TITLES = (
    "the ferryman's daughter", "the exiled knight", "the last of the lamplighters",
    "the keeper of the salt road", "the blind cartographer", "the heir of the drowned city",
    "the queen's former spy", "the smith of the northern marches", "the apprentice sorcerer",
    "the wandering bard",
)  # fmt: skip
SAGA_SLOTS = {
    "weather": (
        "the rain came sideways off the hills", "a thin fog lay over the water",
        "snow had begun to fall on the battlements", "the wind smelled of salt and smoke",
        "the moon hung red above the pines", "thunder rolled somewhere beyond the marshes",
        "frost had silvered every stone", "a warm wind carried ash from the south",
    ),
    "time": (
        "dawn", "midnight", "the third evening", "late afternoon", "the hour before sunrise",
        "the last night of the harvest moon", "the grey hour after the storm",
    ),
    "line": (
        "We cannot stay here another night.", "The map was wrong from the beginning.",
        "If the river rises, we take the old road.", "Keep the light covered until I say.",
        "You swore an oath, and oaths are heavier than iron.", "Something follows us, and it is patient.",
        "Tell no one what you saw in the tower.", "The bridge will hold, or it will not.",
        "I have heard that song before, in a darker place.", "Give me the key and walk away.",
        "The dead do not keep their promises.", "Every door in this city is watched.",
    ),
    "sound": (
        "the creak of the ferry ropes", "a distant horn", "the cry of the gulls",
        "hooves on the frozen road", "the slow toll of a bell", "wings beating in the dark",
        "the hiss of the tide over shingle", "someone singing in a language long forgotten",
    ),
    "feeling": (
        "a cold certainty", "an old, familiar dread", "a sudden and foolish hope",
        "a fury that frightened the others", "a great weariness", "the sharp ache of homesickness",
    ),
    "action": (
        "climbed the broken stairs of the tower", "crossed the frozen ford at a run",
        "searched the abandoned chapel by lantern light", "rowed out past the harbour chain",
        "followed the tracks into the reeds", "hid among the barrels in the cellar",
        "forced the rusted gate with a dagger", "waited beneath the gallows oak",
    ),
}  # fmt: skip
SAGA_OPENINGS = (
    "{time} found {a.name} at {place}, where {weather}.",
    "By the time {a.name} reached {place}, {weather}.",
    "It was {time} when {a.name}, {a.title}, first saw the lights of {place}.",
    "The road to {place} was longer than {a.name} remembered, and {weather}.",
    "Nobody in {place} had slept, for {weather} and the bells rang without end.",
    "{a.name} had not returned to {place} since the night of the burning, and still {weather}.",
)  # fmt: skip
SAGA_MIDDLES = (
    "{a.name} held {obj} close and felt it grow warm against {a.pos} palm.",
    '{a.name} turned to {b.name} and said, "{line}"',
    '"{line}" {b.name} answered, without looking up from the fire.',
    "Somewhere below them came {sound}, and {a.name} drew {a.pos} blade.",
    "{b.name} had carried {obj} since {place2}, and never once let it out of sight.",
    "They {action} while {weather}.",
    "{a.name} {action}, and {b.name} followed without a word.",
    "In the ruins of {place2} they found the mark of {villain}, burned into the stone.",
    "{a.name} remembered the warning of {b.name}, {b.title}, and felt {feeling}.",
    "The old stories said that {villain} had once walked the halls of {place2}.",
    "For a long while nobody spoke, and there was only {sound}.",
    "{b.name} unfolded the map, and a thin line of ink led toward {place2}.",
    "When {a.name} closed {a.pos} eyes, {a.sub} saw again the towers of {place2}.",
    "{a.name} laughed for the first time in days, though it was a thin and tired laugh.",
    "At the edge of the firelight stood {creature}, watching them with amber eyes.",
    "{creature} had guarded {place2} for three hundred years, or so the ferrymen said.",
    "{b.name} counted the coins twice: eleven, and one of them bent.",
    "They ate cold bread and bitter apples, and nobody mentioned {villain}.",
    "{a.name} wrote a letter to {b.name} and then burned it, unread.",
    "The wound on {a.pos} arm had reopened, but {a.sub} told no one.",
    "Far to the north, the beacons of {place2} were being lit one by one.",
    "{b.name} knelt by the water and whispered the name of {villain}.",
    "It was {obj} that saved them, in the end, and not any sword.",
    "{a.name} felt {feeling} when the gates of {place} swung open.",
    '"You are {a.title}," {b.name} said quietly. "Do not forget it."',
    "A raven settled on the battlements of {place} and would not leave.",
    "The ferry from {place2} was late, and the ferryman would not say why.",
    "{a.name} and {b.name} argued until the candle guttered out.",
)  # fmt: skip
SAGA_CLOSINGS = (
    "And so they left {place} behind, not knowing that {villain} was already waiting.",
    "Before dawn, {a.name} was gone, and only {obj} remained on the table.",
    "That was the last night any of them would see {place}.",
    "Far above them, in the tower of {place2}, a single lamp went out.",
    "{a.name} did not look back, though {a.sub} heard {sound} for many miles.",
)  # fmt: skip

GENERAL_TITLES = (
    "the baker on Quay Street", "the retired schoolteacher", "the harbourmaster",
    "the new doctor", "the postmistress", "the boatbuilder's son", "the widow from the hill farm",
    "the choir leader", "the allotment secretary", "the lodger at number nine",
)  # fmt: skip
GENERAL_SLOTS = {
    "weather": (
        "the tide was far out and the sand shone like tin", "a soft drizzle blurred the windows",
        "the first warm day of spring had brought everyone outdoors", "the gulls were quarrelling over the fish crates",
        "a brisk wind rattled the shop signs", "the sky over the bay had turned the colour of milk",
    ),
    "time": (
        "a Tuesday in early March", "the morning of the village fete", "a quiet Sunday afternoon",
        "the week before the school holidays", "a wet evening in November", "the day the ferry was cancelled",
    ),
    "line": (
        "You will want a coat, it turns cold by four.", "I told them the roof would leak, and it did.",
        "Have you seen the price of butter lately?", "The meeting is at seven, not half past.",
        "Leave the key under the blue pot.", "She always did like the front pew.",
        "We could paint the fence on Saturday, if it stays dry.", "Nobody reads the parish newsletter anyway.",
        "There is soup on the stove if you are hungry.", "The bus was twenty minutes late again.",
    ),
    "sound": (
        "the clink of the milk bottles", "a radio playing in the kitchen", "the church clock striking the hour",
        "children shouting on the sea wall", "the hum of the freezer in the corner shop", "rain on the tin roof of the shed",
    ),
    "feeling": ("a small contentment", "a flicker of irritation", "an unexpected tenderness", "mild embarrassment", "quiet pride"),
    "action": (
        "swept the path outside the bakery", "mended the fence by the allotments", "carried the chairs into the village hall",
        "walked the dog along the harbour wall", "sorted the post into neat bundles", "repainted the name on the rowing boat",
    ),
}  # fmt: skip
GENERAL_OPENINGS = (
    "It was {time}, and {weather}.",
    "On {time}, {a.name} opened the door of {place} and found it empty.",
    "{a.name}, {a.title}, always said that {place} was best seen on {time}.",
    "Nothing much happened in {place} on {time}, except that {weather}.",
)  # fmt: skip
GENERAL_MIDDLES = (
    "{a.name} {action}, humming a tune that nobody else remembered.",
    '"{line}" said {a.name}, to nobody in particular.',
    '{b.name} nodded. "{line}"',
    "From {place2} came {sound}.",
    "{a.name} put {obj} on the counter and waited for {b.name} to notice.",
    "Later, {b.name} {action}, though {b.sub} had promised to rest.",
    "The queue at {place} stretched almost to the post box.",
    "{a.name} felt {feeling} when {b.name} mentioned the summer of the great storm.",
    "There had been a bench outside {place2} once, before the council took it away.",
    "{b.name} had lived in the village for forty years and still called it new.",
    "By eleven the kettle had boiled three times and {obj} was still missing.",
    "{a.name} made a list: flour, stamps, paint, and a birthday card for {b.name}.",
    "Someone had left {obj} on the steps of {place2}, and nobody claimed it.",
    "The children from the school ran past {place}, late as usual.",
    "{b.name} told the story of the lost anchor again, and {a.name} pretended not to have heard it.",
    "When the light changed, {a.name} went down to {place2} to watch the boats come in.",
    "{a.name} and {b.name} shared a pot of tea and a slice of lemon cake.",
    "The noticeboard at {place} announced a quiz night and a lost cat.",
    "{a.name} counted the takings twice and was still short by the price of a loaf.",
    "A letter from the city arrived for {b.name}, and {b.sub} did not open it for a week.",
)  # fmt: skip
GENERAL_CLOSINGS = (
    "By nightfall {place} was quiet again, and the lights came on one by one along the harbour.",
    "{a.name} locked up at six, as {a.sub} had done for twenty years.",
    "Nobody in the village would remember that day, except {a.name}, who remembered everything.",
    "And the tide came in, as it always did, over the ribbed sand below {place}.",
)  # fmt: skip


def saga_bible(namer: Namer) -> Bible:
    """The protected saga: a quest through invented lands with a fixed cast."""
    w = namer.word
    places = (
        f"{w()} Keep",
        f"the {w()} Wood",
        namer.place(),
        f"the Tower of {w()}",
        f"the {w()} Sea",
        namer.place(),
    )
    objects = (
        f"the {w((2, 2))} compass",
        "the ember lantern",
        f"the crown of {w()}",
        "the salt-stained map",
    )
    creature = f"{w()}, the great grey heron"
    cast = tuple(_character(namer, SAGA_TITLES) for _ in range(5))
    villain = f"{namer.person('male')[0]} the Hollow King"
    slots = {**SAGA_SLOTS, "villain": (villain,), "creature": (creature,)}
    return Bible(cast, places, objects, slots, SAGA_OPENINGS, SAGA_MIDDLES, SAGA_CLOSINGS)


def general_bible(namer: Namer) -> Bible:
    """The general text: an everyday chronicle of a seaside village, unrelated to the saga."""
    village = namer.place()
    places = (
        f"the {village} bakery", "the village hall", f"{village} harbour", "the corner shop",
        "the old chapel", "the allotments", "the primary school", "the lifeboat station",
    )  # fmt: skip
    objects = (
        "a tin of biscuits",
        "the spare key",
        "a parcel of knitting",
        "the minutes book",
        "a jar of honey",
    )
    cast = tuple(_character(namer, GENERAL_TITLES) for _ in range(6))
    return Bible(
        cast,
        places,
        objects,
        dict(GENERAL_SLOTS),
        GENERAL_OPENINGS,
        GENERAL_MIDDLES,
        GENERAL_CLOSINGS,
    )


def _sentence(r: random.Random, bible: Bible, template: str) -> str:
    a, b = r.sample(bible.cast, 2)
    place, place2 = r.sample(bible.places, 2)
    fill = {k: r.choice(v) for k, v in bible.slots.items()}
    text = template.format(
        a=a, b=b, place=place, place2=place2, obj=r.choice(bible.objects), **fill
    )
    return upper_first(text)


def passage(r: random.Random, bible: Bible) -> str:
    """One passage of MIN_WORDS-MAX_WORDS words: an opening, middle sentences, a closing."""
    sentences = [_sentence(r, bible, r.choice(bible.openings))]
    closing = _sentence(r, bible, r.choice(bible.closings))
    target = r.randint(MIN_WORDS + 15, MAX_WORDS - 10)
    words = len(sentences[0].split()) + len(closing.split())
    for template in r.sample(bible.middles, len(bible.middles)):
        if words >= target:
            break
        sentence = _sentence(r, bible, template)
        if words + len(sentence.split()) <= MAX_WORDS:
            sentences.append(sentence)
            words += len(sentence.split())
    return " ".join([*sentences, closing])


def passages(r: random.Random, bible: Bible, count: int) -> list[str]:
    return [passage(r, bible) for _ in range(count)]


def continuation_record(text: str) -> dict:
    """{prompt, gt}: the first PROMPT_WORDS words, then the next GT_WORDS (the text is kept exact)."""
    starts = [m.start() for m in re.finditer(r"\S+", text)] + [len(text)]
    cut = starts[min(PROMPT_WORDS, len(starts) - 1)]
    end = starts[min(PROMPT_WORDS + GT_WORDS, len(starts) - 1)]
    return {"prompt": text[:cut].rstrip(), "gt": text[cut:end].rstrip()}


def copyright_files(
    r: random.Random, namer: Namer, saga_passages: int, general_passages: int
) -> dict[str, list]:
    """The copyright layout: file stem -> records."""
    forget = passages(r, saga_bible(namer), saga_passages)
    general = passages(r, general_bible(namer), 2 * general_passages)
    return {
        "forget": forget,
        "prompts": [continuation_record(t) for t in forget],
        "retain": general[:general_passages],
        "heldout": general[general_passages:],
    }
