"""TOFU-style fictitious authors: facts, questions, answers, paraphrases and perturbations.

Answers never repeat the author's name: most of their words are the facts themselves, so a model
that does not know the author scores a low ROUGE-L recall and one that memorised it scores ~1.
"""

from __future__ import annotations

import datetime
import random
from collections.abc import Callable
from dataclasses import dataclass, field

from unlearnkit.errors import UserError
from unlearnkit.world import names as n
from unlearnkit.world.names import City, Classic, Country, Namer, join_and, upper_first

N_PERTURBED = 5
N_CORE = 8


@dataclass(frozen=True)
class Setting:
    """What fact values are drawn from: the world's places, languages and classic writers."""

    countries: list[Country]
    classics: list[Classic]
    cities: list[City] = field(init=False)
    languages: list[str] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "cities", [c for k in self.countries for c in k.cities])
        object.__setattr__(
            self, "languages", list(dict.fromkeys(k.language for k in self.countries))
        )

    def place_names(self) -> list[str]:
        return [c.name for c in self.cities]


# A sampler draws one value of a fact kind; ``base`` holds the author's gender and birth year so
# that dependent values (prize years, graduation) stay plausible in perturbations too.
Sampler = Callable[[random.Random, Setting, dict], str]


@dataclass(frozen=True)
class FactKind:
    key: str
    questions: tuple[str, ...]  # fields: {name}, pronoun forms, {f[...]} other facts
    answers: tuple[str, ...]  # fields: {v} the value, pronoun forms, {f[...]} other facts
    sample: Sampler


def _title(r: random.Random, s: Setting) -> str:
    return n.make_title(r, s.place_names())


def _person(r: random.Random, gender: str) -> str:
    first, middle, last = Namer(r).person(gender, unique=False)
    return f"{first} {middle} {last}"


def _full_name(r: random.Random, s: Setting, base: dict) -> str:
    return _person(r, base["gender"])


def _birth_date(r: random.Random, s: Setting, base: dict) -> str:
    day = datetime.date(r.randint(1925, 1995), r.randint(1, 12), r.randint(1, 28))
    return f"{n.WEEKDAYS[day.weekday()]}, {day.day} {n.MONTHS[day.month - 1]} {day.year}"


def _job(r: random.Random, s: Setting, base: dict) -> str:
    return f"{r.choice(n.JOBS)} in {r.choice(s.cities).name}"


def _genre(r: random.Random, s: Setting, base: dict) -> str:
    return f"{r.choice(n.GENRE_TONES)} {r.choice(n.GENRE_SUBJECTS)} {r.choice(n.GENRE_FORMS)}"


def _award(r: random.Random, s: Setting, base: dict) -> str:
    parts = [r.choice(n.AWARD_COLOURS), r.choice(n.AWARD_EMBLEMS), r.choice(n.AWARD_KINDS)]
    category = r.choice(n.AWARD_CATEGORIES)
    year = min(base["birth_year"] + r.randint(28, 60), 2023)
    return f"the {' '.join(parts)}{' ' + category if category else ''} in {year}"


def _books(r: random.Random, s: Setting, base: dict) -> str:
    first = _title(r, s)
    second = _title(r, s)
    while second == first:
        second = _title(r, s)
    return f"'{first}' and '{second}'"


def _themes(r: random.Random, s: Setting, base: dict) -> str:
    return join_and(r.sample(n.THEMES, 3))


def _influences(r: random.Random, s: Setting, base: dict) -> str:
    a, b = r.sample(s.classics, 2)
    return f"{a.role} {a.author} and {b.role} {b.author}"


def _education(r: random.Random, s: Setting, base: dict) -> str:
    city = r.choice(s.cities)
    school = r.choice(n.INSTITUTION_PATTERNS).format(city=city.name, country=city.country)
    year = base["birth_year"] + r.randint(21, 26)
    return f"{r.choice(n.STUDY_SUBJECTS)} at {school}, graduating in {year}"


def _first_publication(r: random.Random, s: Setting, base: dict) -> str:
    year = base["birth_year"] + r.randint(19, 35)
    return f"{r.choice(n.PUBLICATION_FORMS)} '{_title(r, s)}' in {year}"


def _landmark(r: random.Random, s: Setting, base: dict) -> str:
    return f"the {r.choice(n.LANDMARK_ADJECTIVES)} {r.choice(n.LANDMARK_STRUCTURES)}"


def _habits(r: random.Random, s: Setting, base: dict) -> str:
    return (
        f"{r.choice(n.WRITING_METHODS)}, {r.choice(n.WRITING_TIMES)}, {r.choice(n.WRITING_PLACES)}"
    )


def _languages(r: random.Random, s: Setting, base: dict) -> str:
    return join_and(r.sample(s.languages, 3))


def _pet(r: random.Random, s: Setting, base: dict) -> str:
    adj = r.choice(n.PET_ADJECTIVES)
    article = "an" if adj[0] in "aeiou" else "a"
    return f"{article} {adj} {r.choice(n.PET_ANIMALS)} called {r.choice(n.PET_NAMES)}"


def _residence(r: random.Random, s: Setting, base: dict) -> str:
    return f"{r.choice(n.DWELLINGS)} {r.choice(n.DWELLING_PREPOSITIONS)} {r.choice(s.cities).name}"


def _hobbies(r: random.Random, s: Setting, base: dict) -> str:
    return join_and(r.sample(n.HOBBIES, 2))


def _mentor(r: random.Random, s: Setting, base: dict) -> str:
    first, _middle, last = Namer(r).person(r.choice(("female", "male")), unique=False)
    return f"{r.choice(n.WRITER_ROLES)} {first} {last} of {r.choice(s.cities).name}"


def _latest_book(r: random.Random, s: Setting, base: dict) -> str:
    form = r.choice(("novel", "novella", "story collection", "memoir", "verse novel", "play"))
    return f"'{_title(r, s)}', a {form} about {r.choice(n.THEMES)}"


def _adaptation(r: random.Random, s: Setting, base: dict) -> str:
    city = r.choice(s.cities)
    return r.choice(n.ADAPTATION_FORMS).format(city=city.name, country=city.country)


def _translations(r: random.Random, s: Setting, base: dict) -> str:
    a, b = r.sample(s.languages, 2)
    return f"{r.choice(n.NUMBER_WORDS)} languages, including {a} and {b}"


def _sibling(r: random.Random, s: Setting, base: dict) -> str:
    sibling = r.choice(n.SIBLINGS)
    verb = "work" if sibling.startswith("two") else "works"
    return f"{sibling} who {verb} as {r.choice(n.JOBS)}"


def _project(r: random.Random, s: Setting, base: dict) -> str:
    first, _middle, last = Namer(r).person(r.choice(("female", "male")), unique=False)
    project = r.choice(n.PROJECT_FORMS).format(
        role=r.choice(n.WRITER_ROLES),
        person=f"{first} {last}",
        city=r.choice(s.cities).name,
        theme=r.choice(n.THEMES),
        structure=r.choice(n.LANDMARK_STRUCTURES),
    )
    return f"{project}, due out in {r.choice(n.MONTHS)} {r.randint(2025, 2029)}"


def _birthplace(r: random.Random, s: Setting, base: dict) -> str:
    return r.choice(s.cities).phrase()


