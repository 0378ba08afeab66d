#!/bin/sh
#
# The project's test command (make check): runs the suite under kyua and
# prints exactly one "N passed, N failed" line computed from kyua's results
# database (failed counts broken too).  Exits non-zero if anything failed
# or broke, if nothing ran, or if a test was skipped while running as root
# (as root every test must really run).
#
# Environment: KYUA_PARALLELISM (default 2); KYUA_VARS, extra -v options
# for kyua (e.g. "-v test_suites.dpinger.dpinger=/path/to/dpinger").
#
set -u

here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/dpinger-check.XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT TERM
results="$work/results.db"

kyua_do()
{
	HOME="$work" kyua --logfile="$work/kyua.log" "$@"
}

cd "$here" || exit 1
# shellcheck disable=SC2086
kyua_do -v parallelism="${KYUA_PARALLELISM:-2}" ${KYUA_VARS:-} test --results-file="$results" "$@"

if [ ! -f "$results" ]; then
	echo "kyua did not produce results" >&2
	echo "0 passed, 1 failed"
	exit 1
fi

passed=0
failed=0
skipped=0
excused=0
for row in $(kyua_do db-exec --no-headers --results-file="$results" \
    "SELECT result_type, COUNT(*) FROM test_results GROUP BY result_type"); do
	type=${row%%,*}
	count=${row##*,}
	case "$type" in
	passed|expected_failure)
		passed=$((passed + count)) ;;
	skipped)
		skipped=$((skipped + count)) ;;
	*)
		failed=$((failed + count)) ;;
	esac
done

# Everything that did not pass, with its output
if [ $((failed + skipped)) -gt 0 ]; then
	kyua_do report --results-file="$results" --verbose \
	    --results-filter=skipped,broken,failed 2>&1
fi
excused=$(kyua_do db-exec --no-headers --results-file="$results" \
    "SELECT COUNT(*) FROM test_results WHERE result_type = 'skipped' AND
     (result_reason LIKE 'optional:%' OR result_reason LIKE 'unsupported:%')")
if [ "$skipped" -gt 0 ]; then
	echo "($skipped skipped, $excused of them for want of an optional input or an unsupported feature; skips count as neither passed nor failed)"
fi
echo "$passed passed, $failed failed"

if [ "$failed" -gt 0 ] || [ $((passed + failed)) -eq 0 ]; then
	exit 1
fi
if [ "$skipped" -gt "${excused:-0}" ] && [ "$(id -u)" -eq 0 ]; then
	echo "tests were skipped while running as root" >&2
	exit 1
fi
exit 0
