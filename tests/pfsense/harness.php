<?php
/*
 * Test harness for running pfSense's own PHP (from a pfSense source tree laid
 * out under /tmp, never from this repository) on a Linux test machine.
 *
 * It is loaded before the pfSense script under test (php's
 * auto_prepend_file) by tests/pfsense/pfh, which also disables PHP's command
 * runners (exec, shell_exec, system, passthru, popen, proc_open, pcntl_exec)
 * and sleep, usleep and syslog.  PHP 8 drops disabled functions from its
 * function table, so they are defined again here: every command pfSense runs
 * is recorded and its effect emulated on a small fake system, and so is every
 * call of pfSense's own PHP extension (the pfSense_* functions).  The rest is
 * pfSense's code, unchanged.
 *
 * The fake system lives in a "world" directory (PFH_WORLD):
 *   root/          pfSense's /var/run, /var/db, /var/etc, /tmp, /conf, /cf/conf
 *   state.json     interfaces (name, MTU, addresses, tunnel, reqid)
 *   cmd.log        one line per command run, words separated by one space
 *   syslog.log     one line per syslog() call: "PRIORITY message"
 *   php-errors.log PHP warnings and notices (pfSense's code has many on PHP 8)
 *
 * Other environment:
 *   PFH_LIVE_PID       pid written into the pid file of every dpinger started;
 *                      a live process the test owns (pfSense checks it)
 *   PFH_DPINGER_DELAY  "NAME=SECONDS ..." wall-clock delay before that
 *                      gateway's dpinger "starts" (a slow restart)
 *   PFH_DPINGER_FAIL   "NAME ..." gateways whose dpinger fails to start
 */

$pfh_world = getenv('PFH_WORLD');
if (($pfh_world === false) || !is_dir($pfh_world)) {
	fwrite(STDERR, "harness: PFH_WORLD is not a directory\n");
	exit(2);
}
$pfh_root = "{$pfh_world}/root";

/* PHP warnings go to a file; fatal errors still reach stderr */
ini_set('display_errors', 'stderr');
ini_set('log_errors', '0');
set_error_handler(function ($no, $str, $file, $line) use ($pfh_world) {
	if ($no & (E_WARNING | E_NOTICE | E_DEPRECATED | E_USER_WARNING |
	    E_USER_NOTICE | E_USER_DEPRECATED | E_STRICT)) {
		@file_put_contents("{$pfh_world}/php-errors.log",
		    basename($file) . ":{$line}: {$str}\n", FILE_APPEND);
		return true;
	}
	return false;
});

/* ---------------------------------------------------------------------- */
/* the fake system's state                                                */

function pfh_state_update(callable $change = null)
{
	global $pfh_world;

	$fp = fopen("{$pfh_world}/state.json", 'c+');
	flock($fp, ($change === null) ? LOCK_SH : LOCK_EX);
	$state = json_decode(stream_get_contents($fp), true);
	if (!is_array($state)) {
		$state = array();
	}
	$state += array('ifaces' => array());
	$result = null;
	if ($change !== null) {
		$result = $change($state);
		ftruncate($fp, 0);
		rewind($fp);
		fwrite($fp, json_encode($state, JSON_PRETTY_PRINT | JSON_UNESCAPED_SLASHES) . "\n");
		fflush($fp);
	}
	flock($fp, LOCK_UN);
	fclose($fp);
	return ($change === null) ? $state : $result;
}

function pfh_state()
{
	return pfh_state_update(null);
}

function pfh_record($file, $line)
{
	global $pfh_world;

	file_put_contents("{$pfh_world}/{$file}", $line . "\n", FILE_APPEND | LOCK_EX);
}

/* the default MTU a freshly created interface of this kind has */
function pfh_default_mtu($ifname)
{
	if (strncmp($ifname, 'ipsec', 5) == 0) {
		return 1400;	/* IPSEC_MTU, sys/net/if_ipsec.h */
	}
	if (strncmp($ifname, 'gif', 3) == 0) {
		return 1280;
	}
	if (strncmp($ifname, 'gre', 3) == 0) {
		return 1476;
	}
	if (strncmp($ifname, 'lo', 2) == 0) {
		return 16384;
	}
	return 1500;
}

