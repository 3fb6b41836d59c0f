/* p2p-sim-provider.c: placeholder, to be written. */
