"""Hostile inputs and faults against every mapo command: is each one refused clearly? (issue 35)

Usage: .venv/bin/python benchmarks/hostile_inputs.py WORKDIR [--only PATTERN] [--json] [--keep]

Builds small fixtures in WORKDIR/fixtures once (the demo data prepared, a store
explored with 200 samples per question, a 30-step run, a 4-step run with the
MiniLM encoder and its cache, a reranker, decoded beams, a CSV source, a
WikiSQL sample with made-up beams), then runs every case in a fresh directory
WORKDIR/cases/NAME, which holds copies of the fixtures it damages, and judges
it as one of:

- error: exit 1 or 2, exactly one line on stderr, starting `error:` (naming
  what the case says it must name);
- accept: exit 0, and the case's own check of the result;
- either: such an error, or exit 0 with the case's check (a bad line skipped
  and named, a damaged cache computed again with the same predictions);
- signal: SIGINT to the process group (as Ctrl-C), SIGTERM or SIGKILL to the
  process (as `kill`, or the OOM killer), sent once an event happened (a file
  appeared, workers busy); exit 130, 143 or -9, after it one `stopped` line
  and nothing else; none of its processes left after a grace period (Ray's
  too); after SIGKILL the same command (or `--resume`) succeeds.

Every case also checks the invariants: no Traceback, no crash signal, no raw
escape or bell character in the output, its inputs unchanged (hashed before
and after), nothing created outside its directory (the fixtures, WORKDIR and
HOME, which is WORKDIR/home, are watched; MAPO_CACHE is WORKDIR/cache).

A table of verdicts and totals is printed; --json also writes everything to
WORKDIR/results.json. The exit code is 0 whatever the verdicts (it is a
report), 1 only if the fixtures could not be built. Skipped: the permission
cases when running as root (root writes anywhere; the read-only tmpfs cases
stand in for them), the full-disk and read-only cases where `mount -t tmpfs`
fails, the Ray cases without ray. Passing cases' directories are removed
unless --keep; failing ones stay for a look. About 20 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import fnmatch
import hashlib
import importlib.util
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RELEASE = ROOT / "datasets" / "demo"
WIKISQL = ROOT.parent / "shared" / "datasets" / "wikisql"
TIMEOUT = 300.0
SECRET = "TOPSECRET7F3A"  # in files outside every release: must never reach an output
SECRET_NUMBER = "987654321"  # the numbers of the tagged table outside the release
RAY_PROCESS = re.compile(r"raylet|gcs_server|dashboard|ray::|log_monitor|runtime_env_agent")
LENGTH_LIMIT = re.compile(r"long|at most|limit|exceed", re.IGNORECASE)
RAW_CONTROL = ("\x1b", "\x07", "\x9b")  # escape, bell, 8-bit CSI: never echoed raw
ANSI_QUESTION = "which \x1b[31mplanet\x1b[0m has the most \x1b]0;pwned\x07moons?\x1b[2J"
MAPO: list[str] = []  # the command prefix, set in main()


# ---------------------------------------------------------------- running commands


@dataclass
class Outcome:
    """What one command did."""

    argv: list[str]
    returncode: int | None
    stdout: str
    stderr: str
    seconds: float
    timed_out: bool = False
    after_signal: str = ""  # stderr written after the signal was sent
    leftovers: list[str] = field(default_factory=list)  # processes of it still alive
    note: str = ""


def text(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


def execute(argv: Sequence[object], cwd: Path, env: dict[str, str], stdin: bytes | None = None,
            timeout: float = TIMEOUT) -> Outcome:
    """Run one command in its own session; kill the whole session if it runs past `timeout`."""
    args = [*MAPO, *map(str, argv)]
    start = time.monotonic()
    proc = subprocess.Popen(args, cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True,
                            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL)
    try:
        out, err = proc.communicate(stdin, timeout=timeout)
        timed_out = False
    except subprocess.TimeoutExpired:
        kill_session(proc.pid)
        out, err = proc.communicate()
        timed_out = True
    left = wait_gone(session_members(proc.pid), 10.0)
    return Outcome(args, proc.returncode, text(out), text(err), time.monotonic() - start,
                   timed_out, leftovers=left)


# ---------------------------------------------------------------- processes


def proc_stat(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name (state, ppid, pgrp, session, ...)."""
    try:
        data = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return data[data.rfind(")") + 2:].split()


def all_pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def cmdline(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    return raw.replace(b"\0", b" ").decode(errors="replace").strip()


Process = tuple[int, str]  # pid and start time: a pid the system gave to another is not ours


def identity(pid: int) -> Process | None:
    stat = proc_stat(pid)
    return None if stat is None else (pid, stat[19])


def alive(process: Process) -> bool:
    stat = proc_stat(process[0])
    return stat is not None and stat[19] == process[1] and stat[0] not in ("Z", "X")


def descendants(pid: int) -> set[Process]:
    children: dict[int, list[Process]] = {}
    for other in all_pids():
        stat = proc_stat(other)
        if stat is not None:
            children.setdefault(int(stat[1]), []).append((other, stat[19]))
    found: set[Process] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child[0])
    return found


def session_members(sid: int) -> set[Process]:
    members = set()
    for pid in all_pids():
        stat = proc_stat(pid)
        if stat is not None and int(stat[3]) == sid and stat[0] not in ("Z", "X"):
            members.add((pid, stat[19]))
    return members


