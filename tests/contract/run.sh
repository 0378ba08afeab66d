#!/bin/sh
#
# make contract [DPINGER=/path/to/dpinger]: the drop-in contract tests
# (contract_test.sh) and the defect reproducers (defects_test.sh) against
# any dpinger binary, stock or this fork, under kyua.
#
# Prints one line per test case, then ends with exactly two lines:
#   contract: N passed, N failed
#   defects reproduced: N of M
# A contract test passes when the binary behaves like dpinger 3.3.  A
# reproducer passes when the defect is absent and fails with a reason that
# starts "reproduced:" when it is present; any other outcome is
# inconclusive, and is listed with a line "(N reproducer(s) inconclusive
# ...)" before the two closing lines.  The verdict is in those lines: the
# exit status is 0 whenever the suite ran, whatever it found (against stock,
# reproduced defects are the expected result), and non-zero only when it
# could not run (bad DPINGER, missing tools, no results from kyua).
#
# Needs root on Linux (network namespaces, raw sockets); elsewhere it says
# so and reports nothing run, exit 0.  KYUA_PARALLELISM (default 2).
#
set -u

here=$(cd "$(dirname "$0")" && pwd)

if [ $# -ne 1 ] || [ -z "$1" ]; then
	echo "usage: run.sh /path/to/dpinger" >&2
	exit 2
fi
case "$1" in
/*) binary=$1 ;;
*) binary=$(pwd)/$1 ;;
esac
if [ ! -f "$binary" ] || [ ! -x "$binary" ]; then
	echo "make contract: DPINGER=$1 is not an executable file" >&2
	exit 2
fi

skip_all()
{
	echo "contract suite not run: $1"
	echo "contract: 0 passed, 0 failed"
	echo "defects reproduced: 0 of 0"
	exit 0
}

[ "$(uname -s)" = Linux ] || skip_all "it needs Linux network namespaces (this is $(uname -s))"
[ "$(id -u)" -eq 0 ] || skip_all "it needs root (network namespaces, raw ICMP sockets)"
for prog in kyua ip iptables; do
	command -v "$prog" >/dev/null 2>&1 || skip_all "$prog is not installed"
done
for prog in logcatch threadstop exitread tools/sockquery; do
	if [ ! -x "$here/$prog" ]; then
		echo "make contract: $here/$prog is missing; build it with make contract" >&2
		exit 2
	fi
done

work=$(mktemp -d "${TMPDIR:-/tmp}/dpinger-contract.XXXXXX") || exit 1
[ -n "${CONTRACT_KEEP:-}" ] || trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT TERM

# The binary runs as ".../dpinger" whatever its file is called, so the
# process name and the syslog tag (both taken from argv[0]) are "dpinger"
mkdir "$work/bin"
ln -s "$binary" "$work/bin/dpinger"

kyua_do()
{
	HOME="$work" kyua --logfile="$work/kyua.log" "$@"
}

echo "binary: $binary"
cd "$here" || exit 1
kyua_do -v parallelism="${KYUA_PARALLELISM:-2}" \
    -v "test_suites.dpinger.dpinger=$work/bin/dpinger" \
    test --results-file="$work/results.db" >/dev/null 2>"$work/kyua.err"
if [ ! -f "$work/results.db" ]; then
	cat "$work/kyua.err" >&2
	echo "kyua did not produce results" >&2
	echo "contract: 0 passed, 1 failed"
	echo "defects reproduced: 0 of 0"
	exit 1
fi

# One row per test case: program|case|result|reason (reason on one line)
kyua_do db-exec --no-headers --results-file="$work/results.db" \
    "SELECT tp.relative_path, tc.name, tr.result_type,
            REPLACE(REPLACE(COALESCE(tr.result_reason, ''), CHAR(10), ' '), '|', '/')
     FROM test_programs tp JOIN test_cases tc USING (test_program_id)
     JOIN test_results tr USING (test_case_id)
     ORDER BY tp.relative_path, tc.name" | tr ',' '\t' > "$work/rows" 2>/dev/null

# The details (output, stderr) of every failed contract case and every
# inconclusive reproducer
awk -F '\t' '
$1 ~ /^contract_test/ && $3 != "passed" { print $1 ":" $2 }
$1 ~ /^defects_test/ && $3 != "passed" && !($3 == "failed" && $4 ~ /^reproduced:/) { print $1 ":" $2 }
' "$work/rows" > "$work/details"
if [ -s "$work/details" ]; then
	# shellcheck disable=SC2046
	kyua_do report --verbose --results-filter=failed,broken,skipped --results-file="$work/results.db" \
	    $(cat "$work/details") 2>&1 | awk '
	/^===> (Failed|Broken|Skipped) tests|^===> Summary/ { on = 0 }
	/^===> [a-z_]+_test\.sh:/ { on = 1 }
	/^Metadata:/ { meta = 1 }
	meta && /^$/ { meta = 0; next }
	on && !meta { print }'
fi

# db-exec separates columns with commas, which a reason may contain: read
# the first three columns, the rest is the reason
awk -F '\t' '
{
	prog = $1; name = $2; type = $3
	reason = $4
	for (i = 5; i <= NF; i++)
		reason = reason "," $i
	if (prog ~ /^contract_test/) {
		if (type == "passed") {
			cp++
			printf "contract  %-34s passed\n", name
		} else {
			cf++
			printf "contract  %-34s %s: %s\n", name, toupper(type), reason
		}
	} else if (prog ~ /^defects_test/) {
		dm++
		if (type == "passed") {
			printf "defect    %-34s not reproduced\n", name
		} else if (type == "failed" && reason ~ /^reproduced:/) {
			dr++
			printf "defect    %-34s %s\n", name, reason
		} else {
			di++
			printf "defect    %-34s INCONCLUSIVE (%s): %s\n", name, type, reason
		}
	}
}
END {
	if (di > 0)
		printf "(%d reproducer(s) inconclusive: neither reproduced nor shown absent)\n", di
	printf "contract: %d passed, %d failed\n", cp, cf
	printf "defects reproduced: %d of %d\n", dr, dm
	exit (cp + cf + dm == 0) ? 1 : 0
}' "$work/rows"
