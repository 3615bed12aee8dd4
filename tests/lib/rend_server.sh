# rend_server.sh - the shell tests' way to start a server (sourced; POSIX
# sh): the counterpart of rend_server.c for tests/obs and tests/clients.

# rs_wait_file FILE PID: wait (at most 10 s) until FILE exists with content
# (or is a socket); 1 when PID exits first or the time runs out.
rs_wait_file() {
    rs_i=0
    while [ ! -s "$1" ] && [ ! -S "$1" ]; do
        rs_i=$((rs_i + 1))
        if [ $rs_i -gt 1000 ] || ! kill -0 "$2" 2>/dev/null; then
            return 1
        fi
        sleep 0.01
    done
}

# rs_spawn PORTFILE ERRLOG CMD...: run CMD (a rend started with
# --port-file PORTFILE, behind `env VAR=value` when it needs any) in the
# background with its stderr in ERRLOG, and wait for the port file.  Sets
# rs_pid and rs_port (the first listener: the file's first line).  On
# failure prints ERRLOG and returns 1 (rs_pid is still set: the caller's
# cleanup kills it).
rs_spawn() {
    rs_pf=$1
    rs_err=$2
    shift 2
    rm -f "$rs_pf"
    "$@" 2>"$rs_err" &
    rs_pid=$!
    if ! rs_wait_file "$rs_pf" "$rs_pid"; then
        echo "did not start: $*"
        cat "$rs_err"
        return 1
    fi
    rs_port=$(head -n 1 "$rs_pf")
}
