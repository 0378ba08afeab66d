<?php
/*
 * Stand-in for the PEAR base class, which pfSense loads at start-up but
 * which is not part of the pfSense tree (it comes from a FreeBSD package).
 * pfSense's captive portal code calls PEAR::loadExtension() while loading;
 * nothing the tests run uses PEAR otherwise.
 */
class PEAR
{
	static function loadExtension($ext)
	{
		return extension_loaded($ext);
	}
}
