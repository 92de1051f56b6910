"""The core's layers: every import points down, none reaches the command line or Scipion.

Layers, lowest first: maths, io, guards, network (the bundled network's inference, server and
installation), enhancers (the backends, one of which wraps the network), runtime, postprocess,
simulation, analysis. Modules directly in ``core/`` (``options``, ``doctor``) sit above them all.
"""
import ast
import pathlib

CORE = pathlib.Path(__file__).resolve().parent.parent / 'relion_dem' / 'core'
LAYERS = ('maths', 'io', 'guards', 'network', 'enhancers', 'runtime', 'postprocess', 'simulation', 'analysis')
OUTSIDE = ('relion_dem.cli', 'relion_dem.protocols', 'relion_dem.viewers', 'relion_dem.plugin', 'pyworkflow',
           'pwem', 'relion')


def outside(module):
    """Whether ``module`` is the command line, the Scipion layer or Scipion itself."""
    return any(module == o or module.startswith(o + '.') for o in OUTSIDE)


def imports(path):
    """(line, imported module) of every import in ``path`` (relative imports resolved)."""
    rel = path.relative_to(CORE.parent.parent)
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ''
            if node.level:
                parts = list(rel.with_suffix('').parts[:-node.level])
                base = '.'.join(parts + ([node.module] if node.module else []))
            yield node.lineno, base
            for alias in node.names:
                yield node.lineno, base + '.' + alias.name
        elif isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name


def layer(module):
    parts = module.split('.')
    return parts[2] if parts[:2] == ['relion_dem', 'core'] and len(parts) > 2 and parts[2] in LAYERS else None


def test_every_import_in_core_points_down():
    upward = []
    for path in sorted(CORE.rglob('*.py')):
        parts = path.relative_to(CORE).parts
        if len(parts) < 2 or parts[0] not in LAYERS:
            continue
        here = LAYERS.index(parts[0])
        for line, module in imports(path):
            target = layer(module)
            if target and LAYERS.index(target) > here:
                upward.append('%s:%d imports %s' % (path.relative_to(CORE), line, module))
    assert not upward, upward


def test_core_never_imports_the_command_line_or_scipion():
    found = ['%s:%d imports %s' % (path.relative_to(CORE), line, module)
             for path in sorted(CORE.rglob('*.py')) for line, module in imports(path)
             if outside(module)]
    assert not found, found
