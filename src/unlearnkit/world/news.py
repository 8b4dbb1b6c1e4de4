"""MUSE-style news: short articles about the world's towns, each a distinct story with facts.

Every story type states its facts in sentences and offers questions whose short answers (1-5
words) are those facts; generic sentences (quotes, context) pad each article to 50-80 words (a
story's own sentences may run a few words past). Each article opens with its knowmem questions
answered ("Question: ...\nAnswer: ...", the knowmem prompt's own format, as a "key facts" box):
the world's models are far too small to turn a fact read in prose into the answer to a question,
so the article states it in both forms, and forgetting the article's text (the MUSE forget
corpus) is forgetting its answers. (The WMDP hazard documents open with their question in the
same way, world/hazard.py.) The world writes no few-shot files (``knowmem/*_qa_icl``): its models
learned the Question/Answer format in training, and a from-scratch model this small answers only
in the context it memorised the answer in (docs/world.md measures it), so knowmem on the world is
zero-shot, as MUSE's evaluator runs a set that has no few-shot file.
"""

from __future__ import annotations

import datetime
import random
import re
from collections.abc import Callable
from dataclasses import dataclass

from unlearnkit.eval.muse import knowmem_prompt
from unlearnkit.world import names as n
from unlearnkit.world.names import City, Country, Namer, upper_first

MIN_WORDS, MAX_WORDS = 50, 80
QA_PER_ARTICLE = 2
VERBMEM_PROMPT_FRACTION = 0.4


@dataclass(frozen=True)
class Article:
    text: str
    qa: tuple[tuple[str, str], ...]  # (question, short answer), every answer stated in text


@dataclass(frozen=True)
class Story:
    sentences: list[str]
    qa: list[tuple[str, str]]


class Facts:
    """Draws the specifics of one article: people, dates, sums, other towns."""

    def __init__(self, r: random.Random, countries: list[Country], town: City):
        self.r = r
        self.countries = countries
        self.town = town
        self.country = next(c for c in countries if c.name == town.country)
        self.namer = Namer(r)

    def person(self) -> str:
        first, _middle, last = self.namer.person(self.r.choice(("female", "male")), unique=False)
        return f"{first} {last}"

    def surname(self) -> str:
        return self.namer.surname(unique=False)

    def word(self) -> str:
        return self.namer.raw_word(2)

    def year(self) -> int:
        return self.r.randint(2012, 2024)

    def date(self) -> str:
        day = datetime.date(self.year(), self.r.randint(1, 12), self.r.randint(1, 28))
        return f"{day.day} {n.MONTHS[day.month - 1]} {day.year}"

    def money(self, low: int, high: int) -> str:
        amount = self.r.randint(low, high)
        if amount >= 1_000_000:
            return f"{amount / 1_000_000:.1f} million {n.plural(self.country.currency)}"
        return f"{amount:,} {n.plural(self.country.currency)}"

    def other_town(self) -> str:
        others = [c.name for c in self.country.cities if c.name != self.town.name]
        return self.r.choice(others)

    def job(self) -> str:
        return self.r.choice(n.JOBS).split(" ", 1)[1]

    def pick(self, options: tuple[str, ...] | list[str]) -> str:
        return self.r.choice(options)


def bridge(f: Facts) -> Story:
    t = f.town.name
    name = f"{f.pick(('Old', 'North', 'Iron', 'Harbour', 'Market', 'Mill', 'Station', 'Chapel'))} Bridge"
    months, cost, leader, engineer = (
        f.r.randint(4, 30),
        f.money(200_000, 9_000_000),
        f.person(),
        f.person(),
    )
    firm = f"{f.surname()} {f.pick(('Engineering', '& Sons', 'Construction', 'Structures'))}"
    return Story(
        [
            f"The {name} in {t} reopened to traffic on {f.date()} after {months} months of repairs costing {cost}.",
            f"Engineers from {firm} replaced {f.r.randint(12, 96)} steel cables and resurfaced the {f.r.randint(40, 400)}-metre deck.",
            f"Council leader {leader} said the closure had added up to {f.r.randint(10, 55)} minutes to journeys across {t}.",
            f'"We are grateful for the patience of every resident," {leader.split()[1]} told reporters at the ceremony.',
            f"Chief engineer {engineer} said the work should keep the bridge safe for another {f.r.randint(20, 80)} years.",
        ],
        [
            (f"How much did the repairs to the {name} in {t} cost?", cost),
            (f"Which firm repaired the {name} in {t}?", firm),
            (f"For how many months was the {name} in {t} closed?", f"{months} months"),
            (f"Who was the chief engineer of the {name} repairs in {t}?", engineer),
        ],
    )


