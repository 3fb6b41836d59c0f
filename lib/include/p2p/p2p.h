/* p2p.h: the umbrella header of the gst-p2p library (p2p-glib-1.0).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#define __P2P_H_INSIDE__
#include "p2p-macros.h"
#include "p2p-error.h"
#include "p2p-peer-id.h"
#include "p2p-identity.h"
#include "p2p-peer-info.h"
#include "p2p-config.h"
#include "p2p-frame.h"
#include "p2p-host-share.h"
#include "p2p-connection.h"
#include "p2p-listener.h"
#include "p2p-provider.h"
#include "p2p-quic-provider.h"
#include "p2p-file-protocol.h"
#include "p2p-file-service.h"
#include "p2p-file-client.h"
#undef __P2P_H_INSIDE__
