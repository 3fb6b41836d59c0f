/* p2p-mtu.h (internal): the datagram sizes every layer shares, one name
 * each.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The largest UDP payload that fits a 1500-byte Ethernet MTU with IPv6 and
 * UDP headers (1500 - 40 - 8): the default MTU of a UDP socket and of a
 * socket path to a non-loopback address, the size QUIC handshake packets
 * are written at before the session applies the path MTU, the largest
 * datagram an ICE path accepts, the least write buffer of the QUIC driver.
 * (The public P2P_SIM_DEFAULT_MTU in p2p-sim.h has the same value.) */
#define P2P_INTERNET_MTU 1452

/* Largest UDP payload used towards a loopback address (IPv4 max is 65507;
 * ngtcp2 is told 65000, a round value below it). */
#define P2P_LOOPBACK_MTU 65000

/* A burst of equal-sized datagrams sent in one system call (UDP GSO,
 * UDP_SEGMENT): at most this many bytes (under the 64 KiB the kernel takes
 * in one send) and this many datagrams (the kernel's UDP_MAX_SEGMENTS). */
#define P2P_GSO_MAX_BYTES 65000
#define P2P_GSO_MAX_SEGMENTS 64
