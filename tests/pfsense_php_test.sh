#!/usr/bin/env atf-sh
#
# The pfSense patches (patches/pfsense/*.patch) against pfSense's own PHP.
# Each case copies src/etc of the pfSense tree named by PFSENSE_TREE (or the
# atf variable pfsense_tree) into a test world, applies the patches, and runs
# pfSense's real scripts and functions there: rc.gateway_alarm, rc.ipsec,
# ipsec_configure(), interface_ipsec_vti_configure(),
# setup_gateways_monitor().  Only what would run a system command or call
# pfSense's PHP extension is replaced (tests/pfsense/harness.php); the
# commands are recorded in the world's cmd.log, which the cases read.
# Without a pfSense tree every case skips.
#

. "$(atf_get_srcdir)/lib/netns.subr"
. "$(atf_get_srcdir)/pfsense/world.subr"

P1=0001-restart-gateway-monitors-after-ipsec-reconfigure.patch
P2=0002-keep-unchanged-ipsec-vti-interfaces.patch

# world [PATCH...]: ./w, a world with these patches, and a live process
# whose pid the fake dpingers write into their pid files
world()
{
	world_make "$PWD/w" "$@" || atf_fail "cannot make the test world"
	sleep 600 &
	pid_record $!
	PFH_LIVE_PID=$!
	export PFH_LIVE_PID
}

# monitors_started: the gateway monitors as pfSense starts them at boot
monitors_started()
{
	php_ok 'require_once("config.inc"); require_once("gwlb.inc"); setup_gateways_monitor();'
	atf_check -s exit:0 -o inline:"4\n" -x "ls w/root/var/run/dpinger_*.pid | wc -l"
	: > w/cmd.log
}

# starts [NAME]: how many dpinger monitors were started (for that gateway)
starts()
{
	world_count w "^/usr/local/bin/dpinger .*-i ${1:-[^ ]+} "
}

# alarms N GW: N alarm cycles (down, then clear) of gateway GW
alarms()
{
	_i=0
	while [ "$_i" -lt "$1" ]; do
		world_alarm w "$2" 1 || atf_fail "rc.gateway_alarm failed"
		world_alarm w "$2" 0 || atf_fail "rc.gateway_alarm failed"
		_i=$((_i + 1))
	done
}

# is N COMMAND...: the shell function COMMAND prints N
is()
{
	_want=$1
	shift
	_got=$("$@")
	[ "$_got" = "$_want" ] || atf_fail "$*: $_got, expected $_want"
}

# php_ok CODE: pfSense PHP in the world, which must exit 0
php_ok()
{
	world_php w "$1" > php.out 2> php.err || atf_fail "PHP failed: $1: $(cat php.err)"
}

# reloads_were N: rc.ipsec ran N times, each successfully and to the end
reloads_were()
{
	atf_check -s exit:0 -o inline:"$1\n" -x "grep -c '^rc.ipsec exit 0\$' w/cmd.log"
	atf_check -s exit:0 -o inline:"$1\n" -x "grep -c 'tunnel gateways have changed. Refreshing' w/syslog.log"
	atf_check -s exit:0 -o inline:"$1\n" -x "grep -c '^/usr/local/sbin/strongswanrc ' w/cmd.log"
	if [ -s w/rc.ipsec.err ]; then
		atf_fail "rc.ipsec wrote to stderr: $(head -5 w/rc.ipsec.err)"
	fi
}