def cpu_seconds(pid: int) -> float:
    stat = proc_stat(pid)
    return 0.0 if stat is None else (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")


def ray_processes() -> set[Process]:
    return {p for pid in all_pids() if RAY_PROCESS.search(cmdline(pid))
            for p in [identity(pid)] if p is not None}


def kill(process: Process) -> None:
    if alive(process):
        try:
            os.kill(process[0], signal.SIGKILL)
        except OSError:
            pass


def kill_session(sid: int) -> None:
    for process in session_members(sid):
        kill(process)


def wait_gone(processes: set[Process], grace: float) -> list[str]:
    """Wait up to `grace` seconds for the command's processes to end; describe and kill
    those that did not (ours: started by the command this script ran)."""
    start = time.monotonic()
    while time.monotonic() - start < grace:
        if not any(alive(p) for p in processes):
            return []
        time.sleep(0.2)
    left = [p for p in processes if alive(p)]
    described = [f"pid {p[0]} ({cmdline(p[0])[:80]}) still alive after {grace:.0f} s"
                 for p in left]
    for process in left:
        kill(process)
    return described


# ---------------------------------------------------------------- fixtures


class FixtureError(Exception):
    pass


@dataclass
class Fixtures:
    """Small inputs every case starts from, built once per WORKDIR."""

    work: Path

    def __post_init__(self) -> None:
        self.root = self.work / "fixtures"
        self.data = self.root / "data"
        self.train = self.data / "random-split-1-train.jsonl"
        self.dev = self.data / "random-split-1-dev.jsonl"
        self.training = self.data / "training.jsonl"
        self.small = self.data / "small-dev.jsonl"  # 20 dev questions
        self.smalltrain = self.data / "small-train.jsonl"  # 40 training questions
        self.store = self.root / "store"
        self.run = self.root / "run"
        self.runm = self.root / "run-minilm"
        self.cache = self.root / "cache"  # the MiniLM run's encoder cache
        self.reranker = self.root / "reranker.json"
        self.beams = self.root / "beams.jsonl"
        self.pred = self.root / "pred.tsv"
        self.mpred = self.root / "minilm-pred.tsv"
        self.csvsrc = self.root / "csvsrc"
        self.csvq = self.csvsrc / "questions.tsv"
        self.table = self.root / "planets.csv"
        self.wsql = self.root / "wikisql"
        self.wdev = self.wsql / "dev.jsonl"
        self.wbeams = self.root / "wikisql-beams.jsonl"
        self.secret_dir = self.work / "secret"
        self.secret = self.secret_dir / "secret.csv"

    def build(self, env: dict[str, str]) -> None:
        if (self.root / "complete").is_file():
            return
        shutil.rmtree(self.root, ignore_errors=True)
        self.root.mkdir(parents=True)

        def mapo(*argv: object, extra: dict[str, str] | None = None) -> None:
            print("  fixture: mapo " + " ".join(map(str, argv)), file=sys.stderr)
            outcome = execute(argv, self.root, {**env, **(extra or {})})
            if outcome.returncode != 0:
                raise FixtureError(f"mapo {' '.join(map(str, argv))}: exit "
                                   f"{outcome.returncode}: {outcome.stderr.strip()[-800:]}")

        mapo("prepare", "wtq", RELEASE, self.data)
        head(self.dev, self.small, 20)
        head(self.train, self.smalltrain, 40)
        mapo("explore", self.train, "--store", self.store, "--samples-per-example", 200)
        mapo("train", "--train", self.train, "--dev", self.dev, "--store", self.store, "--run",
             self.run, "--steps", 30, "--serial", "--eval-every", 15, "--read-only-store")
        mapo("rerank", self.run, self.smalltrain, "--out", self.reranker, "--workers", 1)
        mapo("decode", self.run, self.small, "--out", self.pred, "--programs", self.beams,
             "--workers", 1)
        minilm = {"MAPO_CACHE": str(self.cache)}
        mapo("train", "--train", self.smalltrain, "--dev", self.small, "--store", self.store,
             "--run", self.runm, "--steps", 4, "--serial", "--eval-every", 2, "--encoder",
             "minilm", "--read-only-store", extra=minilm)
        mapo("decode", self.runm, self.small, "--out", self.mpred, "--workers", 1, extra=minilm)
        self.csvsrc.joinpath("csv").mkdir(parents=True)
        write_planets(self.csvsrc / "csv" / "planets.csv")
        write_planets(self.table)
        self.csvq.write_text("id\tutterance\tcontext\ttargetValue\n"
                             "q-1\twhich planet has the most moons?\tcsv/planets.csv\tSaturn\n"
                             "q-2\thow many planets are there?\tcsv/planets.csv\t8\n"
                             "q-3\twhich planet comes after earth?\tcsv/planets.csv\tMars\n")
        mapo("prepare", "wikisql", WIKISQL, self.wsql, "--split", "dev")
        ids = [json.loads(line)["id"] for line in self.wdev.read_text().splitlines()[:20]]
        self.wbeams.write_text("".join(
            json.dumps({"id": i, "correct": False, "prediction": ["1"],
                        "programs": [{"program": "(count all_rows)", "answer": ["1"],
                                      "probability": 0.5, "log_probability": -0.69,
                                      "reward": 0.0}]}) + "\n" for i in ids))
        self.secret_dir.mkdir(parents=True, exist_ok=True)
        self.secret.write_text(f"Name,Code\n{SECRET},42\nOther,7\n")
        (self.secret_dir / "questions.tsv").write_text(
            f"id\tutterance\tcontext\ttargetValue\nsecret-q1\twhat is the code?\t"
            f"csv/200-csv/0.csv\t{SECRET}\n")
        (self.secret_dir / "secret.tagged").write_text(secret_tagged())
        (self.root / "complete").write_text("ok\n")


def secret_tagged() -> str:
    """The demo's first tagged table with every cell's number replaced by SECRET_NUMBER."""
    lines = (RELEASE / "tagged" / "200-tagged" / "0.tagged").read_text().splitlines()
    header = lines[0].split("\t")
    number = header.index("number")
    changed = [lines[0]]
    for line in lines[1:]:
        fields = line.split("\t")
        if fields[0] != "-1":
            fields[number] = SECRET_NUMBER
        changed.append("\t".join(fields))
    return "\n".join(changed) + "\n"


def head(source: Path, target: Path, lines: int) -> None:
    target.write_text("".join(source.read_text().splitlines(keepends=True)[:lines]))


def write_planets(path: Path) -> None:
    path.write_text("Planet,Moons,Diameter (km),Discovered,Type\n"
                    "Mercury,0,4879,,Terrestrial\nVenus,0,12104,,Terrestrial\n"
                    "Earth,1,12756,,Terrestrial\nMars,2,6792,,Terrestrial\n"
                    "Jupiter,95,142984,,Gas giant\nSaturn,146,120536,,Gas giant\n"
                    "Uranus,28,51118,1781,Ice giant\nNeptune,16,49528,1846,Ice giant\n")


# ---------------------------------------------------------------- cases


@dataclass
class Env:
    """What a case's functions see: the fixtures, its own directory and environment."""

    fx: Fixtures
    dir: Path
    vars: dict[str, str]
    err_log: Path
    mutable: list[str] = field(default_factory=list)  # case-dir paths its command may change
    mounts: list[Path] = field(default_factory=list)

    def __truediv__(self, name: str) -> Path:
        return self.dir / name

    def copy(self, what: Path, name: str | None = None) -> Path:
        """A copy of a fixture (file or directory) in the case directory, made once."""
        target = self.dir / (name or what.name)
        if not target.exists():
            if what.is_dir():
                shutil.copytree(what, target, symlinks=True)
            else:
                shutil.copy2(what, target)
        return target


When = Callable[[Env, int], bool]
Check = Callable[[Env, Outcome], "str | None"]


@dataclass
class Case:
    """One hostile input or fault, the command it is given to, and what must happen."""

    name: str
    family: str
    argv: Callable[[Env], Sequence[object]]
    expect: str = "error"  # error | accept | either | signal
    setup: Callable[[Env], object] | None = None
    mentions: Callable[[Env], str] | str | re.Pattern | None = None  # the error must name it
    check: Check | None = None  # for accept / either: None if the result is right
    stdin: bytes | None = None
    send: int = 0  # the signal, for expect="signal"
    when: When | None = None  # the event after which it is sent
    settle: float = 0.0  # seconds between the event and the signal
    then: Callable[[Env], Sequence[object]] | None = None  # must succeed afterwards
    mutable: tuple[str, ...] = ()
    needs: str = ""  # nonroot | tmpfs | ray
    timeout: float = TIMEOUT
    bar_ok: bool = False  # a progress line may precede the error (the work was done first)


@dataclass
class Result:
    name: str
    family: str
    expect: str
    verdict: str  # ok | FAIL | skip
    kind: str = ""  # error | accept | signal: how it passed
    reasons: list[str] = field(default_factory=list)
    command: str = ""
    returncode: int | None = None
    stdout: str = ""
    stderr: str = ""
    seconds: float = 0.0


# ---------------------------------------------------------------- small damage helpers


@dataclass
class Replace:
    """What a change function returns to replace a whole value rather than edit it in place."""

    value: Any


def changed(value: Any, change: Callable[[Any], object]) -> Any:
    result = change(value)
    return result.value if isinstance(result, Replace) else value


def edit_json(path: Path, change: Callable[[Any], object]) -> None:
    """Apply `change` to the JSON in `path`: in place, or by returning a Replace."""
    path.write_text(json.dumps(changed(json.loads(path.read_text()), change)))


def edit_lines(path: Path, change: Callable[[list[str]], list[str]]) -> None:
    path.write_text("".join(line + "\n" for line in change(path.read_text().splitlines())))


def first_record(change: Callable[[dict], object]) -> Callable[[list[str]], list[str]]:
    def apply(lines: list[str]) -> list[str]:
        return [json.dumps(changed(json.loads(lines[0]), change)), *lines[1:]]
    return apply


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def best_copy(e: Env, source: Path | None = None, name: str = "run") -> Path:
    """A run directory with the fixture run's best checkpoint, config and metrics only."""
    source = source or e.fx.run
    run = e / name
    if not run.exists():
        run.mkdir()
        for item in ("best.pt", "best.json", "config.toml", "metrics.jsonl"):
            shutil.copy2(source / item, run / item)
    return run


def set_weights(e: Env, data: bytes) -> None:
    """Replace best.pt and record its checksum in the sidecar, so the loader reads it."""
    run = best_copy(e)
    (run / "best.pt").write_bytes(data)
    edit_json(run / "best.json", lambda d: d.update(weights_sha256=sha256(run / "best.pt")))


def torch_bytes(obj: object, e: Env) -> bytes:
    import torch

    path = e / "tensor.tmp.pt"
    torch.save(obj, path)
    data = path.read_bytes()
    path.unlink()
    return data


def latest_state(run: Path) -> Path:
    return max((run / "checkpoints").glob("*.state.pt"))


def edit_state(e: Env, change: Callable[[dict], object], keep_sha: bool = False) -> None:
    """Change the latest training state of the run copy and (unless keep_sha) its checksum."""
    import torch

    path = latest_state(e.copy(e.fx.run))
    state = torch.load(path, map_location="cpu", weights_only=True)
    change(state)
    torch.save(state, path)
    if not keep_sha:
        path.with_suffix(".sha256").write_text(sha256(path) + "\n")


def truncate(path: Path, keep: float = 0.5) -> None:
    data = path.read_bytes()
    path.write_bytes(data[:int(len(data) * keep)])


def flip(path: Path, every: int = 4096, width: int = 16) -> None:
    """Overwrite `width` bytes every `every` bytes past the first two pages with 0xA5."""
    data = bytearray(path.read_bytes())
    for start in range(8192 + 700, len(data), every):
        data[start:start + width] = b"\xa5" * len(data[start:start + width])
    path.write_bytes(bytes(data))


class Exploit:
    """Pickles as a call of os.system: a checkpoint that would run code when loaded."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (os.system, (f"touch {shlex.quote(str(self.marker))}",))


def mount_tmpfs(e: Env, name: str, readonly: bool = False) -> Path:
    """A 1 MiB tmpfs at e/name, filled to the last byte unless read-only."""
    point = e / name
    point.mkdir()
    options = "size=1m,mode=0777" + (",ro" if readonly else "")
    subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(point)], check=True,
                   capture_output=True, timeout=30)
    e.mounts.append(point)
    e.mutable.append(name)
    if not readonly:
        with (point / ".filler").open("wb") as filler:
            try:
                while True:
                    filler.write(b"\0" * 65536)
                    filler.flush()
            except OSError:
                pass
        for size in (4096, 512, 1):  # what the page rounding left over
            try:
                with (point / ".filler").open("ab") as filler:
                    while True:
                        filler.write(b"\0" * size)
                        filler.flush()
            except OSError:
                pass
    return point


def unmount_all(e: Env) -> None:
    for point in reversed(e.mounts):
        done = subprocess.run(["umount", str(point)], check=False, capture_output=True, timeout=60)
        if done.returncode != 0:
            subprocess.run(["umount", "-l", str(point)], check=False, capture_output=True, timeout=60)


# ---------------------------------------------------------------- checks


def output_holds(e: Env, root: Path, needles: Sequence[str]) -> str | None:
    """The first file under `root` that holds one of `needles`, as a reason."""
    for path in sorted(root.rglob("*")) if root.exists() else []:
        if path.is_file():
            data = path.read_bytes()
            for needle in needles:
                if needle.encode() in data:
                    return f"{needle} from outside the release ended up in {path}"
    return None


def refused(out: str, needles: Sequence[str], named: str) -> Check:
    """Exit 0 is right only if nothing of the outside file reached OUT and the bad line was
    named (the skipped lines are listed)."""

    def check(e: Env, o: Outcome) -> str | None:
        leaked = output_holds(e, e / out, needles)
        if leaked:
            return leaked
        if named not in o.stdout + o.stderr:
            return f"exit 0 but the refused line ({named}) is not named in the output"
        return None
    return check


def same_file(produced: str, reference: Callable[[Env], Path]) -> Check:
    def check(e: Env, o: Outcome) -> str | None:
        path = e / produced
        if not path.is_file():
            return f"exit 0 but {path} was not written"
        if path.read_bytes() != reference(e).read_bytes():
            return f"exit 0 but {path} differs from the predictions with an intact cache"
        return None
    return check


def unique_ids(out: str, named: str) -> Check:
    def check(e: Env, o: Outcome) -> str | None:
        for path in (e / out).glob("*.jsonl"):
            if path.name == "tables.jsonl":
                continue
            ids = [json.loads(line)["id"] for line in path.read_text().splitlines() if line]
            if len(ids) != len(set(ids)):
                return f"exit 0 and {path} holds a duplicate id"
        if named not in o.stdout + o.stderr:
            return f"exit 0 but the duplicate id {named} is not named in the output"
        return None
    return check


def no_file(name: str) -> Check:
    def check(e: Env, o: Outcome) -> str | None:
        return f"{e / name} exists: loading ran code" if (e / name).exists() else None
    return check


def stdout_has(pattern: str) -> Check:
    def check(e: Env, o: Outcome) -> str | None:
        return None if re.search(pattern, o.stdout) else f"stdout lacks /{pattern}/"
    return check


def no_control(e: Env, o: Outcome) -> str | None:
    for char in ("\r", "\x08"):
        if char in o.stdout + o.stderr:
            return f"a raw {char!r} from the input was echoed"
    return None


# ---------------------------------------------------------------- events for signals


def file_appears(pattern: str, min_bytes: int = 0) -> When:
    def when(e: Env, pid: int) -> bool:
        return any(p.is_file() and p.stat().st_size >= min_bytes for p in e.dir.glob(pattern))
    return when


def workers_busy(count: int, cpu: float) -> When:
    """`count` processes below the command have each used `cpu` seconds (imports done)."""
    def when(e: Env, pid: int) -> bool:
        return sum(cpu_seconds(child) >= cpu for child, _ in descendants(pid)) >= count
    return when


def cpu_used(seconds: float) -> When:
    def when(e: Env, pid: int) -> bool:
        return cpu_seconds(pid) >= seconds
    return when


def stderr_says(fragment: str) -> When:
    def when(e: Env, pid: int) -> bool:
        return e.err_log.is_file() and fragment in e.err_log.read_text(errors="replace")
    return when


def waiting_idle(cpu: float, polls: int = 3) -> When:
    """The command has used `cpu` seconds and sits blocked (reading stdin) for `polls` polls."""
    seen = {"idle": 0}

    def when(e: Env, pid: int) -> bool:
        stat = proc_stat(pid)
        idle = stat is not None and stat[0] == "S" and cpu_seconds(pid) >= cpu
        seen["idle"] = seen["idle"] + 1 if idle else 0
        return seen["idle"] >= polls
    return when


def run_signalled(case: Case, e: Env, argv: list[str]) -> Outcome:
    """Start the command, send the signal once the event happened, collect what followed."""
    args = [*MAPO, *argv]
    err_path, out_path = e.err_log, e.err_log.with_suffix(".out")
    before_ray = ray_processes() if case.needs == "ray" else set()
    start = time.monotonic()
    with err_path.open("wb") as err, out_path.open("wb") as out:
        proc = subprocess.Popen(args, cwd=e.dir, env=e.vars, stdout=out, stderr=err,
                                stdin=subprocess.PIPE, start_new_session=True)  # left open
        tracked: set[Process] = set()
        happened = False
        while time.monotonic() - start < case.timeout and proc.poll() is None:
            tracked |= descendants(proc.pid)
            if case.when is not None and case.when(e, proc.pid):
                happened = True
                break
            time.sleep(0.1)
        note = ""
        if happened:
            end = time.monotonic() + case.settle
            note = "the command ended before the signal could be sent"
            while time.monotonic() < end and proc.poll() is None:
                tracked |= descendants(proc.pid)
                time.sleep(0.1)
        mark = err_path.stat().st_size
        if happened and proc.poll() is None:
            if case.send == signal.SIGINT:
                os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C reaches the whole group
            else:
                os.kill(proc.pid, case.send)
            sent = time.monotonic()
            while proc.poll() is None and time.monotonic() - sent < 120:
                tracked |= descendants(proc.pid)
                time.sleep(0.1)
            note = "still running 120 s after the signal" if proc.poll() is None else ""
        elif not happened and proc.poll() is None:
            note = "the event never came"
        elif not happened:
            note = "the command ended before the event"
        timed_out = proc.poll() is None
        if timed_out:
            kill_session(proc.pid)
        proc.wait()
        proc.stdin.close()
    grace = 60.0 if case.needs == "ray" else 15.0
    leftovers = wait_gone(tracked | session_members(proc.pid), grace)
    if case.needs == "ray":
        leftovers += ray_leftovers(before_ray, grace)
    stderr = text(err_path.read_bytes())
    return Outcome(args, proc.returncode, text(out_path.read_bytes()), stderr,
                   time.monotonic() - start, timed_out,
                   after_signal=text(err_path.read_bytes()[mark:]), leftovers=leftovers,
                   note=note)


def ray_leftovers(before: set[Process], grace: float) -> list[str]:
    """Ray processes that appeared during the case and outlive it by `grace` seconds:
    reported, not ended (on a shared machine they might be someone else's)."""
    start = time.monotonic()
    while time.monotonic() - start < grace:
        if not ray_processes() - before:
            return []
        time.sleep(0.5)
    return [f"Ray process {pid} ({cmdline(pid)[:70]}) alive {grace:.0f} s after the command"
            for pid, _ in sorted(ray_processes() - before)]


# ---------------------------------------------------------------- judging


def stderr_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.strip()]


def is_bar(line: str) -> bool:
    """A progress bar's line (its last state is drawn when it stops)."""
    return "━" in line or bool(re.search(r"[\d-]:[\d-]{2}:[\d-]{2}\s*$", line))


def judge_error(case: Case, e: Env, o: Outcome) -> list[str]:
    reasons = []
    if o.returncode not in (1, 2):
        reasons.append(f"exit {o.returncode}, expected 1 or 2")
    lines = [line for line in stderr_lines(o.stderr) if not (case.bar_ok and is_bar(line))]
    if not lines:
        reasons.append("nothing on stderr")
    elif len(lines) > 1:
        reasons.append(f"{len(lines)} lines on stderr, expected one")
    if lines and not lines[-1].startswith("error:"):
        reasons.append("the stderr line does not start with `error:`")
    named = case.mentions(e) if callable(case.mentions) else case.mentions
    if isinstance(named, re.Pattern):
        if not named.search(o.stderr):
            reasons.append(f"the error does not say /{named.pattern}/")
    elif named and named not in o.stderr:
        reasons.append(f"the error does not name {named!r}")
    return reasons


def judge_signal(case: Case, e: Env, o: Outcome) -> list[str]:
    expected = {signal.SIGINT: 130, signal.SIGTERM: 143, signal.SIGKILL: -9}[case.send]
    reasons = [o.note] if o.note else []
    if o.returncode != expected:
        reasons.append(f"exit {o.returncode}, expected {expected}")
    if case.send != signal.SIGKILL:
        lines = [line for line in stderr_lines(o.after_signal) if not is_bar(line)]
        stopped = [line for line in lines if "stopped" in line.lower()]
        if len(stopped) != 1:
            reasons.append(f"{len(stopped)} `stopped` lines after the signal, expected one")
        extra = [line for line in lines if line not in stopped]
        if extra:
            reasons.append(f"after the signal, besides the stopped line: {extra[0][:120]!r}"
                           + (f" (+{len(extra) - 1} more)" if len(extra) > 1 else ""))
        if re.search(r"\b\w*(Error|Exception)\b", o.after_signal):
            reasons.append("an exception is named after the signal")
    reasons += o.leftovers
    if case.then is not None and not reasons:
        again = execute(case.then(e), e.dir, e.vars, timeout=case.timeout)
        if again.returncode != 0 or "Traceback" in again.stdout + again.stderr:
            first = (stderr_lines(again.stderr) or ["(no stderr)"])[-1][:160]
            reasons.append(f"afterwards `{' '.join(again.argv[len(MAPO):])[:120]}` gave exit "
                           f"{again.returncode}: {first}")
        reasons += again.leftovers
    return reasons


def judge(case: Case, e: Env, o: Outcome) -> tuple[str, list[str]]:
    """(how it passed, reasons it failed)."""
    if o.timed_out and case.expect != "signal":
        return "", [f"still running after {case.timeout:.0f} s"]
    if case.expect == "signal":
        return "signal", judge_signal(case, e, o)
    if case.expect == "accept" or (case.expect == "either" and o.returncode == 0):
        reasons = [] if o.returncode == 0 else [f"exit {o.returncode}, expected 0"]
        if not reasons and case.check is not None:
            found = case.check(e, o)
            reasons += [found] if found else []
        return "accept", reasons
    return "error", judge_error(case, e, o)


def invariants(case: Case, o: Outcome) -> list[str]:
    reasons = []
    output = o.stdout + o.stderr
    if "Traceback" in output:
        reasons.append("a Python traceback")
    if o.returncode is not None and o.returncode < 0 and o.returncode != -case.send:
        reasons.append(f"killed by signal {-o.returncode} ({signal.Signals(-o.returncode).name})")
    if o.returncode is not None and o.returncode >= 128 and case.expect != "signal":
        reasons.append(f"exit {o.returncode}: a crash or signal")
    for char in RAW_CONTROL:
        if char in output:
            reasons.append(f"a raw {char!r} in the output")
            break
    if case.expect != "signal":
        reasons += o.leftovers
    return reasons


def tree_hashes(root: Path, skip: Sequence[str]) -> dict[str, str]:
    """sha256 of every file under root, except LMDB lock files and the `skip` prefixes."""
    found = {}
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root).as_posix()
        if any(relative == s or relative.startswith(s.rstrip("/") + "/") for s in skip):
            continue
        if path.name == "lock.mdb" or not path.is_file() or path.is_symlink():
            continue
        try:
            found[relative] = sha256(path)
        except OSError:
            found[relative] = "unreadable"
    return found


