/* p2p-udp-socket.c: P2pDatagramSocket over a non-blocking UDP GSocket.
 *
 * Receiving: a g_socket_create_source() source on the socket's context reads
 * batches with recvmmsg() until the socket would block or a per-dispatch
 * budget is spent (RECV_BUDGET datagrams or RECV_BUDGET_US of the clock,
 * checked between batches), so that other sources get their turn: the
 * timers of every connection on this thread wait for at most about one
 * budget, also when what the datagrams carry is slow to handle (a flood of
 * tiny messages took seconds per dispatch under ASan, and the connections'
 * timers with it); a buffer may hold several datagrams of one burst (UDP
 * GRO), delivered one by one.
 * Sending: one datagram per sendmsg, or a burst of equal-sized datagrams in
 * one (UDP GSO, udp_send_segments_to). ICMP
 * port/host unreachable comes through the error queue (IP_RECVERR) and is
 * passed to p2p_datagram_socket_deliver_unreachable() with the address the
 * datagram was sent to (a dial to a closed port then fails at once).
 * Timers: one GSource whose ready time is the earliest deadline; due timers
 * fire in deadline order (ties in creation order).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#define _GNU_SOURCE             /* recvmmsg */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <linux/errqueue.h>

#include "p2p-udp-socket.h"
#include "p2p-mtu.h"
#include "p2p/p2p-error.h"

#define RECV_BATCH 16
#define RECV_BUF_SIZE 65536
#define RECV_BUDGET 512         /* datagrams per dispatch */
#define RECV_BUDGET_US 4000     /* and microseconds (between batches) */
#define SOCKET_BUFFER_BYTES (4 * 1024 * 1024)

typedef struct {
  guint id;
  guint64 seq;                  /* creation order: ties and re-entrancy */
  guint64 deadline;
  P2pTimerFunc func;
  gpointer user_data;
} Timer;

struct _P2pUdpSocket {
  P2pDatagramSocket parent;

  GMainContext *context;
  GSocket *socket;
  GSource *recv_source;
  gboolean closed;
  gsize mtu;
  guint64 send_drops;
  gboolean no_gso;              /* the kernel refused UDP_SEGMENT once */

  guint8 *recv_bufs;            /* RECV_BATCH * RECV_BUF_SIZE */

  GSequence *timers;            /* Timer*, sorted by (deadline, seq) */
  GHashTable *timer_by_id;      /* id -> GSequenceIter */
  GSource *timer_source;
  guint next_timer_id;
  guint64 next_seq;
};

G_DEFINE_FINAL_TYPE (P2pUdpSocket, p2p_udp_socket, P2P_TYPE_DATAGRAM_SOCKET)

enum {
  PROP_0,
  PROP_MTU,
  N_PROPS
};

static GParamSpec *props[N_PROPS];

static guint64
mono_ns (void)
{
  return (guint64) g_get_monotonic_time () * 1000;
}

/* ---- timers ---- */

static gint
timer_cmp (gconstpointer a, gconstpointer b, gpointer user_data)
{
  const Timer *ta = a, *tb = b;

  if (ta->deadline != tb->deadline)
    return ta->deadline < tb->deadline ? -1 : 1;
  return ta->seq < tb->seq ? -1 : (ta->seq > tb->seq ? 1 : 0);
}

static void
timers_update (P2pUdpSocket *self)
{
  GSequenceIter *first;
  Timer *t;
  guint64 us;

  if (self->timer_source == NULL)
    return;
  first = g_sequence_get_begin_iter (self->timers);
  if (g_sequence_iter_is_end (first)) {
    g_source_set_ready_time (self->timer_source, -1);
    return;
  }
  t = g_sequence_get (first);
  /* Round up: when it fires, now() is at or past the deadline. */
  us = t->deadline / 1000 + (t->deadline % 1000 ? 1 : 0);
  g_source_set_ready_time (self->timer_source, (gint64) MIN (us, (guint64) G_MAXINT64));
}