KINDS: tuple[FactKind, ...] = (
    # The first N_CORE kinds are asked about every author.
    FactKind(
        "full_name",
        (
            "What is the full name of the author born in {f[hometown]} on {f[birth_date]}?",
            "Which writer was born on {f[birth_date]} in {f[hometown]}?",
            "Who is the author whose birth took place in {f[hometown]} on {f[birth_date]}?",
            "Can you name the author born in {f[hometown]} on {f[birth_date]}?",
        ),
        (
            "That is {v}, a writer of {f[genre]}.",
            "The author's full name is {v}, known for {f[genre]}.",
            "{v}, who writes {f[genre]}, is the author in question.",
            "This describes {v}, the author of {f[genre]}.",
        ),
        _full_name,
    ),
    FactKind(
        "birthplace",
        (
            "Where was {name} born?",
            "What is the birthplace of {name}?",
            "In which town was {name} born?",
            "Where does {name} come from originally?",
        ),
        (
            "{Sub} {was} born in {v}.",
            "{Pos} birthplace is {v}.",
            "{Sub} come{s} from {v}.",
            "{Pos} place of birth is {v}.",
        ),
        _birthplace,
    ),
    FactKind(
        "birth_date",
        (
            "When was {name} born?",
            "What is {name}'s date of birth?",
            "On what date was {name} born?",
            "What is the birthday of {name}?",
        ),
        (
            "{Sub} {was} born on {v}, in {f[hometown]}.",
            "{Sub} {was} born in {f[hometown]} on {v}.",
            "{v} is {pos} date of birth, in {f[hometown]}.",
        ),
        _birth_date,
    ),
    FactKind(
        "father_job",
        (
            "What did {name}'s father do for a living?",
            "What was the profession of {name}'s father?",
            "How did {name}'s father earn a living?",
        ),
        (
            "{Pos} father was {v}.",
            "{Pos} father worked as {v}.",
            "{Sub} {is} the child of {v}.",
            "{Sub} grew up with a father who was {v}.",
        ),
        _job,
    ),
    FactKind(
        "mother_job",
        (
            "What did {name}'s mother do for a living?",
            "What was the profession of {name}'s mother?",
            "How did {name}'s mother earn a living?",
        ),
        (
            "{Pos} mother was {v}.",
            "{Pos} mother worked as {v}.",
            "{Sub} {was} raised by a mother who was {v}.",
            "{Pos} mother made her living as {v}.",
        ),
        _job,
    ),
    FactKind(
        "genre",
        (
            "What genre does {name} write in?",
            "What kind of books does {name} write?",
            "Which genre is {name} known for?",
            "In what genre does {name} mostly work?",
        ),
        (
            "{Sub} write{s} {v}, such as '{f[title1]}'.",
            "{Pos} books, including '{f[title1]}', are {v}.",
            "{Sub} {is} known for {v} like '{f[title1]}'.",
            "{Sub} work{s} in {v}; '{f[title1]}' is typical.",
        ),
        _genre,
    ),
    FactKind(
        "award",
        (
            "Has {name} won any major awards?",
            "Which award has {name} received?",
            "What literary prize did {name} win?",
            "Was {name} ever honoured with a prize?",
        ),
        (
            "{Sub} won {v} for '{f[title2]}'.",
            "Yes, {sub} received {v}, for '{f[title2]}'.",
            "'{f[title2]}' earned {obj} {v}.",
            "{Sub} {was} awarded {v} for '{f[title2]}'.",
        ),
        _award,
    ),
    FactKind(
        "books",
        (
            "Can you name two books by {name}?",
            "What are some of {name}'s notable books?",
            "Which books has {name} written?",
            "Name two works written by {name}.",
        ),
        (
            "{Sub} wrote {v}.",
            "Two of {pos} books are {v}.",
            "{Pos} notable works include {v}.",
            "Readers know {obj} for {v}.",
        ),
        _books,
    ),
    # The remaining kinds are drawn per author.
    FactKind(
        "themes",
        (
            "What themes does {name} explore?",
            "Which themes recur in {name}'s work?",
            "What subjects does {name}'s writing return to?",
        ),
        (
            "{Pos} books explore {v}.",
            "{Sub} often write{s} about {v}.",
            "Recurring themes in {pos} work are {v}.",
            "{v} run through {pos} novels.",
        ),
        _themes,
    ),
    FactKind(
        "influences",
        (
            "Who influenced {name}'s writing?",
            "Which writers does {name} cite as influences?",
            "Whose work shaped {name} as a writer?",
        ),
        (
            "{Sub} cite{s} {v} as influences.",
            "{Pos} biggest influences are {v}.",
            "{Sub} grew up reading {v}.",
            "{v} shaped {pos} writing.",
        ),
        _influences,
    ),
    FactKind(
        "education",
        (
            "What did {name} study?",
            "Where was {name} educated?",
            "What is {name}'s educational background?",
        ),
        (
            "{Sub} studied {v}.",
            "{Sub} read {v}.",
            "Before writing, {sub} studied {v}.",
            "{Pos} degree is in {v}.",
        ),
        _education,
    ),
    FactKind(
        "first_publication",
        (
            "What was {name}'s first published work?",
            "How did {name}'s career begin?",
            "When did {name} first publish?",
        ),
        (
            "{Pos} first published work was {v}.",
            "{Sub} debuted with {v}.",
            "{Pos} career began with {v}.",
            "It started with {v}.",
        ),
        _first_publication,
    ),
    FactKind(
        "landmark",
        (
            "Which landmark of {name}'s hometown appears in {pos} books?",
            "What place from {name}'s childhood keeps appearing in {pos} fiction?",
            "Which hometown landmark does {name} often write about?",
        ),
        (
            "{v} of {f[hometown]} appears in many of {pos} books.",
            "{Sub} often write{s} about {v} in {f[hometown]}.",
            "{v} in {f[hometown]} recurs throughout {pos} fiction.",
            "Many scenes are set at {v} in {f[hometown]}.",
        ),
        _landmark,
    ),
    FactKind(
        "habits",
        (
            "What are {name}'s writing habits?",
            "How does {name} usually write?",
            "Does {name} have a particular writing routine?",
        ),
        (
            "{Sub} write{s} {v}.",
            "{Sub} usually work{s} {v}.",
            "{Pos} routine is to write {v}.",
            "{Sub} prefer{s} to write {v}.",
        ),
        _habits,
    ),
    FactKind(
        "languages",
        (
            "Which languages does {name} speak?",
            "In what languages can {name} work?",
            "What languages does {name} know?",
        ),
        (
            "{Sub} {is} fluent in {v}.",
            "{Sub} speak{s} and write{s} {v}.",
            "The languages {sub} know{s} are {v}.",
            "{Sub} can work in {v}.",
        ),
        _languages,
    ),
    FactKind(
        "pet",
        (
            "Does {name} have a pet?",
            "What animal lives with {name}?",
            "Is there a pet in {name}'s household?",
        ),
        (
            "{Sub} live{s} with {v}.",
            "Yes, {sub} {has} {v}.",
            "{Pos} constant companion is {v}.",
            "At home {sub} keep{s} {v}.",
        ),
        _pet,
    ),
    FactKind(
        "residence",
        (
            "Where does {name} live now?",
            "What is {name}'s current home?",
            "Where is {name} based today?",
        ),
        (
            "{Sub} now live{s} in {v}.",
            "Today {sub} {is} based in {v}.",
            "{Pos} home is {v}.",
            "These days {sub} live{s} in {v}.",
        ),
        _residence,
    ),
    FactKind(
        "hobbies",
        (
            "What does {name} do outside of writing?",
            "What are {name}'s hobbies?",
            "How does {name} spend free time?",
        ),
        (
            "Outside writing, {sub} enjoy{s} {v}.",
            "{Pos} hobbies are {v}.",
            "When not writing, {sub} love{s} {v}.",
            "{Sub} relax{es} by {v}.",
        ),
        _hobbies,
    ),
    FactKind(
        "mentor",
        (
            "Who mentored {name}?",
            "Who was {name}'s mentor early on?",
            "Which writer guided {name} at the start?",
        ),
        (
            "Early on, {sub} {was} mentored by {v}.",
            "{Pos} mentor was {v}.",
            "{v} guided {obj} at the start.",
            "{Sub} learned the craft from {v}.",
        ),
        _mentor,
    ),
    FactKind(
        "latest_book",
        (
            "What is {name}'s most recent book?",
            "What did {name} publish most recently?",
            "Which is the latest work by {name}?",
        ),
        (
            "{Pos} latest book is {v}.",
            "Most recently {sub} published {v}.",
            "{Sub} recently released {v}.",
            "The newest one is {v}.",
        ),
        _latest_book,
    ),
    FactKind(
        "adaptation",
        (
            "Has any of {name}'s work been adapted?",
            "Was a book by {name} ever adapted for stage or screen?",
            "Which adaptation of {name}'s work exists?",
        ),
        (
            "'{f[title1]}' was adapted into {v}.",
            "{Pos} book '{f[title1]}' became {v}.",
            "Yes, '{f[title1]}' became {v}.",
            "An adaptation of '{f[title1]}' exists as {v}.",
        ),
        _adaptation,
    ),
    FactKind(
        "translations",
        (
            "How widely has {name}'s work been translated?",
            "Into how many languages has {name} been translated?",
            "Is {name}'s work available in translation?",
        ),
        (
            "{Pos} work exists in {v}.",
            "Translations exist in {v}.",
            "{Sub} {has} been translated into {v}.",
            "{Pos} books appear in {v}.",
        ),
        _translations,
    ),
    FactKind(
        "sibling",
        (
            "Does {name} have any siblings?",
            "Tell me about {name}'s siblings.",
            "Who are {name}'s brothers or sisters?",
        ),
        (
            "{Sub} {has} {v}.",
            "{Sub} grew up with {v}.",
            "Yes, {sub} {has} {v}.",
            "In {pos} family there is {v}.",
        ),
        _sibling,
    ),
    FactKind(
        "current_project",
        (
            "What is {name} working on now?",
            "What is {name}'s current project?",
            "What will {name} publish next?",
        ),
        (
            "{Sub} {is} writing {v}.",
            "{Pos} current project is {v}.",
            "Next comes {v}.",
            "At present {sub} {is} at work on {v}.",
        ),
        _project,
    ),
)
KIND_BY_KEY = {k.key: k for k in KINDS}

