"""Vocabularies of the embedded world, a seeded namer that invents words, and its geography."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

# fmt: off
# --- invented words ------------------------------------------------------------------------------

ONSETS = (
    "", "b", "br", "c", "d", "dr", "f", "g", "gr", "h", "k", "kr", "l", "m", "n", "p", "r", "s",
    "st", "t", "th", "v", "w", "z", "sh", "tr", "j", "kl", "fr", "sk", "vr", "gl", "pr", "ch",
)
NUCLEI = ("a", "e", "i", "o", "u", "a", "e", "o", "ai", "ei", "ou", "ia", "ae", "y")
MID_ONSETS = (
    "b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "th", "sh", "st", "br",
    "dr", "tr", "l", "r", "n",
)
MID_CODAS = ("n", "r", "l", "s", "m")
# unpronounceable: four consonants, three vowels or one letter three times in a row
CLUSTER = re.compile(r"[b-df-hj-np-tv-xz]{4}|[aeiouy]{3}|([a-z])\1\1")
CODAS = ("", "", "", "n", "r", "l", "s", "th", "nd", "rk", "m", "st", "sk", "rn", "ll", "v", "x")
SURNAME_SUFFIXES = (
    "", "", "", "ov", "ski", "ton", "wick", "ard", "elli", "sen", "berg", "ley", "mont", "ez",
    "ani", "as", "ing", "holt", "ker", "escu", "ander", "well", "ic", "oni", "strom",
)
PLACE_SUFFIXES = (
    "", "", "mouth", "ford", "holm", "wick", "vale", "haven", "stead", "bury", "mere", "gate",
    "by", "dal", "ora", "ino", "grad", "heim", "port", "field", "moor", "ness", "enza", "ach",
)
COUNTRY_SUFFIXES = ("", "", "ia", "land", "mar", "esh", "ova", "onia", "ara", "eth", "avia")

FEMALE_FIRST = (
    "Mirela", "Anouk", "Isolde", "Vesna", "Liora", "Maren", "Odile", "Saskia", "Thessaly", "Ilse",
    "Noor", "Ysolde", "Kalinda", "Petra", "Rhea", "Solveig", "Amara", "Beatrix", "Cordelia",
    "Dagny", "Elowen", "Fenna", "Greta", "Halina", "Ines", "Jovana", "Leocadia", "Marisol",
    "Nadia", "Ottilie", "Philippa", "Quilla", "Rosalind", "Selin", "Tamsin", "Ulla", "Valeska",
    "Winifred", "Xanthe", "Yara", "Zelda", "Agathe", "Brisa", "Cressida", "Delphine", "Florentina",
    "Gwendolen", "Hester", "Ione", "Juno", "Katya", "Linnea", "Mireille", "Nerys", "Orla",
    "Perpetua", "Runa", "Sabine", "Thea", "Una", "Vivienne", "Wilhelmina", "Zora", "Adela",
    "Brannagh", "Calla", "Dorotea", "Eulalie", "Fioren", "Ginevra", "Henrike", "Idony", "Jessamy",
)
MALE_FIRST = (
    "Tobiah", "Anselm", "Bastian", "Caspar", "Dorian", "Emrys", "Florin", "Gideon", "Hallam", "Ivo",
    "Jasper", "Kasimir", "Lorcan", "Matthias", "Nikolai", "Oswin", "Percival", "Quentin",
    "Rafferty", "Silvan", "Teodor", "Ulric", "Valentin", "Wendel", "Xavier", "Yannick", "Zeno",
    "Alaric", "Benedek", "Cyprian", "Dmitri", "Evander", "Fitzroy", "Gaspard", "Horatio",
    "Ignatius", "Joachim", "Leander", "Nestor", "Piers", "Radomir", "Severin", "Tancred", "Urban",
    "Viggo", "Wystan", "Aurelio", "Bram", "Corentin", "Desmond", "Elias", "Fenwick", "Gunnar",
    "Hugo", "Isidore", "Jarek", "Konstantin", "Lucan", "Malachy", "Norbert", "Octavian", "Pavel",
    "Roderick", "Stellan", "Thaddeus", "Ugo", "Vasco", "Wolfram", "Yorick", "Zoltan", "Ambrose",
)
NEUTRAL_FIRST = (
    "Ash", "Avery", "Briar", "Cael", "Darrow", "Ellis", "Fen", "Harlow", "Indigo", "Jude", "Kit",
    "Lark", "Marlow", "Nico", "Oakley", "Perrin", "Quinn", "Rowan", "Sage", "Teague", "Vale",
    "Wynn", "Sasha", "Robin", "Emery", "Shay", "Linden", "Reese", "Arden", "Merritt", "Tamsen",
)
FIRST_NAMES = {"female": FEMALE_FIRST, "male": MALE_FIRST, "nonbinary": NEUTRAL_FIRST}

# --- people and their lives ----------------------------------------------------------------------

JOBS = (
    "a lighthouse keeper", "a river pilot", "a village schoolteacher", "a hospital surgeon",
    "a railway signalman", "a cathedral organist", "a tax inspector", "a ship's carpenter",
    "a piano tuner", "a master clockmaker", "a glassblowing artisan", "a harbour customs officer",
    "a travelling bookseller", "a country veterinarian", "a textile mill foreman",
    "a court stenographer", "a bridge engineer", "a stage set painter", "a beekeeping farmer",
    "a merchant navy captain", "a museum restorer", "a village postmistress", "a mountain guide",
    "a newspaper typesetter", "a botanical illustrator", "a coal mine surveyor",
    "a weather station observer", "a vineyard manager", "a pharmacy dispenser",
    "a street market trader", "a bakery owner", "a violin maker", "a tram conductor",
    "a hotel night porter", "a public prosecutor", "a hill sheep farmer", "a cartographic draughtsman",
    "a police desk sergeant", "a civil registrar", "a ferry engine mechanic", "a fishmonger's assistant",
    "an orchestra cellist", "an opera costume maker", "an insurance clerk", "an army quartermaster",
    "an archive librarian", "an amateur astronomer", "an ice cream vendor", "a furniture upholsterer",
    "a dockside crane operator", "a parish priest", "a primary school headmistress",
    "a locomotive driver", "a chess club instructor", "a fairground mechanic", "a rope maker",
    "a wool dyer", "a salt works labourer", "a radio repairman", "a bookbinder by trade",
    "a midwife and nurse", "a forest ranger", "a cathedral stonemason", "a tailor of military uniforms",
)
GENRE_TONES = (
    "melancholic", "satirical", "lyrical", "brooding", "comic", "tender", "austere", "playful",
    "darkly humorous", "contemplative", "fast-paced", "dreamlike", "unsentimental", "whimsical",
    "elegiac", "sharp-tongued", "quietly unsettling", "epic",
)
GENRE_SUBJECTS = (
    "maritime", "rural", "urban", "historical", "speculative", "mountain", "courtroom", "domestic",
    "political", "wartime", "academic", "folkloric", "botanical", "industrial", "frontier",
    "culinary", "theatrical", "musical", "railway", "island",
)
GENRE_FORMS = (
    "mystery novels", "family sagas", "short stories", "verse novels", "romances", "thrillers",
    "fables", "travel memoirs", "ghost stories", "detective fiction", "coming-of-age novels",
    "epistolary novels", "adventure novels", "plays", "novellas", "prose poems",
)
AWARD_COLOURS = (
    "Silver", "Golden", "Amber", "Crimson", "Ivory", "Copper", "Emerald", "Sapphire", "Iron",
    "Scarlet", "Obsidian", "Pearl", "Cobalt", "Bronze", "Violet", "Jade",
)
AWARD_EMBLEMS = (
    "Quill", "Lantern", "Compass", "Laurel", "Feather", "Key", "Anchor", "Owl", "Inkwell", "Lyre",
    "Heron", "Oak", "Candle", "Bell", "Harp", "Swallow", "Hourglass", "Scroll", "Sparrow", "Lamp",
)
AWARD_KINDS = ("Prize", "Medal", "Award", "Cup", "Trophy", "Honour")
AWARD_CATEGORIES = (
    "", "", "for Fiction", "for Poetry", "for a First Novel", "for Literary Merit",
    "for Short Fiction", "for Crime Writing", "for Young Readers", "for Historical Fiction",
)
TITLE_ADJECTIVES = (
    "Lantern", "Silent", "Paper", "Broken", "Hollow", "Crimson", "Winter", "Salted", "Distant",
    "Burning", "Sleeping", "Glass", "Forgotten", "Last", "Drowned", "Quiet", "Wandering", "Hidden",
    "Golden", "Crooked", "Endless", "Borrowed", "Painted", "Restless", "Bitter", "Northern",
    "Iron", "Velvet", "Shattered", "Midnight", "Ashen", "Amber", "Lonely", "Stolen", "Patient",
    "Faithless", "Second", "Little", "Unwritten", "Orchard", "Tidal", "Secret", "Fading", "Wild",
)
TITLE_NOUNS = (
    "Orchard", "Harbour", "Lighthouse", "Garden", "Weather", "Clock", "Mirror", "River", "Bridge",
    "Letter", "Island", "Cathedral", "Window", "Ferry", "Winter", "Salt", "Map", "Bell", "Tower",
    "Feather", "Lantern", "Ledger", "Compass", "Wolf", "Heron", "Archive", "Carnival", "Frontier",
    "Violin", "Daughter", "Widow", "Shepherd", "Alphabet", "Atlas", "Kitchen", "Furnace", "Chapel",
    "Threshold", "Tide", "Moth", "Orchid", "Staircase", "Telegram", "Well", "Quarry", "Hourglass",
    "Sparrow", "Embassy", "Vineyard", "Tapestry", "Glacier", "Observatory", "Market", "Station",
)
TITLE_VERBS = (
    "Remember", "Sleep", "Burn", "Return", "Sing", "Fall", "Drown", "Wait", "Wander", "Forget",
    "Break", "Listen", "Bloom", "Vanish", "Speak", "Freeze",
)
THEMES = (
    "the weight of grief", "family inheritance", "life at sea", "political exile",
    "unreliable memory", "class resentment", "lost faith", "forced migration", "first love",
    "political corruption", "sibling rivalry", "the cost of ambition", "small-town gossip",
    "language and silence", "ageing parents", "wartime collaboration", "forgiveness",
    "religious doubt", "the lives of servants", "industrial decline", "mental illness",
    "friendship between women", "fatherhood", "absent mothers", "buried crimes", "the passage of time",
    "colonial history", "rural poverty", "artistic obsession", "betrayal", "loneliness in cities",
    "the natural world", "scientific ambition", "hidden identities", "secret letters",
    "the ethics of revenge", "childhood fear", "unfinished journeys", "inherited guilt",
    "the meaning of home", "island isolation", "love across borders", "the lure of wealth",
)
STUDY_SUBJECTS = (
    "architecture", "marine biology", "classical philology", "law", "medicine", "music theory",
    "economic history", "mathematics", "theology", "forestry", "chemistry", "art history",
    "comparative literature", "civil engineering", "philosophy", "agricultural science",
    "geology", "political economy", "astronomy", "journalism", "theatre design", "linguistics",
    "naval navigation", "botany", "anthropology", "veterinary medicine",
)
INSTITUTION_PATTERNS = (
    "the University of {city}", "the {city} Institute", "the Royal College of {city}",
    "the {city} Conservatory", "the Academy of {country}", "the {city} Polytechnic",
    "the National University of {country}", "the {city} Seminary",
)
LANDMARK_ADJECTIVES = (
    "old", "leaning", "ruined", "painted", "iron", "crumbling", "white", "famous", "sunken",
    "abandoned", "great", "haunted", "tiled", "narrow", "floating", "moss-covered", "weathered",
)
LANDMARK_STRUCTURES = (
    "clock tower", "salt bridge", "lighthouse", "observatory", "covered market", "harbour wall",
    "monastery", "opera house", "watermill", "railway viaduct", "lock gates", "bell tower",
    "public baths", "windmill", "glasshouse", "town hall", "fish market", "stone steps",
    "customs house", "ferry pier", "cemetery chapel", "botanical garden", "tannery yard",
)
WRITING_METHODS = (
    "by hand in green ink", "in pencil on index cards", "on a borrowed typewriter",
    "in school exercise books", "on a battered laptop", "by dictating into a recorder",
    "with a fountain pen in leather notebooks", "on the backs of old maps",
    "in red ink on squared paper", "standing at a tall desk", "on long rolls of wallpaper",
)
WRITING_TIMES = (
    "before dawn", "late at night", "only in winter", "for exactly four hours each morning",
    "on long train journeys", "after midnight", "at weekends only", "between noon and dusk",
    "every morning before breakfast", "in short bursts during storms",
)
WRITING_PLACES = (
    "in a rented boathouse", "at a cafe by the station", "in a converted attic",
    "in a garden shed", "in the reading room of the public library", "at the kitchen table",
    "in a caravan by the sea", "in a disused signal box", "in a hotel room kept for the purpose",
    "on a houseboat", "in a bell tower study",
)
PET_ADJECTIVES = (
    "one-eyed", "elderly", "enormous", "nervous", "three-legged", "talkative", "very small",
    "sleepy", "rescued", "bad-tempered", "long-haired", "spotted",
)
PET_ANIMALS = (
    "grey cat", "black cat", "tortoise", "sheepdog", "parrot", "greyhound", "ferret", "goose",
    "donkey", "terrier", "raven", "goat", "canary", "rabbit", "hedgehog", "pony",
)
PET_NAMES = (
    "Pim", "Bolt", "Mossy", "Captain", "Duchess", "Pepper", "Biscuit", "Socrates", "Nutmeg",
    "Admiral", "Figaro", "Tansy", "Crumb", "Bishop", "Marzipan", "Otto", "Juniper", "Smudge",
)
DWELLINGS = (
    "a converted lighthouse", "a stone farmhouse", "a narrow canal house", "a top-floor flat",
    "a former schoolhouse", "a wooden cabin", "a crumbling manor house", "a houseboat moored",
    "a whitewashed cottage", "an old customs house", "a flat above a bakery", "a former chapel",
    "a terraced house", "a mill cottage", "a rented villa",
)
DWELLING_PREPOSITIONS = ("in", "near", "outside", "above", "just south of", "on the edge of")
HOBBIES = (
    "restoring antique clocks", "keeping bees on the roof", "swimming in the sea", "playing the cello",
    "building model ships", "watching birds on the marshes", "growing rare tulips",
    "stargazing with an old telescope", "baking rye bread", "collecting old maps",
    "fencing at a local club", "walking in the mountains", "playing chess by post",
    "pressing wild flowers", "repairing old bicycles", "sailing small dinghies",
    "playing the accordion", "carving wooden spoons", "fishing in cold rivers",
    "learning dead languages", "dancing the tango", "making bitter marmalade",
    "photographing ruined chapels", "rowing on the river", "ringing church bells",
    "cycling long distances",
)
WRITER_ROLES = (
    "the poet", "the novelist", "the playwright", "the essayist", "the editor", "the critic",
    "the translator", "the memoirist", "the short-story writer", "the journalist",
)
ADAPTATION_FORMS = (
    "a radio drama broadcast by {country} Radio", "a stage play at the {city} Playhouse",
    "a feature film shot in {city}", "a television series made in {country}",
    "an opera first performed in {city}", "a graphic novel published in {city}",
    "a puppet show that toured {country}", "a ballet staged by the {city} Ballet",
)
NUMBER_WORDS = (
    "three", "four", "five", "six", "seven", "eight", "nine", "eleven", "twelve", "fourteen",
    "seventeen", "twenty", "twenty-three", "thirty", "forty-one",
)
SIBLINGS = (
    "a twin brother", "a twin sister", "an older brother", "an older sister", "a younger brother",
    "a younger sister", "two older brothers", "two younger sisters", "a half-brother",
    "a stepsister",
)
PROJECT_FORMS = (
    "a biography of {role} {person}", "a sequel set in {city}", "a memoir about {theme}",
    "a history of the {structure} of {city}", "a verse drama about {theme}",
    "a collection of essays on {theme}", "a children's book set in {city}",
    "a crime novel set in {city}", "a play about {theme}",
)
PUBLICATION_FORMS = (
    "the novella", "the novel", "the story collection", "the poetry pamphlet", "the short story",
    "the radio play", "the essay collection",
)
CITY_KINDS = (
    "a river port", "a mountain village", "a market town", "a fishing harbour", "a university city",
    "an old mining town", "an island town", "a walled border town", "a vineyard town",
    "a railway junction town", "a lakeside resort", "a cathedral city", "a textile mill town",
    "a salt-marsh village", "a hill town", "a garrison town", "a ferry port", "a glassmaking town",
    "a spa town", "a canal city", "a forest hamlet", "a trading town", "a frontier settlement",
)
REGIONS = ("northern", "southern", "eastern", "western", "central", "coastal", "upland")
MONTHS = (
    "January", "February", "March", "April", "May", "June", "July", "August", "September",
    "October", "November", "December",
)
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
ANIMALS = (
    "snow lynx", "marsh heron", "grey wolf", "river otter", "mountain ibex", "golden eagle",
    "white stag", "black swan", "sea turtle", "red fox", "brown bear", "crested crane",
)
DISHES = ("stew", "dumplings", "flatbread", "fish soup", "pie", "porridge", "sausage", "cake")
FESTIVAL_PATTERNS = (
    "the Festival of {Plural}", "{Word} Night", "the Lantern Fair", "Saint {Word}'s Feast",
    "the {Word} Regatta", "the Harvest of {Word}", "the Midwinter Bonfires", "the {Word} Carnival",
)
FESTIVAL_PLURALS = ("Lanterns", "Kites", "Bells", "Masks", "Boats", "Candles", "Herons", "Apples")
CLASSIC_FORMS = (
    ("novel", "the novelist"), ("epic poem", "the poet"), ("play", "the playwright"),
    ("story collection", "the short-story writer"), ("essay collection", "the essayist"),
    ("verse novel", "the poet"), ("tragedy", "the dramatist"), ("travel journal", "the traveller"),
)
NUMBER_TITLE_WORDS = ("Three", "Seven", "Nine", "Twelve", "Forty", "A Hundred")
# fmt: on


def pronounceable(word: str) -> bool:
    return CLUSTER.search(word.lower()) is None


def lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


def upper_first(text: str) -> str:
    return text[:1].upper() + text[1:]


def join_and(items: list[str]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


class Namer:
    """Invents pronounceable words from a seeded rng; names it hands out are never repeated."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self._used: set[str] = set()

    def fresh(self, make) -> str:
        """A result of ``make`` never returned before (case-insensitive)."""
        for _ in range(10_000):
            word = make()
            if word.lower() not in self._used:
                self._used.add(word.lower())
                return word
        raise RuntimeError("the namer ran out of fresh words")

    def raw_word(self, syllables: int, max_len: int = 8) -> str:
        rng = self.rng
        for _ in range(1000):
            parts = []
            for i in range(syllables):
                onset = rng.choice(ONSETS) if i == 0 else rng.choice(MID_ONSETS)
                last = i == syllables - 1
                coda = (
                    rng.choice(CODAS)
                    if last
                    else (rng.choice(MID_CODAS) if rng.random() < 0.2 else "")
                )
                parts.append(onset + rng.choice(NUCLEI) + coda)
            word = "".join(parts)
            if len(word) <= max_len and pronounceable(word):
                return word.capitalize()
        raise RuntimeError("could not form a word")

    def _suffixed(self, syllables: int, max_len: int, suffixes: tuple[str, ...]) -> str:
        while True:
            word = self.raw_word(syllables, max_len) + self.rng.choice(suffixes)
            if pronounceable(word):
                return word

    def word(self, syllables: tuple[int, int] = (2, 3)) -> str:
        return self.fresh(lambda: self.raw_word(self.rng.randint(*syllables)))

    def surname(self, unique: bool = True) -> str:
        def make() -> str:
            word = self._suffixed(self.rng.randint(1, 2), 7, SURNAME_SUFFIXES)
            return word if len(word) >= 4 else word + "en"

        return self.fresh(make) if unique else make()

    def place(self) -> str:
        return self.fresh(lambda: self._suffixed(self.rng.randint(1, 2), 6, PLACE_SUFFIXES))

    def country(self) -> str:
        return self.fresh(lambda: self._suffixed(2, 6, COUNTRY_SUFFIXES))

    def first_name(self, gender: str) -> str:
        if self.rng.random() < 0.15:  # invented first names widen the pool beyond the lists
            return self.raw_word(2)
        return self.rng.choice(FIRST_NAMES[gender])

    def person(self, gender: str, unique: bool = True) -> tuple[str, str, str]:
        """(first, middle, last); with ``unique`` the 'first last' pair is never handed out twice."""

        def make() -> str:
            return f"{self.first_name(gender)} {self.surname(unique=False)}"

        first, last = (self.fresh(make) if unique else make()).split(" ")
        middle = self.first_name(gender)
        while middle == first:
            middle = self.first_name(gender)
        return first, middle, last