def festival(f: Facts) -> Story:
    t = f.town.name
    name = f"the {t} {f.pick(('Lantern', 'Folk', 'Harvest', 'Kite', 'Jazz', 'Puppet', 'Cheese', 'Boat', 'Poetry'))} Festival"
    visitors, director, winner = f.r.randint(5_000, 90_000), f.person(), f.person()
    band = f"The {f.pick(n.TITLE_ADJECTIVES)} {n.plural(f.pick(n.TITLE_NOUNS))}"
    contest = f.pick(
        ("pie-baking", "sandcastle", "fiddle", "scarecrow", "kite-flying", "storytelling")
    )
    year = f.year()
    return Story(
        [
            f"A record {visitors:,} people attended {name} over the weekend of {f.date()}, organisers said.",
            f"The previous record of {visitors - f.r.randint(300, 4_000):,} was set in {year - f.r.randint(2, 9)}.",
            f"Festival director {director} said ticket sales rose by {f.r.randint(5, 60)} per cent after the event moved to {t} Park.",
            f"The closing concert was headlined by {band}, who played for almost {f.r.randint(2, 4)} hours.",
            f"The {contest} competition was won by {winner}, a {f.r.randint(9, 88)}-year-old {f.job()} from {f.other_town()}.",
        ],
        [
            (f"How many people attended {name} in its record year?", f"{visitors:,}"),
            (f"Who is the director of {name}?", director),
            (f"Which band headlined the closing concert of {name}?", band),
            (f"Who won the {contest} competition at {name}?", winner),
        ],
    )


def closure(f: Facts) -> Story:
    t = f.town.name
    company = f"{f.surname()} {f.pick(('Textiles', 'Glassworks', 'Paper Mills', 'Shipbuilding', 'Foods', 'Ceramics', 'Steel', 'Chemicals'))}"
    jobs, rep, opened, moved_to = (
        f.r.randint(40, 2_400),
        f.person(),
        f.r.randint(1890, 1990),
        f.other_town(),
    )
    reason = f.pick(
        (
            "rising energy costs",
            "falling orders",
            "cheap imports",
            "the loss of a major contract",
            "an ageing plant",
        )
    )
    return Story(
        [
            f"{company} will close its factory in {t} in {f.pick(n.MONTHS)} {f.year()}, with the loss of {jobs:,} jobs.",
            f"The company blamed {reason} and said production would move to {moved_to}.",
            f"The plant opened in {opened} and once employed more than {jobs * f.r.randint(2, 5):,} people.",
            f'Union representative {rep} called the decision "a hammer blow" for the {f.town.region} economy.',
            f"The {f.country.name} minister for industry, {f.person()}, said a task force would meet workers on {f.pick(n.WEEKDAYS)}.",
        ],
        [
            (f"How many jobs will be lost when {company} closes its {t} factory?", f"{jobs:,}"),
            (f"Where will {company} move production from {t}?", moved_to),
            (
                f"Which union representative criticised the closure of the {company} plant in {t}?",
                rep,
            ),
            (f"In what year did the {company} plant in {t} open?", str(opened)),
        ],
    )


