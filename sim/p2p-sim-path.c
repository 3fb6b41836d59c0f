/* p2p-sim-path.c: placeholder, to be written. */
