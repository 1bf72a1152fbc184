"""Find or provision a working ``criu`` binary.

On the reference machines (Debian 12 "bookworm" on a 6.x kernel) the distribution's
criu (3.17) fails ``criu check``; CRIU 4.2.x from Debian's newer suites (sid/forky)
works but needs a newer glibc than the system has.  This package therefore builds a
*private, self-contained* criu:

* a private apt configuration under ``<cache_dir>/apt/<suite>/`` (own apt.conf read via
  ``APT_CONFIG``, own sources list, state, cache and lists; no system ``apt.conf.d``,
  ``sources.list.d`` or preferences are read, and nothing outside the cache dir is written),
* the mirror URI and keyring taken from the machine's own apt sources (the entry that
  carries the base release, e.g. ``bookworm``) - no mirror host is hard-coded here,
* ``apt-get download`` of criu and its recursive runtime dependencies (glibc included)
  plus ``libcriu-dev`` (for ``criu-plugin.h``), ``dpkg-deb -x`` into ``<prefix>/root``,
* the shared libraries (and the dynamic loader) gathered in ``<prefix>/lib`` and the criu
  binary copied to ``<prefix>/bin/criu`` and patched with ``patchelf --set-interpreter
  <prefix>/lib/ld-linux-x86-64.so.2 --force-rpath --set-rpath <prefix>/lib``.

The prefix is built in a temporary directory next to its final place and renamed into
place; a stamp file written (atomically) last marks success.  Provisioning runs under an
``fcntl.flock`` on ``<cache_dir>/criu.lock`` so that concurrent callers (xdist workers)
do not race.  The command line is ``zdtm provision`` (zdtm.cli).

Modules, each importing only siblings listed above it:

    common        ProvisionError, timeouts, running commands, file helpers
    apt_sources   the machine's apt sources: base release, mirror, keyring
    apt           the private apt (and a private newer keyring)
    stamp         the stamp of a finished provisioning, the lock
    prefix        assembling the prefix (libraries, patchelf), recognising it
    criu          provision_criu, criu_check, find_criu
    pycriu        provision_pycriu, find_pycriu (pycriu and crit for upstream's hooks)
    source        provision_criu_source (upstream's ZDTM tests, with pycriu)
"""

from __future__ import annotations

from .apt_sources import (AptSource, base_codename, derive_base_source, parse_deb822_sources,
                          parse_one_line_sources, read_apt_sources)
from .common import ProvisionError
from .criu import criu_check, find_criu, provision_criu
from .prefix import criu_prefix, plugin_include_dir
from .pycriu import Pycriu, find_pycriu, provision_pycriu
from .source import provision_criu_source
from .stamp import read_stamp

__all__ = [
    "ProvisionError",
    "find_criu",
    "provision_criu",
    "provision_criu_source",
    "provision_pycriu",
    "find_pycriu",
    "Pycriu",
    "criu_check",
    "criu_prefix",
    "plugin_include_dir",
    "AptSource",
    "parse_deb822_sources",
    "parse_one_line_sources",
    "read_apt_sources",
    "derive_base_source",
    "base_codename",
    "read_stamp",
]
