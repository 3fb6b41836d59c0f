/* p2p-ice-path.c: placeholder, to be written. */
