"""The eight kinds of table: each builder draws one table's cells from the seeded RNG.

A builder returns a `Table` with its kind's question templates
(`templates/<kind>.toml`) and the literal forms of its entity column (the
words a question uses for each cell). Cell values come from `words.toml`.
The order of the RNG calls is part of the dataset: changing it changes
every file.
"""

from __future__ import annotations

import datetime
import random
import tomllib
from collections.abc import Iterator
from pathlib import Path

from . import templates
from .cells import date_text, ordinal, with_commas
from .table import Table
from .text import normalize_text

with (Path(__file__).resolve().parent / "words.toml").open("rb") as _handle:
    WORDS = tomllib.load(_handle)


def people(rng: random.Random, n: int, exclude: set[str] = frozenset()) -> list[str]:
    """n distinct names with distinct first and last names (none in `exclude`)."""
    firsts = [f for f in WORDS["first_names"] if f not in exclude]
    lasts = [x for x in WORDS["last_names"] if x not in exclude]
    return [f"{f} {x}" for f, x in zip(rng.sample(firsts, n), rng.sample(lasts, n))]


def name_parts(names: list[str]) -> set[str]:
    return {part for name in names for part in name.split()}


def weighted_groups(rng: random.Random, values: list[str], n: int) -> list[str]:
    """n draws from `values` with uneven weights, so that some values repeat."""
    weights = [len(values) - i + rng.random() for i in range(len(values))]
    return rng.choices(values, weights=weights, k=n)


def finish(kind: str, headers: list[str], rows: list[list[str]], entity_lits: list[str],
           **words: str) -> Table:
    """The table with its kind's templates; `entity_lits` are the words that questions
    use for the cells of the entity column."""
    spec = templates.load(kind, **words)
    return Table(kind, headers, rows, spec, {spec["entity"]: entity_lits})


def footnoted(rng: random.Random, n: int, chance: float) -> int:
    """The row that gets a footnote mark, or -1 (none)."""
    return rng.randrange(n) if rng.random() < chance else -1


def medals(rng: random.Random) -> Table:
    n = rng.randint(6, 12)
    nations = rng.sample(WORDS["nations"], n)
    counts = []
    for i in range(n):
        top = max(1, 11 - i)
        g = rng.randint(0, top)
        s = rng.randint(0, top)
        b = rng.randint(0 if g + s else 1, top)
        counts.append((g, s, b))
    counts.sort(key=lambda t: (-t[0], -t[1], -t[2]))
    style = rng.choice(["plain", "code", "plain"])
    footnote = footnoted(rng, n, 0.5)
    rows, lits = [], []
    for i, ((name, code), (g, s, b)) in enumerate(zip(nations, counts)):
        cell = f"{name} ({code})" if style == "code" else name
        if i == footnote:
            cell += "[1]"
        rows.append([str(i + 1), cell, str(g), str(s), str(b), str(g + s + b)])
        lits.append(name.lower())
    headers = ["Rank", "Nation", "Gold", "Silver", "Bronze", "Total"]
    return finish("medals", headers, rows, lits)


def elections(rng: random.Random) -> Table:
    n = rng.randint(5, 10)
    start = rng.randrange(1960, 1992, 4)
    winners = people(rng, n)
    runners = people(rng, n, name_parts(winners))
    parties = rng.sample(WORDS["parties"], rng.randint(2, 4))
    party_of = weighted_groups(rng, parties, n)
    footnote = footnoted(rng, n, 0.4)
    rows = []
    for i in range(n):
        votes = rng.randint(18000, 240000)
        share = rng.randint(405, 720) / 10
        name = winners[i] + ("[a]" if i == footnote else "")
        rows.append([str(start + 4 * i), name, party_of[i], with_commas(votes), f"{share:.1f}",
                     runners[i]])
    headers = ["Year", "Winner", "Party", "Votes", "%", "Runner-up"]
    return finish("elections", headers, rows, [w.lower() for w in winners])


def discography(rng: random.Random) -> Table:
    n = rng.randint(5, 10)
    titles = rng.sample(WORDS["albums"], n)
    labels = weighted_groups(rng, rng.sample(WORDS["labels"], rng.randint(2, 3)), n)
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
    return finish("discography", headers, rows, [t.lower() for t in titles])


