# dpinger, self-healing fork of dpinger 3.3
#
# Works with GNU make and BSD make (bmake).  Honours CC, CFLAGS, CPPFLAGS,
# LDFLAGS, PREFIX, DESTDIR, BINDIR and MANDIR.
#
#   make            build dpinger
#   make check      build and run the test suite (ATF + kyua; root for the
#                   network tests), prints "N passed, N failed"
#   make check-asan, make check-tsan
#                   the same suite under ASan+UBSan / ThreadSanitizer (clang)
#   make fuzz       libFuzzer targets for the decoders and parsers, each for
#                   FUZZ_SECONDS (default 30) after replaying the corpus;
#                   FUZZ_SEED=n FUZZ_RUNS=n for a repeatable run (as CI)
#   make soak       chaos soak: pfSense-shaped monitors under random faults,
#                   invariants checked throughout (root); SOAK_SECONDS=N
#                   (default 120), SOAK_SEED=n to replay a schedule
#   make bench      benchmark suite (tests/bench/all.sh, root, about 15
#                   minutes): cost side by side with stock dpinger when
#                   STOCK_DPINGER names its binary, 200 instances, heal
#                   times, status socket, accuracy, instruction counts;
#                   BENCH_QUICK=1 for a 3-minute development run
#   make demo       self-contained demonstration in network namespaces (root)
#   make demo STOCK_DPINGER=/path
#                   the same with a stock dpinger beside the fork; writes a
#                   timeline picture (SVG) of both
#   make contract [DPINGER=/path/to/dpinger]
#                   drop-in contract tests and defect reproducers against
#                   any dpinger binary (default: the one just built); ends
#                   with "contract: N passed, N failed" and
#                   "defects reproduced: N of M" (root, Linux)
#   make install    install bin/dpinger and the man page (under share/man,
#                   where the FreeBSD ports tree and the FHS keep them)

CC?=		cc
CFLAGS?=	-O2 -g
PREFIX?=	/usr/local
BINDIR?=	$(PREFIX)/bin
MANDIR?=	$(PREFIX)/share/man/man8
INSTALL?=	install

DP_CFLAGS=	-std=c11 -Wall -Wextra
DP_LIBS=	-lpthread
ATF_CFLAGS=	`pkg-config --cflags atf-c 2>/dev/null`
ATF_LIBS=	`pkg-config --libs atf-c 2>/dev/null || echo -latf-c`

TEST_PROGS=	tests/unit_test tests/tools/tunpeer tests/tools/freezer \
		tests/tools/faultinject.so tests/tools/sockquery \
		tests/tools/threadtoy tests/tools/rawsend \
		tests/hostile/clients tests/hostile/forge
TEST_PROGS+=	tests/tools/connburst
TEST_PROGS+=	tests/tools/logformats

all: dpinger

dpinger: dpinger.c
	$(CC) $(DP_CFLAGS) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o dpinger dpinger.c $(DP_LIBS)

tests/unit_test: tests/unit_test.c dpinger.c
	$(CC) $(DP_CFLAGS) -Wno-unused-function $(CPPFLAGS) $(CFLAGS) $(ATF_CFLAGS) $(LDFLAGS) \
	    -o tests/unit_test tests/unit_test.c $(ATF_LIBS) $(DP_LIBS)

tests/tools/tunpeer: tests/tools/tunpeer.c
	$(CC) $(DP_CFLAGS) -D_GNU_SOURCE $(CFLAGS) $(LDFLAGS) -o tests/tools/tunpeer tests/tools/tunpeer.c

tests/tools/freezer: tests/tools/freezer.c
	$(CC) $(DP_CFLAGS) -D_GNU_SOURCE $(CFLAGS) $(LDFLAGS) -o tests/tools/freezer tests/tools/freezer.c

tests/tools/faultinject.so: tests/tools/faultinject.c
	$(CC) $(DP_CFLAGS) -D_GNU_SOURCE -O2 -shared -fPIC -o tests/tools/faultinject.so tests/tools/faultinject.c -ldl

tests/tools/sockquery: tests/tools/sockquery.c
	$(CC) $(DP_CFLAGS) -D_GNU_SOURCE $(CFLAGS) $(LDFLAGS) -o tests/tools/sockquery tests/tools/sockquery.c $(DP_LIBS)

