/*
 * it_diff.c - differential conformance: the same request bytes go to a
 * real memcached 1.6 and to rend (conf/inmem.lua); the replies must be
 * byte-identical after the allow-list below.  Every mismatch is printed
 * with both replies.
 *
 * Allow-list (each item is a documented, deliberate divergence):
 *   - version text (text VERSION line, binary version body): rend answers
 *     its own major.minor.patch (PACKAGE_VERSION), memcached its own;
 *   - stats names and values (a run of STAT lines / stat packets is
 *     compared as one "STAT *" element);
 *   - cas values: each distinct cas becomes "#<first-seen index>", so
 *     only the equality pattern is compared;
 *   - the Rend "noop" command ("Yep, it works."; memcached: ERROR);
 *   - steps flagged with an `allow` reason (printed when they differ).
 * Steps flagged `bug` are known server bugs: their difference is printed
 * as KNOWN BUG and does not fail the test; if one starts to match, the
 * test fails so the flag gets removed.
 */
#include "config.h"

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rend_check.h"
#include "diff_util.h"
#include "rend_server.h"

#define EXT(lit) .ext = lit, .extlen = (uint8_t)(sizeof(lit) - 1)
#define VAL(lit) .val = lit, .vlen = (uint32_t)(sizeof(lit) - 1)
#define EX8(f, e) EXT(f e)
#define Z4 "\x00\x00\x00\x00"

#define ALLOW_FLAGS "memcached 1.6.18 accepts flags >= 2^32; rend rejects " \
                    "them as Rend does, then reads the data line as a command"
#define ALLOW_MC_FRAMING "memcached 1.6.18 answers Unknown command and " \
                         "does not skip the request body"
#define ALLOW_EINVAL_OPEN "memcached closes the connection after a binary " \
                          "Invalid arguments reply; rend keeps it open " \
                          "(the request was fully framed)"
#define ALLOW_LINE_CLOSE "memcached closes a 2 KB line without newline " \
                         "silently; rend answers CLIENT_ERROR line too long " \
                         "first, then closes (issue 9 section 4)"

/* ---- the text table ---------------------------------------------------
 * $CAS = the last cas this connection saw; $K<n> = n 'k's; $V<n> = n 'v's;
 * a NULL req with sleep_ms sleeps. */