def signature(roots: Sequence[Path]) -> dict[str, tuple[int, int]]:
    """(size, mtime) of everything under `roots`: a cheap check that nothing changed there."""
    found = {}
    for root in roots:
        for path in [root, *root.rglob("*")] if root.exists() else []:
            if path.name == "lock.mdb":
                continue
            try:
                stat = path.lstat()
            except OSError:
                continue
            found[str(path)] = (stat.st_size if path.is_file() else 0, stat.st_mtime_ns)
    return found


def watched(work: Path) -> list[Path]:
    """Outside every case directory: what a case must leave alone."""
    return [work / "fixtures", work / "secret", work / "home", *[
        p for p in work.iterdir() if p.name not in {"cases", "logs", "cache", "mpl",
                                                     "fixtures", "secret", "home"}]]


# ---------------------------------------------------------------- one case


def run_case(case: Case, fx: Fixtures, work: Path, base: dict[str, str],
             capabilities: dict[str, str]) -> Result:
    result = Result(case.name, case.family, case.expect, "FAIL")
    if case.needs and case.needs in capabilities:
        result.verdict, result.reasons = "skip", [capabilities[case.needs]]
        return result
    directory = work / "cases" / case.name
    if directory.exists():
        subprocess.run(["umount", "-R", str(directory)], check=False, capture_output=True, timeout=60)
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    e = Env(fx, directory, dict(base), work / "logs" / f"{case.name}.err", list(case.mutable))
    try:
        if case.setup is not None:
            case.setup(e)
        argv = [str(a) for a in case.argv(e)]
        result.command = "mapo " + shlex.join(argv)
        before = tree_hashes(directory, e.mutable)
        outside = signature(watched(work))
        if case.expect == "signal":
            outcome = run_signalled(case, e, argv)
        else:
            outcome = execute(argv, directory, e.vars, case.stdin, case.timeout)
        result.kind, reasons = judge(case, e, outcome)
        reasons += invariants(case, outcome)
        after = tree_hashes(directory, e.mutable)
        changed = [name for name, digest in before.items() if after.get(name) != digest]
        if changed:
            reasons.append(f"input changed or removed: {', '.join(changed[:3])}")
        now = signature(watched(work))
        created = sorted(set(now) - set(outside))
        altered = sorted(k for k in outside if k in now and now[k] != outside[k]
                         and not Path(k).is_dir())
        if created:
            reasons.append(f"created outside the case directory: {', '.join(created[:3])}")
        if altered:
            reasons.append(f"changed outside the case directory: {', '.join(altered[:3])}")
        result.returncode, result.seconds = outcome.returncode, outcome.seconds
        result.stdout, result.stderr = outcome.stdout[-3000:], outcome.stderr[-3000:]
        result.reasons = reasons
        result.verdict = "FAIL" if reasons else "ok"
    except Exception as error:  # noqa: BLE001 -- a harness problem is reported as the case's
        result.reasons = [f"harness: {type(error).__name__}: {error}"]
    finally:
        if e.mounts:
            leftover = [p.relative_to(directory).as_posix() for point in e.mounts
                        for p in point.rglob("*") if p.name != ".filler" and is_temporary(p)]
            if leftover and result.verdict == "ok":
                result.verdict = "FAIL"
            if leftover:
                result.reasons.append(f"temporary files left: {', '.join(leftover[:3])}")
            unmount_all(e)
    return result


def is_temporary(path: Path) -> bool:
    name = path.name
    return (name.endswith((".tmp", "~", ".partial", ".part")) or name.startswith((".tmp", "tmp"))
            or ".tmp" in name)


# ---------------------------------------------------------------- the cases


def train_args(e: Env, run: object, *extra: object, store: object = None, train: object = None,
               dev: object = None) -> list[object]:
    """A two-step serial training command on the small files and a copy of the store."""
    return ["train", "--train", e.fx.smalltrain if train is None else train,
            "--dev", e.fx.small if dev is None else dev,
            "--store", e.copy(e.fx.store) if store is None else store, "--run", run, "--steps", 2,
            "--eval-every", 1, "--serial", "--read-only-store", *extra]


def wtq_release(e: Env, *lines: str) -> Path:
    """A copy of the demo release whose only question file is three good lines and `lines`."""
    source = e / "release"
    shutil.copytree(RELEASE, source, symlinks=True)
    good = (RELEASE / "data" / "training.tsv").read_text().splitlines()[:4]
    for path in (source / "data").glob("*.tsv"):
        path.unlink()
    (source / "data" / "hostile.tsv").write_text("\n".join([*good, *lines]) + "\n")
    return source


def csv_source(e: Env, *lines: str, name: str = "questions.tsv") -> Path:
    source = e.copy(e.fx.csvsrc)
    questions = source / name
    base = e.fx.csvq.read_text()
    if name != "questions.tsv":
        (source / "questions.tsv").unlink()
    questions.write_text(base + "".join(line + "\n" for line in lines))
    return questions


def q(qid: str, context: str, utterance: str = "what is the code?", answer: str = "42") -> str:
    return f"{qid}\t{utterance}\t{context}\t{answer}"


def path_cases() -> list[Case]:
    """Table paths in question files that point outside the release; duplicate ids."""
    cases = []
    secret = "secret.csv"
    contexts = {
        "absolute": lambda e: str(e.fx.secret),
        "dotdot": lambda e: "../../../secret/secret.csv",
        "dotdot-inside-csv": lambda e: "csv/../../../../secret/secret.csv",
    }
    for label, context in contexts.items():
        for strict in (False, True):
            suffix = "-strict" if strict else ""
            cases.append(Case(
                f"prepare-wtq-table-{label}{suffix}", "paths",
                lambda e, s=strict: ["prepare", "wtq", e / "release", e / "out",
                                     *(["--strict"] if s else [])],
                "error" if strict else "either",
                setup=lambda e, c=context: wtq_release(e, q("nt-x1", c(e))),
                mentions=secret, check=refused("out", [SECRET], secret)))
            cases.append(Case(
                f"prepare-csv-table-{label}{suffix}", "paths",
                lambda e, s=strict: ["prepare", "csv", e / "csvsrc" / "questions.tsv",
                                     e / "out", *(["--strict"] if s else [])],
                "error" if strict else "either",
                setup=lambda e, c=context: csv_source(e, q("q-x1", c(e))),
                mentions=secret, check=refused("out", [SECRET], secret)))

    def wtq_symlink(e: Env) -> None:
        source = wtq_release(e, q("nt-x1", "csv/200-csv/evil.csv"))
        (source / "csv" / "200-csv" / "evil.csv").symlink_to(e.fx.secret)

    def wtq_symlink_dir(e: Env) -> None:
        source = wtq_release(e, q("nt-x1", "csv/outside/secret.csv"))
        (source / "csv" / "outside").symlink_to(e.fx.secret_dir)

    def csv_symlink(e: Env) -> None:
        csv_source(e, q("q-x1", "csv/evil.csv"))
        (e / "csvsrc" / "csv" / "evil.csv").symlink_to(e.fx.secret)

    def wtq_tagged(e: Env) -> None:
        source = wtq_release(e)
        tagged = source / "tagged" / "200-tagged"
        for path in tagged.glob("*.tagged"):
            path.unlink()
            path.symlink_to(e.fx.secret_dir / "secret.tagged")

    def wtq_data_symlink(e: Env) -> None:
        source = wtq_release(e)
        (source / "data" / "extra.tsv").symlink_to(e.fx.secret_dir / "questions.tsv")

    wtq = ["prepare", "wtq"]
    for strict in (False, True):
        flag = ["--strict"] if strict else []
        suffix, expect = ("-strict", "error") if strict else ("", "either")
        cases += [
            Case(f"prepare-wtq-table-symlink{suffix}", "paths",
                 lambda e, f=flag: [*wtq, e / "release", e / "out", *f], expect,
                 setup=wtq_symlink, mentions="evil.csv",
                 check=refused("out", [SECRET], "evil.csv")),
            Case(f"prepare-csv-table-symlink{suffix}", "paths",
                 lambda e, f=flag: ["prepare", "csv", e / "csvsrc" / "questions.tsv",
                                    e / "out", *f], expect,
                 setup=csv_symlink, mentions="evil.csv",
                 check=refused("out", [SECRET], "evil.csv")),
            Case(f"prepare-wtq-duplicate-ids{suffix}", "paths",
                 lambda e, f=flag: [*wtq, e / "release", e / "out", *f], expect,
                 setup=lambda e: wtq_release(e, q("nt-0", "csv/200-csv/0.csv",
                                                  "which nation won the most gold?", "Nigeria")),
                 mentions="nt-0", check=unique_ids("out", "nt-0")),
            Case(f"prepare-csv-duplicate-ids{suffix}", "paths",
                 lambda e, f=flag: ["prepare", "csv", e / "csvsrc" / "questions.tsv",
                                    e / "out", *f], expect,
                 setup=lambda e: csv_source(e, q("q-1", "csv/planets.csv",
                                                 "how many moons has mars?", "2")),
                 mentions="q-1", check=unique_ids("out", "q-1")),
        ]
    cases += [
        Case("prepare-wtq-table-dir-symlink-strict", "paths",
             lambda e: [*wtq, e / "release", e / "out", "--strict"],
             setup=wtq_symlink_dir, mentions="secret.csv"),
        Case("prepare-wtq-tagged-symlink", "paths",
             lambda e: [*wtq, e / "release", e / "out"], "either", setup=wtq_tagged,
             check=refused("out", [SECRET, SECRET_NUMBER], ".tagged")),
        Case("prepare-wtq-question-file-symlink", "paths",
             lambda e: [*wtq, e / "release", e / "out"], "either", setup=wtq_data_symlink,
             check=refused("out", ["secret-q1"], "extra.tsv")),
        Case("prepare-wtq-context-empty-strict", "paths",
             lambda e: [*wtq, e / "release", e / "out", "--strict"],
             setup=lambda e: wtq_release(e, q("nt-x1", ""))),
        Case("prepare-wtq-context-directory-strict", "paths",
             lambda e: [*wtq, e / "release", e / "out", "--strict"],
             setup=lambda e: wtq_release(e, q("nt-x1", "csv/200-csv")), mentions="200-csv"),
        Case("prepare-csv-context-home-strict", "paths",
             lambda e: ["prepare", "csv", e / "csvsrc" / "questions.tsv", e / "out",
                        "--strict"],
             setup=lambda e: csv_source(e, q("q-x1", "~/secret.csv")), mentions="secret.csv"),
    ]
    return cases


def output_cases() -> list[Case]:
    """Outputs that are inputs; run directories that are not runs."""
    small = "small-dev.jsonl"

    def data(e: Env) -> Path:
        return e.copy(e.fx.data)

    def decode(e: Env, *extra: object) -> list[object]:
        return ["decode", best_copy(e), data(e) / small, "--workers", 1, *extra]

    def foreign_run(e: Env) -> None:
        run = e.copy(e.fx.run)
        (run / "notes.txt").write_text("my thesis notes\n")
        (run / "thesis.tex").write_text("\\documentclass{article}\n")

    def config_and_foreign(e: Env) -> None:
        run = e / "mine"
        run.mkdir()
        shutil.copy2(e.fx.run / "config.toml", run / "config.toml")
        (run / "notes.txt").write_text("my thesis notes\n")
        (run / "results.csv").write_text("a,b\n1,2\n")

    def plain_dir(e: Env) -> None:
        (e / "mine").mkdir()
        (e / "mine" / "notes.txt").write_text("my thesis notes\n")

    def data_below(e: Env) -> None:
        shutil.copytree(e.fx.data, e / "work" / "data")

    def hardlink(e: Env) -> None:
        os.link(data(e) / small, e / "link.tsv")

    def symlink(e: Env) -> None:
        (e / "link.tsv").symlink_to(data(e) / small)

    def questions_as_output(e: Env) -> None:
        csv_source(e, name="questions.jsonl")

    dev = lambda e: data(e) / small
    cases = [
        Case("decode-out-is-data", "outputs", lambda e: decode(e, "--out", dev(e)),
             mentions=small),
        Case("decode-programs-is-data", "outputs", lambda e: decode(e, "--programs", dev(e)),
             mentions=small),
        Case("decode-out-is-best-pt", "outputs",
             lambda e: decode(e, "--out", e / "run" / "best.pt"), mentions="best.pt"),
        Case("decode-programs-is-sidecar", "outputs",
             lambda e: decode(e, "--programs", e / "run" / "best.json"), mentions="best.json"),
        Case("decode-out-is-tables", "outputs",
             lambda e: decode(e, "--out", data(e) / "tables.jsonl"), mentions="tables.jsonl"),
        Case("decode-out-equals-programs", "outputs",
             lambda e: decode(e, "--out", e / "x.tsv", "--programs", e / "x.tsv"),
             mentions="x.tsv"),
        Case("decode-out-equals-programs-respelled", "outputs",
             lambda e: decode(e, "--out", e / "x.tsv", "--programs", e / "run" / ".." / "x.tsv"),
             setup=lambda e: best_copy(e)),
        Case("decode-out-is-data-respelled", "outputs",
             lambda e: decode(e, "--out", e / "data" / ".." / "data" / "." / small)),
        Case("decode-out-hardlink-to-data", "outputs",
             lambda e: decode(e, "--out", e / "link.tsv"), "either", setup=hardlink),
        Case("decode-out-symlink-to-data", "outputs",
             lambda e: decode(e, "--out", e / "link.tsv"), "either", setup=symlink),
        Case("decode-out-is-reranker", "outputs",
             lambda e: decode(e, "--reranker", e.copy(e.fx.reranker), "--out",
                              e / "reranker.json"), mentions="reranker.json"),
        Case("rerank-out-is-data", "outputs",
             lambda e: ["rerank", best_copy(e), dev(e), "--out", dev(e), "--workers", 1],
             mentions=small),
        Case("rerank-out-is-tables", "outputs",
             lambda e: ["rerank", best_copy(e), dev(e), "--out", data(e) / "tables.jsonl",
                        "--workers", 1], mentions="tables.jsonl"),
        Case("rerank-out-is-best-pt", "outputs",
             lambda e: ["rerank", best_copy(e), dev(e), "--out", e / "run" / "best.pt",
                        "--workers", 1], mentions="best.pt"),
        Case("spurious-out-is-store-data", "outputs",
             lambda e: ["inspect", "spurious", e.copy(e.fx.store), "--limit", 3, "--out",
                        e / "store" / "data.mdb"], mentions="data.mdb"),
        Case("spurious-out-is-run-checkpoint", "outputs",
             lambda e: ["inspect", "spurious", e.fx.store, "--limit", 3, "--run",
                        best_copy(e), "--out", e / "run" / "best.pt"], mentions="best.pt"),
        Case("inspect-run-plot-onto-metrics", "outputs",
             lambda e: ["inspect", "run", best_copy(e), "--plot", e / "run" / "metrics.jsonl"],
             mentions="metrics.jsonl"),
        Case("inspect-run-plot-onto-best-pt", "outputs",
             lambda e: ["inspect", "run", best_copy(e), "--plot", e / "run" / "best.pt"],
             mentions="best.pt"),
        Case("train-overwrite-run-with-foreign-files", "outputs",
             lambda e: train_args(e, e / "run", "--overwrite"), setup=foreign_run,
             mentions="run"),
        Case("train-overwrite-config-and-foreign-files", "outputs",
             lambda e: train_args(e, e / "mine", "--overwrite"), setup=config_and_foreign,
             mentions="mine"),
        Case("train-overwrite-plain-directory", "outputs",
             lambda e: train_args(e, e / "mine", "--overwrite"), setup=plain_dir,
             mentions="mine"),
        Case("train-run-is-plain-directory", "outputs",
             lambda e: train_args(e, e / "mine"), setup=plain_dir, mentions="mine"),
        Case("train-run-is-store", "outputs",
             lambda e: train_args(e, e / "store", store=e.copy(e.fx.store))),
        Case("train-run-is-store-overwrite", "outputs",
             lambda e: train_args(e, e / "store", "--overwrite", store=e.copy(e.fx.store))),
        Case("train-run-holds-store-overwrite", "outputs",
             lambda e: train_args(e, e.dir, "--overwrite", store=e.copy(e.fx.store))),
        Case("train-run-is-data-dir", "outputs",
             lambda e: train_args(e, data(e), train=data(e) / "small-train.jsonl")),
        Case("train-run-holds-data-overwrite", "outputs",
             lambda e: train_args(e, e / "work", "--overwrite",
                                  train=e / "work" / "data" / "small-train.jsonl",
                                  dev=e / "work" / "data" / small), setup=data_below),
        Case("explore-store-is-data-dir", "outputs",
             lambda e: ["explore", data(e) / "small-train.jsonl", "--store", data(e),
                        "--samples-per-example", 20]),
        Case("explore-store-is-run", "outputs",
             lambda e: ["explore", e.fx.smalltrain, "--store", best_copy(e),
                        "--samples-per-example", 20]),
        Case("prepare-csv-output-overwrites-questions", "outputs",
             lambda e: ["prepare", "csv", e / "csvsrc" / "questions.jsonl", e / "csvsrc"],
             setup=questions_as_output, mentions="questions.jsonl"),
        Case("prepare-wtq-out-is-release-data", "outputs",
             lambda e: ["prepare", "wtq", e / "release", e / "release" / "csv" / "200-csv"],
             "either", setup=lambda e: wtq_release(e)),
    ]
    return cases


