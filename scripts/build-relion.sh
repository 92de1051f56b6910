#!/usr/bin/env bash
# Build and install a CPU-only (ALTCPU) RELION from an unpacked source tree.
#
# Usage:   scripts/build-relion.sh SOURCE_DIR PREFIX [JOBS]
# Example: nice -n 19 scripts/build-relion.sh /opt/src/relion-5.0.1 /opt/relion-5.0 2
#
#   SOURCE_DIR  RELION source (tested with tags 5.0.1 and 4.0.2); built in SOURCE_DIR/build
#   PREFIX      install prefix; binaries end up in PREFIX/bin
#   JOBS        parallel make jobs (default: nproc)
#
# RELION_PROGRAMS="refine refine_mpi ..." builds only those programs (and the library they
# link; RELION's library is static, so each binary stands alone) and copies them into
# PREFIX/bin instead of installing everything: what CI needs, in less time.
#
# Debian packages required (apt-get install -y ...):
#   build-essential cmake libopenmpi-dev libfftw3-dev libtbb-dev libtiff-dev libpng-dev
# (libjpeg-dev and zlib1g-dev are optional; no X11/FLTK needed because GUI=OFF.)
#
# Nothing is downloaded: system FFTW and TBB are used (the configure step aborts
# if RELION would fall back to downloading its own copies), model-weight fetching
# is disabled (FETCH_WEIGHTS for 5.x, FETCH_TORCH_MODELS for 4.x), and no conda /
# Python environment is needed (the Blush/classranker/DynaMight Python wrappers are
# still installed; point them at an interpreter with PYTHON_EXE_PATH=... if wanted).
# Options that a given RELION version does not know are only warned about by cmake.
set -euo pipefail

if [[ $# -lt 2 || $# -gt 3 ]]; then
    echo "usage: $0 SOURCE_DIR PREFIX [JOBS]" >&2
    exit 2
fi
SRC=$(realpath "$1")
PREFIX=$(realpath -m "$2")
JOBS=${3:-$(nproc)}
BUILD="$SRC/build"

[[ -f "$SRC/CMakeLists.txt" ]] || { echo "error: $SRC has no CMakeLists.txt" >&2; exit 1; }

echo "== RELION source: $SRC"
echo "== build dir:     $BUILD"
echo "== prefix:        $PREFIX"
echo "== jobs:          $JOBS"
start=$(date +%s)

# --- configure --------------------------------------------------------------
mkdir -p "$BUILD"
cmake -S "$SRC" -B "$BUILD" \
    -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_INSTALL_PREFIX="$PREFIX" \
    -DGUI=OFF \
    -DALTCPU=ON \
    -DCUDA=OFF \
    -DFORCE_OWN_FFTW=OFF \
    -DAMDFFTW=OFF \
    -DFORCE_OWN_TBB=OFF \
    -DFETCH_WEIGHTS=OFF \
    -DFETCH_TORCH_MODELS=OFF \
    -DPYTHON_EXE_PATH="${PYTHON_EXE_PATH:-}" \
    2>&1 | tee "$BUILD/configure.log"

# RELION silently falls back to downloading FFTW/TBB/FLTK when it cannot find
# them; that needs the internet and is not what we want, so stop here instead.
if grep -q "WILL BE DOWNLOADED" "$BUILD/configure.log"; then
    echo "error: cmake wants to download a dependency (install the -dev packages listed above):" >&2
    grep -A1 "WILL BE DOWNLOADED" "$BUILD/configure.log" >&2
    exit 1
fi

# --- build and install -------------------------------------------------------
if [[ -n "${RELION_PROGRAMS:-}" ]]; then
    read -r -a programs <<<"$RELION_PROGRAMS"
    cmake --build "$BUILD" -j "$JOBS" --target "${programs[@]}"
    mkdir -p "$PREFIX/bin"
    for p in "${programs[@]}"; do
        install -m 755 "$BUILD/bin/relion_$p" "$PREFIX/bin/relion_$p"
    done
else
    cmake --build "$BUILD" -j "$JOBS"
    cmake --install "$BUILD"
fi

# --- report ------------------------------------------------------------------
echo "== build + install took $(( ($(date +%s) - start) / 60 )) min"
echo "== $PREFIX/bin/relion_refine --version:"
"$PREFIX/bin/relion_refine" --version
