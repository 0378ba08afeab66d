#!/usr/bin/env atf-sh
#
# What goes into other people's trees: the FreeBSD port overlay builds and
# installs this fork the way the ports framework does, and the pfSense
# patches are well-formed diffs.
#
# The ports framework (Mk/bsd.port.mk) builds with
#	cd ${WRKSRC} && env -i ${WRK_ENV} ${MAKE_ENV} make -f Makefile -jN ${MAKE_ARGS} all
# and installs with the same, minus -j, plus DESTDIR=${STAGEDIR}, target
# install. The port-env helper below stands in for MAKE_ENV on a default
# amd64 build; MAKE_ARGS and PLIST_FILES are read from
# patches/freebsd-port/Makefile by bmake itself (the port-var helper).

top()
{
	echo "$(atf_get_srcdir)/.."
}

# atf_check runs programs, not shell functions: write the two helpers as
# scripts into the test's work directory and print where they are.
#   port-env CMD...	run CMD under the environment the ports framework
#			gives make (MAKE_ENV of a default amd64 build)
#   port-var VAR [V=x]	print the expanded value of VAR in the port
#			overlay's Makefile, read by bmake with an empty
#			bsd.port.mk
make_helpers()
{
	bin=$(pwd)/helpers
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
exec bmake -m "${bin}/mk" -f "$(top)/patches/freebsd-port/Makefile" \\
    PREFIX=/usr/local "\$@" -v "\${var}" 2>/dev/null
EOF_VAR
	chmod +x "${bin}/port-env" "${bin}/port-var"
	echo "${bin}"
}

atf_test_case port_build_installs_plist
port_build_installs_plist_head()
{
	atf_set "descr" "bmake builds and installs the fork as the FreeBSD" \
	    "port drives it, leaving exactly the files in PLIST_FILES and a" \
	    "dpinger whose usage names -E, -W and -N"
	atf_set "require.progs" "bmake cc gzip strip"
}
port_build_installs_plist_body()
{
	for f in dpinger.c dpinger.8 Makefile; do
		[ -f "$(top)/${f}" ] || atf_fail "missing ${f} at the top of the tree"
	done
	bin=$(make_helpers)
	mkdir wrksrc stage
	cp "$(top)/dpinger.c" "$(top)/dpinger.8" "$(top)/Makefile" wrksrc/

	make_args=$("${bin}/port-var" MAKE_ARGS)
	plist=$("${bin}/port-var" PLIST_FILES)
	[ -n "${make_args}" ] || atf_fail "cannot read MAKE_ARGS of the port"
	[ -n "${plist}" ] || atf_fail "cannot read PLIST_FILES of the port"
	stage=$(pwd)/stage

	# do-build: CFLAGS comes from the environment only. (So does LDFLAGS,
	# but Debian's bmake resets it in sys/Linux.mk, so it is not checked.)
	cd wrksrc
	atf_check -s exit:0 -o save:../build.log -e save:../build.err \
	    "${bin}/port-env" bmake -f Makefile -j2 ${make_args} all
	atf_check -s exit:0 -o ignore -e ignore \
	    grep -e '-fno-strict-aliasing' ../build.log

	# do-install, then what the framework does after it: post-install
	# strips (the port's STRIP_CMD), compress-man gzips the pages.
	atf_check -s exit:0 -o ignore -e ignore \
	    "${bin}/port-env" bmake -f Makefile ${make_args} DESTDIR="${stage}" install
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
	atf_set "descr" "The port overlay builds this fork with its own" \
	    "Makefile under the net/dpinger name, binary path and packing list"
	atf_set "require.progs" "bmake"
}
port_overlay_declares_fork_body()
{
	bin=$(make_helpers)
	port=$(top)/patches/freebsd-port
	for f in Makefile pkg-descr distinfo README.md; do
		[ -s "${port}/${f}" ] || atf_fail "port overlay lacks ${f}"
	done

	atf_check -o inline:"dpinger\n" "${bin}/port-var" PORTNAME
	atf_check -o inline:"net\n" "${bin}/port-var" CATEGORIES
	atf_check -o inline:"BSD2CLAUSE\n" "${bin}/port-var" LICENSE
	atf_check -o inline:"yes\n" "${bin}/port-var" USE_GITHUB
	atf_check -o not-inline:"\n" "${bin}/port-var" GH_ACCOUNT
	atf_check -o not-inline:"\n" "${bin}/port-var" GH_TAGNAME
	atf_check -o not-inline:"\n" "${bin}/port-var" WWW
	# Our Makefile, not upstream's Makefile.freebsd; no rc.d script.
	atf_check -o inline:"\n" "${bin}/port-var" MAKEFILE
	atf_check -o inline:"\n" "${bin}/port-var" USE_RC_SUBR
	atf_check -o match:"(^| )MANDIR=/usr/local/share/man/man8( |$)" \
	    "${bin}/port-var" MAKE_ARGS
	[ "$("${bin}/port-var" PLIST_FILES | tr -s ' \t' '\n\n' | sort | tr '\n' ' ')" = \
	    "bin/dpinger share/man/man8/dpinger.8.gz " ] ||
	    atf_fail "PLIST_FILES is not bin/dpinger and its man page"

	comment=$("${bin}/port-var" COMMENT)
	[ ${#comment} -le 70 ] || atf_fail "COMMENT longer than 70 characters"
	case "${comment}" in *.) atf_fail "COMMENT ends with a period" ;; esac

	# The placeholders stop a build until a packager fills them in.
	atf_check -o not-inline:"\n" "${bin}/port-var" IGNORE
	atf_check -o inline:"\n" "${bin}/port-var" IGNORE GH_ACCOUNT=someone GH_TAGNAME=v3.3.1

	atf_check -s exit:1 -o empty grep -n '.\{81,\}' "${port}/pkg-descr"
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
	atf_add_test_case pfsense_patches_are_consistent_diffs
}
