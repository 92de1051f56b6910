"""The enhancer registry: a backend is one module of the package, described by its class
attributes, and then appears in every place users meet backends (the command line's
``--enhancer``, the Scipion form's choices, ``relion_dem doctor``, the methods text and
citations). A backend module with a missing third-party import is reported by name; one with
a broken import of relion_dem's own code, or a syntax error, raises."""
import argparse
import importlib
import re
import sys

import pytest

from relion_dem import bibtex
from relion_dem.cli import build_parser
from relion_dem.core import doctor, enhancers, options
from relion_dem.core.runtime import config as config_mod

#: the Scipion form's choices as released: saved projects store these indices
RELEASED_CHOICES = [
    ('bundled network (CPU)', 'network', {}),
    ('deepEMhancer tightTarget', 'deepemhancer', {'processing_type': 'tightTarget'}),
    ('deepEMhancer wideTarget', 'deepemhancer', {'processing_type': 'wideTarget'}),
    ('deepEMhancer highRes', 'deepemhancer', {'processing_type': 'highRes'}),
    ('custom Keras model', 'keras', {}),
    ('classical filter (no network)', 'classical', {}),
    ('none (control run)', 'none', {}),
]

#: a whole backend: the only file a developer writes to add it
TOY_MODULE = '''\
"""Backend ``toy``: a test backend, one module and nothing else edited."""
import sys

from relion_dem.core.enhancers import Enhancer, EnhancerError, Variant, register


@register
class ToyEnhancer(Enhancer):
    """Copies the map (a test backend)."""
    name = 'toy'
    label = 'toy copier'
    variants = [Variant('toy copier gentle', {'strength': 1}), Variant('toy copier strong', {'strength': 2})]
    form_index = (%(first)d, %(first)d + 1)
    install_hint = 'pip install toy-copier'
    citations = ('Chen2013',)
    uses_gpu = True
    methods = 'The toy copier [Chen2013] copied each half-map.'
    options = {'strength': 1, 'installed': False}

    def command(self, input_path, output_path, ctx):
        return [sys.executable, '-c', 'import shutil, sys; shutil.copy(*sys.argv[1:])', input_path, output_path]

    def check(self):
        if not self.opts['installed']:
            raise EnhancerError('enhancer toy: the toy copier is not installed')
'''


@pytest.fixture
def package_dir(tmp_path, monkeypatch):
    """A folder that is part of the enhancers package (as if its files were in the package's
    own folder); the registry and the modules imported from it are restored afterwards."""
    backends, missing = dict(enhancers.BACKENDS), dict(enhancers.MISSING)
    before = set(sys.modules)
    monkeypatch.setattr(enhancers, '__path__', list(enhancers.__path__) + [str(tmp_path)])
    yield tmp_path
    enhancers.BACKENDS.clear()
    enhancers.BACKENDS.update(backends)
    enhancers.MISSING.clear()
    enhancers.MISSING.update(missing)
    for name in set(sys.modules) - before:
        if name.startswith(enhancers.__name__ + '.'):
            del sys.modules[name]
            if hasattr(enhancers, name.rpartition('.')[2]):
                delattr(enhancers, name.rpartition('.')[2])


def add_module(folder, name, text):
    """Write backend module ``name`` into the package and run the package's discovery."""
    (folder / ('%s.py' % name)).write_text(text)
    importlib.invalidate_caches()
    enhancers.load_backends()


def enhancer_choices(parser):
    """The choices of ``--enhancer`` in ``parser`` or any of its subcommands."""
    for action in parser._actions:
        if '--enhancer' in action.option_strings:
            return action.choices
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                found = enhancer_choices(sub)
                if found:
                    return found
    return None


def test_released_form_choices_keep_their_index():
    """A saved project's enhancer index means what it meant when the project was saved."""
    choices = enhancers.form_choices()
    assert [tuple(c) for c in choices[:len(RELEASED_CHOICES)]] == RELEASED_CHOICES
    assert all(c.name in enhancers.BACKENDS for c in choices)


def test_every_backend_describes_itself():
    keys = set(re.findall(r'@article\{(\w+),', bibtex.__doc__))
    for name, cls in enhancers.BACKENDS.items():
        assert cls.name == name and cls.label, name
        assert (cls.__doc__ or '').strip(), name
        assert set(cls.citations) <= keys, name
        assert set(re.findall(r'\[(\w+)\]', cls.methods)) <= set(cls.citations), name
        assert set(cls.options) >= set(k for _, v in cls.choices() for k in v.options), name


def test_scipion_install_hints_name_the_plugin_binaries():
    """The hints (core never imports the Scipion constants) name the binaries the plugin defines."""
    from relion_dem import constants as C
    assert 'installb %s' % C.NETWORK_PACKAGE in enhancers.install_hint('network', scipion=True)
    assert 'installb %s' % C.NETWORK_PACKAGE in enhancers.install_hint('keras', scipion=True)
    hint = enhancers.install_hint('deepemhancer', scipion=True)
    for name in (C.DEEPEMHANCER_PACKAGE, C.RELION_DEM_DEEPEMHANCER_ACTIVATION, C.RELION_DEM_DEEPEMHANCER_MODELS):
        assert name in hint
    assert enhancers.install_hint('network') == 'relion_dem install-network'


