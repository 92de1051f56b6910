"""The run log: one JSON object per external-reconstruct call, appended to a .jsonl file.

Both halves append at the same time; each record is one ``write`` under an
exclusive ``flock``, so lines never interleave.
"""
import fcntl
import json
import os


def append(path, record):
    line = json.dumps(record, sort_keys=True) + '\n'
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def read(path):
    """All records of a run log (a truncated last line, e.g. after a crash, is skipped)."""
    records = []
    if not os.path.exists(path):
        return records
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            try:
                records.append(json.loads(line))
            except ValueError:
                continue
    return records
