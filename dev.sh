#!/usr/bin/env bash
# relion_dem set-up and entry points, for a fresh Debian/Ubuntu machine or an existing one.
#
#   ./dev.sh demo [relion_dem demo options]   install what is missing, run the demo
#   ./dev.sh test [pytest options]            install what is missing, run all tests
#   ./dev.sh install                          install only
#
# Installs (only what is missing): Debian's relion + Open MPI (as root; otherwise an
# existing RELION found through RELION_HOME or PATH is used), a virtual environment .venv
# with this package and Scipion, the bundled network's own environment, and the Scipion
# set-up used by the Scipion tests. Every step is idempotent.
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$(pwd)
VENV=${RELION_DEM_VENV:-$ROOT/.venv}
PY=${PYTHON:-python3}

say() { printf '\n== %s\n' "$*"; }

install_system() {
    local missing=()
    command -v relion_refine_mpi >/dev/null || [ -x "${RELION_HOME:-/nonexistent}/bin/relion_refine_mpi" ] || missing+=(relion)
    command -v mpirun >/dev/null || missing+=(openmpi-bin)
    command -v Xvfb >/dev/null || missing+=(xvfb)
    [ -e /usr/include/fftw3.h ] || missing+=(libfftw3-dev)
    command -v gcc >/dev/null || missing+=(gcc)
    $PY -c 'import venv, ensurepip' 2>/dev/null || missing+=(python3-venv)
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" = 0 ]; then
        say "apt-get install ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq "${missing[@]}" >/dev/null
    else
        echo "Missing system packages: ${missing[*]}" >&2
        echo "Ask an administrator: sudo apt-get install ${missing[*]}" >&2
        echo "(or point RELION_HOME at an existing RELION >= 3.1 installation)" >&2
        case " ${missing[*]} " in *" relion "*|*" openmpi-bin "*) exit 1;; esac
    fi
}

install_python() {
    if [ ! -x "$VENV/bin/python" ]; then
        say "virtual environment $VENV"
        $PY -m venv "$VENV"
        "$VENV/bin/pip" install -q --upgrade pip
    fi
    if ! "$VENV/bin/python" -c 'import relion_dem, pyworkflow, relion' 2>/dev/null \
       || [ setup.py -nt "$VENV/.relion_dem-installed" ]; then
        say "pip install -e .[scipion,test]"
        "$VENV/bin/pip" install -q -e ".[scipion,test]"
        touch "$VENV/.relion_dem-installed"
    fi
}

install_network() {
    # TensorFlow lives in its own environment: it pulls numpy 2 and would break Scipion's scipy.
    if "$VENV/bin/relion_dem" install-network --help >/dev/null 2>&1; then
        say "network environment (relion_dem install-network)"
        "$VENV/bin/relion_dem" install-network
    fi
}

install_scipion() {
    if [ -f scripts/scipion-env.sh ]; then
        # shellcheck disable=SC1091
        source scripts/scipion-env.sh
    fi
}

install_all() {
    install_system
    install_python
    install_network
    install_scipion
}

cmd=${1:-help}
shift || true
case "$cmd" in
    install)
        install_all ;;
    demo)
        install_all
        exec "$VENV/bin/relion_dem" demo "$@" ;;
    test)
        install_all
        say "pytest"
        status=0
        RELION_DEM_RELIABILITY_REPORT=1 "$VENV/bin/python" -m pytest -ra "$@" tests || status=$?
        if [ -x scripts/test-scipion.sh ]; then
            say "scipion3 tests"
            scripts/test-scipion.sh || status=1
        fi
        exit $status ;;
    *)
        sed -n '2,12p' "$0"; exit 2 ;;
esac
