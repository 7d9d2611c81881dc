/* cli.c: `portico connections count|list|get ID|kick ID`, against the admin API or the LMDB file.
 */
#include "gateway/ops.h"
#include "common/err.h"
#include "common/mem.h"
#include "common/timefmt.h"

#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/*
 * Two ways to read, one output. Against a running gateway's admin port the CLI calls the admin
 * API (GET /connections..., DELETE /connections/{id}). Against a data directory it opens the
 * LMDB registry read-only, which works while the gateway runs (LMDB readers never block the
 * writer) and needs no port or token; kicking a connection needs the gateway itself, so it
 * goes to the admin port the gateway wrote into DIR/admin.json. Both ways produce the same
 * JSON objects (gw_conn_json), printed as a table or, with --json, as they are.
 *
 * Exit statuses (docs/cli.md): 0 done; 1 the gateway or the registry could not be reached or
 * refused (a wrong token); 2 usage; 3 no such connection (get, kick).
 */

enum { CX_OK = 0, CX_RUNTIME = 1, CX_USAGE = 2, CX_NOTFOUND = 3 };

static const char USAGE[] =
    "usage: portico connections count [FILTERS] [SOURCE] [--json]\n"
    "       portico connections list [FILTERS] [--limit N] [SOURCE] [--json]\n"
    "       portico connections get ID [SOURCE] [--json]\n"
    "       portico connections kick ID [SOURCE] [--json]\n"
    "\n"
    "Counts, lists, shows or closes WebSocket connections of a gateway. kick has the effect of\n"
    "DELETE @connections: the client gets close 1000, $disconnect runs with 1000.\n"
    "\n"
    "SOURCE (where to read; the first that applies):\n"
    "  --admin URL          a running gateway's admin port, e.g. http://127.0.0.1:9080\n"
    "  --data-dir DIR       the registry in DIR, read directly (read-only, works while the\n"
    "                       gateway runs); kick uses the admin port written in DIR/admin.json\n"
    "  -c, --config FILE    the config's server.adminListen (its dataDir when the port is 0)\n"
    "                       and server.adminToken\n"
    "  (none)               $PORTICO_ADMIN, else http://127.0.0.1:9080\n"
    "  --token TOKEN        admin token (server.adminToken); default $PORTICO_ADMIN_TOKEN\n"
    "\n"
    "FILTERS (count, list):\n"
    "  --api ID  --stage NAME  --min-age SECONDS  --max-age SECONDS\n"
    "  --limit N            list at most N connections (default: all)\n"
    "  --json               JSON for scripts instead of a table\n"
    "\n"
    "exit status: 0 done, 1 cannot reach the gateway or registry, 2 usage,\n"
    "             3 no such connection\n";

typedef struct cli {
    const char *admin; /* base URL, or NULL for the registry */
    char *admin_owned;
    const char *dir; /* data directory (registry mode) */
    char *dir_owned;
    const char *token;
    char *token_owned;
    bool json;
    gw_conn_filter_t f;
    long limit; /* 0 = all */
} cli_t;

/* ---- HTTP
 * ---------------------------------------------------------------------------------------- */

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    buf_append(ud, p, size * n);
    return size * n;
}

/* One request; *status is the HTTP status. Returns PT_OK or PT_EIO (message printed). */
static int http_call(const cli_t *c, const char *method, const char *path, long *status,
                     buf_t *body)
{
    CURL *h = curl_easy_init();
    if (!h) {
        fprintf(stderr, "portico: cannot initialise libcurl\n");
        return PT_EIO;
    }
    char url[4096], auth[600];
    size_t bl = strlen(c->admin);
    while (bl && c->admin[bl - 1] == '/')
        bl--;
    snprintf(url, sizeof url, "%.*s%s", (int)bl, c->admin, path);
    struct curl_slist *hdrs = NULL;
    if (c->token) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", c->token);
        hdrs = curl_slist_append(hdrs, auth);
    }
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, body);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 30000L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_PROXY, ""); /* the admin port is local: never via a proxy */
    CURLcode rc = curl_easy_perform(h);
    if (rc == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(h);
    if (rc != CURLE_OK) {
        fprintf(stderr,
                "portico: cannot reach the admin port at %s: %s\n"
                "(is portico running? --data-dir DIR reads the registry directly)\n",
                c->admin, curl_easy_strerror(rc));
        return PT_EIO;
    }
    if (*status == 401) {
        fprintf(stderr, "portico: the admin API refused the token (401): set --token, "
                        "$PORTICO_ADMIN_TOKEN or --config\n");
        return PT_EIO;
    }
    return PT_OK;
}