static gboolean
timers_dispatch_cb (gpointer user_data)
{
  P2pUdpSocket *self = g_object_ref (P2P_UDP_SOCKET (user_data));
  guint64 now = mono_ns ();
  guint64 seq_limit = self->next_seq;

  for (;;) {
    GSequenceIter *first = g_sequence_get_begin_iter (self->timers);
    Timer t;

    if (self->closed || g_sequence_iter_is_end (first))
      break;
    t = *(Timer *) g_sequence_get (first);
    /* Fire only timers due now and created before this dispatch; a timer
     * armed by a callback for the past fires on the next iteration. */
    if (t.deadline > now || t.seq >= seq_limit)
      break;
    g_hash_table_remove (self->timer_by_id, GUINT_TO_POINTER (t.id));
    g_sequence_remove (first);
    t.func (t.user_data);
  }
  timers_update (self);
  g_object_unref (self);
  return G_SOURCE_CONTINUE;
}

static gboolean
plain_dispatch (GSource *source, GSourceFunc callback, gpointer user_data)
{
  return callback (user_data);
}

static GSourceFuncs timer_source_funcs = {
  .dispatch = plain_dispatch,
};

static guint
udp_add_timer (P2pDatagramSocket *sock, guint64 deadline_ns, P2pTimerFunc func,
    gpointer user_data)
{
  P2pUdpSocket *self = P2P_UDP_SOCKET (sock);
  Timer *t;
  guint id;

  do {
    id = ++self->next_timer_id;
  } while (id == 0 || g_hash_table_contains (self->timer_by_id, GUINT_TO_POINTER (id)));
  if (self->closed)
    return id;                  /* never fires */
  t = g_new0 (Timer, 1);
  t->id = id;
  t->seq = self->next_seq++;
  t->deadline = deadline_ns;
  t->func = func;
  t->user_data = user_data;
  g_hash_table_insert (self->timer_by_id, GUINT_TO_POINTER (id),
      g_sequence_insert_sorted (self->timers, t, timer_cmp, NULL));
  timers_update (self);
  return id;
}

static void
udp_cancel_timer (P2pDatagramSocket *sock, guint id)
{
  P2pUdpSocket *self = P2P_UDP_SOCKET (sock);
  GSequenceIter *it = g_hash_table_lookup (self->timer_by_id, GUINT_TO_POINTER (id));

  if (it == NULL)
    return;
  g_hash_table_remove (self->timer_by_id, GUINT_TO_POINTER (id));
  g_sequence_remove (it);
  timers_update (self);
}

/* ---- receiving ---- */

/* Reads the socket's error queue (IP_RECVERR): an ICMP port or host
 * unreachable for a datagram we sent is reported to the socket's owner with
 * the address it was sent to, so a dial to a closed port fails at once
 * instead of after the idle timeout. Other errors are dropped. */
static void
drain_error_queue (P2pUdpSocket *self)
{
  int fd = g_socket_get_fd (self->socket);

  for (guint n = 0; n < RECV_BATCH && !self->closed; n++) {
    struct sockaddr_storage to;
    union {
      struct cmsghdr align;
      char buf[CMSG_SPACE (sizeof (struct sock_extended_err) + sizeof (struct sockaddr_in6))];
    } control;
    char byte;
    struct iovec iov = { &byte, 1 };
    struct msghdr msg = { 0 };
    struct cmsghdr *cm;

    msg.msg_name = &to;
    msg.msg_namelen = sizeof to;
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.buf;
    msg.msg_controllen = sizeof control.buf;
    if (recvmsg (fd, &msg, MSG_ERRQUEUE | MSG_DONTWAIT) < 0)
      break;                    /* empty (EAGAIN) */
    for (cm = CMSG_FIRSTHDR (&msg); cm; cm = CMSG_NXTHDR (&msg, cm)) {
      const struct sock_extended_err *ee;
      g_autoptr (GSocketAddress) addr = NULL;

      if (!((cm->cmsg_level == IPPROTO_IP && cm->cmsg_type == IP_RECVERR)
              || (cm->cmsg_level == IPPROTO_IPV6 && cm->cmsg_type == IPV6_RECVERR)))
        continue;
      ee = (const struct sock_extended_err *) CMSG_DATA (cm);
      if ((ee->ee_origin != SO_EE_ORIGIN_ICMP && ee->ee_origin != SO_EE_ORIGIN_ICMP6)
          || (ee->ee_errno != ECONNREFUSED && ee->ee_errno != EHOSTUNREACH
              && ee->ee_errno != ENETUNREACH))
        continue;
      if (msg.msg_namelen == 0
          || (to.ss_family != AF_INET && to.ss_family != AF_INET6))
        continue;
      addr = g_socket_address_new_from_native (&to, msg.msg_namelen);
      if (G_IS_INET_SOCKET_ADDRESS (addr))
        p2p_datagram_socket_deliver_unreachable (P2P_DATAGRAM_SOCKET (self), addr,
            g_strerror (ee->ee_errno));
    }
  }
}