def empty_path_cases() -> list[Case]:
    """'' where a path belongs."""
    run = lambda e: e.fx.run
    small = lambda e: e.fx.small
    table = lambda e: e.fx.table
    argvs: dict[str, Callable[[Env], list[object]]] = {
        "prepare-wtq-source": lambda e: ["prepare", "wtq", "", e / "out"],
        "prepare-wtq-out": lambda e: ["prepare", "wtq", RELEASE, ""],
        "prepare-csv-questions": lambda e: ["prepare", "csv", "", e / "out"],
        "prepare-csv-out": lambda e: ["prepare", "csv", e.fx.csvq, ""],
        "prepare-csv-tables": lambda e: ["prepare", "csv", e.fx.csvq, e / "out", "--tables", ""],
        "prepare-wtq-grammar": lambda e: ["prepare", "wtq", RELEASE, e / "out", "--grammar", ""],
        "exec-data": lambda e: ["exec", "", "nt-0", "(count all_rows)"],
        "exec-id": lambda e: ["exec", e.fx.training, "", "(count all_rows)"],
        "exec-program": lambda e: ["exec", e.fx.training, "nt-0", ""],
        "score-predictions": lambda e: ["score", "", small(e)],
        "score-data": lambda e: ["score", e.fx.pred, ""],
        "explore-data": lambda e: ["explore", "", "--store", e / "store"],
        "explore-store": lambda e: ["explore", e.fx.smalltrain, "--store", ""],
        "train-run": lambda e: train_args(e, ""),
        "train-store": lambda e: train_args(e, e / "run", store=""),
        "train-train": lambda e: train_args(e, e / "run", train=""),
        "train-dev": lambda e: train_args(e, e / "run", dev=""),
        "train-config": lambda e: train_args(e, e / "run", "--config", ""),
        "decode-data": lambda e: ["decode", run(e), ""],
        "decode-run": lambda e: ["decode", "", small(e)],
        "decode-out": lambda e: ["decode", run(e), small(e), "--out", ""],
        "decode-programs": lambda e: ["decode", run(e), small(e), "--programs", ""],
        "decode-reranker": lambda e: ["decode", run(e), small(e), "--reranker", ""],
        "rerank-out": lambda e: ["rerank", run(e), small(e), "--out", ""],
        "rerank-run": lambda e: ["rerank", "", small(e), "--out", e / "r.json"],
        "ask-table": lambda e: ["ask", run(e), "", "how many planets?"],
        "ask-run": lambda e: ["ask", "", table(e), "how many planets?"],
        "ask-question": lambda e: ["ask", run(e), table(e), ""],
        "ask-question-blank": lambda e: ["ask", run(e), table(e), "   \t "],
        "inspect-store": lambda e: ["inspect", "store", ""],
        "inspect-store-run": lambda e: ["inspect", "store", e.fx.store, "--example", "nt-0",
                                        "--run", ""],
        "inspect-spurious": lambda e: ["inspect", "spurious", ""],
        "inspect-spurious-out": lambda e: ["inspect", "spurious", e.fx.store, "--out", ""],
        "inspect-run": lambda e: ["inspect", "run", ""],
        "inspect-run-plot": lambda e: ["inspect", "run", run(e), "--plot", ""],
        "inspect-decoded-beams": lambda e: ["inspect", "decoded", "", e.fx.wdev],
        "inspect-decoded-data": lambda e: ["inspect", "decoded", e.fx.wbeams, ""],
    }
    return [Case(f"empty-{name}", "empty-paths", argv) for name, argv in argvs.items()]


# A default for a missing key, or a recorded grammar that decode does not need (it uses
# the data's), may be accepted: the weights must still fit.
LENIENT_SIDECARS = ("model-config-key-missing", "grammar-source-outside")


def run_file_cases() -> list[Case]:
    """Hand-edited or damaged checkpoints, sidecars, training states, configs and metrics."""
    cases = []

    def decode(e: Env) -> list[object]:
        return ["decode", e / "run", e.fx.small, "--workers", 1]

    def sidecar(change: Callable[[Any], Any]) -> Callable[[Env], None]:
        return lambda e: edit_json(best_copy(e) / "best.json", change)

    def drop(*keys: str) -> Callable[[Any], None]:
        def apply(d: Any) -> None:
            for key in keys[:-1]:
                d = d[key]
            del d[keys[-1]]
        return apply

    def put(*keys: str, value: Any) -> Callable[[Any], None]:
        def apply(d: Any) -> None:
            for key in keys[:-1]:
                d = d[key]
            d[keys[-1]] = value
        return apply

    sidecars: dict[str, Callable[[Any], Any]] = {
        "n-builtins-string": put("n_builtins", value="25"),
        "n-builtins-nan": put("n_builtins", value=float("nan")),
        "hidden-string": put("model_config", "hidden_size", value="200"),
        "hidden-negative": put("model_config", "hidden_size", value=-5),
        "hidden-float": put("model_config", "hidden_size", value=200.5),
        "hidden-huge": put("model_config", "hidden_size", value=10**12),
        "layers-zero": put("model_config", "layers", value=0),
        "dropout-five": put("model_config", "dropout", value=5.0),
        "encoder-unknown": put("model_config", "encoder", value="bert-huge"),
        "model-config-key-missing": drop("model_config", "hidden_size"),
        "model-config-list": put("model_config", value=[200, 200]),
        "vocabulary-missing": drop("vocabulary"),
        "words-string": put("vocabulary", "words", value="the cat"),
        "words-numbers": put("vocabulary", "words", value=[1, 2, 3]),
        "words-empty": put("vocabulary", "words", value=[]),
        "words-duplicated": lambda d: d["vocabulary"]["words"].append("the"),
        "grammar-source-outside": put("grammar", "source", value="/etc/passwd"),
        "grammar-hash-other": put("grammar", "content_hash", value="0123456789abcdef"),
        "grammar-string": put("grammar", value="wtq"),
        "weights-sha-other": put("weights_sha256", value="0" * 64),
        "format-other": put("format", value="mapo-checkpoint/99"),
        "is-list": lambda d: Replace([1, 2, 3]),
        "is-string": lambda d: Replace("best"),
    }
    for name, change in sidecars.items():
        cases.append(Case(f"sidecar-{name}", "run-files", decode,
                          "either" if name in LENIENT_SIDECARS else "error",
                          setup=sidecar(change), mentions="best"))
    cases.append(Case("sidecar-grammar-source-outside-ask", "run-files",
                      lambda e: ["ask", e / "run", e.fx.table, "how many planets?"],
                      setup=sidecar(put("grammar", "source", value="/etc/passwd")),
                      mentions="best"))

    def raw(data: bytes, name: str = "best.json") -> Callable[[Env], None]:
        return lambda e: (best_copy(e) / name).write_bytes(data)

    def weights(make: Callable[[Env], bytes]) -> Callable[[Env], None]:
        return lambda e: set_weights(e, make(e))

    def other_shapes(e: Env) -> bytes:
        import torch
        return torch_bytes({"encoder.weight": torch.zeros(3, 3)}, e)

    def nan_weights(e: Env) -> bytes:
        import torch
        state = torch.load(e.fx.run / "best.pt", map_location="cpu", weights_only=True)
        return torch_bytes({k: torch.full_like(v, float("nan")) if v.is_floating_point() else v
                            for k, v in state.items()}, e)

    def best_pt_dir(e: Env) -> None:
        run = best_copy(e)
        (run / "best.pt").unlink()
        (run / "best.pt").mkdir()

    cases += [
        Case("sidecar-not-json", "run-files", decode, setup=raw(b"{not json"), mentions="best"),
        Case("sidecar-empty", "run-files", decode, setup=raw(b""), mentions="best"),
        Case("sidecar-non-utf8", "run-files", decode, setup=raw(b"{\"format\": \"\xff\xfe\"}"),
             mentions="best"),
        Case("sidecar-missing", "run-files", decode,
             setup=lambda e: (best_copy(e) / "best.json").unlink(), mentions="best"),
        Case("best-pt-missing", "run-files", decode,
             setup=lambda e: (best_copy(e) / "best.pt").unlink(), mentions="best"),
        Case("best-pt-directory", "run-files", decode, setup=best_pt_dir, mentions="best"),
        Case("best-pt-truncated", "run-files", decode,
             setup=lambda e: truncate(best_copy(e) / "best.pt"), mentions="best.pt"),
        Case("best-pt-truncated-checksum-updated", "run-files", decode,
             setup=weights(lambda e: (e.fx.run / "best.pt").read_bytes()[:100000]),
             mentions="best.pt"),
        Case("best-pt-garbage", "run-files", decode,
             setup=weights(lambda e: os.urandom(50000)), mentions="best.pt"),
        Case("best-pt-empty", "run-files", decode, setup=weights(lambda e: b""),
             mentions="best.pt"),
        Case("best-pt-runs-code", "run-files", decode,
             setup=weights(lambda e: torch_bytes({"x": Exploit(e / "PWNED")}, e)),
             mentions="best.pt", check=no_file("PWNED")),
        Case("best-pt-other-shapes", "run-files", decode, setup=weights(other_shapes),
             mentions="best.pt"),
        Case("best-pt-nan-weights", "run-files", decode, setup=weights(nan_weights),
             mentions="best.pt"),
    ]
    cases += resume_cases() + metrics_cases() + reranker_cases() + beams_cases()
    return cases


