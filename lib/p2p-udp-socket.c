/* p2p-udp-socket.c: placeholder, to be written. */
