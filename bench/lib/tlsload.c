/*
 * tlsload - bounded TLS handshake load for bench/run.sh (adapted from /work/shared/bench/tools).
 *
 *   tlsload -p PORT [-c CONC] [-d SECS] [-r] [-v 12|13] [-u PATH] [-H HOST] [-s SNI] [-T SECS]
 *
 * CONC slots; each loops { TCP connect, TLS handshake, one "GET PATH" with
 * "Connection: close", read the whole response, close } until SECS have elapsed.
 *   -r   resume: each slot offers the newest session ticket it received (TLS 1.3 PSK or
 *        TLS 1.2 ticket / session id).  Without -r every handshake is a full one (the client
 *        accepts tickets but never offers one).
 *   -v   13 (default): TLS 1.3 only; 12: TLS 1.2 only.
 *   -T   hard deadline in seconds (default SECS + 30): the tool ends by then, whatever happens.
 *
 * Prints one line in the format of lib/wrk.lua (latencies in microseconds, from connect start
 * to the last response byte):
 *   RESULT requests=N duration_us=N resumed=N err_connect=N err_tls=N err_read=N err_write=N
 *          err_status=N err_timeout=N p50_us=N p90_us=N p99_us=N max_us=N
 * requests counts completed connections (any status); err_status those whose status was not
 * 2xx; err_timeout those still unfinished 2 s after the end.  Loopback addresses only.
 *
 * Build: gcc -O2 -Wall -o tlsload tlsload.c -lssl -lcrypto
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { ST_FREE, ST_CONNECTING, ST_HANDSHAKE, ST_WRITE, ST_READ };

struct conn {
    int fd;
    int state;
    SSL *ssl;
    SSL_SESSION *sess;  /* session to offer next time (-r) */
    uint64_t t0;        /* connect start, ns */
    size_t woff;
    size_t hdr_len;
    long clen;          /* content-length, -1 unknown */
    long body;
    int chunked;
    int hdr_done;
    char tail[8];       /* last bytes of a chunked body */
    char hdr[4096];
};

static const char *opt_addr = "127.0.0.1";
static int opt_port = 0;
static int opt_conc = 50;
static double opt_dur = 10;
static double opt_deadline = 0;
static int opt_resume = 0;
static int opt_tls = 13;
static const char *opt_path = "/";
static const char *opt_sni = "localhost";
static const char *opt_host = NULL;

static SSL_CTX *ctx;
static int epfd;
static struct conn *conns;
static char req[1024];
static size_t req_len;

static uint64_t n_done, n_resumed, n_err_connect, n_err_tls, n_err_read, n_err_write, n_err_status;
static uint32_t *lat_us;
static size_t lat_n, lat_cap;
static int measuring = 1;
static int in_flight;
static uint64_t t_end_ns;

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void lat_add(uint64_t ns) {
    if (lat_n == lat_cap) {
        lat_cap = lat_cap ? lat_cap * 2 : 65536;
        lat_us = realloc(lat_us, lat_cap * sizeof *lat_us);
        if (!lat_us) { perror("realloc"); exit(2); }
    }
    lat_us[lat_n++] = (uint32_t)(ns / 1000);
}

static int cmp_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static unsigned long pct(double p) {
    if (!lat_n) return 0;
    size_t i = (size_t)(p / 100.0 * (double)(lat_n - 1) + 0.5);
    return lat_us[i];
}

static int new_session_cb(SSL *ssl, SSL_SESSION *sess) {
    struct conn *c = SSL_get_app_data(ssl);
    if (!c || !opt_resume) return 0;
    if (c->sess) SSL_SESSION_free(c->sess);
    c->sess = sess; /* keep the reference: the newest ticket is offered next */
    return 1;
}

static void conn_close(struct conn *c) {
    if (c->ssl) { SSL_free(c->ssl); c->ssl = NULL; }
    if (c->fd >= 0) { close(c->fd); c->fd = -1; }
    c->state = ST_FREE;
}

static int conn_start(struct conn *c) {
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)opt_port);
    inet_pton(AF_INET, opt_addr, &sa.sin_addr);
    c->t0 = now_ns();
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) { n_err_connect++; return -1; }
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(c->fd, (struct sockaddr *)&sa, sizeof sa) < 0 && errno != EINPROGRESS) {
        n_err_connect++; close(c->fd); c->fd = -1; return -1;
    }
    c->ssl = SSL_new(ctx);
    SSL_set_app_data(c->ssl, c);
    SSL_set_fd(c->ssl, c->fd);
    SSL_set_tlsext_host_name(c->ssl, opt_sni);
    if (opt_resume && c->sess) SSL_set_session(c->ssl, c->sess);
    SSL_set_connect_state(c->ssl);
    c->state = ST_CONNECTING;
    c->woff = 0; c->hdr_len = 0; c->hdr_done = 0; c->clen = -1; c->body = 0; c->chunked = 0;
    memset(c->tail, 0, sizeof c->tail);
    struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT | EPOLLET, .data.ptr = c };
    epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev);
    return 0;
}

