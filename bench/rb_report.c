/*
 * rb_report.c - the final summary of rend-bench: text, JSON (--json) and an
 * SVG chart of throughput and latency over time (--plot).
 */
#include "rb.h"

#include <math.h>
#include <string.h>

uint64_t
rb_total_errors(const struct rb_counts *c)
{
    uint64_t n = 0;

    for (int e = 0; e < RB_E__COUNT; e++) {
        n += c->err[e];
    }
    return n;
}

uint64_t
rb_mismatches(const struct rb_counts *c)
{
    uint64_t n = 0;

    for (int e = 0; e <= RB_E_MISMATCH_LAST; e++) {
        n += c->err[e];
    }
    return n + c->err[RB_E_PROTO];
}

static const char *
proto_name(void)
{
    return rb_opt.proto == RB_BINARY ? "binary"
           : rb_opt.proto == RB_META ? "meta" : "text";
}

static void
server_name(char *out, size_t n)
{
    if (rb_opt.unix_path != NULL) {
        snprintf(out, n, "%s", rb_opt.unix_path);
    } else {
        snprintf(out, n, "%s:%s", rb_opt.host, rb_opt.port);
    }
}

static const char *
dist_name(void)
{
    return rb_opt.dist == RB_D_ZIPF ? "zipfian"
           : rb_opt.dist == RB_D_SEQ ? "sequential" : "uniform";
}

static void
sizes_desc(char *out, size_t n)
{
    const struct rb_sizes *s = &rb_opt.vsize;
    size_t o = 0;

    if (rb_opt.mode == RB_M_SIZES) {
        snprintf(out, n, "0..%u bytes in steps of %u", rb_opt.size_max,
                 rb_opt.size_step);
        return;
    }
    if (s->n == 0) {
        snprintf(out, n, "%u..%u bytes (uniform)", s->lo, s->hi);
        return;
    }
    if (s->n == 1) {
        snprintf(out, n, "%u bytes", s->size[0]);
        return;
    }
    for (unsigned i = 0; i < s->n && o < n; i++) {
        o += (size_t)snprintf(out + o, n - o, "%s%u:%u", i ? "," : "",
                              s->size[i],
                              s->cum[i] - (i ? s->cum[i - 1] : 0));
    }
}

static uint64_t
keys_read(const struct rb_counts *c)
{
    return c->hit[RB_GET] + c->miss[RB_GET] + c->hit[RB_MGET]
           + c->miss[RB_MGET];
}

static double
us(const struct rb_hist *h, double q)
{
    return (double)rb_hist_quantile(h, q) / 1e3;
}

/* One row of the per-op table; hit and miss columns blank when both 0. */
static void
op_row(FILE *f, const char *name, const struct rb_hist *h, uint64_t n,
       uint64_t hit, uint64_t miss)
{
    char hs[24] = "", ms[24] = "";

    if (hit + miss > 0) {
        snprintf(hs, sizeof(hs), "%llu", (unsigned long long)hit);
        snprintf(ms, sizeof(ms), "%llu", (unsigned long long)miss);
    }
    fprintf(f, "%-13s %10llu %10s %10s %8.3f %8.3f %8.3f %8.3f %8.3f %8.3f "
            "%8.3f %8.3f\n", name, (unsigned long long)n, hs, ms,
            h->count ? (double)h->min / 1e6 : 0, rb_hist_mean(h) / 1e6,
            us(h, 0.5) / 1e3, us(h, 0.75) / 1e3, us(h, 0.9) / 1e3,
            us(h, 0.95) / 1e3, us(h, 0.99) / 1e3, (double)h->max / 1e6);
}

