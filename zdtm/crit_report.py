"""A failed test's criu images, decoded with crit: CRIU's FAQ's way to see
why a C/R failed ("what did criu write?").

After a test fails with its images kept (--keep-img failed, the default),
every image of each C/R dir (img/N, and the pre-iterations' img/N.preM) is
decoded as `crit decode --pretty` would, into `crit-<dir>/<image>.json` in
the test's artifacts, and the report gets one section per dir: `crit x`'s
process tree (ps), files (fds) and memory maps (mems) of those images, and
where the decoded ones are. Raw data (pages-*.img) is listed, not decoded.

crit is the provisioned one (zdtm.provision.pycriu: Debian's python3-pycriu
of the criu's version, run by the system's python3); where it is not
provisioned the section says so and how to get it. The decoding runs in one
python3 process per dir (crit's own functions, not a crit per image), and
opens no image through a symlink: with owner-dump the images dir is the
workload uid's.

Any dir of images, from the command line:
    .venv/bin/python -m zdtm.crit_report IMAGES_DIR [OUT_DIR]
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Optional

TIMEOUT = 120
EXPLORERS = ("ps", "fds", "mems")
X_LINES = 150           # of each explorer's output in the report (the decoded images have it all)
_CHAIN = re.compile(r"\d+(\.(pre|snap)\d+)?")

# Run by the system's python3 with crit's site first on sys.path:
# argv = SITE IMAGES OUT; prints a JSON summary.
DECODER = r'''
import contextlib, io, json, os, stat, sys
site, images, out = sys.argv[1:4]
sys.path.insert(0, site)
import pycriu
from crit import __main__ as crit

summary = {"decoded": [], "raw": [], "errors": {}, "x": {}}
os.makedirs(out, exist_ok=True)
for name in sorted(os.listdir(images)):
    path = os.path.join(images, name)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError as e:
        summary["errors"][name] = "cannot open: %s" % e.strerror
        continue
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode):
            continue
        if st.st_size == 0:
            summary["raw"].append(name + " (empty)")
            continue
        try:
            img = pycriu.images.load(f, True)
        except pycriu.images.MagicException:
            summary["raw"].append(name)
            continue
        except Exception as e:
            summary["errors"][name] = "%s: %s" % (type(e).__name__, e)
            continue
    with open(os.path.join(out, name + ".json"), "w") as f:
        json.dump(img, f, indent=4)
    summary["decoded"].append(name)
summary["no_pstree"] = not os.path.exists(os.path.join(images, "pstree.img"))
for what in [] if summary["no_pstree"] else sys.argv[4:]:
    buf = io.StringIO()
    try:
        with contextlib.redirect_stdout(buf):
            crit.explore({"dir": images, "what": what})
    except Exception as e:
        buf.write("crit x %s failed: %s: %s\n" % (what, type(e).__name__, e))
    summary["x"][what] = buf.getvalue()
print(json.dumps(summary))
'''


class CritError(Exception):
    """crit could not decode a dir; str() says why."""


def decode_dir(images: Path, out: Path, site: str, python: str) -> dict:
    """Decode every image of images into out/NAME.json; the summary
    (decoded, raw, errors, x: {explorer: text})."""
    cmd = [python, "-I", "-c", DECODER, site, str(images), str(out), *EXPLORERS]
    try:
        res = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        raise CritError(f"crit did not finish decoding {images} within {TIMEOUT}s") from None
    except OSError as e:
        raise CritError(f"{python}: {e.strerror}") from None
    lines = res.stdout.strip().splitlines()
    if res.returncode != 0 or not lines:
        raise CritError(f"crit decoding {images} exited with {res.returncode}: "
                        + ((res.stderr.strip().splitlines() or ["no output"])[-1]))
    return json.loads(lines[-1])


def image_dirs(img_root: Path) -> list:
    """The C/R dirs of a test's img/: 1, 1.pre1, 2, ... (dump order)."""
    if not img_root.is_dir() or img_root.is_symlink():
        return []
    dirs = [p for p in img_root.iterdir() if p.is_dir() and not p.is_symlink() and _CHAIN.fullmatch(p.name)]
    return sorted(dirs, key=lambda p: [int(x) if x.isdigit() else x for x in re.split(r"(\d+)", p.name)])


def _section(images: Path, out: Path, summary: dict) -> tuple:
    decoded, raw, errors = summary["decoded"], summary["raw"], summary["errors"]
    parts = [f"{images}: {len(decoded)} images decoded into {out}/ (crit decode --pretty), "
             f"{len(raw)} raw ({' '.join(raw) or 'none'})"]
    parts += [f"not decoded: {name}: {why}" for name, why in sorted(errors.items())]
    if summary.get("no_pstree"):
        parts.append("crit x: not run, no pstree.img (the dump stopped before writing the process tree)")
    for what, text in summary["x"].items():
        lines = text.rstrip().splitlines()
        more = [f"... {len(lines) - X_LINES} more lines"] if len(lines) > X_LINES else []
        parts.append("\n".join([f"--- crit x {images} {what}", *lines[:X_LINES], *more]))
    title = f"crit: the images of {images.name} ({len(decoded)} decoded"
    return title + (f", {len(errors)} not)" if errors else ")"), "\n".join(parts)


def _crit_site(cache_dir: Optional[Path]):
    from .provision.pycriu import find_pycriu, system_python
    found = find_pycriu(cache_dir)
    return (str(found.site), system_python()) if found else (None, None)


def failure_sections(art: Path, img_root: Path, cache_dir: Optional[Path]) -> list:
    """(title, text) report sections for a failed test's kept images; the
    decoded images go to art/crit-<dir>/."""
    dirs = image_dirs(img_root)
    if not dirs:
        return []
    site, python = _crit_site(cache_dir)
    if site is None:
        return [("crit: not available", "the images are in {} but pycriu/crit of the criu under test is not "
                 "provisioned: `zdtm provision --source` installs it".format(img_root))]
    sections = []
    for images in dirs:
        out = art / f"crit-{images.name}"
        try:
            sections.append(_section(images, out, decode_dir(images, out, site, python)))
        except CritError as e:
            sections.append((f"crit: the images of {images.name} could not be decoded", str(e)))
    return sections


def main(argv=None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or len(args) > 2 or args[0].startswith("-"):
        print("usage: python -m zdtm.crit_report IMAGES_DIR [OUT_DIR]", file=sys.stderr)
        return 2
    images = Path(args[0])
    if not images.is_dir():
        print(f"{images}: not a directory of criu images", file=sys.stderr)
        return 1
    out = Path(args[1]) if len(args) > 1 else images.with_name(f"crit-{images.name}")
    site, python = _crit_site(None)
    if site is None:
        print("pycriu/crit is not provisioned: zdtm provision --source", file=sys.stderr)
        return 1
    try:
        title, text = _section(images, out, decode_dir(images, out, site, python))
    except CritError as e:
        print(e, file=sys.stderr)
        return 1
    print(f"{title}\n{text}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
