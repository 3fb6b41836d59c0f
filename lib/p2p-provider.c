/* p2p-provider.c: placeholder, to be written. */