/* Percent-encodes s into b (unreserved characters kept). */
static void pct(buf_t *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '_' || *p == '.' || *p == '~') {
            buf_putc(b, (char)*p);
        } else {
            buf_putc(b, '%');
            buf_putc(b, hex[*p >> 4]);
            buf_putc(b, hex[*p & 15]);
        }
    }
}

static void filter_query(const cli_t *c, buf_t *q)
{
    if (c->f.api_id) {
        buf_puts(q, "&api=");
        pct(q, c->f.api_id);
    }
    if (c->f.stage) {
        buf_puts(q, "&stage=");
        pct(q, c->f.stage);
    }
    if (c->f.min_age_s >= 0)
        buf_printf(q, "&minAge=%lld", (long long)c->f.min_age_s);
    if (c->f.max_age_s >= 0)
        buf_printf(q, "&maxAge=%lld", (long long)c->f.max_age_s);
}

static json_t *parse_json(const buf_t *b, const char *what)
{
    json_error_t je;
    json_t *j = b->p ? json_loadb(b->p, b->len, 0, &je) : NULL;
    if (!j)
        fprintf(stderr, "portico: the admin API sent malformed JSON for %s\n", what);
    return j;
}

/* ---- the registry
 * ---------------------------------------------------------------------------------- */

static int open_store(const cli_t *c, store_t **st)
{
    char err[512];
    store_opts_t so = {.dir = c->dir, .read_only = true};
    int rc = store_open(&so, st, err, sizeof err);
    if (rc != PT_OK) {
        fprintf(stderr, "portico: %s\n",
                rc == PT_ENOTFOUND ? "no registry in that directory" : err);
        return rc;
    }
    /* Is a gateway running on it? Only a hint: after a crash the registry still lists the
     * connections it had, which the next start sweeps. */
    char path[4200], pid[32] = "";
    snprintf(path, sizeof path, "%s/portico.lock", c->dir);
    FILE *f = fopen(path, "re");
    if (f) {
        if (!fgets(pid, sizeof pid, f))
            pid[0] = '\0';
        fclose(f);
    }
    long p = strtol(pid, NULL, 10);
    if (p <= 0 || (kill((pid_t)p, 0) != 0 && errno == ESRCH))
        fprintf(stderr,
                "portico: note: no gateway is running on %s; these are the connections "
                "it left (its next start removes them)\n",
                c->dir);
    return PT_OK;
}

typedef struct collect {
    const cli_t *c;
    int64_t now;
    json_t *items;
    size_t n;
} collect_t;

static int on_rec(void *ud, const store_conn_t *r)
{
    collect_t *co = ud;
    if (!gw_conn_match(r, &co->c->f, co->now))
        return 0;
    co->n++;
    if (co->items) {
        buf_t b = BUF_INIT;
        gw_conn_json(r, co->now, &b);
        json_t *j = json_loadb(b.p, b.len, 0, NULL);
        buf_free(&b);
        if (j)
            json_array_append_new(co->items, j);
        if (co->c->limit && (long)co->n >= co->c->limit)
            return 1;
    }
    return 0;
}

/* ---- commands
 * ----------------------------------------------------------------------------------------- */

static bool no_filter(const cli_t *c)
{
    return !c->f.api_id && !c->f.stage && c->f.min_age_s < 0 && c->f.max_age_s < 0;
}

