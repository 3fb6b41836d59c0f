/* tests/support/netfwd.c: a network emulator for tests, in userspace (this
 * machine's kernel has no sch_netem): forwards Ethernet frames between two
 * TAP devices, both ways, with a fixed delay, jitter, random loss,
 * reordering and a rate limit per direction, from a seeded PRNG.
 *
 *   netfwd --tap0 NAME --tap1 NAME [--delay-ms 25] [--jitter-ms 2]
 *          [--loss 0.005] [--reorder 0.01] [--rate-kbit 10000] [--seed 1] ...
 *
 * A value "A/B" gives direction tap0->tap1 the value A and tap1->tap0 B;
 * a single value is for both. The TAP devices are attached by name
 * (TUNSETIFF): devices made beforehand with `ip tuntap add mode tap` (the
 * usual way: they can be bridged before netfwd starts, and outlive it), or
 * else new ones that vanish when netfwd exits. Prints "netfwd: ready" once
 * both are open, the counters of each direction on SIGUSR1 and at exit
 * (SIGTERM, SIGINT). Not installed; used by tests/support/netfwd-link.sh.
 *
 * Per direction, a frame read from the input TAP is
 *  1. dropped with probability --loss ("lost");
 *  2. if --rate-kbit is set, shaped by a token bucket (--burst-kb deep): it
 *     leaves the bucket when the tokens allow, and is dropped when the
 *     bucket's backlog would exceed --rate-queue-kb ("queue-full");
 *  3. delayed by --delay-ms plus jitter (uniform in +-jitter, or normal with
 *     sigma = jitter, --jitter-dist; the total never below 0). Jitter does
 *     not reorder: a frame never leaves before the one read before it, as on
 *     a real path. With probability --reorder a frame gets --reorder-ms more
 *     on top and lets the later frames pass it ("reordered");
 *  4. held in a queue of at most --limit frames (dropped when full,
 *     "queue-full") and written to the other TAP when due.
 * The counters also show "tap-drops": frames the kernel dropped at the
 * input TAP's queue before netfwd read them (its txqueuelen; 0 expected).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#define _GNU_SOURCE             /* ppoll() */
#include <glib.h>

#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#define FRAME_MAX 65536
#define BURST 64                /* frames read from one TAP, or written to
                                 * one, per turn of the loop: neither
                                 * direction starves the other */

typedef struct {
  gint64 due;                   /* ns, CLOCK_MONOTONIC */
  guint64 seq;
  gsize len;
  guint8 data[];
} Frame;

typedef struct {
  /* settings */
  double delay_ms, jitter_ms, loss, reorder, reorder_ms, rate_kbit, burst_kb, rate_queue_kb;
  guint limit;
  /* state */
  GRand *rand;
  Frame **heap;                 /* min-heap on (due, seq) */
  guint n;
  guint64 seq;
  gint64 last_due;              /* the latest due time of an in-order frame */
  double tat;                   /* token bucket: theoretical arrival time, ns */
  int in_fd, out_fd;
  const char *name, *in_tap;
  /* counters */
  guint64 received, forwarded, lost, queue_full, reordered, write_errors, bytes;
  guint max_queued;
} Direction;

static volatile sig_atomic_t stop_signal;
static volatile sig_atomic_t dump_signal;

static void
on_signal (int sig)
{
  if (sig == SIGUSR1)
    dump_signal = 1;
  else
    stop_signal = sig;
}

static gint64
now_ns (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (gint64) ts.tv_sec * G_GINT64_CONSTANT (1000000000) + ts.tv_nsec;
}

static gboolean
frame_before (const Frame *a, const Frame *b)
{
  return a->due < b->due || (a->due == b->due && a->seq < b->seq);
}

static void
heap_push (Direction *d, Frame *f)
{
  guint i = d->n++;
  while (i > 0) {
    guint p = (i - 1) / 2;
    if (!frame_before (f, d->heap[p]))
      break;
    d->heap[i] = d->heap[p];
    i = p;
  }
  d->heap[i] = f;
  if (d->n > d->max_queued)
    d->max_queued = d->n;
}