/* parse response bytes; returns 1 when the response is complete */
static int consume(struct conn *c, const char *p, size_t n) {
    while (n && !c->hdr_done) {
        if (c->hdr_len >= sizeof c->hdr - 1) { n_err_status++; return 1; }
        c->hdr[c->hdr_len++] = *p++; n--;
        if (c->hdr_len >= 4 && memcmp(c->hdr + c->hdr_len - 4, "\r\n\r\n", 4) == 0) {
            c->hdr_done = 1;
            c->hdr[c->hdr_len] = 0;
            /* "HTTP/1.x 2xx" */
            if (strncmp(c->hdr, "HTTP/1.", 7) != 0 || c->hdr[8] != ' ' || c->hdr[9] != '2')
                if (measuring) n_err_status++;
            for (char *l = strstr(c->hdr, "\r\n"); l; l = strstr(l + 2, "\r\n")) {
                if (!strncasecmp(l + 2, "content-length:", 15)) c->clen = atol(l + 17);
                if (!strncasecmp(l + 2, "transfer-encoding:", 18)) {
                    char *e = strstr(l + 2, "\r\n");
                    char *k = strcasestr(l + 2, "chunked");
                    if (k && (!e || k < e)) c->chunked = 1;
                }
            }
            if (c->clen == 0 && !c->chunked) return 1;
        }
    }
    if (!c->hdr_done) return 0;
    if (n) {
        c->body += (long)n;
        if (c->chunked) {
            size_t k = n < 5 ? n : 5;
            memmove(c->tail, c->tail + k, 5 - k);
            memcpy(c->tail + 5 - k, p + n - k, k);
            if (memcmp(c->tail, "0\r\n\r\n", 5) == 0) return 1;
        }
    }
    if (!c->chunked && c->clen >= 0 && c->body >= c->clen) return 1;
    return 0;
}

static void on_done(struct conn *c, int ok) {
    uint64_t t = now_ns();
    in_flight--;
    /* a session stays resumable only if the connection is marked shut down before SSL_free() */
    if (ok && c->ssl) SSL_set_shutdown(c->ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
    if (ok && measuring) { n_done++; lat_add(t - c->t0); }
    conn_close(c);
    if (measuring && t < t_end_ns && conn_start(c) == 0) in_flight++;
}

#define ERR(counter) do { if (measuring) (counter)++; on_done(c, 0); return; } while (0)

static void drive(struct conn *c) {
    char buf[16384];
    for (;;) {
        switch (c->state) {
        case ST_CONNECTING: {
            int err = 0; socklen_t l = sizeof err;
            getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l);
            if (err == EINPROGRESS || err == EALREADY) return;
            if (err) ERR(n_err_connect);
            c->state = ST_HANDSHAKE;
            break;
        }
        case ST_HANDSHAKE: {
            ERR_clear_error();
            int r = SSL_do_handshake(c->ssl);
            if (r == 1) {
                if (SSL_session_reused(c->ssl) && measuring) n_resumed++;
                c->state = ST_WRITE;
                break;
            }
            int e = SSL_get_error(c->ssl, r);
            if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return;
            if (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0 && errno == EAGAIN) return;
            ERR(n_err_tls);
        }
        case ST_WRITE: {
            ERR_clear_error();
            int r = SSL_write(c->ssl, req + c->woff, (int)(req_len - c->woff));
            if (r > 0) { c->woff += (size_t)r; if (c->woff == req_len) c->state = ST_READ; break; }
            int e = SSL_get_error(c->ssl, r);
            if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return;
            ERR(n_err_write);
        }
        case ST_READ: {
            ERR_clear_error();
            int r = SSL_read(c->ssl, buf, sizeof buf);
            if (r > 0) {
                if (consume(c, buf, (size_t)r)) { on_done(c, 1); return; }
                break;
            }
            int e = SSL_get_error(c->ssl, r);
            if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return;
            /* EOF: complete only if no length was announced and the head was read */
            if (c->clen < 0 && !c->chunked && c->hdr_done) { on_done(c, 1); return; }
            ERR(n_err_read);
        }
        default:
            return;
        }
    }
}

static void usage(void) {
    fprintf(stderr, "usage: tlsload -p port [-a 127.0.0.1] [-c conc] [-d secs] [-r] [-v 12|13] [-u path]\n"
                    "               [-H host-header] [-s sni] [-T hard_deadline_secs]\n");
    exit(2);
}