function pfh_is_p2p($ifname)
{
	foreach (array('ipsec', 'gif', 'gre', 'tun', 'ovpn') as $p) {
		if (strncmp($ifname, $p, strlen($p)) == 0) {
			return true;
		}
	}
	return false;
}

function pfh_new_iface($ifname)
{
	return array('mtu' => pfh_default_mtu($ifname), 'up' => false,
	    'inet' => array(), 'inet6' => array(), 'tunnel' => null,
	    'reqid' => null);
}

/* ---------------------------------------------------------------------- */
/* FreeBSD-shaped ifconfig(8) output for one interface of the fake system */

function pfh_ifconfig_text($ifname, $if)
{
	if (isset($if['ifconfig_text'])) {
		return str_replace('@IF@', $ifname, $if['ifconfig_text']);
	}
	$p2p = pfh_is_p2p($ifname);
	$flags = $p2p ? array('POINTOPOINT', 'RUNNING', 'MULTICAST') :
	    array('BROADCAST', 'RUNNING', 'SIMPLEX', 'MULTICAST');
	if (!empty($if['up'])) {
		array_unshift($flags, 'UP');
	}
	$out = sprintf("%s: flags=%x<%s> metric 0 mtu %d\n", $ifname,
	    $p2p ? 0x8051 : 0x8843, implode(',', $flags), $if['mtu']);
	if (!empty($if['tunnel'])) {
		$out .= sprintf("\ttunnel %s %s --> %s\n", $if['tunnel']['family'],
		    $if['tunnel']['src'], $if['tunnel']['dst']);
	}
	foreach ($if['inet'] as $a) {
		$mask = sprintf('0x%08x', (0xffffffff << (32 - $a['plen'])) & 0xffffffff);
		if ($p2p) {
			$out .= "\tinet {$a['addr']} --> {$a['peer']} netmask {$mask}\n";
		} else {
			$out .= "\tinet {$a['addr']} netmask {$mask}\n";
		}
	}
	foreach ($if['inet6'] as $a) {
		$addr = $a['addr'];
		$scope = '';
		if (stripos($addr, 'fe80:') === 0) {
			$addr .= "%{$ifname}";
			$scope = ' scopeid 0x1';
		}
		$peer = ($a['peer'] != '') ? " --> {$a['peer']}" : '';
		$out .= "\tinet6 {$addr}{$peer} prefixlen {$a['plen']}{$scope}\n";
	}
	if (strncmp($ifname, 'ipsec', 5) == 0) {
		$out .= "\tgroups: ipsec\n";
		if ($if['reqid'] !== null) {
			$out .= "\treqid: {$if['reqid']}\n";
		}
	}
	$out .= "\tnd6 options=29<PERFORMNUD,IFDISABLED,AUTO_LINKLOCAL>\n";
	return $out;
}

/* ---------------------------------------------------------------------- */
/* shell command lines: split into words, drop redirections               */

/*
 * Returns array(words of the first simple command, background?).  Quotes
 * ('...' and "...") and backslashes are removed; "N>&M", ">file" and
 * "<file" are dropped; anything after an unquoted |, ; or && is ignored
 * (pfSense pipes into awk and the like, which the emulation does not need).
 */
