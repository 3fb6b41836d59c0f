/* p2p-frame.c: placeholder, to be written. */
