#!/usr/bin/env atf-sh
#
# What goes into other people's trees: the FreeBSD port overlay builds and
# installs this fork the way the ports framework does (natively, and for
# FreeBSD from a sysroot), its version sorts above upstream's, and the
# pfSense patches are well-formed diffs.
#
# The ports framework (Mk/bsd.port.mk) builds with
#	cd ${WRKSRC} && env -i ${WRK_ENV} ${MAKE_ENV} make -f Makefile -jN ${MAKE_ARGS} all
# and installs with the same, minus -j, plus DESTDIR=${STAGEDIR}, target
# install. The port-env helper below stands in for MAKE_ENV on a default
# amd64 build; MAKE_ARGS and PLIST_FILES are read from
# patches/freebsd-port/Makefile by BSD make itself (the port-var helper).

top()
{
	echo "$(atf_get_srcdir)/.."
}

# bsd_make: the BSD make here: bmake (Linux), or make where make is BSD
# make (FreeBSD); non-zero when there is none
bsd_make()
{
	if command -v bmake >/dev/null 2>&1; then
		echo bmake
	elif make -V .MAKE.LEVEL >/dev/null 2>&1; then
		echo make
	else
		return 1
	fi
}

# atf_check runs programs, not shell functions: write the two helpers as
# scripts into the test's work directory and print where they are.
#   port-env CMD...	run CMD under the environment the ports framework
#			gives make (MAKE_ENV of a default amd64 build)
#   port-var VAR [V=x]	print the expanded value of VAR in the port
#			overlay's Makefile, read by BSD make with an empty
#			bsd.port.mk
# ${bin}/mk also serves as an empty system make directory (-m), so that
# the host's sys.mk (Debian's resets LDFLAGS) does not stand in for
# FreeBSD's, whose defaults (?=) the environment overrides anyway.
make_helpers()
{
	bin=$(pwd)/helpers
	bm=$(bsd_make) || return 1
	mkdir -p "${bin}/mk"
	: > "${bin}/mk/sys.mk"
	: > "${bin}/mk/bsd.port.mk"
	cat > "${bin}/port-env" <<'EOF_ENV'
#!/bin/sh
exec env -i PATH="${PATH}" HOME="$(pwd)" PWD="$(pwd)" \
    __MAKE_CONF=/nonexistent SHELL=/bin/sh NO_LINT=YES \
    MK_DEBUG_FILES=no MK_KERNEL_SYMBOLS=no \
    PREFIX=/usr/local LOCALBASE=/usr/local \
    CC=cc CFLAGS="-O2 -pipe -fstack-protector-strong -fno-strict-aliasing" \
    CPP=cpp CPPFLAGS= LDFLAGS=" -fstack-protector-strong" LIBS= \
    CXX=c++ CXXFLAGS="-O2 -pipe -fstack-protector-strong -fno-strict-aliasing" \
    "$@"
EOF_ENV
	cat > "${bin}/port-var" <<EOF_VAR
#!/bin/sh
var=\$1
shift
exec ${bm} -m "${bin}/mk" -f "$(top)/patches/freebsd-port/Makefile" \\
    PREFIX=/usr/local "\$@" -v "\${var}" 2>/dev/null
EOF_VAR
	chmod +x "${bin}/port-env" "${bin}/port-var"
	echo "${bin}"
}

# copy_wrksrc DIR: the files of the release tarball the build uses
copy_wrksrc()
{
	mkdir -p "$1" || return 1
	for f in dpinger.c dpinger.8 Makefile LICENSE; do
		cp "$(top)/${f}" "$1/" || return 1
	done
}

# dp_version: VERSION as dpinger.c defines it
dp_version()
{
	sed -n 's/^#define VERSION  *"\(.*\)"$/\1/p' "$(top)/dpinger.c"
}