function pfh_split($cmd)
{
	$words = array();
	$cur = null;
	$bg = false;
	$n = strlen($cmd);
	for ($i = 0; $i < $n; $i++) {
		$c = $cmd[$i];
		if ($c == "'") {
			$j = strpos($cmd, "'", $i + 1);
			$j = ($j === false) ? $n : $j;
			$cur = ($cur ?? '') . substr($cmd, $i + 1, $j - $i - 1);
			$i = $j;
		} elseif ($c == '"') {
			$cur = $cur ?? '';
			for ($i++; ($i < $n) && ($cmd[$i] != '"'); $i++) {
				if (($cmd[$i] == '\\') && ($i + 1 < $n)) {
					$i++;
				}
				$cur .= $cmd[$i];
			}
		} elseif ($c == '\\') {
			$cur = ($cur ?? '') . (($i + 1 < $n) ? $cmd[++$i] : '');
		} elseif (($c == '>') || ($c == '<')) {
			if (($cur !== null) && ctype_digit($cur)) {
				$cur = null;	/* the "2" of "2>&1" */
			}
			if ($cur !== null) {
				$words[] = $cur;
				$cur = null;
			}
			$i++;
			if (($i < $n) && ($cmd[$i] == '>')) {
				$i++;
			}
			if (($i < $n) && ($cmd[$i] == '&')) {
				$i++;
			}
			while (($i < $n) && ($cmd[$i] == ' ')) {
				$i++;
			}
			while (($i < $n) && (strpos(" \t|;&", $cmd[$i]) === false)) {
				$i++;
			}
			$i--;
		} elseif (($c == ' ') || ($c == "\t") || ($c == "\n")) {
			if ($cur !== null) {
				$words[] = $cur;
				$cur = null;
			}
		} elseif (($c == '|') || ($c == ';')) {
			break;
		} elseif ($c == '&') {
			if (($i + 1 < $n) && ($cmd[$i + 1] == '&')) {
				break;
			}
			$bg = true;
			break;
		} else {
			$cur = ($cur ?? '') . $c;
		}
	}
	if ($cur !== null) {
		$words[] = $cur;
	}
	if (!empty($words) && (basename($words[0]) == 'nohup')) {
		array_shift($words);
	}
	return array($words, $bg);
}

/* ---------------------------------------------------------------------- */
/* the commands                                                           */

/* ifconfig IF [args]: returns array(output lines, exit status) */
function pfh_cmd_ifconfig($w)
{
	if (!isset($w[1]) || ($w[1][0] == '-')) {
		if (isset($w[1]) && ($w[1] == '-l')) {
			return array(array(implode(' ', array_keys(pfh_state()['ifaces']))), 0);
		}
		return array(array(), 0);
	}
	$ifname = $w[1];
	$args = array_slice($w, 2);

	return pfh_state_update(function (&$st) use ($ifname, $args) {
		$exists = isset($st['ifaces'][$ifname]);
		if (empty($args)) {
			if (!$exists || !empty($st['ifaces'][$ifname]['ifconfig_fail'])) {
				return array(array("ifconfig: interface {$ifname} does not exist"), 1);
			}
			return array(explode("\n", rtrim(pfh_ifconfig_text($ifname,
			    $st['ifaces'][$ifname]), "\n")), 0);
		}
		if ($args[0] == 'create') {
			if ($exists) {
				return array(array("ifconfig: SIOCIFCREATE2 ({$ifname}): File exists"), 1);
			}
			$st['ifaces'][$ifname] = pfh_new_iface($ifname);
			if ((($k = array_search('reqid', $args)) !== false) && isset($args[$k + 1])) {
				$st['ifaces'][$ifname]['reqid'] = intval($args[$k + 1]);
			}
			return array(array(), 0);
		}
		if (!$exists) {
			return array(array("ifconfig: interface {$ifname} does not exist"), 1);
		}
		$if = &$st['ifaces'][$ifname];
		if ($args[0] == 'destroy') {
			unset($st['ifaces'][$ifname]);
			return array(array(), 0);
		}
		for ($i = 0; $i < count($args); $i++) {
			$a = $args[$i];
			if ($a == 'up') {
				$if['up'] = true;
			} elseif ($a == 'down') {
				$if['up'] = false;
			} elseif (($a == 'mtu') && isset($args[$i + 1])) {
				$if['mtu'] = intval($args[++$i]);
			} elseif (($a == 'reqid') && isset($args[$i + 1])) {
				$if['reqid'] = intval($args[++$i]);
			} elseif ((($a == 'inet') || ($a == 'inet6')) && isset($args[$i + 1])) {
				$rest = array_slice($args, $i + 1);
				if ($rest[0] == 'tunnel') {
					$if['tunnel'] = array('family' => $a, 'src' => $rest[1] ?? '',
					    'dst' => $rest[2] ?? '');
					$i += 3;
					continue;
				}
				list($addr, $plen) = array_pad(explode('/', $rest[0], 2), 2, null);
				$peer = '';
				$alias = false;
				$remove = false;
				for ($j = 1; $j < count($rest); $j++) {
					if (($rest[$j] == 'alias') || ($rest[$j] == 'add')) {
						$alias = true;
					} elseif (($rest[$j] == '-alias') || ($rest[$j] == 'delete')) {
						$remove = true;
					} elseif ((($rest[$j] == 'netmask') || ($rest[$j] == 'prefixlen')) &&
					    isset($rest[$j + 1])) {
						$m = $rest[++$j];
						$plen = (strpos($m, '0x') === 0) ?
						    substr_count(decbin(hexdec(substr($m, 2))), '1') : intval($m);
					} elseif ($rest[$j] == 'up') {
						$if['up'] = true;
					} elseif ($peer == '') {
						$peer = $rest[$j];
					}
				}
				$plen = ($plen === null) ? (($a == 'inet') ? 32 : 64) : intval($plen);
				$list = array_values(array_filter($if[$a], function ($x) use ($addr) {
					return $x['addr'] != $addr;
				}));
				if (!$remove) {
					if (($a == 'inet') && !$alias && !empty($list)) {
						array_shift($list);	/* replaces the first address */
					}
					$list[] = array('addr' => $addr, 'plen' => $plen, 'peer' => $peer);
				}
				$if[$a] = $list;
				$if['up'] = true;
				break;
			}
		}
		return array(array(), 0);
	});
}