static const struct dstep text_steps[] = {
    { .name = "flush", .req = "flush_all\r\n" },
    /* storage and retrieval */
    { .name = "set", .req = "set a 5 0 3\r\nabc\r\n" },
    { .name = "get hit", .req = "get a\r\n" },
    { .name = "get miss", .req = "get nokey\r\n" },
    { .name = "multiget dup+miss", .req = "get a nokey a other\r\n" },
    { .name = "gets", .req = "gets a\r\n" },
    { .name = "set empty", .req = "set empty 0 0 0\r\n\r\n" },
    { .name = "get empty", .req = "get empty\r\n" },
    { .name = "set flags max", .req = "set fl 4294967295 0 1\r\nf\r\n" },
    { .name = "get flags max", .req = "get fl\r\n" },
    { .name = "set flags overflow", .req = "set fl 4294967296 0 1\r\nf\r\n",
      .allow = ALLOW_FLAGS },
    { .name = "set binary value", .req = "set bin 0 0 4\r\n\r\n\0\x01\r\n",
      .len = sizeof("set bin 0 0 4\r\n\r\n\0\x01\r\n") - 1 },
    { .name = "get binary value", .req = "get bin\r\n" },
    { .name = "add live", .req = "add a 0 0 1\r\nx\r\n" },
    { .name = "add new", .req = "add b 0 0 1\r\nx\r\n" },
    { .name = "replace miss", .req = "replace c 0 0 1\r\nx\r\n" },
    { .name = "replace hit", .req = "replace b 7 0 2\r\nyy\r\n" },
    { .name = "append", .req = "append b 0 0 2\r\nzz\r\n" },
    { .name = "prepend", .req = "prepend b 0 0 2\r\nww\r\n" },
    { .name = "get after append", .req = "get b\r\n" },
    { .name = "append miss", .req = "append nokey 0 0 1\r\nx\r\n" },
    { .name = "prepend miss", .req = "prepend nokey 0 0 1\r\nx\r\n" },
    { .name = "multiget 2 hits", .req = "get a b\r\n" },
    { .name = "gets 2 keys", .req = "gets a b\r\n" },
    { .name = "delete hit", .req = "delete b\r\n" },
    { .name = "delete miss", .req = "delete b\r\n" },
    { .name = "delete 0", .req = "delete a 0\r\n" },
    { .name = "delete bad hold", .req = "delete a 1\r\n" },
    { .name = "delete no key", .req = "delete\r\n" },
    /* cas */
    { .name = "cas: set", .req = "set c1 0 0 1\r\na\r\n" },
    { .name = "cas: gets", .req = "gets c1\r\n" },
    { .name = "cas ok", .req = "cas c1 3 0 1 $CAS\r\nb\r\n" },
    { .name = "cas stale", .req = "cas c1 0 0 1 $CAS\r\nc\r\n" },
    { .name = "cas: gets again", .req = "gets c1\r\n" },
    { .name = "cas miss", .req = "cas nokey 0 0 1 1\r\nx\r\n" },
    { .name = "cas bad value", .req = "cas c1 0 0 1 abc\r\nx\r\n" },
    { .name = "cas missing arg", .req = "cas c1 0 0 1\r\n" },
    { .name = "cas noreply", .req = "cas c1 0 0 1 $CAS noreply\r\nd\r\n" },
    { .name = "cas: get", .req = "gets c1\r\n" },
    { .name = "gets changes after touch?",
      .req = "touch c1 0\r\ngets c1\r\n" },
    /* noreply */
    { .name = "set noreply", .req = "set n1 0 0 1 noreply\r\n1\r\n" },
    { .name = "add noreply", .req = "add n1 0 0 1 noreply\r\n2\r\n" },
    { .name = "replace noreply", .req = "replace n1 0 0 1 noreply\r\n3\r\n" },
    { .name = "append noreply", .req = "append n1 0 0 1 noreply\r\n4\r\n" },
    { .name = "prepend noreply", .req = "prepend n1 0 0 1 noreply\r\n5\r\n" },
    { .name = "get after noreply", .req = "get n1\r\n" },
    { .name = "incr noreply", .req = "incr n1 10 noreply\r\n" },
    { .name = "decr noreply", .req = "decr n1 1 noreply\r\n" },
    { .name = "touch noreply", .req = "touch n1 100 noreply\r\n" },
    { .name = "get after incr noreply", .req = "get n1\r\n" },
    { .name = "delete noreply", .req = "delete n1 noreply\r\n" },
    { .name = "delete miss noreply", .req = "delete n1 noreply\r\n" },
    { .name = "get after delete noreply", .req = "get n1\r\n" },
    { .name = "incr miss noreply", .req = "incr n1 1 noreply\r\n" },
    { .name = "add noreply pipelined",
      .req = "add p1 0 0 1 noreply\r\na\r\nadd p1 0 0 1 "
      "noreply\r\nb\r\nget p1\r\n" },
    /* incr / decr */
    { .name = "incr: set", .req = "set c 0 0 2\r\n10\r\n" },
    { .name = "incr", .req = "incr c 5\r\n" },
    { .name = "decr below 0", .req = "decr c 100\r\n" },
    { .name = "incr max", .req = "incr c 18446744073709551615\r\n" },
    { .name = "incr wrap", .req = "incr c 1\r\n" },
    { .name = "incr: set max",
      .req = "set c 0 0 20\r\n18446744073709551615\r\n" },
    { .name = "incr wrap 2", .req = "incr c 2\r\n" },
    { .name = "get after wrap", .req = "get c\r\n" },
    { .name = "incr miss", .req = "incr nokey 1\r\n" },
    { .name = "decr miss", .req = "decr nokey 1\r\n" },
    { .name = "incr: set text", .req = "set t 0 0 3\r\nabc\r\n" },
    { .name = "incr non-numeric", .req = "incr t 1\r\n" },
    { .name = "decr non-numeric", .req = "decr t 1\r\n" },
    { .name = "incr: set 21 digits",
      .req = "set big 0 0 21\r\n000000000000000000001\r\n" },
    { .name = "incr 21 digits", .req = "incr big 1\r\n" },
    { .name = "incr: set leading space", .req = "set sp 0 0 3\r\n 12\r\n" },
    { .name = "incr leading space", .req = "incr sp 1\r\n" },
    { .name = "incr bad delta", .req = "incr c abc\r\n" },
    { .name = "incr negative delta", .req = "incr c -1\r\n" },
    { .name = "decr delta 2^64", .req = "decr c 18446744073709551616\r\n" },
    { .name = "incr no delta", .req = "incr c\r\n" },
    { .name = "decr: set", .req = "set d 0 0 3\r\n100\r\n" },
    { .name = "decr shorter", .req = "decr d 1\r\n" },
    { .name = "get after decr", .req = "get d\r\n" },
    { .name = "incr back", .req = "incr d 1\r\n" },
    { .name = "get after incr", .req = "get d\r\n" },
    { .name = "incr keeps flags",
      .req = "set fi 9 0 1\r\n1\r\nincr fi 1\r\nget fi\r\n" },
    /* touch / gat / gats */
    { .name = "touch hit", .req = "touch a 100\r\n" },
    { .name = "touch miss", .req = "touch nokey 100\r\n" },
    { .name = "touch bad exptime", .req = "touch a abc\r\n" },
    { .name = "touch no exptime", .req = "touch a\r\n" },
    { .name = "gat hit", .req = "gat 100 a\r\n" },
    { .name = "gat multi", .req = "gat 100 a nokey c1\r\n" },
    { .name = "gats", .req = "gats 100 a c1\r\n" },
    { .name = "gat no key", .req = "gat 100\r\n" },
    { .name = "gat nothing", .req = "gat\r\n" },
    { .name = "gat bad exptime", .req = "gat abc a\r\n" },
    /* keys */
    { .name = "key 250 set", .req = "set $K250 0 0 1\r\nx\r\n" },
    { .name = "key 250 get", .req = "get $K250\r\n" },
    { .name = "key 251 get", .req = "get $K251\r\n" },
    { .name = "key 251 delete", .req = "delete $K251\r\n" },
    { .name = "key 251 incr", .req = "incr $K251 1\r\n" },
    { .name = "key 251 touch", .req = "touch $K251 1\r\n" },
    { .name = "key 250 multiget", .req = "get a $K250 b\r\n" },
    /* bad input that keeps both in step */
    { .name = "bad data chunk", .req = "set a 0 0 2\r\nabcd\r\n" },
    { .name = "get after bad chunk", .req = "get a\r\n" },
    { .name = "too few tokens", .req = "set a 0 0\r\n" },
    { .name = "too many tokens", .req = "set a 0 0 1 noreply extra\r\n" },
    { .name = "bad flags", .req = "set a x 0 1\r\n" },
    { .name = "bad exptime", .req = "set a 0 x 1\r\n" },
    { .name = "bad length", .req = "set a 0 0 x\r\n" },
    { .name = "negative length", .req = "set a 0 0 -1\r\n" },
    { .name = "too large", .req = "set tb 0 0 1100000\r\n$V1100000\r\n" },
    { .name = "too large noreply",
      .req = "set tb 0 0 1100000 noreply\r\n$V1100000\r\n" },
    { .name = "get after too large", .req = "get tb a\r\n" },
    { .name = "get no key", .req = "get\r\n" },
    /* memcached's token counts: a word it does not expect is ignored
     * where it reads a fixed position, an error elsewhere */
    { .name = "delete extra words", .req = "delete a b c\r\ndelete a 0 x\r\n"
      "delete a b noreply\r\ndelete a 0 noreply x\r\n" },
    { .name = "incr extra word", .req = "set n9 0 0 1\r\n5\r\n"
      "incr n9 1 extra\r\ndecr n9 1 noreply\r\nget n9\r\n" },
    { .name = "touch extra word", .req = "touch n9 100 extra\r\n"
      "touch n9 abc x\r\ntouch n9 1 2 3\r\n" },
    { .name = "set extra word", .req = "set s9 0 0 1 extra\r\nx\r\nget s9\r\n" },
    { .name = "flush_all words", .req = "flush_all 0 extra\r\n"
      "flush_all 0 1 2\r\n" },
    { .name = "gets no key", .req = "gets\r\n" },
    { .name = "uppercase", .req = "GET a\r\n" },
    { .name = "empty line", .req = "\r\n" },
    { .name = "bare newline", .req = "get a\n" },
    { .name = "unknown", .req = "bogus\r\n" },
    { .name = "unknown args", .req = "bogus a b c\r\n" },
    { .name = "tab separator", .req = "get\ta\r\n" },
    { .name = "double space", .req = "get  a\r\n" },
    { .name = "trailing space", .req = "get a \r\n" },
    /* misc commands */
    { .name = "version", .req = "version\r\n" },
    { .name = "version args", .req = "version x y\r\n" },
    { .name = "noop", .req = "noop\r\n" },
    { .name = "verbosity", .req = "verbosity 1\r\n" },
    { .name = "verbosity noreply", .req = "verbosity 1 noreply\r\n" },
    { .name = "verbosity none", .req = "verbosity\r\n" },
    { .name = "verbosity junk", .req = "verbosity abc\r\n" },
    { .name = "stats", .req = "stats\r\n", .stats = 1 },
    { .name = "stats settings", .req = "stats settings\r\n", .stats = 1 },
    { .name = "stats items", .req = "set si 0 0 1\r\nx\r\nstats items\r\n",
      .stats = 1 },
    { .name = "stats slabs", .req = "stats slabs\r\n", .stats = 1 },
    { .name = "stats bogus", .req = "stats bogus\r\n" },
    { .name = "stats reset", .req = "stats reset\r\n" },
    { .name = "verbosity two args", .req = "verbosity 1 2\r\n" },
    { .name = "verbosity three args", .req = "verbosity 1 2 3\r\n" },
    { .name = "verbosity noreply only", .req = "verbosity noreply\r\n" },
    { .name = "stats sizes", .req = "stats sizes\r\n", .stats = 1 },
    { .name = "stats detail",
      .req = "stats detail on\r\nstats detail dump\r\nstats detail off\r\n"
             "stats detail\r\nstats detail foo\r\n" },
    { .name = "stats cachedump usage",
      .req = "stats cachedump\r\nstats cachedump 1\r\n"
             "stats cachedump 99 0\r\nstats cachedump 5 0\r\n" },
    { .name = "stats extstore", .req = "stats extstore\r\n" },
    { .name = "stats sizes_disable", .req = "stats sizes_disable\r\n" },
    { .name = "shutdown", .req = "shutdown\r\nshutdown graceful\r\n" },
    { .name = "cache_memlimit errors",
      .req = "cache_memlimit\r\ncache_memlimit abc\r\ncache_memlimit 1\r\n"
             "cache_memlimit 1 2 3\r\n" },
    { .name = "cache_memlimit", .req = "cache_memlimit 64\r\n" },
    { .name = "cache_memlimit noreply",
      .req = "cache_memlimit 64 noreply\r\ncache_memlimit abc noreply\r\n" },
    { .name = "long get line",
      .req = "get $K200 $K201 $K202 $K203 $K204 $K205 $K206 $K207 $K208 $K209 "
             "$K210 $K211\r\n" },
    { .name = "long line without newline", .req = "set $K2100", .close = 1,
      .allow = ALLOW_LINE_CLOSE },
    /* expiry */
    { .name = "exp: set 1s", .req = "set e1 0 1 1\r\nx\r\n" },
    { .name = "exp: set 100s", .req = "set e2 0 100 1\r\nx\r\n" },
    { .name = "exp: touch to 1s", .req = "touch e2 1\r\n" },
    { .name = "exp: set 1s again", .req = "set e3 0 1 1\r\nx\r\n" },
    { .name = "exp: gat extends", .req = "gat 100 e3\r\n" },
    { .name = "exp: set negative", .req = "set e4 0 -1 1\r\nx\r\n" },
    { .name = "exp: get negative", .req = "get e4\r\n" },
    { .name = "exp: set absolute past",
      .req = "set e5 0 1000000000 1\r\nx\r\n" },
    { .name = "exp: get absolute past", .req = "get e5\r\n" },
    { .name = "exp: set 0", .req = "set e6 0 0 1\r\nx\r\n" },
    { .name = "exp: get before", .req = "get e1 e2 e3 e6\r\n" },
    { .name = "exp: sleep", .req = NULL, .sleep_ms = 2200 },
    { .name = "exp: get after", .req = "get e1 e2 e3 e6\r\n" },
    { .name = "exp: add over expired", .req = "add e1 0 0 1\r\ny\r\n" },
    { .name = "exp: incr expired", .req = "incr e2 1\r\n" },
    { .name = "exp: touch expired", .req = "touch e2 10\r\n" },
    /* flush_all with a delay */
    { .name = "flush: set", .req = "set f1 0 0 1\r\nx\r\n" },
    { .name = "flush: delay 3", .req = "flush_all 3\r\n" },
    { .name = "flush: get before", .req = "get f1\r\n" },
    { .name = "flush: sleep", .req = NULL, .sleep_ms = 3300 },
    { .name = "flush: get after", .req = "get f1 a\r\n" },
    { .name = "flush: set after", .req = "set f2 0 0 1\r\nx\r\n" },
    { .name = "flush: get new", .req = "get f2\r\n" },
    { .name = "flush negative", .req = "flush_all -1\r\n" },
    { .name = "flush junk", .req = "flush_all abc\r\n" },
    { .name = "flush noreply", .req = "flush_all noreply\r\n" },
    { .name = "flush: get after noreply", .req = "get f2\r\n" },
    { .name = "flush 0", .req = "flush_all 0\r\n" },
    /* pipelined mix in one write */
    { .name = "pipeline",
      .req = "set x 0 0 1\r\n1\r\nget x\r\nincr x 2\r\ndelete x\r\n"
      "get x\r\nbogus\r\nadd x 0 0 1\r\n2\r\ngets x y\r\n" },
    { .name = "quit", .req = "quit\r\n", .close = 1 },
    { .name = "after quit: get", .req = "get x\r\n" },
    { .name = "quit with args", .req = "quit now\r\n", .close = 1 },
};