def resume_cases() -> list[Case]:
    """`train --resume` of a run whose training state, checkpoints or config are damaged."""

    def resume(e: Env) -> list[object]:
        return ["train", "--train", e.fx.train, "--dev", e.fx.dev, "--store", e.fx.store,
                "--run", e.copy(e.fx.run), "--resume", "--steps", 31, "--serial",
                "--eval-every", 15, "--read-only-store"]

    def latest(e: Env, suffix: str) -> Path:
        state = latest_state(e.copy(e.fx.run))
        return state.with_name(state.name.replace(".state.pt", suffix))

    def put_extra(key: str, value: Any) -> Callable[[dict], None]:
        return lambda s: s["extra"].__setitem__(key, value)

    def torch_rng_short(state: dict) -> None:
        import torch
        state["extra"]["torch_rng"] = torch.zeros(10, dtype=torch.uint8)

    def config(text_: str) -> Callable[[Env], None]:
        return lambda e: (e.copy(e.fx.run) / "config.toml").write_text(text_)

    def config_edit(old: str, new: str) -> Callable[[Env], None]:
        def setup(e: Env) -> None:
            path = e.copy(e.fx.run) / "config.toml"
            path.write_text(re.sub(old, new, path.read_text(), flags=re.MULTILINE))
        return setup

    def ckpt_sidecar_list(e: Env) -> None:
        latest(e, ".json").write_text("[1, 2, 3]")

    def no_checkpoints(e: Env) -> None:
        shutil.rmtree(e.copy(e.fx.run) / "checkpoints")

    states: dict[str, Callable[[dict], object]] = {
        "torch-rng-string": put_extra("torch_rng", "abc"),
        "torch-rng-short": torch_rng_short,
        "python-rng-list": put_extra("python_rng", [1, 2, 3]),
        "python-rng-string": put_extra("python_rng", "seed"),
        "python-rng-missing": lambda s: s["extra"].pop("python_rng"),
        "step-string": lambda s: s.__setitem__("step", "abc"),
        "step-negative": lambda s: s.__setitem__("step", -5),
        "optimizer-missing": lambda s: s.pop("optimizer"),
        "optimizer-no-groups": lambda s: s["optimizer"].__setitem__("param_groups", []),
        "best-string": put_extra("best", "high"),
        "seconds-nan": put_extra("seconds", float("nan")),
        "extra-list": lambda s: s.__setitem__("extra", [1, 2]),
    }
    cases = [Case(f"resume-state-{name}", "run-files", resume,
                  setup=lambda e, c=change: edit_state(e, c), mutable=("run",),
                  mentions="state")
             for name, change in states.items()]
    cases += [
        Case("resume-state-truncated", "run-files", resume, mutable=("run",),
             setup=lambda e: truncate(latest_state(e.copy(e.fx.run))), mentions="state"),
        # No checksum: the state was never finished (a kill mid-save), so the checkpoint
        # before it is resumed from.
        Case("resume-state-garbage-no-checksum", "run-files", resume, "accept",
             mutable=("run",),
             setup=lambda e: (latest_state(e.copy(e.fx.run)).write_bytes(os.urandom(4000)),
                              latest(e, ".state.sha256").unlink())),
        Case("resume-checkpoint-sidecar-list", "run-files", resume, mutable=("run",),
             setup=ckpt_sidecar_list, mentions="step-"),
        Case("resume-checkpoint-truncated", "run-files", resume, "either", mutable=("run",),
             setup=lambda e: truncate(latest(e, ".pt"))),
        # Killed before its first complete checkpoint: the run starts again from step 0.
        Case("resume-no-checkpoints", "run-files", resume, "accept", mutable=("run",),
             setup=no_checkpoints),
        Case("resume-config-malformed", "run-files", resume, mutable=("run",),
             setup=config("steps = [unclosed\n"), mentions="config.toml"),
        Case("resume-config-steps-string", "run-files", resume, mutable=("run",),
             setup=config_edit(r"^steps = .*$", 'steps = "many"'), mentions="steps"),
        Case("resume-config-unknown-key", "run-files", resume, mutable=("run",),
             setup=config_edit(r"^seed = .*$", "seed = 0\nfrobnicate = 3"),
             mentions="frobnicate"),
        Case("resume-config-dropout-nan", "run-files", resume, mutable=("run",),
             setup=config_edit(r"^dropout = .*$", "dropout = nan"), mentions="dropout"),
        Case("resume-config-list", "run-files", resume, mutable=("run",),
             setup=config_edit(r"^hidden = .*$", "hidden = [1, 2]"), mentions="hidden"),
    ]
    return cases


def metrics_cases() -> list[Case]:
    """`inspect run` (and --plot) of a run whose metrics.jsonl or config.toml were edited."""
    good = {"step": 15, "seconds": 6.0, "dev_accuracy": 0.2, "train_return": 0.1,
            "clipped_fraction": 0.5, "memory_coverage": 0.9, "samples_per_second": 100.0,
            "loss": 0.5}
    lines = {
        "line-list": "[1, 2, 3]",
        "line-number": "3",
        "line-not-json": "{not json",
        "step-string": json.dumps({**good, "step": "abc"}),
        "dev-accuracy-string": json.dumps({**good, "dev_accuracy": "high"}),
        "dev-accuracy-list": json.dumps({**good, "dev_accuracy": [0.1]}),
        "seconds-object": json.dumps({**good, "seconds": {"a": 1}}),
        "step-missing": json.dumps({k: v for k, v in good.items() if k != "step"}),
    }
    cases = []
    for name, line in lines.items():
        def setup(e: Env, line_: str = line) -> None:
            path = best_copy(e) / "metrics.jsonl"
            path.write_text(path.read_text() + line_ + "\n")
        cases.append(Case(f"metrics-{name}", "run-files",
                          lambda e: ["inspect", "run", e / "run"], setup=setup,
                          mentions="metrics.jsonl"))
        if name in ("line-list", "dev-accuracy-string", "step-string"):
            cases.append(Case(f"metrics-{name}-plot", "run-files",
                              lambda e: ["inspect", "run", e / "run", "--plot", e / "c.png"],
                              setup=setup, mentions="metrics.jsonl"))
    cases += [
        Case("metrics-non-utf8", "run-files", lambda e: ["inspect", "run", e / "run"],
             setup=lambda e: (best_copy(e) / "metrics.jsonl").write_bytes(b"\xff\xfe{}\n"),
             mentions="metrics.jsonl"),
        Case("metrics-empty", "run-files", lambda e: ["inspect", "run", e / "run"], "either",
             setup=lambda e: (best_copy(e) / "metrics.jsonl").write_text("")),
        Case("inspect-run-config-malformed", "run-files",
             lambda e: ["inspect", "run", e / "run"],
             setup=lambda e: (best_copy(e) / "config.toml").write_text("a = [\n"),
             mentions="config.toml"),
        Case("inspect-run-not-a-run", "run-files", lambda e: ["inspect", "run", e / "empty"],
             setup=lambda e: (e / "empty").mkdir()),
    ]
    return cases


def reranker_cases() -> list[Case]:
    """`decode --reranker` and `ask --reranker` with hand-edited rerankers."""

    def each(part: str, value: Any) -> Callable[[Any], None]:
        return lambda d: d[part].update({k: value for k in d[part]})

    def one(part: str, value: Any) -> Callable[[Any], None]:
        return lambda d: d[part].update({next(iter(d[part])): value})

    edits: dict[str, Callable[[Any], Any]] = {
        "spread-zero": each("spread", 0.0),
        "one-spread-zero": one("spread", 0.0),
        "spread-negative": each("spread", -1.0),
        "weight-nan": one("weights", float("nan")),
        "weights-inf": each("weights", float("inf")),
        "mean-nan": one("mean", float("nan")),
        "weight-string": one("weights", "heavy"),
        "weight-missing": lambda d: d["weights"].pop(next(iter(d["weights"]))) and None,
        "weight-extra": lambda d: d["weights"].update({"calls frobnicate": 1.0}),
        "mean-list": lambda d: d.update(mean=list(d["mean"].values())),
        "members-two": lambda d: d.update(members=d["members"] * 2),
        "grammar-other": lambda d: d.update(grammar="wikisql"),
        "format-other": lambda d: d.update(format="mapo-reranker-99"),
        "is-list": lambda d: Replace([d]),
        "weights-null": lambda d: d.update(weights=None),
    }
    cases = []
    for name, change in edits.items():
        def setup(e: Env, change_: Callable[[Any], Any] = change) -> None:
            edit_json(e.copy(e.fx.reranker), change_)
        cases.append(Case(f"reranker-{name}", "run-files",
                          lambda e: ["decode", e.fx.run, e.fx.small, "--workers", 1,
                                     "--reranker", e / "reranker.json"], setup=setup,
                          mentions=None if name in ("members-two", "grammar-other")
                          else "reranker.json"))
        if name in ("spread-zero", "weight-nan"):
            cases.append(Case(f"ask-reranker-{name}", "run-files",
                              lambda e: ["ask", e.fx.run, e.fx.table, "how many planets?",
                                         "--reranker", e / "reranker.json"],
                              setup=setup, mentions="reranker.json"))
    cases += [
        Case("reranker-not-json", "run-files",
             lambda e: ["decode", e.fx.run, e.fx.small, "--reranker", e / "r.json"],
             setup=lambda e: (e / "r.json").write_text("{nope"), mentions="r.json"),
        Case("reranker-empty", "run-files",
             lambda e: ["decode", e.fx.run, e.fx.small, "--reranker", e / "r.json"],
             setup=lambda e: (e / "r.json").write_text(""), mentions="r.json"),
    ]
    return cases


def beams_cases() -> list[Case]:
    """`inspect decoded` of a hand-edited beams file (WikiSQL sample)."""

    def first(change: Callable[[dict], object]) -> Callable[[Env], None]:
        return lambda e: edit_lines(e.copy(e.fx.wbeams), first_record(change))

    def append(line: str) -> Callable[[Env], None]:
        return lambda e: e.copy(e.fx.wbeams).write_text(e.fx.wbeams.read_text() + line + "\n")

    edits: dict[str, Callable[[Env], None]] = {
        "programs-string": first(lambda r: r.update(programs="(count all_rows)")),
        "programs-object": first(lambda r: r.update(programs={"program": "(count all_rows)"})),
        "programs-numbers": first(lambda r: r.update(programs=[1, 2])),
        "program-number": first(lambda r: r["programs"][0].update(program=5)),
        "program-missing": first(lambda r: r["programs"][0].pop("program") and None),
        "id-number": first(lambda r: r.update(id=5)),
        "id-missing": first(lambda r: r.pop("id") and None),
        "line-list": append("[1, 2]"),
        "line-not-json": append("{nope"),
        "correct-string": first(lambda r: r.update(correct="yes")),
    }
    cases = [Case(f"beams-{name}", "run-files",
                  lambda e: ["inspect", "decoded", e / "wikisql-beams.jsonl", e.fx.wdev],
                  setup=setup, mentions="wikisql-beams.jsonl")
             for name, setup in edits.items()]
    cases += [
        Case("beams-program-invalid", "run-files",
             lambda e: ["inspect", "decoded", e / "wikisql-beams.jsonl", e.fx.wdev], "either",
             setup=first(lambda r: r["programs"][0].update(program="(frobnicate all_rows"))),
        Case("beams-unknown-id", "run-files",
             lambda e: ["inspect", "decoded", e / "wikisql-beams.jsonl", e.fx.wdev], "either",
             setup=first(lambda r: r.update(id="no-such-id"))),
        Case("beams-empty", "run-files",
             lambda e: ["inspect", "decoded", e / "b.jsonl", e.fx.wdev], "either",
             setup=lambda e: (e / "b.jsonl").write_text("")),
        Case("beams-wtq-data", "run-files",
             lambda e: ["inspect", "decoded", e.fx.beams, e.fx.small], mentions="sql"),
    ]
    return cases


def cache_cases() -> list[Case]:
    """The MiniLM run decoded with a damaged encoder cache ($MAPO_CACHE in the case)."""

    def damage(change: Callable[[Path, Any], None]) -> Callable[[Env], None]:
        def setup(e: Env) -> None:
            import numpy as np
            cache = e.copy(e.fx.cache)
            e.vars["MAPO_CACHE"] = str(cache)
            for path in sorted(cache.rglob("*.npz")):
                with np.load(path, allow_pickle=False) as arrays:
                    found = {k: arrays[k] for k in arrays.files}
                change(path, found)
        return setup

    def save(path: Path, **arrays: Any) -> None:
        import numpy as np
        with path.open("wb") as out:
            np.savez(out, **arrays)

    def nan(path: Path, a: dict) -> None:
        save(path, tokens=a["tokens"] * float("nan"), columns=a["columns"])

    def inf(path: Path, a: dict) -> None:
        save(path, tokens=a["tokens"], columns=a["columns"] * float("inf"))

    def narrow(path: Path, a: dict) -> None:
        save(path, tokens=a["tokens"][:, :100], columns=a["columns"][:, :100])

    def more_rows(path: Path, a: dict) -> None:
        import numpy as np
        save(path, tokens=np.concatenate([a["tokens"]] * 2), columns=a["columns"])

    def ints(path: Path, a: dict) -> None:
        save(path, tokens=a["tokens"].astype("int64"), columns=a["columns"].astype("int64"))

    def objects(path: Path, a: dict) -> None:
        import numpy as np
        save(path, tokens=np.array([{"a": 1}], dtype=object), columns=a["columns"])

    def one_dim(path: Path, a: dict) -> None:
        save(path, tokens=a["tokens"].ravel(), columns=a["columns"])

    def no_columns(path: Path, a: dict) -> None:
        save(path, tokens=a["tokens"])

    damages: dict[str, Callable[[Env], None]] = {
        "empty-files": damage(lambda p, a: p.write_bytes(b"")),
        "garbage": damage(lambda p, a: p.write_bytes(os.urandom(300))),
        "nan": damage(nan),
        "inf": damage(inf),
        "wrong-width": damage(narrow),
        "wrong-rows": damage(more_rows),
        "integers": damage(ints),
        "object-array": damage(objects),
        "one-dimensional": damage(one_dim),
        "columns-missing": damage(no_columns),
    }
    cases = [Case(f"cache-{name}", "encoder-cache",
                  lambda e: ["decode", best_copy(e, e.fx.runm, "runm"), e.fx.small, "--out",
                             e / "p.tsv", "--workers", 1],
                  "either", setup=setup, mutable=("cache",),
                  check=same_file("p.tsv", lambda e: e.fx.mpred), mentions="cache")
             for name, setup in damages.items()]

    def cache_is_file(e: Env) -> None:
        (e / "cachefile").write_text("not a directory\n")
        e.vars["MAPO_CACHE"] = str(e / "cachefile")

    cases.append(Case("cache-is-a-file", "encoder-cache",
                      lambda e: ["decode", best_copy(e, e.fx.runm, "runm"), e.fx.small,
                                 "--workers", 1], setup=cache_is_file, mentions="cachefile"))
    return cases


def store_cases() -> list[Case]:
    """Damaged store files, read by inspect, explore and train."""

    def store(change: Callable[[Path], None]) -> Callable[[Env], None]:
        return lambda e: change(e.copy(e.fx.store))

    def datamdb_dir(e: Env) -> None:
        (e / "store").mkdir()
        (e / "store" / "data.mdb").mkdir()

    flipped = store(lambda s: flip(s / "data.mdb"))
    inspect = lambda e: ["inspect", "store", e / "store"]
    explore = lambda e: ["explore", e.fx.smalltrain, "--store", e / "store",
                         "--samples-per-example", 220]
    train = lambda e: train_args(e, e / "run", store=e / "store")
    spurious = lambda e: ["inspect", "spurious", e / "store", "--limit", 5]
    damages = {
        "truncated": store(lambda s: truncate(s / "data.mdb", 0.4)),
        "zero-bytes": store(lambda s: (s / "data.mdb").write_bytes(b"")),
        "garbage": store(lambda s: (s / "data.mdb").write_bytes(
            os.urandom((s / "data.mdb").stat().st_size))),
    }
    cases = []
    for name, setup in damages.items():
        cases += [Case(f"store-{name}-inspect", "store", inspect, setup=setup,
                       mutable=("store",), mentions="store"),
                  Case(f"store-{name}-explore", "store", explore,
                       "either" if name == "zero-bytes" else "error",  # LMDB: a new store
                       setup=setup, mutable=("store",), mentions="store")]
    cases += [
        Case("store-truncated-train", "store", train, setup=damages["truncated"],
             mutable=("store",), mentions="store"),
        Case("store-truncated-spurious", "store", spurious, setup=damages["truncated"],
             mutable=("store",), mentions="store"),
        Case("store-flipped-inspect", "store", inspect, "either", setup=flipped,
             mutable=("store",)),
        Case("store-flipped-verify", "store",
             lambda e: ["inspect", "store", e / "store", "--verify"], "either",
             setup=flipped, mutable=("store",)),
        Case("store-flipped-explore", "store", explore, "either", setup=flipped,
             mutable=("store",)),
        Case("store-flipped-train", "store", train, "either", setup=flipped,
             mutable=("store",)),
        Case("store-flipped-spurious", "store", spurious, "either", setup=flipped,
             mutable=("store",)),
        Case("store-lock-garbage", "store", inspect, "either",
             setup=store(lambda s: (s / "lock.mdb").write_bytes(os.urandom(8192))),
             mutable=("store",)),
        Case("store-empty-directory", "store", inspect, setup=lambda e: (e / "store").mkdir(),
             mentions="store"),
        Case("store-data-mdb-directory", "store", inspect, setup=datamdb_dir,
             mentions="store"),
        Case("store-data-mdb-json", "store", inspect, mentions="store",
             setup=lambda e: ((e / "store").mkdir(),
                              (e / "store" / "data.mdb").write_text('{"a": 1}\n'))),
        Case("store-is-a-file", "store", inspect, mentions="store",
             setup=lambda e: (e / "store").write_text("not a store\n")),
    ]
    return cases


