/* p2p-packet-path.c: placeholder, to be written. */