/* ---- the meta table ---------------------------------------------------
 * Run against rend on inmem (L1-only) and on the default L1/L2 config
 * (inmem + lmdb), so the meta commands are checked through both
 * orchestrations byte for byte. */
static const struct dstep meta_steps[] = {
    { .name = "flush", .req = "flush_all\r\n" },
    /* meta commands (memcached 1.6): mn mg ms md ma me and their flags */
    { .name = "mn", .req = "mn\r\n" },
    { .name = "mn args", .req = "mn x y\r\n" },
    { .name = "ms + mg v f t s", .req = "ms mk1 3 T90 F5\r\nabc\r\n"
      "mg mk1 v f t s\r\n" },
    { .name = "mg first fetch l h", .req = "ms mk2 2\r\nhi\r\nmg mk2 l h\r\n" },
    { .name = "mg no flags", .req = "mg mk1\r\n" },
    { .name = "mg k O order", .req = "mg mk1 O77 s k v\r\n" },
    { .name = "mg c (gets)", .req = "mg mk1 c\r\n" },
    { .name = "mg miss", .req = "mg mnokey v\r\n" },
    { .name = "mg miss k O", .req = "mg mnokey s v k O9 f t c\r\n" },
    { .name = "mg miss q", .req = "mg mnokey v q\r\nmn\r\n" },
    { .name = "mg hit q", .req = "mg mk1 v q\r\nmg mk1 q\r\nmn\r\n" },
    { .name = "mg T (gat)", .req = "mg mk1 T50 t v\r\nmg mk1 t\r\n" },
    { .name = "mg T0", .req = "mg mk1 T0 t\r\n" },
    { .name = "mg T c (gats)", .req = "mg mk1 T60 c t\r\n" },
    { .name = "mg u", .req = "mg mk1 u s\r\n" },
    { .name = "mg E (1.6.18: invalid)", .req = "mg mk1 E5 c v\r\n" },
    { .name = "mg bad flag", .req = "mg mk1 y\r\n" },
    { .name = "mg dup flag", .req = "mg mk1 v v\r\n" },
    { .name = "mg bad T", .req = "mg mk1 Tx\r\n" },
    { .name = "mg bad N", .req = "mg mk1 Nx\r\n" },
    { .name = "mg bad R", .req = "mg mk1 Rx\r\n" },
    { .name = "mg no key", .req = "mg\r\n" },
    { .name = "mg key 251", .req = "mg $K251 v\r\n" },
    { .name = "mg N vivify", .req = "mg mviv1 N30 v t s\r\n" },
    { .name = "mg N vivify no v", .req = "mg mviv2 N30 s t f\r\n" },
    { .name = "mg N on hit", .req = "mg mk1 N30 s\r\n" },
    { .name = "mg N again (Z)", .req = "mg mviv1 N30 v\r\n",
      .allow = "rend keeps no win token: no Z on later fetches" },
    { .name = "mg R recache win", .req = "ms mrc 2 T100\r\nhi\r\n"
      "mg mrc R200 v t\r\n" },
    { .name = "mg R again (Z)", .req = "mg mrc R200 v\r\n",
      .allow = "rend keeps no win token: every fetch under R wins (W); "
      "memcached answers Z after the first" },
    { .name = "mg R above ttl", .req = "mg mrc R10 s\r\n",
      .allow = "rend keeps no win token: memcached answers Z once a "
      "token was sent" },
    { .name = "ms b + mg b k", .req = "ms bWtleQ== 2 b\r\nhi\r\n"
      "mg bWtleQ== b k v c\r\nmg mkey s\r\n" },
    { .name = "mg b bad base64", .req = "mg a@ b v\r\n" },
    { .name = "md b", .req = "md bWtleQ== b k q\r\nmg mkey s\r\n" },
    { .name = "md b bad base64", .req = "md a@ b\r\n" },
    { .name = "ma b bad base64", .req = "ma a@ b\r\n" },
    { .name = "ms b bad base64", .req = "ms a@ 2 b\r\nhi\r\nmn\r\n" },
    /* ms modes and flags */
    { .name = "ms MA miss", .req = "ms mm1 2 MA\r\nhi\r\n" },
    { .name = "ms MP miss", .req = "ms mm1 2 MP\r\nhi\r\n" },
    { .name = "ms MR miss", .req = "ms mm1 2 MR\r\nhi\r\n" },
    { .name = "ms ME new", .req = "ms mm1 2 ME F3\r\nhi\r\n" },
    { .name = "ms ME exists", .req = "ms mm1 2 ME\r\nho\r\n" },
    { .name = "ms MA MP", .req = "ms mm1 2 MA\r\nzz\r\nms mm1 2 MP\r\naa\r\n"
      "mg mm1 v f\r\n" },
    { .name = "ms MR F", .req = "ms mm1 2 MR F9\r\nxx\r\nmg mm1 v f\r\n" },
    { .name = "ms MS", .req = "ms mm1 2 MS\r\nyy\r\nmg mm1 v f\r\n" },
    { .name = "ms bad mode", .req = "ms mm1 2 MX\r\nyy\r\nms mm1 2 Ms\r\nyy\r\n"
      "mg mm1 v\r\n" },
    { .name = "ms c k O", .req = "ms mm2 2 k O9 c\r\nzz\r\n" },
    { .name = "ms ignores t s f", .req = "ms mm2 2 t T5 s f F2\r\nzz\r\n"
      "mg mm2 f t\r\n" },
    { .name = "ms q", .req = "ms mm2 2 q\r\nqq\r\nms mm2 2 q ME\r\nqq\r\n"
      "ms mnokey2 2 q MR\r\nqq\r\nmn\r\n" },
    { .name = "ms C: mg c", .req = "mg mm2 c\r\n" },
    { .name = "ms C ok", .req = "ms mm2 2 C$CAS c\r\nc1\r\n" },
    { .name = "ms C stale", .req = "ms mm2 2 C1\r\nc2\r\n" },
    { .name = "ms C miss", .req = "ms mnokey3 2 C1\r\nc3\r\n" },
    { .name = "ms C stale q", .req = "ms mm2 2 q C1\r\nc4\r\nmn\r\n" },
    { .name = "ms I", .req = "ms mm3 2 I\r\nhi\r\nmg mm3 v\r\n" },
    { .name = "ms I C stale", .req = "ms mm3 2 I C1\r\nzz\r\nmg mm3 v\r\n",
      .allow = "rend keeps no stale state: ms I with an old cas is EX; "
      "memcached stores the value as stale (HD, then X W)" },
    { .name = "ms E (1.6.18: invalid)", .req = "ms mm4 2 E999\r\nhi\r\n"
      "mg mm4 v\r\n" },
    { .name = "ms errors", .req = "ms\r\nms k\r\nms k x\r\nms k -1\r\n" },
    { .name = "ms bad F", .req = "ms mm5 2 Fx\r\nhi\r\nmn\r\n" },
    { .name = "ms bad T C", .req = "ms mm5 2 Tx\r\nhi\r\nms mm5 2 Cx\r\nhi\r\n"
      "mn\r\n" },
    { .name = "ms bad flag", .req = "ms mm5 2 Z\r\nhi\r\nmn\r\n" },
    { .name = "ms dup flag", .req = "ms mm5 2 F1 F2\r\nhi\r\nmn\r\n" },
    { .name = "ms bad chunk", .req = "ms mm5 2\r\nhiXX\r\n" },
    { .name = "ms key 251", .req = "ms $K251 2\r\nhi\r\n" },
    { .name = "ms too large", .req = "ms mm6 1100000\r\n$V1100000\r\nmn\r\n" },
    { .name = "ms empty", .req = "ms mm7 0\r\n\r\nmg mm7 v s\r\n" },
    /* md */
    { .name = "md hit miss", .req = "ms md1 2\r\nhi\r\nmd md1\r\nmd md1\r\n" },
    { .name = "md q", .req = "md md1 q\r\nms md1 2\r\nhi\r\nmd md1 q\r\n"
      "mn\r\n" },
    { .name = "md k O c t", .req = "md md1 k O4 c t\r\nms md1 2\r\nhi\r\n"
      "md md1 k O4\r\n" },
    { .name = "md C stale", .req = "ms md2 2\r\nhi\r\nmd md2 C1\r\n" },
    { .name = "md I T", .req = "ms md3 2 T100\r\nhi\r\nmd md3 I T30\r\n" },
    { .name = "md I: mg", .req = "mg md3 v t\r\n",
      .allow = "rend keeps no stale state: md I deletes; memcached "
      "keeps the item stale (X W)" },
    { .name = "md errors", .req = "md\r\nmd k Cx\r\nmd k Tx\r\nmd k Z\r\n"
      "md k E1\r\nmd k q q\r\nmd $K251\r\nmn\r\n" },
    /* ma */
    { .name = "ma miss", .req = "ma ma1\r\nma ma1 q\r\nma ma1 v k O1\r\nmn\r\n" },
    { .name = "ma N J create", .req = "ma ma1 N0 J5\r\nma ma1 v\r\n" },
    { .name = "ma N J v t create", .req = "ma ma2 N100 J9 v t\r\n" },
    { .name = "ma modes", .req = "ma ma1 v MD D3\r\nma ma1 v M- D10\r\n"
      "ma ma1 v M+ D7 t k O1\r\nma ma1 MI v\r\nma ma1 v MI D5\r\n" },
    { .name = "ma c", .req = "ma ma1 c\r\nmg ma1 c\r\n" },
    { .name = "ma q", .req = "ma ma1 q D2\r\nma ma1 v q\r\nmn\r\nmg ma1 v\r\n" },
    { .name = "ma T",
      .req = "ma ma1 T50 v t\r\nmg ma1 t\r\n" },
    { .name = "ma wrap", .req = "ms ma3 20\r\n18446744073709551615\r\n"
      "ma ma3 v\r\nma ma3 v MD D5\r\n" },
    { .name = "ma C stale", .req = "ms ma5 1\r\n5\r\nma ma5 C1 v\r\n" },
    { .name = "ma non-numeric", .req = "ms ma4 1\r\nx\r\nma ma4\r\n" },
    { .name = "ma errors", .req = "ma ma1 Mx\r\nma ma1 Dx\r\nma ma1 D\r\n"
      "ma ma1 Jx N0\r\nma ma1 Nx\r\nma ma1 Tx\r\nma ma1 Z\r\nma ma1 E5\r\n"
      "ma ma1 v v\r\nma\r\nma $K251\r\n" },
    /* me: no debug data */
    { .name = "opaque 31", .req = "mg mk1 O$K31 s\r\n" },
    { .name = "opaque too long", .req = "mg mk1 O$K32 s\r\n"
      "ms mk1 2 O$K32\r\nhi\r\nmd mk1 O$K32\r\nmg mk1 s\r\n" },
    { .name = "me miss", .req = "me mnokey\r\n" },
    { .name = "me no key", .req = "me\r\n" },
    /* pipelined quiet mode, ended by mn */
    { .name = "quiet pipeline", .req = "ms qp1 1 q\r\na\r\nms qp2 1 q\r\nb\r\n"
      "mg qp1 v q k\r\nmg qpmiss v q k\r\nmg qp2 v q k\r\nmd qp1 q\r\n"
      "md qpmiss q\r\nma qpmiss q\r\nms qp3 1 q ME\r\nc\r\nms qp3 1 q ME\r\n"
      "d\r\nmn\r\n" },
    { .name = "meta and text mixed", .req = "set mx 0 0 1\r\n1\r\n"
      "mg mx v\r\nincr mx 1\r\nma mx v\r\ngets mx\r\nmg mx c\r\nmn\r\n" },
};

