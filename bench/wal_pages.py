#!/usr/bin/env python3
"""Pages per commit in a ledger's WAL, by the b-tree each page belongs to.

What a strict commit writes, counted rather than timed (the load does not move it): run a
daemon on a copy of a ledger whose WAL is empty (a daemon that stopped cleanly leaves
none), make some commits, stop it with kill -9 (a clean stop would checkpoint the WAL
away), then

    python3 bench/wal_pages.py /path/to/ledger.db

It reads the WAL's frames up to the first one of another generation (salt), splits them
at commit frames, and names each page's b-tree with SQLite's dbstat table (the Python
module's SQLite has it). Pages freed since are counted as "free/other".
"""
import collections
import sqlite3
import struct
import sys

WAL_HEADER_BYTES = 32
FRAME_HEADER_BYTES = 24


def frames_of(wal):
    page_size = struct.unpack('>I', wal[8:12])[0]
    salt = wal[16:24]
    offset = WAL_HEADER_BYTES
    while offset + FRAME_HEADER_BYTES + page_size <= len(wal):
        page, commit_size = struct.unpack('>II', wal[offset:offset + 8])
        if wal[offset + 8:offset + 16] != salt:
            break  # a frame left from an earlier generation of the WAL
        yield page, commit_size != 0
        offset += FRAME_HEADER_BYTES + page_size


def main(db):
    with open(db + '-wal', 'rb') as f:
        wal = f.read()
    connection = sqlite3.connect('file:' + db + '?mode=ro', uri=True)
    owner = dict(connection.execute('SELECT pageno, name FROM dbstat'))
    per_tree = collections.Counter()
    frames = commits = 0
    pending = []
    for page, is_commit in frames_of(wal):
        frames += 1
        pending.append(page)
        if is_commit:
            commits += 1
            per_tree.update(owner.get(p, 'free/other') for p in pending)
            pending = []
    commits = max(commits, 1)
    print('%d frames, %d commits, %.2f pages a commit' % (frames, commits, frames / commits))
    for tree, count in per_tree.most_common():
        print('  %-28s %.2f' % (tree, count / commits))


if __name__ == '__main__':
    if len(sys.argv) != 2:
        sys.exit('usage: wal_pages.py LEDGER.db (with its -wal beside it)')
    main(sys.argv[1])
