/**
 * The help text. Same commands, arguments and order as the kernel selftest tool; the wording is ours.
 */

export function usageText(prog: string): string {
  return `Usage: ${prog} <command> <iface> [arguments..]
Drives the ovpn-ts daemon (ovpnd) of this network namespace, like the kernel selftest tool
ovpn-cli drives the ovpn netlink family. Commands:

* new_iface <iface> [mode [no-tun-offload] [no-udp-gso] [no-udp-gro]]: make an ovpn interface (starts ovpnd when none runs)
	iface: name of the interface
	mode:
		- P2P: one peer (client side, the default)
		- MP: many peers (server side)
	no-tun-offload, no-udp-gso, no-udp-gro: turn an offload off (all on by default)
* del_iface <iface>: delete an ovpn interface
	iface: name of the interface
* listen <iface> <lport> <id_type> <peers_file> [ipv6]: accept TCP peers
	iface: name of the interface
	lport: TCP port to listen on (all addresses)
	id_type:
		- SYMM: one peer ID both ways (the tx_id column is not used)
		- ASYMM: send with the tx_id of the file
	peers_file: one accepted connection per line, in accept order. Line:
		<peer_id> <tx_id> <vpnaddr>
	ipv6: listen on [::] (IPv4 and IPv6) instead of 0.0.0.0
* connect <iface> <peer_id> <tx_id> <raddr> <rport> [key_file]: TCP client peer
	iface: name of the interface
	peer_id: ID carried by the packets this peer sends us
	tx_id: ID to put in the packets we send it; 'none' for the same as peer_id
	raddr: IPv4 address to connect to
	rport: TCP port to connect to
	key_file: key to install (primary slot, key ID 0, AES-GCM, key direction 1)
* new_peer <iface> <peer_id> <tx_id> <lport> <raddr> <rport> [vpnaddr]: UDP peer
	iface: name of the interface
	peer_id: ID carried by the packets this peer sends us
	tx_id: ID to put in the packets we send it; 'none' for the same as peer_id
	lport: local UDP port (the socket listens on [::], IPv4 and IPv6)
	raddr: the peer's address (IPv6 may carry a scope: fe80::1%eth0)
	rport: the peer's UDP port
	vpnaddr: the peer's address inside the tunnel (MP interfaces)
* new_multi_peer <iface> <lport> <id_type> <peers_file> [mark]: UDP peers from a file
	iface: name of the interface
	lport: local UDP port of the one shared socket
	id_type:
		- SYMM: one peer ID both ways (the tx_id column is not used)
		- ASYMM: send with the tx_id of the file
	peers_file: one peer per line. Line:
		<peer_id> <tx_id> <laddr> <lport> <raddr> <rport> <vpnaddr>
	   (laddr/lport are not used: they are the peer's own view of us)
	mark: SO_MARK of the socket (0: none)
* set_peer <iface> <peer_id> <keepalive_interval> <keepalive_timeout>: keepalive settings
	iface: name of the interface
	peer_id: the peer to change
	keepalive_interval: seconds without sending before a keepalive goes out
	keepalive_timeout: seconds without receiving before the peer is dropped
* del_peer <iface> <peer_id>: remove a peer
	iface: name of the interface
	peer_id: the peer to remove
* get_peer <iface> [peer_id]: show one peer, or all of them (on stderr)
	iface: name of the interface
	peer_id: the peer to show; every peer when left out
* new_key <iface> <peer_id> <slot> <key_id> <cipher> <key_dir> <key_file>: install a key
	iface: name of the interface
	peer_id: the peer the key is for
	slot: 1 (primary) or 2 (secondary)
	key_id: key ID, 0 to 2
	cipher: aes (AES-256-GCM), chachapoly (ChaCha20-Poly1305) or none (refused by ovpnd)
	key_dir: 0 on one end, 1 on the other
	key_file: base64 key material (two 32-byte keys and an 8-byte nonce tail)
* del_key <iface> <peer_id> [slot]: remove a key
	iface: name of the interface
	peer_id: the peer to change
	slot: 1 (primary, the default) or 2 (secondary)
* get_key <iface> <peer_id> <slot>: show a key's slot, ID and cipher (never the key; on stderr)
	iface: name of the interface
	peer_id: the peer to query
	slot: 1 (primary) or 2 (secondary)
* swap_keys <iface> <peer_id>: exchange the primary and secondary keys
	iface: name of the interface
	peer_id: the peer to change
* listen_mcast [--json] [--duration <sec>]: print peer notifications
	without options: report the first notification and exit
	--json: one YNL-style JSON object per line, e.g.
		{"name": "peer-del-ntf", "msg": {"ifindex": 5, "peer": {"del-reason": "userspace", "id": 1}}}
	   until killed, or until <sec> seconds have passed with --duration
	waits for ovpnd to start when none runs yet
	(also runs as a stand-in for the kernel's YNL cli.py:
	 ${prog} --family ovpn --subscribe peers --output-json [--duration <sec>])

Argument forms of Linux 6.16 (no tx_id, no id_type, no mark) are accepted too:
	listen <iface> <lport> <peers_file> [ipv6]       (file lines: <peer_id> <vpnaddr>)
	connect <iface> <peer_id> <raddr> <rport> [key_file]
	new_peer <iface> <peer_id> <lport> <raddr> <rport> [vpnaddr]
	new_multi_peer <iface> <lport> <peers_file>      (lines: <peer_id> <laddr> <lport> <raddr> <rport> <vpnaddr>)

listen, connect, new_peer and new_multi_peer leave a background process ("ovpn-cli") that holds the
sockets and the ovpnd connection; killing it (e.g. pkill -f ovpn-cli, or kill the pids that
'ip netns pids <ns>' lists) closes them, and ovpnd then removes those peers (transport-disconnect).
`;
}