/* ---- the binary table -------------------------------------------------
 * One request packet per step (see struct bstep); .cas: 0 = none, 1 = the
 * last cas seen, 2 = a wrong cas. */
#define INC(d, i, e) EXT(d i e)
#define U64_0 "\x00\x00\x00\x00\x00\x00\x00\x00"
#define U64_1 "\x00\x00\x00\x00\x00\x00\x00\x01"
#define U64_5 "\x00\x00\x00\x00\x00\x00\x00\x05"
#define U64_10 "\x00\x00\x00\x00\x00\x00\x00\x0a"
#define U64_MAX "\xff\xff\xff\xff\xff\xff\xff\xff"
#define EXP_NOCREATE "\xff\xff\xff\xff"

static const struct bstep bin_steps[] = {
    { .name = "flush", .op = 0x08 },
    { .name = "set", .op = 0x01, EX8("\x00\x00\x00\x05", Z4), .key = "a",
      VAL("abc") },
    { .name = "get hit", .op = 0x00, .key = "a" },
    { .name = "getk hit", .op = 0x0c, .key = "a" },
    { .name = "getq hit", .op = 0x09, .key = "a" },
    { .name = "getkq hit", .op = 0x0d, .key = "a" },
    { .name = "get miss", .op = 0x00, .key = "nokey" },
    { .name = "getk miss", .op = 0x0c, .key = "nokey" },
    { .name = "getq miss", .op = 0x09, .key = "nokey" },
    { .name = "getkq miss", .op = 0x0d, .key = "nokey" },
    { .name = "add live", .op = 0x02, EX8(Z4, Z4), .key = "a", VAL("x") },
    { .name = "add new", .op = 0x02, EX8(Z4, Z4), .key = "b", VAL("x") },
    { .name = "addq live", .op = 0x12, EX8(Z4, Z4), .key = "a", VAL("x") },
    { .name = "addq new", .op = 0x12, EX8(Z4, Z4), .key = "b2", VAL("x") },
    { .name = "replace miss", .op = 0x03, EX8(Z4, Z4), .key = "nokey",
      VAL("x") },
    { .name = "replace hit", .op = 0x03, EX8("\x00\x00\x00\x07", Z4),
      .key = "b", VAL("yy") },
    { .name = "replaceq miss", .op = 0x13, EX8(Z4, Z4), .key = "nokey",
      VAL("x") },
    { .name = "replaceq hit", .op = 0x13, EX8(Z4, Z4), .key = "b2", VAL("q") },
    { .name = "append", .op = 0x0e, .key = "b", VAL("zz") },
    { .name = "prepend", .op = 0x0f, .key = "b", VAL("ww") },
    { .name = "appendq", .op = 0x19, .key = "b", VAL("A") },
    { .name = "prependq", .op = 0x1a, .key = "b", VAL("P") },
    { .name = "append miss", .op = 0x0e, .key = "nokey", VAL("x") },
    { .name = "appendq miss", .op = 0x19, .key = "nokey", VAL("x") },
    { .name = "prepend miss", .op = 0x0f, .key = "nokey", VAL("x") },
    { .name = "getk after append", .op = 0x0c, .key = "b" },
    { .name = "setq", .op = 0x11, EX8(Z4, Z4), .key = "s", VAL("quiet") },
    { .name = "get setq", .op = 0x00, .key = "s" },
    /* cas */
    { .name = "cas: set", .op = 0x01, EX8(Z4, Z4), .key = "c1", VAL("a") },
    { .name = "set with cas", .op = 0x01, EX8(Z4, Z4), .key = "c1", VAL("b"),
      .cas = 1 },
    { .name = "set with stale cas", .op = 0x01, EX8(Z4, Z4), .key = "c1",
      VAL("c"), .cas = 2 },
    { .name = "set with cas on miss", .op = 0x01, EX8(Z4, Z4), .key = "nokey",
      VAL("c"), .cas = 2 },
    { .name = "replace with cas", .op = 0x03, EX8(Z4, Z4), .key = "c1",
      VAL("d"), .cas = 1 },
    { .name = "replace with stale cas", .op = 0x03, EX8(Z4, Z4), .key = "c1",
      VAL("e"), .cas = 2 },
    { .name = "add with stale cas", .op = 0x02, EX8(Z4, Z4), .key = "c1",
      VAL("h"), .cas = 2 },
    { .name = "add with cas", .op = 0x02, EX8(Z4, Z4), .key = "c1",
      VAL("i"), .cas = 1 },
    { .name = "add with cas on miss", .op = 0x02, EX8(Z4, Z4),
      .key = "nokey", VAL("j"), .cas = 2 },
    { .name = "get after add with cas", .op = 0x00, .key = "c1" },
    { .name = "append with cas", .op = 0x0e, .key = "c1", VAL("f"), .cas = 1 },
    { .name = "append with stale cas", .op = 0x0e, .key = "c1", VAL("g"),
      .cas = 2 },
    { .name = "delete with stale cas", .op = 0x04, .key = "c1", .cas = 2 },
    { .name = "cas: set again", .op = 0x01, EX8(Z4, Z4), .key = "c1",
      VAL("z") },
    { .name = "get c1", .op = 0x00, .key = "c1" },
    { .name = "delete with cas", .op = 0x04, .key = "c1", .cas = 1 },
    /* delete */
    { .name = "delete hit", .op = 0x04, .key = "b" },
    { .name = "delete miss", .op = 0x04, .key = "b" },
    { .name = "deleteq hit", .op = 0x14, .key = "b2" },
    { .name = "deleteq miss", .op = 0x14, .key = "b2" },
    /* incr / decr */
    { .name = "incr miss create", .op = 0x05, INC(U64_5, U64_10, Z4),
      .key = "n" },
    { .name = "incr", .op = 0x05, INC(U64_5, U64_10, Z4), .key = "n" },
    { .name = "get n", .op = 0x00, .key = "n" },
    { .name = "decr below 0", .op = 0x06, INC(U64_MAX, U64_0, Z4),
      .key = "n" },
    { .name = "incr max", .op = 0x05, INC(U64_MAX, U64_0, Z4), .key = "n" },
    { .name = "incr wrap", .op = 0x05, INC(U64_1, U64_0, Z4), .key = "n" },
    { .name = "incr miss no-create", .op = 0x05,
      INC(U64_1, U64_0, EXP_NOCREATE), .key = "nokey" },
    { .name = "decr miss create", .op = 0x06, INC(U64_1, U64_5, Z4),
      .key = "dn" },
    { .name = "decr miss no-create", .op = 0x06,
      INC(U64_1, U64_5, EXP_NOCREATE), .key = "nokey2" },
    { .name = "incrq", .op = 0x15, INC(U64_1, U64_0, Z4), .key = "n" },
    { .name = "decrq", .op = 0x16, INC(U64_1, U64_0, Z4), .key = "n" },
    { .name = "incrq miss no-create", .op = 0x15,
      INC(U64_1, U64_0, EXP_NOCREATE), .key = "nokey" },
    { .name = "get n again", .op = 0x00, .key = "n" },
    { .name = "incr non-numeric", .op = 0x05, INC(U64_1, U64_0, Z4),
      .key = "a" },
    { .name = "decr shorter: set", .op = 0x01, EX8(Z4, Z4), .key = "d",
      VAL("100") },
    { .name = "decr shorter", .op = 0x06, INC(U64_1, U64_0, Z4), .key = "d" },
    { .name = "get d", .op = 0x00, .key = "d" },
    { .name = "incr with cas", .op = 0x05, INC(U64_1, U64_0, Z4), .key = "d",
      .cas = 2 },
    /* touch / gat */
    { .name = "touch hit", .op = 0x1c, EXT("\x00\x00\x00\x64"), .key = "a" },
    { .name = "touch miss", .op = 0x1c, EXT("\x00\x00\x00\x64"),
      .key = "nokey" },
    { .name = "gat hit", .op = 0x1d, EXT("\x00\x00\x00\x64"), .key = "a" },
    { .name = "gat miss", .op = 0x1d, EXT("\x00\x00\x00\x64"),
      .key = "nokey" },
    { .name = "gatq hit", .op = 0x1e, EXT("\x00\x00\x00\x64"), .key = "a" },
    { .name = "gatq miss", .op = 0x1e, EXT("\x00\x00\x00\x64"),
      .key = "nokey" },
    { .name = "gatk hit", .op = 0x23, EXT("\x00\x00\x00\x64"), .key = "a" },
    { .name = "gatk miss", .op = 0x23, EXT("\x00\x00\x00\x64"),
      .key = "nokey" },
    { .name = "gatkq hit", .op = 0x24, EXT("\x00\x00\x00\x64"), .key = "a" },
    { .name = "gatkq miss", .op = 0x24, EXT("\x00\x00\x00\x64"),
      .key = "nokey" },
    /* malformed but framed requests */
    { .name = "get with extras", .op = 0x00, EXT(Z4), .key = "a",
      .allow = ALLOW_EINVAL_OPEN },
    { .name = "get no key", .op = 0x00,
      .allow = ALLOW_EINVAL_OPEN },
    { .name = "set no extras", .op = 0x01, .key = "a", VAL("x"),
      .allow = ALLOW_EINVAL_OPEN },
    { .name = "set no key", .op = 0x01, EX8(Z4, Z4), VAL("x"),
      .allow = ALLOW_EINVAL_OPEN },
    { .name = "delete with value", .op = 0x04, .key = "a", VAL("x"),
      .allow = ALLOW_EINVAL_OPEN },
    { .name = "incr short extras", .op = 0x05, EXT(U64_1), .key = "n",
      .allow = ALLOW_EINVAL_OPEN },
    { .name = "touch no extras", .op = 0x1c, .key = "a",
      .allow = ALLOW_EINVAL_OPEN },
    { .name = "noop with key", .op = 0x0a, .key = "a",
      .allow = ALLOW_EINVAL_OPEN },
    { .name = "key 250", .op = 0x01, EX8(Z4, Z4), .key = "$K250", VAL("x") },
    { .name = "key 250 get", .op = 0x0c, .key = "$K250" },
    { .name = "key 251 set", .op = 0x01, EX8(Z4, Z4), .key = "$K251",
      VAL("x"),
      .allow = ALLOW_EINVAL_OPEN },
    { .name = "key 251 get", .op = 0x00, .key = "$K251",
      .allow = ALLOW_EINVAL_OPEN },
    { .name = "too large", .op = 0x01, EX8(Z4, Z4), .key = "tb",
      .val = "$V1100000", .vlen = 9 },
    { .name = "get after too large", .op = 0x00, .key = "tb" },
    { .name = "unknown opcode", .op = 0x30 },
    { .name = "unknown opcode with body", .op = 0x3f, .key = "k", VAL("v"),
      .allow = ALLOW_MC_FRAMING },
    { .name = "sasl list", .op = 0x20 },
    { .name = "still in sync", .op = 0x00, .key = "a" },
    /* misc */
    { .name = "noop", .op = 0x0a },
    { .name = "version", .op = 0x0b },
    { .name = "verbosity", .op = 0x1b, EXT("\x00\x00\x00\x01"),
      .allow = ALLOW_MC_FRAMING },
    { .name = "verbosity no extras", .op = 0x1b,
      .allow = ALLOW_MC_FRAMING },
    { .name = "stat", .op = 0x10, .stats = 1 },
    { .name = "stat settings", .op = 0x10, .key = "settings", .stats = 1 },
    { .name = "stat bogus", .op = 0x10, .key = "bogus" },
    { .name = "stat reset", .op = 0x10, .key = "reset" },
    { .name = "stat sizes", .op = 0x10, .key = "sizes", .stats = 1 },
    { .name = "stat items", .op = 0x10, .key = "items", .stats = 1 },
    { .name = "stat slabs", .op = 0x10, .key = "slabs", .stats = 1 },
    { .name = "stat extstore", .op = 0x10, .key = "extstore" },
    { .name = "stat detail on", .op = 0x10, .key = "detail on" },
    { .name = "stat detail dump", .op = 0x10, .key = "detail dump" },
    { .name = "stat detail off", .op = 0x10, .key = "detail off" },
    { .name = "stat detail", .op = 0x10, .key = "detail" },
    /* expiry */
    { .name = "exp: set 1s", .op = 0x01, EX8(Z4, "\x00\x00\x00\x01"),
      .key = "e1", VAL("x") },
    { .name = "exp: set 100s", .op = 0x01, EX8(Z4, "\x00\x00\x00\x64"),
      .key = "e2", VAL("x") },
    { .name = "exp: touch to 1s", .op = 0x1c, EXT("\x00\x00\x00\x01"),
      .key = "e2" },
    { .name = "exp: set 1s again", .op = 0x01, EX8(Z4, "\x00\x00\x00\x01"),
      .key = "e3", VAL("x") },
    { .name = "exp: gat extends", .op = 0x1d, EXT("\x00\x00\x00\x64"),
      .key = "e3" },
    { .name = "exp: incr create 1s", .op = 0x05,
      INC(U64_1, U64_5, "\x00\x00\x00\x01"), .key = "e4" },
    { .name = "exp: set negative", .op = 0x01, EX8(Z4, "\xff\xff\xff\xff"),
      .key = "e5", VAL("x") },
    { .name = "exp: get negative", .op = 0x00, .key = "e5" },
    { .name = "exp: sleep", .op = 0, .sleep_ms = 2200 },
    { .name = "exp: get e1", .op = 0x00, .key = "e1" },
    { .name = "exp: get e2", .op = 0x00, .key = "e2" },
    { .name = "exp: get e3", .op = 0x00, .key = "e3" },
    { .name = "exp: get e4", .op = 0x00, .key = "e4" },
    /* flush with a delay */
    { .name = "flush: set", .op = 0x01, EX8(Z4, Z4), .key = "f1", VAL("x") },
    { .name = "flush: delay 3", .op = 0x08, EXT("\x00\x00\x00\x03") },
    { .name = "flush: get before", .op = 0x00, .key = "f1" },
    { .name = "flush: sleep", .op = 0, .sleep_ms = 3300 },
    { .name = "flush: get after", .op = 0x00, .key = "f1" },
    { .name = "flushq", .op = 0x18 },
    { .name = "flush bad extras", .op = 0x08, EXT("\x00\x00"),
      .allow = ALLOW_EINVAL_OPEN },
    { .name = "quitq", .op = 0x17, .close = 1 },
    { .name = "after quitq: noop", .op = 0x0a },
    { .name = "quit", .op = 0x07, .close = 1 },
};

