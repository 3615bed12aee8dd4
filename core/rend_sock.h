/*
 * rend_sock.h - listening sockets.  TCP, and unix socket listeners
 * created safely: an existing path is
 * replaced only when it is a stale socket (never a regular file, a
 * directory or a socket a live server still accepts on), and the socket
 * gets its final mode at creation (umask around bind, no chmod window).
 */
#ifndef REND_SOCK_H
#define REND_SOCK_H

/* A listening, non-blocking unix socket at path with permissions mode;
 * -1 (logged) on failure. */
int rend_unix_listen(const char *path, int mode);
/* Remove path at exit if it is (still) a socket. */
void rend_unix_remove(const char *path);

/* A listening, non-blocking TCP socket on host (NULL or "": every
 * address) and port (0: any free one), SO_REUSEADDR, the given backlog;
 * *bound_port gets the port it is bound to.  -1 on failure, with the
 * reason (getaddrinfo's or errno's text) in err. */
int rend_tcp_listen(const char *host, int port, int backlog, int *bound_port,
                    char *err, size_t errlen);

#endif /* REND_SOCK_H */
