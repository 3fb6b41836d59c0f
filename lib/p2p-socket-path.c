/* p2p-socket-path.c: placeholder, to be written. */