/* ---- client batches (issue 14 section 4) ------------------------------
 * Runs of GetQ/GetKQ (ended by a Get/GetK) that rend folds into one
 * multi-key request (rend_proto_bin.c): every key must still be answered
 * as its own packet would be (opaque, key echo, quiet misses, flags, cas,
 * order), a non-get command or a bad packet ends a run, and the batch
 * compares with memcached's replies byte for byte.  The steps of a batch
 * carry .join (diff_util.h); each packet's opaque is its step index. */
#define FL(n) EX8("\x00\x00\x00" n, Z4)
#define J .join = 1

static const struct bstep batch_steps[] = {
    { .name = "fold: flush", .op = 0x08 },
    { .name = "fold: set f1", .op = 0x01, FL("\x01"), .key = "f1",
      VAL("one") },
    { .name = "fold: set f2", .op = 0x01, FL("\x02"), .key = "f2",
      VAL("two!") },
    { .name = "fold: set big", .op = 0x01, FL("\x03"), .key = "fbig",
      VAL("$V100000") },
    { .name = "fold: mixed hits, misses, GetK, GetKQ", .op = 0x0d,
      .key = "f1", J },
    { .op = 0x09, .key = "nokey", J },
    { .op = 0x09, .key = "f2", J },
    { .op = 0x0d, .key = "nokey2", J },
    { .op = 0x0d, .key = "fbig", J },
    { .op = 0x0c, .key = "nokey3", J }, /* GetK miss: ends the run */
    { .op = 0x0d, .key = "f2", J },
    { .op = 0x09, .key = "f1", J },
    { .op = 0x00, .key = "f2", J },     /* Get hit: ends the run */
    { .op = 0x0d, .key = "fbig", J },
    { .op = 0x0c, .key = "f1" },
    { .name = "fold: a set in the middle", .op = 0x0d, .key = "f1", J },
    { .op = 0x09, .key = "f3", J },
    { .op = 0x11, FL("\x07"), .key = "f3", VAL("three"), J }, /* SetQ */
    { .op = 0x0d, .key = "f3", J },
    { .op = 0x04, .key = "f2", J },     /* Delete */
    { .op = 0x0d, .key = "f2", J },
    { .op = 0x09, .key = "f1", J },
    { .op = 0x0a, J },                  /* Noop */
    { .op = 0x0d, .key = "f3", J },
    { .op = 0x00, .key = "nokey" },
    { .name = "fold: quiet misses only, then noop", .op = 0x09,
      .key = "nokey", J },
    { .op = 0x0d, .key = "nokey2", J },
    { .op = 0x09, .key = "nokey3", J },
    { .op = 0x0a },
    { .name = "fold: getkq 250-byte key", .op = 0x01, FL("\x09"),
      .key = "$K250", VAL("long") },
    { .name = "fold: long keys", .op = 0x0d, .key = "$K250", J },
    { .op = 0x09, .key = "$K249", J },
    { .op = 0x0d, .key = "$K250", J },
    { .op = 0x0c, .key = "$K250" },
    /* memcached closes after the Invalid arguments reply; rend answers
     * the rest of the batch, so only this step is allowed to differ */
    { .name = "fold: a 251-byte key in the middle", .op = 0x0d,
      .key = "f1", J },
    { .op = 0x09, .key = "f3", J },
    { .op = 0x0d, .key = "$K251", J },
    { .op = 0x0d, .key = "f3", J },
    { .op = 0x0c, .key = "f1", .allow = ALLOW_EINVAL_OPEN },
    { .name = "fold: after the bad key", .op = 0x0d, .key = "f1", J },
    { .op = 0x0c, .key = "f3" },
};

