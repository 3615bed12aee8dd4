/*
 * rend_proto.h - the text and binary protocols: parse one request from a
 * connection's input, and format a complete request's reply into its
 * output.
 *
 * Parsers look at c->rbuf[c->rpos .. c->rlen).  They return the number of
 * bytes consumed (> 0) with *out set to the new request (or NULL when the
 * bytes produced nothing to answer), 0 when more input is needed, or -1
 * when the stream cannot be framed any more: *out may then hold a final
 * error reply, after which the connection is closed.
 */
#ifndef REND_PROTO_H
#define REND_PROTO_H

#include "rend_req.h"

struct rend_conn;

int rend_text_parse(struct rend_conn *c, struct rend_req **out);
void rend_text_format(struct rend_conn *c, struct rend_req *r);
/* Format key op k of a text retrieval that is still running (it is at the
 * head of c's queue; rend_flow streams its finished leading keys in
 * order); rend_text_format then writes the rest and END. */
void rend_text_format_kop(struct rend_conn *c, struct rend_req *r,
                          struct rend_kop *k);

int rend_bin_parse(struct rend_conn *c, struct rend_req **out);
void rend_bin_format(struct rend_conn *c, struct rend_req *r);
/* The same as rend_text_format_kop for a folded binary get
 * (rend_req.bin_fold): key op k's reply, as its own packet asked. */
void rend_bin_format_kop(struct rend_conn *c, struct rend_req *r,
                         struct rend_kop *k);

/* Stats for `stats [group]`: emit(ud, name, value) per line.  Returns 0,
 * or -1 for an unknown group. */
typedef rend_stat_emit_f rend_stats_emit_f; /* the ABI's emitter */
int rend_stats_collect(const char *group, size_t ngroup,
                       rend_stats_emit_f *emit, void *ud);

#endif /* REND_PROTO_H */
