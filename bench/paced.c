/* Many concurrent SSE chat streams, each chunk timed: the client of the paced-stream
 * benchmark (bench/load.py builds it with `cc -O2` and falls back to its Python twin).
 *
 *   paced HOST PORT PATH STREAMS CHUNKS INTERVAL_MS DEADLINE_S
 *
 * Opens STREAMS connections to HOST:PORT, POSTs a streamed chat for model
 * pace-CHUNKS-INTERVAL_MS on each, and reads them all with epoll. The benchmark server
 * puts each chunk's send time (CLOCK_MONOTONIC, ns) in its text; for every chunk this
 * records when its event was complete here. Prints one line of JSON: per-chunk latency
 * p50/p99/max (s), p99 of |gap - interval| between a stream's chunks (s), chunks
 * received and lost, streams that did not answer 200, and this client's CPU per chunk.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    int fd, status, done;
    char buf[65536];
    size_t len;
    long long *sent, *arrived;
    int count;
} conn_t;

static long long now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double pct(double *v, size_t n, double q) {
    if (!n) return -1;
    size_t i = (size_t)(n * q);
    return v[i < n ? i : n - 1];
}

/* Take every complete event ("\n\n") in the buffer; keep the rest. */
static void events(conn_t *c, long long t, int chunks) {
    char *start = c->buf, *end;
    if (!c->status && c->len >= 12 && !memcmp(c->buf, "HTTP/1.1 ", 9))
        c->status = atoi(c->buf + 9);
    while ((end = memmem(start, c->len - (start - c->buf), "\n\n", 2))) {
        char *p = memmem(start, end - start, "\"content\":", 10);
        if (p) {
            p += 10;
            while (*p == ' ') p++;
            if (*p == '"' && p[1] >= '0' && p[1] <= '9' && c->count < chunks) {
                c->sent[c->count] = atoll(p + 1);
                c->arrived[c->count++] = t;
            }
        }
        if (memmem(start, end - start, "[DONE]", 6) || memmem(start, end - start, "\"error\"", 7))
            c->done = 1;
        start = end + 2;
    }
    c->len -= start - c->buf;
    memmove(c->buf, start, c->len);
}

int main(int argc, char **argv) {
    if (argc != 8) {
        fprintf(stderr, "usage: paced HOST PORT PATH STREAMS CHUNKS INTERVAL_MS DEADLINE_S\n");
        return 2;
    }
    const char *host = argv[1], *path = argv[3];
    int port = atoi(argv[2]), streams = atoi(argv[4]), chunks = atoi(argv[5]);
    int interval = atoi(argv[6]);
    double deadline = atof(argv[7]);
    struct rlimit lim;
    getrlimit(RLIMIT_NOFILE, &lim);
    lim.rlim_cur = lim.rlim_max;
    setrlimit(RLIMIT_NOFILE, &lim);

    char body[256], req[1024];
    int blen = snprintf(body, sizeof body,
        "{\"model\":\"pace-%d-%d\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],"
        "\"stream\":true}", chunks, interval);
    int rlen = snprintf(req, sizeof req,
        "POST %s/v1/chat/completions HTTP/1.1\r\nhost: %s:%d\r\n"
        "content-type: application/json\r\nauthorization: Bearer bench\r\n"
        "content-length: %d\r\n\r\n%s", path, host, port, blen, body);

    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, host, &addr.sin_addr);
    int ep = epoll_create1(0);
    conn_t *conns = calloc(streams, sizeof *conns);
    struct timespec cpu0;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu0);
    for (int i = 0; i < streams; i++) {
        conn_t *c = &conns[i];
        c->sent = calloc(chunks, sizeof(long long));
        c->arrived = calloc(chunks, sizeof(long long));
        c->fd = socket(AF_INET, SOCK_STREAM, 0);
        int one = 1;
        setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (connect(c->fd, (struct sockaddr *)&addr, sizeof addr) < 0) { perror("connect"); return 1; }
        if (write(c->fd, req, rlen) != rlen) { perror("write"); return 1; }
        fcntl(c->fd, F_SETFL, O_NONBLOCK);
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
    }
    long long stop = now_ns() + (long long)(deadline * 1e9);
    int open = streams;
    struct epoll_event evs[256];
    while (open > 0 && now_ns() < stop) {
        int n = epoll_wait(ep, evs, 256, 100);
        long long t = now_ns();
        for (int k = 0; k < n; k++) {
            conn_t *c = evs[k].data.ptr;
            for (;;) {
                ssize_t got = read(c->fd, c->buf + c->len, sizeof c->buf - c->len);
                if (got > 0) { c->len += got; events(c, t, chunks); if (c->len == sizeof c->buf) c->len = 0; continue; }
                if (got == 0 || (errno != EAGAIN && errno != EINTR)) c->done = 1;
                break;
            }
            if (c->done) { epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL); close(c->fd); c->fd = -1; open--; }
        }
    }
    struct timespec cpu1;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu1);
    double cpu = (cpu1.tv_sec - cpu0.tv_sec) + (cpu1.tv_nsec - cpu0.tv_nsec) / 1e9;

    size_t total = 0, ngaps = 0;
    int failed = 0;
    for (int i = 0; i < streams; i++) { total += conns[i].count; failed += conns[i].status != 200; }
    double *lat = malloc((total + 1) * sizeof(double)), *gaps = malloc((total + 1) * sizeof(double));
    size_t j = 0;
    for (int i = 0; i < streams; i++) {
        conn_t *c = &conns[i];
        for (int k = 0; k < c->count; k++) {
            lat[j++] = (c->arrived[k] - c->sent[k]) / 1e9;
            if (k) {
                double gap = (c->arrived[k] - c->arrived[k - 1]) / 1e9 - interval / 1000.0;
                gaps[ngaps++] = gap < 0 ? -gap : gap;
            }
        }
    }
    qsort(lat, total, sizeof(double), cmp);
    qsort(gaps, ngaps, sizeof(double), cmp);
    printf("{\"p50\": %.9f, \"p99\": %.9f, \"max\": %.9f, \"gap_p99\": %.9f, \"received\": %zu, "
           "\"lost\": %lld, \"failed_streams\": %d, \"client_cpu_per_chunk\": %.9f}\n",
           pct(lat, total, 0.5), pct(lat, total, 0.99), total ? lat[total - 1] : -1,
           pct(gaps, ngaps, 0.99), total, (long long)streams * chunks - (long long)total,
           failed, total ? cpu / total : -1);
    return 0;
}
