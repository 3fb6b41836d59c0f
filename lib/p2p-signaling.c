/* p2p-signaling.c: placeholder, to be written. */