static Frame *
heap_pop (Direction *d)
{
  Frame *top = d->heap[0], *last = d->heap[--d->n];
  guint i = 0;
  for (;;) {
    guint c = 2 * i + 1;
    if (c >= d->n)
      break;
    if (c + 1 < d->n && frame_before (d->heap[c + 1], d->heap[c]))
      c++;
    if (!frame_before (d->heap[c], last))
      break;
    d->heap[i] = d->heap[c];
    i = c;
  }
  if (d->n > 0)
    d->heap[i] = last;
  return top;
}

/* A normal deviate (Box-Muller; one of the pair is enough here). */
static double
rand_normal (GRand *r)
{
  double u1 = g_rand_double (r), u2 = g_rand_double (r);
  if (u1 < 1e-300)
    u1 = 1e-300;
  return sqrt (-2.0 * log (u1)) * cos (2.0 * G_PI * u2);
}

static gboolean jitter_normal;

/* One frame of @len bytes read at @now: applies loss, rate, delay, jitter,
 * reordering; queues it or counts the drop. */
static void
direction_take (Direction *d, const guint8 *data, gsize len, gint64 now)
{
  double t, extra;
  Frame *f;
  gboolean late;

  d->received++;
  /* every frame draws the same numbers whatever the settings: the n-th
   * frame's fate depends only on the seed and n */
  double u_loss = g_rand_double (d->rand);
  double u_jit = jitter_normal ? rand_normal (d->rand) : 2.0 * g_rand_double (d->rand) - 1.0;
  double u_reo = g_rand_double (d->rand);

  if (u_loss < d->loss) {
    d->lost++;
    return;
  }
  t = (double) now;
  if (d->rate_kbit > 0) {
    double per_byte = 8e6 / d->rate_kbit;      /* ns per byte */
    double tau = d->burst_kb * 1024 * per_byte;
    double leave = MAX (t, d->tat - tau);
    if ((leave - t) / per_byte > d->rate_queue_kb * 1024) {
      d->queue_full++;
      return;
    }
    d->tat = MAX (d->tat, leave) + len * per_byte;
    t = leave;
  }
  if (d->n >= d->limit) {
    d->queue_full++;
    return;
  }
  extra = d->delay_ms + u_jit * d->jitter_ms;
  t += MAX (extra, 0.0) * 1e6;
  late = u_reo < d->reorder;
  f = g_malloc (sizeof (Frame) + len);
  f->len = len;
  memcpy (f->data, data, len);
  f->seq = d->seq++;
  if (late) {
    f->due = (gint64) (t + d->reorder_ms * 1e6);
    d->reordered++;
  } else {
    f->due = MAX ((gint64) t, d->last_due);
    d->last_due = f->due;
  }
  heap_push (d, f);
}

/* Writes the frames due by @now, at most BURST; returns the next due time
 * (one not after @now when more are due) or -1. */
static gint64
direction_flush (Direction *d, gint64 now)
{
  for (int k = 0; k < BURST && d->n > 0 && d->heap[0]->due <= now; k++) {
    Frame *f = heap_pop (d);
    ssize_t w = write (d->out_fd, f->data, f->len);
    if (w == (ssize_t) f->len) {
      d->forwarded++;
      d->bytes += f->len;
    } else {
      d->write_errors++;
    }
    g_free (f);
  }
  return d->n > 0 ? d->heap[0]->due : -1;
}

/* Frames the kernel dropped at the input TAP before netfwd read them (its
 * queue, txqueuelen frames, was full): the TAP's tx_dropped, -1 if unknown
 * (sysfs shows the devices of the namespace it was mounted in: ip netns
 * exec mounts the namespace's own). */
static gint64
tap_drops (const char *tap)
{
  g_autofree char *path = g_strdup_printf ("/sys/class/net/%s/statistics/tx_dropped", tap);
  g_autofree char *text = NULL;
  if (!g_file_get_contents (path, &text, NULL, NULL))
    return -1;
  return g_ascii_strtoll (text, NULL, 10);
}

