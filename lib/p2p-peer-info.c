/* p2p-peer-info.c: placeholder, to be written. */