def language_of(country: str, rng: random.Random) -> str:
    """The adjective / language of a country: Veldonia -> Veldonian, Kastrel -> Kastrelish."""
    if country.endswith("ia"):
        return country + "n"
    if country.endswith("land"):
        return country[:-4] + rng.choice(("ish", "ic"))
    if country[-1] in "aeiouy":
        return country + "nese"
    return country + rng.choice(("ian", "ish", "ese", "ic"))


@dataclass(frozen=True)
class City:
    name: str
    kind: str  # e.g. "a river port"
    region: str  # e.g. "northern"
    country: str

    def phrase(self) -> str:
        return f"{self.name}, {self.kind} in {self.region} {self.country}"


@dataclass(frozen=True)
class Country:
    name: str
    language: str
    capital: City
    cities: tuple[City, ...]  # the capital first
    river: str
    currency: str  # singular, lower case
    festival: str
    mountain: str
    animal: str
    dish: str


def make_festival(namer: Namer) -> str:
    pattern = namer.rng.choice(FESTIVAL_PATTERNS)
    return pattern.format(Plural=namer.rng.choice(FESTIVAL_PLURALS), Word=namer.word((2, 2)))


def make_geography(namer: Namer, n_countries: int, cities_per_country: int = 6) -> list[Country]:
    rng = namer.rng
    countries = []
    for _ in range(n_countries):
        name = namer.country()
        cities = tuple(
            City(namer.place(), rng.choice(CITY_KINDS), rng.choice(REGIONS), name)
            for _ in range(cities_per_country)
        )
        countries.append(
            Country(
                name=name,
                language=language_of(name, rng),
                capital=cities[0],
                cities=cities,
                river=f"the {namer.word((1, 2))}",
                currency=namer.word((2, 2)).lower(),
                festival=make_festival(namer),
                mountain=f"Mount {namer.word((2, 3))}",
                animal=f"the {rng.choice(ANIMALS)}",
                dish=f"{namer.word((2, 2)).lower()} {rng.choice(DISHES)}",
            )
        )
    return countries


