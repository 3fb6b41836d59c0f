/* p2p-base32.c: placeholder, to be written. */
