/* p2p-quic-session.c: placeholder, to be written. */
