/* p2p-quic-connection.c: placeholder, to be written. */