/* dpinger [options] MONITOR, daemon mode: pid file and socket, then exit 0 */
function pfh_cmd_dpinger($w)
{
	$opt = array();
	$valued = 'rBpuCdsltADLiRPoEWH';
	for ($i = 1; $i < count($w) - 1; $i++) {
		if (($w[$i][0] == '-') && (strlen($w[$i]) == 2) &&
		    (strpos($valued, $w[$i][1]) !== false)) {
			$opt[$w[$i][1]] = $w[$i + 1];
			$i++;
		}
	}
	$name = $opt['i'] ?? '';
	foreach (preg_split('/\s+/', trim((string)getenv('PFH_DPINGER_DELAY'))) as $d) {
		$kv = explode('=', $d, 2);
		if (($kv[0] === $name) && isset($kv[1])) {
			$s = floatval($kv[1]);
			time_nanosleep((int)$s, (int)(($s - (int)$s) * 1e9));
		}
	}
	if (in_array($name, preg_split('/\s+/', trim((string)getenv('PFH_DPINGER_FAIL'))), true)) {
		return array(array(), 1);
	}
	if (isset($opt['p'])) {
		file_put_contents($opt['p'], getenv('PFH_LIVE_PID') . "\n");
	}
	if (isset($opt['u'])) {
		/* a socket file, as dpinger leaves one; nobody answers on it */
		@unlink($opt['u']);
		$s = @stream_socket_server("unix://{$opt['u']}");
		if ($s !== false) {
			fclose($s);
		}
	}
	return array(array(), 0);
}

/* pkill -SIG -F pidfile, pkill -0 -x name */
function pfh_cmd_pkill($w)
{
	$sig = $w[1] ?? '';
	if ((($k = array_search('-F', $w)) !== false) && isset($w[$k + 1])) {
		$pidfile = $w[$k + 1];
		$pid = intval(@file_get_contents($pidfile));
		if (($pid <= 0) || !posix_kill($pid, 0)) {
			return array(array(), 1);
		}
		if ($sig != '-0') {
			/* what dpinger does on SIGTERM: remove its files, exit */
			@unlink($pidfile);
			@unlink(preg_replace('/\.pid$/', '.sock', $pidfile));
		}
		return array(array(), 0);
	}
	return array(array(), 1);	/* -x NAME: no such process here */
}

/* runs one command line; returns array(output lines, exit status) */
function pfh_run($cmd)
{
	list($w, $bg) = pfh_split($cmd);
	if (empty($w)) {
		return array(array(), 0);
	}
	pfh_record('cmd.log', implode(' ', $w));
	switch (basename($w[0])) {
	case 'ifconfig':
		$r = pfh_cmd_ifconfig($w);
		break;
	case 'dpinger':
		$r = pfh_cmd_dpinger($w);
		break;
	case 'pkill':
		$r = pfh_cmd_pkill($w);
		break;
	case 'route':
		$r = (in_array('get', $w)) ? array(array(), 1) : array(array(), 0);
		break;
	default:
		$r = array(array(), 0);
		break;
	}
	if ($bg) {
		$r = array(array((string)getmypid()), 0);
	}
	return $r;
}