NAMED_DAMAGES = ("malformed-line", "line-is-list", "non-utf8", "empty-file", "blank-lines-only")


def bad_data_cases() -> list[Case]:
    """Malformed prepared data and tables, given to every command that reads them."""

    def data(change: Callable[[Path], None], name: str = "small-dev.jsonl"
             ) -> Callable[[Env], None]:
        return lambda e: change(e.copy(e.fx.data) / name)

    def append(line: str) -> Callable[[Path], None]:
        return lambda p: p.write_text(p.read_text() + line + "\n")

    def record(change: Callable[[dict], object]) -> Callable[[Path], None]:
        return lambda p: edit_lines(p, first_record(change))

    def tables(change: Callable[[list[str]], list[str]]) -> Callable[[Env], None]:
        return lambda e: edit_lines(e.copy(e.fx.data) / "tables.jsonl", change)

    def every_table(change: Callable[[dict], object]) -> Callable[[Env], None]:
        return tables(lambda lines: [json.dumps(changed(json.loads(x), change))
                                     for x in lines])

    first_dev_id = "nt-7"
    small, strain = "small-dev.jsonl", "small-train.jsonl"
    commands: dict[str, Callable[[Env, str], list[object]]] = {
        "exec": lambda e, f: ["exec", e / "data" / f, first_dev_id, "(count all_rows)"],
        "score": lambda e, f: ["score", e.fx.pred, e / "data" / f],
        "decode": lambda e, f: ["decode", e.fx.run, e / "data" / f, "--workers", 1],
        "explore": lambda e, f: ["explore", e / "data" / f, "--store", e / "newstore",
                                 "--samples-per-example", 20],
        "train-dev": lambda e, f: train_args(e, e / "run", dev=e / "data" / f),
        "train-train": lambda e, f: train_args(e, e / "run", train=e / "data" / f),
        "rerank": lambda e, f: ["rerank", e.fx.run, e / "data" / f, "--out", e / "r.json",
                                "--workers", 1],
    }
    damages: dict[str, tuple[Callable[[Path], None], tuple[str, ...]]] = {
        "malformed-line": (append("{\"id\": \"nt-x\", "), tuple(commands)),
        "line-is-list": (append("[1, 2, 3]"), ("decode", "explore", "score")),
        "tokens-string": (record(lambda r: r.update(tokens="which label")),
                          ("decode", "explore", "train-train")),
        "answer-number": (record(lambda r: r.update(answer=5)), ("score", "explore")),
        "table-number": (record(lambda r: r.update(table=7)), ("decode", "exec")),
        "table-unknown": (record(lambda r: r.update(table="csv/nope.csv")), ("decode", "exec")),
        "entities-garbage": (record(lambda r: r.update(entities=[{"span": "x"}])),
                             ("decode", "exec")),
        "entity-span-outside": (record(lambda r: r.update(entities=[
            {"span": [50, 60], "type": "string", "value": "x"}])), ("decode", "explore")),
        "id-number": (record(lambda r: r.update(id=5)), ("explore", "decode")),
        "grammar-unknown": (record(lambda r: r.update(grammar="nope")), ("decode", "exec")),
        "grammar-outside-file": (record(lambda r: r.update(grammar="/etc/passwd")),
                                 ("exec",)),
        "non-utf8": (lambda p: p.write_bytes(p.read_bytes() + b"{\"id\": \"\xff\xfe\"}\n"),
                     ("decode", "exec", "explore")),
        "empty-file": (lambda p: p.write_text(""), tuple(commands)),
        "blank-lines-only": (lambda p: p.write_text("\n\n  \n"), ("decode", "explore")),
        "duplicate-id-other-content": (
            lambda p: p.write_text(p.read_text() + json.dumps(
                {**json.loads(p.read_text().splitlines()[0]), "question": "another?"}) + "\n"),
            ("explore", "decode")),
    }
    cases = []
    for damage, (change, names) in damages.items():
        for command in names:
            target = strain if command in ("train-train", "explore", "rerank") else small
            named = target if damage in NAMED_DAMAGES and command != "exec" else None
            cases.append(Case(f"data-{damage}-{command}", "bad-data",
                              lambda e, c=command, t=target: commands[c](e, t),
                              setup=data(change, target), mentions=named,
                              mutable=("newstore", "run")))
    cases += [
        Case("tables-missing-decode", "bad-data",
             lambda e: ["decode", e.fx.run, e / "data" / small, "--workers", 1],
             setup=lambda e: (e.copy(e.fx.data) / "tables.jsonl").unlink(),
             mentions="tables.jsonl"),
        Case("tables-malformed-exec", "bad-data", lambda e: commands["exec"](e, small),
             setup=tables(lambda lines: ["{nope", *lines]), mentions="tables.jsonl"),
        Case("tables-ragged-row-exec", "bad-data", lambda e: commands["exec"](e, small),
             setup=every_table(lambda t: t["rows"].__setitem__(0, ["1"])),
             mentions="tables.jsonl"),
        Case("tables-ragged-row-decode", "bad-data", lambda e: commands["decode"](e, small),
             setup=every_table(lambda t: t["rows"].__setitem__(0, ["1"])),
             mentions="tables.jsonl"),
        Case("tables-columns-number-exec", "bad-data", lambda e: commands["exec"](e, small),
             setup=every_table(lambda t: t.update(columns=5)), mentions="tables.jsonl"),
        Case("tables-numbers-wrong-length-decode", "bad-data",
             lambda e: commands["decode"](e, small),
             setup=every_table(lambda t: t.update(numbers=[[1.0]])), mentions="tables.jsonl"),
        Case("data-bom-exec", "bad-data", lambda e: commands["exec"](e, small), "either",
             setup=data(lambda p: p.write_bytes(b"\xef\xbb\xbf" + p.read_bytes()))),
        Case("predictions-non-utf8-score", "bad-data",
             lambda e: ["score", e / "p.tsv", e.fx.small],
             setup=lambda e: (e / "p.tsv").write_bytes(b"nt-7\t\xff\xfe\n"), mentions="p.tsv"),
        Case("predictions-directory-score", "bad-data",
             lambda e: ["score", e / "p", e.fx.small], setup=lambda e: (e / "p").mkdir(),
             mentions="p"),
    ]
    return cases


def csv_cases() -> list[Case]:
    """Hostile CSV tables for `ask` and `prepare csv`; hostile questions."""
    run = lambda e: e.fx.run
    question = "which planet has the most moons?"

    def table(name: str, data: bytes | Callable[[], bytes]) -> Callable[[Env], None]:
        return lambda e: (e / name).write_bytes(data() if callable(data) else data)

    def source(data: bytes) -> Callable[[Env], None]:
        def setup(e: Env) -> None:
            csv_source(e, q("q-x1", "csv/bad.csv", "what is the code?", "42"))
            (e / "csvsrc" / "csv" / "bad.csv").write_bytes(data)
        return setup

    def many_rows() -> bytes:
        return b"Name,Value,Year\n" + b"".join(b"row%d,%d,%d\n" % (i, i, 1900 + i % 100)
                                                for i in range(200_000))

    tables_ = {
        "ragged": b"a,b,c\n1,2\n3,4,5,6\n",
        "empty": b"",
        "header-only": b"Planet,Moons\n",
        "non-utf8": b"Planet,Moons\nM\xe9rcure,0\n",
        "nul-bytes": b"Planet,Moons\nMer\x00cury,0\n",
        "binary": b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4,
        "unclosed-quote": b'Planet,Moons\n"Mercury,0\nVenus,0\n',
    }
    cases = []
    for name, data in tables_.items():
        expect = "either" if name == "header-only" else "error"
        cases.append(Case(f"ask-table-{name}", "csv", lambda e: ["ask", run(e), e / "t.csv",
                                                               question],
                          expect, setup=table("t.csv", data), mentions="t.csv"))
        cases.append(Case(f"prepare-csv-table-{name}-strict", "csv",
                          lambda e: ["prepare", "csv", e / "csvsrc" / "questions.tsv",
                                     e / "out", "--strict"],
                          expect, setup=source(data), mentions="bad.csv"))
    cases += [
        Case("prepare-csv-table-ragged", "csv",
             lambda e: ["prepare", "csv", e / "csvsrc" / "questions.tsv", e / "out"],
             "either", setup=source(tables_["ragged"]),
             check=refused("out", ["q-x1"], "bad.csv")),
        Case("ask-table-huge-cell", "csv", lambda e: ["ask", run(e), e / "t.csv", question],
             "either", setup=table("t.csv", b"Planet,Moons\n" + b"x" * 5_000_000 + b",1\n"
                                   + b"Mars,2\n"), mentions="t.csv"),
        Case("ask-table-5000-columns", "csv", lambda e: ["ask", run(e), e / "t.csv", question],
             "either", setup=table("t.csv", lambda: (
                 ",".join(f"c{i}" for i in range(5000)) + "\n"
                 + ",".join(str(i) for i in range(5000)) + "\n").encode()),
             mentions="t.csv"),
        Case("ask-table-200000-rows", "csv", lambda e: ["ask", run(e), e / "t.csv", question],
             setup=table("t.csv", many_rows), mentions="t.csv"),
        Case("ask-table-duplicate-headers", "csv",
             lambda e: ["ask", run(e), e / "t.csv", question], "accept",
             setup=table("t.csv", b"Planet,Planet,Moons\nMars,Mars,2\nEarth,Earth,1\n")),
        Case("ask-table-ansi-cells", "csv",
             lambda e: ["ask", run(e), e / "t.csv", question, "--trace", "--top", 5], "either",
             setup=table("t.csv", b"Planet\x1b[31m,Moons\n\x1b]0;pwn\x07Mars,2\n"
                                  b"Earth\x1b[2J,1\n"), mentions="t.csv"),
        Case("ask-question-50000-words", "csv",
             lambda e: ["ask", run(e), e.fx.table, " ".join(["a"] * 50_000)],  # < 128 KiB
             mentions=LENGTH_LIMIT),
        Case("ask-question-50000-words-stdin", "csv",
             lambda e: ["ask", run(e), e.fx.table],
             stdin=(" ".join(["moons"] * 50_000) + "\n").encode(), mentions=LENGTH_LIMIT),
        Case("ask-question-ansi", "csv",
             lambda e: ["ask", run(e), e.fx.table, ANSI_QUESTION, "--trace"], "either"),
        Case("ask-question-ansi-json", "csv",
             lambda e: ["ask", run(e), e.fx.table, ANSI_QUESTION, "--json"], "either"),
        Case("ask-question-control-chars", "csv",
             lambda e: ["ask", run(e), e.fx.table, "which\r planet\x08\x08 has\x07 moons?"],
             "either", check=no_control),
        Case("ask-question-ansi-stdin", "csv", lambda e: ["ask", run(e), e.fx.table],
             "either", stdin=(ANSI_QUESTION + "\n").encode()),
        Case("exec-id-ansi", "csv",
             lambda e: ["exec", e.fx.training, "nt-\x1b[2J\x1b]0;x\x07", "(count all_rows)"]),
        Case("ask-table-name-ansi", "csv",
             lambda e: ["ask", run(e), e / "\x1b[2Jnope.csv", question], mentions="nope.csv"),
        Case("prepare-csv-question-ansi", "csv",
             lambda e: ["prepare", "csv", e / "csvsrc" / "questions.tsv", e / "out"], "either",
             setup=lambda e: csv_source(e, q("q-\x1b[31mx", "csv/planets.csv",
                                             "which \x1b[2Jplanet?\x07", "Mars"))),
        Case("prepare-csv-questions-non-utf8-strict", "csv",
             lambda e: ["prepare", "csv", e / "csvsrc" / "questions.tsv", e / "out",
                        "--strict"], setup=latin1_questions, mentions="questions.tsv"),
    ]
    return cases


def latin1_questions(e: Env) -> None:
    path = csv_source(e)
    path.write_bytes(path.read_bytes() + b"q-x1\twhich plan\xe9te?\tcsv/planets.csv\tMars\n")


def exec_cases() -> list[Case]:
    programs = {
        "unbalanced": "(argmax all_rows",
        "unknown-function": "(frobnicate all_rows)",
        "date-2005-13-45": "(filter< all_rows 2005-13-45 r.original_air_date-date) (count v0)",
        "date-2005-02-30": "(filter< all_rows 2005-02-30 r.original_air_date-date) (count v0)",
        "unknown-column": "(argmax all_rows r.nope-num) (hop v0 r.title-str)",
        "variable-out-of-range": "(count v5)",
        "empty-parens": "()",
        "wrong-arity": "(count all_rows all_rows)",
        "type-error": "(count 5)",
        "unterminated-string": '(filter_in all_rows "peru r.title-str) (count v0)',
        "deep-nesting": "(" * 5000 + ")" * 5000,
        "5000-expressions": " ".join(["(count all_rows)"] * 5000),  # an argument < 128 KiB
        "only-spaces": "   ",
    }
    cases = [Case(f"exec-{name}", "exec",
                  lambda e, p=program: ["exec", e.fx.training, "nt-0", p])
             for name, program in programs.items()]
    cases[2].mentions = cases[3].mentions = "2005-"
    cases[4].mentions = "r.nope-num"
    cases += [
        Case("exec-unknown-id", "exec",
             lambda e: ["exec", e.fx.training, "nt-999999", "(count all_rows)"],
             mentions="nt-999999"),
        Case("exec-number-inf", "exec",
             lambda e: ["exec", e.fx.training, "nt-0",
                        "(filter> all_rows 1e999 r.no-num) (count v0)"], "either"),
        Case("exec-number-nan", "exec",
             lambda e: ["exec", e.fx.training, "nt-0",
                        "(filter> all_rows nan r.no-num) (count v0)"], "either"),
        Case("exec-valid", "exec",
             lambda e: ["exec", e.fx.training, "nt-1",
                        ('(filter_in all_rows "china" r.nation-str) (previous v0) '
                         '(hop v1 r.nation-str)')], "accept",
             check=stdout_has("Morocco")),
    ]
    return cases


