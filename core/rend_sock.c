/*
 * rend_sock.c - unix socket listeners; see rend_sock.h.
 */
#include "config.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "rend_log.h"
#include "rend_sock.h"

/* Does a server accept on the socket at sun? */
static int
socket_alive(const struct sockaddr_un *sun)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int alive;

    if (fd < 0) {
        return 0;
    }
    alive = connect(fd, (const struct sockaddr *)sun, sizeof(*sun)) == 0;
    close(fd);
    return alive;
}

/* Make room for a socket at path: 0 when nothing is there (or a stale
 * socket was removed), -1 (logged) when something else is. */
static int
clear_path(const char *path, const struct sockaddr_un *sun)
{
    struct stat st;

    if (lstat(path, &st) != 0) {
        if (errno == ENOENT) {
            return 0;
        }
        rend_log(REND_LOG_ERR, "listen %s: %s", path, strerror(errno));
        return -1;
    }
    if (!S_ISSOCK(st.st_mode)) {
        rend_log(REND_LOG_ERR, "listen %s: the path exists and is not a "
                 "socket; refusing to replace it", path);
        return -1;
    }
    if (socket_alive(sun)) {
        rend_log(REND_LOG_ERR, "listen %s: another server is accepting on "
                 "this socket", path);
        return -1;
    }
    if (unlink(path) != 0 && errno != ENOENT) {
        rend_log(REND_LOG_ERR, "listen %s: cannot remove the stale socket: "
                 "%s", path, strerror(errno));
        return -1;
    }
    return 0;
}

int
rend_unix_listen(const char *path, int mode)
{
    struct sockaddr_un sun;
    mode_t old;
    int fd, rc, err;

    if (strlen(path) >= sizeof(sun.sun_path)) {
        rend_log(REND_LOG_ERR, "unix socket path too long: %s", path);
        return -1;
    }
    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    memcpy(sun.sun_path, path, strlen(path) + 1);
    if (clear_path(path, &sun) != 0) {
        return -1;
    }
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        rend_log(REND_LOG_ERR, "listen %s: %s", path, strerror(errno));
        return -1;
    }
    /* The socket is born with its final mode: no window in which it is
     * reachable with the process umask's permissions. */
    old = umask((mode_t)(~mode & 0777));
    rc = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
    err = errno;
    umask(old);
    if (rc != 0 || listen(fd, 1024) != 0) {
        rend_log(REND_LOG_ERR, "listen %s: %s", path,
                 strerror(rc != 0 ? err : errno));
        close(fd);
        return -1;
    }
    return fd;
}

void
rend_unix_remove(const char *path)
{
    struct stat st;

    if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode)) {
        unlink(path);
    }
}

int
rend_tcp_listen(const char *host, int port, int backlog, int *bound_port,
                char *err, size_t errlen)
{
    struct addrinfo hints, *res, *ai;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    char portstr[16];
    int fd = -1, one = 1, rc;

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    snprintf(portstr, sizeof(portstr), "%d", port);
    rc = getaddrinfo(host != NULL && *host ? host : NULL, portstr, &hints,
                     &res);
    if (rc != 0) {
        snprintf(err, errlen, "%s", gai_strerror(rc));
        return -1;
    }
    for (ai = res; ai != NULL; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK
                    | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            continue;
        }
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0
            && listen(fd, backlog) == 0) {
            break;
        }
        rc = errno;
        close(fd);
        fd = -1;
        errno = rc;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        snprintf(err, errlen, "%s", strerror(errno));
        return -1;
    }
    getsockname(fd, (struct sockaddr *)&ss, &sl);
    *bound_port = ntohs(ss.ss_family == AF_INET6
                        ? ((struct sockaddr_in6 *)&ss)->sin6_port
                        : ((struct sockaddr_in *)&ss)->sin_port);
    return fd;
}
