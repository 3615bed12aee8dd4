/*
 * check_mc_ring.c - the plugin's ketama ring and MD5 compiled into the
 * memcached plugin tests (the plugin exports only rend_handler_v1).
 */
#include "../../plugins/memcached/rend_mc_ketama.c"
#include "../../plugins/memcached/rend_mc_md5.c"