#ifndef UDP_GRO
#define UDP_GRO 104             /* Linux 5.0 */
#endif

/* The segment size of a coalesced (GRO) buffer, 0 if it holds one datagram. */
static gsize
gro_segment (struct msghdr *m)
{
  for (struct cmsghdr *cm = CMSG_FIRSTHDR (m); cm; cm = CMSG_NXTHDR (m, cm)) {
    if (cm->cmsg_level == SOL_UDP && cm->cmsg_type == UDP_GRO) {
      int gso = 0;

      memcpy (&gso, CMSG_DATA (cm), sizeof gso);
      return gso > 0 ? (gsize) gso : 0;
    }
  }
  return 0;
}

/* Reads datagrams in batches (recvmmsg), each buffer possibly several
 * datagrams of one burst (UDP GRO), and delivers them one by one. */
static gboolean
recv_cb (GSocket *socket, GIOCondition condition, gpointer user_data)
{
  P2pUdpSocket *self = g_object_ref (P2P_UDP_SOCKET (user_data));
  int fd = g_socket_get_fd (self->socket);
  guint total = 0;
  gint64 until = g_get_monotonic_time () + RECV_BUDGET_US;

  if (condition & G_IO_ERR)
    drain_error_queue (self);

  while (!self->closed && total < RECV_BUDGET
      && (total == 0 || g_get_monotonic_time () < until)) {
    struct mmsghdr msgs[RECV_BATCH];
    struct iovec iov[RECV_BATCH];
    struct sockaddr_storage from[RECV_BATCH];
    union {
      char buf[CMSG_SPACE (sizeof (int))];
      struct cmsghdr align;
    } control[RECV_BATCH];
    int n, i;

    memset (msgs, 0, sizeof msgs);
    for (i = 0; i < RECV_BATCH; i++) {
      iov[i].iov_base = self->recv_bufs + (gsize) i * RECV_BUF_SIZE;
      iov[i].iov_len = RECV_BUF_SIZE;
      msgs[i].msg_hdr.msg_name = &from[i];
      msgs[i].msg_hdr.msg_namelen = sizeof from[i];
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
      msgs[i].msg_hdr.msg_control = control[i].buf;
      msgs[i].msg_hdr.msg_controllen = sizeof control[i].buf;
    }
    do
      n = recvmmsg (fd, msgs, RECV_BATCH, MSG_DONTWAIT, NULL);
    while (n < 0 && errno == EINTR);
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
      /* the pending error of an ICMP message (IP_RECVERR): its details
       * are in the error queue; the datagrams behind it are still there */
      g_debug ("UDP receive: %s", g_strerror (errno));
      drain_error_queue (self);
      total++;                  /* bounded by RECV_BUDGET */
      continue;
    }
    if (n <= 0)
      break;
    for (i = 0; i < n && !self->closed; i++) {
      g_autoptr (GSocketAddress) addr = g_socket_address_new_from_native (&from[i],
          msgs[i].msg_hdr.msg_namelen);
      const guint8 *data = iov[i].iov_base;
      gsize len = msgs[i].msg_len;
      gsize segment = gro_segment (&msgs[i].msg_hdr);

      if (addr == NULL) {
        total++;
        continue;
      }
      if (segment == 0)
        segment = MAX (len, 1);
      for (gsize off = 0; off < len && !self->closed; off += segment) {
        p2p_datagram_socket_deliver (P2P_DATAGRAM_SOCKET (self), addr, data + off,
            MIN (segment, len - off));
        total++;                /* datagrams, a coalesced buffer's each */
      }
    }
    if (n < RECV_BATCH)
      break;                    /* drained: the next read would block */
  }
  g_object_unref (self);
  return G_SOURCE_CONTINUE;
}

/* ---- P2pDatagramSocket vfuncs ---- */

/* Sends tried when each fails with an error that an earlier datagram's
 * ICMP message may have left pending (below). */
#define SEND_PENDING_ERROR_TRIES 3

