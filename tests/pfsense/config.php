<?php
/*
 * A small pfSense configuration for the tests, written for them (not taken
 * from pfSense), in the form pfSense keeps its parsed config.xml in
 * /tmp/config.cache: two WANs with a static IPv4 gateway and the same IPv6
 * link-local gateway each, and a routed IPsec tunnel (VTI, ipsec4711) whose
 * phase 1 sits on WAN, with the gateway pfSense generates for it.
 * Documentation addresses only; nothing is ever sent anywhere.
 */
return array(
	'version' => '24.0',
	'system' => array(
		'hostname' => 'fw',
		'domain' => 'example.org',
		'timezone' => 'Etc/UTC',
		'ipv6allow' => 'enabled',
	),
	'interfaces' => array(
		'wan' => array(
			'enable' => '',
			'if' => 'em0',
			'descr' => 'WAN',
			'ipaddr' => '198.51.100.2',
			'subnet' => '24',
			'gateway' => 'WANGW',
			'ipaddrv6' => '2001:db8:1::2',
			'subnetv6' => '64',
			'gatewayv6' => 'WANGW6',
		),
		'opt1' => array(
			'enable' => '',
			'if' => 'ipsec4711',
			'descr' => 'VTI',
		),
		'opt2' => array(
			'enable' => '',
			'if' => 'em1',
			'descr' => 'WAN2',
			'ipaddr' => '192.0.2.2',
			'subnet' => '24',
			'gateway' => 'WAN2GW',
			'ipaddrv6' => '2001:db8:2::2',
			'subnetv6' => '64',
			'gatewayv6' => 'WAN2GW6',
		),
	),
	'gateways' => array(
		'gateway_item' => array(
			array('interface' => 'wan', 'gateway' => '198.51.100.1', 'name' => 'WANGW',
			    'weight' => '1', 'ipprotocol' => 'inet', 'descr' => 'first uplink'),
			array('interface' => 'wan', 'gateway' => 'fe80::1', 'name' => 'WANGW6',
			    'weight' => '1', 'ipprotocol' => 'inet6', 'descr' => 'first uplink, IPv6'),
			array('interface' => 'opt2', 'gateway' => '192.0.2.1', 'name' => 'WAN2GW',
			    'weight' => '1', 'ipprotocol' => 'inet', 'descr' => 'second uplink'),
			array('interface' => 'opt2', 'gateway' => 'fe80::1', 'name' => 'WAN2GW6',
			    'weight' => '1', 'ipprotocol' => 'inet6',
			    'descr' => 'second uplink, IPv6, the same link-local router address'),
			array('interface' => 'opt1', 'gateway' => 'dynamic', 'name' => 'VTI_VTIV4',
			    'weight' => '1', 'ipprotocol' => 'inet', 'descr' => 'Interface VTI_VTIV4 Gateway'),
		),
	),
	'ipsec' => array(
		'phase1' => array(
			array(
				'ikeid' => '1',
				'iketype' => 'ikev2',
				'interface' => 'wan',
				'remote-gateway' => '203.0.113.2',
				'protocol' => 'inet',
				'myid_type' => 'myaddress',
				'myid_data' => '',
				'peerid_type' => 'peeraddress',
				'peerid_data' => '',
				'encryption' => array(
					'item' => array(
						array(
							'encryption-algorithm' => array('name' => 'aes', 'keylen' => '256'),
							'hash-algorithm' => 'sha256',
							'prf-algorithm' => 'sha256',
							'dhgroup' => '14',
						),
					),
				),
				'lifetime' => '28800',
				'pre-shared-key' => 'not-a-secret',
				'authentication_method' => 'pre_shared_key',
				'descr' => 'site B',
				'nat_traversal' => 'on',
				'mobike' => 'off',
				'dpd_delay' => '10',
				'dpd_maxfail' => '5',
			),
		),
		'phase2' => array(
			array(
				'ikeid' => '1',
				'uniqid' => '5f0000000001',
				'mode' => 'vti',
				'reqid' => '4711',
				'localid' => array('type' => 'address', 'address' => '10.8.0.2', 'netbits' => '30'),
				'remoteid' => array('type' => 'address', 'address' => '10.8.0.1'),
				'protocol' => 'esp',
				'encryption-algorithm-option' => array(
					array('name' => 'aes', 'keylen' => '256'),
				),
				'hash-algorithm-option' => array('hmac_sha256'),
				'pfsgroup' => '14',
				'lifetime' => '3600',
				'descr' => 'routed',
			),
		),
	),
);