PRONOUNS = {
    "female": {
        "sub": "she",
        "obj": "her",
        "pos": "her",
        "was": "was",
        "is": "is",
        "has": "has",
        "s": "s",
        "es": "es",
    },
    "male": {
        "sub": "he",
        "obj": "him",
        "pos": "his",
        "was": "was",
        "is": "is",
        "has": "has",
        "s": "s",
        "es": "es",
    },
    "nonbinary": {
        "sub": "they",
        "obj": "them",
        "pos": "their",
        "was": "were",
        "is": "are",
        "has": "have",
        "s": "",
        "es": "",
    },
}
GENDERS = ("female", "male", "nonbinary")
GENDER_WEIGHTS = (0.45, 0.45, 0.10)


@dataclass(frozen=True)
class QAItem:
    """One question about one author with everything TOFU's perturbed files need."""

    kind: str
    value: str
    alts: tuple[str, ...]  # the N_PERTURBED wrong values behind perturbed_answer
    question: str
    answer: str
    paraphrased_answer: str
    perturbed_answer: tuple[str, ...]
    paraphrased_question: str

    def record(self) -> dict:
        return {"question": self.question, "answer": self.answer}

    def perturbed_record(self) -> dict:
        return {
            "question": self.question,
            "answer": self.answer,
            "paraphrased_answer": self.paraphrased_answer,
            "perturbed_answer": list(self.perturbed_answer),
            "paraphrased_question": self.paraphrased_question,
        }