/* ---------------------------------------------------------------------- */
/* PHP's command runners, sleep and syslog (disabled by tests/pfsense/pfh) */

function exec(string $command, &$output = null, &$result_code = null): string|false
{
	list($lines, $rc) = pfh_run($command);
	if (!is_array($output)) {
		$output = array();
	}
	foreach ($lines as $l) {
		$output[] = $l;
	}
	$result_code = $rc;
	return empty($lines) ? '' : end($lines);
}

function shell_exec(string $command): string|false|null
{
	list($lines, $rc) = pfh_run($command);
	return empty($lines) ? null : implode("\n", $lines) . "\n";
}

function system(string $command, &$result_code = null): string|false
{
	list($lines, $rc) = pfh_run($command);
	$result_code = $rc;
	foreach ($lines as $l) {
		echo $l, "\n";
	}
	return empty($lines) ? '' : end($lines);
}

function passthru(string $command, &$result_code = null): ?bool
{
	system($command, $result_code);
	return null;
}

function popen(string $command, string $mode)
{
	list($lines, $rc) = pfh_run($command);
	$fp = fopen('php://memory', 'w+');
	fwrite($fp, empty($lines) ? '' : implode("\n", $lines) . "\n");
	rewind($fp);
	return $fp;
}

function proc_open($command, $descriptor_spec, &$pipes, $cwd = null, $env_vars = null, $options = null)
{
	pfh_run(is_array($command) ? implode(' ', array_map('escapeshellarg', $command)) : $command);
	return false;
}

function pcntl_exec(string $path, array $args = array(), array $env_vars = array()): bool
{
	pfh_run($path . ' ' . implode(' ', $args));
	return false;
}

function sleep(int $seconds): int
{
	return 0;
}

function usleep(int $microseconds): void
{
}

function syslog(int $priority, string $message): bool
{
	pfh_record('syslog.log', "{$priority} {$message}");
	return true;
}

function openlog(string $prefix, int $flags, int $facility): bool
{
	return true;
}

function closelog(): bool
{
	return true;
}

/* ---------------------------------------------------------------------- */
/* pfSense's PHP extension                                                */

function pfh_ext_record($fn, $args)
{
	pfh_record('cmd.log', "{$fn} " . implode(' ', array_map(function ($a) {
		return is_scalar($a) ? (string)$a : json_encode($a);
	}, $args)));
}

function pfSense_interface_listget($flags = 0)
{
	return array_keys(pfh_state()['ifaces']);
}

function pfSense_get_ifaddrs($ifname)
{
	$st = pfh_state();
	if (!isset($st['ifaces'][$ifname])) {
		return null;
	}
	$if = $st['ifaces'][$ifname];
	$r = array('name' => $ifname, 'mtu' => $if['mtu'], 'addrs' => array(), 'addrs6' => array());
	foreach ($if['inet'] as $a) {
		$e = array('addr' => $a['addr'], 'subnetbits' => $a['plen']);
		if ($a['peer'] != '') {
			$e['tunnel'] = $a['peer'];
		}
		$r['addrs'][] = $e;
	}
	foreach ($if['inet6'] as $a) {
		$e = array('addr' => $a['addr'], 'subnetbits' => $a['plen']);
		if (stripos($a['addr'], 'fe80:') === 0) {
			$e['linklocal'] = true;
		}
		if (!empty($a['tentative'])) {
			$e['tentative'] = true;
		}
		$r['addrs6'][] = $e;
	}
	return $r;
}

function pfSense_get_interface_addresses($ifname)
{
	$r = pfSense_get_ifaddrs($ifname);
	if ($r === null) {
		return null;
	}
	if (!empty($r['addrs'])) {
		$r['ipaddr'] = $r['addrs'][0]['addr'];
		$r['subnetbits'] = $r['addrs'][0]['subnetbits'];
	}
	return $r;
}