static int cmd_count(const cli_t *c)
{
    uint64_t n = 0;
    if (c->admin) {
        buf_t q = BUF_INIT, body = BUF_INIT;
        long status = 0;
        buf_puts(&q, "/connections/count?");
        filter_query(c, &q);
        int rc = http_call(c, "GET", q.p, &status, &body);
        buf_free(&q);
        if (rc != PT_OK) {
            buf_free(&body);
            return CX_RUNTIME;
        }
        json_t *j = status == 200 ? parse_json(&body, "the count") : NULL;
        if (!j) {
            fprintf(stderr, "portico: the admin API answered %ld: %s\n", status,
                    body.p ? body.p : "");
            buf_free(&body);
            return CX_RUNTIME;
        }
        n = (uint64_t)json_integer_value(json_object_get(j, "count"));
        json_decref(j);
        buf_free(&body);
    } else {
        store_t *st;
        if (open_store(c, &st) != PT_OK)
            return CX_RUNTIME;
        int rc;
        if (no_filter(c)) {
            rc = store_conn_count(st, &n);
        } else {
            collect_t co = {.c = c, .now = time_now_ms()};
            rc = store_conn_iter(st, NULL, 0, on_rec, &co);
            n = co.n;
        }
        store_close(st);
        if (rc != PT_OK) {
            fprintf(stderr, "portico: cannot read the registry: %s\n", pt_strerror(rc));
            return CX_RUNTIME;
        }
    }
    if (c->json)
        printf("{\"count\": %llu}\n", (unsigned long long)n);
    else
        printf("%llu\n", (unsigned long long)n);
    return CX_OK;
}

/* "3d04h", "1h02m", "5m03s", "12s" */
static void fmt_age(long long s, char out[24])
{
    if (s < 0)
        s = 0;
    if (s >= 86400)
        snprintf(out, 24, "%lldd%02lldh", s / 86400, s % 86400 / 3600);
    else if (s >= 3600)
        snprintf(out, 24, "%lldh%02lldm", s / 3600, s % 3600 / 60);
    else if (s >= 60)
        snprintf(out, 24, "%lldm%02llds", s / 60, s % 60);
    else
        snprintf(out, 24, "%llds", s);
}

static const char *sval(const json_t *o, const char *k)
{
    const char *v = json_string_value(json_object_get(o, k));
    return v ? v : "-";
}

static void print_table(const json_t *items)
{
    enum { NCOL = 7 };
    static const char *const head[NCOL] = {"CONNECTION ID", "API",       "STAGE",     "AGE",
                                           "IDLE",          "SOURCE IP", "USER AGENT"};
    size_t n = json_array_size(items);
    char(*cells)[NCOL][64] = pt_xcalloc(n ? n : 1, sizeof *cells);
    size_t width[NCOL];
    for (int k = 0; k < NCOL; k++)
        width[k] = strlen(head[k]);
    for (size_t i = 0; i < n; i++) {
        const json_t *o = json_array_get(items, i);
        char age[24], idle[24];
        fmt_age((long long)json_integer_value(json_object_get(o, "ageSeconds")), age);
        fmt_age((long long)json_integer_value(json_object_get(o, "idleSeconds")), idle);
        const char *v[NCOL] = {
            sval(o, "connectionId"), sval(o, "apiId"),    sval(o, "stage"), age, idle,
            sval(o, "sourceIp"),     sval(o, "userAgent")};
        for (int k = 0; k < NCOL; k++) {
            /* Long values (a user agent) are cut; control characters never reach the tty. */
            size_t max = k == NCOL - 1 ? 48 : 63, j = 0;
            for (const char *p = v[k]; *p && j < max; p++)
                cells[i][k][j++] = (unsigned char)*p < 0x20 || *p == 0x7f ? '?' : *p;
            cells[i][k][j] = '\0';
            if (k < NCOL - 1 && j > width[k])
                width[k] = j;
        }
    }
    for (int k = 0; k < NCOL; k++)
        printf(k < NCOL - 1 ? "%-*s  " : "%-.*s\n", (int)width[k], head[k]);
    for (size_t i = 0; i < n; i++)
        for (int k = 0; k < NCOL; k++)
            printf(k < NCOL - 1 ? "%-*s  " : "%-.*s\n", (int)(k < NCOL - 1 ? width[k] : 48),
                   cells[i][k]);
    free(cells);
}

static int cmd_list(const cli_t *c)
{
    json_t *items = json_array();
    int ret = CX_OK;
    if (c->admin) {
        char cursor[64] = "";
        for (;;) {
            long want = 1000;
            if (c->limit && c->limit - (long)json_array_size(items) < want)
                want = c->limit - (long)json_array_size(items);
            if (want <= 0)
                break;
            buf_t q = BUF_INIT, body = BUF_INIT;
            long status = 0;
            buf_printf(&q, "/connections?limit=%ld", want);
            if (cursor[0]) {
                buf_puts(&q, "&cursor=");
                pct(&q, cursor);
            }
            filter_query(c, &q);
            int rc = http_call(c, "GET", q.p, &status, &body);
            buf_free(&q);
            json_t *j = rc == PT_OK && status == 200 ? parse_json(&body, "the list") : NULL;
            if (!j) {
                if (rc == PT_OK)
                    fprintf(stderr, "portico: the admin API answered %ld: %s\n", status,
                            body.p ? body.p : "");
                buf_free(&body);
                ret = CX_RUNTIME;
                goto out;
            }
            buf_free(&body);
            json_array_extend(items, json_object_get(j, "items"));
            const char *next = json_string_value(json_object_get(j, "nextCursor"));
            snprintf(cursor, sizeof cursor, "%s", next ? next : "");
            json_decref(j);
            if (!next)
                break;
        }
    } else {
        store_t *st;
        if (open_store(c, &st) != PT_OK) {
            ret = CX_RUNTIME;
            goto out;
        }
        collect_t co = {.c = c, .now = time_now_ms(), .items = items};
        int rc = store_conn_iter(st, NULL, 0, on_rec, &co);
        store_close(st);
        if (rc != PT_OK) {
            fprintf(stderr, "portico: cannot read the registry: %s\n", pt_strerror(rc));
            ret = CX_RUNTIME;
            goto out;
        }
    }
    if (c->json) {
        json_dumpf(items, stdout, JSON_INDENT(2));
        putchar('\n');
    } else {
        print_table(items);
    }
out:
    json_decref(items);
    return ret;
}

static int cmd_get(const cli_t *c, const char *id)
{
    json_t *o = NULL;
    if (c->admin) {
        buf_t path = BUF_INIT, body = BUF_INIT;
        long status = 0;
        buf_puts(&path, "/connections/");
        pct(&path, id);
        int rc = http_call(c, "GET", path.p, &status, &body);
        buf_free(&path);
        if (rc == PT_OK && status == 404) {
            buf_free(&body);
            fprintf(stderr, "portico: no such connection: %s\n", id);
            return CX_NOTFOUND;
        }
        o = rc == PT_OK && status == 200 ? parse_json(&body, "the connection") : NULL;
        if (!o && rc == PT_OK)
            fprintf(stderr, "portico: the admin API answered %ld: %s\n", status,
                    body.p ? body.p : "");
        buf_free(&body);
        if (!o)
            return CX_RUNTIME;
    } else {
        store_t *st;
        if (open_store(c, &st) != PT_OK)
            return CX_RUNTIME;
        store_conn_t rec;
        int rc = store_conn_get(st, id, &rec);
        if (rc == PT_OK) {
            buf_t b = BUF_INIT;
            gw_conn_json(&rec, time_now_ms(), &b);
            o = json_loadb(b.p, b.len, 0, NULL);
            buf_free(&b);
            store_conn_clear(&rec);
        }
        store_close(st);
        if (rc == PT_ENOTFOUND) {
            fprintf(stderr, "portico: no such connection: %s\n", id);
            return CX_NOTFOUND;
        }
        if (rc != PT_OK || !o) {
            fprintf(stderr, "portico: cannot read the registry: %s\n", pt_strerror(rc));
            json_decref(o);
            return CX_RUNTIME;
        }
    }
    if (c->json) {
        json_dumpf(o, stdout, JSON_INDENT(2));
        putchar('\n');
    } else {
        static const char *const keys[] = {"connectionId", "apiId",    "stage",     "connectedAt",
                                           "lastActiveAt", "sourceIp", "userAgent", "domainName"};
        for (size_t i = 0; i < PT_ARRAY_LEN(keys); i++)
            printf("%-14s %s\n", keys[i], sval(o, keys[i]));
        char age[24], idle[24];
        fmt_age((long long)json_integer_value(json_object_get(o, "ageSeconds")), age);
        fmt_age((long long)json_integer_value(json_object_get(o, "idleSeconds")), idle);
        printf("%-14s %s\n%-14s %s\n%-14s %lld/%lld\n", "age", age, "idle", idle, "node/worker",
               (long long)json_integer_value(json_object_get(o, "node")),
               (long long)json_integer_value(json_object_get(o, "worker")));
    }
    json_decref(o);
    return CX_OK;
}

