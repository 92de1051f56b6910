"""relion_dem: in-loop deep-learning regularization of RELION auto-refine (Scipion plugin)."""
import os
import re

from setuptools import find_packages, setup

here = os.path.abspath(os.path.dirname(__file__))
with open(os.path.join(here, 'relion_dem', '__init__.py')) as f:
    version = re.search(r"__version__ = '([^']+)'", f.read()).group(1)
with open(os.path.join(here, 'README.rst')) as f:
    long_description = f.read()

setup(
    name='scipion-em-relion-dem',
    version=version,
    description='RELION 3D auto-refine regularized in the loop by a deep denoising network '
                '(DEM, Ramirez-Aportela et al. IUCrJ 2022): Scipion plugin and RELION command line',
    long_description=long_description,
    long_description_content_type='text/x-rst',
    license='GPLv3',
    python_requires='>=3.8',
    # what users run; the benchmark and the network's training (relion_dem_dev) stay in the checkout
    packages=find_packages(include=['relion_dem', 'relion_dem.*']),
    include_package_data=True,
    package_data={'relion_dem': ['data/*', 'templates/*.json.template', 'protocols.conf',
                                 'core/network/weights/*']},
    install_requires=['numpy', 'scipy', 'mrcfile', 'gemmi', 'matplotlib'],
    extras_require={
        # scipion-em-relion 4.0.x drives RELION 3.1 and 4.0, 5.x RELION 4.0 and 5.0 (./dev.sh picks
        # the line of the RELION it finds). No scipion-em-xmipp: nothing here imports it (Xmipp's
        # deepEMhancer environment is found on disk), and without Xmipp's binaries its protocols fail
        # to import (isMdEmpty comes from the binaries' xmipp_base).
        'scipion': ['scipion-pyworkflow>=3.11', 'scipion-em>=3.11', 'scipion-app>=3.8',
                    'scipion-em-relion>=4.0.20,<6'],
        'network': ['tensorflow-cpu'],
        'test': ['pytest'],
    },
    entry_points={
        'console_scripts': [
            'relion_dem = relion_dem.cli:main',
            'relion_dem_extrec = relion_dem.core.runtime.extrec:main',
            'relion_dem_scipion3 = relion_dem.scipion_launcher:main',
        ],
        'pyworkflow.plugin': ['relion_dem = relion_dem'],
    },
    classifiers=['Programming Language :: Python :: 3',
                 'License :: OSI Approved :: GNU General Public License v3 (GPLv3)',
                 'Topic :: Scientific/Engineering :: Bio-Informatics'],
)
