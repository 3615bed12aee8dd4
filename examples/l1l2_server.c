/* l1l2_server.c - rend as Netflix Rend runs: a memcached fleet as L1 in
 * front of a persistent LMDB store as L2 (the L1/L2 orchestration: reads
 * fill L1 on a miss, writes go to L2 and then L1), plus a bulk-load
 * prefix: keys starting with "bulk:" take the L1/L2 batch orchestration
 * for sets (L2, then refresh an L1 copy only where one exists).
 *
 *   l1l2_server MEMCACHED_SERVERS LMDB_DIR [PORT]
 *   e.g. l1l2_server 127.0.0.1:11212 /var/tmp/l2 11211
 */
#include <stdio.h>
#include <stdlib.h>
#include <rend/server.h>

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s MEMCACHED_SERVERS LMDB_DIR [PORT]\n", argv[0]);
        return 2;
    }
    struct rend_kv mc_opts[] = { { "servers", argv[1] } };
    struct rend_kv l2_opts[] = { { "path", argv[2] }, { "map_size_mb", "256" } };
    rend_server *s = rend_server_new();
    rend_instance *l1 = rend_server_plugin(s, "l1", "memcached", mc_opts, 1);
    rend_instance *l2 = rend_server_plugin(s, "l2", "lmdb", l2_opts, 2);
    int l = rend_server_listen_tcp(s, "127.0.0.1", argc > 3 ? atoi(argv[3]) : 11211);

    if (rend_server_route(s, l, NULL, NULL, REND_ROUTE_L1L2, l1, l2) != 0
        || rend_server_route(s, l, "bulk:", "set", REND_ROUTE_L1L2_BATCH, l1, l2) != 0
        || rend_server_handle_signals(s, 1) != 0 || rend_server_start(s) != 0
        || printf("port %d\n", rend_server_port(s, l)) < 0 || fflush(stdout) != 0
        || rend_server_run(s) != 0) {
        fprintf(stderr, "l1l2_server: %s\n", rend_server_error(s));
        rend_server_destroy(s);
        return 1;
    }
    rend_server_destroy(s);
    return 0;
}