int main(int argc, char **argv) {
    int o;
    while ((o = getopt(argc, argv, "a:p:c:d:rv:u:H:s:T:")) != -1) {
        switch (o) {
        case 'a': opt_addr = optarg; break;
        case 'p': opt_port = atoi(optarg); break;
        case 'c': opt_conc = atoi(optarg); break;
        case 'd': opt_dur = atof(optarg); break;
        case 'r': opt_resume = 1; break;
        case 'v': opt_tls = atoi(optarg); break;
        case 'u': opt_path = optarg; break;
        case 'H': opt_host = optarg; break;
        case 's': opt_sni = optarg; break;
        case 'T': opt_deadline = atof(optarg); break;
        default: usage();
        }
    }
    if (opt_port <= 0 || opt_port > 65535 || opt_conc < 1 || opt_dur <= 0 || (opt_tls != 12 && opt_tls != 13))
        usage();
    if (strncmp(opt_addr, "127.", 4) != 0) {
        fprintf(stderr, "tlsload: refusing non-loopback address %s\n", opt_addr);
        return 2;
    }
    if (opt_deadline <= 0) opt_deadline = opt_dur + 30;
    if (!opt_host) opt_host = opt_sni;
    signal(SIGPIPE, SIG_IGN);

    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) { rl.rlim_cur = rl.rlim_max; setrlimit(RLIMIT_NOFILE, &rl); }

    snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: tlsload\r\nConnection: close\r\n\r\n",
             opt_path, opt_host);
    req_len = strlen(req);

    ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx) { fprintf(stderr, "tlsload: SSL_CTX_new failed\n"); return 2; }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);   /* self-signed bench certificate */
    int v = opt_tls == 12 ? TLS1_2_VERSION : TLS1_3_VERSION;
    SSL_CTX_set_min_proto_version(ctx, v);
    SSL_CTX_set_max_proto_version(ctx, v);
    static const unsigned char alpn[] = "\x08http/1.1";
    SSL_CTX_set_alpn_protos(ctx, alpn, sizeof alpn - 1);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(ctx, new_session_cb);

    epfd = epoll_create1(EPOLL_CLOEXEC);
    conns = calloc((size_t)opt_conc, sizeof *conns);
    if (epfd < 0 || !conns) { perror("tlsload"); return 2; }
    for (int i = 0; i < opt_conc; i++) conns[i].fd = -1;

    uint64_t t_start = now_ns();
    uint64_t hard = t_start + (uint64_t)(opt_deadline * 1e9);
    t_end_ns = t_start + (uint64_t)(opt_dur * 1e9);
    if (t_end_ns > hard) t_end_ns = hard;
    for (int i = 0; i < opt_conc; i++)
        if (conn_start(&conns[i]) == 0) in_flight++;
    struct epoll_event evs[256];
    while (now_ns() < t_end_ns) {
        int n = epoll_wait(epfd, evs, 256, 20);
        for (int i = 0; i < n; i++) drive((struct conn *)evs[i].data.ptr);
        /* refill slots whose restart failed (connect error) */
        for (int i = 0; i < opt_conc && in_flight < opt_conc && now_ns() < t_end_ns; i++)
            if (conns[i].state == ST_FREE && conn_start(&conns[i]) == 0) in_flight++;
    }
    double el = (double)(now_ns() - t_start) / 1e9;
    /* let the connections in flight finish (not counted), at most 2 s and never past -T;
     * the ones still open then were stuck: counted as timeouts */
    measuring = 0;
    uint64_t grace = now_ns() + 2000000000ull;
    if (grace > hard) grace = hard;
    while (in_flight > 0 && now_ns() < grace) {
        int n = epoll_wait(epfd, evs, 256, 20);
        for (int i = 0; i < n; i++) drive((struct conn *)evs[i].data.ptr);
    }
    unsigned long stuck = in_flight > 0 ? (unsigned long)in_flight : 0;
    qsort(lat_us, lat_n, sizeof *lat_us, cmp_u32);
    printf("RESULT requests=%llu duration_us=%.0f resumed=%llu err_connect=%llu err_tls=%llu err_read=%llu "
           "err_write=%llu err_status=%llu err_timeout=%lu p50_us=%lu p90_us=%lu p99_us=%lu max_us=%lu "
           "tls=1.%d resume=%d conc=%d\n",
           (unsigned long long)n_done, el * 1e6, (unsigned long long)n_resumed,
           (unsigned long long)n_err_connect, (unsigned long long)n_err_tls, (unsigned long long)n_err_read,
           (unsigned long long)n_err_write, (unsigned long long)n_err_status, stuck,
           pct(50), pct(90), pct(99), lat_n ? (unsigned long)lat_us[lat_n - 1] : 0ul,
           opt_tls == 12 ? 2 : 3, opt_resume, opt_conc);
    for (int i = 0; i < opt_conc; i++) conn_close(&conns[i]);
    return 0;
}
