// Shipped with softswitch for scripts/bench_media, which builds it with cc at run time; copied
// unchanged from the project's shared bench tools (no licence note there).
// rtpgen.c - bounded RTP load generator, loopback (127.0.0.1) only.
// usage: rtpgen N RELAY_BASE GEN_A GEN_B DURATION_S [PKT_BYTES=172] [PPS_PER_DIR=50] [LATE_MS=50]
// Simulates N calls, each sending PPS_PER_DIR packets/s in each direction (G.711/20ms => 50 pps,
// 172-byte UDP payload = 12 B RTP header + 160 B audio).
// Caller side: socket 127.0.0.1:GEN_A sends call i's packets to relay leg A (RELAY_BASE+2i).
// Callee side: socket 127.0.0.1:GEN_B sends call i's packets to relay leg B (RELAY_BASE+2i+1).
// The relay forwards A->GEN_B and B->GEN_A. Payload carries call id, direction, seq, send time.
// Pacing: the 20 ms period is cut into 1 ms slots; call i sends in slot i % (1000/PPS) (phases spread).
// After DURATION_S it stops sending, drains for 500 ms and reports sent/received/loss, packets
// later than LATE_MS (useless to a jitter buffer), one-way latency percentiles, and its own CPU.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAXB 1024
#define HBUCKETS 2000000 /* 1 us buckets up to 2 s */
static uint32_t hist[HBUCKETS];
static uint64_t hist_over;

