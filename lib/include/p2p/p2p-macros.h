/* p2p-macros.h: export and version macros for the gst-p2p library.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#if defined(P2P_COMPILATION)
#define P2P_EXPORT __attribute__ ((visibility ("default"))) extern
/* Internal functions that the ICE module (libp2p-ice.so, loaded on first
 * use) calls: exported by the shared library, declared only in headers
 * that are not installed. Not API. */
#define P2P_INTERNAL_EXPORT __attribute__ ((visibility ("default"))) extern
#else
#define P2P_EXPORT extern
#define P2P_INTERNAL_EXPORT extern
#endif

#define P2P_API_VERSION "1.0"
/* ALPN token spoken on the wire (docs/protocol.md). */
#define P2P_ALPN "gst-p2p/1"
/* Protocol versions this build speaks (the control-stream Handshake
 * advertises the range; the peers use the highest common one,
 * docs/protocol.md §3.1). */
#define P2P_PROTOCOL_VERSION 1
#define P2P_PROTOCOL_VERSION_MIN 1
