/* p2p-udp-path.c: placeholder, to be written. */