atf_test_case port_build_installs_plist
port_build_installs_plist_head()
{
	atf_set "descr" "BSD make builds and installs the fork as the FreeBSD" \
	    "port drives it, leaving exactly the files in PLIST_FILES and a" \
	    "dpinger whose usage names -E, -W and -N"
	atf_set "require.progs" "cc gzip strip"
}
port_build_installs_plist_body()
{
	bin=$(make_helpers) || atf_fail "no BSD make (bmake) here"
	bm=$(bsd_make)
	copy_wrksrc wrksrc || atf_fail "missing sources at the top of the tree"
	mkdir stage

	make_args=$("${bin}/port-var" MAKE_ARGS)
	plist=$("${bin}/port-var" PLIST_FILES)
	[ -n "${plist}" ] || atf_fail "cannot read PLIST_FILES of the port"
	stage=$(pwd)/stage

	# do-build: CFLAGS comes from the environment only. (So does LDFLAGS,
	# but Debian's bmake resets it in sys/Linux.mk, so it is not checked.)
	cd wrksrc
	atf_check -s exit:0 -o save:../build.log -e save:../build.err \
	    "${bin}/port-env" ${bm} -f Makefile -j2 ${make_args} all
	atf_check -s exit:0 -o ignore -e ignore \
	    grep -e '-fno-strict-aliasing' ../build.log

	# do-install, then what the framework does after it: post-install
	# strips (the port's STRIP_CMD), compress-man gzips the pages.
	atf_check -s exit:0 -o ignore -e ignore \
	    "${bin}/port-env" ${bm} -f Makefile ${make_args} DESTDIR="${stage}" install
	cd ..
	# (as root, like the port; a non-root run needs write permission first)
	chmod u+w stage/usr/local/bin/dpinger
	atf_check -s exit:0 strip stage/usr/local/bin/dpinger
	find stage/usr/local/share/man -type f ! -name '*.gz' \
	    -exec gzip -nf9 {} +

	# Exactly the packing list under PREFIX, nothing anywhere else.
	for p in ${plist}; do echo "usr/local/${p}"; done | sort > expected
	(cd stage && find . ! -type d | sed 's,^\./,,' | sort) > staged
	atf_check -s exit:0 -o empty -e empty diff -u expected staged

	atf_check -s exit:0 test -x stage/usr/local/bin/dpinger
	atf_check -s exit:0 gzip -t stage/usr/local/share/man/man8/dpinger.8.gz

	# The installed binary runs and documents the fork's options.
	atf_check -s exit:1 -o save:usage.out -e save:usage.err \
	    stage/usr/local/bin/dpinger -h
	cat usage.out usage.err > usage
	atf_check -s exit:0 -o ignore grep -i '^ *usage' usage
	for opt in '\[-E ' '\[-W ' '\[-N[] ]'; do
		atf_check -s exit:0 -o ignore grep -e "${opt}" usage
	done
}