def option_cases() -> list[Case]:
    """Numbers out of range, unknown names, missing files, files for directories."""
    run = lambda e: e.fx.run
    small = lambda e: e.fx.small

    def explore(*extra: object) -> Callable[[Env], list[object]]:
        return lambda e: ["explore", e.fx.smalltrain, "--store", e / "store",
                          "--samples-per-example", 20, *extra]

    def train(*extra: object) -> Callable[[Env], list[object]]:
        return lambda e: train_args(e, e / "run", *extra)

    def decode(*extra: object) -> Callable[[Env], list[object]]:
        return lambda e: ["decode", run(e), small(e), *extra]

    options: dict[str, Callable[[Env], list[object]]] = {
        "explore-samples-zero": explore("--samples-per-example", 0),
        "explore-samples-negative": explore("--samples-per-example", -1),
        "explore-samples-huge": explore("--samples-per-example", 10**12),
        "explore-samples-word": explore("--samples-per-example", "many"),
        "explore-workers-negative": explore("--workers", -1),
        "explore-workers-huge": explore("--workers", 100000),
        "explore-seconds-nan": explore("--seconds", "nan"),
        "explore-seconds-negative": explore("--seconds", -1),
        "explore-seconds-inf": explore("--seconds", "inf"),
        "explore-error-rate-zero": explore("--error-rate", 0),
        "explore-error-rate-one": explore("--error-rate", 1),
        "explore-max-expressions-huge": explore("--max-expressions", 1000),
        "explore-chunk-negative": explore("--chunk", -1),
        "explore-seed-negative": explore("--seed", -1),
        "explore-seed-huge": explore("--seed", 2**40),
        "explore-backend-unknown": explore("--backend", "cuda"),
        "train-steps-zero": train("--steps", 0),
        "train-steps-negative": train("--steps", -5),
        "train-steps-float": train("--steps", "1e30"),
        "train-learning-rate-zero": train("--learning-rate", 0),
        "train-learning-rate-nan": train("--learning-rate", "nan"),
        "train-dropout-above-one": train("--dropout", 1.5),
        "train-batch-zero": train("--batch-examples", 0),
        "train-alpha-two": train("--alpha", 2),
        "train-average-decay-above-one": train("--average-decay", 1.5),
        "train-eval-every-zero": train("--eval-every", 0),
        "train-min-count-negative": train("--min-count", -1),
        "train-memory-top-k-negative": train("--memory-top-k", -1),
        "train-seconds-nan": train("--seconds", "nan"),
        "train-actors-huge": train("--actors", 100000),
        "train-objective-unknown": train("--objective", "magic"),
        "train-encoder-unknown": train("--encoder", "bert-huge"),
        "train-embeddings-unknown": train("--embeddings", "glove-9000"),
        "train-backend-unknown": train("--backend", "cuda"),
        "train-resume-and-overwrite": train("--resume", "--overwrite"),
        "train-resume-missing-run": train("--resume"),
        "decode-beam-zero": decode("--beam", 0),
        "decode-beam-negative": decode("--beam", -1),
        "decode-beam-huge": decode("--beam", 10**6),
        "decode-batch-zero": decode("--batch", 0),
        "decode-workers-negative": decode("--workers", -3),
        "decode-backend-unknown": decode("--backend", "cuda"),
        "rerank-beam-zero": lambda e: ["rerank", run(e), small(e), "--out", e / "r.json",
                                       "--beam", 0],
        "ask-top-zero": lambda e: ["ask", run(e), e.fx.table, "how many?", "--top", 0],
        "ask-beam-zero": lambda e: ["ask", run(e), e.fx.table, "how many?", "--beam", 0],
        "ask-beam-huge": lambda e: ["ask", run(e), e.fx.table, "how many?", "--beam", 10**6],
        "spurious-tables-zero": lambda e: ["inspect", "spurious", e.fx.store, "--tables", 0],
        "spurious-tables-huge": lambda e: ["inspect", "spurious", e.fx.store, "--tables",
                                           10**9],
        "spurious-limit-negative": lambda e: ["inspect", "spurious", e.fx.store, "--limit", -1],
        "inspect-run-rows-negative": lambda e: ["inspect", "run", run(e), "--rows", -1],
        "inspect-store-rows-negative": lambda e: ["inspect", "store", e.fx.store, "--example",
                                                  "nt-0", "--rows", -1],
        "inspect-store-example-unknown": lambda e: ["inspect", "store", e.fx.store,
                                                    "--example", "nt-999999"],
        "inspect-decoded-tables-zero": lambda e: ["inspect", "decoded", e.fx.wbeams, e.fx.wdev,
                                                  "--tables", 0],
    }
    cases = [Case(f"option-{name}", "options", argv, mutable=("store", "run"))
             for name, argv in options.items()]

    def existing_run(e: Env) -> None:
        e.copy(e.fx.run)

    cases.append(Case("option-train-existing-run-without-resume", "options",
                      lambda e: train_args(e, e / "run"), setup=existing_run, mentions="run"))
    cases += grammar_cases() + config_cases() + missing_file_cases()
    return cases


def grammar_cases() -> list[Case]:
    def grammar(content: str) -> Callable[[Env], None]:
        return lambda e: (e / "g.toml").write_text(content)

    prepare = lambda e: ["prepare", "wtq", RELEASE, e / "out", "--grammar", e / "g.toml"]
    wtq_toml = (ROOT / "grammars" / "wtq.toml").read_text()
    return [
        Case("grammar-unknown-name", "options",
             lambda e: ["prepare", "wtq", RELEASE, e / "out", "--grammar", "nosuch"],
             mentions="nosuch"),
        Case("grammar-malformed-toml", "options", prepare, setup=grammar("[functions\nx = "),
             mentions="g.toml"),
        Case("grammar-empty-file", "options", prepare, setup=grammar(""), mentions="g.toml"),
        Case("grammar-wrong-structure", "options", prepare,
             setup=grammar("functions = 3\nname = 5\n"), mentions="g.toml"),
        Case("grammar-huge-max-expressions", "options", prepare,
             setup=grammar(re.sub(r"(?m)^max_expressions\s*=.*$", "max_expressions = 1000000000",
                                  wtq_toml)), mentions="g.toml"),
        Case("grammar-directory", "options",
             lambda e: ["prepare", "wtq", RELEASE, e / "out", "--grammar", e.dir],
             mentions=lambda e: str(e.dir)),
        Case("grammar-csv-malformed", "options",
             lambda e: ["prepare", "csv", e.fx.csvq, e / "out", "--grammar", e / "g.toml"],
             setup=grammar("= nope"), mentions="g.toml"),
    ]


def config_cases() -> list[Case]:
    def config(content: str) -> Callable[[Env], None]:
        return lambda e: (e / "c.toml").write_text(content)

    train = lambda e: train_args(e, e / "run", "--config", e / "c.toml")
    return [
        Case("config-malformed", "options", train, setup=config("steps = \n"),
             mentions="c.toml"),
        Case("config-unknown-key", "options", train, setup=config("frobnicate = 1\n"),
             mentions="frobnicate"),
        Case("config-steps-string", "options", train, setup=config('steps = "many"\n'),
             mentions="steps"),
        Case("config-dropout-nan", "options", train, setup=config("dropout = nan\n"),
             mentions="dropout"),
        Case("config-table-value", "options", train, setup=config("[seed]\na = 1\n"),
             mentions="seed"),
        Case("config-non-utf8", "options", train,
             setup=lambda e: (e / "c.toml").write_bytes(b"seed = 1 # \xff\n"),
             mentions="c.toml"),
        Case("config-missing", "options", train, mentions="c.toml"),
        Case("config-directory", "options",
             lambda e: train_args(e, e / "run", "--config", e / "cdir"),
             setup=lambda e: (e / "cdir").mkdir(), mentions="cdir"),
    ]


def missing_file_cases() -> list[Case]:
    run = lambda e: e.fx.run
    small = lambda e: e.fx.small
    nope = lambda e: e / "nope"
    directory = lambda e: (e / "adir").mkdir()
    a_file = lambda e: (e / "afile").write_text("just a file\n")
    missing = {
        "exec": lambda e: ["exec", nope(e), "nt-0", "(count all_rows)"],
        "score-predictions": lambda e: ["score", nope(e), small(e)],
        "score-data": lambda e: ["score", e.fx.pred, nope(e)],
        "decode-run": lambda e: ["decode", nope(e), small(e)],
        "decode-data": lambda e: ["decode", run(e), nope(e)],
        "decode-reranker": lambda e: ["decode", run(e), small(e), "--reranker", nope(e)],
        "ask-run": lambda e: ["ask", nope(e), e.fx.table, "how many?"],
        "ask-table": lambda e: ["ask", run(e), nope(e), "how many?"],
        "inspect-store": lambda e: ["inspect", "store", nope(e)],
        "inspect-run": lambda e: ["inspect", "run", nope(e)],
        "spurious-run": lambda e: ["inspect", "spurious", e.fx.store, "--run", nope(e)],
        "train-train": lambda e: train_args(e, e / "run", train=nope(e)),
        "train-store": lambda e: train_args(e, e / "run", store=nope(e)),
        "explore-data": lambda e: ["explore", nope(e), "--store", e / "store"],
        "prepare-wtq": lambda e: ["prepare", "wtq", nope(e), e / "out"],
        "prepare-csv": lambda e: ["prepare", "csv", nope(e), e / "out"],
        "rerank-data": lambda e: ["rerank", run(e), nope(e), "--out", e / "r.json"],
        "decode-out-directory-missing": lambda e: ["decode", run(e), small(e), "--out",
                                                   e / "no" / "such" / "p.tsv"],
    }
    cases = [Case(f"missing-{name}", "options", argv,
                  mentions="such" if name.endswith("directory-missing") else "nope")
             for name, argv in missing.items()]
    wrong_kind = {
        "exec-data-directory": lambda e: ["exec", e / "adir", "nt-0", "(count all_rows)"],
        "score-predictions-directory": lambda e: ["score", e / "adir", small(e)],
        "decode-data-directory": lambda e: ["decode", run(e), e / "adir"],
        "decode-reranker-directory": lambda e: ["decode", run(e), small(e), "--reranker",
                                                e / "adir"],
        "decode-out-directory": lambda e: ["decode", run(e), small(e), "--out", e / "adir"],
        "ask-table-directory": lambda e: ["ask", run(e), e / "adir", "how many?"],
        "prepare-csv-questions-directory": lambda e: ["prepare", "csv", e / "adir", e / "out"],
        "inspect-decoded-beams-directory": lambda e: ["inspect", "decoded", e / "adir",
                                                      e.fx.wdev],
        "rerank-out-directory": lambda e: ["rerank", run(e), small(e), "--out", e / "adir"],
    }
    cases += [Case(f"directory-for-file-{name}", "options", argv, setup=directory,
                   mentions="adir") for name, argv in wrong_kind.items()]
    file_for_dir = {
        "explore-store": lambda e: ["explore", e.fx.smalltrain, "--store", e / "afile"],
        "train-run": lambda e: train_args(e, e / "afile"),
        "inspect-store": lambda e: ["inspect", "store", e / "afile"],
        "inspect-run": lambda e: ["inspect", "run", e / "afile"],
        "prepare-wtq-source": lambda e: ["prepare", "wtq", e / "afile", e / "out"],
        "prepare-wtq-out": lambda e: ["prepare", "wtq", RELEASE, e / "afile"],
        "decode-run": lambda e: ["decode", e / "afile", small(e)],
        "ask-run": lambda e: ["ask", e / "afile", e.fx.table, "how many?"],
    }
    cases += [Case(f"file-for-directory-{name}", "options", argv, setup=a_file,
                   mentions="afile") for name, argv in file_for_dir.items()]
    return cases


def ask_cases() -> list[Case]:
    run = lambda e: e.fx.run

    def planets_here(e: Env) -> None:
        write_planets(e / "planets.csv")

    return [
        Case("ask-run-not-a-run", "ask",
             lambda e: ["ask", e / "empty", e.fx.table, "how many planets?"],
             setup=lambda e: (e / "empty").mkdir(), mentions="empty"),
        Case("ask-run-is-data", "ask", lambda e: ["ask", e.fx.small, e.fx.table, "how many?"],
             mentions="small-dev"),
        Case("ask-run-only", "ask", lambda e: ["ask", run(e)]),
        Case("ask-table-and-run-swapped", "ask",
             lambda e: ["ask", e.fx.table, run(e), "how many planets?"]),
        Case("ask-two-questions", "ask",
             lambda e: ["ask", run(e), e.fx.table, "how many?", "which planet?"]),
        Case("ask-question-names-a-file", "ask",
             lambda e: ["ask", run(e), e.fx.table, "planets.csv"], "either",
             setup=planets_here),
        Case("ask-stdin-empty", "ask", lambda e: ["ask", run(e), e.fx.table], "either",
             stdin=b""),
        Case("ask-valid", "ask", lambda e: ["ask", run(e), e.fx.table,
                                            "which planet has the most moons?"], "accept",
             check=stdout_has("answer:")),
        Case("ask-valid-ensemble-reranker", "ask",
             lambda e: ["ask", run(e), e.fx.table, "how many planets are there?",
                        "--reranker", e.fx.reranker], "accept", check=stdout_has("answer:")),
    ]