/* A batch longer than one fold (FOLD_MAX keys): n GetKQ/GetQ of hits and
 * misses, then a GetK; into steps[0, n + 1). */
static size_t
long_batch(struct bstep *steps, size_t n)
{
    static const char *const keys[] = { "f1", "nokey", "f3", "fbig",
                                        "nokey2" };

    memset(steps, 0, (n + 1) * sizeof(*steps));
    for (size_t i = 0; i < n; i++) {
        steps[i].op = i % 3 == 0 ? 0x09 : 0x0d;
        steps[i].key = keys[i % 5];
        steps[i].join = 1;
    }
    steps[0].name = "fold: 600 quiet gets and a GetK";
    steps[n].op = 0x0c;
    steps[n].key = "f3";
    return n + 1;
}

/* ---- meta batches ------------------------------------------------------
 * Runs of quiet mg lines with the same flags: rend folds them into one
 * request (core/rend_proto_text.c, stat meta_gets_folded) and, as a proxy,
 * relays them as one `get`/`gets` line; every line must still be answered
 * as memcached answers it. */
static const struct dstep meta_batch_steps[] = {
    { .name = "mfold: flush", .req = "flush_all\r\n" },
    { .name = "mfold: sets", .req = "ms fa 2 F3\r\nhi\r\nms fb 3\r\nabc\r\n"
      "ms fbig 100000 F9\r\n$V100000\r\nms $K250 4 F1\r\nlong\r\n" },
    { .name = "mfold: hits, misses, k f v",
      .req = "mg fa v f k q\r\nmg fnokey v f k q\r\nmg fb v f k q\r\n"
      "mg fa v f k q\r\nmg fbig v f k q\r\nmg fnokey2 v f k q\r\nmn\r\n" },
    { .name = "mfold: s c O", .req = "mg fa s c v O12 k q\r\n"
      "mg fb s c v O12 k q\r\nmg fz s c v O12 k q\r\nmg fa s c v O12 k q\r\n"
      "mn\r\n" },
    { .name = "mfold: an opaque per line",
      .req = "mg fa v k O1 q\r\nmg fb v k O22 q\r\nmg fz v k O333 q\r\n"
      "mg fa v k O q\r\nmg fa v k O$K31 q\r\nmg fb v k O$K32 q\r\n"
      "mg fa v k O4 q\r\nmn\r\n" },
    { .name = "mfold: opaque last", .req = "mg fa v q O7\r\nmg fb v q O8\r\n"
      "mg fz v q O9\r\nmg fa v q O7 \r\nmn\r\n" },
    { .name = "mfold: opaque with c s",
      .req = "mg fa c s v O5 q\r\nmg fb c s v O6 q\r\nmn\r\n" },
    { .name = "mfold: t (folded, not relayed)",
      .req = "mg fa t v q\r\nmg fb t v q\r\nmg fz t v q\r\nmn\r\n" },
    { .name = "mfold: no v (HD)", .req = "mg fa q\r\nmg fz q\r\nmg fb q\r\n"
      "mg fa k q\r\nmg fb k q\r\nmn\r\n" },
    { .name = "mfold: flags differ mid-run",
      .req = "mg fa v q\r\nmg fb v f q\r\nmg fa v f q\r\nmg fb v q\r\nmn\r\n" },
    { .name = "mfold: ended by a line without q",
      .req = "mg fa v q k\r\nmg fb v q k\r\nmg fb v k\r\nmg fz v k\r\n"
      "mg fa v q k\r\nmn\r\n" },
    { .name = "mfold: bare newlines, then mixed",
      .req = "mg fa v q\nmg fb v q\nmg fz v q\nmg fa v q\r\nmg fb v q\r\nmn\n" },
    { .name = "mfold: other commands between",
      .req = "mg fa v q\r\nms fa 2 q\r\nho\r\nmg fa v q\r\nmg fb v q\r\n"
      "md fb q\r\nmg fb v q\r\nmg fa v q\r\nget fa fb\r\nmn\r\n" },
    { .name = "mfold: long key, spaces",
      .req = "mg $K250 v k q\r\nmg $K250 v k q\r\nmg  fa v k q\r\n"
      "mg fa  v k q\r\nmg fa v k q\r\nmn\r\n" },
    { .name = "mfold: 251-byte key ends the run",
      .req = "mg fa v q\r\nmg $K251 v q\r\nmg fa v q\r\nmn\r\n" },
    { .name = "mfold: b, T, N not folded",
      .req = "mg ZmE= b v q\r\nmg ZmI= b v q\r\nmg fa T30 v q\r\n"
      "mg fb T30 v q\r\nmg fnew N30 v q\r\nmg fnew2 N30 v q\r\nmn\r\n" },
};