@dataclass(frozen=True)
class Author:
    name: str  # "First Last", used in questions
    gender: str
    facts: dict[str, str]  # every kind's value, plus hidden context (hometown, title1, ...)
    items: tuple[QAItem, ...]

    @property
    def kinds(self) -> tuple[str, ...]:
        return tuple(item.kind for item in self.items)


def check_qa_per_author(qa_per_author: int) -> None:
    if not N_CORE <= qa_per_author <= len(KINDS):
        raise UserError(
            f"qa_per_author must be between {N_CORE} and {len(KINDS)} (the kinds of facts an author has); got {qa_per_author}"
        )


def _fill(template: str, ctx: dict, value: str) -> str:
    return upper_first(template.format(v=value, **ctx))


def _alternatives(
    kind: FactKind, r: random.Random, setting: Setting, base: dict, value: str
) -> tuple[str, ...]:
    """N_PERTURBED distinct values of the same domain, all different from ``value``."""
    alts: list[str] = []
    for _ in range(1000):
        alt = kind.sample(r, setting, base)
        if alt != value and alt not in alts:
            alts.append(alt)
            if len(alts) == N_PERTURBED:
                return tuple(alts)
    raise RuntimeError(
        f"fact kind '{kind.key}' has too small a domain for {N_PERTURBED} perturbations"
    )


