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


def machine_busy_ticks() -> int:
    """Clock ticks all CPUs spent busy (not idle or iowait) since boot, from /proc/stat."""
    fields = [int(value) for value in (PROC / "stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    steal = fields[7] if len(fields) > 7 else 0  # time the hypervisor gave to others
    return sum(fields[:8]) - idle - steal


def process_ticks(pid: int, *, reaped_children: bool = False) -> int:
    """Clock ticks `pid` spent on CPU (user + system), plus its reaped children's if asked."""
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return 0
    fields = stat.rsplit(")", 1)[-1].split()
    ticks = int(fields[11]) + int(fields[12])
    if reaped_children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks
