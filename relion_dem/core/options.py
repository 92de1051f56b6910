"""Command-line argument groups shared by ``relion_dem refine`` and ``relion_dem denoise``: the
enhancer and its options, the guards. Each ``add_*`` adds the arguments to a parser, each
``*_settings`` turns the parsed arguments into run-configuration keys
(:mod:`relion_dem.core.runtime.config`)."""
import json


class OptionError(ValueError):
    """A command-line value is malformed (the message names it)."""


def add_enhancer_arguments(group):
    """``--enhancer`` (the registered backends) and ``--enhancer-option KEY=VALUE``."""
    from relion_dem.core.enhancers import BACKENDS, help_text
    group.add_argument('--enhancer', choices=sorted(BACKENDS),
                       help='denoiser (default: the bundled network where its environment is installed, '
                            'else classical). %s' % help_text().replace('%', '%%'))
    group.add_argument('--enhancer-option', action='append', default=[], metavar='KEY=VALUE',
                       help='backend option (JSON value), repeatable, e.g. --enhancer-option dilate_A=8')


def add_guard_arguments(group, directions=True):
    """``--no-fsc-guard`` (alias ``--no-guard``), ``--no-harm-guard``, ``--harm-power-bound`` and,
    with ``directions`` (in the refinement loop, where RELION hands over its weights),
    ``--harm-directions``."""
    from relion_dem.core.guards.harm import DIRECTIONS, POWER_BOUNDS
    from relion_dem.core.runtime.config import DEFAULTS
    group.add_argument('--no-fsc-guard', '--no-guard', dest='no_fsc_guard', action='store_true',
                       help='disable the FSC guard (enhanced map kept beyond FSC < 1/7)')
    group.add_argument('--no-harm-guard', action='store_true',
                       help='disable the do-no-harm guard (enhanced map kept where it disagrees with the '
                            'data inside the resolved shells)')
    group.add_argument('--harm-power-bound', choices=POWER_BOUNDS, default=DEFAULTS['harm_power_bound'],
                       help='how loud the do-no-harm guard lets a shell be: plain (the plain map\'s power, '
                            'RELION\'s confidence weighting; default) or data (the power the data support, '
                            '|P|^2/FSC)')
    if directions:
        group.add_argument('--harm-directions', choices=DIRECTIONS, default=DEFAULTS['harm_directions'],
                           help='over which Fourier coefficients the do-no-harm guard judges each shell: all '
                                '(default) or those the half\'s data sampled (RELION\'s back-projected '
                                'weight; for a missing cone, where the network fills what the data lack)')


def enhancer_options(items):
    """``--enhancer-option KEY=VALUE`` items as a dict (values parsed as JSON when they are)."""
    options = {}
    for item in items:
        key, sep, value = item.partition('=')
        if not sep:
            raise OptionError('--enhancer-option needs KEY=VALUE, got %r' % item)
        try:
            options[key] = json.loads(value)
        except ValueError:
            options[key] = value
    return options


def enhancer_settings(a):
    """``enhancer`` and ``enhancer_options`` from parsed arguments."""
    return dict(enhancer=a.enhancer, enhancer_options=enhancer_options(a.enhancer_option))


def guard_settings(a):
    """``fsc_guard``, ``harm_guard``, ``harm_power_bound`` (and ``harm_directions`` where parsed)
    from parsed arguments."""
    out = dict(fsc_guard=not a.no_fsc_guard, harm_guard=not a.no_harm_guard, harm_power_bound=a.harm_power_bound)
    if hasattr(a, 'harm_directions'):
        out['harm_directions'] = a.harm_directions
    return out