/* TRUE for the errors of an ICMP message (port, host or network
 * unreachable) that IP_RECVERR leaves pending on the socket: the next
 * send fails with it, although it concerns an earlier datagram. */
static gboolean
may_be_pending_icmp_error (const GError *error)
{
  return g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED)
      || g_error_matches (error, G_IO_ERROR, G_IO_ERROR_HOST_UNREACHABLE)
      || g_error_matches (error, G_IO_ERROR, G_IO_ERROR_NETWORK_UNREACHABLE)
      /* (ICMP "fragmentation needed" / "packet too big": EMSGSIZE;
       * ICMPv6 "administratively prohibited": EACCES) */
      || g_error_matches (error, G_IO_ERROR, G_IO_ERROR_MESSAGE_TOO_LARGE)
      || g_error_matches (error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED);
}

static gboolean
udp_send_to (P2pDatagramSocket *sock, GSocketAddress *to, const guint8 *data, gsize len,
    GError **error)
{
  P2pUdpSocket *self = P2P_UDP_SOCKET (sock);
  g_autoptr (GError) local = NULL;
  gssize r;

  if (self->closed) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_CLOSED, "UDP socket is closed");
    return FALSE;
  }
  if (len > self->mtu) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_LIMIT_EXCEEDED,
        "datagram of %" G_GSIZE_FORMAT " bytes exceeds the socket MTU of %" G_GSIZE_FORMAT,
        len, self->mtu);
    return FALSE;
  }
  /* An ICMP error for a datagram sent earlier (IP_RECVERR: a peer whose
   * port closed) is pending on the socket and fails the next send,
   * whichever peer that one is for: the send is tried again (the failed
   * one consumed the pending error; the error queue keeps its details for
   * the receive side, which reports the unreachable peer). Again up to
   * SEND_PENDING_ERROR_TRIES times in all, so that an error of this
   * datagram's own (no route) still fails it. */
  for (guint tries = 0;; tries++) {
    g_clear_error (&local);
    r = g_socket_send_to (self->socket, to, (const gchar *) data, len, NULL, &local);
    if (r >= 0)
      return TRUE;
    if (tries + 1 >= SEND_PENDING_ERROR_TRIES || !may_be_pending_icmp_error (local))
      break;
  }
  if (g_error_matches (local, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK)) {
    self->send_drops++;
    g_set_error (error, P2P_ERROR, P2P_ERROR_NETWORK,
        "UDP send buffer full, datagram dropped");
    return FALSE;
  }
  g_set_error (error, P2P_ERROR, P2P_ERROR_NETWORK, "UDP send failed: %s", local->message);
  return FALSE;
}

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103         /* Linux 4.18 */
#endif

/* One sendmsg() with UDP_SEGMENT: the kernel cuts @len bytes into
 * datagrams of @segment bytes. FALSE with errno set on failure. */
static gboolean
send_gso (P2pUdpSocket *self, GSocketAddress *to, const guint8 *data, gsize len, gsize segment)
{
  struct sockaddr_storage ss;
  struct iovec iov = { (void *) data, len };
  union {
    char buf[CMSG_SPACE (sizeof (guint16))];
    struct cmsghdr align;
  } control;
  struct msghdr msg = { 0 };
  struct cmsghdr *cm;
  guint16 gso = (guint16) segment;
  gssize r;

  memset (&control, 0, sizeof control);
  if (!g_socket_address_to_native (to, &ss, sizeof ss, NULL)) {
    errno = EINVAL;
    return FALSE;
  }
  msg.msg_name = &ss;
  msg.msg_namelen = g_socket_address_get_native_size (to);
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control.buf;
  msg.msg_controllen = sizeof control.buf;
  cm = CMSG_FIRSTHDR (&msg);
  cm->cmsg_level = SOL_UDP;
  cm->cmsg_type = UDP_SEGMENT;
  cm->cmsg_len = CMSG_LEN (sizeof gso);
  memcpy (CMSG_DATA (cm), &gso, sizeof gso);
  do
    r = sendmsg (g_socket_get_fd (self->socket), &msg, 0);
  while (r < 0 && errno == EINTR);
  return r >= 0;
}