/* DATA_DIR/admin.json -> the admin URL of the gateway running there. */
static char *admin_from_dir(const char *dir)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/admin.json", dir);
    json_error_t je;
    json_t *j = json_load_file(path, 0, &je);
    const char *u = json_string_value(json_object_get(j, "admin"));
    char *url = u ? pt_xstrdup(u) : NULL;
    json_decref(j);
    if (!url)
        fprintf(stderr,
                "portico: kick needs the running gateway's admin port, and %s says nothing "
                "(is portico running on %s? or give --admin URL)\n",
                path, dir);
    return url;
}

static int cmd_kick(cli_t *c, const char *id)
{
    if (!c->admin) {
        c->admin_owned = admin_from_dir(c->dir);
        if (!c->admin_owned)
            return CX_RUNTIME;
        c->admin = c->admin_owned;
    }
    buf_t path = BUF_INIT, body = BUF_INIT;
    long status = 0;
    buf_puts(&path, "/connections/");
    pct(&path, id);
    int rc = http_call(c, "DELETE", path.p, &status, &body);
    buf_free(&path);
    int ret = CX_OK;
    if (rc != PT_OK) {
        ret = CX_RUNTIME;
    } else if (status == 404) {
        fprintf(stderr, "portico: no such connection: %s\n", id);
        ret = CX_NOTFOUND;
    } else if (status != 200) {
        fprintf(stderr, "portico: the admin API answered %ld: %s\n", status, body.p ? body.p : "");
        ret = CX_RUNTIME;
    } else if (c->json) {
        printf("{\"connectionId\": \"%s\", \"closed\": true}\n", id);
    } else {
        printf("closed %s\n", id);
    }
    buf_free(&body);
    return ret;
}

/* ---- options
 * ------------------------------------------------------------------------------------------- */

static bool parse_secs(const char *s, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (!*s || *end || errno || v < 0)
        return false;
    *out = v;
    return true;
}

/* --config FILE: the admin port it listens on, or (port 0) its data directory. */
static int from_config(cli_t *c, const char *file, bool want_admin)
{
    route_config_t *cfg = NULL;
    buf_t err = BUF_INIT;
    if (route_config_load_file(file, &cfg, &err) != PT_OK) {
        fprintf(stderr, "%s", err.p ? err.p : "portico: invalid configuration\n");
        buf_free(&err);
        return CX_USAGE;
    }
    const route_server_t *s = &cfg->server;
    if (!c->token && s->admin_token)
        c->token = c->token_owned = pt_xstrdup(s->admin_token);
    if (want_admin && s->admin_listen.port != 0) {
        const char *h = s->admin_listen.host;
        if (!h || !*h || strcmp(h, "0.0.0.0") == 0)
            h = "127.0.0.1";
        else if (strcmp(h, "::") == 0)
            h = "::1";
        char url[300];
        snprintf(url, sizeof url, strchr(h, ':') ? "http://[%s]:%d" : "http://%s:%d", h,
                 s->admin_listen.port);
        c->admin = c->admin_owned = pt_xstrdup(url);
    } else if (!c->dir) {
        c->dir = c->dir_owned = pt_xstrdup(s->data_dir);
    }
    route_config_free(cfg);
    return CX_OK;
}