static void
direction_print (Direction *d, const char *when)
{
  printf ("netfwd: %s %s received %" G_GUINT64_FORMAT " forwarded %" G_GUINT64_FORMAT
          " lost %" G_GUINT64_FORMAT " queue-full %" G_GUINT64_FORMAT
          " reordered %" G_GUINT64_FORMAT " write-errors %" G_GUINT64_FORMAT
          " queued %u max-queued %u bytes %" G_GUINT64_FORMAT " tap-drops %" G_GINT64_FORMAT "\n",
          when, d->name, d->received, d->forwarded, d->lost, d->queue_full, d->reordered,
          d->write_errors, d->n, d->max_queued, d->bytes, tap_drops (d->in_tap));
}

static int
tap_open (const char *name, GError **error)
{
  struct ifreq ifr;
  int fd;

  if (strlen (name) >= IFNAMSIZ) {
    g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_NAMETOOLONG, "TAP name too long: %s", name);
    return -1;
  }
  fd = open ("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (errno),
                 "/dev/net/tun: %s", g_strerror (errno));
    return -1;
  }
  memset (&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
  strcpy (ifr.ifr_name, name);
  if (ioctl (fd, TUNSETIFF, &ifr) < 0) {
    g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (errno),
                 "TUNSETIFF %s: %s", name, g_strerror (errno));
    close (fd);
    return -1;
  }
  return fd;
}

/* "A" or "A/B": the value of direction @dir (0: tap0->tap1). */
static gboolean
parse_pair (const char *opt, const char *s, double lo, double hi, double out[2], GError **error)
{
  g_auto (GStrv) parts = g_strsplit (s, "/", 3);
  guint n = g_strv_length (parts);
  if (n < 1 || n > 2)
    goto bad;
  for (guint i = 0; i < 2; i++) {
    const char *p = parts[MIN (i, n - 1)];
    char *end = NULL;
    double v = g_ascii_strtod (p, &end);
    if (end == p || *end != '\0' || !isfinite (v) || v < lo || v > hi)
      goto bad;
    out[i] = v;
  }
  return TRUE;
bad:
  g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
               "--%s: '%s' is not a number in [%g, %g] or a pair A/B of them", opt, s, lo, hi);
  return FALSE;
}