void
rb_report_text(FILE *f, const struct rb_result *r)
{
    const struct rb_counts *c = &r->c;
    uint64_t reads = keys_read(c), hits = c->hit[RB_GET] + c->hit[RB_MGET];
    uint64_t errors = rb_total_errors(c);
    char srv[300], sz[200];

    server_name(srv, sizeof(srv));
    sizes_desc(sz, sizeof(sz));
    fprintf(f, "rend-bench %s: %s, %s protocol, %u connections x depth %u "
            "on %u thread%s, %s\n", rb_opt.cmd, srv, proto_name(),
            rb_opt.conns, rb_opt.depth, rb_opt.threads,
            rb_opt.threads == 1 ? "" : "s",
            rb_opt.rate > 0 ? "open loop" : "closed loop");
    if (rb_opt.rate > 0) {
        fprintf(f, "rate        %.0f requests/s scheduled (latency from the "
                "scheduled time)\n", rb_opt.rate);
    }
    fprintf(f, "workload    %llu keys (%s), values %s", (unsigned long long)
            rb_opt.nkeys, dist_name(), sz);
    if (rb_opt.mode == RB_M_BENCH) {
        fprintf(f, ", get ratio %.2f, multi-get %u", rb_opt.get_ratio,
                rb_opt.mget);
    }
    fprintf(f, "\nmeasured    %.2f s (prefill %.2f s, warm-up %.2f s)\n",
            r->secs, r->prefill_secs, rb_opt.warmup);
    fprintf(f, "throughput  %.0f ops/s (%llu requests, %llu keys)\n",
            (double)c->reqs / r->secs, (unsigned long long)c->reqs,
            (unsigned long long)c->keys);
    fprintf(f, "hit ratio   %.4f (%llu hits of %llu keys read)\n",
            reads ? (double)hits / (double)reads : 0,
            (unsigned long long)hits, (unsigned long long)reads);
    fprintf(f, "latency     p50 %.1f us  p90 %.1f us  p99 %.1f us  "
            "p99.9 %.1f us  max %.1f us\n", us(&r->all, 0.5),
            us(&r->all, 0.9), us(&r->all, 0.99), us(&r->all, 0.999),
            (double)r->all.max / 1e3);
    fprintf(f, "errors      %llu (", (unsigned long long)errors);
    for (int e = 0; e < RB_E__COUNT; e++) {
        fprintf(f, "%s%s %llu", e ? ", " : "", rb_err_name(e),
                (unsigned long long)c->err[e]);
    }
    fprintf(f, ")\n");
    if (c->too_large > 0) {
        fprintf(f, "too large   %llu values refused by the server\n",
                (unsigned long long)c->too_large);
    }
    if (c->gone > 0) {
        fprintf(f, "gone        %llu keys missing that should exist (evicted "
                "or lost; --strict makes this an error)\n",
                (unsigned long long)c->gone);
    }
    if (c->verified > 0) {
        fprintf(f, "verified    %llu keys read back at the end\n",
                (unsigned long long)c->verified);
    }
    fprintf(f, "client cpu  %.1f%% of one core\n", r->cpu * 100);
    fprintf(f, "\n%-13s %10s %10s %10s %8s %8s %8s %8s %8s %8s %8s %8s\n",
            "op", "requests", "hit/ok", "miss/not", "min ms", "avg ms",
            "p50 ms", "p75 ms", "p90 ms", "p95 ms", "p99 ms", "max ms");
    for (int op = 0; op < RB_OP__COUNT; op++) {
        struct rb_hist h;

        if (c->op[op] == 0) {
            continue;
        }
        memset(&h, 0, sizeof(h));
        rb_hist_merge(&h, &r->oh->h[op][0]);
        rb_hist_merge(&h, &r->oh->h[op][1]);
        op_row(f, rb_op_name(op), &h, c->op[op], c->hit[op], c->miss[op]);
        /* Rend's blast/setops report hits and misses apart */
        if (rb_opt.mode != RB_M_BENCH && r->oh->h[op][1].count > 0) {
            char name[32];

            snprintf(name, sizeof(name), "%s hits", rb_op_name(op));
            op_row(f, name, &r->oh->h[op][0], r->oh->h[op][0].count, 0, 0);
            snprintf(name, sizeof(name), "%s misses", rb_op_name(op));
            op_row(f, name, &r->oh->h[op][1], r->oh->h[op][1].count, 0, 0);
        }
    }
    fprintf(f, "\nRESULT ops_s=%.0f ops=%llu p50_us=%.1f p99_us=%.1f "
            "p999_us=%.1f max_us=%.1f errors=%llu mismatches=%llu "
            "hit_ratio=%.4f gets=%llu sets=%llu replies=%llu "
            "client_cpu_pct=%.1f keys=%llu keys_s=%.0f\n",
            (double)c->reqs / r->secs,
            (unsigned long long)c->reqs, us(&r->all, 0.5), us(&r->all, 0.99),
            us(&r->all, 0.999), (double)r->all.max / 1e3,
            (unsigned long long)errors,
            (unsigned long long)rb_mismatches(c),
            reads ? (double)hits / (double)reads : 0,
            (unsigned long long)(c->op[RB_GET] + c->op[RB_MGET]),
            (unsigned long long)c->op[RB_SET], (unsigned long long)c->replies,
            r->cpu * 100, (unsigned long long)c->keys,
            (double)c->keys / r->secs);
    fprintf(f, "%s\n", rb_mismatches(c) ? "VERDICT mismatch: the server "
            "returned wrong data (see the MISMATCH / PROTOCOL lines)"
            : errors ? "VERDICT errors: no wrong data, but errors were counted"
            : "VERDICT ok: every reply verified");
}