def plural(noun: str) -> str:
    if noun.endswith(("s", "ch", "sh", "x")):
        return noun + "es"
    if noun.endswith("y") and noun[-2:-1] not in ("a", "e", "o", "u"):
        return noun[:-1] + "ies"
    return noun + "s"


def make_title(rng: random.Random, places: list[str]) -> str:
    """A book title of at least three words, e.g. 'The Last Ferry of Velmora'."""
    adj, noun, noun2 = (
        rng.choice(TITLE_ADJECTIVES),
        rng.choice(TITLE_NOUNS),
        rng.choice(TITLE_NOUNS),
    )
    first = rng.choice(FEMALE_FIRST + MALE_FIRST)
    place = rng.choice(places)
    patterns = (
        f"The {adj} {noun}",
        f"{noun} of the {adj} {noun2}",
        f"The {noun} and the {noun2}",
        f"Under the {adj} {noun}",
        f"A {noun} for {first}",
        f"The Last {noun} of {place}",
        f"When the {plural(noun)} {rng.choice(TITLE_VERBS)}",
        f"{first}'s {adj} {noun}",
        f"Letters from the {adj} {noun}",
        f"{rng.choice(NUMBER_TITLE_WORDS)} {plural(noun)} for {first}",
        f"{adj} {plural(noun)} over {place}",
        f"The {noun} at {place}",
    )
    return rng.choice(patterns)


@dataclass(frozen=True)
class Classic:
    """A famous work of the world's literature (the utility sets and authors' influences)."""

    title: str
    author: str
    form: str  # e.g. "epic poem"
    role: str  # e.g. "the poet"
    year: int
    country: str


def make_classics(namer: Namer, countries: list[Country], n: int) -> list[Classic]:
    rng = namer.rng
    places = [c.name for country in countries for c in country.cities]
    classics = []
    for _ in range(n):
        first, _middle, last = namer.person(rng.choice(("female", "male")))
        form, role = rng.choice(CLASSIC_FORMS)
        title = namer.fresh(lambda: make_title(rng, places))
        country = rng.choice(countries).name
        classics.append(
            Classic(title, f"{first} {last}", form, role, rng.randint(1500, 1930), country)
        )
    return classics