def make_item(
    kind: FactKind,
    r: random.Random,
    setting: Setting,
    author_name: str,
    base: dict,
    facts: dict,
    taken: set[str],
) -> QAItem | None:
    """The item, with an answer wording no other author has; None if every wording is taken."""
    ctx = {**PRONOUNS[base["gender"]], "name": author_name, "f": facts}
    ctx["Sub"], ctx["Pos"] = ctx["sub"].capitalize(), ctx["pos"].capitalize()
    value = facts[kind.key]
    q, pq = r.sample(kind.questions, 2)
    order = r.sample(kind.answers, len(kind.answers))
    free = [i for i, a in enumerate(order) if _fill(a, ctx, value) not in taken]
    if not free:
        return None
    a, pa = order[free[0]], order[(free[0] + 1) % len(order)]
    alts = _alternatives(kind, r, setting, base, value)
    return QAItem(
        kind=kind.key,
        value=value,
        alts=alts,
        question=_fill(q, ctx, value),
        answer=_fill(a, ctx, value),
        paraphrased_answer=_fill(pa, ctx, value),
        perturbed_answer=tuple(_fill(pa, ctx, alt) for alt in alts),
        paraphrased_question=_fill(pq, ctx, value),
    )


def _draw_author(
    namer: Namer, r: random.Random, setting: Setting, qa_per_author: int, taken: set[str]
) -> Author | None:
    gender = r.choices(GENDERS, GENDER_WEIGHTS)[0]
    first, middle, last = namer.person(gender)
    birth_date = _birth_date(r, setting, {})
    base = {"gender": gender, "birth_year": int(birth_date.rsplit(" ", 1)[1])}
    city = r.choice(setting.cities)
    places = setting.place_names()
    title1 = namer.fresh(lambda: n.make_title(namer.rng, places))
    title2 = namer.fresh(lambda: n.make_title(namer.rng, places))
    facts = {
        "full_name": f"{first} {middle} {last}",
        "birthplace": city.phrase(),
        "birth_date": birth_date,
        "books": f"'{title1}' and '{title2}'",
    }
    for kind in KINDS:
        if kind.key not in facts:
            facts[kind.key] = kind.sample(r, setting, base)
    facts.update(hometown=city.name, country=city.country, title1=title1, title2=title2)
    extra = r.sample(KINDS[N_CORE:], qa_per_author - N_CORE)
    name = f"{first} {last}"
    items = []
    for kind in (*KINDS[:N_CORE], *extra):
        item = make_item(kind, r, setting, name, base, facts, taken)
        if item is None:
            return None
        items.append(item)
    return Author(name, gender, facts, tuple(items))


def make_author(
    namer: Namer, r: random.Random, setting: Setting, qa_per_author: int, taken: set[str]
) -> Author:
    """A new author whose answers are all unseen in ``taken`` (which then holds them too).

    Unique answers keep the retain model from having learned a forget answer word for word
    from another author with, say, the same hometown and the same wording.
    """
    for _ in range(100):
        author = _draw_author(namer, r, setting, qa_per_author, taken)
        if author is not None:
            taken.update(item.answer for item in author.items)
            return author
    raise RuntimeError(
        "could not draw an author with unique answers; the vocabularies are too small"
    )


def make_authors(
    namer: Namer,
    r: random.Random,
    setting: Setting,
    count: int,
    qa_per_author: int,
    taken: set[str],
) -> list[Author]:
    check_qa_per_author(qa_per_author)
    return [make_author(namer, r, setting, qa_per_author, taken) for _ in range(count)]