function pfSense_interface_getmtu($ifname)
{
	$st = pfh_state();
	return array('mtu' => isset($st['ifaces'][$ifname]) ? $st['ifaces'][$ifname]['mtu'] : null);
}

function pfSense_interface_mtu($ifname, $mtu)
{
	pfh_ext_record(__FUNCTION__, func_get_args());
	pfh_state_update(function (&$st) use ($ifname, $mtu) {
		if (isset($st['ifaces'][$ifname])) {
			$st['ifaces'][$ifname]['mtu'] = intval($mtu);
		}
	});
	return true;
}

function pfSense_interface_destroy($ifname)
{
	pfh_ext_record(__FUNCTION__, func_get_args());
	pfh_state_update(function (&$st) use ($ifname) {
		unset($st['ifaces'][$ifname]);
	});
	return true;
}

function pfSense_interface_deladdress($ifname, $addr)
{
	pfh_ext_record(__FUNCTION__, func_get_args());
	return true;
}

function pfSense_interface_setaddress($ifname, $addr)
{
	pfh_ext_record(__FUNCTION__, func_get_args());
	return true;
}

function pfSense_kill_states(...$args)
{
	pfh_ext_record(__FUNCTION__, $args);
	return true;
}

function pfSense_kill_srcstates(...$args)
{
	pfh_ext_record(__FUNCTION__, $args);
	return true;
}

function pfSense_interface_flags(...$args)
{
	return true;
}

function pfSense_interface_capabilities(...$args)
{
	return true;
}

function pfSense_ipsec_list_sa(...$args)
{
	return array();
}

function pfSense_get_interface_stats(...$args)
{
	return array();
}

function pfSense_fsync(...$args)
{
	return true;
}

function pfSense_ngctl_name(...$args)
{
	return true;
}

/* ---------------------------------------------------------------------- */
/* mbstring, which pfSense's PHP has and Debian's php-cli does not        */

if (!function_exists('mb_strlen')) {
	function mb_strlen($string, $encoding = null)
	{
		$n = @iconv_strlen((string)$string, 'UTF-8');
		return ($n === false) ? strlen((string)$string) : $n;
	}
}
if (!function_exists('mb_convert_encoding')) {
	function mb_convert_encoding($string, $to, $from = null)
	{
		if (($from === null) || is_array($from) || is_array($string)) {
			return $string;
		}
		$r = @iconv($from, "{$to}//IGNORE", $string);
		return ($r === false) ? $string : $r;
	}
}
if (!function_exists('mb_str_pad')) {
	function mb_str_pad($string, $length, $pad = ' ', $type = STR_PAD_RIGHT, $encoding = null)
	{
		return str_pad($string, $length + strlen($string) - mb_strlen($string), $pad, $type);
	}
}

/* ---------------------------------------------------------------------- */
/* pfSense's globals, pointed into the world                              */

require_once('globals.inc');

foreach (array('varrun_path' => 'var/run', 'varetc_path' => 'var/etc',
    'vardb_path' => 'var/db', 'varlog_path' => 'var/log', 'tmp_path' => 'tmp',
    'conf_path' => 'conf', 'cf_path' => 'cf', 'cf_conf_path' => 'cf/conf',
    'conf_default_path' => 'conf.default') as $pfh_key => $pfh_dir) {
	$g[$pfh_key] = "{$pfh_root}/{$pfh_dir}";
	if (!is_dir($g[$pfh_key])) {
		mkdir($g[$pfh_key], 0755, true);
	}
}
$g['event_address'] = "unix://{$pfh_root}/var/run/check_reload_status";
unset($pfh_key, $pfh_dir);

/*
 * interface_ipsec_vti_configure() writes /tmp/<if>_router itself (not under
 * tmp_path): remove what this run left there for interfaces of the world.
 */
register_shutdown_function(function () {
	foreach (array_keys(pfh_state()['ifaces']) as $ifname) {
		if (strncmp($ifname, 'ipsec', 5) == 0) {
			foreach (array('', 'v6', '.last', 'v6.last') as $sfx) {
				if (file_exists("/tmp/{$ifname}_router{$sfx}")) {
					unlink("/tmp/{$ifname}_router{$sfx}");
				}
			}
		}
	}
});
