#!/bin/sh
#
# Builds the libFuzzer targets in this directory (clang, ASan + UBSan) into
# build/fuzz/, replays the committed seed corpus and regression inputs
# through each, then fuzzes each target in turn for FUZZ_SECONDS seconds
# on a scratch copy of its corpus (the committed corpus is never grown).
# Prints one line per target and exactly one "N passed, N failed" line
# (one count per target).  Exits non-zero on any build failure, crash,
# leak, timeout or invariant violation; an input found while fuzzing is
# copied to regressions/<target>/ so that the next run replays it.
#
# Environment: FUZZ_SECONDS (default 30; 0 replays only), FUZZ_CC (default
# clang), FUZZ_TARGETS (default all), FUZZ_KEEP=1 keeps the scratch
# directory (corpora and logs) and names it on stderr.  FUZZ_SEED (default
# random) and FUZZ_RUNS (default unlimited) make a run repeatable: with
# both, each target makes exactly FUZZ_RUNS runs (FUZZ_SECONDS is then only
# a cap) and explores the same inputs on every machine and every repeat,
# so a gate such as CI judges the tree, not the luck of the draw.
#
set -u

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
out=$top/build/fuzz
seconds=${FUZZ_SECONDS:-30}
seed=${FUZZ_SEED:-}
runs_max=${FUZZ_RUNS:-}
cc=${FUZZ_CC:-clang}
targets=${FUZZ_TARGETS:-fuzz_route_freebsd fuzz_route_linux fuzz_echo_reply fuzz_args}

case "$seconds" in
''|*[!0-9]*)
	echo "FUZZ_SECONDS must be a whole number of seconds, not \"$seconds\"" >&2
	echo "0 passed, 1 failed"
	exit 1 ;;
esac
case "$seed" in
*[!0-9]*|0)
	echo "FUZZ_SEED must be a positive whole number, not \"$seed\"" >&2
	echo "0 passed, 1 failed"
	exit 1 ;;
esac
case "$runs_max" in
*[!0-9]*|0)
	echo "FUZZ_RUNS must be a positive whole number, not \"$runs_max\"" >&2
	echo "0 passed, 1 failed"
	exit 1 ;;
esac

if ! command -v "$cc" >/dev/null 2>&1; then
	echo "fuzz: $cc not found (FUZZ_CC names the compiler; libFuzzer needs clang)" >&2
	echo "0 passed, 1 failed"
	exit 1
fi

# A repeatable run: the same seed alone is not enough, libFuzzer's choices
# also follow addresses (address-space randomisation, off for the fuzzer
# where setarch can do it) and re-reads of the corpus directory (off)
repeatable=0
norandom=
if [ -n "$seed" ] && [ -n "$runs_max" ]; then
	repeatable=1
	if setarch "$(uname -m)" -R true 2>/dev/null; then
		norandom="setarch $(uname -m) -R"
	fi
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/dpinger-fuzz.XXXXXX") || exit 1
if [ "${FUZZ_KEEP:-0}" = 1 ]; then
	trap 'echo "fuzz: scratch kept in $work" >&2' EXIT
else
	trap 'rm -rf "$work"' EXIT
fi
trap 'exit 130' INT TERM

# Symbolized stack traces when llvm-symbolizer is around
for s in llvm-symbolizer llvm-symbolizer-14; do
	if command -v "$s" >/dev/null 2>&1; then
		ASAN_SYMBOLIZER_PATH=$(command -v "$s")
		export ASAN_SYMBOLIZER_PATH
		break
	fi
done
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1}
UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
export ASAN_OPTIONS UBSAN_OPTIONS

# Longest input worth trying: a routing read of a few messages, an ICMP
# header behind the longest IPv4 header, a command line
max_len()
{
	case "$1" in
	fuzz_route_*)		echo 2048 ;;
	fuzz_echo_reply)	echo 256 ;;
	fuzz_args)		echo 1024 ;;
	*)			echo 4096 ;;
	esac
}

# "name: value" from libFuzzer's final statistics
stat_of()
{
	sed -n "s/^stat::$1: *//p" "$2" | tail -n 1
}

# The part of a log worth reading after a failure: from the first report
# of the sanitizer, the invariant check or libFuzzer
failure_excerpt()
{
	awk '/^==[0-9]+==|invariant failed|runtime error|deadly signal|^INFO: libFuzzer/ { on = 1 } on' "$1" | head -n 60
}

mkdir -p "$out" || exit 1
passed=0
failed=0