static void
json_lat(FILE *f, const struct rb_hist *h)
{
    fprintf(f, "{\"count\":%llu,\"min\":%.1f,\"mean\":%.1f,\"p50\":%.1f,"
            "\"p75\":%.1f,\"p90\":%.1f,\"p95\":%.1f,\"p99\":%.1f,"
            "\"p999\":%.1f,\"max\":%.1f}", (unsigned long long)h->count,
            h->count ? (double)h->min / 1e3 : 0, rb_hist_mean(h) / 1e3,
            us(h, 0.5), us(h, 0.75), us(h, 0.9), us(h, 0.95), us(h, 0.99),
            us(h, 0.999), (double)h->max / 1e3);
}

static void
json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') {
            fputc('\\', f);
        }
        if ((unsigned char)*s < 32) {
            fprintf(f, "\\u%04x", (unsigned char)*s);
        } else {
            fputc(*s, f);
        }
    }
    fputc('"', f);
}

void
rb_report_json(FILE *f, const struct rb_result *r)
{
    const struct rb_counts *c = &r->c;
    uint64_t reads = keys_read(c), hits = c->hit[RB_GET] + c->hit[RB_MGET];
    char srv[300];
    int first = 1;

    server_name(srv, sizeof(srv));
    fprintf(f, "{\"command\":");
    json_str(f, rb_opt.cmd);
    fprintf(f, ",\"server\":");
    json_str(f, srv);
    fprintf(f, ",\"protocol\":\"%s\",\"connections\":%u,\"threads\":%u,"
            "\"depth\":%u,\"loop\":\"%s\",\"rate\":%.0f,\"keys\":%llu,"
            "\"distribution\":\"%s\",\"seconds\":%.3f,\"prefill_seconds\":%.3f,"
            "\"warmup_seconds\":%.3f,\"requests\":%llu,\"keys_accessed\":%llu,"
            "\"ops_per_sec\":%.1f,\"hits\":%llu,\"keys_read\":%llu,"
            "\"hit_ratio\":%.6f,\"too_large\":%llu,\"verified\":%llu,\"gone\":%llu,"
            "\"client_cpu\":%.4f,"
            "\"latency_us\":", proto_name(), rb_opt.conns, rb_opt.threads,
            rb_opt.depth, rb_opt.rate > 0 ? "open" : "closed", rb_opt.rate,
            (unsigned long long)rb_opt.nkeys, dist_name(), r->secs,
            r->prefill_secs, rb_opt.warmup, (unsigned long long)c->reqs,
            (unsigned long long)c->keys, (double)c->reqs / r->secs,
            (unsigned long long)hits, (unsigned long long)reads,
            reads ? (double)hits / (double)reads : 0,
            (unsigned long long)c->too_large,
            (unsigned long long)c->verified, (unsigned long long)c->gone,
            r->cpu);
    json_lat(f, &r->all);
    fprintf(f, ",\"errors\":{\"total\":%llu", (unsigned long long)
            rb_total_errors(c));
    for (int e = 0; e < RB_E__COUNT; e++) {
        fprintf(f, ",\"%s\":%llu", rb_err_name(e),
                (unsigned long long)c->err[e]);
    }
    fprintf(f, "},\"mismatches\":%llu,\"ops\":{",
            (unsigned long long)rb_mismatches(c));
    for (int op = 0; op < RB_OP__COUNT; op++) {
        struct rb_hist h;

        if (c->op[op] == 0) {
            continue;
        }
        memset(&h, 0, sizeof(h));
        rb_hist_merge(&h, &r->oh->h[op][0]);
        rb_hist_merge(&h, &r->oh->h[op][1]);
        fprintf(f, "%s\"%s\":{\"requests\":%llu,\"hits\":%llu,\"misses\":%llu,"
                "\"latency_us\":", first ? "" : ",", rb_op_name(op),
                (unsigned long long)c->op[op], (unsigned long long)c->hit[op],
                (unsigned long long)c->miss[op]);
        json_lat(f, &h);
        fputc('}', f);
        first = 0;
    }
    fprintf(f, "},\"samples\":[");
    for (unsigned i = 0; i < r->nsamples; i++) {
        const struct rb_sample *s = &r->samples[i];

        fprintf(f, "%s{\"t\":%.3f,\"ops_per_sec\":%.1f,\"errors\":%llu,"
                "\"misses\":%llu,\"p50_us\":%.1f,\"p99_us\":%.1f}",
                i ? "," : "", s->t, s->ops_s, (unsigned long long)s->errors,
                (unsigned long long)s->misses, s->p50_us, s->p99_us);
    }
    fprintf(f, "],\"ok\":%s}\n", rb_total_errors(c) ? "false" : "true");
}

/* ---- SVG ------------------------------------------------------------ */

#define W 900
#define PH 220      /* panel height */
#define ML 90       /* left margin */
#define MR 30
#define MT 50

/* A round step for an axis from 0 to max in about 5 ticks. */
static double
nice_step(double max)
{
    double raw = max / 5, p, m;

    if (raw <= 0) {
        return 1;
    }
    p = pow(10, floor(log10(raw)));
    m = raw / p;
    return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
}