/* One step of n quiet mg lines, hits and misses and a 100 KB value every
 * 50 lines (the reply stays under diff_util's 4 MB), then mn; buf holds
 * the text. */
static struct dstep
long_meta_batch(char *buf, size_t cap, size_t n)
{
    static const char *const keys[] = { "fa", "fnokey", "fa", "fnokey2" };
    struct dstep st = { .name = "mfold: 600 quiet mg lines and mn",
                        .req = buf };
    size_t off = 0;

    for (size_t i = 0; i < n; i++) {
        off += (size_t)snprintf(buf + off, cap - off, "mg %s v f k q\r\n",
                                i % 50 == 7 ? "fbig" : keys[i % 4]);
    }
    off += (size_t)snprintf(buf + off, cap - off, "mn\r\n");
    ck_assert_uint_lt(off, cap);
    st.len = off;
    return st;
}

static struct rend_srv mc, rd;

static char l12_data[64];

/* memcached, and rend on conf/<name> */
static int
start_pair_on(const char *name)
{
    const char *conf = getenv("REND_SRCDIR");
    char path[1024];
    int rc = rend_srv_start_memcached(&mc, NULL);

    if (rc == -2) {
        return 77;
    }
    ck_assert_int_eq(rc, 0);
    snprintf(path, sizeof(path), "%s/conf/%s", conf ? conf : "..", name);
    ck_assert_int_eq(rend_srv_start(&rd, path, NULL), 0);
    return 0;
}

static int
start_pair(void)
{
    return start_pair_on("inmem.lua");
}

/* memcached, and rend on the default L1/L2 config (inmem + lmdb) with
 * its data in a temp dir */
