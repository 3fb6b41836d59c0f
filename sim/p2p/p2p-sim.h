/* p2p-sim.h: placeholder, to be written. */
#pragma once