atf_test_case port_overlay_declares_fork
port_overlay_declares_fork_head()
{
	atf_set "descr" "The port overlay follows the Porter's Handbook: the" \
	    "net/dpinger name, binary path and packing list, DISTVERSIONPREFIX" \
	    "and DISTVERSION instead of GH_TAGNAME, LICENSE_FILE, a literal WWW" \
	    "on the same GitHub owner as GH_ACCOUNT, a MAINTAINER that is not" \
	    "the ports list, IGNORE until the placeholders are filled in, and" \
	    "the variables in the Handbook's order"
}
port_overlay_declares_fork_body()
{
	bin=$(make_helpers) || atf_fail "no BSD make (bmake) here"
	port=$(top)/patches/freebsd-port
	for f in Makefile pkg-descr distinfo README.md; do
		[ -s "${port}/${f}" ] || atf_fail "port overlay lacks ${f}"
	done

	atf_check -o inline:"dpinger\n" "${bin}/port-var" PORTNAME
	atf_check -o inline:"net\n" "${bin}/port-var" CATEGORIES
	atf_check -o inline:"BSD2CLAUSE\n" "${bin}/port-var" LICENSE
	atf_check -o inline:"/w/LICENSE\n" "${bin}/port-var" LICENSE_FILE WRKSRC=/w
	[ -s "$(top)/LICENSE" ] || atf_fail "no LICENSE at the top of the tree"

	# The tag is v${DISTVERSION}: the framework's default GH_TAGNAME
	atf_check -o inline:"yes\n" "${bin}/port-var" USE_GITHUB
	atf_check -o inline:"v\n" "${bin}/port-var" DISTVERSIONPREFIX
	atf_check -o inline:"\n" "${bin}/port-var" GH_TAGNAME
	atf_check -o inline:"\n" "${bin}/port-var" PORTVERSION
	account=$("${bin}/port-var" GH_ACCOUNT)
	[ -n "${account}" ] || atf_fail "GH_ACCOUNT is empty"

	# WWW is literal and names the repository the distfile comes from
	atf_check -o match:'^WWW=[[:space:]]+https://[^$]*$' grep '^WWW=' "${port}/Makefile"
	atf_check -o inline:"https://github.com/${account}/dpinger/\n" "${bin}/port-var" WWW

	maintainer=$("${bin}/port-var" MAINTAINER)
	case "${maintainer}" in
	ports@[Ff]ree[Bb][Ss][Dd].org|"") atf_fail "MAINTAINER is '${maintainer}'" ;;
	*?@?*.?*) ;;
	*) atf_fail "MAINTAINER '${maintainer}' is not an address" ;;
	esac

	# Our Makefile, not upstream's Makefile.freebsd; no rc.d script; the
	# Makefile's own defaults put the manual page under share/man.
	atf_check -o inline:"\n" "${bin}/port-var" MAKEFILE
	atf_check -o inline:"\n" "${bin}/port-var" USE_RC_SUBR
	atf_check -o inline:"\n" "${bin}/port-var" MAKE_ARGS
	[ "$("${bin}/port-var" PLIST_FILES | tr -s ' \t' '\n\n' | sort | tr '\n' ' ')" = \
	    "bin/dpinger share/man/man8/dpinger.8.gz " ] ||
	    atf_fail "PLIST_FILES is not bin/dpinger and its man page"

	comment=$("${bin}/port-var" COMMENT)
	[ ${#comment} -le 70 ] || atf_fail "COMMENT longer than 70 characters"
	case "${comment}" in *.) atf_fail "COMMENT ends with a period" ;; esac

	# The placeholders stop a build until a packager fills them in.
	atf_check -o not-inline:"\n" "${bin}/port-var" IGNORE
	atf_check -o inline:"\n" "${bin}/port-var" IGNORE \
	    WWW=https://github.com/someone/dpinger/ GH_ACCOUNT=someone \
	    MAINTAINER=someone@example.org

	# Chapter 15 of the Handbook: the order of the variables
	awk -F= '/^[A-Z_]+=/ { print $1 } /^\.if/ { print ".if" }' "${port}/Makefile" |
	    tr '\n' ' ' > order
	atf_check -o inline:"PORTNAME DISTVERSIONPREFIX DISTVERSION PORTEPOCH CATEGORIES MAINTAINER COMMENT WWW LICENSE LICENSE_FILE .if IGNORE USE_GITHUB GH_ACCOUNT PLIST_FILES " \
	    cat order

	atf_check -s exit:1 -o empty grep -n '.\{81,\}' "${port}/pkg-descr"
}