for t in $targets; do
	src=$here/$t.c
	bin=$out/$t
	corpus=$here/corpus/$t
	regress=$here/regressions/$t
	log=$work/$t

	if [ ! -f "$src" ]; then
		echo "$t: FAILED (no $src)"
		failed=$((failed + 1))
		continue
	fi

	# 1. Build (the checkout's path is kept out of the binary, so that a
	# repeatable run gives the same result wherever the tree lies)
	if ! "$cc" -std=c11 -Wall -Wextra -Wno-unused-function -g -O1 \
	    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	    -ffile-prefix-map="$top/=" -o "$bin" "$src" -lpthread >"$log.build" 2>&1; then
		cat "$log.build" >&2
		echo "$t: FAILED (build)"
		failed=$((failed + 1))
		continue
	fi
	if [ -s "$log.build" ]; then
		cat "$log.build" >&2
	fi

	# 2. Replay the committed seeds and every regression input
	set --
	for f in "$corpus"/* "$regress"/*; do
		[ -f "$f" ] && set -- "$@" "$f"
	done
	if [ $# -eq 0 ]; then
		echo "$t: FAILED (no seed corpus in $corpus)"
		failed=$((failed + 1))
		continue
	fi
	replayed=$#
	bad=0
	for f in "$@"; do
		if ! "$bin" -artifact_prefix="$log.replay-" -timeout=10 "$f" >"$log.replay" 2>&1; then
			echo "fuzz: $t fails on committed input ${f#"$top"/}" >&2
			failure_excerpt "$log.replay" >&2
			bad=$((bad + 1))
		fi
	done
	if [ "$bad" -ne 0 ]; then
		echo "$t: FAILED ($bad of $replayed committed inputs)"
		failed=$((failed + 1))
		continue
	fi
	if [ "$seconds" -eq 0 ]; then
		echo "$t: passed (replayed $replayed inputs)"
		passed=$((passed + 1))
		continue
	fi

	# 3. Fuzz a scratch copy of the corpus
	mkdir "$log.corpus" "$log.art" || exit 1
	cp "$@" "$log.corpus/" 2>/dev/null
	set -- -max_total_time="$seconds" -max_len="$(max_len "$t")" \
	    -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
	    -artifact_prefix="$log.art/"
	[ -z "$seed" ] || set -- "$@" -seed="$seed"
	[ -z "$runs_max" ] || set -- "$@" -runs="$runs_max"
	if [ "$repeatable" -eq 1 ]; then
		# Same directory, environment and argument lengths wherever the
		# checkout lies: with the addresses fixed, the stack's contents
		# would otherwise still move with them
		(cd "$out" && exec env -i PATH=/usr/local/bin:/usr/bin:/bin \
		    ASAN_OPTIONS="$ASAN_OPTIONS" UBSAN_OPTIONS="$UBSAN_OPTIONS" \
		    ASAN_SYMBOLIZER_PATH="${ASAN_SYMBOLIZER_PATH:-}" \
		    timeout $((seconds + 120)) $norandom "./$t" "$@" -reload=0 "$log.corpus") >"$log.fuzz" 2>&1
	else
		timeout $((seconds + 120)) "$bin" "$@" "$log.corpus" >"$log.fuzz" 2>&1
	fi
	rc=$?

	done_line=$(grep -E '^#[0-9]+' "$log.fuzz" | grep 'cov:' | tail -n 1)
	cov=$(echo "$done_line" | sed -n 's/.* cov: \([0-9]*\).*/\1/p')
	ft=$(echo "$done_line" | sed -n 's/.* ft: \([0-9]*\).*/\1/p')
	corp=$(echo "$done_line" | sed -n 's/.* corp: \([0-9]*\)\/.*/\1/p')
	runs=$(stat_of number_of_executed_units "$log.fuzz")
	speed=$(stat_of average_exec_per_sec "$log.fuzz")
	rss=$(stat_of peak_rss_mb "$log.fuzz")
	used=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log.fuzz" | tail -n 1)
	used_seed=$(sed -n 's/^INFO: Seed: \([0-9]*\).*/\1/p' "$log.fuzz" | head -n 1)
	figures="${runs:-?} runs in ${used:-$seconds}s, seed ${used_seed:-?}, ${speed:-?} exec/s, cov ${cov:-?} ft ${ft:-?}, corpus $replayed->${corp:-?}, rss ${rss:-?}MB"

	found=0
	for a in "$log.art"/crash-* "$log.art"/leak-* "$log.art"/timeout-* "$log.art"/oom-*; do
		[ -f "$a" ] || continue
		mkdir -p "$regress" || exit 1
		cp "$a" "$regress/" || exit 1
		echo "fuzz: $t: new failing input saved as tests/fuzz/regressions/$t/${a##*/}" >&2
		found=$((found + 1))
	done
	if [ "$rc" -ne 0 ] || [ "$found" -ne 0 ]; then
		failure_excerpt "$log.fuzz" >&2
		echo "$t: FAILED (exit $rc, $found input(s) saved; $figures)"
		failed=$((failed + 1))
		continue
	fi
	echo "$t: passed ($figures)"
	passed=$((passed + 1))
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