static void
svg_panel(FILE *f, int top, const char *title, const char *unit, double tmax,
          const struct rb_sample *s, unsigned n, const int *which, int nlines,
          const char *const *names, const char *const *colors)
{
    double ymax = 0, ystep, xstep;
    int pw = W - ML - MR;

    for (unsigned i = 0; i < n; i++) {
        for (int l = 0; l < nlines; l++) {
            double v = which[l] == 0 ? s[i].ops_s
                       : which[l] == 1 ? s[i].p50_us : s[i].p99_us;
            if (v > ymax) {
                ymax = v;
            }
        }
    }
    ystep = nice_step(ymax);
    ymax = ceil(ymax / ystep) * ystep;
    if (ymax <= 0) {
        ymax = ystep;
    }
    xstep = nice_step(tmax);
    fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"14\" font-weight=\"bold\">"
            "%s</text>\n", ML, top - 10, title);
    fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" "
            "fill=\"none\" stroke=\"#888\"/>\n", ML, top, pw, PH);
    for (double y = 0; y <= ymax + ystep / 2; y += ystep) {
        double py = top + PH - y / ymax * PH;
        fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" "
                "stroke=\"#ddd\"/><text x=\"%d\" y=\"%.1f\" font-size=\"11\" "
                "text-anchor=\"end\">%g</text>\n", ML, py, ML + pw, py,
                ML - 6, py + 4, y);
    }
    for (double x = 0; x <= tmax + xstep / 2; x += xstep) {
        double px = ML + x / tmax * pw;
        fprintf(f, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" "
                "stroke=\"#ddd\"/><text x=\"%.1f\" y=\"%d\" font-size=\"11\" "
                "text-anchor=\"middle\">%g s</text>\n", px, top, px, top + PH,
                px, top + PH + 15, x);
    }
    fprintf(f, "<text x=\"18\" y=\"%d\" font-size=\"11\" transform=\"rotate("
            "-90 18 %d)\" text-anchor=\"middle\">%s</text>\n", top + PH / 2,
            top + PH / 2, unit);
    for (int l = 0; l < nlines; l++) {
        fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" "
                "points=\"", colors[l]);
        for (unsigned i = 0; i < n; i++) {
            double v = which[l] == 0 ? s[i].ops_s
                       : which[l] == 1 ? s[i].p50_us : s[i].p99_us;
            fprintf(f, "%.1f,%.1f ", ML + s[i].t / tmax * pw,
                    top + PH - v / ymax * PH);
        }
        fprintf(f, "\"/>\n<text x=\"%d\" y=\"%d\" font-size=\"12\" "
                "fill=\"%s\">%s</text>\n", ML + pw - 60 * (nlines - l),
                top - 10, colors[l], names[l]);
    }
}

int
rb_report_svg(const char *path, const struct rb_result *r)
{
    static const int tput[] = { 0 }, lat[] = { 1, 2 };
    static const char *const tn[] = { "ops/s" }, *const ln[] = { "p50",
                                                                  "p99" };
    static const char *const tc[] = { "#1f77b4" }, *const lc[] = { "#2ca02c",
                                                                   "#d62728" };
    FILE *f = fopen(path, "w");
    double tmax = 1;
    char srv[300], title[512];
    int h = MT + 2 * PH + 110;

    if (f == NULL) {
        return -1;
    }
    for (unsigned i = 0; i < r->nsamples; i++) {
        if (r->samples[i].t > tmax) {
            tmax = r->samples[i].t;
        }
    }
    server_name(srv, sizeof(srv));
    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" "
            "height=\"%d\" viewBox=\"0 0 %d %d\" font-family=\"sans-serif\">\n"
            "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
            W, h, W, h);
    snprintf(title, sizeof(title), "rend-bench %s: %s, %s, %u conns x depth "
             "%u, %.0f ops/s", rb_opt.cmd, srv, proto_name(), rb_opt.conns,
             rb_opt.depth, (double)r->c.reqs / r->secs);
    fprintf(f, "<text x=\"%d\" y=\"22\" font-size=\"15\">", ML);
    for (const char *p = title; *p; p++) {
        if (*p == '<') {
            fputs("&lt;", f);
        } else if (*p == '&') {
            fputs("&amp;", f);
        } else {
            fputc(*p, f);
        }
    }
    fprintf(f, "</text>\n");
    svg_panel(f, MT + 20, "Throughput", "requests/s", tmax, r->samples,
              r->nsamples, tput, 1, tn, tc);
    svg_panel(f, MT + PH + 80, "Latency per interval", "microseconds", tmax,
              r->samples, r->nsamples, lat, 2, ln, lc);
    fprintf(f, "</svg>\n");
    return fclose(f) == 0 ? 0 : -1;
}
