#!/usr/bin/env bash
# relion_dem set-up and entry points, for a fresh Debian/Ubuntu machine or an existing one.
#
#   ./dev.sh demo [relion_dem demo options]   install what is missing, run the demo
#   ./dev.sh test [pytest options]            install what is missing, run all tests
#   ./dev.sh install                          install only
#   ./dev.sh relion5                          build RELION 5.0.1 (CPU) from ../shared into the cache,
#                                             and the Scipion environment that drives it
#   ./dev.sh relion5-build                    only the RELION 5.0.1 build (CI starts it beside the
#                                             pip installs: ./dev.sh install-system first)
#   ./dev.sh install-system                   only the system packages (apt, as root)
#   ./dev.sh test-relion5 [pytest options]    the refinement tests against that RELION 5.0.1
#   ./dev.sh bench [relion_dem bench options] run the benchmark (relion_dem_dev, this checkout)
#   ./dev.sh results                          copy the last full test run's reliability tally
#                                             into benchmarks/results
#   ./dev.sh slurm                            install and start a single-node Slurm cluster
#                                             (root; the Scipion queue test then runs)
#
# Installs (only what is missing): Debian's relion + Open MPI (as root; otherwise an
# existing RELION found through RELION_HOME or PATH is used), a virtual environment .venv
# with this package and Scipion (and the developer package relion_dem_dev on its path),
# the bundled network's own environment, and the Scipion set-up used by the Scipion tests.
# Every step is idempotent and prints one line; the details go to build/install.log.
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$(pwd)
VENV=${RELION_DEM_VENV:-$ROOT/.venv}
PY=${PYTHON:-python3}
BUILD=$ROOT/build
LOG=${RELION_DEM_INSTALL_LOG:-$BUILD/install.log}   # a concurrent build logs elsewhere
mkdir -p "$BUILD"

say() { printf '== %s\n' "$*"; }

# step TEXT COMMAND...: one line on the terminal, the command's output in $LOG
step() {
    local text=$1; shift
    printf '== %s ... ' "$text"
    printf '\n== %s (%s)\n' "$text" "$(date '+%F %T')" >>"$LOG"
    if "$@" >>"$LOG" 2>&1; then
        echo ok
    else
        echo FAILED
        echo "dev.sh: '$text' failed; the end of $LOG:" >&2
        tail -n 25 "$LOG" >&2
        exit 1
    fi
}

apt_install() {
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq "$@"
}

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
        step "apt-get install ${missing[*]}" apt_install "${missing[@]}"
    else
        echo "Missing system packages: ${missing[*]}" >&2
        echo "Ask an administrator: sudo apt-get install ${missing[*]}" >&2
        echo "(or point RELION_HOME at an existing RELION >= 3.1 installation)" >&2
        case " ${missing[*]} " in *" relion "*|*" openmpi-bin "*) exit 1;; esac
    fi
}

make_venv() {
    $PY -m venv "$VENV" && "$VENV/bin/pip" install -q --upgrade pip
}

relion_major() {
    local exe
    exe=$( [ -x "${RELION_HOME:-/nonexistent}/bin/relion_refine" ] && echo "$RELION_HOME/bin/relion_refine" \
           || command -v relion_refine || true)
    [ -n "$exe" ] && "$exe" --version 2>/dev/null | sed -n 's/.*RELION version: *\([0-9]*\)\..*/\1/p' | head -n 1
}

pip_install() {
    # scipion-em-relion 5.x drives RELION >= 4 only: RELION 3.1 keeps the 4.0 line
    local line="scipion-em-relion>=4.0.20,<6"
    [ "$(relion_major)" = 3 ] && line="scipion-em-relion>=4.0.20,<5"
    "$VENV/bin/pip" install -q -e ".[scipion,test]" "$line"
    # the developer package (benchmark, training) is used from this checkout, never installed
    local site
    site=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
    echo "$ROOT" >"$site/relion_dem_dev.pth"
    touch "$VENV/.relion_dem-installed"
}

install_python() {
    [ -x "$VENV/bin/python" ] || step "virtual environment $VENV" make_venv
    if ! "$VENV/bin/python" -c 'import relion_dem, relion_dem_dev, pyworkflow, relion' 2>/dev/null \
       || [ setup.py -nt "$VENV/.relion_dem-installed" ]; then
        step "pip install -e .[scipion,test]" pip_install
    fi
}

install_network() {
    # TensorFlow lives in its own environment: it pulls numpy 2 and would break Scipion's scipy.
    step "network environment (relion_dem install-network)" "$VENV/bin/relion_dem" install-network
}

install_scipion() {
    # shellcheck disable=SC1091
    source scripts/scipion-env.sh >>"$LOG" 2>&1
}

# RELION 5.0.1, CPU only, built from ../shared/third_party (nothing downloaded) into a cache
# outside the checkout keyed by the source's checksum: reused when there, built when not.
# Only the programs relion_dem and its tests call are built (RELION's library is static).
RELION5_PROGRAMS="refine refine_mpi external_reconstruct reconstruct postprocess project image_handler mask_create"