atf_test_case version_is_one_everywhere
version_is_one_everywhere_head()
{
	atf_set "descr" "One version everywhere: dpinger.c's VERSION is the" \
	    "port's DISTVERSION (tag v<version>), heads CHANGES, is what the" \
	    "README says -h prints and what the binary prints; the scheme is" \
	    "<upstream base>-sh<n> and PORTEPOCH is at least 1, so the package" \
	    "sorts above every upstream release"
}
version_is_one_everywhere_body()
{
	bin=$(make_helpers) || atf_fail "no BSD make (bmake) here"
	v=$(dp_version)
	[ -n "${v}" ] || atf_fail "no #define VERSION in dpinger.c"
	echo "${v}" | grep -Eq '^[0-9]+\.[0-9]+-sh[0-9]+$' ||
	    atf_fail "VERSION '${v}' is not <upstream>-sh<n>"

	atf_check -o inline:"${v}\n" "${bin}/port-var" DISTVERSION
	epoch=$("${bin}/port-var" PORTEPOCH)
	[ "${epoch:-0}" -ge 1 ] 2>/dev/null || atf_fail "PORTEPOCH '${epoch}' is below 1"

	first=$(grep -E '^[0-9]+\.[0-9]' "$(top)/CHANGES" | head -n 1)
	case "${first}" in
	"${v} "*|"${v}") ;;
	*) atf_fail "CHANGES starts with '${first}', not ${v}" ;;
	esac
	grep -qF "dpinger ${v} (self-healing fork" "$(top)/README.md" ||
	    atf_fail "README.md does not show what -h prints for ${v}"
	grep -qF "v${v}" "$(top)/README.md" ||
	    atf_fail "README.md does not name the tag v${v}"

	dp=$(atf_config_get dpinger "$(top)/dpinger")
	atf_check -s exit:1 -o ignore -e match:"^dpinger ${v} \\(self-healing fork" "${dp}" -h
}

atf_test_case port_build_for_freebsd
port_build_for_freebsd_head()
{
	atf_set "descr" "The port's build command, with a cross compiler for" \
	    "the FreeBSD sysroot (FBSD_SYSROOT, default /tmp/fbsd-sysroot) in" \
	    "place of cc, makes a FreeBSD amd64 executable whose libraries are" \
	    "the sysroot's and whose every undefined dynamic symbol (with its" \
	    "version) is defined by one of them"
}

# defined_syms LIB: the dynamic symbols LIB defines, as name@version
defined_syms()
{
	llvm-nm -D --defined-only "$1" | awk 'NF >= 3 { s = $3; sub(/@@/, "@", s); print s }'
}

