# Scipion without GUI for relion_dem: source this file (bash), idempotent.
#
#   source scripts/scipion-env.sh      # then: relion_dem_scipion3 tests relion_dem.tests...
#
# Creates (if missing) under $RELION_DEM_SCIPION_HOME (default <repo>/.scipion):
#   config/hosts.conf       localhost, PARALLEL_COMMAND = mpirun --oversubscribe ..., and a
#                           Slurm queue "debug" (scripts/slurm-local.sh starts one here)
#   em/relion-3.1/bin/...   links to the installed RELION programs (pwem infers RELION's
#                           version from this folder name)
#   userdata/               SCIPION_USER_DATA (projects, test projects, logs)
# and builds the real SIDESPLITTER into <repo>/.tools/sidesplitter (SIDESPLITTER_HOME)
# from ../shared/third_party beside the repo (or $RELION_DEM_SIDESPLITTER_SRC) if it is missing.
# Exports SCIPION_HOME, SCIPION_USER_DATA, SCIPION_DOMAIN, SCIPION_PYTHON, SCIPION_HOSTS,
# RELION_HOME, SIDESPLITTER_HOME and, as root, Open MPI's run-as-root switches.

_rd_repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
_rd_home=${RELION_DEM_SCIPION_HOME:-$_rd_repo/.scipion}
_rd_python=${SCIPION_PYTHON:-}
if [ -z "$_rd_python" ]; then
    _rd_venv=${RELION_DEM_VENV:-$_rd_repo/.venv}
    if [ -x "$_rd_venv/bin/python" ]; then _rd_python=$_rd_venv/bin/python
    else _rd_python=$(command -v python3); fi
fi

mkdir -p "$_rd_home/config" "$_rd_home/userdata" "$_rd_home/software/em" "$_rd_home/data/tests"

# Scipion's installer fetches an empty void.tgz for source-less packages: have it locally
[ -f "$_rd_home/software/em/void.tgz" ] || tar czf "$_rd_home/software/em/void.tgz" -T /dev/null

if ! grep -qs '^# relion_dem hosts 2' "$_rd_home/config/hosts.conf"; then
    cat > "$_rd_home/config/hosts.conf" <<'HOSTS'
[localhost]
# relion_dem hosts 2 (scripts/scipion-env.sh): local runs, or Slurm's partition "debug"
PARALLEL_COMMAND = mpirun --oversubscribe -np %_(JOB_NODES)d %_(COMMAND)s
NAME = SLURM
MANDATORY = False
SUBMIT_COMMAND = sbatch %_(JOB_SCRIPT)s
CANCEL_COMMAND = scancel %_(JOB_ID)s
CHECK_COMMAND = squeue -h -j %_(JOB_ID)s
SUBMIT_TEMPLATE = #!/bin/bash
    #SBATCH --job-name=%_(JOB_NAME)s
    #SBATCH --partition=%_(JOB_QUEUE)s
    #SBATCH --output=%_(JOB_LOGS)s.out
    #SBATCH --error=%_(JOB_LOGS)s.err
    #SBATCH --ntasks=%_(JOB_NODES)d
    #SBATCH --cpus-per-task=%_(JOB_THREADS)d
    %_(JOB_COMMAND)s
QUEUES = {"debug": []}
HOSTS
fi

# RELION: a folder named relion-<version> whose bin/ links to the installed programs
# (an existing RELION_HOME is kept when its folder name tells the version, e.g. relion-4.0)
_rd_keep_relion_home=
if [ -n "${RELION_HOME:-}" ] && [ -x "$RELION_HOME/bin/relion_refine" ]; then
    _rd_relion_bin=$RELION_HOME/bin
    case "$(basename "$RELION_HOME")" in *[0-9].[0-9]*) _rd_keep_relion_home=$RELION_HOME ;; esac
else
    _rd_relion_bin=$(dirname "$(command -v relion_refine 2>/dev/null || echo /usr/bin/relion_refine)")
fi
_rd_relion_ver=${RELION_DEM_RELION_VERSION:-}
if [ -z "$_rd_relion_ver" ] && [ -x "$_rd_relion_bin/relion_refine" ]; then
    _rd_relion_ver=$("$_rd_relion_bin/relion_refine" --version 2>/dev/null | \
        sed -n 's/.*RELION version: *\([0-9]*\.[0-9]*\).*/\1/p' | head -n 1 || true)
fi
_rd_relion_ver=${_rd_relion_ver:-3.1}
_rd_relion_home=${_rd_keep_relion_home:-$_rd_home/software/em/relion-$_rd_relion_ver}
if [ ! -d "$_rd_relion_home/bin" ]; then
    mkdir -p "$_rd_relion_home/bin"
    for _rd_p in "$_rd_relion_bin"/relion_*; do
        ln -sf "$_rd_p" "$_rd_relion_home/bin/$(basename "$_rd_p")"
    done
fi

# SIDESPLITTER (the peer regularizer), through scipion-em-relion's SIDESPLITTER_HOME
_rd_ss_home=${SIDESPLITTER_HOME:-$_rd_repo/.tools/sidesplitter}
_rd_ss_src=${RELION_DEM_SIDESPLITTER_SRC:-$(cd "$_rd_repo/.." && pwd)/shared/third_party}
if [ ! -x "$_rd_ss_home/sidesplitter" ] && [ -f "$_rd_ss_src/BUILD-sidesplitter.sh" ]; then
    if [ ! -e /usr/include/fftw3.h ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        (apt-get install -y libfftw3-dev >/dev/null 2>&1 || \
         (apt-get update >/dev/null 2>&1 && apt-get install -y libfftw3-dev >/dev/null 2>&1)) || true
    fi
    bash "$_rd_ss_src/BUILD-sidesplitter.sh" "$_rd_ss_home" >/dev/null 2>&1 || \
        echo "scipion-env.sh: WARNING: could not build SIDESPLITTER into $_rd_ss_home (needs gcc, libfftw3-dev)" >&2
fi

export SCIPION_HOME=$_rd_home
export SCIPION_USER_DATA=$_rd_home/userdata
export SCIPION_TESTS=$_rd_home/data/tests
export SCIPION_DOMAIN=pwem
export SCIPION_PYTHON=$_rd_python
export SCIPION_HOSTS=$_rd_home/config/hosts.conf
export SCIPION_CONFIG=$_rd_home/config/scipion.conf
export SCIPION_LOCAL_CONFIG=$_rd_home/config/scipion.conf
export SCIPION_TEST_NOSYNC=1
export EM_ROOT=$_rd_home/software/em
export RELION_HOME=$_rd_relion_home
if [ -x "$_rd_ss_home/sidesplitter" ]; then export SIDESPLITTER_HOME=$_rd_ss_home; fi
if [ "$(id -u)" = 0 ]; then
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
export OMPI_MCA_rmaps_base_oversubscribe=1
case ":$PATH:" in *":$(dirname "$_rd_python"):"*) ;; *) export PATH=$(dirname "$_rd_python"):$PATH ;; esac
unset _rd_venv _rd_keep_relion_home _rd_repo _rd_home _rd_python _rd_relion_bin _rd_relion_ver _rd_relion_home _rd_ss_home _rd_ss_src _rd_p
