"""`zdtm matrix`: the selection on every kernel, in parallel, one merged report.

Each kernel is a job: a guest (zdtm.matrix.guest) running `zdtm check` and
`zdtm run` of this checkout inside, or, for the host's kernel, `zdtm run`
here. Jobs run in parallel up to --jobs (default: the cores; a TCG guest
takes one). Every job is bounded; a kernel that cannot be fetched, does not
boot, panics or hangs is a failed `matrix/boot` (or `matrix/run`) row in its
column, never a hung matrix. Its results dir (OUT/<kernel>/) keeps the
console log, the guest command's output, `zdtm check`'s answer, report.json,
junit.xml and the run's artifacts; OUT/ gets the merged report (zdtm report's
merge): report.md (with a per-kernel summary), report.html, report.json,
junit.xml and summary.json.
"""
from __future__ import annotations

import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from ..config import PROJECT_DIR
from ..reports import merge as rmerge
from ..reports.results import SCHEMA
from . import kernels as kmod
from .guest import Guest, qemu_available
from .junit import junit

GUEST_STATE = "/run/zdtm-state"      # the guest's state dir: a tmpfs (the host's root is read-only there;
                                     # /run/zdtm is the host-wide dir of zdtm.hostwide)
SMOKE = PROJECT_DIR / "desc" / "smoke.yaml"


@dataclass
class MatrixOptions:
    kernels: list = field(default_factory=list)      # names in desc/kernels.yaml; [] = the default ones
    run_args: list = field(default_factory=list)     # zdtm run's arguments, as given
    out: Optional[Path] = None
    jobs: int = 0                                    # 0: the cores
    boot_timeout: float = 180.0
    timeout: float = 1800.0                          # per kernel, boot included
    accel: str = "auto"
    memory_mb: int = 2048
    offline: bool = False
    kernels_file: Path = kmod.KERNELS_FILE


@dataclass
class KernelRun:
    """What one kernel's job gave."""
    name: str
    release: str = ""
    status: str = "not-run"      # ok | fetch-failed | boot-failed | boot-hang | panic | hang | error | ...
    accel: str = ""
    boot_seconds: Optional[float] = None
    wall_seconds: float = 0.0
    message: str = ""
    results: str = ""
    describe: str = ""


def run_args_with_defaults(args: list) -> list:
    """zdtm run's arguments for each kernel: the smoke selection in h, ns, uns
    unless a selection (-t, -T, -a, --plan) or flavors are given."""
    out = list(args)
    selecting = ("-t", "--test", "-T", "--filter", "-a", "--all", "--plan", "--plan-line")
    if not any(a.split("=")[0] in selecting for a in out):
        out += ["--plan", str(SMOKE)]
    if not any(a.split("=")[0] in ("-f", "--flavor") for a in out):
        out += ["-f", "h,ns,uns"]
    return out


def guest_command(results: Path, run_args: list, cache_dir: Path) -> str:
    """The shell script the guest runs: zdtm check, then zdtm run with
    its reports into the results dir and its artifacts copied there."""
    zdtm = PROJECT_DIR / ".venv" / "bin" / "zdtm"
    run = shlex.join([str(zdtm), "run", *run_args, "--json-report", str(results / "report.json"),
                      "--junitxml", str(results / "junit.xml")])
    return f"""set -u
cd {shlex.quote(str(PROJECT_DIR))}
export ZDTM_DIR={GUEST_STATE} ZDTM_CACHE_DIR={shlex.quote(str(cache_dir))} ZDTM_KEEP_RUNS=1
{zdtm} check > {results}/check.txt 2>&1
echo "zdtm check: exit $?"
{run}
rc=$?
cp -rL {GUEST_STATE}/runs/latest {results}/run 2>/dev/null
exit $rc
"""


