<?php
/*
 * Empty stand-in for the PEAR file Auth/RADIUS.php, which pfSense loads at start-up but
 * which is not part of the pfSense tree (it comes from a FreeBSD package).
 * Nothing the tests run uses it.
 */
