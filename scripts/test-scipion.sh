#!/usr/bin/env bash
# Run relion_dem's Scipion tests (real RELION runs) through the Python 3.11-safe launcher.
#
#   scripts/test-scipion.sh                 # every module in relion_dem/tests (test_*.py)
#   scripts/test-scipion.sh test_form ...   # only these modules
#
# Sets up Scipion without GUI (scripts/scipion-env.sh) and exits non-zero if any module fails;
# a module whose tests were all skipped is not a failure. The last line lists the modules
# passed, skipped (with the reason) and failed apart; with $RELION_DEM_SCIPION_SUMMARY set it
# is also written to that file.
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")
# shellcheck source=scipion-env.sh
source "$here/scipion-env.sh"
cd "$repo"
if [ $# -gt 0 ]; then
    modules=("$@")
else
    modules=()
    for f in relion_dem/tests/test_*.py; do modules+=("$(basename "$f" .py)"); done
fi
# SIDESPLITTER's upstream wrapper polls with `sleep 60`; in tests a `sleep` capped at 1 s
# first on the PATH keeps the real, unmodified wrapper from idling a minute per iteration
shim="$repo/.tools/sleep-shim"
mkdir -p "$shim"
cat > "$shim/sleep" <<'SHIM'
#!/bin/sh
exec /bin/sleep "$( [ "${1%%[!0-9.]*}" ] && awk -v s="${1%%[!0-9.]*}" 'BEGIN{print (s>1)?1:s}' || echo 1)"
SHIM
chmod +x "$shim/sleep"
export PATH="$shim:$PATH"
launcher=(nice -n "${RELION_DEM_NICE:-5}" "$SCIPION_PYTHON" -m relion_dem.scipion_launcher)
# the launcher writes each module's tally there (passed N, skipped N, failed N, skip TEST: REASON):
# pyworkflow itself counts a skipped test as passed
tallies=$(mktemp -d)
trap 'rm -rf "$tallies"' EXIT
count() { sed -n "s/^$1 //p" "$2" | head -n 1; }
passed=(); skipped=(); failed=()
for m in "${modules[@]}"; do
    m=${m%.py}; m=${m#relion_dem.tests.}
    echo "=== scipion3 tests relion_dem.tests.$m"
    start=$(date +%s)
    tally=$tallies/$m
    # pw_run_tests exits 1 when a test fails or errors, or when none passed (load error, or all skipped)
    RELION_DEM_TEST_TALLY=$tally "${launcher[@]}" tests "relion_dem.tests.$m"
    rc=$?
    np=0; ns=0; nf=0; why=
    if [ -s "$tally" ]; then
        np=$(count passed "$tally"); ns=$(count skipped "$tally"); nf=$(count failed "$tally")
        # one reason for all the module's skips: the reason; else each skipped test with its own
        why=$(sed -n 's/^skip [^:]*: //p' "$tally" | sort -u)
        [ "$(printf '%s\n' "$why" | wc -l)" -le 1 ] || why=$(sed -n 's/^skip //p' "$tally" | awk 'NR > 1 {printf " / "} {printf "%s", $0}')
    fi
    if [ "$nf" -gt 0 ] || { [ "$rc" -ne 0 ] && [ "$np" -gt 0 ]; }; then
        failed+=("$m ($nf failed$( [ "$ns" -eq 0 ] || echo ", $ns skipped: $why"), rc=$rc)")
    elif [ "$np" -eq 0 ] && [ "$ns" -gt 0 ]; then
        skipped+=("$m ($why)")                  # skipped as a whole: not a failure
    elif [ "$rc" -ne 0 ] || [ "$np" -eq 0 ]; then
        failed+=("$m (no test ran, rc=$rc)")
    else
        passed+=("$m")
        [ "$ns" -eq 0 ] || skipped+=("$m ($ns of $((np + ns)) tests: $why)")
    fi
    echo "=== relion_dem.tests.$m: rc=$rc, $np passed, $ns skipped, $nf failed, $(( $(date +%s) - start )) s"
done
list() { if [ $# -gt 0 ]; then echo "$*"; else echo none; fi; }
summary="scipion tests: passed ${#passed[@]}: $(list "${passed[@]}"); skipped ${#skipped[@]}: $(list "${skipped[@]}");\
 failed ${#failed[@]}: $(list "${failed[@]}")"
# dev.sh repeats this line in its summary
[ -z "${RELION_DEM_SCIPION_SUMMARY:-}" ] || echo "$summary" >"$RELION_DEM_SCIPION_SUMMARY"
if [ ${#failed[@]} -gt 0 ]; then
    echo "$summary" >&2
    exit 1
fi
echo "$summary"
