/* p2p-connection.c: placeholder, to be written. */