/*
 * Connection ids are base64url, so one may begin with '-' ("-WyT6XiCAAEVk38="), which getopt
 * would take for options. Before getopt runs, the words that are not options (the command and,
 * after get or kick, the id, whatever it starts with) move out of argv into pos[]; "--" ends
 * the options as usual. Returns the new argc of argv (options only).
 */
/* The option a word names ("--admin", "--admin=URL", "-c", "-h"), or NULL. */
static const struct option *option_of(const char *a, const struct option *opts, bool *inline_value)
{
    static const struct option short_c = {"config", required_argument, NULL, 'c'};
    static const struct option short_h = {"help", no_argument, NULL, 'h'};
    *inline_value = false;
    if (strcmp(a, "-c") == 0)
        return &short_c;
    if (strcmp(a, "-h") == 0)
        return &short_h;
    if (strncmp(a, "--", 2) != 0)
        return NULL;
    size_t n = strcspn(a + 2, "=");
    for (const struct option *o = opts; o->name; o++) {
        if (strlen(o->name) == n && strncmp(a + 2, o->name, n) == 0) {
            *inline_value = a[2 + n] == '=';
            return o;
        }
    }
    return NULL;
}

/*
 * Connection ids are base64url, so one may begin with '-' ("-WyT6XiCAAEVk38="), which getopt
 * would take for options. Before getopt runs, the words that are not options move out of argv
 * into pos[]: the command and, after get or kick, the first word that is not one of our
 * options, whatever it starts with. "--" ends the options as usual. Returns the new argc.
 */
static int take_positionals(int argc, char **argv, const struct option *opts, char **pos, int *npos)
{
    int out = 1;
    bool want_id = false, only_pos = false;
    *npos = 0;
    for (int i = 1; i < argc; i++) {
        char *a = argv[i];
        if (!only_pos && strcmp(a, "--") == 0) {
            only_pos = true;
            continue;
        }
        bool inline_value;
        const struct option *o = only_pos ? NULL : option_of(a, opts, &inline_value);
        bool positional = only_pos || a[0] != '-' || a[1] == '\0' || (want_id && !o);
        if (positional) {
            if (*npos < 3)
                pos[*npos] = a;
            (*npos)++;
            want_id = !want_id && *npos == 1 && (strcmp(a, "get") == 0 || strcmp(a, "kick") == 0);
            continue;
        }
        argv[out++] = a; /* getopt reports unknown ones */
        if (o && o->has_arg == required_argument && !inline_value && i + 1 < argc)
            argv[out++] = argv[++i];
    }
    argv[out] = NULL;
    return out;
}

