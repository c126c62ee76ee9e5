"""Generate mapo's bundled demo dataset (WikiTableQuestions release layout).

Stand-alone and standard-library only; seeded and deterministic:

    python datasets/demo/generate.py            # writes datasets/demo/
    python datasets/demo/generate.py --out DIR --seed 0

Writes, under the output directory:

- `csv/200-csv/<k>.csv`: small Wikipedia-like tables (medal tables, election
  results, discographies, skyscrapers, race results, league tables, episode
  lists, athletes' competition records), WikiTableQuestions CSV dialect;
- `tagged/200-tagged/<k>.tagged`: the matching CoreNLP-style cell annotation
  (`number` and `date` filled where a cell is a number, a date or a year);
- `data/training.tsv`, `data/random-split-1-train.tsv`,
  `data/random-split-1-dev.tsv`: templated questions with the answers the
  generator computed (an 80/20 split by table);
- `programs.tsv`: a reference program for every question, in DESIGN.md's
  notation, at most 3 expressions, whose answer is the question's target.

Every answer is computed by running the reference program with a small
interpreter below (the semantics of grammars/wtq.toml), and a question is
kept only when its answer is unique and unambiguous: superlatives without
ties, entity strings that occur in exactly one column and match exactly the
intended rows, numbers written as digits in the question, and so on.
"""

from __future__ import annotations

import argparse
import datetime
import itertools
import math
import random
import re
import shutil
import unicodedata
from collections import Counter
from pathlib import Path

TABLES_PER_KIND = 5
DEV_FRACTION = 0.2
MAX_LIST = 5

# --------------------------------------------------------------------------- text
# Mirrors mapo_cli/core/text.py so that this script needs nothing but the stdlib.

_TOKEN = re.compile(r"[a-z0-9]+|[^a-z0-9\s]")
_NON_ALNUM = re.compile(r"[^a-z0-9]+")