tests/tools/threadtoy: tests/tools/threadtoy.c
	$(CC) $(DP_CFLAGS) -D_GNU_SOURCE $(CFLAGS) $(LDFLAGS) -o tests/tools/threadtoy tests/tools/threadtoy.c $(DP_LIBS)

tests/tools/rawsend: tests/tools/rawsend.c
	$(CC) $(DP_CFLAGS) -D_GNU_SOURCE $(CFLAGS) $(LDFLAGS) -o tests/tools/rawsend tests/tools/rawsend.c

tests/tools/connburst: tests/tools/connburst.c
	$(CC) $(DP_CFLAGS) -D_GNU_SOURCE $(CFLAGS) $(LDFLAGS) -o tests/tools/connburst tests/tools/connburst.c

tests/hostile/clients: tests/hostile/clients.c
	$(CC) $(DP_CFLAGS) -D_GNU_SOURCE $(CFLAGS) $(LDFLAGS) -o tests/hostile/clients tests/hostile/clients.c

tests/hostile/forge: tests/hostile/forge.c
	$(CC) $(DP_CFLAGS) -D_GNU_SOURCE $(CFLAGS) $(LDFLAGS) -o tests/hostile/forge tests/hostile/forge.c

tests/tools/tunpeer tests/tools/freezer tests/tools/sockquery tests/tools/threadtoy \
tests/tools/rawsend tests/hostile/clients tests/hostile/forge: tests/lib/tools.h

tests/tools/logformats: tests/tools/logformats.c dpinger.c
	$(CC) $(DP_CFLAGS) -Wno-unused-function $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) \
	    -o tests/tools/logformats tests/tools/logformats.c $(DP_LIBS)

tests: dpinger $(TEST_PROGS)

check: tests
	sh tests/run.sh

check-asan: tests
	sh tests/sanitize.sh asan

check-tsan: tests
	sh tests/sanitize.sh tsan

FUZZ_SECONDS?=	30
FUZZ_SEED?=
FUZZ_RUNS?=
SOAK_SECONDS?=	120
SOAK_SEED?=

fuzz:
	FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_SEED=$(FUZZ_SEED) FUZZ_RUNS=$(FUZZ_RUNS) sh tests/fuzz/run.sh

soak: tests
	SOAK_SECONDS=$(SOAK_SECONDS) SOAK_SEED=$(SOAK_SEED) sh tests/soak/soak.sh

bench: tests
	STOCK_DPINGER="$(STOCK_DPINGER)" BENCH_QUICK="$(BENCH_QUICK)" sh tests/bench/all.sh

demo: dpinger tests/tools/sockquery
	sh tests/demo.sh

DPINGER?=	./dpinger
CONTRACT_PROGS=	tests/contract/logcatch tests/contract/threadstop tests/contract/exitread

tests/contract/logcatch: tests/contract/logcatch.c
	$(CC) $(DP_CFLAGS) -D_GNU_SOURCE $(CFLAGS) $(LDFLAGS) -o tests/contract/logcatch tests/contract/logcatch.c

tests/contract/threadstop: tests/contract/threadstop.c
	$(CC) $(DP_CFLAGS) -D_GNU_SOURCE $(CFLAGS) $(LDFLAGS) -o tests/contract/threadstop tests/contract/threadstop.c

tests/contract/exitread: tests/contract/exitread.c
	$(CC) $(DP_CFLAGS) -D_GNU_SOURCE $(CFLAGS) $(LDFLAGS) -o tests/contract/exitread tests/contract/exitread.c

contract: dpinger tests/tools/sockquery $(CONTRACT_PROGS)
	sh tests/contract/run.sh "$(DPINGER)"

clean: clean-contract
clean-contract:
	rm -f $(CONTRACT_PROGS)

.PHONY: contract clean-contract

install: dpinger
	$(INSTALL) -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)
	$(INSTALL) -m 0555 dpinger $(DESTDIR)$(BINDIR)/dpinger
	$(INSTALL) -m 0444 dpinger.8 $(DESTDIR)$(MANDIR)/dpinger.8

clean:
	rm -f dpinger $(TEST_PROGS)
	rm -rf build

.PHONY: all tests check check-asan check-tsan fuzz soak bench demo install clean