relion5_source() {
    echo "${RELION_DEM_RELION5_SOURCE:-$ROOT/../shared/third_party/relion/relion-5.0.1.tar.gz}"
}

build_relion5() {
    local tarball=$1 home=$2 src
    if [ "$(id -u)" = 0 ]; then
        apt_install build-essential cmake libopenmpi-dev libfftw3-dev libtbb-dev libtiff-dev libpng-dev
    fi
    src=$(mktemp -d)
    tar -xzf "$tarball" -C "$src"
    rm -rf "$home.partial"
    mkdir -p "$(dirname "$home")"
    RELION_PROGRAMS="$RELION5_PROGRAMS" nice scripts/build-relion.sh "$src"/relion-* "$home.partial" "$(nproc)"
    rm -rf "$src" "$home"
    mv "$home.partial" "$home"           # the folder exists only once the build is whole
}

install_relion5() {
    local tarball sum t0
    tarball=$(relion5_source)
    [ -f "$tarball" ] || { echo "dev.sh: RELION 5.0.1 source not found: $tarball (set RELION_DEM_RELION5_SOURCE)" >&2; exit 1; }
    sum=$(sha256sum "$tarball" | cut -c1-16)
    # .../relion-5.0: Scipion's RELION plugin reads the version from the folder's name
    RELION5_HOME=${RELION_DEM_CACHE:-$HOME/.cache/relion_dem}/relion-5.0.1-$sum/relion-5.0
    if [ -x "$RELION5_HOME/bin/relion_refine_mpi" ]; then
        say "RELION 5.0.1: $RELION5_HOME (cached)"
    else
        t0=$(date +%s)
        step "RELION 5.0.1 built into $RELION5_HOME (scripts/build-relion.sh; about 10 min on 2 cores)" \
            build_relion5 "$tarball" "$RELION5_HOME"
        echo "$(( $(date +%s) - t0 ))" >"$RELION5_HOME/build-seconds"
        say "RELION 5.0.1 build took $(( ($(date +%s) - t0) / 60 )) min"
    fi
}

# Scipion in an environment of its own with the scipion-em-relion line that drives RELION 5
relion5_scipion_env() {
    export RELION_HOME=$RELION5_HOME RELION_DEM_VENV=$ROOT/.venv-relion5 RELION_DEM_SCIPION_HOME=$ROOT/.scipion-relion5
    unset SCIPION_PYTHON SCIPION_HOME SCIPION_USER_DATA SCIPION_TESTS SCIPION_HOSTS SCIPION_CONFIG \
          SCIPION_LOCAL_CONFIG   # the main leg's Scipion
}

install_relion5_scipion() {
    ( relion5_scipion_env; "$0" install | tail -n 1 )
}

install_all() {
    install_system
    install_python
    install_network
    install_scipion
    say "installed (details: $LOG)"
}

# summarize_tests DIR: passed, skipped (with the reason) and failed apart, for each part of
# `./dev.sh test`, from the logs it left in DIR
summarize_tests() {
    local dir=$1 tally
    tally=$(grep -E '^=+ .* in [0-9.]+s' "$dir/pytest.log" 2>/dev/null | tail -n 1 | sed -E 's/^=+ //; s/ =+$//' || true)
    echo "pytest: ${tally:-no tally: pytest did not finish}"
    # -ra: pytest's short summary names each skipped (with its reason), failed and erroring test
    grep -E '^(SKIPPED|XFAIL|FAILED|ERROR) ' "$dir/pytest.log" 2>/dev/null | sed 's/^/    /' || true
    tally=$(grep '^mutation check: ' "$dir/mutation-check.log" 2>/dev/null | tail -n 1 || true)
    echo "${tally:-mutation check: no tally: it did not finish}"
    tally=$(cat "$dir/scipion-summary.txt" 2>/dev/null || true)
    echo "${tally:-scipion tests: no summary: scripts/test-scipion.sh did not finish}"
}

