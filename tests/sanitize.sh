#!/bin/sh
#
# make check-asan / make check-tsan: the whole suite with dpinger and the
# unit tests built under a sanitizer (asan = AddressSanitizer and
# UndefinedBehaviorSanitizer, tsan = ThreadSanitizer).  Builds into
# build/SAN/ and runs kyua there with --build-root; any sanitizer report,
# even from a test that passed, fails the run.
#
#   sh tests/sanitize.sh asan|tsan
#
set -u
san=${1:-}
top=$(cd "$(dirname "$0")/.." && pwd)
cc=${SAN_CC:-clang}

case "$san" in
asan)
	flags="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"
	;;
tsan)
	flags="-fsanitize=thread"
	;;
*)
	echo "usage: sh tests/sanitize.sh asan|tsan" >&2
	exit 1
	;;
esac

root="$top/build/$san"
reports="$root/reports"
rm -rf "$root"
mkdir -p "$root/tests" "$reports" || exit 1

# The sanitized programs
atf_cflags=$(pkg-config --cflags atf-c 2>/dev/null)
atf_libs=$(pkg-config --libs atf-c 2>/dev/null || echo -latf-c)
# shellcheck disable=SC2086
$cc -std=c11 -Wall -Wextra -O1 -g $flags -o "$root/dpinger" "$top/dpinger.c" -lpthread || exit 1
# shellcheck disable=SC2086
$cc -std=c11 -Wall -Wextra -Wno-unused-function -O1 -g $flags $atf_cflags -o "$root/tests/unit_test" \
    "$top/tests/unit_test.c" $atf_libs -lpthread || exit 1

# The sources some tests build from (port_test.sh), then everything else
# as built by make tests (scripts, library, tools)
cp "$top/dpinger.c" "$top/dpinger.8" "$top/Makefile" "$top/README.md" "$top/CHANGES" "$top/LICENSE" "$root/" &&
    cp -R "$top/patches" "$root/" || exit 1
( cd "$top/tests" && tar cf - --exclude=unit_test --exclude='*.o' . ) | ( cd "$root/tests" && tar xf - ) || exit 1

export ASAN_OPTIONS="abort_on_error=1:detect_leaks=0:log_path=$reports/asan"
export UBSAN_OPTIONS="print_stacktrace=1:log_path=$reports/ubsan"
export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:log_path=$reports/tsan"

sh "$top/tests/run.sh" --build-root="$root/tests" > "$root/run.out" 2>&1
rc=$?
grep -Ev '^[0-9]+ passed, [0-9]+ failed$' "$root/run.out"
line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$root/run.out" | tail -n 1)

if ls "$reports"/* >/dev/null 2>&1; then
	echo "== sanitizer reports ($san):"
	cat "$reports"/*
	passed=${line%% passed*}
	echo "${passed:-0} passed, $(ls "$reports"/* | wc -l) failed"
	exit 1
fi
echo "${line:-0 passed, 1 failed}"
exit $rc
