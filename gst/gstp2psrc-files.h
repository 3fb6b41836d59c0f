/* gstp2psrc-files.h: p2psrc's random-access mode (issue 13): with a
 * "location" (or a p2p://PEER/path URI) p2psrc reads one file of a peer's
 * P2pFileService by byte ranges. Pull mode (GstPad getrange): typefind,
 * demuxers and parsers seek by bytes themselves; a window of requests runs
 * ahead of the last read and is dropped on a jump elsewhere. Push mode (a
 * downstream that does not pull, or pull-mode=false): a streaming task that
 * pushes the bytes as they arrive, BYTES seeks.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gst/gst.h>
#include "gstp2pobject.h"

G_BEGIN_DECLS

typedef struct _GstP2pFileReader GstP2pFileReader;

/* @path: the protocol path (percent-decoded). */
GstP2pFileReader *gst_p2p_file_reader_new (GstElement *element, GstP2pObject *obj,
    const char *path);
/* The element holds one reference while its pad is active; queries and
 * events take their own, so a deactivation never frees it under them. */
GstP2pFileReader *gst_p2p_file_reader_ref (GstP2pFileReader *self);
void gst_p2p_file_reader_unref (GstP2pFileReader *self);
/* Wakes and fails every blocking call, for good (pad deactivation). */
void gst_p2p_file_reader_cancel (GstP2pFileReader *self);
/* A flush: wakes a blocking read or request (it returns FLUSHING); after
 * resume() the reader works again (unless cancelled). */
void gst_p2p_file_reader_interrupt (GstP2pFileReader *self);
void gst_p2p_file_reader_resume (GstP2pFileReader *self);
/* An EOS sent by the application (as GstBaseSrc takes one): wakes a
 * blocking read; reads then end (get_range returns EOS, the push task
 * pushes an EOS with @seqnum) until the next resume() (a flush or seek). */
void gst_p2p_file_reader_end (GstP2pFileReader *self, guint32 seqnum);
/* TRUE (and the EOS's seqnum) after end(), until resume(). */
gboolean gst_p2p_file_reader_ended (GstP2pFileReader *self, guint32 *seqnum);
/* TRUE once cancel() was called (the pad is going down). */
gboolean gst_p2p_file_reader_is_stopped (GstP2pFileReader *self);
/* The file's size (connects and asks on first use); FALSE after posting an
 * element error naming the path and the peer. */
gboolean gst_p2p_file_reader_get_size (GstP2pFileReader *self, guint64 *size);
/* GstPadGetRangeFunction body. */
GstFlowReturn gst_p2p_file_reader_get_range (GstP2pFileReader *self, guint64 offset,
    guint length, GstBuffer **buffer);

/* Up to @max bytes at @offset, as many as have arrived (at least a few
 * KiB): the push mode's read, which hands on the first round trip's bytes
 * before its block is whole. */
GstFlowReturn gst_p2p_file_reader_read (GstP2pFileReader *self, guint64 offset, guint max,
    GstBuffer **buffer);

/* Push mode (gstp2psrc-files-push.c): a streaming task on @pad pushes the
 * file of @reader (stream-start, a BYTES segment, buffers from offset 0,
 * EOS); NULL if the task could not start. It holds a reference on
 * @reader; the element drops its own after the task stopped. */
typedef struct _GstP2pFilePush GstP2pFilePush;
GstP2pFilePush *gst_p2p_file_push_start (GstP2pFileReader *reader, GstElement *element,
    GstPad *pad);
GstP2pFilePush *gst_p2p_file_push_ref (GstP2pFilePush *self);
void gst_p2p_file_push_unref (GstP2pFilePush *self);
/* A BYTES seek in push mode (flushing or not); FALSE for other seeks. */
gboolean gst_p2p_file_push_seek (GstP2pFilePush *self, GstEvent *event);
/* A FLUSH_STOP (after a FLUSH_START paused the task), from downstream or,
 * @forward, sent to the element (then pushed downstream first): the task
 * goes on from where it was, with a new segment, as GstBaseSrc's does. */
gboolean gst_p2p_file_push_flush_stop (GstP2pFilePush *self, GstEvent *event,
    gboolean forward);

G_END_DECLS