class Matrix:
    def __init__(self, opts: MatrixOptions, cache_dir: Path, log=print):
        self.opts, self.cache_dir, self.log = opts, cache_dir, log
        self.run_args = run_args_with_defaults(opts.run_args)
        self.out = opts.out

    def run(self) -> int:
        t0 = time.monotonic()
        specs = kmod.select(kmod.load_specs(self.opts.kernels_file), self.opts.kernels)
        why_not = qemu_available() if any(not s.host for s in specs) else None
        if why_not:
            raise kmod.KernelError(f"cannot boot guests: {why_not}")
        self.out.mkdir(parents=True, exist_ok=True)
        self.log(f"matrix: kernels {', '.join(s.name for s in specs)}; zdtm run {shlex.join(self.run_args)}; "
                 f"results in {self.out}")
        ready, runs = [], {}
        for spec in specs:              # fetching is network- and disk-bound: one at a time
            try:
                kernel = kmod.prepare(spec, self.cache_dir, self.log, self.opts.offline)
                self.log(f"matrix: {kernel.describe()}")
                ready.append(kernel)
            except kmod.KernelError as e:
                runs[spec.name] = KernelRun(spec.name, status="fetch-failed", message=str(e))
        jobs = self.opts.jobs or os.cpu_count() or 1
        with ThreadPoolExecutor(max_workers=max(1, min(jobs, len(ready) or 1))) as pool:
            for r in pool.map(self._job, ready):
                runs[r.name] = r
                self.log(f"matrix: {r.name}: {r.status} ({r.accel or 'native'}, boot "
                         f"{_secs(r.boot_seconds)}, wall {_secs(r.wall_seconds)}){': ' + r.message if r.message else ''}")
        ordered = [runs[s.name] for s in specs]
        doc = self.merge(ordered)
        rc = self.write(doc, ordered, time.monotonic() - t0)
        return rc

    def _job(self, kernel) -> KernelRun:
        results = self.out / kernel.name
        if kernel.spec.host:
            return self._host_job(kernel, results)
        command = guest_command(results, self.run_args, self.cache_dir)
        res = Guest(kernel, results, command, self.opts.boot_timeout, self.opts.timeout, self.opts.memory_mb,
                    self.opts.accel, self.log).run()
        status, msg = res.status, res.message
        if res.status == "ok" and res.exit_status not in (0, 1):
            status, msg = "run-failed", f"zdtm run exited {res.exit_status} (see {results}/guest.log)"
        return KernelRun(kernel.name, kernel.release, status, f"{res.accel} ({res.why_accel})",
                         res.boot_seconds, res.wall_seconds, msg, str(results), kernel.describe())

    def _host_job(self, kernel, results: Path) -> KernelRun:
        results.mkdir(parents=True, exist_ok=True)
        argv = [sys.executable, "-m", "zdtm", "run", *self.run_args, "--json-report", str(results / "report.json"),
                "--junitxml", str(results / "junit.xml")]
        t0 = time.monotonic()
        run = KernelRun(kernel.name, kernel.release, "ok", "", None, 0.0, "", str(results), kernel.describe())
        with open(results / "guest.log", "w") as out:
            proc = subprocess.Popen(argv, cwd=PROJECT_DIR, stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True)
            try:
                rc = proc.wait(timeout=self.opts.timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGTERM)      # zdtm run cleans up on SIGTERM
                try:
                    proc.wait(timeout=120)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
                run.status, rc = "hang", None
                run.message = f"zdtm run still running after {self.opts.timeout:.0f} s (stopped)"
        if rc not in (0, 1, None):
            run.status, run.message = "run-failed", f"zdtm run exited {rc} (see {results}/guest.log)"
        run.wall_seconds = round(time.monotonic() - t0, 1)
        return run

    def merge(self, runs: list) -> dict:
        docs = []
        host = socket.gethostname()
        for r in runs:
            doc = _load(Path(r.results) / "report.json") if r.results else None
            if doc is not None:
                guest_run = doc["run"]["run_dir"]
                for t in doc["tests"]:          # the guest's run dir was a tmpfs: its copy is here
                    if guest_run and t.get("artifacts", "").startswith(guest_run):
                        t["artifacts"] = str(Path(r.results) / "run") + t["artifacts"][len(guest_run):]
                docs.append(doc)
            docs.append(_synthetic(r, host, has_report=doc is not None))
        return rmerge.merge(docs)

    def write(self, doc: dict, runs: list, wall: float) -> int:
        summary = summarize(doc, runs)
        (self.out / "summary.json").write_text(json.dumps({"wall_seconds": round(wall, 1), "kernels": summary},
                                                          indent=1) + "\n")
        note = summary_markdown(summary, wall, self.run_args)
        (self.out / "report.md").write_text(note + "\n" + rmerge.markdown(doc))
        (self.out / "report.html").write_text(rmerge.html(doc))
        (self.out / "report.json").write_text(json.dumps(doc, indent=1) + "\n")
        (self.out / "junit.xml").write_text(junit(doc))
        self.log("\n" + note)
        for name in ("report.md", "report.html", "report.json", "junit.xml"):
            self.log(f"matrix: {name}: {self.out / name}")
        bad = rmerge.counts(doc)["failed"] or any(s["status"] != "ok" for s in summary)
        return 1 if bad else 0


