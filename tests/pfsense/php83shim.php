<?php
/*
 * php83shim.php FILE...: lets PHP 8.2 (Debian 12's) load pfSense's PHP,
 * which needs 8.3 for one construct: a function's static variable whose
 * initial value is not a constant expression (a call, a variable, a
 * closure).  Each such
 *     static $v = EXPR;
 * becomes
 *     static $v = null; $v ??= EXPR;
 * which computes EXPR on the first run of the line and keeps it, as 8.3
 * does.  Files are changed in place; prints how many statements changed.
 * With PHP 8.3 or newer nothing is changed.  Used only on the copy of a
 * pfSense tree inside a test world.
 */

if (PHP_VERSION_ID >= 80300) {
	echo "0\n";
	exit(0);
}

$changed = 0;
foreach (array_slice($argv, 1) as $file) {
	$src = file_get_contents($file);
	$tokens = token_get_all($src);
	$n = count($tokens);
	$out = '';
	for ($i = 0; $i < $n; $i++) {
		$t = $tokens[$i];
		if (!is_array($t) || ($t[0] != T_STATIC)) {
			$out .= is_array($t) ? $t[1] : $t;
			continue;
		}
		/* static, then a variable, then '=' (not a property, not static::) */
		$prev = $i - 1;
		while (($prev >= 0) && is_array($tokens[$prev]) && ($tokens[$prev][0] == T_WHITESPACE)) {
			$prev--;
		}
		$is_prop = ($prev >= 0) && is_array($tokens[$prev]) &&
		    in_array($tokens[$prev][0], array(T_PUBLIC, T_PROTECTED, T_PRIVATE, T_VAR));
		$j = $i + 1;
		while (($j < $n) && is_array($tokens[$j]) && ($tokens[$j][0] == T_WHITESPACE)) {
			$j++;
		}
		$k = $j + 1;
		while (($k < $n) && is_array($tokens[$k]) && ($tokens[$k][0] == T_WHITESPACE)) {
			$k++;
		}
		if ($is_prop || ($j >= $n) || !is_array($tokens[$j]) || ($tokens[$j][0] != T_VARIABLE) ||
		    ($k >= $n) || ($tokens[$k] !== '=')) {
			$out .= $t[1];
			continue;
		}
		/* the initial value, up to the ';' at depth 0 */
		$depth = 0;
		$expr = '';
		$dynamic = false;
		$single = true;
		for ($m = $k + 1; $m < $n; $m++) {
			$u = $tokens[$m];
			$s = is_array($u) ? $u[1] : $u;
			if (in_array($s, array('(', '[', '{'), true) ||
			    (is_array($u) && in_array($u[0], array(T_CURLY_OPEN, T_DOLLAR_OPEN_CURLY_BRACES)))) {
				$depth++;
			} elseif (in_array($s, array(')', ']', '}'), true)) {
				$depth--;
			} elseif (($depth == 0) && ($s == ';')) {
				break;
			} elseif (($depth == 0) && ($s == ',')) {
				$single = false;
			}
			if ($s == '(' || (is_array($u) && in_array($u[0], array(T_VARIABLE, T_FUNCTION, T_FN)))) {
				$dynamic = true;
			}
			$expr .= $s;
		}
		if (!$dynamic || !$single || ($m >= $n)) {
			$out .= $t[1];
			continue;
		}
		$var = $tokens[$j][1];
		$out .= "static {$var} = null; {$var} ??= " . ltrim($expr) . ';';
		$i = $m;
		$changed++;
	}
	if ($out !== $src) {
		file_put_contents($file, $out);
	}
}
echo "{$changed}\n";