def test_a_backend_module_appears_everywhere(package_dir, capsys):
    first = len(enhancers.form_choices())
    add_module(package_dir, 'toy', TOY_MODULE % {'first': first})
    assert enhancers.BACKENDS['toy'].__module__ == 'relion_dem.core.enhancers.toy'

    # the command line
    assert 'toy' in enhancer_choices(build_parser())
    assert build_parser().parse_args(['refine', '--enhancer', 'toy']).enhancer == 'toy'
    group = argparse.ArgumentParser()
    options.add_enhancer_arguments(group)
    assert 'toy' in enhancer_choices(group)
    with pytest.raises(SystemExit):
        build_parser().parse_args(['refine', '--help'])
    assert 'toy: toy copier' in ' '.join(capsys.readouterr().out.split())

    # the Scipion form: labels, the backend and its variant's options; the GPU fields follow
    choices = enhancers.form_choices()
    assert [tuple(c) for c in choices[:len(RELEASED_CHOICES)]] == RELEASED_CHOICES
    assert choices[first:] == [enhancers.Choice('toy copier gentle', 'toy', {'strength': 1}),
                               enhancers.Choice('toy copier strong', 'toy', {'strength': 2})]
    assert enhancers.choice_index('toy', strength=2) == first + 1
    assert enhancers.choice_indices(uses_gpu=True)[-2:] == [first, first + 1]

    # doctor: checked, reported with its install hint
    rows = dict(doctor.checks())
    assert 'toy enhancer' in rows
    ok, message, fix = rows['toy enhancer']()
    assert (ok, fix) == (False, 'pip install toy-copier') and 'not installed' in message
    assert 'toy copier is not installed' in enhancers.unavailable('toy')
    assert any(name == 'toy enhancer' and ok is False for name, ok, _, _ in doctor.run_checks())

    # methods text and citations
    assert enhancers.methods_text('toy') == 'The toy copier [Chen2013] copied each half-map.'
    assert enhancers.citations('toy') == ['Chen2013']
    assert enhancers.install_hint('toy') == enhancers.install_hint('toy', scipion=True) == 'pip install toy-copier'

    # and it runs: the configuration accepts it, create() builds it with the variant's options
    cfg = config_mod.validate({'enhancer': 'toy', 'enhancer_options': {'strength': 2, 'installed': True}})
    backend = enhancers.create(cfg)
    backend.check()
    assert backend.opts['strength'] == 2


def test_two_backends_cannot_share_a_name_or_a_form_index(package_dir):
    add_module(package_dir, 'toy', TOY_MODULE % {'first': len(enhancers.form_choices())})
    with pytest.raises(TypeError, match='registered twice'):
        add_module(package_dir, 'toy_again', TOY_MODULE.replace('class ToyEnhancer', 'class OtherToy')
                   % {'first': 100})
    (package_dir / 'toy_again.py').unlink()
    add_module(package_dir, 'toy_clash', TOY_MODULE.replace("name = 'toy'", "name = 'toy_clash'") % {'first': 0})
    with pytest.raises(TypeError, match='form index 0'):
        enhancers.form_choices()


def test_a_missing_third_party_import_is_reported_by_name(package_dir):
    add_module(package_dir, 'toy_missing', 'import toy_absent_dependency_xyz\n'
               + TOY_MODULE.replace("name = 'toy'", "name = 'toy_missing'") % {'first': 100})
    assert 'toy_missing' not in enhancers.BACKENDS
    assert enhancers.MISSING == {'toy_missing': 'toy_absent_dependency_xyz'}
    why = enhancers.unavailable('toy_missing')
    assert 'toy_missing' in why and 'toy_absent_dependency_xyz' in why
    # the other backends are untouched, and their reasons say which module is missing
    assert enhancers.unavailable('classical') is None
    assert 'toy_absent_dependency_xyz' in enhancers.unavailable('no_such_enhancer')
    with pytest.raises(config_mod.ConfigError, match='toy_absent_dependency_xyz'):
        config_mod.validate({'enhancer': 'toy_missing'})
    rows = dict(doctor.checks())
    ok, message, fix = rows['toy_missing enhancer']()
    assert ok is False and 'toy_absent_dependency_xyz' in message and fix == 'pip install toy_absent_dependency_xyz'
    # the Scipion form's released indices keep their meaning
    assert [tuple(c) for c in enhancers.form_choices()] == RELEASED_CHOICES


@pytest.mark.parametrize('bug, error', [
    ('from relion_dem.core.no_such_module import thing', ModuleNotFoundError),
    ('from relion_dem.core.enhancers.base import NoSuchName', ImportError),
    ('def broken(:\n    pass', SyntaxError),
])
def test_a_broken_backend_module_raises(package_dir, bug, error):
    with pytest.raises(error):
        add_module(package_dir, 'toy_broken', bug + '\n' + TOY_MODULE % {'first': 100})
    assert 'toy_broken' not in enhancers.MISSING