port_build_for_freebsd_body()
{
	export LC_ALL=C
	sysroot=${FBSD_SYSROOT:-/tmp/fbsd-sysroot}
	[ -f "${sysroot}/lib/libc.so.7" ] ||
	    atf_skip "optional: no FreeBSD sysroot at ${sysroot} (set FBSD_SYSROOT to one with usr/include and lib/ holding crt*.o, libc and libthr)"
	for p in clang ld.lld llvm-nm llvm-readelf ar; do
		command -v "${p}" >/dev/null 2>&1 ||
		    atf_skip "optional: ${p} is not installed (the FreeBSD cross toolchain)"
	done
	bin=$(make_helpers) || atf_fail "no BSD make (bmake) here"
	bm=$(bsd_make)
	copy_wrksrc wrksrc || atf_fail "missing sources at the top of the tree"
	make_args=$("${bin}/port-var" MAKE_ARGS)

	# The sysroot has no libgcc; clang's FreeBSD driver asks for it
	mkdir stubs && ar rc stubs/libgcc.a && ar rc stubs/libgcc_s.a ||
	    atf_fail "cannot make the libgcc stubs"
	cross_cc="clang --target=x86_64-unknown-freebsd13.4 --sysroot=${sysroot} -fuse-ld=lld -L$(pwd)/stubs"

	# do-build, exactly as the framework runs it, but with CC the cross
	# compiler (the framework's own CC is cc)
	cd wrksrc
	atf_check -s exit:0 -o save:../build.log -e save:../build.err \
	    "${bin}/port-env" env CC="${cross_cc}" \
	    ${bm} -m "${bin}/mk" -f Makefile -j2 ${make_args} all
	cd ..
	# The framework's CFLAGS and LDFLAGS reached the compiler
	atf_check -s exit:0 -o ignore \
	    grep -F -e '-O2 -pipe -fstack-protector-strong -fno-strict-aliasing' build.log
	atf_check -s exit:0 -o ignore grep -F -e "${cross_cc}" build.log
	[ -s build.err ] && atf_fail "the build printed warnings: $(cat build.err)"

	# A FreeBSD amd64 executable with FreeBSD's run-time linker
	atf_check -s exit:0 -o save:header llvm-readelf -h -l wrksrc/dpinger
	atf_check -s exit:0 -o ignore grep -E 'OS/ABI:[[:space:]]+UNIX - FreeBSD' header
	atf_check -s exit:0 -o ignore grep -E 'Machine:[[:space:]]+Advanced Micro Devices X86-64' header
	atf_check -s exit:0 -o ignore grep -E 'Type:[[:space:]]+(EXEC|DYN)' header
	atf_check -s exit:0 -o ignore grep -F '[Requesting program interpreter: /libexec/ld-elf.so.1]' header

	# Every needed library is in the sysroot (by its SONAME)
	llvm-readelf -d wrksrc/dpinger | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | sort > needed
	atf_check -s exit:0 -o match:'libc\.so\.7' cat needed
	atf_check -s exit:0 -o match:'libthr\.so\.3' cat needed
	: > provided
	: > found
	for lib in "${sysroot}"/lib/*.so*; do
		[ -f "${lib}" ] && [ ! -L "${lib}" ] || continue
		soname=$(llvm-readelf -d "${lib}" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
		grep -qxF "${soname}" needed || continue
		echo "${soname}" >> found
		defined_syms "${lib}" >> provided
	done
	sort -u found > found.sorted
	atf_check -s exit:0 -o empty diff needed found.sorted

	# Every strong undefined symbol, name and version, is defined there
	llvm-nm -D --undefined-only wrksrc/dpinger | awk '$1 == "U" { print $2 }' | sort -u > wanted
	[ -s wanted ] || atf_fail "no undefined dynamic symbols: not a dynamic executable?"
	sort -u provided > provided.sorted
	comm -23 wanted provided.sorted > missing
	[ -s missing ] && atf_fail "unresolved against the sysroot: $(tr '\n' ' ' < missing)"
	return 0
}

atf_test_case pfsense_patches_are_consistent_diffs
pfsense_patches_are_consistent_diffs_head()
{
	atf_set "descr" "Each pfSense patch is a -p1 unified diff of src/etc" \
	    "files whose hunk headers, counts and contexts agree: it applies" \
	    "without offset or fuzz to the pre-image rebuilt from its own" \
	    "hunks and turns it into the post-image (whether it applies to" \
	    "pfSense itself is checked by hand, see patches/pfsense/README.md)"
	atf_set "require.progs" "awk patch cmp"
}

# Write the old (side=old) or new (side=new) image of every file in patch
# $1 below directory $2: each hunk's lines at the line number its header
# gives, numbered filler lines in between, the same fillers on both sides.
rebuild_image()
{
	awk -v side="$3" -v root="$2" '
	(olds || news) && /^\\/ { next }
	(olds || news) {
		c = substr($0, 1, 1)
		if (c == " " || (c == "-" && side == "old") || (c == "+" && side == "new")) {
			print substr($0, 2) > out
			line++
		}
		if (c != "+") olds--
		if (c != "-") news--
		next
	}
	/^\+\+\+ / {
		if (out != "") close(out)
		path = $2
		sub(/^b\//, "", path)
		out = root "/" path
		dir = out
		sub(/\/[^\/]*$/, "", dir)
		system("mkdir -p \"" dir "\"")
		printf "" > out
		line = 1
		filler = 0
		next
	}
	/^@@ / {
		split($2, o, ",")
		split($3, n, ",")
		start = ((side == "old") ? substr(o[1], 2) : substr(n[1], 2)) + 0
		olds = (o[2] == "") ? 1 : o[2] + 0
		news = (n[2] == "") ? 1 : n[2] + 0
		while (line < start) {
			print "/* filler " ++filler " */" > out
			line++
		}
	}
	END {
		if (out != "") close(out)
	}
	' "$1"
}