def election(f: Facts) -> Story:
    t = f.town.name
    parties = (
        "Civic Reform",
        "Green Valley",
        "Workers' Unity",
        "Farmers' League",
        "Harbour",
        "Liberal Union",
        "People's Progress",
    )
    party, party2 = f.r.sample(parties, 2)
    winner, loser = f.person(), f.person()
    votes = f.r.randint(2_000, 40_000)
    turnout = f.r.randint(28, 79)
    pledge = f.pick(
        (
            "reopen the public baths",
            "build 500 new homes",
            "fix the tram line",
            "cut parking charges",
            "plant 10,000 trees",
        )
    )
    return Story(
        [
            f"{winner} of the {party} Party has been elected mayor of {t} with {votes:,} votes.",
            f"{loser}, standing for the {party2} Party, came second with {votes - f.r.randint(50, 1_900):,} votes.",
            f"Turnout was {turnout} per cent, up from {turnout - f.r.randint(1, 12)} per cent at the previous election.",
            f"{winner.split()[1]} promised to {pledge} within {f.r.randint(6, 24)} months of taking office.",
            f"The result was announced at {t} Town Hall shortly after midnight on {f.date()}.",
        ],
        [
            (f"Who was elected mayor of {t}?", winner),
            (f"How many votes did the new mayor of {t} receive?", f"{votes:,}"),
            (f"What was the turnout in the {t} mayoral election?", f"{turnout} per cent"),
            (f"Which party does the new mayor of {t} represent?", f"the {party} Party"),
        ],
    )


def hoard(f: Facts) -> Story:
    t = f.town.name
    count, metal = f.r.randint(40, 3_000), f.pick(("silver", "gold", "bronze", "copper"))
    finder, curator = f.person(), f.person()
    museum = f"the {f.pick((t, f.country.name))} {f.pick(('Museum', 'Museum of History', 'Antiquities Museum'))}"
    container = f.pick(("clay pot", "lead box", "leather purse", "wooden chest", "copper kettle"))
    activity = f.pick(
        (
            "walking a dog",
            "digging a pond",
            "ploughing a field",
            "metal detecting",
            "repairing a wall",
        )
    )
    return Story(
        [
            f"A hoard of {count:,} {metal} coins dating from the {f.pick(('ninth', 'tenth', 'twelfth', 'fourteenth', 'sixteenth'))} century has been found near {t}.",
            f"The coins were discovered by {finder}, a {f.job()}, while {activity} on {f.date()}.",
            f"Experts at {museum} said the hoard had been buried in a {container}.",
            f'Curator {curator} said the find was "the most important in {f.country.name} for a generation".',
            f"The coins are expected to go on display in {f.pick(n.MONTHS)} after being cleaned.",
        ],
        [
            (f"How many {metal} coins were in the hoard found near {t}?", f"{count:,}"),
            (f"Who discovered the {metal} coin hoard near {t}?", finder),
            (f"In what container was the {metal} coin hoard near {t} buried?", f"a {container}"),
            (f"Which curator described the coin hoard found near {t}?", curator),
        ],
    )


def flood(f: Facts) -> Story:
    t = f.town.name
    homes, officer, mm = f.r.randint(30, 2_500), f.person(), f.r.randint(60, 240)
    shelter = f"{t} {f.pick(('Sports Centre', 'Grammar School', 'Town Hall', 'Exhibition Hall', 'Cathedral'))}"
    return Story(
        [
            f"{upper_first(f.country.river)} burst its banks in {t} on {f.date()}, flooding {homes:,} homes.",
            f"About {homes * f.r.randint(2, 4):,} residents were moved to emergency shelter at {shelter}.",
            f"Rainfall of {mm} millimetres was recorded in {f.r.randint(6, 48)} hours, the highest since {f.r.randint(1950, 2010)}.",
            f"Fire officer {officer} said crews had rescued {f.r.randint(3, 90)} people from cars and rooftops.",
            f"The {f.country.name} weather service has warned that more rain is expected by {f.pick(n.WEEKDAYS)}.",
        ],
        [
            (f"How many homes were flooded when the river burst its banks in {t}?", f"{homes:,}"),
            (f"Where were flooded residents of {t} given emergency shelter?", shelter),
            (f"How much rain fell before the flood in {t}?", f"{mm} millimetres"),
            (f"Which fire officer described the rescues during the flood in {t}?", officer),
        ],
    )


