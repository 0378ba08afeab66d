#!/usr/bin/env atf-sh
#
# The documentation keeps up with the code: every option of the usage text
# and every line in the daemon's log format table is described in dpinger.8,
# the manual page is lint-clean, and the README and CHANGES name what a user
# needs.
#

. "$(atf_get_srcdir)/lib/netns.subr"

# manual_text: dpinger.8 as a reader sees it, all white space squeezed to one space
manual_text()
{
	mandoc -Tascii "$(top_dir)/dpinger.8" | col -b | tr -s '[:space:]' ' '
}

# format_pieces: the literal pieces of the printf formats on stdin, one a line:
# the text between conversions (%% is a literal %), without the "%s%s: "
# prefix of [identifier ]dest_addr, white space squeezed and trimmed, 3 or
# more characters
format_pieces()
{
	awk '{
		f = $0
		sub(/^%s%s: /, "", f)
		gsub(/%%/, "\001", f)
		n = split(f, parts, /%[-#0 +]*[0-9*]*(\.[0-9*]+)?(hh|h|ll|l|j|z|t|L)?[diouxXeEfFgGaAcspn]/)
		for (i = 1; i <= n; i++) {
			p = parts[i]
			gsub(/\001/, "%", p)
			gsub(/[ \t]+/, " ", p)
			sub(/^ /, "", p)
			sub(/ $/, "", p)
			if (length(p) >= 3)
				print p
		}
	}'
}

atf_test_case usage_options_in_manual
usage_options_in_manual_head()
{
	atf_set descr "Every option in the usage text (dpinger -h) has an entry in dpinger.8, and the other way round"
}
usage_options_in_manual_body()
{
	"$(top_dir)/dpinger" -h > usage 2>&1
	[ $? -eq 1 ] || atf_fail "dpinger -h does not exit 1"
	atf_check -s exit:0 -o match:'self-healing fork of dpinger 3.3' cat usage
	grep -Eo '^ +-[A-Za-z] ' usage | tr -d ' -' | sort -u > from_usage
	[ "$(wc -l < from_usage)" -ge 22 ] || atf_fail "usage lists only $(wc -l < from_usage) options"
	grep -Eo '^\.It Fl [A-Za-z]' "$(top_dir)/dpinger.8" | awk '{ print $3 }' | sort -u > from_manual
	atf_check -s exit:0 -o empty diff from_usage from_manual
	# The synopsis of both lists every option too
	for o in $(cat from_usage); do
		grep -q -- "-$o" usage || atf_fail "-$o missing from the usage synopsis"
		grep -Eq "^\.Op Fl ([A-Za-z]*$o[A-Za-z]*$|$o )" "$(top_dir)/dpinger.8" || atf_fail "-$o missing from the manual's synopsis"
	done
}

atf_test_case manual_lint_clean
manual_lint_clean_head()
{
	atf_set descr "mandoc -Tlint finds nothing to warn about in dpinger.8"
	atf_set require.progs mandoc
}
manual_lint_clean_body()
{
	atf_check -s exit:0 -o empty -e empty mandoc -Tlint -W warning "$(top_dir)/dpinger.8"
	# Style notes other than cross-references to FreeBSD pages this host lacks
	mandoc -Tlint "$(top_dir)/dpinger.8" 2>&1 | grep -v 'referenced manual not found' | grep -v 'mandoc.db' > style
	atf_check -s exit:0 -o empty cat style
}

atf_test_case manual_renders_log_lines
manual_renders_log_lines_head()
{
	atf_set descr "The rendered manual shows the log lines whole (no mdoc macro swallows a word such as Ns)"
	atf_set require.progs mandoc
}
manual_renders_log_lines_body()
{
	manual_text > rendered
	for text in 'retry in Ns' 'arriving again Ns after the first trigger' 'no reply for Ns and a fresh-socket probe' \
	    'stalled for Ns, restarting in place' 'deferred for Ns (rate limit)' 'outage of Ns, no rebuild needed'; do
		grep -qF -- "$text" rendered || atf_fail "the rendered manual lacks '$text'"
	done
}

atf_test_case manual_names_log_lines
manual_names_log_lines_head()
{
	atf_set descr "The self-healing and watchdog log lines are still in the daemon (its binary, not a comment) and described in dpinger.8"
	atf_set require.progs mandoc
}
manual_names_log_lines_body()
{
	manual_text > rendered
	for line in 'rebuilt ICMP sockets' 'rebuild failed' 'healed: replies arriving again' \
	    'real outage, not rebuilding' 'replies resumed after an outage' 'waiting for it to return' 'is gone' \
	    'is down, waiting for it to come up' 'probes held back until it returns' 'waiting for one' \
	    'leave by' 'was paused for' 'uninterruptible kernel wait' \
	    'stalled for' 'restarting in place' 'deferred for' \
	    'exiting on signal' 'sendto error' 'duplicate echo reply' 'recvfrom error' 'alert command: /bin/sh' \
	    'watchdog: exec' 'interface changes are seen through send errors only' 'log lines dropped'; do
		grep -qaF -- "$line" "$(top_dir)/dpinger" || atf_fail "the daemon no longer writes '$line'"
		grep -qF -- "$line" rendered || atf_fail "dpinger.8 does not describe '$line'"
	done
}

atf_test_case manual_describes_log_formats
manual_describes_log_formats_head()
{
	atf_set descr "Every line in the daemon's log format table is described in dpinger.8: each literal piece of its format appears in the rendered manual"
	atf_set require.progs mandoc
}
manual_describes_log_formats_body()
{
	check_built "$(tool logformats)"
	atf_check -s exit:0 -o save:formats -e empty "$(tool logformats)"
	[ "$(wc -l < formats)" -ge 20 ] || atf_fail "the format table lists only $(wc -l < formats) lines"
	format_pieces < formats > pieces
	manual_text > rendered
	missing=
	while IFS= read -r piece; do
		grep -qF -- "$piece" rendered || missing="$missing '$piece'"
	done < pieces
	[ -z "$missing" ] || atf_fail "dpinger.8 lacks these pieces of log lines:$missing"
}

atf_test_case readme_and_changes
readme_and_changes_head()
{
	atf_set descr "The README gives the two commands; CHANGES and the README name the new options"
}
readme_and_changes_body()
{
	atf_check -s exit:0 -o ignore grep -F 'make demo' "$(top_dir)/README.md"
	atf_check -s exit:0 -o ignore grep -F 'make check' "$(top_dir)/README.md"
	for o in -E -W -N; do
		grep -q -- "$o" "$(top_dir)/CHANGES" || atf_fail "CHANGES does not mention $o"
		grep -q -- "$o" "$(top_dir)/README.md" || atf_fail "README.md does not mention $o"
	done
}

atf_init_test_cases()
{
	atf_add_test_case usage_options_in_manual
	atf_add_test_case manual_lint_clean
	atf_add_test_case manual_renders_log_lines
	atf_add_test_case manual_names_log_lines
	atf_add_test_case manual_describes_log_formats
	atf_add_test_case readme_and_changes
}
