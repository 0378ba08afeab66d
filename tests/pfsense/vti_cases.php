<?php
/*
 * Runs pfSense's own interface_ipsec_vti_configure() (patched with 0002)
 * once per case below on the test world's VTI, ipsec4711, and prints one
 * line per case: "NAME kept|recreated mtu=N cmds=..." where cmds lists the
 * ifconfig commands that changed the interface.  Loaded by pfh -r after
 * pfSense's config.inc, gwlb.inc and interfaces.inc.
 *
 * Each case gives the interface as ifconfig(8) prints it on FreeBSD (the
 * harness prints it from the fake state, or prints ifconfig_text as given),
 * and optionally a configuration change.
 */

$ipsecif = 'ipsec4711';
$v4 = array('mtu' => 1400, 'up' => true,
    'inet' => array(array('addr' => '10.8.0.2', 'plen' => 30, 'peer' => '10.8.0.1')),
    'inet6' => array(), 'tunnel' => array('family' => 'inet', 'src' => '198.51.100.2',
    'dst' => '203.0.113.2'), 'reqid' => 9711);
$v6 = $v4;
$v6['inet'] = array();
$v6['inet6'] = array(array('addr' => 'fd00:8::2', 'plen' => 64, 'peer' => ''));
$v6cfg = array('localid' => array('type' => 'address', 'address' => 'fd00:8:0::2', 'netbits' => '64'),
    'remoteid' => array('type' => 'address', 'address' => 'fd00:8::1'));

function text($lines)
{
	return "@IF@: flags=8051<UP,POINTOPOINT,RUNNING,MULTICAST> metric 0 mtu 1400\n" .
	    implode("\n", $lines) . "\n\tgroups: ipsec\n\treqid: 9711\n";
}

$cases = array(
	/* name => array(interface state or null, phase 2 changes, interface MTU setting) */
	'same' => array($v4, array(), null),
	'same-cidr-format' => array($v4 + array('ifconfig_text' => text(array(
	    "\ttunnel inet 198.51.100.2 --> 203.0.113.2",
	    "\tinet 10.8.0.2 --> 10.8.0.1/30",
	    "\tinet6 fe80::1:2%@IF@/64 scopeid 0x9"))), array(), null),
	'same-dotted-format' => array($v4 + array('ifconfig_text' => text(array(
	    "\ttunnel inet 198.51.100.2 --> 203.0.113.2",
	    "\tinet 10.8.0.2 --> 10.8.0.1 netmask 255.255.255.252"))), array(), null),
	'same-v6-no-peer' => array($v6, $v6cfg, null),
	'v6-with-peer' => array(array_replace($v6, array('inet6' => array(array('addr' => 'fd00:8::2',
	    'plen' => 64, 'peer' => 'fd00:8::1')))), $v6cfg, null),
	'other-reqid' => array(array_replace($v4, array('reqid' => 9712)), array(), null),
	'other-peer-endpoint' => array(array_replace($v4, array('tunnel' => array('family' => 'inet',
	    'src' => '198.51.100.2', 'dst' => '203.0.113.9'))), array(), null),
	'other-inner-prefix' => array(array_replace($v4, array('inet' => array(array('addr' => '10.8.0.2',
	    'plen' => 29, 'peer' => '10.8.0.1')))), array(), null),
	'stale-alias' => array(array_replace($v4, array('inet' => array($v4['inet'][0],
	    array('addr' => '10.9.0.2', 'plen' => 30, 'peer' => '10.9.0.1')))), array(), null),
	'no-reqid-line' => array($v4 + array('ifconfig_text' => "@IF@: flags=8051<UP,POINTOPOINT,RUNNING,MULTICAST> metric 0 mtu 1400\n" .
	    "\ttunnel inet 198.51.100.2 --> 203.0.113.2\n\tinet 10.8.0.2 --> 10.8.0.1 netmask 0xfffffffc\n"), array(), null),
	'ifconfig-fails' => array($v4 + array('ifconfig_fail' => true), array(), null),
	'absent' => array(null, array(), null),
	'mtu-1500-no-custom' => array(array_replace($v4, array('mtu' => 1500)), array(), null),
	'mtu-1300-custom-removed' => array(array_replace($v4, array('mtu' => 1300)), array(), null),
	'mtu-1300-custom-1300' => array(array_replace($v4, array('mtu' => 1300)), array(), '1300'),
	'mtu-1400-custom-1300' => array($v4, array(), '1300'),
);

$only = getenv('VTI_CASES');
foreach ($cases as $name => $case) {
	if (($only !== false) && ($only !== '') && !in_array($name, explode(' ', $only))) {
		continue;
	}
	list($state, $p2, $mtu) = $case;
	pfh_state_update(function (&$st) use ($ipsecif, $state) {
		unset($st['ifaces'][$ipsecif]);
		if ($state !== null) {
			$st['ifaces'][$ipsecif] = $state;
		}
	});
	config_set_path('ipsec/phase2/0', array_merge(config_get_path('ipsec/phase2/0'), $p2));
	if ($mtu === null) {
		config_del_path('interfaces/opt1/mtu');
	} else {
		config_set_path('interfaces/opt1/mtu', $mtu);
	}
	get_interface_arr(true);
	$before = count(file("{$pfh_world}/cmd.log", FILE_IGNORE_NEW_LINES) ?: array());

	interface_ipsec_vti_configure(config_get_path('ipsec/phase1/0'));

	$cmds = array();
	foreach (array_slice(file("{$pfh_world}/cmd.log", FILE_IGNORE_NEW_LINES), $before) as $c) {
		if (preg_match("#^/sbin/ifconfig {$ipsecif} (.+)$#", $c, $m) &&
		    (strpos($m[1], 'tunnel') === false)) {
			$cmds[] = $m[1];
		}
	}
	$recreated = in_array("create reqid 9711", $cmds);
	$st = pfh_state();
	printf("%s %s mtu=%s cmds=%s\n", $name, $recreated ? 'recreated' : 'kept',
	    $st['ifaces'][$ipsecif]['mtu'] ?? '-', implode(',', $cmds));

	/* put the v4 phase 2 back */
	config_set_path('ipsec/phase2/0/localid', array('type' => 'address', 'address' => '10.8.0.2', 'netbits' => '30'));
	config_set_path('ipsec/phase2/0/remoteid', array('type' => 'address', 'address' => '10.8.0.1'));
}
