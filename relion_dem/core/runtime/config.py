"""Run configuration of the external-reconstruct runtime.

A JSON file written beside the run by ``relion_dem refine`` (or the Scipion
protocol, or by hand). The runtime finds it, in order: the file named by
``$RELION_DEM_CONFIG``; ``<root>_relion_dem.json`` for the run root of the
STAR it was called with; ``relion_dem.json`` in the STAR's folder. Without any,
it makes the plain reconstruction (:data:`UNCONFIGURED`, logged). A file that names
no enhancer gets the default one (:func:`relion_dem.core.enhancers.default_enhancer`:
the bundled network where it can run, else the classical filter), as the command line
and the Scipion form do.
"""
import json
import os

from relion_dem.core.guards.harm import DIRECTIONS, POWER_BOUNDS
from relion_dem.core.guards.threshold import THRESHOLD
from relion_dem.core.io.atomic import atomic_output
from relion_dem.core.io.layout import RelionRun

ENV_VAR = 'RELION_DEM_CONFIG'
FILE_NAME = 'relion_dem.json'
GATES = ('local_searches', 'stalled', 'from_iteration', 'always', 'never')

DEFAULTS = {
    'enhancer': None,              # a name from relion_dem.core.enhancers.BACKENDS; None: the default
    'enhancer_options': {},        # backend-specific settings (see each backend)
    'gate': 'stalled',             # when to regularize, one of GATES (benchmarks/results/gate-summary.md)
    'gate_iteration': 1,           # first iteration regularized with gate 'from_iteration'
    'gate_stall_iterations': 2,    # gate 'stalled': RELION's iterations without resolution gain
    'local_healpix_order': None,   # None: RELION's --auto_local_healpix_order, read from the run
    'regularize_final': False,     # the final (no _half) reconstruction stays plain by default
    'fsc_guard': True,             # FSC guard: plain map beyond FSC < guard_threshold (core.guards.fsc)
    'harm_guard': True,            # do-no-harm guard inside the resolved shells (core.guards.harm)
    'harm_power_bound': 'plain',   # its power bound per shell: 'plain' (|P|²) or 'data' (|P|²/F)
    'harm_directions': 'all',      # it judges each shell over 'all' coefficients or those 'sampled'
    'guard_threshold': THRESHOLD,
    'timeout_s': 1800.0,           # the enhancer is killed (whole process group) after this
    'device_lock': None,           # lock file shared by halves that use one GPU; None: no lock
    'lock_timeout_s': 3600.0,
    'voxel_size': None,            # Å; None: _rlnPixelSize of the run's latest _model.star
    'log': None,                   # JSON-lines run log; None: <root>_relion_dem.jsonl beside the STAR
    'keep_maps': False,            # keep the plain and enhanced maps of each call for inspection
    'skip_gridding': False,        # RELION >= 4: relion_external_reconstruct --skip_gridding, as RELION's
                                   # own reconstruction does unless run with --dont_skip_gridding
    'minres_map': 5,               # the prior (tau2) term from this Fourier shell on, as relion_refine's
                                   # --minres_map (relion_external_reconstruct alone adds it at every shell)
}


#: earlier names of settings, still read: {old: new}
RENAMED = {'guard': 'fsc_guard'}

#: what the runtime runs with when it finds no configuration: the plain reconstruction
UNCONFIGURED = {'enhancer': 'none'}


class ConfigError(ValueError):
    """The configuration file is unreadable or holds a bad setting."""


def validate(cfg, source='<config>'):
    """Return a complete configuration (defaults filled in); ConfigError naming ``source``."""
    cfg = {RENAMED.get(k, k): v for k, v in cfg.items()}
    unknown = sorted(set(cfg) - set(DEFAULTS))
    if unknown:
        raise ConfigError('%s: unknown setting(s) %s; known: %s'
                          % (source, ', '.join(unknown), ', '.join(sorted(DEFAULTS))))
    out = dict(DEFAULTS)
    out.update(cfg)
    from relion_dem.core.enhancers import BACKENDS, MISSING, default_enhancer, not_loaded
    if out['enhancer'] is None:
        out['enhancer'] = default_enhancer()[0]
    if out['enhancer'] not in BACKENDS:
        raise ConfigError('%s: enhancer %r is not one of %s%s'
                          % (source, out['enhancer'], ', '.join(sorted(BACKENDS)),
                             ' (%s)' % not_loaded(out['enhancer']) if MISSING else ''))
    if out['gate'] not in GATES:
        raise ConfigError('%s: gate %r is not one of %s' % (source, out['gate'], ', '.join(GATES)))
    if out['harm_power_bound'] not in POWER_BOUNDS:
        raise ConfigError('%s: harm_power_bound %r is not one of %s'
                          % (source, out['harm_power_bound'], ', '.join(POWER_BOUNDS)))
    if out['harm_directions'] not in DIRECTIONS:
        raise ConfigError('%s: harm_directions %r is not one of %s'
                          % (source, out['harm_directions'], ', '.join(DIRECTIONS)))
    if not isinstance(out['enhancer_options'], dict):
        raise ConfigError('%s: enhancer_options must be a JSON object' % source)
    for key in ('timeout_s', 'lock_timeout_s', 'guard_threshold', 'gate_iteration', 'gate_stall_iterations'):
        if not isinstance(out[key], (int, float)) or isinstance(out[key], bool) or out[key] < 0:
            raise ConfigError('%s: %s must be a non-negative number, not %r' % (source, key, out[key]))
    if not isinstance(out['minres_map'], int) or isinstance(out['minres_map'], bool) or out['minres_map'] < 0:
        raise ConfigError('%s: minres_map must be a non-negative integer (a Fourier shell), not %r'
                          % (source, out['minres_map']))
    if out['local_healpix_order'] is not None and not isinstance(out['local_healpix_order'], int):
        raise ConfigError('%s: local_healpix_order must be an integer or null' % source)
    if out['voxel_size'] is not None and not (isinstance(out['voxel_size'], (int, float)) and out['voxel_size'] > 0):
        raise ConfigError('%s: voxel_size must be a positive number or null' % source)
    return out


def load(path):
    try:
        with open(path) as f:
            cfg = json.load(f)
    except OSError as e:
        raise ConfigError('%s: cannot read configuration (%s)' % (path, e.strerror or e))
    except ValueError as e:
        raise ConfigError('%s: not valid JSON (%s)' % (path, e))
    if not isinstance(cfg, dict):
        raise ConfigError('%s: configuration must be a JSON object' % path)
    cfg = validate(cfg, path)
    cfg['_source'] = os.path.abspath(path)
    return cfg


def locate(root):
    """Path of the configuration for run root ``root`` (see module doc), or None."""
    env = os.environ.get(ENV_VAR)
    if env:
        return env
    for cand in (RelionRun(root).config, os.path.join(os.path.dirname(root) or '.', FILE_NAME)):
        if os.path.exists(cand):
            return cand
    return None


def write(path, cfg):
    """Validate and write a configuration atomically; return the complete dict."""
    full = validate({k: v for k, v in cfg.items() if not k.startswith('_')}, path)
    with atomic_output(path) as tmp:
        with open(tmp, 'w') as f:
            json.dump(full, f, indent=1, sort_keys=True)
            f.write('\n')
    return full
