/* p2p-datagram-socket.c: placeholder, to be written. */
