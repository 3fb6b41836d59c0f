/* p2p-listener.c: placeholder, to be written. */
