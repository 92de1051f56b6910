"""The enhancer interface."""
import collections

from relion_dem.core.guards.threshold import THRESHOLD


class EnhancerError(RuntimeError):
    """The enhancer cannot be used (missing program, environment, model or bad option)."""


CallContext = collections.namedtuple(
    'CallContext', 'star iteration half voxel_size resolution fsc support_radius threshold')
CallContext.__new__.__defaults__ = (None, THRESHOLD)
CallContext.__doc__ = """What a backend may use: the call's STAR, iteration, half (None: final),
voxel size (Å), current resolution (Å), gold-standard FSC per shell, and the radius (Å) of
RELION's solvent mask, soft edge included (None when RELION does not flatten the solvent):
RELION zeroes the reference beyond it, so nothing there needs denoising; and the FSC threshold
of the guards (1/7 unless configured)."""


#: one choice a backend offers the Scipion form: its label and the options it sets
Variant = collections.namedtuple('Variant', 'label options')


class Enhancer:
    """A backend; its class attributes describe it to every user-facing place (command line,
    Scipion form, methods text, citations, ``relion_dem doctor``), so that adding a backend is
    one module in this package calling :func:`relion_dem.core.enhancers.register`. The first
    line of a backend's docstring describes it to users (the Scipion form's help)."""
    #: the value of ``--enhancer`` and of the configuration key ``enhancer``
    name = 'base'
    #: what users read (command-line help, Scipion form, doctor)
    label = None
    #: the Scipion form's choices for this backend, ``Variant(label, options)`` each (the options
    #: are merged into the backend's options); None: one choice, ``label`` with no options
    variants = None
    #: index of each variant in the Scipion form's choice list (an int for one variant). Saved
    #: projects store that index: a released index never changes, a new backend or variant takes
    #: the next free one (``form_choices()`` lists them). None: not offered in the form
    form_index = None
    #: the command that installs what the backend needs (None: nothing to install)
    install_hint = None
    #: the same for Scipion users (default: ``install_hint``)
    scipion_install_hint = None
    #: keys of its references in :mod:`relion_dem.bibtex`
    citations = ()
    #: True when it runs on a GPU: the Scipion form asks for the GPU ids (option ``gpu``) and a
    #: batch size (option ``batch_size``), and lets the two halves take turns on the device
    uses_gpu = False
    #: True when the user must give a model file (option ``model``; the Scipion form asks for it)
    user_model = False
    #: one sentence for a paper's methods section (citations as ``[BibtexKey]``)
    methods = ''
    #: False when ``relion_dem doctor`` cannot check it with the default options (it needs a
    #: program or a model file only the user gives) or there is nothing to check
    doctor_check = True
    #: option name -> default; unknown options are rejected
    options = {}

    def __init__(self, options=None):
        options = dict(options or {})
        unknown = sorted(set(options) - set(self.options))
        if unknown:
            raise EnhancerError('enhancer %s: unknown option(s) %s; known: %s'
                                % (self.name, ', '.join(unknown), ', '.join(sorted(self.options)) or 'none'))
        self.opts = dict(self.options)
        self.opts.update(options)

    def command(self, input_path, output_path, ctx):
        """Argument list of the program that writes ``output_path``; None keeps the plain map."""
        raise NotImplementedError

    def check(self):
        """Raise EnhancerError with the fix if the backend cannot run here."""

    def describe(self):
        """Short description for logs: the name, plus what the options select."""
        return self.name

    @classmethod
    def choices(cls):
        """The Scipion form's choices for this backend: ``[(index, Variant)]``."""
        if cls.form_index is None:
            return []
        variants = cls.variants or [Variant(cls.label or cls.name, {})]
        indices = (cls.form_index,) if isinstance(cls.form_index, int) else tuple(cls.form_index)
        if len(indices) != len(variants):
            raise TypeError('enhancer %s: %d form_index value(s) for %d variant(s)'
                            % (cls.name, len(indices), len(variants)))
        return [(i, Variant(v[0], dict(v[1]))) for i, v in zip(indices, variants)]
