/* p2p-mem-path.c: placeholder, to be written. */
