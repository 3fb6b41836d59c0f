/* p2p-sim-network.c: placeholder, to be written. */