static int
start_pair_l12(void)
{
    snprintf(l12_data, sizeof(l12_data), "/tmp/it_diff_l12.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(l12_data));
    setenv("REND_DATA", l12_data, 1);
    setenv("REND_MEMORY_MB", "64", 1);
    setenv("REND_MAP_MB", "64", 1);
    return start_pair_on("rend.lua");
}

static void
remove_l12_data(void)
{
    char cmd[128];

    if (l12_data[0] != '\0') {
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", l12_data);
        ck_assert_int_eq(system(cmd), 0);
        l12_data[0] = '\0';
    }
}

static void
stop_pair(void)
{
    rend_srv_stop(&mc, 3000, NULL);
    ck_assert_int_eq(rend_srv_stop(&rd, 3000, NULL), 0);
}

static void
report(const char *what, const struct diff_result *dr)
{
    printf("%s: %d steps, %d equal, %d allowed, %d known bugs, "
           "%d MISMATCHES, %d fixed bugs\n", what, dr->steps, dr->equal,
           dr->allowed, dr->known_bugs, dr->mismatches, dr->fixed_bugs);
    fflush(stdout);
}

START_TEST(text_differential)
{
    struct diff_result dr;

    if (start_pair() == 77) {
        return;
    }
    diff_run_text(&mc, &rd, text_steps,
                  sizeof(text_steps) / sizeof(text_steps[0]), &dr);
    stop_pair();
    report("text", &dr);
    ck_assert_int_eq(dr.mismatches, 0);
    ck_assert_int_eq(dr.fixed_bugs, 0);
    ck_assert_int_gt(dr.equal, (int)(sizeof(text_steps)
                                     / sizeof(text_steps[0])) / 2);
}
END_TEST

static void
run_meta(const char *what)
{
    struct diff_result dr;

    diff_run_text(&mc, &rd, meta_steps,
                  sizeof(meta_steps) / sizeof(meta_steps[0]), &dr);
    stop_pair();
    report(what, &dr);
    ck_assert_int_eq(dr.mismatches, 0);
    ck_assert_int_eq(dr.fixed_bugs, 0);
    ck_assert_int_gt(dr.equal, (int)(sizeof(meta_steps)
                                     / sizeof(meta_steps[0])) / 2);
}

START_TEST(meta_differential)
{
    if (start_pair() == 77) {
        return;
    }
    run_meta("meta (inmem)");
}
END_TEST

START_TEST(meta_differential_l12)
{
    if (start_pair_l12() == 77) {
        return;
    }
    run_meta("meta (L1/L2: inmem + lmdb)");
    remove_l12_data();
}
END_TEST

/* Runs fn against memcached and rend as a proxy in front of a second
 * memcached (the memcached plugin, tests/integration/conf/hostile_mc.lua);
 * returns quietly when there is no memcached to start. */
static void
run_on_proxy(void (*fn)(const char *), const char *what)
{
    static struct rend_srv backend;
    int rc = rend_srv_start_memcached(&backend, NULL);

    if (rc == -2) {
        return;
    }
    ck_assert_int_eq(rc, 0);
    setenv("REND_POOL", backend.path, 1);
    if (start_pair_on("../tests/integration/conf/hostile_mc.lua") != 77) {
        fn(what);
    }
    rend_srv_stop(&backend, 3000, NULL);
}

/* The meta table through rend as a proxy in front of a second memcached:
 * what the backend is asked for must carry every flag the client asked
 * for (an mg with t and no c once came back t-1). */
START_TEST(meta_differential_proxy)
{
    run_on_proxy(run_meta, "meta (proxy)");
}
END_TEST

START_TEST(binary_differential)
{
    struct diff_result dr;

    if (start_pair() == 77) {
        return;
    }
    diff_run_bin(&mc, &rd, bin_steps,
                 sizeof(bin_steps) / sizeof(bin_steps[0]), &dr);
    stop_pair();
    report("binary", &dr);
    ck_assert_int_eq(dr.mismatches, 0);
    ck_assert_int_eq(dr.fixed_bugs, 0);
    ck_assert_int_gt(dr.equal, (int)(sizeof(bin_steps)
                                     / sizeof(bin_steps[0])) / 2);
}
END_TEST

/* rend's `stats` value of name on a fresh connection to s; -1 when
 * missing. */
static long long
stat_of(const struct rend_srv *s, const char *name)
{
    char line[512];
    long long v = -1;
    size_t nl = strlen(name);
    int fd = rend_srv_connect(s);

    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(rend_io_send_str(fd, "stats\r\n", 3000), 0);
    while (rend_io_read_line(fd, line, sizeof(line), 3000) > 0
           && strncmp(line, "END", 3) != 0) {
        if (strncmp(line, "STAT ", 5) == 0
            && strncmp(line + 5, name, nl) == 0 && line[5 + nl] == ' ') {
            v = strtoll(line + 6 + nl, NULL, 10);
        }
    }
    close(fd);
    return v;
}

/* The batch table, then a long batch, against memcached and rend (as
 * started); the replies must match and rend must have folded (and, with
 * relayed, sent some folded runs to the backend as one relayed `gets`:
 * core/rend_relay.c). */
static void
check_batches(const char *what, int relayed)
{
    static struct bstep lb[601];
    struct diff_result dr, dl;
    long long before = stat_of(&rd, "bin_gets_folded"), after;
    long long relays = stat_of(&rd, "gets_relayed");
    size_t nl = long_batch(lb, 600);

    ck_assert_int_ge(before, 0);
    diff_run_bin(&mc, &rd, batch_steps,
                 sizeof(batch_steps) / sizeof(batch_steps[0]), &dr);
    report(what, &dr);
    diff_run_bin(&mc, &rd, lb, nl, &dl);
    report(what, &dl);
    after = stat_of(&rd, "bin_gets_folded");
    relays = stat_of(&rd, "gets_relayed") - relays;
    stop_pair();
    printf("%s: %lld folded runs relayed\n", what, relays);
    if (relayed) {
        ck_assert_int_ge(relays, 5);
    } else {
        ck_assert_int_eq(relays, 0);
    }
    ck_assert_int_eq(dr.mismatches + dl.mismatches, 0);
    ck_assert_int_eq(dr.fixed_bugs + dl.fixed_bugs, 0);
    ck_assert_int_eq(dl.equal, 1);
    ck_assert_int_ge(dr.equal, dr.steps - 1);
    /* the runs of the table that fold: 6 + 3 + 2, 2 + 2 + 2, 3, 4,
     * 2 + 2, 2 packets; and the long batch's 601 (256 + 256 + 89).  The
     * long batch (17 KB) is more than rend's first read: where a read
     * ends mid-packet a run ends, which may leave a packet on its own
     * (answered alike, not counted), hence the few below the exact sum. */
    ck_assert_int_le(after - before, 30 + 601);
    ck_assert_int_ge(after - before, 30 + 601 - 4);
}

static void
run_batches(const char *what)
{
    check_batches(what, 0);
}

static void
run_batches_relayed(const char *what)
{
    check_batches(what, 1);
}

START_TEST(binary_batch_inmem)
{
    if (start_pair() == 77) {
        return;
    }
    run_batches("binary batches (inmem)");
}
END_TEST

/* The meta batch table, then a long batch, against memcached and rend
 * (as started): replies must match, rend must have folded the runs and,
 * with relayed, sent some of them on as one relayed line. */
static void
check_meta_batches(const char *what, int relayed)
{
    static char buf[600 * 24];
    struct dstep lb = long_meta_batch(buf, sizeof(buf), 600);
    struct diff_result dr, dl;
    long long before = stat_of(&rd, "meta_gets_folded"), after;
    long long relays = stat_of(&rd, "gets_relayed");

    ck_assert_int_ge(before, 0);
    diff_run_text(&mc, &rd, meta_batch_steps,
                  sizeof(meta_batch_steps) / sizeof(meta_batch_steps[0]),
                  &dr);
    report(what, &dr);
    diff_run_text(&mc, &rd, &lb, 1, &dl);
    report(what, &dl);
    after = stat_of(&rd, "meta_gets_folded");
    relays = stat_of(&rd, "gets_relayed") - relays;
    stop_pair();
    printf("%s: %lld mg lines folded, %lld runs relayed\n", what,
           after - before, relays);
    if (relayed) {
        ck_assert_int_ge(relays, 8);
    } else {
        ck_assert_int_eq(relays, 0);
    }
    ck_assert_int_eq(dr.mismatches + dl.mismatches, 0);
    ck_assert_int_eq(dr.fixed_bugs + dl.fixed_bugs, 0);
    ck_assert_int_eq(dl.equal, 1);
    ck_assert_int_eq(dr.equal, dr.steps);
    /* the table's runs: 6; 4; 5 (a 32-byte opaque and the line after
     * it stand alone); 3 (the trailing space ends the run); 2; 3; 3 + 2;
     * 2 (where the flags differ); 2 (the lines without q stand alone);
     * 3 + 2; 2 + 2; 2 (the `mg  fa` and `mg fa  ` lines stand alone);
     * none where a key is too long or b, T, N are used: 43.  And the long
     * batch's 600 (256 + 256 + 88), less a few where a read ends
     * mid-line. */
    ck_assert_int_le(after - before, 43 + 600);
    ck_assert_int_ge(after - before, 43 + 600 - 6);
}

static void
run_meta_batches(const char *what)
{
    check_meta_batches(what, 0);
}

static void
run_meta_batches_relayed(const char *what)
{
    check_meta_batches(what, 1);
}

START_TEST(meta_batch_inmem)
{
    if (start_pair() == 77) {
        return;
    }
    run_meta_batches("meta batches (inmem)");
}
END_TEST

START_TEST(meta_batch_l12)
{
    if (start_pair_l12() == 77) {
        return;
    }
    run_meta_batches("meta batches (L1/L2: inmem + lmdb)");
    remove_l12_data();
}
END_TEST

/* rend as a proxy in front of a second memcached (memcached plugin) */
/* The text table through rend as a proxy in front of a second memcached:
 * its multi-gets go to the backend as one relayed `get` line
 * (core/rend_relay.c) and must read as memcached's own replies. */
static void
run_text_relayed(const char *what)
{
    struct diff_result dr;
    long long relayed = stat_of(&rd, "gets_relayed");

    diff_run_text(&mc, &rd, text_steps,
                  sizeof(text_steps) / sizeof(text_steps[0]), &dr);
    relayed = stat_of(&rd, "gets_relayed") - relayed;
    stop_pair();
    report(what, &dr);
    printf("%s: %lld multi-gets relayed\n", what, relayed);
    ck_assert_int_eq(dr.mismatches, 0);
    ck_assert_int_eq(dr.fixed_bugs, 0);
    ck_assert_int_gt(dr.equal, (int)(sizeof(text_steps)
                                     / sizeof(text_steps[0])) / 2);
    ck_assert_int_ge(relayed, 3); /* the table's multi-key get/gets */
}

START_TEST(text_differential_proxy)
{
    run_on_proxy(run_text_relayed, "text (proxy)");
}
END_TEST

START_TEST(binary_batch_proxy)
{
    run_on_proxy(run_batches_relayed, "binary batches (proxy)");
}
END_TEST

START_TEST(meta_batch_proxy)
{
    run_on_proxy(run_meta_batches_relayed, "meta batches (proxy)");
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("diff");
    TCase *tt = tcase_create("text");
    TCase *tb = tcase_create("binary");
    TCase *tm = tcase_create("meta");

    if (access(getenv("MEMCACHED") && *getenv("MEMCACHED")
               ? getenv("MEMCACHED") : "/usr/bin/memcached", X_OK) != 0) {
        fprintf(stderr, "no memcached: skipped\n");
        return 77;
    }
    tcase_set_timeout(tt, 50);
    tcase_set_timeout(tb, 50);
    tcase_set_timeout(tm, 50);
    tcase_add_test(tt, text_differential);
    tcase_add_test(tt, text_differential_proxy);
    tcase_add_test(tb, binary_differential);
    tcase_add_test(tb, binary_batch_inmem);
    tcase_add_test(tb, binary_batch_proxy);
    tcase_add_test(tm, meta_differential);
    tcase_add_test(tm, meta_differential_l12);
    tcase_add_test(tm, meta_differential_proxy);
    tcase_add_test(tm, meta_batch_inmem);
    tcase_add_test(tm, meta_batch_l12);
    tcase_add_test(tm, meta_batch_proxy);
    suite_add_tcase(s, tt);
    suite_add_tcase(s, tb);
    suite_add_tcase(s, tm);
    return rend_check_main(s);
}
