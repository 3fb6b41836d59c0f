/* p2p-provider-select.c: placeholder, to be written. */
