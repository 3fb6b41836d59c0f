/* p2p-quic-endpoint.c: placeholder, to be written. */
