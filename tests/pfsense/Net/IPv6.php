<?php
/*
 * A small stand-in for the PEAR class Net_IPv6, which pfSense's PHP loads as
 * "Net/IPv6.php" but which is not part of the pfSense tree (it comes from a
 * FreeBSD package).  Written for the tests from the methods' documented
 * meaning, on top of inet_pton()/inet_ntop(); only what pfSense's gateway,
 * interface and IPsec code calls is here.
 */

define('NET_IPV6_UNASSIGNED', 1);
define('NET_IPV6_RESERVED', 11);
define('NET_IPV6_UNICAST_PROVIDER', 20);
define('NET_IPV6_MULTICAST', 21);
define('NET_IPV6_LOCAL_LINK', 22);
define('NET_IPV6_LOCAL_SITE', 23);
define('NET_IPV6_UNIQUE_LOCAL_ADDR', 24);
define('NET_IPV6_UNKNOWN_TYPE', 1001);

class Net_IPv6
{
	/* "addr/bits" without "/bits", "addr%scope" without "%scope" */
	static function removeNetmaskSpec($ip)
	{
		return explode('/', (string)$ip, 2)[0];
	}

	static function removePrefixLength($ip)
	{
		return self::removeNetmaskSpec($ip);
	}

	private static function bare($ip)
	{
		return explode('%', self::removeNetmaskSpec($ip), 2)[0];
	}

	private static function suffix($ip)
	{
		$ip = (string)$ip;
		$p = strpos($ip, '/');
		return ($p === false) ? '' : substr($ip, $p);
	}

	static function checkIPv6($ip)
	{
		$bin = @inet_pton(self::bare($ip));
		return ($bin !== false) && (strlen($bin) == 16);
	}

	/* eight groups; $leadingZeros pads each group to four digits */
	static function uncompress($ip, $leadingZeros = false)
	{
		$bin = @inet_pton(self::bare($ip));
		if (($bin === false) || (strlen($bin) != 16)) {
			return $ip;
		}
		$groups = array();
		foreach (str_split(bin2hex($bin), 4) as $g) {
			$groups[] = $leadingZeros ? $g : dechex(hexdec($g));
		}
		return implode(':', $groups) . self::suffix($ip);
	}

	static function compress($ip, $force = false)
	{
		$bin = @inet_pton(self::bare($ip));
		if (($bin === false) || (strlen($bin) != 16)) {
			return $ip;
		}
		return inet_ntop($bin) . self::suffix($ip);
	}

	static function getAddressType($ip)
	{
		$bin = @inet_pton(self::bare($ip));
		if (($bin === false) || (strlen($bin) != 16)) {
			return NET_IPV6_UNKNOWN_TYPE;
		}
		$b0 = ord($bin[0]);
		$b1 = ord($bin[1]);
		if (($b0 == 0xfe) && (($b1 & 0xc0) == 0x80)) {
			return NET_IPV6_LOCAL_LINK;
		}
		if (($b0 == 0xfe) && (($b1 & 0xc0) == 0xc0)) {
			return NET_IPV6_LOCAL_SITE;
		}
		if (($b0 & 0xfe) == 0xfc) {
			return NET_IPV6_UNIQUE_LOCAL_ADDR;
		}
		if ($b0 == 0xff) {
			return NET_IPV6_MULTICAST;
		}
		if (($b0 & 0xe0) == 0x20) {
			return NET_IPV6_UNICAST_PROVIDER;
		}
		return NET_IPV6_RESERVED;
	}

	/* the network address of $ip with a prefix of $bits */
	static function getNetmask($ip, $bits = null)
	{
		if ($bits === null) {
			$parts = explode('/', (string)$ip, 2);
			$bits = isset($parts[1]) ? intval($parts[1]) : 128;
		}
		$bin = @inet_pton(self::bare($ip));
		if (($bin === false) || (strlen($bin) != 16)) {
			return false;
		}
		$out = '';
		for ($i = 0; $i < 16; $i++) {
			$keep = max(0, min(8, $bits - 8 * $i));
			$mask = ($keep == 0) ? 0 : ((0xff << (8 - $keep)) & 0xff);
			$out .= chr(ord($bin[$i]) & $mask);
		}
		return self::uncompress(inet_ntop($out));
	}

	static function isInNetmask($ip, $netmask, $bits = null)
	{
		if ($bits === null) {
			$parts = explode('/', (string)$netmask, 2);
			$bits = isset($parts[1]) ? intval($parts[1]) : 128;
		}
		$a = self::getNetmask($ip, $bits);
		$b = self::getNetmask($netmask, $bits);
		return ($a !== false) && ($a === $b);
	}
}