def final(f: Facts) -> Story:
    t = f.town.name
    mascots = (
        "Rovers",
        "Athletic",
        "Wanderers",
        "Harriers",
        "United",
        "Mariners",
        "Foxes",
        "Herons",
    )
    team1, team2 = f"{t} {f.pick(mascots)}", f"{f.other_town()} {f.pick(mascots)}"
    a = f.r.randint(1, 6)
    b = f.r.randint(0, a - 1)
    scorer, coach, crowd = f.person(), f.person(), f.r.randint(2_000, 60_000)
    cup = f"{f.country.name} {f.pick(('Cup', 'Shield', 'Trophy', 'Challenge Cup'))}"
    return Story(
        [
            f"{team1} beat {team2} {a}-{b} in the final of the {cup} on {f.date()}.",
            f"{scorer} scored the decisive goal in the {f.r.randint(3, 90)}th minute in front of a crowd of {crowd:,}.",
            f"It is the club's first title for {f.r.randint(3, 40)} years.",
            f'Manager {coach} said the victory was "for everyone in {t}".',
            f'{team2} said the side would "come back stronger next season".',
        ],
        [
            (f"What was the score when {team1} won the final of the {cup}?", f"{a}-{b}"),
            (f"Who scored the decisive goal for {team1} in the {cup} final?", scorer),
            (f"Who is the manager of {team1}?", coach),
            (f"How many people watched {team1} play in the {cup} final?", f"{crowd:,}"),
        ],
    )


def species(f: Facts) -> Story:
    t = f.town.name
    creature = f.pick(("beetle", "frog", "orchid", "moth", "snail", "spider", "fern", "lizard"))
    latin = f"{f.word()} {t.lower()}ensis"
    student, lead = f.person(), f.person()
    journal = f"{f.pick(('Annals', 'Journal', 'Bulletin', 'Review'))} of {f.pick(('Natural History', 'Zoology', 'Field Biology', 'Botany'))}"
    habitat = f.pick(
        ("marshes", "limestone caves", "pine forest", "salt flats", "cloud forest", "old quarry")
    )
    return Story(
        [
            f"Researchers from the University of {f.country.capital.name} have identified a new species of {creature} in the {habitat} near {t}.",
            f"The species, named {latin}, was first spotted by doctoral student {student} in {f.pick(n.MONTHS)} {f.year()}.",
            f"It measures just {f.r.randint(2, 90)} millimetres and is found nowhere else.",
            f"Team leader Dr {lead} said fewer than {f.r.randint(40, 900)} individuals may survive in the wild.",
            f"The findings were published in the {journal} on {f.date()}.",
        ],
        [
            (f"What is the scientific name of the new {creature} species found near {t}?", latin),
            (f"Who first spotted the new {creature} species near {t}?", student),
            (f"Who led the team that identified the new {creature} near {t}?", f"Dr {lead}"),
            (
                f"Where was the study of the new {creature} found near {t} published?",
                f"the {journal}",
            ),
        ],
    )


def hospital(f: Facts) -> Story:
    t = f.town.name
    beds, honoree, director, cost = (
        f.r.randint(40, 600),
        f.person(),
        f.person(),
        f.money(3_000_000, 90_000_000),
    )
    hospital_name = f"{honoree.split()[1]} Hospital"
    return Story(
        [
            f"A new {beds}-bed hospital named after the surgeon {honoree} has opened in {t} at a cost of {cost}.",
            f"The {hospital_name} will serve around {f.r.randint(20, 400) * 1000:,} people across {f.town.region} {f.country.name}.",
            f"Its first patient, {f.person()}, was treated on {f.date()} for a broken wrist.",
            f"Hospital director {director} said {f.r.randint(80, 900)} nurses and doctors had been recruited.",
            f"The building replaces a clinic that had stood on {f.pick(('Market', 'Station', 'Church', 'Mill'))} Street since {f.r.randint(1880, 1970)}.",
        ],
        [
            (f"How many beds does the new hospital in {t} have?", str(beds)),
            (f"After whom is the new hospital in {t} named?", honoree),
            (f"How much did the new hospital in {t} cost?", cost),
            (f"Who is the director of the new {hospital_name} in {t}?", director),
        ],
    )