int
main (int argc, char **argv)
{
  g_autofree char *tap0 = NULL, *tap1 = NULL, *jitter_dist = NULL;
  g_autofree char *s_delay = NULL, *s_jitter = NULL, *s_loss = NULL, *s_reorder = NULL;
  g_autofree char *s_reorder_ms = NULL, *s_rate = NULL, *s_burst = NULL, *s_rqueue = NULL;
  gint64 seed = 1;
  int limit = 10000;
  GOptionEntry entries[] = {
    { "tap0", 0, 0, G_OPTION_ARG_STRING, &tap0, "first TAP device (required)", "NAME" },
    { "tap1", 0, 0, G_OPTION_ARG_STRING, &tap1, "second TAP device (required)", "NAME" },
    { "delay-ms", 0, 0, G_OPTION_ARG_STRING, &s_delay, "fixed delay (default 0)", "MS[/MS]" },
    { "jitter-ms", 0, 0, G_OPTION_ARG_STRING, &s_jitter,
      "jitter: uniform +-MS, or sigma of a normal (default 0)", "MS[/MS]" },
    { "jitter-dist", 0, 0, G_OPTION_ARG_STRING, &jitter_dist,
      "uniform (default) or normal", "DIST" },
    { "loss", 0, 0, G_OPTION_ARG_STRING, &s_loss, "fraction of frames lost (default 0)", "P[/P]" },
    { "reorder", 0, 0, G_OPTION_ARG_STRING, &s_reorder,
      "fraction of frames held back --reorder-ms more (default 0)", "P[/P]" },
    { "reorder-ms", 0, 0, G_OPTION_ARG_STRING, &s_reorder_ms,
      "extra delay of a reordered frame (default 10)", "MS[/MS]" },
    { "rate-kbit", 0, 0, G_OPTION_ARG_STRING, &s_rate,
      "rate limit, token bucket (default 0: none)", "KBIT[/KBIT]" },
    { "burst-kb", 0, 0, G_OPTION_ARG_STRING, &s_burst,
      "token bucket depth, KiB (default 16)", "KB[/KB]" },
    { "rate-queue-kb", 0, 0, G_OPTION_ARG_STRING, &s_rqueue,
      "backlog waiting for tokens before frames are dropped, KiB (default 64)", "KB[/KB]" },
    { "limit", 0, 0, G_OPTION_ARG_INT, &limit,
      "frames held per direction before frames are dropped (default 10000)", "N" },
    { "seed", 0, 0, G_OPTION_ARG_INT64, &seed, "PRNG seed (default 1)", "N" },
    { NULL }
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new ("- forward frames between two TAP devices "
                                                         "with delay, jitter, loss, reordering, rate");
  g_autoptr (GError) error = NULL;
  double delay[2] = { 0, 0 }, jitter[2] = { 0, 0 }, loss[2] = { 0, 0 }, reorder[2] = { 0, 0 };
  double reorder_ms[2] = { 10, 10 }, rate[2] = { 0, 0 }, burst[2] = { 16, 16 }, rqueue[2] = { 64, 64 };
  Direction dir[2];
  int fd[2];
  struct sigaction sa;
  sigset_t block, orig;
  guint8 *buf;

  setvbuf (stdout, NULL, _IOLBF, 0);
  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, &error))
    goto usage;
  if (!tap0 || !tap1 || g_str_equal (tap0, tap1)) {
    g_set_error (&error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, "--tap0 and --tap1: two different TAP devices are needed");
    goto usage;
  }
  if ((s_delay && !parse_pair ("delay-ms", s_delay, 0, 600000, delay, &error)) ||
      (s_jitter && !parse_pair ("jitter-ms", s_jitter, 0, 600000, jitter, &error)) ||
      (s_loss && !parse_pair ("loss", s_loss, 0, 1, loss, &error)) ||
      (s_reorder && !parse_pair ("reorder", s_reorder, 0, 1, reorder, &error)) ||
      (s_reorder_ms && !parse_pair ("reorder-ms", s_reorder_ms, 0, 600000, reorder_ms, &error)) ||
      (s_rate && !parse_pair ("rate-kbit", s_rate, 0, 1e8, rate, &error)) ||
      (s_burst && !parse_pair ("burst-kb", s_burst, 1, 1e6, burst, &error)) ||
      (s_rqueue && !parse_pair ("rate-queue-kb", s_rqueue, 1, 1e6, rqueue, &error)))
    goto usage;
  if (limit < 1 || limit > 1000000) {
    g_set_error (&error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, "--limit: 1..1000000");
    goto usage;
  }
  if (jitter_dist && !g_str_equal (jitter_dist, "uniform") && !g_str_equal (jitter_dist, "normal")) {
    g_set_error (&error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, "--jitter-dist: uniform or normal");
    goto usage;
  }
  jitter_normal = jitter_dist && g_str_equal (jitter_dist, "normal");

  /* the signals are blocked except inside ppoll(): no wakeup is missed */
  memset (&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset (&sa.sa_mask);
  sigaction (SIGTERM, &sa, NULL);
  sigaction (SIGINT, &sa, NULL);
  sigaction (SIGUSR1, &sa, NULL);
  signal (SIGPIPE, SIG_IGN);
  sigemptyset (&block);
  sigaddset (&block, SIGTERM);
  sigaddset (&block, SIGINT);
  sigaddset (&block, SIGUSR1);
  sigprocmask (SIG_BLOCK, &block, &orig);
  /* wake up close to the due time (the default slack is 50 us) */
  prctl (PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);

  fd[0] = tap_open (tap0, &error);
  if (fd[0] < 0)
    goto fail;
  fd[1] = tap_open (tap1, &error);
  if (fd[1] < 0)
    goto fail;

  for (int i = 0; i < 2; i++) {
    Direction *d = &dir[i];
    guint32 s[2] = { (guint32) seed, (guint32) i };
    memset (d, 0, sizeof *d);
    d->delay_ms = delay[i];
    d->jitter_ms = jitter[i];
    d->loss = loss[i];
    d->reorder = reorder[i];
    d->reorder_ms = reorder_ms[i];
    d->rate_kbit = rate[i];
    d->burst_kb = burst[i];
    d->rate_queue_kb = rqueue[i];
    d->limit = (guint) limit;
    d->rand = g_rand_new_with_seed_array (s, 2);
    d->heap = g_new (Frame *, d->limit);
    d->in_fd = fd[i];
    d->out_fd = fd[1 - i];
    d->name = i == 0 ? "0>1" : "1>0";
    d->in_tap = i == 0 ? tap0 : tap1;
  }
  buf = g_malloc (FRAME_MAX);
  printf ("netfwd: ready %s<->%s delay %g/%g ms jitter %g/%g ms (%s) loss %g/%g reorder %g/%g "
          "(+%g/%g ms) rate %g/%g kbit seed %" G_GINT64_FORMAT "\n",
          tap0, tap1, delay[0], delay[1], jitter[0], jitter[1], jitter_normal ? "normal" : "uniform",
          loss[0], loss[1], reorder[0], reorder[1], reorder_ms[0], reorder_ms[1], rate[0], rate[1], seed);

  while (!stop_signal) {
    struct pollfd pfd[2] = { { fd[0], POLLIN, 0 }, { fd[1], POLLIN, 0 } };
    gint64 now = now_ns (), next = -1;
    struct timespec ts, *tsp = NULL;
    int r;

    for (int i = 0; i < 2; i++) {
      gint64 due = direction_flush (&dir[i], now);
      if (due >= 0 && (next < 0 || due < next))
        next = due;
    }
    if (next >= 0) {
      gint64 wait = MAX (next - now, 0);
      ts.tv_sec = wait / 1000000000;
      ts.tv_nsec = wait % 1000000000;
      tsp = &ts;
    }
    r = ppoll (pfd, 2, tsp, &orig);
    if (dump_signal) {
      dump_signal = 0;
      direction_print (&dir[0], "counters");
      direction_print (&dir[1], "counters");
    }
    if (r < 0) {
      if (errno == EINTR)
        continue;
      g_set_error (&error, G_FILE_ERROR, g_file_error_from_errno (errno), "poll: %s", g_strerror (errno));
      goto fail;
    }
    for (int i = 0; i < 2; i++) {
      if (pfd[i].revents & (POLLERR | POLLHUP | POLLNVAL)) {
        g_set_error (&error, G_FILE_ERROR, G_FILE_ERROR_IO, "TAP %s: error or hang-up", i ? tap1 : tap0);
        goto fail;
      }
      if (!(pfd[i].revents & POLLIN))
        continue;
      now = now_ns ();
      for (int k = 0; k < BURST; k++) {
        ssize_t n = read (fd[i], buf, FRAME_MAX);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
          break;
        if (n < 0) {
          g_set_error (&error, G_FILE_ERROR, g_file_error_from_errno (errno),
                       "read %s: %s", i ? tap1 : tap0, g_strerror (errno));
          goto fail;
        }
        if (n == 0)
          break;
        direction_take (&dir[i], buf, (gsize) n, now);
      }
    }
  }
  printf ("netfwd: stopped by signal %d\n", (int) stop_signal);
  for (int i = 0; i < 2; i++)
    direction_print (&dir[i], "total");
  return 0;

usage:
  fprintf (stderr, "netfwd: %s\n", error->message);
  return 2;
fail:
  fprintf (stderr, "netfwd: %s\n", error->message);
  return 1;
}