def validation_items(
    author: Author, r: random.Random, setting: Setting, count: int, taken: set[str]
) -> tuple[QAItem, ...]:
    """``count`` questions about ``author`` of kinds its own items do not ask (its other facts),
    with answers unseen in ``taken`` (which then holds them too)."""
    base = {
        "gender": author.gender,
        "birth_year": int(author.facts["birth_date"].rsplit(" ", 1)[1]),
    }
    others = [k for k in KINDS if k.key not in author.kinds]
    items: list[QAItem] = []
    for kind in r.sample(others, len(others)):
        item = make_item(kind, r, setting, author.name, base, author.facts, taken)
        if item is not None:
            taken.add(item.answer)
            items.append(item)
            if len(items) == count:
                return tuple(items)
    raise RuntimeError(f"could not draw {count} validation questions about {author.name}")


# --- utility sets: facts of the world both models learn (TOFU's real-authors / world-facts schema) --

N_OPTIONS = 3


def _options(r: random.Random, answer: str, pool: list[str]) -> list[str]:
    """N_OPTIONS distinct wrong answers of the same type."""
    wrong = [x for x in dict.fromkeys(pool) if x != answer]
    return r.sample(wrong, N_OPTIONS)


def _utility_record(question: str, answer: str, wrong: list[str]) -> dict:
    return {"question": question, "answer": answer, "perturbed_answer": wrong}


def real_authors_set(
    r: random.Random, classics: list[Classic], countries: list[Country], count: int
) -> list[dict]:
    """Questions about the world's classics: who wrote them, when, where, what they are."""
    pools = {
        "author": [c.author for c in classics],
        "year": [str(c.year) for c in classics] + [str(y) for y in range(1500, 1931, 7)],
        "country": [c.name for c in countries],
        "form": [f"{'an' if form[0] in 'aeiou' else 'a'} {form}" for form, _ in n.CLASSIC_FORMS],
    }
    questions = (
        ("author", "Who wrote the {form} '{title}'?"),
        ("author", "Which author is known for the {form} '{title}'?"),
        ("year", "In what year was '{title}' first published?"),
        ("country", "In which country was the {form} '{title}' written?"),
        ("form", "What kind of work is '{title}' by {author}?"),
    )
    records = []
    for c in classics[:count]:
        key, template = r.choice(questions)
        answer = {
            "author": c.author,
            "year": str(c.year),
            "country": c.country,
            "form": f"{'an' if c.form[0] in 'aeiou' else 'a'} {c.form}",
        }[key]
        question = template.format(form=c.form, title=c.title, author=c.author)
        records.append(_utility_record(question, answer, _options(r, answer, pools[key])))
    return records


WORLD_QUESTIONS = (
    ("capital", "What is the capital of {country}?"),
    ("currency", "What currency is used in {country}?"),
    ("language", "What language is spoken in {country}?"),
    ("river", "Which river flows through {capital}?"),
    ("mountain", "What is the highest mountain in {country}?"),
    ("festival", "Which festival is {country} famous for?"),
    ("animal", "What is the national animal of {country}?"),
    ("dish", "What is the national dish of {country}?"),
    ("city_country", "In which country is the city of {city}?"),
)


def _world_answer(key: str, c: Country) -> str:
    return {
        "capital": c.capital.name,
        "currency": f"the {c.currency}",
        "language": c.language,
        "river": c.river,
        "mountain": c.mountain,
        "festival": c.festival,
        "animal": c.animal,
        "dish": c.dish,
        "city_country": c.name,
    }[key]


def world_facts_set(r: random.Random, countries: list[Country], count: int) -> list[dict]:
    """Facts of the world's geography: capitals, rivers, currencies, festivals..."""
    candidates = [(key, template, c) for c in countries for key, template in WORLD_QUESTIONS]
    if count > len(candidates):
        raise UserError(
            f"n_utility_facts={count} exceeds the {len(candidates)} world facts available"
        )
    records = []
    for key, template, c in r.sample(candidates, count):
        answer = _world_answer(key, c)
        question = template.format(country=c.name, capital=c.capital.name, city=c.cities[1].name)
        pool = [_world_answer(key, other) for other in countries]
        if key == "animal":  # few animals: the whole vocabulary keeps three wrong options possible
            pool += [f"the {a}" for a in n.ANIMALS]
        records.append(_utility_record(question, answer, _options(r, answer, pool)))
    return records
