"""Who holds a claim on work (an outbox row, an import): a name that says which process on which
machine, and the one check that can tell, for certain, that the holder is gone.

A claimer name is `<host key>:<pid>:<nonce>`. The host key names the machine's running kernel and
PID namespace, so a process only ever judges the processes it can see; a claim from elsewhere is
only ever recovered when its lease runs out.
"""

from __future__ import annotations

import hashlib
import os
import socket


def _host_key() -> str:
    # PIDs are only comparable inside one PID namespace of one running kernel: the key names that
    # (boot id + namespace), so two containers with the same hostname never judge each other.
    parts = [socket.gethostname()]
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as handle:
            parts.append(handle.read().strip())
    except OSError:
        parts.append("?")
    try:
        parts.append(os.readlink("/proc/self/ns/pid"))
    except OSError:
        parts.append("?")
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


HOST_KEY = _host_key()


def claimer_name() -> str:
    return f"{HOST_KEY}:{os.getpid()}:{os.urandom(4).hex()}"


def claimer_is_gone(claimed_by: str) -> bool:
    """True only when certain: the claimer was a process on this host that no longer runs."""
    host, _, rest = claimed_by.partition(":")
    pid_text = rest.partition(":")[0]
    if host != HOST_KEY or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    # A zombie (killed, not yet reaped by its parent) still answers kill(0).
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False
