"""STAR files (RELION's CIF dialect): read and write by label, never by column.

A file is a list of :class:`Block`. A block holds either label/value pairs
(``block.pairs``) or a table (``block.loop``: ``labels`` and ``rows``), and RELION
writes both kinds. Values stay strings; callers convert what they need with
:meth:`Block.get`, :meth:`Block.column`.
"""
import os
import shlex

from relion_dem.core.io.atomic import atomic_output


class StarError(ValueError):
    """A STAR file is missing, unreadable, or lacks a label that was asked for."""


class Block:
    def __init__(self, name, pairs=None, labels=None, rows=None):
        self.name = name
        self.pairs = dict(pairs or {})
        self.labels = list(labels or [])
        self.rows = [list(r) for r in (rows or [])]
        self.source = None

    @property
    def is_loop(self):
        return bool(self.labels)

    def has(self, label):
        label = _label(label)
        return label in self.pairs or label in self.labels

    def get(self, label, cast=str, default=None):
        """A label/value pair, or the first row's value of a loop column."""
        label = _label(label)
        if label in self.pairs:
            return cast(self.pairs[label])
        if label in self.labels and self.rows:
            return cast(self.rows[0][self.labels.index(label)])
        if default is not None:
            return default
        raise StarError('%s: block data_%s has no label %s'
                        % (self.source or '<memory>', self.name, label))

    def column(self, label, cast=str):
        label = _label(label)
        if label not in self.labels:
            raise StarError('%s: loop of data_%s has no column %s'
                            % (self.source or '<memory>', self.name, label))
        i = self.labels.index(label)
        return [cast(r[i]) for r in self.rows]

    def records(self):
        """Rows as dicts keyed by label (without the leading underscore)."""
        return [dict(zip([l[1:] for l in self.labels], r)) for r in self.rows]


def _label(label):
    return label if label.startswith('_') else '_' + label


def _tokens(line):
    if "'" in line or '"' in line:
        try:
            return shlex.split(line, comments=False, posix=True)
        except ValueError:
            pass
    return line.split()


def parse(text, source=None):
    """Parse STAR text into a list of blocks."""
    blocks, block, in_loop, loop_header = [], None, False, False
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith('#'):
            if not line and in_loop and not loop_header:
                in_loop = False
            continue
        if line.startswith('data_'):
            block = Block(line[5:])
            block.source = source
            blocks.append(block)
            in_loop = loop_header = False
            continue
        if block is None:
            raise StarError('%s:%d: content before the first data_ block'
                            % (source or '<memory>', lineno))
        if line.startswith('loop_'):
            in_loop = loop_header = True
            continue
        if line.startswith('_'):
            if in_loop and loop_header:
                block.labels.append(line.split()[0])
                continue
            in_loop = False
            label, rest = (line.split(None, 1) + [''])[:2]
            rest = rest.strip()
            if rest[:1] in ('"', "'"):
                parts = _tokens(rest)
                rest = parts[0] if parts else ''
            # unquoted: the rest of the line (RELION writes paths with spaces unquoted)
            block.pairs[label] = rest
            continue
        if in_loop:
            loop_header = False
            row = _tokens(line)
            if len(row) != len(block.labels):
                raise StarError('%s:%d: row has %d values for %d columns'
                                % (source or '<memory>', lineno, len(row), len(block.labels)))
            block.rows.append(row)
            continue
        raise StarError('%s:%d: unexpected text %r' % (source or '<memory>', lineno, line[:40]))
    return blocks


def read(path):
    """Read a STAR file; a clear :class:`StarError` names the file on any problem."""
    try:
        with open(path) as f:
            text = f.read()
    except OSError as e:
        raise StarError('%s: cannot read STAR file (%s)' % (path, e.strerror or e))
    except UnicodeDecodeError:
        raise StarError('%s: not a text STAR file' % path)
    blocks = parse(text, source=str(path))
    if not blocks:
        raise StarError('%s: no data_ block; not a STAR file' % path)
    return blocks


def block(blocks, name):
    """The block called ``name``; ``StarError`` naming the file if absent."""
    for b in blocks:
        if b.name == name:
            return b
    src = blocks[0].source if blocks else '<memory>'
    raise StarError('%s: no block data_%s (found: %s)'
                    % (src, name, ', '.join('data_' + b.name for b in blocks) or 'none'))


def first_value(path, label, cast=str):
    """``label``'s value in the first block of the file that has it; None if none has it
    or it does not convert with ``cast``."""
    return lookup(read(path), label, cast)


def lookup(blocks, label, cast=str):
    """:func:`first_value` on blocks already read (several labels, one read of the file)."""
    for b in blocks:
        if b.has(label):
            try:
                return b.get(label, cast)
            except ValueError:
                return None
    return None


def format_value(value):
    s = str(value)
    if s == '' or any(c.isspace() for c in s) or s[0] in '_#\'"' or s.startswith(('data_', 'loop_')):
        return '"%s"' % s if '"' not in s else "'%s'" % s
    return s


def dumps(blocks):
    out = ['', '# version 30001', '']
    for b in blocks:
        out += ['data_%s' % b.name, '']
        for k, v in b.pairs.items():
            out.append('%s %s' % (k, format_value(v)))
        if b.labels:
            out.append('loop_')
            out += ['%s #%d' % (l, i + 1) for i, l in enumerate(b.labels)]
            out += [' '.join(format_value(v) for v in r) for r in b.rows]
        out.append('')
    return '\n'.join(out) + '\n'


def write(path, blocks):
    """Write blocks atomically: readers see the old file or the whole new one."""
    with atomic_output(path) as tmp:
        with open(tmp, 'w') as f:
            f.write(dumps(blocks))
    return os.fspath(path)
