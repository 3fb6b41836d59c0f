/* p2p-net-thread.c: placeholder, to be written. */