def valid_cases() -> list[Case]:
    """What works must keep working: the baseline the hostile cases are measured against."""
    return [
        Case("valid-score", "valid", lambda e: ["score", e.fx.pred, e.fx.small], "accept"),
        Case("valid-inspect-store", "valid", lambda e: ["inspect", "store", e.fx.store],
             "accept"),
        Case("valid-inspect-run-plot", "valid",
             lambda e: ["inspect", "run", e.fx.run, "--plot", e / "c.png"], "accept",
             check=lambda e, o: None if (e / "c.png").is_file() else "no plot written"),
        Case("valid-decode-reranker", "valid",
             lambda e: ["decode", e.fx.run, e.fx.small, "--reranker", e.fx.reranker,
                        "--workers", 1, "--out", e / "p.tsv"], "accept"),
        Case("valid-inspect-decoded", "valid",
             lambda e: ["inspect", "decoded", e.fx.wbeams, e.fx.wdev], "accept"),
        Case("valid-prepare-csv", "valid",
             lambda e: ["prepare", "csv", e.fx.csvq, e / "out"], "accept"),
        Case("valid-spurious", "valid",
             lambda e: ["inspect", "spurious", e.fx.store, "--limit", 3, "--out", e / "s.jsonl"],
             "accept"),
    ]


def disk_cases() -> list[Case]:
    """Outputs on a full (1 MiB, filled) or a read-only tmpfs: one error naming the path."""

    def full(e: Env) -> None:
        mount_tmpfs(e, "full")

    def readonly(e: Env) -> None:
        mount_tmpfs(e, "ro", readonly=True)

    def minilm_full(e: Env) -> None:
        full(e)
        e.vars["MAPO_CACHE"] = str(e / "full" / "cache")

    targets: dict[str, Callable[[Env, Path], list[object]]] = {
        "prepare-wtq": lambda e, d: ["prepare", "wtq", RELEASE, d / "out"],
        "prepare-csv": lambda e, d: ["prepare", "csv", e.fx.csvq, d / "out"],
        "explore": lambda e, d: ["explore", e.fx.smalltrain, "--store", d / "store",
                                 "--samples-per-example", 50],
        "train": lambda e, d: train_args(e, d / "run"),
        "decode-out": lambda e, d: ["decode", e.fx.run, e.fx.dev, "--workers", 1, "--out",
                                    d / "p.tsv"],
        "decode-programs": lambda e, d: ["decode", e.fx.run, e.fx.small, "--workers", 1,
                                         "--programs", d / "beams.jsonl"],
        "rerank-out": lambda e, d: ["rerank", e.fx.run, e.fx.small, "--workers", 1, "--out",
                                    d / "r.json"],
        "spurious-out": lambda e, d: ["inspect", "spurious", e.fx.store, "--limit", 5,
                                      "--out", d / "s.jsonl"],
        "inspect-run-plot": lambda e, d: ["inspect", "run", e.fx.run, "--plot", d / "c.png"],
    }
    cases = []
    for name, argv in targets.items():
        cases.append(Case(f"full-disk-{name}", "disk", lambda e, a=argv: a(e, e / "full"),
                          setup=full, mentions=lambda e: str(e / "full"), needs="tmpfs",
                          bar_ok=True))
        if name in ("prepare-wtq", "explore", "train", "decode-out", "rerank-out"):
            cases.append(Case(f"read-only-{name}", "disk", lambda e, a=argv: a(e, e / "ro"),
                              setup=readonly, mentions=lambda e: str(e / "ro"),
                              needs="tmpfs"))
    cases.append(Case("full-disk-encoder-cache", "disk",
                      lambda e: ["decode", e.fx.runm, e.fx.small, "--workers", 1],
                      setup=minilm_full, mentions=lambda e: str(e / "full"), needs="tmpfs",
                      bar_ok=True))
    nonroot = {
        "decode-out": lambda e: ["decode", e.fx.run, e.fx.small, "--out", e / "locked" / "p"],
        "train-run": lambda e: train_args(e, e / "locked" / "run"),
        "explore-store": lambda e: ["explore", e.fx.smalltrain, "--store",
                                    e / "locked" / "store"],
        "prepare-out": lambda e: ["prepare", "wtq", RELEASE, e / "locked" / "out"],
    }

    def locked(e: Env) -> None:
        (e / "locked").mkdir()
        (e / "locked").chmod(0o500)

    cases += [Case(f"unwritable-{name}", "disk", argv, setup=locked, mentions="locked",
                   needs="nonroot") for name, argv in nonroot.items()]
    return cases


def signal_cases() -> list[Case]:
    """SIGINT, SIGTERM and SIGKILL during long work, locally and on a local Ray instance."""
    int_, term, kill = signal.SIGINT, signal.SIGTERM, signal.SIGKILL

    def explore(*extra: object) -> Callable[[Env], list[object]]:
        return lambda e: ["explore", e.fx.training, "--store", e / "store",
                          "--samples-per-example", 3000, "--no-triggers", *extra]

    def train(*extra: object) -> Callable[[Env], list[object]]:
        return lambda e: ["train", "--train", e.fx.train, "--dev", e.fx.small, "--store",
                          e.copy(e.fx.store), "--run", e / "run", "--steps", 400,
                          "--eval-every", 3, *extra]

    def resume(*extra: object) -> Callable[[Env], list[object]]:
        return lambda e: ["train", "--train", e.fx.train, "--dev", e.fx.small, "--store",
                          e / "store", "--run", e / "run", "--resume", "--seconds", 2,
                          "--steps", 400, "--eval-every", 3, *extra]

    def decode(*extra: object) -> Callable[[Env], list[object]]:
        return lambda e: ["decode", e.fx.run, e.fx.training, "--beam", 10, "--out",
                          e / "p.tsv", *extra]

    rerank = lambda e: ["rerank", e.fx.run, e.fx.training, "--beam", 10,
                        "--out", e / "r.json"]
    spurious = lambda e: ["inspect", "spurious", e.fx.store, "--tables", 200,
                          "--out", e / "s.jsonl"]
    mutable = ("store", "run")
    exploring = workers_busy(2, 2.5)
    checkpoint = file_appears("run/checkpoints/*.pt")
    workers = workers_busy(2, 1.5)
    ray_up = stderr_says("Ray instance")
    cases = [
        Case("signal-explore-sigint", "signals", explore(), "signal", send=int_, when=exploring,
             then=explore("--seconds", 5), mutable=mutable),
        Case("signal-explore-sigterm", "signals", explore(), "signal", send=term,
             when=exploring, mutable=mutable),
        Case("signal-explore-sigkill", "signals", explore(), "signal", send=kill, when=exploring,
             then=explore("--seconds", 5), mutable=mutable),
        Case("signal-train-sigint", "signals", train(), "signal", send=int_, when=checkpoint,
             then=resume(), mutable=mutable),
        Case("signal-train-sigterm", "signals", train(), "signal", send=term, when=checkpoint,
             mutable=mutable),
        Case("signal-train-sigkill", "signals", train(), "signal", send=kill, when=checkpoint,
             then=resume(), mutable=mutable),
        Case("signal-train-serial-sigterm", "signals", train("--serial"), "signal", send=term,
             when=checkpoint, then=resume("--serial"), mutable=mutable),
        Case("signal-train-minilm-cache-fill-sigterm", "signals",
             lambda e: ["train", "--train", e.fx.train, "--dev", e.fx.dev, "--store",
                        e.copy(e.fx.store), "--run", e / "run", "--encoder", "minilm",
                        "--serial", "--read-only-store"], "signal",
             send=term, when=cpu_used(8.0), mutable=(*mutable, "cache"),
             setup=lambda e: e.vars.update(MAPO_CACHE=str(e / "cache"))),
        Case("signal-decode-sigint", "signals", decode(), "signal", send=int_, when=workers,
             settle=1.0),
        Case("signal-decode-sigterm", "signals", decode(), "signal", send=term, when=workers,
             settle=1.0),
        Case("signal-decode-sigkill", "signals", decode(), "signal", send=kill, when=workers,
             settle=1.0, then=decode("--beam", 1)),
        Case("signal-rerank-sigint", "signals", rerank, "signal", send=int_, when=workers,
             settle=1.0),
        Case("signal-rerank-sigterm", "signals", rerank, "signal", send=term, when=workers,
             settle=1.0),
        Case("signal-rerank-sigkill", "signals", rerank, "signal", send=kill, when=workers,
             settle=1.0),
        Case("signal-spurious-sigterm", "signals", spurious, "signal", send=term,
             when=cpu_used(4.0)),
        Case("signal-ask-stdin-sigint", "signals", lambda e: ["ask", e.fx.run, e.fx.table],
             "signal", send=int_, when=waiting_idle(1.0), timeout=90),
        Case("signal-ask-stdin-sigterm", "signals", lambda e: ["ask", e.fx.run, e.fx.table],
             "signal", send=term, when=waiting_idle(1.0), timeout=90),
        Case("signal-ray-explore-sigint", "signals", explore("--backend", "ray"), "signal",
             send=int_, when=ray_up, settle=4.0, mutable=mutable, needs="ray", timeout=240),
        Case("signal-ray-explore-sigkill", "signals", explore("--backend", "ray"), "signal",
             send=kill, when=ray_up, settle=4.0, then=explore("--backend", "ray", "--seconds", 5),
             mutable=mutable, needs="ray", timeout=240),
        Case("signal-ray-train-sigterm", "signals", train("--backend", "ray", "--actors", 1),
             "signal", send=term, when=checkpoint, mutable=mutable, needs="ray", timeout=240),
        Case("signal-ray-train-sigkill", "signals", train("--backend", "ray", "--actors", 1),
             "signal", send=kill, when=checkpoint, then=resume(), mutable=mutable,
             needs="ray", timeout=240),
        Case("signal-ray-decode-sigint", "signals", decode("--backend", "ray"), "signal",
             send=int_, when=ray_up, settle=3.0, needs="ray", timeout=240),
    ]
    return cases


def all_cases() -> list[Case]:
    cases = [*valid_cases(), *path_cases(), *output_cases(), *empty_path_cases(),
             *run_file_cases(), *cache_cases(), *store_cases(), *bad_data_cases(),
             *csv_cases(), *exec_cases(), *option_cases(), *ask_cases(), *disk_cases(),
             *signal_cases()]
    names = [case.name for case in cases]
    duplicates = {name for name in names if names.count(name) > 1}
    if duplicates:
        raise SystemExit(f"duplicate case names: {sorted(duplicates)}")
    return cases


# ---------------------------------------------------------------- the report


def capabilities(work: Path) -> dict[str, str]:
    """What cannot be tested here, by `needs`, with the reason."""
    missing = {}
    if os.geteuid() == 0:
        missing["nonroot"] = "running as root, which writes into a 0500 directory anyway"
    probe = work / "mount-probe"
    probe.mkdir(exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(probe)],
                          check=False, capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        missing["tmpfs"] = f"mount -t tmpfs failed: {done.stderr.strip()[:100]}"
    else:
        subprocess.run(["umount", str(probe)], check=False, capture_output=True, timeout=30)
    probe.rmdir()
    if importlib.util.find_spec("ray") is None:
        missing["ray"] = "ray is not installed in this Python"
    return missing


def first_lines(result: Result, count: int = 2) -> list[str]:
    lines = stderr_lines(result.stderr) or stderr_lines(result.stdout)
    return [line[:150] for line in lines[:count]]


def report(results: list[Result], seconds: float) -> None:
    width = max(len(r.name) for r in results)
    for family in dict.fromkeys(r.family for r in results):
        print(f"\n== {family}")
        for r in (r for r in results if r.family == family):
            why = "; ".join(r.reasons)
            print(f"  {r.name:<{width}}  {r.verdict:<4}  {why[:160]}")
            if r.verdict == "FAIL":
                print(f"  {'':<{width}}        $ {r.command[:200]}")
                for line in first_lines(r):
                    print(f"  {'':<{width}}        | {line}")
    ok = [r for r in results if r.verdict == "ok"]
    print(f"\n{len(results)} cases in {seconds / 60:.1f} min: "
          f"{sum(r.kind == 'error' for r in ok)} clear errors, "
          f"{sum(r.kind == 'accept' for r in ok)} rightly accepted, "
          f"{sum(r.kind == 'signal' for r in ok)} signals handled, "
          f"{sum(r.verdict == 'FAIL' for r in results)} failures, "
          f"{sum(r.verdict == 'skip' for r in results)} skipped")


def base_environment(work: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(MAPO_CACHE=str(work / "cache"), HOME=str(work / "home"),
               MPLCONFIGDIR=str(work / "mpl"), COLUMNS="200", RAY_USAGE_STATS_ENABLED="0",
               HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", PYTHONDONTWRITEBYTECODE="1")
    env.pop("NO_COLOR", None)
    return env


def selected(cases: list[Case], pattern: str | None) -> list[Case]:
    if not pattern:
        return cases
    if any(c in pattern for c in "*?["):
        return [c for c in cases if fnmatch.fnmatch(c.name, pattern)
                or fnmatch.fnmatch(c.family, pattern)]
    return [c for c in cases if pattern in c.name or pattern == c.family]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workdir", type=Path)
    parser.add_argument("--only", help="cases whose name or family matches (substring or glob)")
    parser.add_argument("--json", action="store_true", help="also write WORKDIR/results.json")
    parser.add_argument("--keep", action="store_true", help="keep passing cases' directories")
    parser.add_argument("--mapo", default=str(ROOT / ".venv" / "bin" / "mapo"),
                        help="the mapo command (a shell word list)")
    args = parser.parse_args()
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        # Started in the background (nohup, &): its commands would inherit an ignored SIGINT
        # and rightly keep ignoring it. The signal cases send Ctrl-C as a terminal does.
        signal.signal(signal.SIGINT, signal.default_int_handler)
    MAPO[:] = shlex.split(args.mapo)
    work = args.workdir.resolve()
    for name in ("cases", "logs", "home", "cache", "mpl"):
        (work / name).mkdir(parents=True, exist_ok=True)
    base = base_environment(work)
    fx = Fixtures(work)
    start = time.monotonic()
    try:
        fx.build(base)
    except (FixtureError, OSError, subprocess.SubprocessError) as error:
        print(f"the fixtures could not be built: {error}", file=sys.stderr)
        return 1
    missing = capabilities(work)
    cases = selected(all_cases(), args.only)
    print(f"{len(cases)} cases; fixtures in {fx.root} "
          f"({time.monotonic() - start:.0f} s)", file=sys.stderr)
    results = []
    for number, case in enumerate(cases, start=1):
        result = run_case(case, fx, work, base, missing)
        results.append(result)
        print(f"[{number}/{len(cases)}] {case.name}: {result.verdict} "
              f"({result.seconds:.1f} s)", file=sys.stderr)
        if result.verdict == "ok" and not args.keep:
            shutil.rmtree(work / "cases" / case.name, ignore_errors=True)
    report(results, time.monotonic() - start)
    if args.json:
        path = work / "results.json"
        path.write_text(json.dumps([asdict(r) for r in results], indent=1) + "\n")
        print(f"results written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