def _secs(v) -> str:
    return "-" if v is None else f"{v:.1f} s"


def _load(path: Path) -> Optional[dict]:
    try:
        return rmerge.load(str(path))
    except rmerge.ReportError:
        return None


def _synthetic(r: KernelRun, host: str, has_report: bool) -> dict:
    """The kernel's own row: matrix/boot for a guest (passed: it booted and
    ran; its duration is the boot time), matrix/run where no report came back."""
    tests = []
    label = r.release or r.name
    guest = bool(r.accel)
    booted = r.boot_seconds is not None
    if r.status == "fetch-failed":
        tests.append(_record("matrix/boot", "failed", "fetch", r.message, 0.0, label, host, ""))
    elif guest:
        tests.append(_record("matrix/boot", "passed" if booted else "failed", "boot",
                             "" if booted else f"{r.status}: {r.message} (console: {r.results}/console.log)",
                             r.boot_seconds or 0.0, label, host, r.results))
    if (booted or not guest) and r.status != "fetch-failed" and (r.status != "ok" or not has_report):
        tests.append(_record("matrix/run", "failed", "run",
                             f"{r.status}: {r.message or 'no report.json'} (output: {r.results}/guest.log)",
                             r.wall_seconds, label, host, r.results))
    return {"schema": SCHEMA, "run": {"run_dir": r.results or r.name, "started": 0, "finished": None, "wall": 0,
                                      "argv": [], "shard": None}, "tests": tests}


def _record(test, outcome, phase, message, duration, kernel, machine, artifacts) -> dict:
    return {"id": f"{test}[h]", "test": test, "flavor": "h", "modes": [], "outcome": outcome,
            "phase": None if outcome == "passed" else phase, "message": message, "duration": round(duration, 1),
            "timings": {}, "identity": "", "artifacts": artifacts, "kernel": kernel, "machine": machine,
            "warnings": []}


def summarize(doc: dict, runs: list) -> list:
    out = []
    for r in runs:
        label = r.release or r.name
        mine = [t for t in doc["tests"] if t["kernel"] == label and not t["test"].startswith("matrix/")]
        counts = {k: sum(t["outcome"] == k for t in mine) for k in ("passed", "failed", "skipped")}
        out.append({"kernel": r.name, "release": r.release, "status": r.status, "accel": r.accel or "native",
                    "boot_seconds": r.boot_seconds, "wall_seconds": r.wall_seconds, **counts,
                    "message": r.message, "results": r.results, "source": r.describe})
    return out


def summary_markdown(summary: list, wall: float, run_args: list) -> str:
    lines = [f"# zdtm matrix\n\n`zdtm run {shlex.join(run_args)}` on each kernel; wall {wall:.0f} s in all.\n",
             "| kernel | release | status | accel | boot | wall | passed | failed | skipped |",
             "|---|---|---|---|---|---|---|---|---|"]
    for s in summary:
        accel = s["accel"].split(" (")[0]
        lines.append(f"| {s['kernel']} | {s['release'] or '-'} | {s['status']} | {accel} | "
                     f"{_secs(s['boot_seconds'])} | {_secs(s['wall_seconds'])} | {s['passed']} | {s['failed']} | "
                     f"{s['skipped']} |")
    notes = [f"* {s['kernel']}: {s['message']}" for s in summary if s["message"]]
    notes += [f"* {s['kernel']}: {s['accel']}" for s in summary if "(" in s["accel"]]
    return "\n".join(lines + ([""] + notes if notes else [])) + "\n"