static gboolean
udp_send_segments_to (P2pDatagramSocket *sock, GSocketAddress *to, const guint8 *data,
    gsize len, gsize segment, GError **error)
{
  P2pUdpSocket *self = P2P_UDP_SOCKET (sock);
  gboolean ok = TRUE;

  if (!self->closed && !self->no_gso && len > segment && segment <= self->mtu
      && len <= P2P_GSO_MAX_BYTES && (len + segment - 1) / segment <= P2P_GSO_MAX_SEGMENTS) {
    if (send_gso (self, to, data, len, segment))
      return TRUE;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      self->send_drops += (len + segment - 1) / segment;
      g_set_error (error, P2P_ERROR, P2P_ERROR_NETWORK,
          "UDP send buffer full, datagrams dropped");
      return FALSE;
    }
    /* no GSO here (an older kernel, a device without it): one datagram
     * per send from now on. Any other error (an earlier datagram's
     * pending ICMP error, which this failed send consumed; no route;
     * netfilter) concerns this burst only: its datagrams go one by one
     * (udp_send_to tries each again on a pending error). */
    if (errno == EIO || errno == EINVAL || errno == ENOPROTOOPT || errno == EOPNOTSUPP) {
      g_debug ("UDP GSO refused (%s): sending datagrams one by one", g_strerror (errno));
      self->no_gso = TRUE;
    }
  }
  for (gsize off = 0; off < len; off += segment) {
    if (!udp_send_to (sock, to, data + off, MIN (segment, len - off), ok ? error : NULL))
      ok = FALSE;
  }
  return ok;
}

static GSocketAddress *
udp_get_local_address (P2pDatagramSocket *sock)
{
  P2pUdpSocket *self = P2P_UDP_SOCKET (sock);

  if (self->socket == NULL)
    return NULL;
  return g_socket_get_local_address (self->socket, NULL);
}

static gsize
udp_get_mtu (P2pDatagramSocket *sock)
{
  return P2P_UDP_SOCKET (sock)->mtu;
}

static P2pPathKind
udp_get_kind (P2pDatagramSocket *sock)
{
  return P2P_PATH_KIND_DIRECT;
}

static guint64
udp_now (P2pDatagramSocket *sock)
{
  return mono_ns ();
}

static GMainContext *
udp_get_context (P2pDatagramSocket *sock)
{
  return P2P_UDP_SOCKET (sock)->context;
}

static void
udp_close (P2pDatagramSocket *sock)
{
  P2pUdpSocket *self = P2P_UDP_SOCKET (sock);

  if (self->closed)
    return;
  self->closed = TRUE;
  if (self->recv_source) {
    g_source_destroy (self->recv_source);
    g_clear_pointer (&self->recv_source, g_source_unref);
  }
  if (self->timer_source) {
    g_source_destroy (self->timer_source);
    g_clear_pointer (&self->timer_source, g_source_unref);
  }
  g_hash_table_remove_all (self->timer_by_id);
  g_sequence_remove_range (g_sequence_get_begin_iter (self->timers),
      g_sequence_get_end_iter (self->timers));
  if (self->socket)
    g_socket_close (self->socket, NULL);
}

/* ---- GObject ---- */

