/*
 * rend_sock.c - unix socket listeners; see rend_sock.h.
 */
#include "config.h"

#include <errno.h>
#include <string.h>
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