atf_test_case patches_apply_and_lint
patches_apply_and_lint_head()
{
	atf_set descr "Each pfSense patch applies to the tree with patch --dry-run -p1, alone and with the other in either order, without fuzz; every file they touch passes php -l"
	atf_set require.progs patch php
	atf_set timeout 60
}
patches_apply_and_lint_body()
{
	pf_require
	t=$(pf_tree)
	for p in "$P1" "$P2"; do
		atf_check -s exit:0 -o save:dry.out -e empty patch --dry-run -p1 -d "$t" -i "$(pf_patches)/$p"
		atf_check -s exit:1 grep -i -e fuzz -e fail -e reject dry.out
	done
	for order in "$P1 $P2" "$P2 $P1"; do
		rm -rf both && mkdir -p both/src
		cp -R "$t/src/etc" both/src/
		for p in $order; do
			atf_check -s exit:0 -o save:apply.out -e empty patch -p1 -d both -i "$(pf_patches)/$p"
			atf_check -s exit:1 grep -i -e fuzz -e fail -e reject apply.out
		done
	done
	# both/ now has both patches; lint what they touch (PHP 8.2 needs the
	# 8.3 shim first, for pfSense's code, not for the patches')
	files=$(sed -n 's#^+++ b/##p' "$(pf_patches)"/*.patch | sed 's/[[:space:]].*//' | sort -u)
	[ -n "$files" ] || atf_fail "no files in the patches"
	for f in $files; do
		pf_php83_shim "both/$f" > shim.out
		echo "$f: $(cat shim.out) PHP 8.3 statement(s) rewritten for php $(php -r 'echo PHP_VERSION;')" >&2
		atf_check -s exit:0 -o match:'No syntax errors' -e empty php -l "both/$f"
	done
}

atf_test_case alarm_loop_restarts_nothing cleanup
alarm_loop_restarts_nothing_head()
{
	atf_set descr "With 0001 and 0002, gateway alarms on the WAN that carries the phase 1 reload IPsec through the real rc.gateway_alarm, rc.ipsec and ipsec_configure(), and restart no monitor while the VTI is unchanged: no restart loop"
	atf_set require.progs patch php
	atf_set timeout 120
}
alarm_loop_restarts_nothing_body()
{
	pf_require
	world "$P1" "$P2"
	monitors_started
	ls -l --time-style=+%s.%N w/root/var/run > before.ls

	alarms 3 WANGW
	reloads_were 6
	is 0 starts
	is 0 world_count w '^/bin/pkill -TERM'
	is 0 world_count w '^/sbin/ifconfig ipsec4711 (destroy|create)'
	is 6 world_count w '^/sbin/ifconfig ipsec4711$'
	atf_check -s exit:1 grep 'restarting its gateway monitors' w/syslog.log
	ls -l --time-style=+%s.%N w/root/var/run > after.ls
	atf_check -s exit:0 diff before.ls after.ls
}
alarm_loop_restarts_nothing_cleanup()
{
	netns_cleanup
}

atf_test_case alarm_recreated_vti_restarts_its_monitors cleanup
alarm_recreated_vti_restarts_its_monitors_head()
{
	atf_set descr "With 0001 and 0002, a reload that has to recreate the VTI (its peer changed) restarts exactly the monitor on it, once; the next alarms restart nothing"
	atf_set require.progs patch php
	atf_set timeout 120
}
alarm_recreated_vti_restarts_its_monitors_body()
{
	pf_require
	world "$P1" "$P2"
	monitors_started
	world_config w '$cfg["ipsec"]["phase1"][0]["remote-gateway"] = "203.0.113.9";'

	alarms 1 WANGW
	reloads_were 2
	is 1 world_count w '^/sbin/ifconfig ipsec4711 destroy$'
	is 1 starts
	is 1 starts VTI_VTIV4
	is 1 world_count w '^/bin/pkill -TERM -F .*/dpinger_VTI_VTIV4~'
	is 1 world_count w '^/bin/pkill -TERM'
	atf_check -s exit:0 -o match:'IPsec VTI ipsec4711 created anew, restarting its gateway monitors' cat w/syslog.log
	atf_check -s exit:0 -o inline:"4\n" -x "ls w/root/var/run/dpinger_*.pid | wc -l"

	: > w/cmd.log
	alarms 3 WANGW
	is 0 starts
	is 0 world_count w '^/sbin/ifconfig ipsec4711 destroy$'
}
alarm_recreated_vti_restarts_its_monitors_cleanup()
{
	netns_cleanup
}

atf_test_case alarm_0001_alone_restarts_vti_monitors_only cleanup
alarm_0001_alone_restarts_vti_monitors_only_head()
{
	atf_set descr "With 0001 alone every reload recreates the VTI and restarts the monitor on it, never the WAN monitors whose alarms asked for the reload (the old restart of all monitors looped)"
	atf_set require.progs patch php
	atf_set timeout 120
}
alarm_0001_alone_restarts_vti_monitors_only_body()
{
	pf_require
	world "$P1"
	monitors_started
	alarms 2 WANGW
	reloads_were 4
	is 4 world_count w '^/sbin/ifconfig ipsec4711 destroy$'
	is 4 starts
	is 4 starts VTI_VTIV4
}
alarm_0001_alone_restarts_vti_monitors_only_cleanup()
{
	netns_cleanup
}

atf_test_case alarm_stock_strands_vti_monitor cleanup
alarm_stock_strands_vti_monitor_head()
{
	atf_set descr "Without the patches each alarm-driven reload destroys and recreates the VTI and restarts no monitor (redmine #16824): the baseline the patches change"
	atf_set require.progs php
	atf_set timeout 120
}
alarm_stock_strands_vti_monitor_body()
{
	pf_require
	world
	monitors_started
	alarms 1 WANGW
	reloads_were 2
	is 2 world_count w '^/sbin/ifconfig ipsec4711 destroy$'
	is 0 starts
}
alarm_stock_strands_vti_monitor_cleanup()
{
	netns_cleanup
}

atf_test_case vti_restart_not_booting_not_stopped cleanup
vti_restart_not_booting_not_stopped_head()
{
	atf_set descr "0001 restarts nothing while pfSense boots or after Services > Stop (the real service_control_stop() leaves the marker); Services > Start removes the marker and the next recreation restarts the VTI monitor again"
	atf_set require.progs patch php
	atf_set timeout 120
}
vti_restart_not_booting_not_stopped_body()
{
	pf_require
	world "$P1"
	monitors_started
	ipsec='require_once("config.inc"); require_once("ipsec.inc"); ipsec_configure();'

	touch w/root/var/run/booting
	php_ok "$ipsec"
	rm w/root/var/run/booting
	is 1 world_count w '^/sbin/ifconfig ipsec4711 destroy$'
	is 0 starts

	php_ok 'require_once("config.inc"); require_once("service-utils.inc"); service_control_stop("dpinger", array());'
	atf_check -s exit:0 test -f w/root/var/run/dpinger.stopped
	atf_check -s exit:0 -o inline:"0\n" -x "ls w/root/var/run | grep -c '^dpinger_.*\\.pid\$' || true"
	php_ok "$ipsec"
	is 2 world_count w '^/sbin/ifconfig ipsec4711 destroy$'
	is 0 starts

	php_ok 'require_once("config.inc"); require_once("service-utils.inc"); service_control_start("dpinger", array());'
	atf_check -s exit:1 test -e w/root/var/run/dpinger.stopped
	is 4 starts
	php_ok "$ipsec"
	is 5 starts
	is 2 starts VTI_VTIV4
}
vti_restart_not_booting_not_stopped_cleanup()
{
	netns_cleanup
}

atf_test_case vti_kept_or_recreated
vti_kept_or_recreated_head()
{
	atf_set descr "0002 keeps the VTI exactly when FreeBSD's ifconfig output (default, cidr and dotted formats; IPv6 without a peer) matches the configuration, recreates it on any difference or when ifconfig cannot be read, and puts the MTU back to 1400 on a kept VTI without a custom MTU"
	atf_set require.progs patch php
	atf_set timeout 60
}
vti_kept_or_recreated_body()
{
	pf_require
	world_make "$PWD/w" "$P2" || atf_fail "cannot make the test world"
	php_ok "require_once('config.inc'); require_once('gwlb.inc'); require_once('interfaces.inc'); require '$(pf_dir)/vti_cases.php';"
	cp php.out cases.out
	cat > expected <<'EOF'
same kept mtu=1400 cmds=
same-cidr-format kept mtu=1400 cmds=
same-dotted-format kept mtu=1400 cmds=
same-v6-no-peer kept mtu=1400 cmds=
v6-with-peer recreated mtu=1400 cmds=destroy,create reqid 9711,inet6 fd00:8:0::2/64
other-reqid recreated mtu=1400 cmds=destroy,create reqid 9711,inet 10.8.0.2/30 10.8.0.1
other-peer-endpoint recreated mtu=1400 cmds=destroy,create reqid 9711,inet 10.8.0.2/30 10.8.0.1
other-inner-prefix recreated mtu=1400 cmds=destroy,create reqid 9711,inet 10.8.0.2/30 10.8.0.1
stale-alias recreated mtu=1400 cmds=destroy,create reqid 9711,inet 10.8.0.2/30 10.8.0.1
no-reqid-line recreated mtu=1400 cmds=destroy,create reqid 9711,inet 10.8.0.2/30 10.8.0.1
ifconfig-fails recreated mtu=1400 cmds=destroy,create reqid 9711,inet 10.8.0.2/30 10.8.0.1
absent recreated mtu=1400 cmds=create reqid 9711,inet 10.8.0.2/30 10.8.0.1
mtu-1500-no-custom kept mtu=1400 cmds=mtu 1400
mtu-1300-custom-removed kept mtu=1400 cmds=mtu 1400
mtu-1300-custom-1300 kept mtu=1300 cmds=
mtu-1400-custom-1300 kept mtu=1300 cmds=mtu 1300
EOF
	atf_check -s exit:0 diff -u expected cases.out
}

atf_test_case vti_stock_always_recreated
vti_stock_always_recreated_head()
{
	atf_set descr "Without 0002 the same VTI is destroyed and created on every call, changed or not, and the MTU is whatever the new interface has"
	atf_set require.progs php
	atf_set timeout 60
}
vti_stock_always_recreated_body()
{
	pf_require
	world_make "$PWD/w" || atf_fail "cannot make the test world"
	VTI_CASES="same mtu-1500-no-custom"
	export VTI_CASES
	php_ok "require_once('config.inc'); require_once('gwlb.inc'); require_once('interfaces.inc'); require '$(pf_dir)/vti_cases.php';"
	atf_check -s exit:0 -o inline:"same recreated mtu=1400 cmds=destroy,create reqid 9711,inet 10.8.0.2/30 10.8.0.1\nmtu-1500-no-custom recreated mtu=1400 cmds=destroy,create reqid 9711,inet 10.8.0.2/30 10.8.0.1\n" cat php.out
}

atf_init_test_cases()
{
	atf_add_test_case patches_apply_and_lint
	atf_add_test_case alarm_loop_restarts_nothing
	atf_add_test_case alarm_recreated_vti_restarts_its_monitors
	atf_add_test_case alarm_0001_alone_restarts_vti_monitors_only
	atf_add_test_case alarm_stock_strands_vti_monitor
	atf_add_test_case vti_restart_not_booting_not_stopped
	atf_add_test_case vti_kept_or_recreated
	atf_add_test_case vti_stock_always_recreated
}