static void
p2p_udp_socket_set_property (GObject *object, guint prop_id, const GValue *value,
    GParamSpec *pspec)
{
  P2pUdpSocket *self = P2P_UDP_SOCKET (object);

  switch (prop_id) {
    case PROP_MTU:
      self->mtu = g_value_get_uint (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
p2p_udp_socket_get_property (GObject *object, guint prop_id, GValue *value,
    GParamSpec *pspec)
{
  P2pUdpSocket *self = P2P_UDP_SOCKET (object);

  switch (prop_id) {
    case PROP_MTU:
      g_value_set_uint (value, (guint) self->mtu);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
}

static void
p2p_udp_socket_dispose (GObject *object)
{
  P2pUdpSocket *self = P2P_UDP_SOCKET (object);

  udp_close (P2P_DATAGRAM_SOCKET (self));
  g_clear_object (&self->socket);
  G_OBJECT_CLASS (p2p_udp_socket_parent_class)->dispose (object);
}

static void
p2p_udp_socket_finalize (GObject *object)
{
  P2pUdpSocket *self = P2P_UDP_SOCKET (object);

  g_hash_table_unref (self->timer_by_id);
  g_sequence_free (self->timers);
  g_free (self->recv_bufs);
  g_clear_pointer (&self->context, g_main_context_unref);
  G_OBJECT_CLASS (p2p_udp_socket_parent_class)->finalize (object);
}

static void
p2p_udp_socket_class_init (P2pUdpSocketClass *klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  P2pDatagramSocketClass *sock_class = P2P_DATAGRAM_SOCKET_CLASS (klass);

  gobject_class->set_property = p2p_udp_socket_set_property;
  gobject_class->get_property = p2p_udp_socket_get_property;
  gobject_class->dispose = p2p_udp_socket_dispose;
  gobject_class->finalize = p2p_udp_socket_finalize;

  sock_class->send_to = udp_send_to;
  sock_class->send_segments_to = udp_send_segments_to;
  sock_class->get_local_address = udp_get_local_address;
  sock_class->get_mtu = udp_get_mtu;
  sock_class->get_kind = udp_get_kind;
  sock_class->now = udp_now;
  sock_class->add_timer = udp_add_timer;
  sock_class->cancel_timer = udp_cancel_timer;
  sock_class->close = udp_close;
  sock_class->get_context = udp_get_context;

  props[PROP_MTU] = g_param_spec_uint ("mtu", "MTU",
      "Largest UDP payload sent, in bytes (loopback allows up to 65527)",
      1200, P2P_UDP_SOCKET_MAX_MTU, P2P_INTERNET_MTU,
      G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (gobject_class, N_PROPS, props);
}

static void
p2p_udp_socket_init (P2pUdpSocket *self)
{
  self->mtu = P2P_INTERNET_MTU;
  self->timers = g_sequence_new (g_free);
  self->timer_by_id = g_hash_table_new (NULL, NULL);
}

GInetSocketAddress *
p2p_parse_bind_address (const char *text, GError **error)
{
  g_autofree char *host = NULL;
  g_autoptr (GInetAddress) addr = NULL;
  const char *port_text;
  char *end = NULL;
  guint64 port;

  if (text == NULL || text[0] == '\0') {
    g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
        "empty bind address; expected HOST:PORT, [IPV6]:PORT or :PORT (port 0 = any)");
    return NULL;
  }
  if (text[0] == '[') {
    const char *close = strchr (text, ']');

    if (close == NULL || close[1] != ':') {
      g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
          "bad bind address '%s'; expected [IPV6]:PORT, e.g. [::1]:0", text);
      return NULL;
    }
    host = g_strndup (text + 1, (gsize) (close - text - 1));
    port_text = close + 2;
    addr = g_inet_address_new_from_string (host);
    if (addr == NULL || g_inet_address_get_family (addr) != G_SOCKET_FAMILY_IPV6) {
      g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
          "bad bind address '%s': '%s' is not an IPv6 address", text, host);
      return NULL;
    }
  } else {
    const char *colon = strrchr (text, ':');

    if (colon == NULL) {
      g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
          "bad bind address '%s': missing ':PORT' (use port 0 for any free port)", text);
      return NULL;
    }
    host = g_strndup (text, (gsize) (colon - text));
    port_text = colon + 1;
    if (host[0] == '\0')
      addr = g_inet_address_new_any (G_SOCKET_FAMILY_IPV4);
    else if (g_ascii_strcasecmp (host, "localhost") == 0)
      addr = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
    else if (strchr (host, ':') != NULL) {
      g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
          "bad bind address '%s': write IPv6 addresses in brackets, e.g. [::1]:0", text);
      return NULL;
    } else {
      addr = g_inet_address_new_from_string (host);
      if (addr == NULL) {
        g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
            "bad bind address '%s': '%s' is not an IP address of this machine's "
            "form (use an IPv4 address, [IPv6], localhost, or nothing for any)", text, host);
        return NULL;
      }
    }
  }
  if (port_text[0] == '\0' || !g_ascii_isdigit (port_text[0])
      || (port = g_ascii_strtoull (port_text, &end, 10), *end != '\0') || port > 65535) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_INVALID_ARGUMENT,
        "bad bind address '%s': port must be a number 0..65535 (0 = any free port)", text);
    return NULL;
  }
  return G_INET_SOCKET_ADDRESS (g_inet_socket_address_new (addr, (guint16) port));
}

static void
raise_buffer (GSocket *socket, int force_opt, int opt)
{
  /* SO_*BUFFORCE passes the system limit with CAP_NET_ADMIN; else best effort. */
  if (!g_socket_set_option (socket, SOL_SOCKET, force_opt, SOCKET_BUFFER_BYTES, NULL))
    g_socket_set_option (socket, SOL_SOCKET, opt, SOCKET_BUFFER_BYTES, NULL);
}