pfsense_patches_are_consistent_diffs_body()
{
	n=0
	for p in "$(top)"/patches/pfsense/*.patch; do
		[ -f "${p}" ] || continue
		n=$((n + 1))
		name=$(basename "${p}")

		# Headers: a/src/etc/X then b/src/etc/X, at least one hunk each,
		# every hunk body line is context, removal, addition or "\".
		awk '
		(olds || news) {
			c = substr($0, 1, 1)
			if (c == " ") { olds--; news-- }
			else if (c == "-") olds--
			else if (c == "+") news--
			else if (c != "\\") { bad = "bad hunk line " NR; exit }
			if (olds < 0 || news < 0) { bad = "hunk longer than its header"; exit }
			next
		}
		/^--- / {
			if (want_plus) { bad = "two --- headers in a row"; exit }
			a = $2; want_plus = 1; next
		}
		/^\+\+\+ / && want_plus {
			b = $2; want_plus = 0
			if (a !~ /^a\/src\/etc\// || b !~ /^b\/src\/etc\//) {
				bad = "path outside src/etc: " a " " b; exit
			}
			if (substr(a, 3) != substr(b, 3)) { bad = "a/ and b/ differ"; exit }
			files++; next
		}
		/^@@ / {
			if (!files) { bad = "hunk before file header"; exit }
			split($2, o, ","); split($3, nn, ",")
			if (o[1] !~ /^-[0-9]+$/ || nn[1] !~ /^\+[0-9]+$/ || $4 != "@@") {
				bad = "malformed hunk header at line " NR; exit
			}
			olds = (o[2] == "") ? 1 : o[2] + 0
			news = (nn[2] == "") ? 1 : nn[2] + 0
			hunks++; next
		}
		END {
			if (bad == "" && want_plus) bad = "--- without +++"
			if (bad == "" && (olds || news)) bad = "last hunk cut short"
			if (bad == "" && !files) bad = "no file in patch"
			if (bad == "" && !hunks) bad = "no hunk in patch"
			if (bad != "") { print bad; exit 1 }
			print files " file(s), " hunks " hunk(s)"
		}
		' "${p}" > "${name}.shape" 2>&1 ||
		    atf_fail "${name}: $(cat "${name}.shape")"

		# Pre-image in, post-image out, no offset and no fuzz.
		rm -rf old new
		mkdir old new
		rebuild_image "${p}" old old
		rebuild_image "${p}" new new
		(cd old && patch -p1 --dry-run -F0 -i "${p}") > "${name}.dry" 2>&1 ||
		    atf_fail "${name}: dry run failed: $(cat "${name}.dry")"
		if grep -qi -e offset -e fuzz "${name}.dry"; then
			atf_fail "${name}: hunk headers disagree: $(cat "${name}.dry")"
		fi
		(cd old && patch -p1 -s -F0 -i "${p}") ||
		    atf_fail "${name}: apply failed"
		for f in $(cd new && find . -type f); do
			cmp -s "old/${f}" "new/${f}" ||
			    atf_fail "${name}: ${f} does not become the post-image"
		done
		(cd old && patch -p1 -R -s -F0 -i "${p}") ||
		    atf_fail "${name}: does not reverse"
	done
	[ "${n}" -eq 2 ] || atf_fail "expected 2 pfSense patches, found ${n}"
}

atf_init_test_cases()
{
	atf_add_test_case port_build_installs_plist
	atf_add_test_case port_overlay_declares_fork
	atf_add_test_case version_is_one_everywhere
	atf_add_test_case port_build_for_freebsd
	atf_add_test_case pfsense_patches_are_consistent_diffs
}
