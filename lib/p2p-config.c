/* p2p-config.c: placeholder, to be written. */
