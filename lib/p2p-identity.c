/* p2p-identity.c: placeholder, to be written. */
