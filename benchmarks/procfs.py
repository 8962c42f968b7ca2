"""Read process trees and memory figures (VmHWM, VmRSS, PSS) from Linux /proc."""

from pathlib import Path

PROC = Path("/proc")


def parent_of(pid: int) -> int | None:
    """The parent pid from /proc/<pid>/stat, or None if the process is gone."""
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # The command name may hold spaces or parentheses: fields resume after the last ')'.
    fields = stat.rsplit(")", 1)[-1].split()
    return int(fields[1])


def descendants(root: int) -> list[int]:
    """Every live process below `root` (children, grandchildren...), not `root` itself."""
    children: dict[int, list[int]] = {}
    for entry in PROC.iterdir():
        if entry.name.isdigit():
            parent = parent_of(int(entry.name))
            if parent is not None:
                children.setdefault(parent, []).append(int(entry.name))
    found: list[int] = []
    stack = list(children.get(root, []))
    while stack:
        pid = stack.pop()
        found.append(pid)
        stack.extend(children.get(pid, []))
    return found


def children_of(root: int) -> list[int]:
    """The direct children of `root`."""
    return [pid for pid in descendants(root) if parent_of(pid) == root]


def cmdline(pid: int) -> list[str]:
    """The process's arguments, or [] if it is gone."""
    try:
        raw = (PROC / str(pid) / "cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def status_kib(pid: int, key: str) -> int | None:
    """A `kB` field of /proc/<pid>/status (e.g. VmHWM, VmRSS), or None if unavailable."""
    return _field_kib(PROC / str(pid) / "status", key)


def pss_kib(pid: int) -> int | None:
    """The proportional set size from /proc/<pid>/smaps_rollup, or None if unavailable."""
    return _field_kib(PROC / str(pid) / "smaps_rollup", "Pss")


def _field_kib(path: Path, key: str) -> int | None:
    try:
        text = path.read_text()
    except OSError:
        return None
    for line in text.splitlines():
        name, _, rest = line.partition(":")
        if name == key:
            return int(rest.split()[0])
    return None
