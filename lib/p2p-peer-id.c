/* p2p-peer-id.c: placeholder, to be written. */