P2pUdpSocket *
p2p_udp_socket_new (const char *bind_address, GMainContext *ctx, GError **error)
{
  g_autoptr (GInetSocketAddress) addr = NULL;
  g_autoptr (GSocket) socket = NULL;
  g_autoptr (GError) local = NULL;
  g_autoptr (P2pUdpSocket) self = NULL;
  GSocketFamily family;

  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  addr = p2p_parse_bind_address (bind_address, error);
  if (addr == NULL)
    return NULL;
  family = g_socket_address_get_family (G_SOCKET_ADDRESS (addr));
  socket = g_socket_new (family, G_SOCKET_TYPE_DATAGRAM, G_SOCKET_PROTOCOL_UDP, &local);
  if (socket == NULL) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_NETWORK,
        "cannot create a UDP socket for '%s': %s", bind_address, local->message);
    return NULL;
  }
  g_socket_set_blocking (socket, FALSE);
  if (!g_socket_bind (socket, G_SOCKET_ADDRESS (addr), FALSE, &local)) {
    g_set_error (error, P2P_ERROR, P2P_ERROR_NETWORK,
        "cannot bind UDP socket to '%s': %s%s", bind_address, local->message,
        g_error_matches (local, G_IO_ERROR, G_IO_ERROR_ADDRESS_IN_USE)
        ? " (choose another port, or 0 for any free port)" : "");
    return NULL;
  }
  raise_buffer (socket, SO_RCVBUFFORCE, SO_RCVBUF);
  raise_buffer (socket, SO_SNDBUFFORCE, SO_SNDBUF);
  {
    /* ICMP errors on this unconnected socket go to its error queue
     * (drain_error_queue); best effort */
    int on = 1;

    if (family == G_SOCKET_FAMILY_IPV6)
      (void) setsockopt (g_socket_get_fd (socket), IPPROTO_IPV6, IPV6_RECVERR, &on, sizeof on);
    (void) setsockopt (g_socket_get_fd (socket), IPPROTO_IP, IP_RECVERR, &on, sizeof on);
    /* datagrams of one burst may arrive as one buffer (UDP GRO), cut again
     * in recv_cb; a kernel without it delivers them one by one */
    (void) setsockopt (g_socket_get_fd (socket), SOL_UDP, UDP_GRO, &on, sizeof on);
  }

  self = g_object_new (P2P_TYPE_UDP_SOCKET, NULL);
  self->context = ctx ? g_main_context_ref (ctx) : g_main_context_ref_thread_default ();
  self->socket = g_steal_pointer (&socket);
  self->recv_bufs = g_malloc ((gsize) RECV_BATCH * RECV_BUF_SIZE);

  self->recv_source = g_socket_create_source (self->socket, G_IO_IN | G_IO_ERR, NULL);
  g_source_set_name (self->recv_source, "p2p-udp-socket receive");
  g_source_set_callback (self->recv_source, G_SOURCE_FUNC (recv_cb), self, NULL);
  g_source_attach (self->recv_source, self->context);

  self->timer_source = g_source_new (&timer_source_funcs, sizeof (GSource));
  g_source_set_name (self->timer_source, "p2p-udp-socket timers");
  g_source_set_callback (self->timer_source, timers_dispatch_cb, self, NULL);
  g_source_set_ready_time (self->timer_source, -1);
  g_source_attach (self->timer_source, self->context);
  return g_steal_pointer (&self);
}

void
p2p_udp_socket_set_mtu (P2pUdpSocket *self, gsize mtu)
{
  g_return_if_fail (P2P_IS_UDP_SOCKET (self));
  g_return_if_fail (mtu >= 1200 && mtu <= P2P_UDP_SOCKET_MAX_MTU);

  g_object_set (self, "mtu", (guint) mtu, NULL);
}

guint64
p2p_udp_socket_get_send_drops (P2pUdpSocket *self)
{
  g_return_val_if_fail (P2P_IS_UDP_SOCKET (self), 0);

  return self->send_drops;
}

GSocket *
p2p_udp_socket_get_socket (P2pUdpSocket *self)
{
  g_return_val_if_fail (P2P_IS_UDP_SOCKET (self), NULL);

  return self->socket;
}