cmd=${1:-help}
shift || true
case "$cmd" in
    install)
        install_all ;;
    demo)
        install_all
        exec "$VENV/bin/relion_dem" demo --results "$ROOT/benchmarks/results" "$@" ;;
    bench)
        install_all
        exec "$VENV/bin/relion_dem" bench "$@" ;;
    test)
        install_all
        results=$BUILD/test-results
        mkdir -p "$results"
        rm -f "$results/pytest.log" "$results/mutation-check.log" "$results/scipion-summary.txt"
        say "pytest"
        status=0
        # the whole suite's reliability tally goes to build/ (./dev.sh results copies it)
        RELION_DEM_RELIABILITY_REPORT=$results/reliability \
            "$VENV/bin/python" -m pytest -ra "$@" tests | tee "$results/pytest.log" || status=$?
        say "mutation check (each safety path disabled must fail a test)"
        "$VENV/bin/python" scripts/mutation-check.py | tee "$results/mutation-check.log" || status=1
        say "scipion3 tests"
        RELION_DEM_SCIPION_SUMMARY=$results/scipion-summary.txt scripts/test-scipion.sh || status=1
        say "summary (logs in $results)"
        summarize_tests "$results"
        exit $status ;;
    relion5)
        install_relion5
        install_relion5_scipion ;;
    relion5-build)
        install_relion5 ;;
    install-system)
        install_system ;;
    test-relion5)
        leg_t0=$(date +%s)
        install_all
        install_relion5
        results=$BUILD/test-results
        mkdir -p "$results"
        say "pytest against RELION 5.0.1 ($RELION5_HOME): the live RELION >= 4 checks and every refinement test"
        status=0
        export RELION_HOME=$RELION5_HOME RELION_DEM_RELION_HOMES=$RELION5_HOME
        RELION_DEM_TEST_CACHE=$(mktemp -d /tmp/relion_dem_relion5.XXXXXX)
        export RELION_DEM_TEST_CACHE
        "$VENV/bin/python" -m pytest -ra "$@" tests/integration | tee "$results/pytest-relion5.log" || status=$?
        say "mutation check of the paths only RELION >= 4.0.2 takes"
        "$VENV/bin/python" scripts/mutation-check.py "RELION >= 4.0.2" "RELION 5" \
            | tee "$results/mutation-check-relion5.log" || status=1
        tally=$(grep -E '^=+ .* in [0-9.]+s' "$results/pytest-relion5.log" | tail -n 1 | sed -E 's/^=+ //; s/ =+$//' || true)
        say "RELION 5.0.1 leg: pytest ${tally:-no tally: pytest did not finish}"
        grep -E '^(SKIPPED|FAILED|ERROR) ' "$results/pytest-relion5.log" | sed 's/^/    /' || true
        say "RELION 5.0.1 leg: $(tail -n 1 "$results/mutation-check-relion5.log")"
        # Scipion in an environment of its own: the scipion-em-relion line that drives RELION 5
        say "Scipion tests with the scipion-em-relion that drives RELION 5.0.1 (.venv-relion5)"
        relion5_scipion_env
        "$0" install | tail -n 1 || status=1
        say "$("$RELION_DEM_VENV/bin/python" -m pip list 2>/dev/null | grep -E '^scipion-em-relion ' | tr -s ' ')"
        RELION_DEM_SCIPION_SUMMARY=$results/scipion-relion5-summary.txt \
            scripts/test-scipion.sh test_form test_protocol_refine_dem test_queue || status=1
        say "RELION 5.0.1 leg: $(tail -n 1 "$results/scipion-relion5-summary.txt" 2>/dev/null)"
        # the leg's record (./dev.sh results copies it into benchmarks/results)
        {
            echo "# RELION 5.0.1 leg (\`./dev.sh test-relion5\`), $(date '+%F %T'), $(nproc) CPUs"
            echo
            echo "- RELION: $RELION5_HOME; build $(cat "$RELION5_HOME/build-seconds" 2>/dev/null || echo '?') s when it was built (0 here when cached)"
            echo "- pytest tests/integration: ${tally:-did not finish}"
            echo "- $(tail -n 1 "$results/mutation-check-relion5.log")"
            echo "- $(tail -n 1 "$results/scipion-relion5-summary.txt" 2>/dev/null) ($("$RELION_DEM_VENV/bin/python" -m pip list 2>/dev/null | grep -E '^scipion-em-relion ' | tr -s ' '))"
            echo "- the whole leg: $(( $(date +%s) - leg_t0 )) s, exit status $status"
        } >"$results/relion5-leg.md"
        exit $status ;;
    slurm)
        [ "$(id -u)" = 0 ] || { echo "dev.sh: slurm needs root (apt-get, /etc/slurm)" >&2; exit 2; }
        command -v slurmd >/dev/null && command -v munged >/dev/null \
            || step "apt-get install slurm-wlm munge" apt_install slurm-wlm munge
        step "single-node Slurm (scripts/slurm-local.sh)" scripts/slurm-local.sh
        say "Slurm: $(sinfo -h -o '%P %D node(s) %c CPUs %T'); the queue test: scripts/test-scipion.sh test_queue" ;;
    results)
        src=$BUILD/test-results/reliability
        [ -f "$src.json" ] || { echo "dev.sh: no tally in $src.json: run ./dev.sh test first" >&2; exit 1; }
        for ext in json md png; do cp "$src.$ext" "benchmarks/results/reliability.$ext"; done
        say "benchmarks/results/reliability.{json,md,png} refreshed from $src"
        if [ -f "$BUILD/test-results/relion5-leg.md" ]; then
            cp "$BUILD/test-results/relion5-leg.md" benchmarks/results/relion5-leg.md
            say "benchmarks/results/relion5-leg.md refreshed"
        fi ;;
    *)
        sed -n '2,20p' "$0"; exit 2 ;;
esac