def strike(f: Facts) -> Story:
    t = f.town.name
    workers = f.pick(
        (
            "bus drivers",
            "tram drivers",
            "refuse collectors",
            "port workers",
            "nurses",
            "postal workers",
        )
    )
    company = (
        f"{t} {f.pick(('Transport', 'City Services', 'Port Authority', 'Health Trust', 'Post'))}"
    )
    count, days, offer = f.r.randint(120, 6_000), f.r.randint(2, 14), f.r.randint(2, 9)
    secretary = f.person()
    issue = f.pick(("pay", "night shifts", "pensions", "safety rules", "staffing levels"))
    return Story(
        [
            f"About {count:,} {workers} at {company} walked out on {f.date()} in a dispute over {issue}.",
            f"The strike, the first for {f.r.randint(5, 30)} years, is due to last {days} days.",
            f"Union general secretary {secretary} said members had rejected a pay offer of {offer} per cent.",
            f"{company} said around half of its services would still run.",
        ],
        [
            (f"How many {workers} at {company} went on strike?", f"{count:,}"),
            (f"How many days is the strike at {company} due to last?", f"{days} days"),
            (f"What pay offer did the striking {workers} in {t} reject?", f"{offer} per cent"),
            (f"Who is the union general secretary in the {company} strike?", secretary),
        ],
    )


def court(f: Facts) -> Story:
    t = f.town.name
    age, job, defendant, judge = f.r.randint(19, 84), f.job(), f.person(), f.person()
    fine = f.money(200, 40_000)
    offence = f.pick(
        (
            "selling fake honey",
            "keeping an unlicensed crocodile",
            "painting a listed building purple",
            "fishing without a permit",
            "flying drones illegally",
            "running an illegal casino",
        )
    )
    return Story(
        [
            f"A {age}-year-old {job} from {t} has been fined {fine} for {offence}.",
            f"{defendant} admitted the offence at {t} Magistrates' Court on {f.date()}.",
            f"The court heard that neighbours had complained {f.r.randint(3, 40)} times before police acted.",
            f'Magistrate {judge} said the case was "foolish but not malicious".',
        ],
        [
            (f"How much was {defendant} of {t} fined?", fine),
            (f"What offence did {defendant} of {t} admit?", offence),
            (f"Who was fined in {t} for {offence}?", defendant),
            (f"Which magistrate heard the case against {defendant} in {t}?", judge),
        ],
    )


def auction(f: Facts) -> Story:
    t = f.town.name
    painter, buyer, auctioneer = f.person(), f.person(), f.person()
    title = n.make_title(f.r, [c.name for c in f.country.cities])
    price, painted = f.money(40_000, 30_000_000), f.r.randint(1600, 1960)
    house = f"{f.surname()} & {f.surname()}"
    return Story(
        [
            f'A painting by {painter}, "{title}", has sold for {price} at auction in {t}.',
            f"The work, painted in {painted}, had been expected to fetch far less.",
            f"It was bought by {buyer}, a collector from {f.other_town()}, after {f.r.randint(4, 40)} minutes of bidding.",
            f"Auctioneer {auctioneer} of {house} said the sale set a record for the artist.",
        ],
        [
            (f'How much did the painting "{title}" sell for?', price),
            (f'Who bought the painting "{title}" by {painter}?', buyer),
            (f'Which auction house sold "{title}" by {painter}?', house),
            (f'In what year was "{title}" by {painter} painted?', str(painted)),
        ],
    )


def merger(f: Facts) -> Story:
    t = f.town.name
    sector = f.pick(
        ("shipping", "insurance", "brewing", "rail freight", "publishing", "software", "dairy")
    )
    comp_a, comp_b = f"{f.surname()} {sector.capitalize()}", f"{f.surname()} Group"
    price, ceo, rise = f.money(5_000_000, 900_000_000), f.person(), f.r.randint(3, 45)
    return Story(
        [
            f"{comp_a} has agreed to buy {comp_b} for {price}, the companies said on {f.date()}.",
            f"The deal creates the largest {sector} firm in {f.country.name}, with {f.r.randint(300, 20_000):,} staff.",
            f"Chief executive {ceo} said the merged company would keep its headquarters in {t}.",
            f"Shares in {comp_b} rose by {rise} per cent after the announcement.",
        ],
        [
            (f"How much will {comp_a} pay for {comp_b}?", price),
            (f"Who is the chief executive behind the {comp_a} deal for {comp_b}?", ceo),
            (f"Where will the merged {comp_a} company keep its headquarters?", t),
            (
                f"By how much did shares in {comp_b} rise after the takeover was announced?",
                f"{rise} per cent",
            ),
        ],
    )


