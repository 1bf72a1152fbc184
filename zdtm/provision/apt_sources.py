"""The machine's own apt configuration, read only: its sources (both formats),
its base release, and from them the mirror URI and keyring that provisioning
uses for Debian's newer suites (no mirror host is hard-coded)."""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from .common import T_APT_QUERY, ProvisionError, _run

DEFAULT_KEYRING = Path("/usr/share/keyrings/debian-archive-keyring.gpg")


# ----------------------------------------------------------------- apt sources parsing


@dataclass
class AptSource:
    types: list[str]
    uris: list[str]
    suites: list[str]
    components: list[str]
    signed_by: str | None = None  # a path, or an embedded (armored) key block
    options: dict[str, str] = field(default_factory=dict)
    origin: str = ""  # file the entry came from


def parse_deb822_sources(text: str, origin: str = "") -> list[AptSource]:
    """Parse a deb822 ``*.sources`` file (disabled stanzas are skipped)."""
    entries: list[AptSource] = []
    stanzas: list[dict[str, str]] = []
    cur: dict[str, str] = {}
    last_key: str | None = None
    for raw in text.splitlines():
        if raw.startswith("#"):
            continue
        if not raw.strip():
            if cur:
                stanzas.append(cur)
            cur, last_key = {}, None
            continue
        if raw[0] in " \t":
            if last_key is not None:
                cont = raw.strip()
                cur[last_key] += "\n" + ("" if cont == "." else cont)
            continue
        key, sep, value = raw.partition(":")
        if not sep:
            continue
        last_key = key.strip().lower()
        cur[last_key] = value.strip()
    if cur:
        stanzas.append(cur)

    for st in stanzas:
        if st.get("enabled", "yes").strip().lower() in ("no", "false", "0"):
            continue
        signed = st.get("signed-by")
        signed = signed.strip() if signed else None
        entries.append(
            AptSource(
                types=st.get("types", "").split(),
                uris=st.get("uris", "").split(),
                suites=st.get("suites", "").split(),
                components=st.get("components", "").split(),
                signed_by=signed or None,
                options={k: v for k, v in st.items()
                         if k not in ("types", "uris", "suites", "components", "signed-by")},
                origin=origin,
            )
        )
    return entries


def parse_one_line_sources(text: str, origin: str = "") -> list[AptSource]:
    """Parse one-line ``sources.list`` format (``deb [opts] uri suite comp...``)."""
    entries: list[AptSource] = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        m = re.match(r"^(deb|deb-src)\s+(?:\[([^\]]*)\]\s+)?(\S+)\s+(\S+)(.*)$", line)
        if not m:
            continue
        typ, opts, uri, suite, comps = m.groups()
        options: dict[str, str] = {}
        for opt in (opts or "").split():
            k, _, v = opt.partition("=")
            options[k.lower()] = v
        signed = options.pop("signed-by", None)
        entries.append(
            AptSource(
                types=[typ],
                uris=[uri],
                suites=[suite],
                components=comps.split(),
                signed_by=signed or None,
                options=options,
                origin=origin,
            )
        )
    return entries


def read_apt_sources(etc_apt: Path = Path("/etc/apt")) -> list[AptSource]:
    """All configured entries, in apt's order: sources.list, then sources.list.d/*."""
    entries: list[AptSource] = []
    main = etc_apt / "sources.list"
    if main.is_file():
        entries += parse_one_line_sources(main.read_text(errors="replace"), str(main))
    d = etc_apt / "sources.list.d"
    if d.is_dir():
        for f in sorted(d.iterdir()):
            if not f.is_file():
                continue
            if f.suffix == ".list":
                entries += parse_one_line_sources(f.read_text(errors="replace"), str(f))
            elif f.suffix == ".sources":
                entries += parse_deb822_sources(f.read_text(errors="replace"), str(f))
    return entries


def base_codename(os_release: Path = Path("/etc/os-release")) -> str:
    try:
        text = os_release.read_text()
    except OSError as e:
        raise ProvisionError(f"detect base release: cannot read {os_release}: {e}") from None
    for line in text.splitlines():
        k, _, v = line.partition("=")
        if k.strip() == "VERSION_CODENAME" and v.strip().strip('"'):
            return v.strip().strip('"')
    raise ProvisionError(f"detect base release: no VERSION_CODENAME in {os_release}")


def derive_base_source(codename: str, entries: Iterable[AptSource]) -> tuple[str, str | None]:
    """(URI, Signed-By) of the first ``deb`` entry whose suites include *codename*
    itself (not ``<codename>-security``/``-updates``)."""
    candidates = []
    for e in entries:
        if "deb" not in e.types or codename not in e.suites:
            continue
        for uri in e.uris:
            if uri.startswith("cdrom:"):
                continue
            candidates.append((uri.rstrip("/"), e.signed_by))
    if not candidates:
        raise ProvisionError(
            f"derive mirror: no 'deb' apt source for suite {codename!r} found in "
            "/etc/apt/sources.list or /etc/apt/sources.list.d/*.{list,sources} "
            "(set ZDTM_APT_URI to a Debian mirror URI)"
        )
    # Prefer network mirrors over file: URIs (a local mirror rarely carries sid).
    candidates.sort(key=lambda c: not c[0].startswith(("http:", "https:", "mirror")))
    return candidates[0]


# ------------------------------------------------------- mirror, keyring, network settings

#: Settings copied from the system's apt configuration (network-related only).
_PASSTHROUGH_CONFIG = re.compile(
    r"^Acquire::(https?::Proxy|ftp::Proxy|Check-Valid-Until|Check-Date|ForceIPv4|ForceIPv6|Retries"
    r"|https?::Timeout)\b"
)


def _mirror(codename: str) -> tuple[str, str | None]:
    """(mirror URI, its signed-by) for the newer suites: $ZDTM_APT_URI, or
    derived from the machine's own apt sources."""
    override = os.environ.get("ZDTM_APT_URI")
    if override:
        return override.rstrip("/"), None
    return derive_base_source(codename, read_apt_sources())


def _system_apt_passthrough() -> list[str]:
    try:
        proc = _run(["apt-config", "dump"], "read apt config", T_APT_QUERY)
    except ProvisionError:
        return []
    return [ln for ln in proc.stdout.splitlines() if _PASSTHROUGH_CONFIG.match(ln)]


def _resolve_keyring(signed_by: str | None, apt_dir: Path) -> Path:
    """Keyring file for the Signed-By of the base entry (a path or an embedded key)."""
    if signed_by is None:
        if DEFAULT_KEYRING.is_file():
            return DEFAULT_KEYRING
        raise ProvisionError(
            "keyring: the base apt source has no Signed-By and "
            f"{DEFAULT_KEYRING} does not exist (install debian-archive-keyring)"
        )
    if "BEGIN PGP PUBLIC KEY BLOCK" in signed_by:
        apt_dir.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256(signed_by.encode()).hexdigest()[:16]
        f = apt_dir / f"embedded-{digest}.asc"
        f.write_text(signed_by.strip() + "\n")
        return f
    paths = [Path(p) for p in re.split(r"[\s,]+", signed_by) if p.startswith("/")]
    for p in paths:
        if p.is_file():
            return p
    if DEFAULT_KEYRING.is_file():
        return DEFAULT_KEYRING
    raise ProvisionError(f"keyring: Signed-By {signed_by!r} of the base apt source is not a readable file")