int gw_cli_connections(int argc, char **argv)
{
    enum { O_ADMIN = 256, O_DIR, O_TOKEN, O_JSON, O_API, O_STAGE, O_MIN, O_MAX, O_LIMIT };
    static const struct option opts[] = {
        {"admin", required_argument, NULL, O_ADMIN},
        {"data-dir", required_argument, NULL, O_DIR},
        {"config", required_argument, NULL, 'c'},
        {"token", required_argument, NULL, O_TOKEN},
        {"json", no_argument, NULL, O_JSON},
        {"api", required_argument, NULL, O_API},
        {"stage", required_argument, NULL, O_STAGE},
        {"min-age", required_argument, NULL, O_MIN},
        {"max-age", required_argument, NULL, O_MAX},
        {"limit", required_argument, NULL, O_LIMIT},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    cli_t c;
    memset(&c, 0, sizeof c);
    c.f.min_age_s = c.f.max_age_s = -1;
    const char *config = NULL;
    int ret = CX_OK, o, npos;
    char *pos[3];
    argc = take_positionals(argc, argv, opts, pos, &npos);
    optind = 1;
    while ((o = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
        switch (o) {
        case O_ADMIN:
            c.admin = optarg;
            break;
        case O_DIR:
            c.dir = optarg;
            break;
        case 'c':
            config = optarg;
            break;
        case O_TOKEN:
            c.token = optarg;
            break;
        case O_JSON:
            c.json = true;
            break;
        case O_API:
            c.f.api_id = optarg;
            break;
        case O_STAGE:
            c.f.stage = optarg;
            break;
        case O_MIN:
        case O_MAX:
            if (!parse_secs(optarg, o == O_MIN ? &c.f.min_age_s : &c.f.max_age_s)) {
                fprintf(stderr, "portico: --%s: expected seconds, got '%s'\n",
                        o == O_MIN ? "min-age" : "max-age", optarg);
                return CX_USAGE;
            }
            break;
        case O_LIMIT: {
            char *end;
            c.limit = strtol(optarg, &end, 10);
            if (*end || c.limit < 1) {
                fprintf(stderr, "portico: --limit: expected a positive number, got '%s'\n", optarg);
                return CX_USAGE;
            }
            break;
        }
        case 'h':
            fputs(USAGE, stdout);
            return CX_OK;
        default:
            fputs(USAGE, stderr);
            return CX_USAGE;
        }
    }
    const char *cmd = npos > 0 ? pos[0] : NULL;
    const char *id = NULL;
    bool needs_id = cmd && (strcmp(cmd, "get") == 0 || strcmp(cmd, "kick") == 0);
    if (!cmd) {
        fprintf(stderr, "portico: connections: a command is required\n%s", USAGE);
        return CX_USAGE;
    }
    if (!needs_id && strcmp(cmd, "count") != 0 && strcmp(cmd, "list") != 0) {
        fprintf(stderr, "portico: connections: unknown command '%s'\n%s", cmd, USAGE);
        return CX_USAGE;
    }
    if (needs_id) {
        if (npos < 2) {
            fprintf(stderr, "portico: connections %s: a connection id is required\n", cmd);
            return CX_USAGE;
        }
        id = pos[1];
    }
    if (npos > (needs_id ? 2 : 1)) {
        fprintf(stderr, "portico: connections: unexpected argument '%s'\n", pos[needs_id ? 2 : 1]);
        return CX_USAGE;
    }
    if (!c.token && getenv("PORTICO_ADMIN_TOKEN") && *getenv("PORTICO_ADMIN_TOKEN"))
        c.token = getenv("PORTICO_ADMIN_TOKEN");
    if (config && (ret = from_config(&c, config, !c.admin && !c.dir)) != CX_OK)
        goto out;
    if (!c.admin && !c.dir) {
        const char *env = getenv("PORTICO_ADMIN");
        c.admin = env && *env ? env : "http://127.0.0.1:9080";
    }
    if (c.admin && strncmp(c.admin, "http://", 7) != 0 && strncmp(c.admin, "https://", 8) != 0) {
        fprintf(stderr, "portico: --admin: expected http://HOST:PORT, got '%s'\n", c.admin);
        ret = CX_USAGE;
        goto out;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (strcmp(cmd, "count") == 0)
        ret = cmd_count(&c);
    else if (strcmp(cmd, "list") == 0)
        ret = cmd_list(&c);
    else if (strcmp(cmd, "get") == 0)
        ret = cmd_get(&c, id);
    else
        ret = cmd_kick(&c, id);
    curl_global_cleanup();
out:
    free(c.admin_owned);
    free(c.dir_owned);
    free(c.token_owned);
    return ret;
}