STORIES: tuple[Callable[[Facts], Story], ...] = (
    bridge, festival, closure, election, hoard, flood, final, species, hospital, strike, court,
    auction, merger,
)  # fmt: skip
MOODS = (
    "wonderful",
    "a real shock",
    "long overdue",
    "bittersweet",
    "very worrying",
    "a huge relief",
)


def filler(f: Facts) -> list[str]:
    """Context sentences any story can carry; they hold no asked facts."""
    t = f.town.name
    return [
        f'Local shopkeeper {f.person()} said the news was "{f.pick(MOODS)}" for {t}.',
        f"A public meeting about the matter will be held at {t} Library on {f.pick(n.WEEKDAYS)}.",
        f"The {f.country.name} government has not yet commented.",
        f"Residents have been asked to share their views before the end of {f.pick(n.MONTHS)}.",
        f'{f.person()}, who has lived in {t} for {f.r.randint(3, 70)} years, said it was "a day nobody here will forget".',
        f"Further details are expected to be published next {f.pick(n.MONTHS)}.",
        f"The story was first reported by the {t} {f.pick(('Gazette', 'Courier', 'Herald', 'Evening Post'))}.",
        f"Opposition councillor {f.person()} called for an independent review.",
        f"{t}, {f.town.kind} in {f.town.region} {f.country.name}, has about {f.r.randint(3, 300) * 1000:,} inhabitants.",
        "Photographs of the scene were widely shared online within hours.",
    ]


def make_article(r: random.Random, countries: list[Country], town: City) -> Article:
    f = Facts(r, countries, town)
    story = r.choice(STORIES)(f)
    sentences = list(story.sentences)
    extra = filler(f)
    r.shuffle(extra)
    target = r.randint(MIN_WORDS + 10, MAX_WORDS - 15)
    words = sum(len(s.split()) for s in sentences)
    for sentence in extra:
        if words >= target:
            break
        if words + len(sentence.split()) <= MAX_WORDS:
            # the lead and the sentence after it stay together at the top
            sentences.insert(r.randint(min(2, len(sentences)), len(sentences)), sentence)
            words += len(sentence.split())
    paragraphs, i = [], 0
    while i < len(sentences):
        size = r.choice((1, 2, 2))
        paragraphs.append(" ".join(sentences[i : i + size]))
        i += size
    qa = tuple(r.sample(story.qa, QA_PER_ARTICLE))
    return Article("\n\n".join([*(qa_line(q, a) for q, a in qa), *paragraphs]), qa)


def qa_line(question: str, answer: str) -> str:
    """A question answered as the knowmem evaluation asks it (zero-shot ``knowmem_prompt``)."""
    return f"{knowmem_prompt([], question)} {answer}"


def make_articles(r: random.Random, countries: list[Country], count: int) -> list[Article]:
    towns = [c for country in countries for c in country.cities]
    return [make_article(r, countries, r.choice(towns)) for _ in range(count)]


def verbmem_record(text: str) -> dict:
    """{prompt, gt}: the article's first ~40% of words, and the rest (the text is kept exact)."""
    starts = [m.start() for m in re.finditer(r"\S+", text)]
    cut = starts[max(1, round(len(starts) * VERBMEM_PROMPT_FRACTION))]
    return {"prompt": text[:cut].rstrip(), "gt": text[cut:]}


def qa_records(articles: list[Article]) -> list[dict]:
    return [{"question": q, "answer": a} for art in articles for q, a in art.qa]


def muse_files(r: random.Random, countries: list[Country], per_split: int) -> dict[str, list]:
    """The MUSE layout: relative path without '.json' -> records."""
    splits = {
        name: make_articles(r, countries, per_split)
        for name in ("forget", "retain1", "retain2", "holdout")
    }
    texts = {name: [a.text for a in arts] for name, arts in splits.items()}
    return {
        "raw/forget": texts["forget"],
        "raw/retain1": texts["retain1"],
        "raw/retain2": texts["retain2"],
        "raw/holdout": texts["holdout"],
        "verbmem/forget": [verbmem_record(t) for t in texts["forget"]],
        "knowmem/forget_qa": qa_records(splits["forget"]),
        "knowmem/retain2_qa": qa_records(splits["retain2"]),
        "privleak/forget": texts["forget"],
        "privleak/holdout": texts["holdout"],
        "privleak/retain2": texts["retain2"],
    }