def buildings(rng: random.Random) -> Table:
    n = rng.randint(6, 12)
    names = [f"{p} {rng.choice(WORDS['building_suffixes'])}"
             for p in rng.sample(WORDS["building_prefixes"], n)]
    cities = weighted_groups(rng, rng.sample(WORDS["cities"], rng.randint(2, 4)), n)
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
    return finish("buildings", headers, rows, [normalize_text(x) for x in names])


def race_times(rng: random.Random, n: int, laps: int,
               retired: int) -> Iterator[tuple[str, int]]:
    """Each row's Time/Retired cell and laps completed: the winner's time, then gaps
    or laps down, then (the last `retired` rows) reasons for retirement."""
    yield f"1:{rng.randint(25, 45)}:{rng.randint(0, 59):02d}.{rng.randint(0, 999):03d}", laps
    gap, lapped = 0.0, 0
    for i in range(1, n - retired):
        if lapped or (i > n // 2 and rng.random() < 0.4):
            lapped += 1 if rng.random() < 0.5 or not lapped else 0
            lapped = min(lapped, 2)
            yield f"+{lapped} Lap{'s' if lapped > 1 else ''}", laps - lapped
        else:
            gap += rng.uniform(0.4, 12.0)
            yield f"+{gap:.3f}", laps
    for i in range(n - retired, n):
        yield rng.choice(WORDS["retirements"]), rng.randint(3, laps - 4 - 10 * (i - (n - retired)))


def races(rng: random.Random) -> Table:
    n = rng.randint(8, 12)
    drivers = people(rng, n)
    # two cars a team, as in Formula One, but one team with three and maybe one with one
    sizes = [3] + [2] * ((n - 3) // 2) + [1] * ((n - 3) % 2)
    teams = rng.sample(WORDS["race_teams"], len(sizes))
    team_of = [team for team, size in zip(teams, sizes) for _ in range(size)]
    rng.shuffle(team_of)
    laps = rng.randint(44, 78)
    retired = rng.randint(1, 3)
    grid = rng.sample(range(1, n + 1), n)
    points = [25, 18, 15, 12, 10, 8, 6, 4, 2, 1]
    rows = []
    for i, (time, done) in enumerate(race_times(rng, n, laps, retired)):
        rows.append([str(i + 1), drivers[i], team_of[i], str(done), time, str(grid[i]), ""])
    # retirements are ordered by laps completed, as in a classification
    finishers, dnf = rows[: n - retired], rows[n - retired:]
    dnf.sort(key=lambda r: -int(r[3]))
    rows = finishers + dnf
    for i, row in enumerate(rows):
        row[0] = str(i + 1)
        row[6] = str(points[i] if i < 10 else 0)
    headers = ["Pos", "Driver", "Team", "Laps", "Time/Retired", "Grid", "Points"]
    return finish("races", headers, rows, [d.lower() for d in drivers])


def league(rng: random.Random) -> Table:
    n = rng.randint(8, 12)
    towns = rng.sample(WORDS["towns"], n)
    clubs = [f"{t} {rng.choice(WORDS['club_suffixes'])}" for t in towns]
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
    return finish("league", headers, rows, [c.lower() for c in clubs])


def episodes(rng: random.Random) -> Table:
    n = rng.randint(8, 12)
    first_no = rng.choice([1, 1, 12, 13, 23])
    titles = rng.sample(WORDS["episodes"], n)
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
    return finish("episodes", headers, rows, [t.lower() for t in titles])


def athlete(rng: random.Random) -> Table:
    n = rng.randint(6, 11)
    start = rng.randint(1994, 2006)
    pronoun, possessive = rng.choice([("she", "her"), ("he", "his")])
    venues = rng.sample(WORDS["venues"], n)
    competitions = weighted_groups(rng, rng.sample(WORDS["competitions"], rng.randint(3, 4)), n)
    events = weighted_groups(rng, rng.sample(WORDS["field_events"], 2), n)
    rows = []
    for i in range(n):
        place = rng.choice([1, 1, 2, 3, 4, 5, 6, 7, 8, 11])
        mark = rng.randint(700, 880) / 100 if "jump" in events[i].lower() else rng.randint(
            540, 600) / 100
        rows.append([str(start + i), competitions[i], f"{venues[i][0]}, {venues[i][1]}",
                     ordinal(place), events[i], f"{mark:.2f} m"])
    headers = ["Year", "Competition", "Venue", "Position", "Event", "Notes"]
    return finish("athlete", headers, rows, [v[0].lower() for v in venues],
                  pronoun=pronoun, possessive=possessive)


KINDS = [medals, elections, discography, buildings, races, league, episodes, athlete]