static inline uint64_t now_ns(void) {
    struct timespec ts; clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static int mksock(int port) {
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    int b = 4 * 1024 * 1024;
    setsockopt(s, SOL_SOCKET, SO_RCVBUF, &b, sizeof b);
    setsockopt(s, SOL_SOCKET, SO_SNDBUF, &b, sizeof b);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    if (bind(s, (struct sockaddr *)&a, sizeof a) < 0) { perror("bind"); exit(1); }
    return s;
}

struct pl { uint8_t rtp[12]; uint32_t call; uint32_t dir; uint64_t t_ns; };

int main(int argc, char **argv) {
    if (argc < 6) { fprintf(stderr, "usage: %s N RELAY_BASE GEN_A GEN_B DURATION_S [PKT=172] [PPS=50] [LATE_MS=50]\n", argv[0]); return 2; }
    int n = atoi(argv[1]), rbase = atoi(argv[2]), ga = atoi(argv[3]), gb = atoi(argv[4]);
    double dur = atof(argv[5]);
    int pkt = argc > 6 ? atoi(argv[6]) : 172, pps = argc > 7 ? atoi(argv[7]) : 50;
    int late_ms = argc > 8 ? atoi(argv[8]) : 50;
    if (dur <= 0 || dur > 120 || n <= 0 || n > 20000 || pkt < 32 || pkt > 1400) { fprintf(stderr, "bounds\n"); return 2; }
    int period_ms = 1000 / pps, nslots = period_ms;
    int sa = mksock(ga), sb = mksock(gb);
    struct sockaddr_in *dst = calloc(2 * n, sizeof *dst);
    for (int i = 0; i < 2 * n; i++) {
        dst[i].sin_family = AF_INET; dst[i].sin_port = htons(rbase + i);
        inet_pton(AF_INET, "127.0.0.1", &dst[i].sin_addr);
    }
    const char *pm = getenv("RTPGEN_PORTMAP"); /* optional: 2N lines, relay port for (call i, dir) */
    if (pm) {
        FILE *f = fopen(pm, "r"); if (!f) { perror("portmap"); return 2; }
        for (int i = 0; i < 2 * n; i++) { int p; if (fscanf(f, "%d", &p) != 1) { fprintf(stderr, "portmap short\n"); return 2; } dst[i].sin_port = htons(p); }
        fclose(f);
    }
    uint16_t *seq = calloc(2 * n, sizeof *seq);
    uint64_t sent[2] = {0, 0}, rcvd[2] = {0, 0}, late = 0, sendfail = 0, late_slots = 0;
    static uint8_t sbuf[MAXB][1500], rbuf[MAXB][1500];
    static struct mmsghdr smsg[MAXB], rmsg[MAXB];
    static struct iovec siov[MAXB], riov[MAXB];
    for (int k = 0; k < MAXB; k++) {
        siov[k].iov_base = sbuf[k]; siov[k].iov_len = pkt;
        smsg[k].msg_hdr.msg_iov = &siov[k]; smsg[k].msg_hdr.msg_iovlen = 1;
        smsg[k].msg_hdr.msg_namelen = sizeof(struct sockaddr_in);
        riov[k].iov_base = rbuf[k]; riov[k].iov_len = 1500;
        rmsg[k].msg_hdr.msg_iov = &riov[k]; rmsg[k].msg_hdr.msg_iovlen = 1;
    }
    uint64_t t0 = now_ns(), tend = t0 + (uint64_t)(dur * 1e9), slot_ns = 1000000ull;
    uint64_t next = t0; long slot = 0;
    int sending = 1; uint64_t drain_end = 0;
    struct pollfd pfd[2] = {{.fd = sa, .events = POLLIN}, {.fd = sb, .events = POLLIN}};
    for (;;) {
        uint64_t now = now_ns();
        if (sending && now >= tend) { sending = 0; drain_end = now + 500000000ull; }
        if (!sending && now >= drain_end) break;
        if (sending && now >= next) {
            if (now - next > 5 * slot_ns) late_slots++;
            int s = slot % nslots;
            for (int dir = 0; dir < 2; dir++) {
                int cnt = 0;
                for (int i = s; i < n; i += nslots) {
                    if (cnt == MAXB) break;
                    struct pl *p = (struct pl *)sbuf[cnt];
                    int idx = 2 * i + dir;
                    p->rtp[0] = 0x80; p->rtp[1] = 0; uint16_t q = htons(seq[idx]++); memcpy(p->rtp + 2, &q, 2);
                    uint32_t ssrc = htonl(idx); memcpy(p->rtp + 8, &ssrc, 4);
                    p->call = i; p->dir = dir; p->t_ns = now_ns();
                    smsg[cnt].msg_hdr.msg_name = &dst[idx];
                    cnt++;
                }
                int off = 0;
                while (off < cnt) {
                    int r = sendmmsg(dir == 0 ? sa : sb, smsg + off, cnt - off, 0);
                    if (r < 0) { if (errno == EINTR) continue; sendfail += cnt - off; break; }
                    off += r;
                }
                sent[dir] += off;
            }
            slot++; next += slot_ns;
        }
        uint64_t wait_until = sending ? next : drain_end;
        now = now_ns();
        struct timespec to = {0, 0};
        if (wait_until > now) { uint64_t d = wait_until - now; to.tv_sec = d / 1000000000ull; to.tv_nsec = d % 1000000000ull; }
        int pr = ppoll(pfd, 2, &to, NULL);
        if (pr <= 0) continue;
        for (int f = 0; f < 2; f++) {
            if (!(pfd[f].revents & POLLIN)) continue;
            for (;;) {
                int r = recvmmsg(pfd[f].fd, rmsg, MAXB, MSG_DONTWAIT, NULL);
                if (r <= 0) break;
                uint64_t tr = now_ns();
                for (int k = 0; k < r; k++) {
                    struct pl *p = (struct pl *)rbuf[k];
                    int dir = p->dir & 1;
                    rcvd[dir]++;
                    uint64_t lat = (tr - p->t_ns) / 1000;
                    if (lat < HBUCKETS) hist[lat]++; else hist_over++;
                    if (lat > (uint64_t)late_ms * 1000) late++;
                }
                if (r < MAXB) break;
            }
        }
    }
    uint64_t S = sent[0] + sent[1], R = rcvd[0] + rcvd[1];
    double pct[4] = {0.5, 0.99, 0.999, 1.0}; uint64_t pv[4] = {0}; int pi = 0; uint64_t acc = 0;
    for (uint64_t b = 0; b < HBUCKETS && pi < 4; b++) {
        acc += hist[b];
        while (pi < 4 && R && acc >= (uint64_t)(pct[pi] * R + 0.5 > R ? R : pct[pi] * R + 0.5)) { pv[pi++] = b; }
    }
    struct rusage ru; getrusage(RUSAGE_SELF, &ru);
    double cpu = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
    double el = (now_ns() - t0) / 1e9;
    printf("{\"calls\": %d, \"pps_offered\": %d, \"sent\": %lu, \"received\": %lu, \"lost\": %ld, \"loss_pct\": %.4f, "
           "\"late_gt_%dms\": %lu, \"eff_loss_pct\": %.4f, \"lat_p50_us\": %lu, \"lat_p99_us\": %lu, \"lat_p999_us\": %lu, "
           "\"lat_max_us\": %lu, \"send_fail\": %lu, \"late_slots\": %lu, \"gen_cpu_pct\": %.1f, \"elapsed_s\": %.2f}\n",
           n, 2 * n * pps, S, R, (long)(S - R), S ? 100.0 * (double)(S - R) / S : 0, late_ms, late,
           S ? 100.0 * (double)(S - R + late) / S : 0, pv[0], pv[1], pv[2], hist_over ? 999999999ul : pv[3],
           sendfail, late_slots, 100.0 * cpu / el, el);
    return 0;
}
