/* p2p-quic-provider.c: placeholder, to be written. */