def ascii_fold(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")


def normalize_text(text: str) -> str:
    return " ".join(_TOKEN.findall(ascii_fold(text).lower()))


def contains(cell_norm: str, needle_norm: str) -> bool:
    return bool(needle_norm) and f" {needle_norm} " in f" {cell_norm} "


def column_names(headers: list[str]) -> list[str]:
    names: list[str] = []
    seen: dict[str, int] = {}
    for k, header in enumerate(headers, start=1):
        name = _NON_ALNUM.sub("_", ascii_fold(header).lower()).strip("_") or f"column_{k}"
        base = name
        count = seen.get(base, 0) + 1
        seen[base] = count
        if count > 1:
            name = f"{base}_{count}"
            while name in seen:
                count += 1
                name = f"{base}_{count}"
            seen[base] = count
        seen.setdefault(name, 1)
        names.append(name)
    return names


def format_number(value: float) -> str:
    """Numbers as answers: integers without a decimal point, others shortest-exact."""
    if math.isfinite(value) and abs(value - round(value)) < 1e-9 and abs(value) < 1e15:
        return str(round(value))
    return repr(float(f"{value:.12g}"))


def with_commas(n: int) -> str:
    return f"{n:,}"


# --------------------------------------------------------------------------- cell values

MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December"]
_FOOTNOTE = re.compile(r"\[[^\]]*\]")
_PAREN = re.compile(r"\s*\([^)]*\)\s*$")
_NUM = re.compile(r"[+]?(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?")
_ORDINAL = re.compile(r"(\d+)(st|nd|rd|th)")
_PERCENT = re.compile(r"(\d+(?:\.\d+)?)%")
_UNIT = re.compile(r"(\d+(?:\.\d+)?) ?(m|km)")
_FULL_DATE = re.compile(r"(" + "|".join(MONTHS) + r") (\d{1,2}), (\d{4})")


def core_text(cell: str) -> str:
    """A cell without footnote marks and a trailing parenthesis: "Peru (PER)[1]" -> "Peru"."""
    text = _FOOTNOTE.sub("", cell).strip()
    return _PAREN.sub("", text).strip()


def cell_number(cell: str) -> float | None:
    """The cell's number as the tagged `number` field gives it (None: not a number)."""
    text = core_text(cell)
    for pattern in (_NUM, _ORDINAL, _PERCENT, _UNIT):
        match = pattern.fullmatch(text)
        if match:
            return float(match.group(1).replace(",", "") + (
                match.group(2) if pattern is _NUM and match.group(2) else ""))
    return None


def cell_date(cell: str) -> str | None:
    """The cell's date (`YYYY-MM-DD`, `xx` for unknown parts) or None."""
    text = core_text(cell)
    match = _FULL_DATE.fullmatch(text)
    if match:
        month = MONTHS.index(match.group(1)) + 1
        return f"{int(match.group(3)):04d}-{month:02d}-{int(match.group(2)):02d}"
    if re.fullmatch(r"\d{4}", text) and 1800 <= int(text) <= 2030:
        return f"{text}-xx-xx"
    return None


def date_text(day: datetime.date) -> str:
    return f"{MONTHS[day.month - 1]} {day.day}, {day.year}"


# --------------------------------------------------------------------------- word lists

FIRST_NAMES = [
    "Marco", "Jonas", "Felipe", "Kevin", "Daniel", "Sergio", "Lucas", "Pierre", "Nico",
    "Oscar", "Mika", "Jenson", "Rubens", "Alain", "Emerson", "Gilles", "Keke", "Nelson",
    "Thierry", "Heikki", "Jarno", "Pedro", "Romain", "Esteban", "Stefan", "Tomas", "Anders",
    "Henrik", "Ivan", "Paolo", "Rafael", "Hugo", "Victor", "Bruno", "Diego", "Mateo", "Leon",
    "Elias", "Adrian", "Simon", "Maria", "Elena", "Laura", "Anna", "Julia", "Sofia", "Clara",
    "Nina", "Irene", "Helen", "Sarah", "Karen", "Linda", "Grace", "Diane", "Ruth", "Alice",
    "Margaret", "Susan", "Carol", "Walter", "Howard", "Edward", "Frank", "George", "Arthur",
]
LAST_NAMES = [
    "Rossi", "Becker", "Almeida", "Morgan", "Laurent", "Kovac", "Lindqvist", "Ferreira",
    "Novak", "Brennan", "Castillo", "Duval", "Hartmann", "Ishikawa", "Jensen", "Kowalski",
    "Marchetti", "Nakamura", "Okafor", "Petrov", "Quintero", "Ramos", "Santoro", "Tanaka",
    "Ueda", "Varga", "Weber", "Yilmaz", "Zanetti", "Fischer", "Moreau", "Silva", "Costa",
    "Horvath", "Dalton", "Fletcher", "Garrison", "Holloway", "Kendrick", "Lambert", "Mercer",
    "Navarro", "Osborne", "Prescott", "Russo", "Thornton", "Whitaker", "Abbott", "Barlow",
    "Calloway", "Donovan", "Ellison", "Foley", "Granger", "Hendricks", "Ingram", "Jarvis",
    "Keller", "Lowell", "Maddox", "Pruitt", "Radcliffe", "Sutton", "Vance", "Wexler",
]
NATIONS = [
    ("Peru", "PER"), ("Chile", "CHI"), ("Brazil", "BRA"), ("Argentina", "ARG"),
    ("Colombia", "COL"), ("Venezuela", "VEN"), ("Ecuador", "ECU"), ("Bolivia", "BOL"),
    ("Uruguay", "URU"), ("Paraguay", "PAR"), ("Mexico", "MEX"), ("Cuba", "CUB"),
    ("Canada", "CAN"), ("United States", "USA"), ("Jamaica", "JAM"), ("Panama", "PAN"),
    ("Guatemala", "GUA"), ("Costa Rica", "CRC"), ("Japan", "JPN"), ("China", "CHN"),
    ("South Korea", "KOR"), ("Thailand", "THA"), ("Vietnam", "VIE"), ("Indonesia", "INA"),
    ("Malaysia", "MAS"), ("Philippines", "PHI"), ("India", "IND"), ("Kazakhstan", "KAZ"),
    ("Iran", "IRI"), ("Mongolia", "MGL"), ("Norway", "NOR"), ("Sweden", "SWE"),
    ("Finland", "FIN"), ("Denmark", "DEN"), ("Germany", "GER"), ("France", "FRA"),
    ("Italy", "ITA"), ("Spain", "ESP"), ("Portugal", "POR"), ("Netherlands", "NED"),
    ("Belgium", "BEL"), ("Poland", "POL"), ("Hungary", "HUN"), ("Romania", "ROU"),
    ("Bulgaria", "BUL"), ("Greece", "GRE"), ("Turkey", "TUR"), ("Ukraine", "UKR"),
    ("Croatia", "CRO"), ("Serbia", "SRB"), ("Austria", "AUT"), ("Switzerland", "SUI"),
    ("Ireland", "IRL"), ("Kenya", "KEN"), ("Ethiopia", "ETH"), ("Nigeria", "NGR"),
    ("Egypt", "EGY"), ("Morocco", "MAR"), ("South Africa", "RSA"), ("Australia", "AUS"),
    ("New Zealand", "NZL"),
]
PARTIES = ["Democratic", "Republican", "Green", "Independent", "Liberal", "Conservative",
           "Labour", "Progressive", "Reform", "Socialist", "Libertarian"]
LABELS = ["Columbia", "Atlantic", "Capitol", "Island", "Virgin", "Epic", "Mercury", "Elektra",
          "Geffen", "Sire", "Polydor", "Chrysalis", "Arista", "Reprise", "Motown"]
ALBUMS = [
    "Northern Lights", "Paper Houses", "Silver Lining", "Midnight Radio", "Burning Bridges",
    "Ocean Drive", "Electric Dreams", "Wild Horses", "Quiet Storm", "Blue Horizon",
    "Desert Rose", "City of Echoes", "Broken Compass", "Golden Hour", "Falling Stars",
    "Hollow Ground", "Iron Heart", "Parallel Lines", "Crimson Tide", "Shadow Play",
    "Morning Glory", "Restless Years", "Open Road", "Stone Garden", "Fading Light",
    "Neon Nights", "Distant Shores", "Second Nature", "Heavy Weather", "Long Way Home",
    "Painted Sky", "Winter Songs", "Rising Sun", "Empty Rooms", "Bright Side",
    "Silent Running", "Black Water", "White Noise", "Glass Houses", "Red Letter Days",
    "Tidal Wave", "Lost Highway", "True North", "Cold Fire", "Paper Moon", "High Tide",
]
EPISODES = [
    "Pilot", "The Long Goodbye", "Homecoming", "Crossroads", "Breaking Point",
    "The Lighthouse", "Fallout", "Second Chances", "Blind Spot", "The Last Stand",
    "Undertow", "Safe Harbor", "Dead Reckoning", "Family Ties", "The Visitor", "Ghosts",
    "Aftermath", "Point of No Return", "Trust Issues", "The Storm", "Lockdown",
    "Old Friends", "Exit Strategy", "Night Shift", "The Reunion", "Collateral", "Bad Blood",
    "Full Circle", "The Promise", "Wildfire", "Checkmate", "The Hunt", "Deadline", "Echoes",
    "Thin Ice", "Last Call", "Red Flag", "Cold Case", "Turning Point", "Quarantine",
]
BUILDING_PREFIXES = [
    "Harbor", "Meridian", "Capital", "Liberty", "Summit", "Crown", "Pinnacle", "Granite",
    "Aurora", "Beacon", "Sterling", "Atlas", "Unity", "Heritage", "Frontier", "Empire",
    "Regent", "Commerce", "Franklin", "Lakeside", "Riverside", "Gateway", "Landmark",
]
BUILDING_SUFFIXES = ["Tower", "Center", "Plaza", "Building", "Place", "Square"]
CITIES = ["Chicago", "Houston", "Dallas", "Atlanta", "Denver", "Seattle", "Miami", "Boston",
          "Philadelphia", "Los Angeles", "San Francisco", "Pittsburgh", "Detroit",
          "Minneapolis", "Cleveland", "Charlotte", "Toronto", "Calgary"]
RACE_TEAMS = ["Vortex Racing", "Silverline", "Apex Motorsport", "Redwood GP", "Falcon",
              "Kestrel Racing", "Northstar", "Orion GP", "Titan Motorsport", "Comet",
              "Scarlet Racing", "Bluebird"]
RETIREMENTS = ["Engine", "Gearbox", "Accident", "Hydraulics", "Collision", "Brakes",
               "Suspension", "Spun off"]
TOWNS = ["Ashford", "Bramley", "Carlton", "Dunmore", "Easton", "Fairview", "Glenwood",
         "Hartley", "Ivybridge", "Kingsley", "Langford", "Milbrook", "Northgate", "Oakham",
         "Penrith", "Redhill", "Stanton", "Thornbury", "Westfield", "Whitby"]
CLUB_SUFFIXES = ["United", "City", "Rovers", "Athletic", "Town", "Wanderers", "Albion"]
COMPETITIONS = ["World Championships", "European Championships", "Olympic Games",
                "World Indoor Championships", "European Indoor Championships",
                "Universiade", "Goodwill Games"]
VENUES = [
    ("Helsinki", "Finland"), ("Osaka", "Japan"), ("Berlin", "Germany"), ("Daegu", "South Korea"),
    ("Moscow", "Russia"), ("Beijing", "China"), ("London", "United Kingdom"),
    ("Paris", "France"), ("Gothenburg", "Sweden"), ("Barcelona", "Spain"),
    ("Munich", "Germany"), ("Edmonton", "Canada"), ("Seville", "Spain"), ("Athens", "Greece"),
    ("Sydney", "Australia"), ("Stuttgart", "Germany"), ("Budapest", "Hungary"),
    ("Lisbon", "Portugal"), ("Valencia", "Spain"), ("Birmingham", "United Kingdom"),
    ("Doha", "Qatar"), ("Istanbul", "Turkey"), ("Sopot", "Poland"), ("Zurich", "Switzerland"),
    ("Turin", "Italy"), ("Prague", "Czech Republic"), ("Glasgow", "United Kingdom"),
]
FIELD_EVENTS = ["Long jump", "Triple jump", "High jump", "Pole vault"]
ORDINAL_SUFFIX = {1: "st", 2: "nd", 3: "rd"}


def ordinal(n: int) -> str:
    return f"{n}{'th' if 10 <= n % 100 <= 20 else ORDINAL_SUFFIX.get(n % 10, 'th')}"


def people(rng: random.Random, n: int, exclude: set[str] = frozenset()) -> list[str]:
    """n distinct names with distinct first and last names (none in `exclude`)."""
    firsts = [f for f in FIRST_NAMES if f not in exclude]
    lasts = [x for x in LAST_NAMES if x not in exclude]
    return [f"{f} {x}" for f, x in zip(rng.sample(firsts, n), rng.sample(lasts, n))]


def name_parts(names: list[str]) -> set[str]:
    return {part for name in names for part in name.split()}


def weighted_groups(rng: random.Random, values: list[str], n: int) -> list[str]:
    """n draws from `values` with uneven weights, so that some values repeat."""
    weights = [len(values) - i + rng.random() for i in range(len(values))]
    return rng.choices(values, weights=weights, k=n)


# --------------------------------------------------------------------------- tables


class Table:
    """One generated table: raw cells, their literal forms and typed values, and phrasing."""

    def __init__(self, kind: str, headers: list[str], rows: list[list[str]],
                 spec: dict, lits: dict[str, list[str]] | None = None) -> None:
        self.kind = kind
        self.headers = headers
        self.rows = rows
        self.spec = spec
        self.names = column_names(headers)
        width = len(headers)
        assert all(len(row) == width for row in rows)
        self.norm = [[normalize_text(row[c]) for c in range(width)] for row in rows]
        self.numbers = [[cell_number(row[c]) for row in rows] for c in range(width)]
        self.dates = [[cell_date(row[c]) for row in rows] for c in range(width)]
        # literal form of each cell (the words a question uses for it)
        self.lits: list[list[str]] = []
        for c, header in enumerate(headers):
            given = (lits or {}).get(header)
            self.lits.append(given if given else [normalize_text(core_text(r[c])) for r in rows])

    @property
    def n(self) -> int:
        return len(self.rows)

    def col(self, header: str) -> int:
        return self.headers.index(header)

    def full_num(self, c: int) -> bool:
        """Every cell of the column is a number: safe for comparisons and superlatives."""
        return all(v is not None for v in self.numbers[c])

    def full_date(self, c: int) -> bool:
        return all(v is not None and "x" not in v for v in self.dates[c])

    def var(self, c: int, kind: str) -> str:
        return f"r.{self.names[c]}-{kind}"


def medals(rng: random.Random) -> Table:
    n = rng.randint(6, 12)
    nations = rng.sample(NATIONS, n)
    counts = []
    for i in range(n):
        top = max(1, 11 - i)
        g = rng.randint(0, top)
        s = rng.randint(0, top)
        b = rng.randint(0 if g + s else 1, top)
        counts.append((g, s, b))
    counts.sort(key=lambda t: (-t[0], -t[1], -t[2]))
    style = rng.choice(["plain", "code", "plain"])
    footnote = rng.randrange(n) if rng.random() < 0.5 else -1
    rows, lits = [], []
    for i, ((name, code), (g, s, b)) in enumerate(zip(nations, counts)):
        cell = f"{name} ({code})" if style == "code" else name
        if i == footnote:
            cell += "[1]"
        rows.append([str(i + 1), cell, str(g), str(s), str(b), str(g + s + b)])
        lits.append(name.lower())
    headers = ["Rank", "Nation", "Gold", "Silver", "Bronze", "Total"]

    def medal(colour: str, header: str) -> dict:
        return {
            "col": header,
            "ops": std_ops(f"won {{q}} {colour} medals", f"did not win exactly {{n}} {colour} "
                           "medals", "nations", ["which nations", "what nations"]),
            "max": [f"which nation won the most {colour} medals?",
                    f"what nation won the highest number of {colour} medals?",
                    f"which nation earned the most {colour} medals?"],
            "min": [f"which nation won the fewest {colour} medals?",
                    f"what nation won the least {colour} medals?"],
            "val": [f"how many {colour} medals did {{x}} win?",
                    f"how many {colour} medals did {{x}} earn?",
                    f"what was {{x}}'s {colour} medal count?"],
            "total": [f"how many {colour} medals were awarded in total?",
                      f"what is the total number of {colour} medals won?"],
            "avg": [f"what is the average number of {colour} medals won per nation?",
                    f"on average, how many {colour} medals did each nation win?"],
            "maxv": [f"what is the highest number of {colour} medals won by a single nation?",
                     f"what was the largest {colour} medal count?"],
            "minv": [f"what is the lowest number of {colour} medals won by a nation?",
                     f"what was the smallest {colour} medal count?"],
            "diff": [f"how many more {colour} medals did {{a}} win than {{b}}?",
                     f"what is the difference in {colour} medals between {{a}} and {{b}}?",
                     f"{{a}} won how many more {colour} medals than {{b}}?"],
            "mode": [f"what was the most common number of {colour} medals won?",
                     f"what number of {colour} medals was won most often?"],
        }

    total = {
        "col": "Total",
        "ops": std_ops("won {q} medals in total", "did not win exactly {n} medals in total",
                       "nations", ["which nations", "what nations"]),
        "max": ["which nation won the most medals in total?",
                "what nation had the highest total medal count?"],
        "min": ["which nation won the fewest medals in total?",
                "what nation had the lowest total medal count?"],
        "val": ["how many medals did {x} win in total?", "what was {x}'s total medal count?",
                "how many total medals did {x} win?"],
        "total": ["how many medals were awarded altogether?",
                  "what is the total number of medals won by all nations?"],
        "avg": ["what is the average total medal count?",
                "on average, how many medals did each nation win in total?"],
        "maxv": ["what is the highest total medal count?"],
        "diff": ["how many more medals did {a} win in total than {b}?",
                 "what is the difference in total medals between {a} and {b}?"],
    }
    spec = {
        "ent": "Nation",
        "key": [("which nation was ranked {n}?", "Rank", "Nation"),
                ("what nation is ranked number {n}?", "Rank", "Nation"),
                ("which nation is in rank {n}?", "Rank", "Nation"),
                ("how many gold medals did the nation ranked {n} win?", "Rank", "Gold")],
        "measures": [medal("gold", "Gold"), medal("silver", "Silver"),
                     medal("bronze", "Bronze"), total],
        "prev": [("which nation is ranked just above {x}?", "Nation"),
                 ("which nation is listed before {x}?", "Nation"),
                 ("what nation comes right before {x} in the medal table?", "Nation")],
        "next": [("which nation is ranked just below {x}?", "Nation"),
                 ("which nation is listed after {x}?", "Nation"),
                 ("what nation comes right after {x} in the medal table?", "Nation")],
        "first": [("which nation is ranked first?", "Nation"),
                  ("which nation is at the top of the medal table?", "Nation"),
                  ("how many gold medals did the first nation win?", "Gold")],
        "last": [("which nation is listed last?", "Nation"),
                 ("which nation is at the bottom of the medal table?", "Nation"),
                 ("what nation ranked last?", "Nation")],
        "count_all": ["how many nations are listed in the medal table?",
                      "how many nations appear in the table?"],
    }
    return Table("medals", headers, rows, spec, {"Nation": lits})


def std_ops(pattern: str, negative: str, plural: str, openers: list[str],
            only: str = "> < >= <= = !=") -> dict:
    """Comparison questions from a predicate with a quantity slot: "won {q} gold medals"."""
    quantities = {
        ">": ["more than {n}"], "<": ["fewer than {n}", "less than {n}"],
        ">=": ["at least {n}", "{n} or more"], "<=": ["at most {n}", "{n} or fewer"],
        "=": ["exactly {n}"],
    }
    ops = {}
    for op, qs in quantities.items():
        preds = [pattern.replace("{q}", q) for q in qs]
        ops[op] = {"count": [f"how many {plural} {p}?" for p in preds],
                   "list": [f"{o} {p}?" for p in preds for o in openers]}
    ops["!="] = {"count": [f"how many {plural} {negative}?"], "list": []}
    return {op: forms for op, forms in ops.items() if op in only.split()}


def elections(rng: random.Random) -> Table:
    n = rng.randint(5, 10)
    start = rng.randrange(1960, 1992, 4)
    winners = people(rng, n)
    runners = people(rng, n, name_parts(winners))
    parties = rng.sample(PARTIES, rng.randint(2, 4))
    party_of = weighted_groups(rng, parties, n)
    footnote = rng.randrange(n) if rng.random() < 0.4 else -1
    rows, lits = [], []
    for i in range(n):
        votes = rng.randint(18000, 240000)
        share = rng.randint(405, 720) / 10
        name = winners[i] + ("[a]" if i == footnote else "")
        rows.append([str(start + 4 * i), name, party_of[i], with_commas(votes), f"{share:.1f}",
                     runners[i]])
        lits.append(winners[i].lower())
    headers = ["Year", "Winner", "Party", "Votes", "%", "Runner-up"]
    spec = {
        "ent": "Winner",
        "key": [("who won the election in {n}?", "Year", "Winner"),
                ("who was elected in {n}?", "Year", "Winner"),
                ("which party won the election in {n}?", "Year", "Party"),
                ("who was the runner-up in {n}?", "Year", "Runner-up"),
                ("how many votes did the winner receive in {n}?", "Year", "Votes")],
        "attrs": [("in what year did {x} win the election?", "Year"),
                  ("when was {x} elected?", "Year"),
                  ("who was the runner-up when {x} won?", "Runner-up"),
                  ("who finished second in the election won by {x}?", "Runner-up")],
        "groups": {"Party": {
            "attr": ["which party did {x} belong to?", "what party was {x} from?",
                     "{x} was a member of which party?"],
            "count": ["how many times did the {g} party win?",
                      "how many winners were from the {g} party?",
                      "how many elections did the {g} candidate win?"],
            "mode": ["which party won the most elections?", "which party appears most often?",
                     "which party won most often?"],
            "list": ["which winners were from the {g} party?",
                     "who won as a member of the {g} party?"],
            "excl": ["other than {x}, who won for the {g} party?",
                     "besides {x}, which winner was from the {g} party?"],
            "same": ["who else was from the same party as {x}?",
                     "which other winner belonged to the same party as {x}?"],
            "gsum": [("how many votes did the {g} winners receive in total?", "Votes")],
        }},
        "measures": [
            {"col": "Votes",
             "ops": std_ops("received {q} votes", "", "winners", ["which winners", "who"],
                            only="> < >= <="),
             "max": ["who received the most votes?", "which winner got the highest number of votes?",
                     ("which party's candidate received the most votes?", "Party"),
                     ("in which year did the winner receive the most votes?", "Year")],
             "min": ["who received the fewest votes?", "which winner got the least votes?",
                     ("in which year did the winner receive the fewest votes?", "Year")],
             "val": ["how many votes did {x} receive?", "how many votes did {x} get?"],
             "total": ["how many votes did the winners receive in total?"],
             "avg": ["what was the average number of votes for the winner?"],
             "maxv": ["what was the highest number of votes received by a winner?"],
             "minv": ["what was the lowest number of votes received by a winner?"],
             "diff": ["how many more votes did {a} get than {b}?",
                      "what is the difference in votes between {a} and {b}?",
                      "{a} received how many more votes than {b}?"]},
            {"col": "%",
             "ops": {">": {"count": [("how many winners received more than {n} percent of the "
                                     "vote?")],
                           "list": ["who won with more than {n} percent of the vote?"]},
                     "<": {"count": [("how many winners received less than {n} percent of the "
                                     "vote?")],
                           "list": ["who won with less than {n} percent of the vote?"]}},
             "max": ["who won with the highest percentage of the vote?",
                     "which winner had the largest share of the vote?"],
             "min": ["who won with the lowest percentage of the vote?",
                     "which winner had the smallest share of the vote?"],
             "val": ["what percentage of the vote did {x} receive?",
                     "what share of the vote did {x} win?"],
             "avg": ["what was the winner's average share of the vote?"],
             "maxv": ["what was the largest share of the vote won by a winner?"],
             "diff": ["how much higher was {a}'s share of the vote than {b}'s?"]},
            {"col": "Year",
             "ops": {">": {"count": ["how many elections were held after {n}?"],
                           "list": ["who won the elections held after {n}?"]},
                     "<": {"count": ["how many elections were held before {n}?"],
                           "list": ["who won the elections held before {n}?"]},
                     ">=": {"count": ["how many elections were held in or after {n}?"],
                            "list": []},
                     "<=": {"count": ["how many elections were held in {n} or earlier?"],
                            "list": []}}},
        ],
        "prev": [("who won the election before {x}?", "Winner"),
                 ("who was the winner before {x}?", "Winner"),
                 ("which party won the election before {x} was elected?", "Party")],
        "next": [("who won the election after {x}?", "Winner"),
                 ("who was the next winner after {x}?", "Winner"),
                 ("who succeeded {x}?", "Winner")],
        "first": [("who won the first election listed?", "Winner"),
                  ("who was the first winner?", "Winner"),
                  ("in what year was the first election?", "Year")],
        "last": [("who won the most recent election?", "Winner"),
                 ("who was the last winner listed?", "Winner"),
                 ("which party won the last election?", "Party")],
        "count_all": ["how many elections are listed?", "how many elections are shown?"],
    }
    return Table("elections", headers, rows, spec, {"Winner": lits})


def discography(rng: random.Random) -> Table:
    n = rng.randint(5, 10)
    titles = rng.sample(ALBUMS, n)
    labels = weighted_groups(rng, rng.sample(LABELS, rng.randint(2, 3)), n)
    day = datetime.date(rng.randint(1968, 1998), rng.randint(1, 12), rng.randint(1, 28))
    uk_dashes = rng.random() < 0.4
    rows = []
    for i in range(n):
        us = rng.randint(1, 120)
        uk = "—" if uk_dashes and rng.random() < 0.3 else str(rng.randint(1, 80))
        cert = rng.choice(["Gold", "Platinum", "—", "—", "2× Platinum", ""])
        title = titles[i] + (" [1]" if i == 0 and rng.random() < 0.4 else "")
        rows.append([title, date_text(day), labels[i], str(us), uk, cert])
        day += datetime.timedelta(days=rng.randint(300, 1300))
    headers = ["Title", "Released", "Label", "Peak position\nUS", "Peak position\nUK",
               "Certification"]

    def chart(country: str, header: str) -> dict:
        return {
            "col": header,
            "ops": {
                "<=": {"count": [(f"how many albums peaked at number {{n}} or better in the "
                                 f"{country}?"),
                                 (f"how many albums reached number {{n}} or higher in the "
                                 f"{country}?")],
                       "list": [(f"which albums peaked at number {{n}} or better in the "
                                f"{country}?")]},
                "<": {"count": [(f"how many albums peaked higher than number {{n}} in the "
                                f"{country}?")],
                      "list": [(f"which albums charted higher than number {{n}} in the "
                               f"{country}?")]},
                ">": {"count": [(f"how many albums peaked lower than number {{n}} in the "
                                f"{country}?")],
                      "list": []},
                "=": {"count": [],
                      "list": [f"which album peaked at number {{n}} in the {country}?"]},
            },
            "min": [f"which album peaked highest on the {country} chart?",
                    f"which album had the best peak position in the {country}?",
                    (f"what label released the album with the best {country} chart position?",
                     "Label")],
            "val": [f"what was the {country} peak position of {{x}}?",
                    f"how high did {{x}} chart in the {country}?",
                    f"what position did {{x}} reach on the {country} chart?"],
            "minv": [f"what was the best {country} peak position of any album?"],
            "avg": [f"what was the average {country} peak position?"],
            "diff": [(f"what is the difference in {country} peak position between {{a}} and "
                     "{b}?")],
        }

    spec = {
        "ent": "Title",
        "attrs": [("when was {x} released?", "Released"),
                  ("what was the release date of {x}?", "Released"),
                  ("what certification did {x} receive?", "Certification")],
        "groups": {"Label": {
            "attr": ["which label released {x}?", "what label was {x} released on?",
                     "{x} was released by which label?"],
            "count": ["how many albums were released on {g}?", "how many albums did {g} release?",
                      "how many of the albums came out on {g}?"],
            "mode": ["which label released the most albums?", "which label appears most often?"],
            "list": ["which albums were released on {g}?", "what albums did {g} release?"],
            "excl": ["other than {x}, which album was released on {g}?",
                     "besides {x}, what album did {g} release?"],
            "same": ["which other album was released on the same label as {x}?",
                     "what album was also released by the same label as {x}?"],
        }},
        "dates": [{"col": "Released",
                   "max": ["which album was released most recently?",
                           "what is the latest album?"],
                   "min": ["which album was released earliest?",
                           "what was the earliest album released?"]}],
        "measures": [chart("us", "Peak position\nUS"), chart("uk", "Peak position\nUK")],
        "prev": [("which album was released before {x}?", "Title"),
                 ("what album came out just before {x}?", "Title"),
                 ("what was the previous album before {x}?", "Title")],
        "next": [("which album was released after {x}?", "Title"),
                 ("what album came out right after {x}?", "Title"),
                 ("what was the next album after {x}?", "Title"),
                 ("on which label was the album after {x} released?", "Label")],
        "first": [("what was the first album?", "Title"),
                  ("what was the first album released?", "Title"),
                  ("when was the first album released?", "Released")],
        "last": [("what was the last album?", "Title"),
                 ("which album is listed last?", "Title"),
                 ("what label released the last album?", "Label")],
        "count_all": ["how many albums are listed?", "how many albums were released in total?"],
    }
    return Table("discography", headers, rows, spec,
                 {"Title": [t.lower() for t in titles]})


def buildings(rng: random.Random) -> Table:
    n = rng.randint(6, 12)
    names = [f"{p} {rng.choice(BUILDING_SUFFIXES)}" for p in rng.sample(BUILDING_PREFIXES, n)]
    cities = weighted_groups(rng, rng.sample(CITIES, rng.randint(2, 4)), n)
    heights = sorted({rng.randint(1800, 4200) for _ in range(n * 2)}, reverse=True)
    heights = sorted(rng.sample(heights, n), reverse=True)
    rows = []
    for i in range(n):
        h = heights[i] / 10
        height = f"{h:.1f}" if heights[i] % 10 else str(int(h))
        floors = int(h / rng.uniform(3.6, 4.4))
        name = names[i] + ("[1]" if rng.random() < 0.08 else "")
        rows.append([str(i + 1), name, cities[i], height, str(floors),
                     str(rng.randint(1962, 2016))])
    headers = ["Rank", "Name", "City", "Height (m)", "Floors", "Year"]
    spec = {
        "ent": "Name",
        "key": [("which building is ranked {n}?", "Rank", "Name"),
                ("what is the name of the building ranked {n}?", "Rank", "Name"),
                ("in which city is the building ranked {n}?", "Rank", "City")],
        "attrs": [],
        "groups": {"City": {
            "attr": ["in which city is {x} located?", "what city is {x} in?",
                     "where is {x} located?"],
            "count": ["how many buildings are in {g}?",
                      "how many of the buildings are located in {g}?",
                      "how many buildings on the list are in {g}?"],
            "mode": ["which city has the most buildings on the list?",
                     "which city appears most often?"],
            "list": ["which buildings are in {g}?", "what buildings are located in {g}?"],
            "excl": ["other than {x}, which building is in {g}?",
                     "besides {x}, what building is located in {g}?"],
            "same": ["which other building is in the same city as {x}?",
                     "what building is also located in the same city as {x}?"],
            "gsum": [("how many floors do the buildings in {g} have in total?", "Floors")],
        }},
        "measures": [
            {"col": "Height (m)",
             "ops": {">": {"count": ["how many buildings are taller than {n} meters?"],
                           "list": ["which buildings are taller than {n} meters?"]},
                     "<": {"count": ["how many buildings are shorter than {n} meters?"],
                           "list": ["which buildings are shorter than {n} meters?"]},
                     ">=": {"count": ["how many buildings are at least {n} meters tall?"],
                            "list": []}},
             "max": ["which building is the tallest?", "what is the tallest building?",
                     ("in which city is the tallest building?", "City")],
             "min": ["which building is the shortest?", "what is the shortest building listed?",
                     ("when was the shortest building completed?", "Year")],
             "val": ["how tall is {x}?", "what is the height of {x} in meters?"],
             "maxv": ["what is the height of the tallest building?",
                      "how tall is the tallest building in meters?"],
             "minv": ["how tall is the shortest building?"],
             "avg": ["what is the average height of the buildings?"],
             "diff": ["how much taller is {a} than {b}?",
                      "what is the height difference between {a} and {b}?"]},
            {"col": "Floors",
             "ops": std_ops("have {q} floors", "do not have exactly {n} floors", "buildings",
                            ["which buildings", "what buildings"]),
             "max": ["which building has the most floors?",
                     "what building has the highest number of floors?"],
             "min": ["which building has the fewest floors?",
                     "what building has the least floors?"],
             "val": ["how many floors does {x} have?", "how many floors are in {x}?"],
             "total": ["how many floors do all the buildings have combined?"],
             "avg": ["what is the average number of floors?"],
             "maxv": ["what is the highest number of floors of any building listed?"],
             "minv": ["what is the lowest number of floors of any building listed?"],
             "diff": ["how many more floors does {a} have than {b}?"]},
            {"col": "Year",
             "ops": {">": {"count": ["how many buildings were completed after {n}?"],
                           "list": ["which buildings were completed after {n}?"]},
                     "<": {"count": ["how many buildings were completed before {n}?"],
                           "list": ["which buildings were completed before {n}?"]},
                     "=": {"count": [], "list": ["which building was completed in {n}?"]},
                     "!=": {"count": ["how many buildings were not completed in {n}?"],
                            "list": []}},
             "max": ["which building was completed most recently?", "what is the newest building?"],
             "min": ["which building is the oldest?", "what is the oldest building on the list?"],
             "val": ["when was {x} completed?", "in what year was {x} built?"]},
        ],
        "prev": [("which building is ranked just above {x}?", "Name"),
                 ("which building is listed before {x}?", "Name")],
        "next": [("which building is ranked just below {x}?", "Name"),
                 ("which building comes after {x} in the list?", "Name")],
        "first": [("which building is ranked first?", "Name"),
                  ("which building is at the top of the list?", "Name")],
        "last": [("which building is listed last?", "Name"),
                 ("which building is at the bottom of the list?", "Name"),
                 ("in which city is the last building on the list?", "City")],
        "count_all": ["how many buildings are listed?", "how many buildings are on the list?"],
    }
    return Table("buildings", headers, rows, spec,
                 {"Name": [normalize_text(x) for x in names]})


def races(rng: random.Random) -> Table:
    n = rng.randint(8, 12)
    drivers = people(rng, n)
    # two cars a team, as in Formula One, but one team with three and maybe one with one
    sizes = [3] + [2] * ((n - 3) // 2) + [1] * ((n - 3) % 2)
    teams = rng.sample(RACE_TEAMS, len(sizes))
    team_of = [team for team, size in zip(teams, sizes) for _ in range(size)]
    rng.shuffle(team_of)
    laps = rng.randint(44, 78)
    retired = rng.randint(1, 3)
    grid = rng.sample(range(1, n + 1), n)
    points = [25, 18, 15, 12, 10, 8, 6, 4, 2, 1]
    rows = []
    gap = 0.0
    lapped = 0
    for i in range(n):
        if i == 0:
            time, done = f"1:{rng.randint(25, 45)}:{rng.randint(0, 59):02d}.{rng.randint(0, 999):03d}", laps
        elif i < n - retired:
            if lapped or (i > n // 2 and rng.random() < 0.4):
                lapped += 1 if rng.random() < 0.5 or not lapped else 0
                lapped = min(lapped, 2)
                time = f"+{lapped} Lap{'s' if lapped > 1 else ''}"
                done = laps - lapped
            else:
                gap += rng.uniform(0.4, 12.0)
                time, done = f"+{gap:.3f}", laps
        else:
            time = rng.choice(RETIREMENTS)
            done = rng.randint(3, laps - 4 - 10 * (i - (n - retired)))
        rows.append([str(i + 1), drivers[i], team_of[i], str(done), time, str(grid[i]),
                     str(points[i] if i < 10 else 0)])
    # retirements are ordered by laps completed, as in a classification
    finishers, dnf = rows[: n - retired], rows[n - retired:]
    dnf.sort(key=lambda r: -int(r[3]))
    rows = finishers + dnf
    for i, row in enumerate(rows):
        row[0] = str(i + 1)
        row[6] = str(points[i] if i < 10 else 0)
    headers = ["Pos", "Driver", "Team", "Laps", "Time/Retired", "Grid", "Points"]
    spec = {
        "ent": "Driver",
        "key": [("who finished in position {n}?", "Pos", "Driver"),
                ("which driver was in position {n}?", "Pos", "Driver"),
                ("what team did the driver in position {n} drive for?", "Pos", "Team"),
                ("who started from grid position {n}?", "Grid", "Driver")],
        "attrs": [("what grid position did {x} start from?", "Grid"),
                  ("where did {x} start on the grid?", "Grid"),
                  ("what was {x}'s time or reason for retirement?", "Time/Retired")],
        "groups": {"Team": {
            "attr": ["which team did {x} drive for?", "what team was {x} driving for?",
                     "{x} drove for which team?"],
            "count": ["how many drivers drove for {g}?", "how many drivers were from team {g}?",
                      "how many {g} drivers took part?"],
            "mode": ["which team had the most drivers in the race?",
                     "which team appears most often?"],
            "list": ["which drivers drove for {g}?", "who drove for {g}?"],
            "excl": ["other than {x}, who drove for {g}?",
                     "besides {x}, which driver was on team {g}?",
                     "other than {x}, which driver was from team {g}?"],
            "same": ["which other driver was on the same team as {x}?",
                     "who drove for the same team as {x}?"],
            "gsum": [("how many points did {g} score in total?", "Points"),
                     ("how many points did the {g} drivers earn altogether?", "Points")],
        }},
        "measures": [
            {"col": "Points",
             "ops": std_ops("scored {q} points", "did not score exactly {n} points", "drivers",
                            ["which drivers", "who"]),
             "max": ["who scored the most points?", "which driver earned the most points?"],
             "min": ["who scored the fewest points?", "which driver earned the least points?"],
             "val": ["how many points did {x} score?", "how many points did {x} earn?"],
             "total": ["how many points were awarded in total?"],
             "avg": ["what was the average number of points scored?"],
             "diff": ["how many more points did {a} score than {b}?",
                      "what is the difference in points between {a} and {b}?"]},
            {"col": "Laps",
             "ops": {"<": {"count": ["how many drivers completed fewer than {n} laps?"],
                           "list": ["which drivers completed fewer than {n} laps?"]}},
             "min": ["who completed the fewest laps?", "which driver completed the least laps?",
                     (("what was the reason for the retirement of the driver with the fewest "
                      "laps?"), "Time/Retired")],
             "val": ["how many laps did {x} complete?"],
             "diff": ["how many more laps did {a} complete than {b}?"],
             "mode": ["what was the most common number of laps completed?"]},
        ],
        "prev": [("who finished just ahead of {x}?", "Driver"),
                 ("who finished before {x}?", "Driver"),
                 ("which driver finished directly above {x}?", "Driver")],
        "next": [("who finished right after {x}?", "Driver"),
                 ("who finished behind {x}?", "Driver"),
                 ("which driver finished just below {x}?", "Driver"),
                 ("what team did the driver who finished after {x} drive for?", "Team")],
        "first": [("who finished first?", "Driver"),
                  ("which driver finished in first place?", "Driver"),
                  ("which team did the first place driver drive for?", "Team")],
        "last": [("who finished last?", "Driver"),
                 ("which driver is listed last?", "Driver"),
                 ("what was the reason the last driver retired?", "Time/Retired")],
        "count_all": ["how many drivers took part in the race?", "how many drivers are listed?"],
    }
    return Table("races", headers, rows, spec, {"Driver": [d.lower() for d in drivers]})


def league(rng: random.Random) -> Table:
    n = rng.randint(8, 12)
    towns = rng.sample(TOWNS, n)
    clubs = [f"{t} {rng.choice(CLUB_SUFFIXES)}" for t in towns]
    played = 2 * (n - 1)
    records = []
    for _ in range(n):
        w = rng.randint(1, played - 2)
        d = rng.randint(0, min(played - w, 9))
        records.append((w, d, played - w - d))
    records.sort(key=lambda r: -(3 * r[0] + r[1]))
    rows = []
    for i, (club, (w, d, lost)) in enumerate(zip(clubs, records)):
        rows.append([str(i + 1), club, str(played), str(w), str(d), str(lost), str(3 * w + d)])
    headers = ["Pos", "Team", "Played", "Won", "Drawn", "Lost", "Points"]

    def games(verb: str, base: str, header: str, extra: dict) -> dict:
        measure = {
            "col": header,
            "ops": std_ops(f"{verb} {{q}} games", f"did not {base} exactly {{n}} games",
                           "teams", ["which teams", "what teams"]),
            "max": [f"which team {verb} the most games?"],
            "min": [f"which team {verb} the fewest games?"],
            "val": [f"how many games did {{x}} {base}?", f"how many matches did {{x}} {base}?"],
            "total": [f"how many games were {'drawn' if base == 'draw' else verb} in total?"]
            if base != "draw" else [],
            "diff": [f"how many more games did {{a}} {base} than {{b}}?"],
        }
        measure.update(extra)
        return measure

    spec = {
        "ent": "Team",
        "key": [("which team finished in position {n}?", "Pos", "Team"),
                ("what team was in place {n}?", "Pos", "Team"),
                ("how many points did the team in position {n} have?", "Pos", "Points")],
        "measures": [
            {"col": "Points",
             "ops": std_ops("earned {q} points", "did not earn exactly {n} points", "teams",
                            ["which teams", "what teams"]),
             "max": ["which team earned the most points?",
                     "which club had the highest points total?"],
             "min": ["which team earned the fewest points?",
                     "which club had the lowest points total?"],
             "val": ["how many points did {x} earn?", "how many points did {x} finish with?"],
             "avg": ["what was the average number of points per team?"],
             "maxv": ["what was the highest points total?"],
             "minv": ["what was the lowest points total?"],
             "diff": ["how many more points did {a} earn than {b}?",
                      "how many points separated {a} and {b}?"]},
            games("won", "win", "Won", {"total": ["how many games were won in total?"]}),
            games("drew", "draw", "Drawn",
                  {"mode": ["what was the most common number of draws?"]}),
            games("lost", "lose", "Lost",
                  {"max": ["which team lost the most games?", "which team had the most losses?"],
                   "min": ["which team lost the fewest games?",
                           "which team had the fewest losses?"]}),
        ],
        "prev": [("which team finished just above {x}?", "Team"),
                 ("which team is listed before {x}?", "Team")],
        "next": [("which team finished just below {x}?", "Team"),
                 ("which team finished right after {x}?", "Team")],
        "first": [("which team finished first?", "Team"),
                  ("which team finished at the top of the table?", "Team"),
                  ("how many points did the first place team earn?", "Points")],
        "last": [("which team finished last?", "Team"),
                 ("which team finished at the bottom of the table?", "Team")],
        "count_all": ["how many teams are in the league?", "how many teams are listed?"],
    }
    return Table("league", headers, rows, spec, {"Team": [c.lower() for c in clubs]})


def episodes(rng: random.Random) -> Table:
    n = rng.randint(8, 12)
    first_no = rng.choice([1, 1, 12, 13, 23])
    titles = rng.sample(EPISODES, n)
    directors = people(rng, rng.randint(3, 4))
    writers = people(rng, rng.randint(3, 4), name_parts(directors))
    directed = weighted_groups(rng, directors, n)
    written = weighted_groups(rng, writers, n)
    day = datetime.date(rng.randint(1994, 2012), rng.choice([9, 10]), rng.randint(1, 28))
    rows = []
    for i in range(n):
        viewers = rng.randint(500, 1500) / 100
        rows.append([str(first_no + i), titles[i], directed[i], written[i], date_text(day),
                     f"{viewers:.2f}"])
        day += datetime.timedelta(days=7 * rng.choice([1, 1, 1, 2, 3]))
    headers = ["No.", "Title", "Directed by", "Written by", "Original air date",
               "U.S. viewers (millions)"]

    def staff(past: str, participle: str, noun: str) -> dict:
        return {
            "attr": [f"who {past} {{x}}?", f"who was the {noun} of {{x}}?"],
            "count": [f"how many episodes were {participle} by {{g}}?",
                      f"how many episodes did {{g}} {'direct' if past == 'directed' else 'write'}?"],
            "mode": [f"who {past} the most episodes?",
                     f"which {noun} appears most often?"],
            "list": [f"which episodes were {participle} by {{g}}?",
                     f"what episodes did {{g}} {'direct' if past == 'directed' else 'write'}?"],
            "excl": [f"other than {{x}}, which episode was {participle} by {{g}}?",
                     f"besides {{x}}, what episode was {participle} by {{g}}?"],
            "same": [f"which other episode had the same {noun} as {{x}}?",
                     f"what other episode was {participle} by the same person as {{x}}?"],
        }

    spec = {
        "ent": "Title",
        "key": [("what was the title of episode {n}?", "No.", "Title"),
                ("who directed episode {n}?", "No.", "Directed by"),
                ("who wrote episode {n}?", "No.", "Written by"),
                ("when did episode {n} first air?", "No.", "Original air date")],
        "attrs": [("when did {x} first air?", "Original air date"),
                  ("what was the original air date of {x}?", "Original air date"),
                  ("what number episode was {x}?", "No.")],
        "groups": {"Directed by": staff("directed", "directed", "director"),
                   "Written by": staff("wrote", "written", "writer")},
        "dates": [{"col": "Original air date",
                   "max": ["which episode aired most recently?",
                           "which episode had the latest air date?"],
                   "min": ["which episode aired earliest?",
                           "which episode has the earliest air date?"]}],
        "measures": [
            {"col": "U.S. viewers (millions)",
             "ops": {">": {"count": ["how many episodes had more than {n} million viewers?"],
                           "list": ["which episodes had more than {n} million viewers?"]},
                     "<": {"count": ["how many episodes had fewer than {n} million viewers?"],
                           "list": ["which episodes had fewer than {n} million viewers?"]},
                     ">=": {"count": ["how many episodes had at least {n} million viewers?"],
                            "list": []}},
             "max": ["which episode had the most viewers?", "what was the most watched episode?",
                     ("who directed the most watched episode?", "Directed by")],
             "min": ["which episode had the fewest viewers?",
                     "what was the least watched episode?",
                     ("who wrote the least watched episode?", "Written by")],
             "val": ["how many million viewers watched {x}?",
                     "how many viewers did {x} have in millions?"],
             "avg": ["what was the average number of viewers in millions?"],
             "maxv": ["what was the highest number of viewers in millions?"],
             "minv": ["what was the lowest number of viewers in millions?"],
             "diff": ["how many more million viewers did {a} have than {b}?"]},
        ],
        "prev": [("which episode aired before {x}?", "Title"),
                 ("what episode came before {x}?", "Title"),
                 ("what was the previous episode before {x}?", "Title")],
        "next": [("which episode aired after {x}?", "Title"),
                 ("what was the next episode after {x}?", "Title"),
                 ("who directed the episode after {x}?", "Directed by")],
        "first": [("what was the first episode?", "Title"),
                  ("which episode aired first?", "Title"),
                  ("who wrote the first episode?", "Written by")],
        "last": [("what was the last episode?", "Title"),
                 ("which episode was the final one listed?", "Title"),
                 ("who directed the last episode?", "Directed by")],
        "count_all": ["how many episodes are listed?", "how many episodes aired?"],
    }
    return Table("episodes", headers, rows, spec, {"Title": [t.lower() for t in titles]})


def athlete(rng: random.Random) -> Table:
    n = rng.randint(6, 11)
    start = rng.randint(1994, 2006)
    pronoun, possessive = rng.choice([("she", "her"), ("he", "his")])
    venues = rng.sample(VENUES, n)
    competitions = weighted_groups(rng, rng.sample(COMPETITIONS, rng.randint(3, 4)), n)
    events = weighted_groups(rng, rng.sample(FIELD_EVENTS, 2), n)
    rows = []
    for i in range(n):
        place = rng.choice([1, 1, 2, 3, 4, 5, 6, 7, 8, 11])
        mark = rng.randint(700, 880) / 100 if "jump" in events[i].lower() else rng.randint(
            540, 600) / 100
        rows.append([str(start + i), competitions[i], f"{venues[i][0]}, {venues[i][1]}",
                     ordinal(place), events[i], f"{mark:.2f} m"])
    headers = ["Year", "Competition", "Venue", "Position", "Event", "Notes"]
    p, poss = pronoun, possessive
    spec = {
        "ent": "Venue",
        "key": [(f"in {{n}}, what competition did {p} take part in?", "Year", "Competition"),
                (f"where did {p} compete in {{n}}?", "Year", "Venue"),
                (f"what position did {p} finish in {{n}}?", "Year", "Position"),
                (f"in {{n}}, which event did {p} compete in?", "Year", "Event")],
        "attrs": [(f"in which year did {p} compete in {{x}}?", "Year"),
                  ("what competition was held in {x}?", "Competition"),
                  (f"what position did {p} finish in {{x}}?", "Position"),
                  (f"what was {poss} mark in {{x}}?", "Notes")],
        "groups": {
            "Competition": {
                "count": [f"how many times did {p} compete in the {{g}}?",
                          f"how many {{g}} did {p} take part in?"],
                "mode": [f"which competition did {p} take part in most often?",
                         "which competition appears most often?"],
                "list": [(f"in which years did {p} compete in the {{g}}?", "Year"),
                         ("where were the {g} held?", "Venue")],
                "excl": [("where were the {g} held other than in {x}?", "Venue"),
                         ("where else did the {g} take place besides {x}?", "Venue")],
                "same": [("which other venue hosted the same competition as {x}?", "Venue")],
            },
            "Position": {
                "count": [f"how many times did {p} finish {{g}}?",
                          f"how many competitions did {p} finish {{g}} in?"],
                "mode": [f"what was {poss} most common finishing position?",
                         f"which position did {p} finish in most often?"],
                "list": [(f"in which years did {p} finish {{g}}?", "Year"),
                         (f"where did {p} finish {{g}}?", "Venue")],
            },
            "Event": {
                "count": [f"how many times did {p} compete in the {{g}}?"],
                "mode": [f"which event did {p} compete in most often?"],
            },
        },
        "measures": [
            {"col": "Year",
             "ops": {">": {"count": [f"how many competitions did {p} take part in after {{n}}?"],
                           "list": []},
                     "<": {"count": [f"how many competitions did {p} take part in before {{n}}?"],
                           "list": []}}},
            {"col": "Position",
             "ops": {"<=": {"count": [(f"how many times did {p} finish in position {{n}} or "
                                      "better?")],
                            "list": []},
                     ">": {"count": [(f"how many times did {p} finish lower than position "
                                     "{n}?")],
                           "list": []}},
             "max": [(f"in which year did {p} have {poss} lowest finish?", "Year")],
             "min": [(f"in which year did {p} achieve {poss} best finish?", "Year")]},
        ],
        "prev": [(f"where did {p} compete before {{x}}?", "Venue"),
                 (f"which competition did {p} take part in before the one in {{x}}?",
                  "Competition")],
        "next": [(f"where did {p} compete after {{x}}?", "Venue"),
                 ("which competition came next after the one in {x}?", "Competition")],
        "key_prev": [(f"where did {p} compete the year before {{n}}?", "Year", "Venue")],
        "key_next": [(f"what competition did {p} take part in the year after {{n}}?", "Year",
                      "Competition")],
        "first": [(f"what was {poss} first competition?", "Competition"),
                  (f"where did {p} compete first?", "Venue")],
        "last": [(f"what was {poss} last competition?", "Competition"),
                 (f"where did {p} compete last?", "Venue"),
                 (f"what was {poss} final position in the last competition listed?",
                  "Position")],
        "count_all": [f"how many competitions did {p} take part in?",
                      "how many competitions are listed?"],
    }
    lits = {"Venue": [v[0].lower() for v in venues]}
    return Table("athlete", headers, rows, spec, lits)


KINDS = [medals, elections, discography, buildings, races, league, episodes, athlete]


# --------------------------------------------------------------------------- interpreter


class Invalid(Exception):
    """The program does not run, or its answer would be ambiguous."""


_PROGRAM_TOKEN = re.compile(r'\(|\)|"[^"]*"|[^\s()]+')
_COLUMN = re.compile(r"r\.(.+)-(str|num|date)")


def parse_program(program: str) -> list[list[str]]:
    tokens = _PROGRAM_TOKEN.findall(program)
    expressions, i = [], 0
    while i < len(tokens):
        if tokens[i] != "(":
            raise Invalid(f"expected '(' at {tokens[i]!r}")
        j = tokens.index(")", i)
        expressions.append(tokens[i + 1: j])
        i = j + 1
    if not 1 <= len(expressions) <= 3:
        raise Invalid("a program has 1 to 3 expressions")
    return expressions


def execute(table: Table, program: str) -> tuple[tuple[str, object], list]:
    """Run a program; returns the answer value and every expression's value.

    Mirrors grammars/wtq.toml: filters must keep some rows and drop some, row
    functions take exactly one row, superlatives keep all best rows.
    """
    env: list[tuple[str, object]] = []

    def arg(token: str):
        if token == "all_rows":
            return ("rows", list(range(table.n)))
        if re.fullmatch(r"v\d", token):
            return env[int(token[1:])]
        if token.startswith('"'):
            return ("string", token[1:-1])
        match = _COLUMN.fullmatch(token)
        if match:
            return ("column", (table.names.index(match.group(1)), match.group(2)))
        return ("number", float(token))

    def column_values(rows: list[int], column) -> list:
        c, kind = column
        if kind == "num":
            if not table.full_num(c) and sum(v is not None for v in table.numbers[c]) * 2 < table.n:
                raise Invalid("no num view")
            return [table.numbers[c][i] for i in rows]
        if kind == "date":
            return [table.dates[c][i] for i in rows]
        return [table.norm[i][c] or None for i in rows]

    def one_row(value) -> int:
        if value[0] != "rows" or len(value[1]) != 1:
            raise Invalid("expected exactly one row")
        return value[1][0]

    def subset(rows: list[int], kept: list[int]):
        if len(rows) < 2 or not kept or len(kept) == len(rows):
            raise Invalid("a filter must keep some rows and drop some")
        return ("rows", kept)

    for fn, *raw in parse_program(program):
        args = [arg(t) for t in raw]
        if fn == "hop":
            (_, rows), (_, (c, kind)) = args
            if kind == "str":
                out = [table.rows[i][c].strip() for i in rows if table.norm[i][c]]
            elif kind == "num":
                out = [format_number(v) for v in column_values(rows, (c, kind)) if v is not None]
            else:
                out = [v for v in column_values(rows, (c, kind)) if v is not None]
            value = ("cells", out)
        elif fn in ("argmax", "argmin"):
            (_, rows), (_, column) = args
            vals = column_values(rows, column)
            present = [v for v in vals if v is not None]
            if len(rows) < 2 or not present:
                raise Invalid("superlative over fewer than two rows")
            best = max(present) if fn == "argmax" else min(present)
            value = subset(rows, [i for i, v in zip(rows, vals) if v == best])
        elif fn.startswith("filter") and fn not in ("filter_in", "filter!in"):
            (_, rows), (_, target), (_, column) = args
            op = fn[len("filter"):]
            ops = {">": float.__gt__, ">=": float.__ge__, "<": float.__lt__,
                   "<=": float.__le__, "=": float.__eq__, "!=": float.__ne__}[op]
            vals = column_values(rows, column)
            value = subset(rows, [i for i, v in zip(rows, vals) if v is not None and ops(v, target)])
        elif fn in ("filter_in", "filter!in"):
            (_, rows), (_, needle), (_, column) = args
            vals = column_values(rows, column)
            hit = [i for i, v in zip(rows, vals)
                   if v is not None and contains(v, normalize_text(needle))]
            value = subset(rows, hit if fn == "filter_in" else [i for i in rows if i not in hit])
        elif fn in ("first", "last"):
            (_, rows), = args
            if len(rows) < 2:
                raise Invalid("first/last over one row")
            value = ("rows", [min(rows) if fn == "first" else max(rows)])
        elif fn in ("previous", "next"):
            i = one_row(args[0]) + (-1 if fn == "previous" else 1)
            if not 0 <= i < table.n:
                raise Invalid("no such row")
            value = ("rows", [i])
        elif fn == "count":
            value = ("number", float(len(args[0][1])))
        elif fn in ("max", "min", "average", "sum"):
            (_, rows), (_, column) = args
            vals = [v for v in column_values(rows, column) if v is not None]
            if len(vals) < 2:
                raise Invalid("aggregate over fewer than two values")
            value = ("number", {"max": max, "min": min, "sum": sum,
                                "average": lambda x: sum(x) / len(x)}[fn](vals))
        elif fn == "mode":
            (_, rows), (_, column) = args
            vals = column_values(rows, column)
            counts = Counter(v for v in vals if v is not None)
            ranked = counts.most_common()
            if not ranked or ranked[0][1] < 2 or (len(ranked) > 1 and ranked[1][1] == ranked[0][1]):
                raise Invalid("no unique mode")
            i = rows[vals.index(ranked[0][0])]
            c, kind = column
            display = table.rows[i][c] if kind == "str" else (
                format_number(ranked[0][0]) if kind == "num" else ranked[0][0])
            value = ("cells", [display])
        elif fn == "same_as":
            i = one_row(args[0])
            (_, column) = args[1]
            vals = column_values(list(range(table.n)), column)
            same = [j for j in range(table.n) if j != i and vals[i] is not None
                    and vals[j] == vals[i]]
            if not same:
                raise Invalid("same_as found nothing")
            value = ("rows", same)
        elif fn == "diff":
            a, b = one_row(args[0]), one_row(args[1])
            vals = column_values(list(range(table.n)), args[2][1])
            if a == b or vals[a] is None or vals[b] is None:
                raise Invalid("diff needs two different rows with values")
            value = ("number", vals[a] - vals[b])
        else:
            raise Invalid(f"unknown function {fn}")
        env.append(value)
    answer = env[-1]
    if answer[0] == "rows":
        raise Invalid("a program cannot end on rows")
    return answer, env


def answer_strings(value: tuple[str, object]) -> list[str]:
    kind, v = value
    if kind == "number":
        return [format_number(v)]
    return list(v)


# --------------------------------------------------------------------------- questions


STOPWORDS = frozenset((
    "a", "an", "the", "and", "or", "but", "nor", "not", "no", "of", "in", "on", "at", "to", "for",
    "from", "by", "with", "without", "about", "as", "into", "onto", "upon", "over", "under",
    "than", "then", "that", "this", "these", "those", "there", "here", "it", "its", "is", "are",
    "was", "were", "be", "been", "being", "am", "do", "does", "did", "done", "doing", "have",
    "has", "had", "having", "will", "would", "shall", "should", "can", "could", "may", "might",
    "must", "s", "t", "re", "ve", "ll", "d", "m", "what", "which", "who", "whom", "whose", "when",
    "where", "why", "how", "many", "much", "more", "most", "less", "least", "i", "me", "my", "we",
    "our", "you", "your", "he", "him", "his", "she", "her", "they", "them", "their", "if", "so",
    "also", "just", "only", "other", "another", "each", "any", "all", "some", "same", "such",
    "very", "too", "up", "down", "out", "off", "again", "once", "both", "either", "neither",
))


def linked_strings(table: Table, question: str) -> set[str]:
    """The string entities that entity linking finds in a question.

    Like mapo's prepare step: left to right, the longest span of question
    tokens that some cell contains (and that is not only stopwords), no
    overlaps. A literal that a longer span swallows ("seville ," in "other
    than seville, where ...") is not offered to programs.
    """
    cells = {cell for row in table.norm for cell in row if cell}
    vocabulary = {token for cell in cells for token in cell.split(" ")}
    tokens = normalize_text(question).split(" ")
    found, i = set(), 0
    while i < len(tokens):
        reach = i
        while reach < len(tokens) and reach - i < 12 and tokens[reach] in vocabulary:
            reach += 1
        for end in range(reach, i, -1):
            span = tokens[i:end]
            value = " ".join(span)
            content = any(tok not in STOPWORDS and tok.isalnum() for tok in span)
            if content and any(contains(cell, value) for cell in cells):
                found.add(value)
                i = end - 1
                break
        i += 1
    return found


def lit_ok(table: Table, question: str, literal: str, column: int) -> bool:
    """A string literal that a question offers and that names exactly the intended rows.

    Entity linking finds it in the question, it occurs in no column but
    `column`, and in `column` the cells that contain it are exactly those whose
    literal form is it.
    """
    if normalize_text(literal) != literal or literal not in linked_strings(table, question):
        return False
    for c in range(len(table.headers)):
        hits = [i for i in range(table.n) if contains(table.norm[i][c], literal)]
        if c != column and hits:
            return False
        if c == column and hits != [i for i in range(table.n) if table.lits[c][i] == literal]:
            return False
    return True


class Candidates:
    """Questions proposed for one table, by type; invalid ones are silently dropped."""

    def __init__(self, table: Table, rng: random.Random) -> None:
        self.table = table
        self.rng = rng
        self.by_type: dict[str, list[dict]] = {}
        self.programs: set[str] = set()

    def add(self, qtype: str, templates: list, program: str, *, fill: dict,
            literals: list[tuple[str, int]] = (), numbers: list[float] = (),
            max_answers: int = 1, min_answers: int = 1, check=None) -> None:
        if not templates or program in self.programs:
            return
        template = self.rng.choice(templates)
        question = template.format(**fill).lower()
        question = re.sub(r"\s+", " ", question).strip()
        try:
            value, env = execute(self.table, program)
        except Invalid:
            return
        answer = answer_strings(value)
        if not min_answers <= len(answer) <= max_answers:
            return
        if len({normalize_text(a) for a in answer}) != len(answer) or not all(answer):
            return
        if check is not None and not check(value, env):
            return
        if any(not lit_ok(self.table, question, lit, c) for lit, c in literals):
            return
        words = re.findall(r"\d+(?:\.\d+)?", question)
        if any(format_number(x) not in words for x in numbers):
            return
        self.programs.add(program)
        self.by_type.setdefault(qtype, []).append(
            {"type": qtype, "question": question, "program": program, "answer": answer})


def thresholds(numbers: list[float]) -> list[int]:
    """Positive whole numbers worth comparing a column with: its values and the gaps
    between them, or round numbers for large values (votes)."""
    values = sorted(set(numbers))
    if values[-1] >= 1000:
        step = 10 ** (len(str(int(values[-1]))) - 2)
        found = range(step * math.ceil(values[0] / step), int(values[-1]) + 1, step)
    elif all(v == int(v) for v in values):
        ints = [int(v) for v in values]
        found = ints + [(a + b) // 2 for a, b in itertools.pairwise(ints)]
    else:
        found = [math.floor(v) for v in values] + [math.ceil(v) for v in values]
    return sorted({n for n in found if n > 0})


def propose(table: Table, rng: random.Random) -> dict[str, list[dict]]:
    t, spec = table, table.spec
    cands = Candidates(table, rng)
    e = t.col(spec["ent"])
    ent_str = t.var(e, "str")

    def target(entry, default: int):
        if isinstance(entry, tuple):
            return entry[0], t.col(entry[1])
        return entry, default

    def pick(entries: list, default: int) -> dict[int, list[str]]:
        """Templates grouped by the column they ask for."""
        out: dict[int, list[str]] = {}
        for entry in entries:
            text, c = target(entry, default)
            out.setdefault(c, []).append(text)
        return out

    def single(*indices):
        return lambda value, env: all(len(env[i][1]) == 1 for i in indices)

    rows = range(t.n)
    # lookups: entity -> attribute
    attrs = list(spec.get("attrs", []))
    for header, group in spec.get("groups", {}).items():
        attrs += [(text, header) for text in group.get("attr", [])]
    for c, texts in pick(attrs, e).items():
        for i in rows:
            x = t.lits[e][i]
            if t.rows[i][c].strip() in ("", "—", "–"):
                continue
            cands.add("lookup", texts, f'(filter_in all_rows "{x}" {ent_str}) (hop v0 '
                      f"{t.var(c, 'str')})", fill={"x": x}, literals=[(x, e)], check=single(0))
    for m in spec.get("measures", []):
        c = t.col(m["col"])
        for i in rows:
            x = t.lits[e][i]
            cands.add("lookup", m.get("val", []), f'(filter_in all_rows "{x}" {ent_str}) '
                      f"(hop v0 {t.var(c, 'str')})", fill={"x": x}, literals=[(x, e)],
                      check=single(0))
    # lookups: key number -> attribute
    for text, key, goal in spec.get("key", []):
        k, g = t.col(key), t.col(goal)
        for i in rows:
            n = t.numbers[k][i]
            if n is None or not t.full_num(k):
                continue
            cands.add("lookup", [text], f"(filter= all_rows {format_number(n)} {t.var(k, 'num')})"
                      f" (hop v0 {t.var(g, 'str')})", fill={"n": format_number(n)},
                      numbers=[n], check=single(0))
    # superlatives
    for m in spec.get("measures", []):
        c = t.col(m["col"])
        if not t.full_num(c):
            continue
        for fn, key in (("argmax", "max"), ("argmin", "min")):
            for g, texts in pick(m.get(key, []), e).items():
                cands.add("superlative", texts, f"({fn} all_rows {t.var(c, 'num')}) (hop v0 "
                          f"{t.var(g, 'str')})", fill={}, check=single(0))
    for d in spec.get("dates", []):
        c = t.col(d["col"])
        if not t.full_date(c):
            continue
        for fn, key in (("argmax", "max"), ("argmin", "min")):
            cands.add("superlative", d.get(key, []), f"({fn} all_rows {t.var(c, 'date')}) "
                      f"(hop v0 {ent_str})", fill={}, check=single(0))
    # comparisons (lists) and counts over numeric filters
    for m in spec.get("measures", []):
        c = t.col(m["col"])
        if not t.full_num(c):
            continue
        for op, forms in m.get("ops", {}).items():
            for n in thresholds(t.numbers[c]):
                filt = f"(filter{op} all_rows {format_number(n)} {t.var(c, 'num')})"
                cands.add("count", forms.get("count", []), f"{filt} (count v0)",
                          fill={"n": format_number(n)}, numbers=[n])
                cands.add("comparison", forms.get("list", []), f"{filt} (hop v0 {ent_str})",
                          fill={"n": format_number(n)}, numbers=[n], max_answers=MAX_LIST)
    for text in spec.get("count_all", []):
        cands.add("count", [text], "(count all_rows)", fill={})
    # groups: counts, lists, mode, exclusion, same_as, group sums
    for header, group in spec.get("groups", {}).items():
        c = t.col(header)
        gvar = t.var(c, "str")
        values = []
        for i in rows:
            if t.lits[c][i] and t.lits[c][i] not in values:
                values.append(t.lits[c][i])
        for gv in values:
            members = [i for i in rows if t.lits[c][i] == gv]
            filt = f'(filter_in all_rows "{gv}" {gvar})'
            cands.add("count", group.get("count", []), f"{filt} (count v0)", fill={"g": gv},
                      literals=[(gv, c)])
            if len(members) >= 2:
                for goal, texts in pick(group.get("list", []), e).items():
                    cands.add("comparison", texts, f"{filt} (hop v0 {t.var(goal, 'str')})",
                              fill={"g": gv}, literals=[(gv, c)], min_answers=2,
                              max_answers=MAX_LIST)
                for text, mh in group.get("gsum", []):
                    cands.add("aggregation", [text], f"{filt} (sum v0 {t.var(t.col(mh), 'num')})",
                              fill={"g": gv}, literals=[(gv, c)])
            if 2 <= len(members) <= 4:
                for i in members:
                    x = t.lits[e][i]
                    for goal, texts in pick(group.get("excl", []), e).items():
                        cands.add("exclusion", texts, f'{filt} (filter!in v0 "{x}" {ent_str}) '
                                  f"(hop v1 {t.var(goal, 'str')})", fill={"g": gv, "x": x},
                                  literals=[(gv, c), (x, e)], max_answers=3)
                    for goal, texts in pick(group.get("same", []), e).items():
                        cands.add("same_as", texts, f'(filter_in all_rows "{x}" {ent_str}) '
                                  f"(same_as v0 {gvar}) (hop v1 {t.var(goal, 'str')})",
                                  fill={"x": x}, literals=[(x, e)], max_answers=3)
        cands.add("mode", group.get("mode", []), f"(mode all_rows {gvar})", fill={})
    for m in spec.get("measures", []):
        c = t.col(m["col"])
        if t.full_num(c):
            cands.add("mode", m.get("mode", []), f"(mode all_rows {t.var(c, 'str')})", fill={})
    # previous / next
    for key, fn in (("prev", "previous"), ("next", "next")):
        for g, texts in pick(spec.get(key, []), e).items():
            for i in rows:
                x = t.lits[e][i]
                cands.add("previous_next", texts, f'(filter_in all_rows "{x}" {ent_str}) '
                          f"({fn} v0) (hop v1 {t.var(g, 'str')})", fill={"x": x},
                          literals=[(x, e)], check=single(0))
        for text, kh, goal in spec.get(f"key_{key}", []):
            k = t.col(kh)
            for i in rows:
                n = t.numbers[k][i]
                cands.add("previous_next", [text], f"(filter= all_rows {format_number(n)} "
                          f"{t.var(k, 'num')}) ({fn} v0) (hop v1 {t.var(t.col(goal), 'str')})",
                          fill={"n": format_number(n)}, numbers=[n], check=single(0))
    # first / last
    for key in ("first", "last"):
        for g, texts in pick(spec.get(key, []), e).items():
            cands.add("first_last", texts, f"({key} all_rows) (hop v0 {t.var(g, 'str')})",
                      fill={})
    # differences and aggregations
    for m in spec.get("measures", []):
        c = t.col(m["col"])
        if not t.full_num(c):
            continue
        num = t.var(c, "num")
        pairs = [(a, b) for a in rows for b in rows if t.numbers[c][a] > t.numbers[c][b]]
        rng.shuffle(pairs)
        for a, b in pairs[:12]:
            xa, xb = t.lits[e][a], t.lits[e][b]
            cands.add("difference", m.get("diff", []), f'(filter_in all_rows "{xa}" {ent_str}) '
                      f'(filter_in all_rows "{xb}" {ent_str}) (diff v0 v1 {num})',
                      fill={"a": xa, "b": xb}, literals=[(xa, e), (xb, e)], check=single(0, 1))
        for key, fn in (("total", "sum"), ("maxv", "max"), ("minv", "min")):
            cands.add("aggregation", m.get(key, []), f"({fn} all_rows {num})", fill={})
        cands.add("aggregation", m.get("avg", []), f"(average all_rows {num})", fill={},
                  check=lambda value, env: abs(value[1] * 100 - round(value[1] * 100)) < 1e-6)
    return cands.by_type


WEIGHTS = {"lookup": 3, "superlative": 2, "count": 2, "comparison": 2}


def choose(by_type: dict[str, list[dict]], rng: random.Random, quota: int) -> list[dict]:
    """One question of every available type, then more by weight, up to the quota."""
    pools = {k: rng.sample(v, len(v)) for k, v in sorted(by_type.items()) if v}
    chosen = []
    kinds = list(pools)
    rng.shuffle(kinds)
    for kind in kinds:
        chosen.append(pools[kind].pop())
    while len(chosen) < quota:
        kinds = [k for k in sorted(pools) if pools[k]]
        if not kinds:
            break
        kind = rng.choices(kinds, weights=[WEIGHTS.get(k, 1) for k in kinds])[0]
        chosen.append(pools[kind].pop())
    return chosen


# --------------------------------------------------------------------------- writing


def tsv_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace("|", "\\p")


def csv_field(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def cell_tokens(text: str) -> list[str]:
    """A CoreNLP-like tokenization: "1,115" stays one token; brackets become -lrb- etc."""
    brackets = {"(": "-lrb-", ")": "-rrb-", "[": "-lsb-", "]": "-rsb-"}
    out = []
    for token in re.findall(r"\d+(?:,\d{3})*(?:\.\d+)?|\w+|[^\w\s]", text):
        out.append(brackets.get(token, token))
    return out


def fb_id(text: str) -> str:
    return _NON_ALNUM.sub("_", ascii_fold(text).lower()).strip("_") or "null"


def tagged_lines(table: Table) -> list[str]:
    fields = ["row", "col", "id", "content", "tokens", "lemmaTokens", "posTags", "nerTags",
              "nerValues", "number", "date", "num2", "list", "listId"]
    lines = ["\t".join(fields)]
    for c, header in enumerate(table.headers):
        tokens = [tsv_escape(tok) for tok in cell_tokens(header.lower())]
        lines.append("\t".join([
            "-1", str(c), f"fb:row.row.{table.names[c]}", tsv_escape(header), "|".join(tokens),
            "|".join(tokens), "|".join("NN" for _ in tokens), "|".join("O" for _ in tokens),
            "|".join("" for _ in tokens), "", "", "", "", ""]))
    ids: dict[str, str] = {}
    used: Counter = Counter()
    for r, row in enumerate(table.rows):
        for c, cell in enumerate(row):
            if cell not in ids:
                base = "fb:cell." + fb_id(cell)
                used[base] += 1
                ids[cell] = base if used[base] == 1 else f"{base}_{used[base]}"
            number, date = table.numbers[c][r], table.dates[c][r]
            tokens = cell_tokens(cell)
            lower = [tok.lower() for tok in tokens]
            pos = ["CD" if re.fullmatch(r"\d[\d,]*(?:\.\d+)?", tok) else
                   tok.upper() if tok.startswith("-") and tok.endswith("-") else
                   "NNP" if tok[0].isalnum() else tok for tok in tokens]
            if date is not None and "x" not in date:
                ner, values = ["DATE"] * len(tokens), [date] * len(tokens)
            else:
                ner = ["NUMBER" if p == "CD" else "O" for p in pos]
                values = [format(float(tok.replace(",", "")), "") if n == "NUMBER" else ""
                          for tok, n in zip(tokens, ner)]
                if date is not None:
                    ner, values = ["DATE"] * len(tokens), [date[:4]] * len(tokens)
            lines.append("\t".join([
                str(r), str(c), ids[cell], tsv_escape(cell), "|".join(map(tsv_escape, lower)),
                "|".join(map(tsv_escape, tokens)), "|".join(pos), "|".join(ner), "|".join(values),
                "" if number is None else repr(float(number)), date or "", "", "", ""]))
    return lines


def build(seed: int) -> tuple[list[Table], list[dict]]:
    rng = random.Random(seed)
    makers = [kind for kind in KINDS for _ in range(TABLES_PER_KIND)]
    rng.shuffle(makers)
    tables, questions = [], []
    for k, maker in enumerate(makers):
        table = maker(rng)
        table.id = f"csv/200-csv/{k}.csv"
        tables.append(table)
        chosen = choose(propose(table, rng), rng, rng.randint(11, 15))
        for q in chosen:
            q["table"] = table.id
        questions.extend(chosen)
    rng.shuffle(questions)
    for n, q in enumerate(questions):
        q["id"] = f"nt-{n}"
    return tables, questions


def write(out: Path, tables: list[Table], questions: list[dict], seed: int) -> dict:
    # replace what an earlier run wrote, and nothing else
    for sub in ("csv/200-csv", "tagged/200-tagged"):
        if (out / sub).exists():
            shutil.rmtree(out / sub)
        (out / sub).mkdir(parents=True)
    (out / "data").mkdir(parents=True, exist_ok=True)
    for table in tables:
        k = table.id.rsplit("/", 1)[1][: -len(".csv")]
        lines = [",".join(csv_field(h) for h in table.headers)]
        lines += [",".join(csv_field(cell) for cell in row) for row in table.rows]
        (out / "csv" / "200-csv" / f"{k}.csv").write_text("\n".join(lines) + "\n", "utf-8")
        (out / "tagged" / "200-tagged" / f"{k}.tagged").write_text(
            "\n".join(tagged_lines(table)) + "\n", "utf-8")
    # an 80/20 split by table, stratified: every kind of table has one in five in dev
    rng = random.Random(seed + 1)
    dev_tables = set()
    for kind in KINDS:
        ids = [t.id for t in tables if t.kind == kind.__name__]
        dev_tables.update(rng.sample(ids, round(len(ids) * DEV_FRACTION)))

    def data(rows: list[dict]) -> str:
        lines = ["id\tutterance\tcontext\ttargetValue"]
        lines += [f"{q['id']}\t{q['question']}\t{q['table']}\t"
                  + "|".join(tsv_escape(a) for a in q["answer"]) for q in rows]
        return "\n".join(lines) + "\n"

    train = [q for q in questions if q["table"] not in dev_tables]
    dev = [q for q in questions if q["table"] in dev_tables]
    (out / "data" / "training.tsv").write_text(data(questions), "utf-8")
    (out / "data" / "random-split-1-train.tsv").write_text(data(train), "utf-8")
    (out / "data" / "random-split-1-dev.tsv").write_text(data(dev), "utf-8")
    programs = ["id\tprogram"] + [f"{q['id']}\t{q['program']}" for q in questions]
    (out / "programs.tsv").write_text("\n".join(programs) + "\n", "utf-8")
    return {"tables": len(tables), "questions": len(questions), "train": len(train),
            "dev": len(dev), "types": Counter(q["type"] for q in questions)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent,
                        help="output directory (default: the directory of this script)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    options = parser.parse_args()
    tables, questions = build(options.seed)
    summary = write(options.out, tables, questions, options.seed)
    print(f"{summary['tables']} tables, {summary['questions']} questions "
          f"({summary['train']} train / {summary['dev']} dev) in {options.out}")
    for kind, count in sorted(summary["types"].items()):
        print(f"  {kind:<14} {count}")


if __name__ == "__main__":
    main()
