/* config.c: the configuration loader: apigatewayv2-shaped JSON or YAML into route_config_t. */
#include "routes/config_internal.h"
#include "routes/route_internal.h"
#include "routes/security.h"
#include "common/err.h"
#include "common/hash.h"
#include "common/mem.h"

#include <arpa/inet.h>
#include <errno.h>
#include <regex.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <threads.h>

/*
 * How it works. config_tree.c turns the text into a tree of maps, sequences and typed scalars,
 * each with its line. Every object of the model has a schema: a table of fields (key, setter,
 * offset, range, default, check). parse_object() walks a schema *in table order* (not file
 * order), so a later key can rely on an earlier one: integrations are read before routes, whose
 * targets then resolve at once; routes before stages, whose routeSettings name routes. Keys the
 * table does not know are errors, with a suggestion. Errors are collected (not fatal) and
 * sorted by line at the end. A new key is one line in a table, plus its row in
 * docs/configuration.md (a unit test checks every key is documented).
 */

#define NO_OFF  SIZE_MAX /* a field that is checked but not stored */
#define STR_MAX 4096     /* default cap on a string value's length */
#define ID_MAX  64       /* routeId / integrationId chosen by the user */

typedef struct parser parser_t;
typedef struct field field_t;
typedef struct schema schema_t;

/* Called with the value node, or with n == NULL when the key is missing and the field has a
 * default (F_DEFAULT) or wants to know (F_ALWAYS). */
typedef void (*set_fn)(parser_t *p, const ct_node_t *n, void *obj, const field_t *f);
/* Extra validation of a string value (or of a map entry: n->key and n->s). Reports and returns
 * false when invalid. */
typedef bool (*check_fn)(parser_t *p, const ct_node_t *n);

enum {
    F_REQUIRED = 1u << 0, /* missing -> "missing required key" */
    F_DEFAULT = 1u << 1,  /* missing -> set(NULL): the default (def / sdef) */
    F_ALWAYS = 1u << 2,   /* missing -> set(NULL): the setter decides */
    F_EMPTY = 1u << 3,    /* strings: "" is allowed */
};

struct field {
    const char *name;
    set_fn set;
    size_t off;       /* member of the object, or NO_OFF */
    int64_t min, max; /* integers: range; strings: max length (0: STR_MAX); maps: max entries */
    int64_t def;      /* integer / boolean default; for set_expr, the compiled member's offset */
    const char *sdef; /* string default */
    check_fn check;
    const void *aux; /* enum_val_t[], schema_t or array_t, by setter */
    unsigned flags;
};

typedef struct enum_val {
    const char *name;
    int value;
    const char *reject; /* non-NULL: a known value that is refused with this message */
} enum_val_t;

struct schema {
    const field_t *fields;
    size_t nfields;
    const schema_t *include; /* more fields of the same object (a shared base) */
    size_t line_off;         /* int member receiving the object's line, or NO_OFF */
    void (*begin)(parser_t *p, const ct_node_t *n, void *obj);
    void (*finish)(parser_t *p, const ct_node_t *n, void *obj); /* n may be NULL */
};

typedef struct array {
    const schema_t *schema;
    size_t size;      /* element size */
    size_t count_off; /* size_t member receiving the count */
    void (*done)(parser_t *p, const ct_node_t *seq, void *elems, size_t n);
} array_t;

struct parser {
    cfg_errs_t errs;
    cfg_arena_t *arena; /* the model's; moves into cfg->_arena */
    route_config_t *cfg;
    const ct_node_t *obj_node; /* the object being read (for "missing key" errors) */
    route_api_t *api;          /* the API being read, NULL outside one */
    const ct_node_t *api_node;
    buf_t pv[4]; /* rotating buffers for quoted values in messages */
    unsigned pvi;
};

#define PERR(p, n, ...) cfg_err(&(p)->errs, (n)->line, (n), __VA_ARGS__)
#define KERR(p, n, ...) cfg_err(&(p)->errs, (n)->key_line, (n), __VA_ARGS__)

/* ============================================================================================
 * Small helpers
 * ========================================================================================== */

/* A quoted, escaped and shortened copy of a value for a message; it stays valid until the
 * fourth next call (a message uses at most three). */
static const char *pv(parser_t *p, const char *s, size_t n)
{
    buf_t *b = &p->pv[p->pvi++ % PT_ARRAY_LEN(p->pv)];
    size_t k = n > 60 ? 60 : n;
    while (k < n && k > 0 && ((unsigned char)s[k] & 0xC0) == 0x80)
        k--; /* do not cut a UTF-8 sequence */
    buf_reset(b);
    buf_putc(b, '"');
    buf_json_escape(b, s, k);
    if (k < n)
        buf_puts(b, "...");
    buf_putc(b, '"');
    return b->p;
}

static const char *pvs(parser_t *p, const char *s)
{
    return pv(p, s, strlen(s));
}

static const char *got_name(ct_kind_t k)
{
    return k == CT_INT || k == CT_FLOAT ? "a number" : ct_kind_name(k);
}

static bool type_ok(parser_t *p, const ct_node_t *n, ct_kind_t want)
{
    if (n->kind == want)
        return true;
    if (want == CT_INT && n->kind == CT_FLOAT)
        PERR(p, n, "expected an integer, got %s", n->s);
    else
        PERR(p, n, "expected %s, got %s", ct_kind_name(want), got_name(n->kind));
    return false;
}

static size_t edit_distance(const char *a, size_t n, const char *b, size_t m)
{
    size_t row[65];
    if (n > 64 || m > 64)
        return SIZE_MAX;
    for (size_t j = 0; j <= m; j++)
        row[j] = j;
    for (size_t i = 1; i <= n; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= m; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[m];
}

/* "Did you mean" among candidates: the closest one within distance 2, when it is the only one
 * that close. */
typedef struct suggest {
    const char *word;
    size_t len;
    const char *best;
    size_t dist;
    bool tie;
} suggest_t;

static void suggest_init(suggest_t *s, const char *word, size_t len)
{
    memset(s, 0, sizeof *s);
    s->word = word;
    s->len = len;
    s->dist = SIZE_MAX;
}

static void suggest_add(suggest_t *s, const char *cand)
{
    if (!cand)
        return;
    size_t d = edit_distance(s->word, s->len, cand, strlen(cand));
    if (d < s->dist) {
        s->dist = d;
        s->best = cand;
        s->tie = false;
    } else if (d == s->dist && s->best && strcmp(s->best, cand) != 0) {
        s->tie = true;
    }
}

/* " (did you mean \"x\"?)" or "". */
static const char *suggest_text(parser_t *p, const suggest_t *s)
{
    if (!s->best || s->dist > 2 || s->dist == 0 || s->tie)
        return "";
    buf_t *b = &p->pv[p->pvi++ % PT_ARRAY_LEN(p->pv)];
    buf_reset(b);
    buf_puts(b, " (did you mean ");
    buf_json_str(b, s->best, strlen(s->best));
    buf_puts(b, "?)");
    return b->p;
}

static bool only_chars(const char *s, size_t n, const char *extra)
{
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
            continue;
        if (c == '\0' || !strchr(extra, c))
            return false;
    }
    return true;
}

static bool starts_with(const char *s, const char *pre)
{
    return strncmp(s, pre, strlen(pre)) == 0;
}

static bool istarts_with(const char *s, const char *pre)
{
    return strncasecmp(s, pre, strlen(pre)) == 0;
}

static void *member(void *obj, const field_t *f)
{
    return (char *)obj + f->off;
}

static char *dup_str(parser_t *p, const char *s)
{
    return cfg_arena_strdup(&p->arena, s);
}

/* A stable id: base36 of SHA-256 over its inputs, so it survives restarts while the inputs
 * (API name, routeKey, position) stay the same. */
static char *gen_id(parser_t *p, int nchars, const char *kind, const char *scope, const char *name)
{
    static const char digits[] = "0123456789abcdefghijklmnopqrstuvwxyz";
    buf_t in = BUF_INIT; /* owned here */
    uint8_t h[32];
    buf_puts(&in, "portico/");
    buf_puts(&in, kind);
    buf_append(&in, "", 1);
    buf_puts(&in, scope ? scope : "");
    buf_append(&in, "", 1);
    buf_puts(&in, name ? name : "");
    hash_sha256(in.p, in.len, h);
    buf_free(&in);
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | h[i];
    char *out = cfg_arena_alloc(&p->arena, (size_t)nchars + 1);
    for (int i = nchars - 1; i >= 0; i--) {
        out[i] = digits[v % 36];
        v /= 36;
    }
    return out;
}

/* Compiles a selection expression; NULL (reported) when it does not compile. */
static route_expr_t *compile_expr(parser_t *p, const ct_node_t *n)
{
    route_expr_t *e = NULL;
    buf_t why = BUF_INIT;
    if (route_expr_compile(n->s, &e, &why) != PT_OK)
        PERR(p, n, "invalid selection expression %s: %s", pv(p, n->s, n->len),
             why.p ? why.p : "malformed");
    buf_free(&why);
    return e;
}

/* ============================================================================================
 * Objects and arrays
 * ========================================================================================== */

static const field_t *schema_find(const schema_t *s, const char *key, size_t len)
{
    for (; s; s = s->include)
        for (size_t i = 0; i < s->nfields; i++)
            if (strlen(s->fields[i].name) == len && memcmp(s->fields[i].name, key, len) == 0)
                return &s->fields[i];
    return NULL;
}

static void unknown_key(parser_t *p, const schema_t *s, const ct_node_t *c)
{
    suggest_t sg;
    suggest_init(&sg, c->key, c->key_len);
    for (const schema_t *t = s; t; t = t->include)
        for (size_t i = 0; i < t->nfields; i++)
            suggest_add(&sg, t->fields[i].name);
    KERR(p, c, "unknown key%s", suggest_text(p, &sg));
}

/* Reads a map into obj by schema; n == NULL applies the defaults of a missing object. */
static void parse_object(parser_t *p, const ct_node_t *n, const schema_t *s, void *obj)
{
    if (n && !type_ok(p, n, CT_MAP))
        return;
    const ct_node_t *saved = p->obj_node;
    p->obj_node = n;
    if (n && s->line_off != NO_OFF)
        *(int *)((char *)obj + s->line_off) = n->line;
    if (s->begin)
        s->begin(p, n, obj);
    for (const schema_t *t = s; t; t = t->include) {
        for (size_t i = 0; i < t->nfields; i++) {
            const field_t *f = &t->fields[i];
            const ct_node_t *v = n ? ct_map_get(n, f->name) : NULL;
            if (v)
                f->set(p, v, obj, f);
            else if (n && (f->flags & F_REQUIRED))
                PERR(p, n, "missing required key \"%s\"", f->name);
            else if (f->flags & (F_DEFAULT | F_ALWAYS))
                f->set(p, NULL, obj, f);
        }
    }
    if (n)
        for (const ct_node_t *c = n->first; c; c = c->next)
            if (!schema_find(s, c->key, c->key_len))
                unknown_key(p, s, c);
    if (s->finish)
        s->finish(p, n, obj);
    p->obj_node = saved;
}

static void set_object(parser_t *p, const ct_node_t *n, void *obj, const field_t *f)
{
    parse_object(p, n, f->aux, member(obj, f));
}

static void set_array(parser_t *p, const ct_node_t *n, void *obj, const field_t *f)
{
    const array_t *a = f->aux;
    if (!type_ok(p, n, CT_SEQ))
        return;
    /* Counts are set before the elements are read, so a half-read config frees cleanly. */
    char *elems = n->n ? cfg_arena_alloc(&p->arena, n->n * a->size) : NULL;
    *(void **)member(obj, f) = elems;
    *(size_t *)((char *)obj + a->count_off) = n->n;
    size_t i = 0;
    for (const ct_node_t *c = n->first; c; c = c->next, i++)
        parse_object(p, c, a->schema, elems + i * a->size);
    if (a->done)
        a->done(p, n, elems, n->n);
}

/* The i-th child of a sequence (i < seq->n). */
static const ct_node_t *seq_at(const ct_node_t *seq, size_t i)
{
    const ct_node_t *c = seq->first;
    while (c && i--)
        c = c->next;
    return c;
}

/* The node of key in element i of seq, or the element itself. */
static const ct_node_t *elem_key_node(const ct_node_t *seq, size_t i, const char *key)
{
    const ct_node_t *e = seq_at(seq, i);
    const ct_node_t *k = ct_map_get(e, key);
    return k ? k : e;
}

/* Reports every element whose string member (at off) repeats an earlier element's. */
static void check_unique(parser_t *p, const ct_node_t *seq, const void *elems, size_t n,
                         size_t size, size_t off, const char *key)
{
    for (size_t i = 1; i < n; i++) {
        const char *a = *(char *const *)((const char *)elems + i * size + off);
        if (!a)
            continue;
        for (size_t j = 0; j < i; j++) {
            const char *b = *(char *const *)((const char *)elems + j * size + off);
            if (b && strcmp(a, b) == 0) {
                const ct_node_t *at = elem_key_node(seq, i, key);
                PERR(p, at, "duplicate %s %s (first at line %d)", key, pvs(p, a),
                     elem_key_node(seq, j, key)->line);
                break;
            }
        }
    }
}

/* ============================================================================================
 * Scalar setters
 * ========================================================================================== */

static bool str_ok(parser_t *p, const ct_node_t *n, const field_t *f)
{
    if (!type_ok(p, n, CT_STR))
        return false;
    if (memchr(n->s, '\0', n->len))
        return false; /* reported by the tree */
    if (n->len == 0 && !(f->flags & F_EMPTY)) {
        PERR(p, n, "must not be empty");
        return false;
    }
    size_t max = f->max > 0 ? (size_t)f->max : STR_MAX;
    if (n->len > max) {
        PERR(p, n, "is %zu characters long; the limit is %zu", n->len, max);
        return false;
    }
    return !f->check || f->check(p, n);
}

static void set_str(parser_t *p, const ct_node_t *n, void *obj, const field_t *f)
{
    const char *s = f->sdef;
    if (n) {
        if (!str_ok(p, n, f))
            return;
        s = n->s;
    }
    if (s && f->off != NO_OFF)
        *(char **)member(obj, f) = dup_str(p, s);
}

static bool get_int(parser_t *p, const ct_node_t *n, const field_t *f, int64_t *out)
{
    if (!n) {
        *out = f->def;
        return true;
    }
    if (!type_ok(p, n, CT_INT))
        return false;
    errno = 0;
    long long v = strtoll(n->s, NULL, 10);
    if (errno == ERANGE || v < f->min || v > f->max) {
        PERR(p, n, "%s is out of range [%lld, %lld]", n->s, (long long)f->min, (long long)f->max);
        return false;
    }
    *out = v;
    return true;
}

static void set_int(parser_t *p, const ct_node_t *n, void *obj, const field_t *f)
{
    int64_t v;
    if (get_int(p, n, f, &v) && f->off != NO_OFF)
        *(int *)member(obj, f) = (int)v;
}

static void set_u32(parser_t *p, const ct_node_t *n, void *obj, const field_t *f)
{
    int64_t v;
    if (get_int(p, n, f, &v))
        *(uint32_t *)member(obj, f) = (uint32_t)v;
}

static void set_u64(parser_t *p, const ct_node_t *n, void *obj, const field_t *f)
{
    int64_t v;
    if (get_int(p, n, f, &v))
        *(uint64_t *)member(obj, f) = (uint64_t)v;
}

static void set_double(parser_t *p, const ct_node_t *n, void *obj, const field_t *f)
{
    if (n->kind != CT_INT && n->kind != CT_FLOAT) {
        PERR(p, n, "expected a number, got %s", got_name(n->kind));
        return;
    }
    errno = 0;
    double v = strtod(n->s, NULL);
    if (errno == ERANGE || !(v >= (double)f->min && v <= (double)f->max)) {
        PERR(p, n, "%s is out of range [%lld, %lld]", n->s, (long long)f->min, (long long)f->max);
        return;
    }
    *(double *)member(obj, f) = v;
}

static void set_bool(parser_t *p, const ct_node_t *n, void *obj, const field_t *f)
{
    bool v = f->def != 0;
    if (n) {
        if (!type_ok(p, n, CT_BOOL))
            return;
        v = n->s[0] == 't' || n->s[0] == 'T';
    }
    if (f->off != NO_OFF)
        *(bool *)member(obj, f) = v;
}

/* Finds the value of an enum field, reporting unknown and refused values. */
static const enum_val_t *get_enum(parser_t *p, const ct_node_t *n, const field_t *f)
{
    const enum_val_t *vals = f->aux;
    if (!type_ok(p, n, CT_STR))
        return NULL;
    for (const enum_val_t *v = vals; v->name; v++) {
        if (strcmp(v->name, n->s) != 0)
            continue;
        if (v->reject) {
            PERR(p, n, "%s", v->reject);
            return NULL;
        }
        return v;
    }
    suggest_t sg;
    suggest_init(&sg, n->s, n->len);
    buf_t list = BUF_INIT;
    for (const enum_val_t *v = vals; v->name; v++) {
        if (v->reject)
            continue;
        if (list.len)
            buf_puts(&list, ", ");
        buf_puts(&list, v->name);
        suggest_add(&sg, v->name);
        if (strcasecmp(v->name, n->s) == 0) { /* a case slip is always worth pointing out */
            sg.best = v->name;
            sg.dist = 1;
            sg.tie = false;
        }
    }
    PERR(p, n, "%s is not one of: %s%s", pv(p, n->s, n->len), list.p, suggest_text(p, &sg));
    buf_free(&list);
    return NULL;
}

static void set_enum_str(parser_t *p, const ct_node_t *n, void *obj, const field_t *f)
{
    const char *s = f->sdef;
    if (n) {
        const enum_val_t *v = get_enum(p, n, f);
        if (!v)
            return;
        s = v->name;
    }
    if (s && f->off != NO_OFF)
        *(char **)member(obj, f) = dup_str(p, s);
}

static void set_enum_int(parser_t *p, const ct_node_t *n, void *obj, const field_t *f)
{
    const enum_val_t *v = n ? get_enum(p, n, f) : NULL;
    if (v)
        *(int *)member(obj, f) = v->value;
}

/* A selection expression: the text at off, the compiled form at def (an offset). */
static void set_expr(parser_t *p, const ct_node_t *n, void *obj, const field_t *f)
{
    if (!str_ok(p, n, f))
        return;
    route_expr_t *e = compile_expr(p, n);
    if (!e)
        return;
    if (f->def < 0) {
        route_expr_free(e); /* checked only */
        return;
    }
    route_expr_t **slot = (route_expr_t **)((char *)obj + f->def);
    route_expr_free(*slot); /* cannot be set twice, but stay leak-free if it were */
    *slot = e;
    *(char **)member(obj, f) = dup_str(p, n->s);
}

/* Accepted for compatibility with AWS exports and ignored; min, when set, is the expected kind. */
static void set_ignored(parser_t *p, const ct_node_t *n, void *obj, const field_t *f)
{
    (void)obj;
    if (f->min)
        type_ok(p, n, (ct_kind_t)f->min);
}

static void set_not_yet(parser_t *p, const ct_node_t *n, void *obj, const field_t *f)
{
    (void)obj;
    (void)f;
    PERR(p, n, "not supported yet");
}

/* A map of string values; check sees each entry (n->key, n->s); max caps the entries. */
static void set_strmap(parser_t *p, const ct_node_t *n, void *obj, const field_t *f)
{
    if (!type_ok(p, n, CT_MAP))
        return;
    if (f->max && n->n > (size_t)f->max) {
        PERR(p, n, "has %zu entries; the limit is %lld", n->n, (long long)f->max);
        return;
    }
    route_kv_t *items = n->n ? cfg_arena_alloc(&p->arena, n->n * sizeof *items) : NULL;
    size_t k = 0;
    for (const ct_node_t *c = n->first; c; c = c->next) {
        if (!type_ok(p, c, CT_STR) || memchr(c->s, '\0', c->len) ||
            memchr(c->key, '\0', c->key_len))
            continue;
        if (f->check && !f->check(p, c))
            continue;
        items[k].key = dup_str(p, c->key);
        items[k].val = dup_str(p, c->s);
        k++;
    }
    if (f->off != NO_OFF) {
        route_map_t *m = member(obj, f);
        m->items = items;
        m->n = k;
    }
}

/* ============================================================================================
 * Value checks
 * ========================================================================================== */

static bool check_api_id(parser_t *p, const ct_node_t *n)
{
    bool ok = n->len == 10;
    for (size_t i = 0; ok && i < n->len; i++)
        ok = (n->s[i] >= 'a' && n->s[i] <= 'z') || (n->s[i] >= '0' && n->s[i] <= '9');
    if (!ok)
        PERR(p, n, "%s must be exactly 10 lowercase letters or digits, as AWS API ids are",
             pv(p, n->s, n->len));
    return ok;
}

static bool check_id(parser_t *p, const ct_node_t *n)
{
    if (only_chars(n->s, n->len, "._-"))
        return true;
    PERR(p, n, "%s may only hold letters, digits, '.', '_' and '-'", pv(p, n->s, n->len));
    return false;
}

static bool check_account_id(parser_t *p, const ct_node_t *n)
{
    if (n->len == 12 && strspn(n->s, "0123456789") == 12)
        return true;
    PERR(p, n, "%s must be 12 digits", pv(p, n->s, n->len));
    return false;
}

static bool check_region(parser_t *p, const ct_node_t *n)
{
    bool ok = true;
    for (size_t i = 0; i < n->len; i++)
        ok = ok && ((n->s[i] >= 'a' && n->s[i] <= 'z') || (n->s[i] >= '0' && n->s[i] <= '9') ||
                    n->s[i] == '-');
    if (!ok)
        PERR(p, n, "%s is not a region name (lowercase letters, digits and '-', e.g. us-east-1)",
             pv(p, n->s, n->len));
    return ok;
}

static bool check_hostname(parser_t *p, const ct_node_t *n)
{
    if (only_chars(n->s, n->len, ".-") && n->s[0] != '.' && n->s[0] != '-')
        return true;
    PERR(p, n, "%s is not a host name", pv(p, n->s, n->len));
    return false;
}

static bool check_mapping_key(parser_t *p, const ct_node_t *n)
{
    /* "" (the root) or path segments: "v1", "chat/v2". */
    bool ok = only_chars(n->s, n->len, "._~-/") &&
              (n->len == 0 || (n->s[0] != '/' && n->s[n->len - 1] != '/' && !strstr(n->s, "//")));
    if (!ok)
        PERR(p, n, "%s must be empty or path segments such as \"v1\" or \"chat/v1\"",
             pv(p, n->s, n->len));
    return ok;
}

static bool check_access_key(parser_t *p, const ct_node_t *n)
{
    if (only_chars(n->s, n->len, "._-"))
        return true;
    PERR(p, n, "access key ids may only hold letters, digits, '.', '_' and '-'");
    return false;
}

static bool check_no_space(parser_t *p, const ct_node_t *n)
{
    for (size_t i = 0; i < n->len; i++) {
        unsigned char c = (unsigned char)n->s[i];
        if (c <= ' ' || c == 0x7f) {
            PERR(p, n, "must not contain spaces or control characters");
            return false;
        }
    }
    return true;
}

static bool check_stage_name(parser_t *p, const ct_node_t *n)
{
    if (strcmp(n->s, "$default") == 0 || (n->len <= 128 && only_chars(n->s, n->len, "_-")))
        return true;
    PERR(p, n, "%s must be 1 to 128 letters, digits, '_' or '-', or \"$default\"",
         pv(p, n->s, n->len));
    return false;
}

static bool check_method(parser_t *p, const ct_node_t *n)
{
    /* An HTTP token (RFC 9110 section 5.6.2). */
    if (only_chars(n->s, n->len, "!#$%&'*+.^_`|~-"))
        return true;
    PERR(p, n, "%s is not an HTTP method", pv(p, n->s, n->len));
    return false;
}

static bool check_route_key(parser_t *p, const ct_node_t *n)
{
    if (p->api && p->api->protocol == ROUTE_PROTO_HTTP) {
        /* HTTP APIs: "METHOD /path" or $default (routes/http_match.c). */
        buf_t why = BUF_INIT;
        bool ok = route_http_key_check(n->s, &why) == PT_OK;
        if (!ok)
            PERR(p, n, "%s: %s", pv(p, n->s, n->len), why.p ? why.p : "invalid route key");
        buf_free(&why);
        return ok;
    }
    if (n->s[0] != '$' || strcmp(n->s, "$connect") == 0 || strcmp(n->s, "$disconnect") == 0 ||
        strcmp(n->s, "$default") == 0)
        return true;
    PERR(p, n,
         "%s: custom route keys must not start with '$' (only $connect, $disconnect and "
         "$default do)",
         pv(p, n->s, n->len));
    return false;
}

static bool check_rrse(parser_t *p, const ct_node_t *n)
{
    if (strcmp(n->s, "$default") == 0)
        return true;
    PERR(p, n, "only \"$default\" is supported (as in AWS), got %s", pv(p, n->s, n->len));
    return false;
}

static bool check_rr_key(parser_t *p, const ct_node_t *n)
{
    if (strcmp(n->s, "$default") == 0)
        return true;
    PERR(p, n, "only \"$default\" is supported (as in AWS), got %s", pv(p, n->s, n->len));
    return false;
}

static bool check_template(parser_t *p, const ct_node_t *n)
{
    if (n->len <= 32768)
        return true;
    PERR(p, n, "template is %zu bytes; the limit is 32768 (32 KB)", n->len);
    return false;
}

static bool check_empty(parser_t *p, const ct_node_t *n)
{
    if (n->len == 0)
        return true;
    PERR(p, n, "not supported yet (only \"\" is accepted)");
    return false;
}

/* Request-parameter names: ^[a-zA-Z0-9._$-]+$ (AWS). */
static bool param_name_ok(const char *s)
{
    return *s && only_chars(s, strlen(s), "._$-");
}

/* The name after one of the prefixes, or NULL. */
static const char *after_prefix(const char *s, const char *const *prefixes, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (starts_with(s, prefixes[i]))
            return s + strlen(prefixes[i]);
    return NULL;
}

static bool source_ok(const char *v, size_t len)
{
    static const char *const named[] = {
        "route.request.header.",
        "route.request.querystring.",
        "route.request.multivalueheader.",
        "route.request.multivaluequerystring.",
    };
    const char *rest;
    if (len >= 2 && v[0] == '\'' && v[len - 1] == '\'')
        return true;
    if ((rest = after_prefix(v, named, PT_ARRAY_LEN(named))) != NULL)
        return param_name_ok(rest);
    if (strcmp(v, "route.request.body") == 0)
        return true; /* the whole body */
    if (starts_with(v, "route.request.body") && (v[18] == '.' || v[18] == '[')) {
        route_path_step_t *steps = NULL;
        size_t ns = 0;
        if (route__path_compile(v + 18, len - 18, &steps, &ns) != PT_OK)
            return false;
        route__path_free(steps, ns);
        return true;
    }
    if (starts_with(v, "context."))
        return v[8] && only_chars(v + 8, len - 8, "._-");
    if (starts_with(v, "stageVariables."))
        return v[15] && only_chars(v + 15, len - 15, "_");
    return false;
}

/* integration.request.{header|querystring|path}.NAME -> a mapping source (spec 5.2). */
static bool check_integ_param(parser_t *p, const ct_node_t *n)
{
    if (p->api && p->api->protocol == ROUTE_PROTO_HTTP) {
        /* HTTP APIs map parameters with another grammar ("append:header.x"). */
        KERR(p, n, "requestParameters are not supported yet for HTTP APIs");
        return false;
    }
    static const char *const targets[] = {
        "integration.request.header.",
        "integration.request.querystring.",
        "integration.request.path.",
    };
    const char *name = after_prefix(n->key, targets, PT_ARRAY_LEN(targets));
    if (!name || !param_name_ok(name)) {
        KERR(p, n,
             "%s is not a mapping target: use integration.request.header.NAME, "
             "integration.request.querystring.NAME or integration.request.path.NAME (NAME "
             "matching ^[a-zA-Z0-9._$-]+$)",
             pv(p, n->key, n->key_len));
        return false;
    }
    if (n->len > 512) {
        PERR(p, n, "is %zu characters long; the limit is 512", n->len);
        return false;
    }
    if (source_ok(n->s, n->len))
        return true;
    if (n->s[0] == '$' && source_ok(n->s + 1, n->len - 1)) {
        PERR(p, n, "%s: write mapping sources without '$' (%s)", pv(p, n->s, n->len),
             pv(p, n->s + 1, n->len - 1));
        return false;
    }
    PERR(p, n,
         "%s is not a mapping source: use route.request.header.NAME, "
         "route.request.querystring.NAME, route.request.multivalueheader.NAME, "
         "route.request.multivaluequerystring.NAME, route.request.body.JSONPATH, "
         "context.NAME, stageVariables.NAME or a 'static value'",
         pv(p, n->s, n->len));
    return false;
}

static bool check_stage_var(parser_t *p, const ct_node_t *n)
{
    if (n->key_len == 0 || n->key_len > 64 || !only_chars(n->key, n->key_len, "_")) {
        KERR(p, n, "stage variable names are 1 to 64 letters, digits or '_'");
        return false;
    }
    if (n->len == 0 || n->len > 2048 || !only_chars(n->s, n->len, "-._~:/?#&=,")) {
        PERR(p, n,
             "%s: stage variable values are 1 to 2048 characters among A-Z a-z 0-9 "
             "- . _ ~ : / ? # & = , (as AWS)",
             pv(p, n->s, n->len));
        return false;
    }
    return true;
}

/*
 * Replaces each ${stageVariables.NAME} of s by "\x01" (a stand-in that checks accept wherever
 * a variable may stand) into out. Reports and returns false on other ${...} forms and on
 * control characters or spaces.
 */
static bool subst_stage_vars(parser_t *p, const ct_node_t *n, buf_t *out)
{
    const char *s = n->s;
    for (size_t i = 0; i < n->len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= ' ' || c == 0x7f) {
            PERR(p, n, "must not contain spaces or control characters");
            return false;
        }
        if (c == '$' && s[i + 1] == '{') {
            const char *end = strchr(s + i + 2, '}');
            bool named = end && starts_with(s + i + 2, "stageVariables.");
            const char *name = named ? s + i + 2 + strlen("stageVariables.") : NULL;
            if (!named || end <= name || !only_chars(name, (size_t)(end - name), "_")) {
                PERR(p, n, "only ${stageVariables.NAME} may be substituted here");
                return false;
            }
            buf_putc(out, '\x01');
            i = (size_t)(end - s);
            continue;
        }
        buf_putc(out, (char)c);
    }
    return true;
}

/* http:// or https:// with a host, after substitution (a variable may stand for any part). */
static bool http_url_ok(const char *u)
{
    if (u[0] == '\x01')
        return true; /* the whole URL, or its scheme, comes from a stage variable */
    size_t k;
    if (istarts_with(u, "http://"))
        k = 7;
    else if (istarts_with(u, "https://"))
        k = 8;
    else
        return false;
    size_t host = strcspn(u + k, "/?#");
    return host > 0 && u[k] != ':' && u[k] != '@';
}

/* arn:PARTITION:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER] */
static bool lambda_arn_ok(const char *s, size_t n)
{
    char part[8][80];
    size_t np = 0, start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && s[i] != ':')
            continue;
        if (np == 8 || i - start >= sizeof part[0])
            return false;
        memcpy(part[np], s + start, i - start);
        part[np][i - start] = '\0';
        np++;
        start = i + 1;
    }
    if (np < 7 || strcmp(part[0], "arn") != 0 || !starts_with(part[1], "aws") ||
        strcmp(part[2], "lambda") != 0 || strcmp(part[5], "function") != 0)
        return false;
    return part[3][0] && part[4][0] && part[6][0] &&
           only_chars(part[6], strlen(part[6]), "_-\x01") &&
           (np == 7 || only_chars(part[7], strlen(part[7]), "_$-\x01"));
}

/* AWS_PROXY: an http(s) URL (Lambda Invoke API at a local emulator, or any HTTP backend), an
 * API Gateway Lambda invoke ARN, a Lambda function ARN, or a function name[:qualifier]. */
static bool aws_proxy_uri_ok(const char *u)
{
    size_t n = strlen(u);
    if (istarts_with(u, "http://") || istarts_with(u, "https://") || u[0] == '\x01')
        return http_url_ok(u);
    if (starts_with(u, "arn:")) {
        static const char fn[] = ":lambda:path/2015-03-31/functions/";
        static const char inv[] = "/invocations";
        const char *f = strstr(u, fn);
        size_t ni = strlen(inv);
        if (f && starts_with(u + 4, "aws") && strstr(u, ":apigateway:") && n > ni &&
            strcmp(u + n - ni, inv) == 0) {
            const char *arn = f + strlen(fn);
            return lambda_arn_ok(arn, (size_t)(u + n - ni - arn));
        }
        return lambda_arn_ok(u, n);
    }
    const char *colon = strchr(u, ':');
    size_t name = colon ? (size_t)(colon - u) : n;
    return name > 0 && name <= 140 && only_chars(u, name, "_-\x01") &&
           (!colon || (colon[1] && only_chars(colon + 1, strlen(colon + 1), "_$-\x01")));
}

/*
 * "$default" or "/regex/", compiled as the runtime will compile it (route__regex_compile: POSIX
 * extended with Java's \d \s \w, as AWS documents keys such as "/2\d\d/"). regcomp expands
 * counted repetitions and its cost grows faster than the expanded size ("((a||||){20}){20}"
 * takes seconds), so the length times the product of the repetition counts is capped first.
 */
#define REGEX_BUDGET 2048

static bool check_iresp_key(parser_t *p, const ct_node_t *n)
{
    if (strcmp(n->s, "$default") == 0)
        return true;
    if (n->len < 3 || n->s[0] != '/' || n->s[n->len - 1] != '/') {
        PERR(p, n, "%s must be \"$default\" or a /regex/", pv(p, n->s, n->len));
        return false;
    }
    const char *re = n->s + 1;
    size_t len = n->len - 2;
    if (len > 256) {
        PERR(p, n, "the regular expression is longer than 256 characters");
        return false;
    }
    unsigned long cost = len;
    for (size_t i = 0; i < len; i++) {
        if (re[i] == '\\') {
            i++;
        } else if (re[i] == '{') {
            unsigned long bound = 0;
            for (i++; i < len && re[i] != '}'; i++)
                if (re[i] >= '0' && re[i] <= '9' && bound < 100000)
                    bound = bound * 10 + (unsigned long)(re[i] - '0');
                else if (re[i] == ',')
                    bound = 0; /* the upper bound counts */
            cost *= bound ? bound : 1;
            if (cost > REGEX_BUDGET) {
                PERR(p, n,
                     "the regular expression is too complex (its length times its counted "
                     "repetitions exceeds %d)",
                     REGEX_BUDGET);
                return false;
            }
        }
    }
    regex_t rx;
    if (route__regex_compile(&rx, re, len, false) != PT_OK) {
        PERR(p, n, "%s is not a valid regular expression (POSIX extended, plus \\d \\s \\w)",
             pv(p, re, len));
        return false;
    }
    regfree(&rx);
    return true;
}

/* ============================================================================================
 * Object-specific setters and hooks
 * ========================================================================================== */

/* server.listen / server.adminListen: "HOST:PORT", "[IPv6]:PORT". */
static void set_listen(parser_t *p, const ct_node_t *n, void *obj, const field_t *f)
{
    route_listen_t *l = member(obj, f);
    const char *s = f->sdef;
    if (n) {
        if (!str_ok(p, n, f))
            return;
        s = n->s;
    }
    const char *host = s, *hend, *colon;
    if (s[0] == '[') {
        host = s + 1;
        hend = strchr(s, ']');
        colon = hend ? hend + 1 : NULL;
        if (!hend || *colon != ':')
            goto bad;
    } else {
        colon = strrchr(s, ':');
        hend = colon;
        if (!colon)
            goto bad;
        if (memchr(s, ':', (size_t)(colon - s))) {
            PERR(p, n, "%s: write IPv6 addresses in brackets, e.g. \"[::1]:8080\"", pvs(p, s));
            return;
        }
    }
    size_t hlen = (size_t)(hend - host);
    const char *port = colon + 1;
    size_t plen = strlen(port);
    if (hlen == 0 || hlen > 255 || plen == 0 || plen > 5 || strspn(port, "0123456789") != plen)
        goto bad;
    long portv = strtol(port, NULL, 10);
    if (portv > 65535) {
        PERR(p, n, "port %ld is out of range [0, 65535]", portv);
        return;
    }
    char hbuf[256], addr[16];
    memcpy(hbuf, host, hlen);
    hbuf[hlen] = '\0';
    bool ok;
    if (s[0] == '[')
        ok = inet_pton(AF_INET6, hbuf, addr) == 1;
    else if (strspn(hbuf, "0123456789.") == hlen)
        ok = inet_pton(AF_INET, hbuf, addr) == 1; /* digits and dots: an IPv4 address */
    else
        ok = only_chars(hbuf, hlen, ".-"); /* a host name, resolved by the gateway */
    if (!ok)
        goto bad;
    l->host = cfg_arena_strndup(&p->arena, host, hlen);
    l->port = (int)portv;
    return;
bad:
    if (n)
        PERR(p, n, "%s is not HOST:PORT (e.g. \"0.0.0.0:8080\", \"[::1]:8080\")", pvs(p, s));
}

static bool wildcard_host(const char *h)
{
    return strcmp(h, "0.0.0.0") == 0 || strcmp(h, "::") == 0;
}

static void server_finish(parser_t *p, const ct_node_t *n, void *obj)
{
    route_server_t *s = obj;
    const route_listen_t *a = &s->listen, *b = &s->admin_listen;
    if (!a->host || !b->host || a->port == 0 || a->port != b->port)
        return;
    if (strcmp(a->host, b->host) == 0 || wildcard_host(a->host) || wildcard_host(b->host)) {
        const ct_node_t *at = ct_map_get(n, "adminListen");
        at = at ? at : ct_map_get(n, "listen");
        if (at)
            PERR(p, at, "listen and adminListen must not share port %d", a->port);
    }
}

/* server.aws.lambdaEndpoint: stored normalised (docs/lambda.md). */
static void set_lambda_endpoint(parser_t *p, const ct_node_t *n, void *obj, const field_t *f)
{
    buf_t norm = BUF_INIT, why = BUF_INIT;
    if (!str_ok(p, n, f))
        return;
    if (route_lambda_endpoint_norm(n->s, &norm, &why) != PT_OK)
        PERR(p, n, "%s: %s", pv(p, n->s, n->len), why.p);
    else
        ((route_aws_t *)obj)->lambda_endpoint = dup_str(p, norm.p);
    buf_free(&norm);
    buf_free(&why);
}

/* server.aws: a key id and its secret go together, and a session token needs both. */
static void aws_finish(parser_t *p, const ct_node_t *n, void *obj)
{
    const route_aws_t *a = obj;
    if (!n)
        return;
    if (!a->access_key_id != !a->secret_access_key)
        PERR(p, n, "accessKeyId and secretAccessKey must be given together");
    else if (a->session_token && !a->access_key_id)
        PERR(p, n, "sessionToken needs accessKeyId and secretAccessKey");
}

static void set_cred_stages(parser_t *p, const ct_node_t *n, void *obj, const field_t *f)
{
    route_credential_t *c = obj;
    (void)f;
    if (!type_ok(p, n, CT_SEQ))
        return;
    if (n->n == 0) {
        PERR(p, n, "must not be empty (leave stages out to allow every stage)");
        return;
    }
    c->stages = cfg_arena_alloc(&p->arena, n->n * sizeof *c->stages);
    for (const ct_node_t *e = n->first; e; e = e->next) {
        if (!type_ok(p, e, CT_STR))
            continue;
        bool found = false;
        suggest_t sg;
        suggest_init(&sg, e->s, e->len);
        for (size_t i = 0; i < p->cfg->napis; i++) {
            const route_api_t *api = &p->cfg->apis[i];
            for (size_t j = 0; j < api->nstages; j++) {
                found = found || (api->stages[j].name && strcmp(api->stages[j].name, e->s) == 0);
                suggest_add(&sg, api->stages[j].name);
            }
        }
        if (!found) {
            PERR(p, e, "stage %s does not exist in any API%s", pv(p, e->s, e->len),
                 suggest_text(p, &sg));
            continue;
        }
        c->stages[c->nstages++] = dup_str(p, e->s);
    }
}

/* invokeResources: execute-api ARNs, wildcards allowed ("arn:aws:execute-api:*:*:abc/dev/x"). */
static bool check_invoke_arn(parser_t *p, const ct_node_t *n)
{
    if (strncmp(n->s, "arn:aws:execute-api:", 20) == 0 || strcmp(n->s, "*") == 0)
        return true;
    PERR(p, n, "%s is not an execute-api ARN (arn:aws:execute-api:REGION:ACCOUNT:API/STAGE/...)",
         pv(p, n->s, n->len));
    return false;
}

static void creds_done(parser_t *p, const ct_node_t *seq, void *elems, size_t n)
{
    check_unique(p, seq, elems, n, sizeof(route_credential_t),
                 offsetof(route_credential_t, access_key_id), "accessKeyId");
}

static void mapping_finish(parser_t *p, const ct_node_t *n, void *obj)
{
    route_mapping_t *m = obj;
    if (!n || !m->api_id)
        return;
    suggest_t sg;
    suggest_init(&sg, m->api_id, strlen(m->api_id));
    for (size_t i = 0; i < p->cfg->napis && !m->api; i++) {
        route_api_t *api = &p->cfg->apis[i];
        if (api->id && strcmp(api->id, m->api_id) == 0)
            m->api = api;
        suggest_add(&sg, api->id);
    }
    if (!m->api) {
        PERR(p, ct_map_get(n, "apiId"), "API %s does not exist%s", pvs(p, m->api_id),
             suggest_text(p, &sg));
        return;
    }
    if (!m->stage)
        return;
    for (size_t j = 0; j < m->api->nstages && !m->stage_ref; j++)
        if (m->api->stages[j].name && strcmp(m->api->stages[j].name, m->stage) == 0)
            m->stage_ref = &m->api->stages[j];
    if (!m->stage_ref) {
        suggest_init(&sg, m->stage, strlen(m->stage));
        for (size_t j = 0; j < m->api->nstages; j++)
            suggest_add(&sg, m->api->stages[j].name);
        PERR(p, ct_map_get(n, "stage"), "stage %s does not exist in API %s%s", pvs(p, m->stage),
             pvs(p, m->api_id), suggest_text(p, &sg));
    }
}

static void mappings_done(parser_t *p, const ct_node_t *seq, void *elems, size_t n)
{
    route_mapping_t *m = elems;
    for (size_t i = 1; i < n; i++) {
        for (size_t j = 0; j < i; j++) {
            if (!m[i].domain_name || !m[j].domain_name || !m[i].api_mapping_key ||
                !m[j].api_mapping_key)
                continue;
            if (strcasecmp(m[i].domain_name, m[j].domain_name) == 0 &&
                strcmp(m[i].api_mapping_key, m[j].api_mapping_key) == 0) {
                PERR(p, seq_at(seq, i),
                     "domainName %s with apiMappingKey %s is already mapped (line %d)",
                     pvs(p, m[i].domain_name), pvs(p, m[i].api_mapping_key), seq_at(seq, j)->line);
                break;
            }
        }
    }
}

static void api_begin(parser_t *p, const ct_node_t *n, void *obj)
{
    p->api = obj;
    p->api_node = n;
}

/* apiId: given, or derived from the name so that it survives restarts (clients and stored
 * connections keep using it). */
static void set_api_id(parser_t *p, const ct_node_t *n, void *obj, const field_t *f)
{
    route_api_t *api = obj;
    if (n && str_ok(p, n, f)) {
        api->id = dup_str(p, n->s);
        return;
    }
    char idx[32];
    snprintf(idx, sizeof idx, "apis[%zu]", p->api_node ? p->api_node->index : 0);
    api->id = gen_id(p, 10, "api", "", api->name ? api->name : idx);
}

static void set_rse(parser_t *p, const ct_node_t *n, void *obj, const field_t *f)
{
    route_api_t *api = obj;
    if (n && api->protocol == ROUTE_PROTO_HTTP) {
        /* Fixed by AWS for HTTP APIs (spec 14); accepted as exported, never evaluated. */
        if (str_ok(p, n, f) && strcmp(n->s, "${request.method} ${request.path}") != 0)
            PERR(p, n,
                 "HTTP APIs select routes by \"${request.method} ${request.path}\", the only "
                 "value AWS allows, got %s",
                 pv(p, n->s, n->len));
        return;
    }
    if (n) {
        set_expr(p, n, obj, f);
        return;
    }
    if (api->protocol == ROUTE_PROTO_WEBSOCKET && p->obj_node)
        PERR(p, p->obj_node,
             "missing required key \"routeSelectionExpression\" (WEBSOCKET APIs need one, e.g. "
             "\"$request.body.action\")");
}

static void set_integ_uri(parser_t *p, const ct_node_t *n, void *obj, const field_t *f)
{
    route_integration_t *g = obj;
    if (!n) {
        if (g->type && g->type != ROUTE_INTEG_MOCK && p->obj_node)
            PERR(p, p->obj_node, "missing required key \"integrationUri\"");
        return;
    }
    if (!str_ok(p, n, f))
        return;
    if (g->type == ROUTE_INTEG_MOCK) {
        PERR(p, n, "MOCK integrations have no integrationUri");
        return;
    }
    buf_t u = BUF_INIT; /* owned here */
    bool ok = subst_stage_vars(p, n, &u);
    if (ok && (g->type == ROUTE_INTEG_HTTP || g->type == ROUTE_INTEG_HTTP_PROXY) &&
        !http_url_ok(u.p ? u.p : "")) {
        PERR(p, n, "%s is not an http:// or https:// URL", pv(p, n->s, n->len));
        ok = false;
    }
    if (ok && g->type == ROUTE_INTEG_AWS_PROXY && !aws_proxy_uri_ok(u.p ? u.p : "")) {
        PERR(p, n,
             "%s is not an http(s) URL, a Lambda function ARN (or API Gateway invoke ARN) or a "
             "function name",
             pv(p, n->s, n->len));
        ok = false;
    }
    buf_free(&u);
    if (ok)
        g->uri = dup_str(p, n->s);
}

static void iresp_done(parser_t *p, const ct_node_t *seq, void *elems, size_t n)
{
    check_unique(p, seq, elems, n, sizeof(route_integ_response_t),
                 offsetof(route_integ_response_t, key), "integrationResponseKey");
}

static void integs_done(parser_t *p, const ct_node_t *seq, void *elems, size_t n)
{
    route_integration_t *g = elems;
    for (size_t i = 0; i < n; i++) {
        if (g[i].id)
            continue;
        char idx[32];
        snprintf(idx, sizeof idx, "%zu", i);
        g[i].id = gen_id(p, 7, "integration", p->api ? p->api->id : "", idx);
    }
    check_unique(p, seq, elems, n, sizeof *g, offsetof(route_integration_t, id), "integrationId");
}

static route_integration_t *find_integ(parser_t *p, const char *id, suggest_t *sg)
{
    for (size_t i = 0; p->api && i < p->api->nintegrations; i++) {
        route_integration_t *g = &p->api->integrations[i];
        if (g->id && strcmp(g->id, id) == 0)
            return g;
        suggest_add(sg, g->id);
    }
    return NULL;
}

static void set_target(parser_t *p, const ct_node_t *n, void *obj, const field_t *f)
{
    route_route_t *r = obj;
    static const char pre[] = "integrations/";
    if (!str_ok(p, n, f))
        return;
    if (!starts_with(n->s, pre) || n->len == strlen(pre)) {
        PERR(p, n, "must be \"integrations/{integrationId}\", got %s", pv(p, n->s, n->len));
        return;
    }
    const char *id = n->s + strlen(pre);
    suggest_t sg;
    suggest_init(&sg, id, strlen(id));
    r->integration = find_integ(p, id, &sg);
    if (!r->integration)
        PERR(p, n, "integration %s does not exist%s", pvs(p, id), suggest_text(p, &sg));
}

static void set_request_models(parser_t *p, const ct_node_t *n, void *obj, const field_t *f)
{
    (void)obj;
    (void)f;
    if (type_ok(p, n, CT_MAP) && n->n)
        PERR(p, n, "not supported yet (only {} is accepted)");
}

/* Route requestParameters: route.request.{header|querystring}.NAME -> {"required": bool},
 * stored as that key -> "true" / "false". */
typedef struct param_req {
    bool required;
} param_req_t;

static const schema_t S_param_req;

static void set_route_params(parser_t *p, const ct_node_t *n, void *obj, const field_t *f)
{
    static const char *const prefixes[] = {"route.request.header.", "route.request.querystring."};
    route_route_t *r = obj;
    (void)f;
    if (!type_ok(p, n, CT_MAP))
        return;
    route_kv_t *items = n->n ? cfg_arena_alloc(&p->arena, n->n * sizeof *items) : NULL;
    size_t k = 0;
    for (const ct_node_t *c = n->first; c; c = c->next) {
        const char *name = after_prefix(c->key, prefixes, PT_ARRAY_LEN(prefixes));
        if (!name || !param_name_ok(name) || memchr(c->key, '\0', c->key_len)) {
            KERR(p, c,
                 "%s is not a route parameter: use route.request.header.NAME or "
                 "route.request.querystring.NAME",
                 pv(p, c->key, c->key_len));
            continue;
        }
        param_req_t req = {false};
        if (!type_ok(p, c, CT_MAP))
            continue;
        parse_object(p, c, &S_param_req, &req);
        items[k].key = dup_str(p, c->key);
        items[k].val = dup_str(p, req.required ? "true" : "false");
        k++;
    }
    r->request_parameters.items = items;
    r->request_parameters.n = k;
}

/* Route responses, nested in a route or listed at the API level with routeId / routeKey. */
typedef struct rresp {
    char *key;
    char *route_id;
    char *route_key;
    int line;
} rresp_t;

static const schema_t S_rresp, S_rresp_api;

/* route->two_way holds "has a $default route response" until api_finish, which combines it
 * with the routeResponseSelectionExpression. */
static void add_rresp(parser_t *p, const ct_node_t *n, route_route_t *r)
{
    if (r->two_way)
        PERR(p, n, "route %s already has a \"$default\" route response",
             pvs(p, r->key ? r->key : "?"));
    r->two_way = true;
}

static void set_route_responses(parser_t *p, const ct_node_t *n, void *obj, const field_t *f)
{
    (void)f;
    if (!type_ok(p, n, CT_SEQ))
        return;
    for (const ct_node_t *c = n->first; c; c = c->next) {
        rresp_t rr = {0};
        parse_object(p, c, &S_rresp, &rr);
        if (rr.key)
            add_rresp(p, c, obj);
    }
}

static route_route_t *find_route(parser_t *p, const char *s, bool by_id, suggest_t *sg)
{
    for (size_t i = 0; p->api && i < p->api->nroutes; i++) {
        route_route_t *r = &p->api->routes[i];
        const char *v = by_id ? r->id : r->key;
        if (v && strcmp(v, s) == 0)
            return r;
        suggest_add(sg, v);
    }
    return NULL;
}

static route_route_t *resolve_route(parser_t *p, const ct_node_t *at, const char *s, bool by_id)
{
    suggest_t sg;
    suggest_init(&sg, s, strlen(s));
    route_route_t *r = find_route(p, s, by_id, &sg);
    if (!r)
        PERR(p, at, "route %s does not exist%s", pvs(p, s), suggest_text(p, &sg));
    return r;
}

static void set_api_route_responses(parser_t *p, const ct_node_t *n, void *obj, const field_t *f)
{
    (void)obj;
    (void)f;
    if (!type_ok(p, n, CT_SEQ))
        return;
    for (const ct_node_t *c = n->first; c; c = c->next) {
        rresp_t rr = {0};
        parse_object(p, c, &S_rresp_api, &rr);
        if (c->kind != CT_MAP)
            continue;
        if (!rr.route_id && !rr.route_key) {
            if (!ct_map_get(c, "routeId") && !ct_map_get(c, "routeKey"))
                PERR(p, c, "missing routeId or routeKey (which route this response is for)");
            continue;
        }
        route_route_t *a = NULL, *b = NULL;
        if (rr.route_id)
            a = resolve_route(p, ct_map_get(c, "routeId"), rr.route_id, true);
        if (rr.route_key)
            b = resolve_route(p, ct_map_get(c, "routeKey"), rr.route_key, false);
        if (a && b && a != b) {
            PERR(p, c, "routeId and routeKey name different routes");
            continue;
        }
        if ((a || b) && rr.key)
            add_rresp(p, c, a ? a : b);
    }
}

/* API-level integrationResponses: like the nested ones, plus the integrationId they belong to. */
typedef struct iresp_api {
    route_integ_response_t r; /* first: the shared fields' offsets apply unchanged */
    char *integration_id;
} iresp_api_t;

static const schema_t S_iresp_api;

static void set_api_integ_responses(parser_t *p, const ct_node_t *n, void *obj, const field_t *f)
{
    route_api_t *api = obj;
    (void)f;
    if (!type_ok(p, n, CT_SEQ) || n->n == 0)
        return;
    iresp_api_t *st = cfg_arena_alloc(&p->arena, n->n * sizeof *st);
    route_integration_t **owner = pt_xcalloc(n->n, sizeof *owner); /* owned here */
    const ct_node_t **nodes = pt_xcalloc(n->n, sizeof *nodes);     /* owned here */
    size_t i = 0;
    for (const ct_node_t *c = n->first; c; c = c->next, i++) {
        nodes[i] = c;
        parse_object(p, c, &S_iresp_api, &st[i]);
        if (st[i].integration_id) {
            suggest_t sg;
            suggest_init(&sg, st[i].integration_id, strlen(st[i].integration_id));
            owner[i] = find_integ(p, st[i].integration_id, &sg);
            if (!owner[i])
                PERR(p, ct_map_get(c, "integrationId"), "integration %s does not exist%s",
                     pvs(p, st[i].integration_id), suggest_text(p, &sg));
        }
        if (!owner[i]) {
            route_expr_free(st[i].r.tse); /* nobody will own it */
            st[i].r.tse = NULL;
        }
    }
    /* Append each integration's share to its nested list; the compiled expressions move. */
    for (size_t g = 0; g < api->nintegrations; g++) {
        route_integration_t *in = &api->integrations[g];
        size_t extra = 0;
        for (i = 0; i < n->n; i++)
            extra += owner[i] == in;
        if (!extra)
            continue;
        route_integ_response_t *v =
            cfg_arena_alloc(&p->arena, (in->nresponses + extra) * sizeof *v);
        if (in->nresponses)
            memcpy(v, in->responses, in->nresponses * sizeof *v);
        size_t k = in->nresponses;
        for (i = 0; i < n->n; i++) {
            if (owner[i] != in)
                continue;
            for (size_t j = 0; j < k && st[i].r.key; j++) {
                if (v[j].key && strcmp(v[j].key, st[i].r.key) == 0) {
                    PERR(p, nodes[i],
                         "duplicate integrationResponseKey %s for integration %s (first at "
                         "line %d)",
                         pvs(p, st[i].r.key), pvs(p, in->id), v[j].line);
                    break;
                }
            }
            v[k++] = st[i].r;
        }
        in->responses = v;
        in->nresponses = k;
    }
    free(nodes);
    free(owner);
}

static void route_settings_finish(parser_t *p, const ct_node_t *n, void *obj)
{
    route_settings_t *s = obj;
    (void)p;
    bool burst = ct_map_get(n, "throttlingBurstLimit") != NULL;
    bool rate = ct_map_get(n, "throttlingRateLimit") != NULL;
    if (!burst && !rate)
        return;
    if (!s->has_throttle) {
        /* The other half of a throttle comes from AWS's account defaults. */
        if (!burst)
            s->throttling_burst_limit = 5000;
        if (!rate)
            s->throttling_rate_limit = 10000.0;
    }
    s->has_throttle = true;
}

static const schema_t S_route_settings;

/* routeSettings: routeKey -> RouteSettings, each starting from defaultRouteSettings (read
 * before it, by table order), as AWS applies a stage's defaults to routes without settings. */
static void set_route_settings(parser_t *p, const ct_node_t *n, void *obj, const field_t *f)
{
    route_stage_t *st = obj;
    (void)f;
    if (!type_ok(p, n, CT_MAP) || n->n == 0)
        return;
    st->route_settings = cfg_arena_alloc(&p->arena, n->n * sizeof *st->route_settings);
    route_kv_t *keys = cfg_arena_alloc(&p->arena, n->n * sizeof *keys);
    size_t k = 0;
    for (const ct_node_t *c = n->first; c; c = c->next) {
        suggest_t sg;
        suggest_init(&sg, c->key, c->key_len);
        if (memchr(c->key, '\0', c->key_len) || !find_route(p, c->key, false, &sg)) {
            KERR(p, c, "route %s does not exist%s", pv(p, c->key, c->key_len),
                 suggest_text(p, &sg));
            continue;
        }
        st->route_settings[k] = st->default_route_settings;
        parse_object(p, c, &S_route_settings, &st->route_settings[k]);
        char idx[32];
        snprintf(idx, sizeof idx, "%zu", k);
        keys[k].key = dup_str(p, c->key);
        keys[k].val = dup_str(p, idx);
        k++;
    }
    st->nroute_settings = k;
    st->route_settings_keys.items = keys;
    st->route_settings_keys.n = k;
}

static void stages_done(parser_t *p, const ct_node_t *seq, void *elems, size_t n)
{
    check_unique(p, seq, elems, n, sizeof(route_stage_t), offsetof(route_stage_t, name),
                 "stageName");
}

static void routes_done(parser_t *p, const ct_node_t *seq, void *elems, size_t n)
{
    route_route_t *r = elems;
    for (size_t i = 0; i < n; i++)
        if (!r[i].id && r[i].key)
            r[i].id = gen_id(p, 7, "route", p->api ? p->api->id : "", r[i].key);
    check_unique(p, seq, elems, n, sizeof *r, offsetof(route_route_t, key), "routeKey");
    /* Two generated ids only collide when their routeKeys do, which is reported above. */
    for (size_t i = 1; i < n; i++) {
        bool given_i = ct_map_get(seq_at(seq, i), "routeId") != NULL;
        for (size_t j = 0; r[i].id && j < i; j++) {
            bool given_j = ct_map_get(seq_at(seq, j), "routeId") != NULL;
            if (r[j].id && (given_i || given_j) && strcmp(r[i].id, r[j].id) == 0) {
                PERR(p, elem_key_node(seq, i, "routeId"), "duplicate routeId %s (first at line %d)",
                     pvs(p, r[i].id), elem_key_node(seq, j, "routeId")->line);
                break;
            }
        }
    }
}

/* HTTP APIs: route responses are a WebSocket feature; the route table compiles once here. */
static void http_api_finish(parser_t *p, const ct_node_t *n, route_api_t *api)
{
    const ct_node_t *seq = n ? ct_map_get(n, "routes") : NULL;
    for (size_t i = 0; i < api->nroutes; i++) {
        const route_route_t *r = &api->routes[i];
        const ct_node_t *rn = seq && seq->kind == CT_SEQ && i < seq->n ? seq_at(seq, i) : n;
        if (!rn)
            continue;
        if (r->two_way || r->route_response_selection_expression)
            PERR(p, rn,
                 "route responses are for WebSocket APIs; an HTTP API answers with the "
                 "integration's response");
    }
    buf_t why = BUF_INIT;
    if (route__http_compile(api, &why) != PT_OK && n)
        PERR(p, seq ? seq : n, "%s", why.p ? why.p : "invalid routes");
    buf_free(&why);
}

static void api_finish(parser_t *p, const ct_node_t *n, void *obj)
{
    route_api_t *api = obj;
    if (n) {
        if (api->nstages == 0)
            PERR(p, n, "at least one stage is required (stages)");
        if (api->protocol == ROUTE_PROTO_WEBSOCKET && api->nroutes == 0)
            PERR(p, n, "a WEBSOCKET API needs at least one route (routes)");
    }
    if (api->protocol == ROUTE_PROTO_HTTP)
        http_api_finish(p, n, api);
    for (size_t i = 0; i < api->nroutes; i++) {
        route_route_t *r = &api->routes[i];
        r->two_way = r->two_way && r->route_response_selection_expression &&
                     strcmp(r->route_response_selection_expression, "$default") == 0;
    }
    p->api = NULL;
    p->api_node = NULL;
}

static void apis_done(parser_t *p, const ct_node_t *seq, void *elems, size_t n)
{
    route_api_t *a = elems;
    if (n == 0)
        PERR(p, seq, "at least one API is required");
    for (size_t i = 1; i < n; i++) {
        for (size_t j = 0; j < i; j++) {
            if (!a[i].id || !a[j].id || strcmp(a[i].id, a[j].id) != 0)
                continue;
            const ct_node_t *e = seq_at(seq, i);
            if (ct_map_get(e, "apiId"))
                PERR(p, ct_map_get(e, "apiId"), "duplicate apiId %s (first at line %d)",
                     pvs(p, a[i].id), elem_key_node(seq, j, "apiId")->line);
            else
                PERR(p, e,
                     "the apiId derived from the name (%s) is already used by apis[%zu]; set "
                     "apiId",
                     pvs(p, a[i].id), j);
            break;
        }
    }
}

/* ---- operations: admin token, access logs ---- */

/* A bearer token short enough to guess is no protection. It travels in a header and, for the
 * status page, in a cookie: printable ASCII without the characters a cookie value cannot hold. */
static bool check_admin_token(parser_t *p, const ct_node_t *n)
{
    if (n->len < 16) {
        PERR(p, n, "must be at least 16 characters long");
        return false;
    }
    for (size_t i = 0; i < n->len; i++) {
        unsigned char c = (unsigned char)n->s[i];
        if (c <= ' ' || c >= 0x7f || c == '"' || c == ',' || c == ';' || c == '\\') {
            PERR(p, n,
                 "must be printable ASCII without spaces, quotes, commas, semicolons or "
                 "backslashes");
            return false;
        }
    }
    return true;
}

static bool check_alog_dest(parser_t *p, const ct_node_t *n)
{
    buf_t out = BUF_INIT, why = BUF_INIT;
    route_alog_dest_kind_t kind;
    bool ok = route_alog_dest(n->s, &kind, &out, &why) == PT_OK;
    if (!ok)
        PERR(p, n, "%s: %s", pvs(p, n->s), why.p ? why.p : "invalid");
    buf_free(&out);
    buf_free(&why);
    return ok;
}

static bool check_alog_format(parser_t *p, const ct_node_t *n)
{
    buf_t why = BUF_INIT;
    route_alog_t *f = NULL;
    bool ok = route_alog_compile(n->s, n->len, &f, &why) == PT_OK;
    if (!ok)
        PERR(p, n, "%s", why.p ? why.p : "invalid");
    route_alog_free(f);
    buf_free(&why);
    return ok;
}

/* A format alone would log nowhere; AWS refuses it too. */
static void alog_finish(parser_t *p, const ct_node_t *n, void *obj)
{
    const route_stage_t *st = obj;
    const ct_node_t *fmt = n ? ct_map_get(n, "format") : NULL;
    if (fmt && !st->access_log_destination)
        PERR(p, fmt, "needs accessLogSettings.destinationArn");
}

/* ---- HTTP APIs: integrations and corsConfiguration (docs/rest.md) ---- */

static bool is_http_api(const parser_t *p)
{
    return p->api && p->api->protocol == ROUTE_PROTO_HTTP;
}

/* timeoutInMillis: 50..29000 (default 29000) on WebSocket APIs, 50..30000 (default 30000) on
 * HTTP APIs, AWS's quotas for each (spec 9, 14). */
static void set_timeout(parser_t *p, const ct_node_t *n, void *obj, const field_t *f)
{
    field_t g = *f;
    if (is_http_api(p)) {
        g.max = 30000;
        g.def = 30000;
    }
    set_int(p, n, obj, &g);
}

/* integrationMethod: HTTP APIs' HTTP_PROXY integrations forward the client's method unless told
 * otherwise, so their default is ANY (AWS makes the key required there). */
static void set_integ_method(parser_t *p, const ct_node_t *n, void *obj, const field_t *f)
{
    field_t g = *f;
    if (is_http_api(p))
        g.sdef = "ANY";
    set_str(p, n, obj, &g);
}

static void integ_finish(parser_t *p, const ct_node_t *n, void *obj)
{
    const route_integration_t *g = obj;
    const ct_node_t *pfv = n ? ct_map_get(n, "payloadFormatVersion") : NULL;
    if (!n || !p->api)
        return;
    if (!is_http_api(p)) {
        if (pfv && g->payload_format_version && strcmp(g->payload_format_version, "2.0") == 0)
            PERR(p, pfv, "payloadFormatVersion 2.0 is for HTTP APIs; WebSocket APIs use 1.0");
        return;
    }
    if (g->type == ROUTE_INTEG_HTTP)
        PERR(p, ct_map_get(n, "integrationType"),
             "HTTP APIs use HTTP_PROXY, AWS_PROXY or MOCK integrations (HTTP is for WebSocket "
             "APIs)");
    if (g->type == ROUTE_INTEG_AWS_PROXY && !pfv)
        PERR(p, n,
             "missing required key \"payloadFormatVersion\" (\"1.0\" or \"2.0\": AWS requires it "
             "for the Lambda integrations of HTTP APIs)");
    if (g->nresponses && g->type != ROUTE_INTEG_MOCK)
        PERR(p, ct_map_get(n, "integrationResponses"),
             "integration responses of HTTP APIs apply to MOCK integrations only");
}

static const schema_t S_cors;

/* A list of strings stored as char ** at off with its count at def (an offset); check sees
 * each element. */
static void set_strlist(parser_t *p, const ct_node_t *n, void *obj, const field_t *f)
{
    if (!type_ok(p, n, CT_SEQ))
        return;
    char **v = n->n ? cfg_arena_alloc(&p->arena, n->n * sizeof *v) : NULL;
    size_t k = 0;
    for (const ct_node_t *c = n->first; c; c = c->next)
        if (str_ok(p, c, f))
            v[k++] = dup_str(p, c->s);
    *(char ***)member(obj, f) = v;
    *(size_t *)((char *)obj + f->def) = k;
}

static void set_max_age(parser_t *p, const ct_node_t *n, void *obj, const field_t *f)
{
    int64_t v;
    route_cors_t *c = obj;
    if (!get_int(p, n, f, &v))
        return;
    c->max_age = (int)v;
    c->has_max_age = true;
}

static bool check_header_name(parser_t *p, const ct_node_t *n)
{
    if (only_chars(n->s, n->len, "!#$%&'*+.^_`|~-"))
        return true;
    PERR(p, n, "%s is not a header name (or \"*\")", pv(p, n->s, n->len));
    return false;
}

/* An origin ("https://app.example.com", "http://localhost:8080"), "*", or a scheme followed by
 * "*" (any origin of that scheme), as AWS accepts them. */
static bool check_origin(parser_t *p, const ct_node_t *n)
{
    const char *s = n->s;
    const char *sep = strstr(s, "://");
    if (strcmp(s, "*") == 0)
        return true;
    bool ok = sep && sep > s && only_chars(s, (size_t)(sep - s), "+-.");
    if (ok) {
        const char *h = sep + 3;
        ok = strcmp(h, "*") == 0 || (h[0] && h[0] != ':' && only_chars(h, strlen(h), ".-:[]"));
    }
    if (!ok)
        PERR(p, n,
             "%s is not an origin: use \"*\", a scheme and \"://*\", or "
             "scheme://host[:port] with no path (\"https://app.example.com\")",
             pv(p, n->s, n->len));
    return ok;
}

static void cors_finish(parser_t *p, const ct_node_t *n, void *obj)
{
    const route_cors_t *c = obj;
    if (!n || !c->allow_credentials)
        return;
    for (size_t i = 0; i < c->nallow_origins; i++)
        if (strcmp(c->allow_origins[i], "*") == 0)
            PERR(p, ct_map_get(n, "allowOrigins"),
                 "allowCredentials true cannot be combined with the origin \"*\" (browsers "
                 "refuse credentials with a wildcard origin); list the origins");
}

static void set_cors(parser_t *p, const ct_node_t *n, void *obj, const field_t *f)
{
    route_api_t *api = obj;
    (void)f;
    if (api->protocol != ROUTE_PROTO_HTTP) {
        PERR(p, n, "corsConfiguration is for HTTP APIs");
        return;
    }
    route_cors_t *c = cfg_arena_alloc(&p->arena, sizeof *c);
    parse_object(p, n, &S_cors, c);
    api->cors = c;
}

/* ---- issue 7: authorizers, resource policies, API keys, usage plans, throttles ---- */

/* docs/security.md. Models in routes/security.h; what the gateway does with them in
 * gateway/authz.c and gateway/limits.c. */

static route_security_t *security(parser_t *p)
{
    if (!p->cfg->security)
        p->cfg->security = cfg_arena_alloc(&p->arena, sizeof *p->cfg->security);
    return p->cfg->security;
}

/* A value of the tree as a jansson tree (policy documents are read by routes/policy.c). */
static json_t *ct_json(const ct_node_t *n)
{
    json_t *j = NULL;
    switch (n->kind) {
    case CT_MAP:
        j = json_object();
        for (const ct_node_t *c = n->first; c; c = c->next)
            json_object_setn_new(j, c->key, c->key_len, ct_json(c));
        break;
    case CT_SEQ:
        j = json_array();
        for (const ct_node_t *c = n->first; c; c = c->next)
            json_array_append_new(j, ct_json(c));
        break;
    case CT_STR:
        j = json_stringn(n->s, n->len);
        break;
    case CT_INT:
        j = json_integer(strtoll(n->s, NULL, 10));
        break;
    case CT_FLOAT:
        j = json_real(strtod(n->s, NULL));
        break;
    case CT_BOOL:
        j = json_boolean(n->s[0] == 't' || n->s[0] == 'T');
        break;
    case CT_NULL:
        j = json_null();
        break;
    }
    return j ? j : json_null();
}

/* apis[].policy: an IAM policy document (an object, or its JSON text as REST APIs store it). */
static void set_policy(parser_t *p, const ct_node_t *n, void *obj, const field_t *f)
{
    route_api_t *api = obj;
    json_t *doc = NULL;
    buf_t why = BUF_INIT;
    (void)f;
    if (n->kind == CT_STR) {
        doc = json_loadb(n->s, n->len, JSON_REJECT_DUPLICATES, NULL);
        if (!doc) {
            PERR(p, n, "is not a JSON policy document");
            return;
        }
    } else if (type_ok(p, n, CT_MAP)) {
        doc = ct_json(n);
    } else {
        return;
    }
    route_policy_free(api->policy); /* cannot be set twice, but stay leak-free if it were */
    api->policy = NULL;
    if (route_policy_parse(doc, &api->policy, &why) != PT_OK)
        PERR(p, n, "%s", why.p ? why.p : "invalid policy document");
    json_decref(doc);
    buf_free(&why);
}

/* ---- authorizers ---- */

static const schema_t S_jwt_cfg;

static void authz_begin(parser_t *p, const ct_node_t *n, void *obj)
{
    route_authorizer_t *a = obj;
    (void)p;
    (void)n;
    a->ttl_s = -1;
    a->timeout_ms = 10000;
}

static bool authz_uri_ok(parser_t *p, const ct_node_t *n)
{
    buf_t u = BUF_INIT;
    bool ok = subst_stage_vars(p, n, &u);
    if (ok && !aws_proxy_uri_ok(u.p ? u.p : "")) {
        PERR(p, n,
             "%s is not an http(s) URL, a Lambda function ARN (or API Gateway invoke ARN) or a "
             "function name",
             pv(p, n->s, n->len));
        ok = false;
    }
    buf_free(&u);
    return ok;
}

static void add_identity_source(parser_t *p, const ct_node_t *at, route_authorizer_t *a,
                                const char *item, bool http)
{
    route_idsrc_kind_t kind;
    const char *name;
    if (route_idsrc_parse(item, http, &kind, &name) != PT_OK) {
        PERR(p, at, "%s is not an identity source: use %s", pvs(p, item),
             http ? "$request.header.NAME, $request.querystring.NAME, $stageVariables.NAME or "
                    "$context.NAME"
                  : "route.request.header.NAME, route.request.querystring.NAME, "
                    "stageVariables.NAME or context.NAME");
        return;
    }
    if (a->nids == ROUTE_IDSRC_MAX) {
        PERR(p, at, "at most %d identity sources", ROUTE_IDSRC_MAX);
        return;
    }
    a->ids[a->nids].kind = kind;
    a->ids[a->nids].name = dup_str(p, name);
    a->nids++;
}

/* A list of identity sources; HTTP APIs' CLI and CloudFormation also write one
 * comma-separated string. */
static void set_identity_source(parser_t *p, const ct_node_t *n, void *obj, const field_t *f)
{
    route_authorizer_t *a = obj;
    bool http = p->api && p->api->protocol == ROUTE_PROTO_HTTP;
    (void)f;
    if (!(n->kind == CT_STR && http) && !type_ok(p, n, CT_SEQ))
        return;
    a->ids = cfg_arena_alloc(&p->arena, ROUTE_IDSRC_MAX * sizeof *a->ids);
    if (n->kind == CT_SEQ) {
        for (const ct_node_t *c = n->first; c; c = c->next)
            if (type_ok(p, c, CT_STR))
                add_identity_source(p, c, a, c->s, http);
        return;
    }
    for (const char *s = n->s; *s;) {
        size_t l = strcspn(s, ",");
        char *item = cfg_arena_strndup(&p->arena, s, l);
        while (*item == ' ')
            item++;
        for (size_t k = strlen(item); k && item[k - 1] == ' '; k--)
            item[k - 1] = '\0';
        add_identity_source(p, n, a, item, http);
        s += l;
        if (*s == ',')
            s++;
    }
}

static void set_authz_ttl(parser_t *p, const ct_node_t *n, void *obj, const field_t *f)
{
    int64_t v;
    if (get_int(p, n, f, &v))
        ((route_authorizer_t *)obj)->ttl_s = (int)v;
}

static void set_authz_pfv(parser_t *p, const ct_node_t *n, void *obj, const field_t *f)
{
    const enum_val_t *v = get_enum(p, n, f);
    if (v)
        ((route_authorizer_t *)obj)->v2 = strcmp(v->name, "2.0") == 0;
}

static void set_jwt_config(parser_t *p, const ct_node_t *n, void *obj, const field_t *f)
{
    (void)f;
    parse_object(p, n, &S_jwt_cfg, obj);
}

static bool check_jwks_uri(parser_t *p, const ct_node_t *n)
{
    if (http_url_ok(n->s) && n->s[0] != '\x01')
        return true;
    PERR(p, n, "%s is not an http:// or https:// URL", pv(p, n->s, n->len));
    return false;
}

static bool check_jwks_file(parser_t *p, const ct_node_t *n)
{
    (void)p;
    (void)n;
    return true; /* read (and checked) by the gateway at start-up: routes/ does no I/O */
}

static void authz_finish(parser_t *p, const ct_node_t *n, void *obj)
{
    route_authorizer_t *a = obj;
    bool http = p->api && p->api->protocol == ROUTE_PROTO_HTTP;
    const ct_node_t *at;
    if (!n)
        return;
    if (a->type == ROUTE_AUTHZ_JWT) {
        if (!http)
            PERR(p, ct_map_get(n, "authorizerType"), "JWT authorizers are for HTTP APIs");
        if (!a->issuer)
            PERR(p, n,
                 "missing required key \"jwtConfiguration\" with an \"issuer\" (JWT authorizers)");
        if ((at = ct_map_get(n, "authorizerUri")))
            PERR(p, at, "JWT authorizers have no authorizerUri");
        if ((at = ct_map_get(n, "authorizerResultTtlInSeconds")))
            PERR(p, at, "JWT authorizers are not cached by result (the keys are)");
        if (a->nids == 0 && !ct_map_get(n, "identitySource")) {
            /* AWS's default identity source for JWT authorizers. */
            a->ids = cfg_arena_alloc(&p->arena, sizeof *a->ids);
            a->ids[0].kind = ROUTE_IDSRC_HEADER;
            a->ids[0].name = dup_str(p, "Authorization");
            a->nids = 1;
        }
        a->ttl_s = 0;
        return;
    }
    if (a->type != ROUTE_AUTHZ_REQUEST)
        return;
    if (!a->uri)
        PERR(p, n, "missing required key \"authorizerUri\" (REQUEST authorizers)");
    if ((at = ct_map_get(n, "jwtConfiguration")))
        PERR(p, at, "jwtConfiguration is for JWT authorizers");
    if (http) {
        if (!ct_map_get(n, "authorizerPayloadFormatVersion"))
            PERR(p, n,
                 "missing required key \"authorizerPayloadFormatVersion\" (\"1.0\" or \"2.0\": "
                 "AWS requires it for the Lambda authorizers of HTTP APIs)");
        if (a->simple && !a->v2)
            PERR(p, ct_map_get(n, "enableSimpleResponses"),
                 "simple responses need authorizerPayloadFormatVersion \"2.0\"");
        /* HTTP APIs cache for 300 s by default, keyed by the identity sources. */
        if (a->ttl_s < 0)
            a->ttl_s = a->nids ? 300 : 0;
        if (a->ttl_s > 0 && a->nids == 0)
            PERR(p, ct_map_get(n, "authorizerResultTtlInSeconds"),
                 "caching needs identitySource (the cache is keyed by it)");
    } else {
        if ((at = ct_map_get(n, "authorizerPayloadFormatVersion")))
            PERR(p, at, "authorizerPayloadFormatVersion is for HTTP APIs");
        if ((at = ct_map_get(n, "enableSimpleResponses")))
            PERR(p, at, "enableSimpleResponses is for HTTP APIs");
        /* AWS runs WebSocket authorizers once per connect without caching; a TTL here is a
         * Portico extension (docs/security.md). */
        if (a->ttl_s < 0)
            a->ttl_s = 0;
        if (a->ttl_s > 0 && a->nids == 0)
            PERR(p, ct_map_get(n, "authorizerResultTtlInSeconds"),
                 "caching needs identitySource (the cache is keyed by it)");
    }
}

static void authorizers_done(parser_t *p, const ct_node_t *seq, void *elems, size_t n)
{
    route_authorizer_t *a = elems;
    for (size_t i = 0; i < n; i++)
        if (!a[i].id)
            a[i].id =
                gen_id(p, 6, "authorizer", p->api ? p->api->id : "", a[i].name ? a[i].name : "");
    check_unique(p, seq, elems, n, sizeof *a, offsetof(route_authorizer_t, id), "authorizerId");
    check_unique(p, seq, elems, n, sizeof *a, offsetof(route_authorizer_t, name), "name");
    if (n > 10 && p->api && p->api->protocol == ROUTE_PROTO_WEBSOCKET)
        PERR(p, seq, "at most 10 authorizers per API (AWS's quota)");
}

static void set_authorizer_id(parser_t *p, const ct_node_t *n, void *obj, const field_t *f)
{
    route_route_t *r = obj;
    if (!str_ok(p, n, f))
        return;
    suggest_t sg;
    suggest_init(&sg, n->s, n->len);
    for (size_t i = 0; p->api && i < p->api->nauthorizers; i++) {
        route_authorizer_t *a = &p->api->authorizers[i];
        if (a->id && strcmp(a->id, n->s) == 0) {
            r->authorizer = a;
            return;
        }
        suggest_add(&sg, a->id);
    }
    PERR(p, n, "authorizer %s does not exist%s", pv(p, n->s, n->len), suggest_text(p, &sg));
}

static void route_finish(parser_t *p, const ct_node_t *n, void *obj)
{
    route_route_t *r = obj;
    const char *t = r->authorization_type ? r->authorization_type : "NONE";
    bool ws = p->api && p->api->protocol == ROUTE_PROTO_WEBSOCKET;
    const ct_node_t *tn = n ? ct_map_get(n, "authorizationType") : NULL;
    const ct_node_t *an = n ? ct_map_get(n, "authorizerId") : NULL;
    if (!n)
        return;
    if (strcmp(t, "JWT") == 0 && ws) {
        PERR(p, tn, "JWT authorizers are for HTTP APIs");
    } else if (strcmp(t, "CUSTOM") == 0 || strcmp(t, "JWT") == 0) {
        route_authz_type_t want = t[0] == 'C' ? ROUTE_AUTHZ_REQUEST : ROUTE_AUTHZ_JWT;
        if (!an)
            PERR(p, n, "missing required key \"authorizerId\" (authorizationType %s)", t);
        else if (r->authorizer && r->authorizer->type != want)
            PERR(p, an, "authorizer %s is not a %s authorizer", pvs(p, r->authorizer->id),
                 want == ROUTE_AUTHZ_JWT ? "JWT" : "REQUEST");
    } else if (an) {
        PERR(p, an, "authorizerId needs authorizationType CUSTOM or JWT");
    }
    const ct_node_t *kn = ct_map_get(n, "apiKeyRequired");
    if (ws && r->key && strcmp(r->key, "$connect") != 0) {
        /* Spec 2.1: authorization and API keys can only be configured on $connect. */
        if (tn && strcmp(t, "NONE") != 0)
            PERR(p, tn, "authorization can only be configured on the $connect route");
        if (kn && r->api_key_required)
            PERR(p, kn, "API keys can only be required on the $connect route");
    }
    const ct_node_t *sn = ct_map_get(n, "authorizationScopes");
    if (sn && r->nauthorization_scopes && strcmp(t, "JWT") != 0)
        PERR(p, sn, "authorizationScopes apply to JWT authorizers");
}

/* ---- API keys and usage plans ---- */

static const schema_t S_apikey, S_plan, S_plan_stage, S_throttle, S_quota;
static const array_t A_APIKEYS, A_PLANS;

static bool check_apikey_value(parser_t *p, const ct_node_t *n)
{
    /* AWS: "at least 20 characters" (and at most 128). */
    if (n->len < 20) {
        PERR(p, n, "API key values are at least 20 characters long");
        return false;
    }
    return check_no_space(p, n);
}

static void apikeys_done(parser_t *p, const ct_node_t *seq, void *elems, size_t n)
{
    route_apikey_t *k = elems;
    for (size_t i = 0; i < n; i++) {
        k[i].index = i;
        if (!k[i].id)
            k[i].id = gen_id(p, 10, "apikey", "", k[i].name ? k[i].name : "");
    }
    check_unique(p, seq, elems, n, sizeof *k, offsetof(route_apikey_t, id), "id");
    check_unique(p, seq, elems, n, sizeof *k, offsetof(route_apikey_t, value), "value");
}

static void set_apikeys(parser_t *p, const ct_node_t *n, void *obj, const field_t *f)
{
    field_t g = *f;
    (void)obj;
    g.off = offsetof(route_security_t, apikeys);
    g.aux = &A_APIKEYS;
    set_array(p, n, security(p), &g);
}

static void set_plans(parser_t *p, const ct_node_t *n, void *obj, const field_t *f)
{
    field_t g = *f;
    (void)obj;
    g.off = offsetof(route_security_t, plans);
    g.aux = &A_PLANS;
    set_array(p, n, security(p), &g);
}

static void throttle_finish(parser_t *p, const ct_node_t *n, void *obj)
{
    route_throttle_t *t = obj;
    (void)p;
    if (!n)
        return;
    bool burst = ct_map_get(n, "burstLimit") != NULL;
    bool rate = ct_map_get(n, "rateLimit") != NULL;
    if (!burst && !rate)
        return;
    if (!burst)
        t->burst = 5000; /* AWS's account defaults fill the missing half */
    if (!rate)
        t->rate = 10000.0;
    t->set = true;
}

static void set_server_throttle(parser_t *p, const ct_node_t *n, void *obj, const field_t *f)
{
    (void)obj;
    (void)f;
    parse_object(p, n, &S_throttle, &security(p)->server_throttle);
}

static void set_throttle_obj(parser_t *p, const ct_node_t *n, void *obj, const field_t *f)
{
    parse_object(p, n, &S_throttle, member(obj, f));
}

static void set_quota(parser_t *p, const ct_node_t *n, void *obj, const field_t *f)
{
    (void)f;
    parse_object(p, n, &S_quota, obj);
}

static void quota_finish(parser_t *p, const ct_node_t *n, void *obj)
{
    route_usage_plan_t *u = obj;
    const ct_node_t *on = n ? ct_map_get(n, "offset") : NULL;
    int max = u->quota_period == ROUTE_QUOTA_WEEK    ? 6
              : u->quota_period == ROUTE_QUOTA_MONTH ? 27
                                                     : 0;
    if (on && (u->quota_offset < 0 || u->quota_offset > max))
        PERR(p, on,
             "offset %d is out of range [0, %d] for this period (DAY: 0; WEEK: 0 = Sunday .. 6; "
             "MONTH: the day the period starts, 0 = the 1st .. 27)",
             u->quota_offset, max);
}

/* apiStages[].throttle: routeKey -> {burstLimit, rateLimit}; the stage is resolved first. */
static void set_plan_stage_throttle(parser_t *p, const ct_node_t *n, void *obj, const field_t *f)
{
    route_plan_stage_t *ps = obj;
    (void)f;
    if (!type_ok(p, n, CT_MAP) || !ps->api)
        return;
    ps->methods = n->n ? cfg_arena_alloc(&p->arena, n->n * sizeof *ps->methods) : NULL;
    for (const ct_node_t *c = n->first; c; c = c->next) {
        if (memchr(c->key, '\0', c->key_len) || !route_find(ps->api, c->key, c->key_len)) {
            KERR(p, c, "route %s does not exist in API %s", pv(p, c->key, c->key_len),
                 pvs(p, ps->api->id));
            continue;
        }
        route_plan_method_t *m = &ps->methods[ps->nmethods++];
        m->route_key = cfg_arena_strndup(&p->arena, c->key, c->key_len);
        parse_object(p, c, &S_throttle, &m->throttle);
    }
}

/* apiId and stage are read before throttle (table order), so the stage resolves here. */
static void set_plan_stage_name(parser_t *p, const ct_node_t *n, void *obj, const field_t *f)
{
    route_plan_stage_t *ps = obj;
    set_str(p, n, obj, f);
    if (!ps->api_id || !ps->stage)
        return;
    route_api_t *api = route_api_find(p->cfg, ps->api_id);
    if (!api) {
        PERR(p, p->obj_node ? p->obj_node : n, "API %s does not exist", pvs(p, ps->api_id));
        return;
    }
    route_stage_t *st = route_stage_find(api, ps->stage, strlen(ps->stage));
    if (!st) {
        PERR(p, n, "stage %s does not exist in API %s", pvs(p, ps->stage), pvs(p, ps->api_id));
        return;
    }
    ps->api = api;
    ps->stage_ref = st;
}

static void set_plan_keys(parser_t *p, const ct_node_t *n, void *obj, const field_t *f)
{
    route_usage_plan_t *u = obj;
    route_security_t *sec = security(p);
    (void)f;
    if (!type_ok(p, n, CT_SEQ))
        return;
    u->keys = n->n ? cfg_arena_alloc(&p->arena, n->n * sizeof *u->keys) : NULL;
    for (const ct_node_t *c = n->first; c; c = c->next) {
        if (!type_ok(p, c, CT_STR))
            continue;
        route_apikey_t *k = NULL;
        suggest_t sg;
        suggest_init(&sg, c->s, c->len);
        for (size_t i = 0; i < sec->napikeys && !k; i++) {
            if ((sec->apikeys[i].id && strcmp(sec->apikeys[i].id, c->s) == 0) ||
                (sec->apikeys[i].name && strcmp(sec->apikeys[i].name, c->s) == 0))
                k = &sec->apikeys[i];
            suggest_add(&sg, sec->apikeys[i].id);
        }
        if (!k) {
            PERR(p, c, "API key %s does not exist (apiKeys[].id or name)%s", pv(p, c->s, c->len),
                 suggest_text(p, &sg));
            continue;
        }
        u->keys[u->nkeys++] = k;
    }
}

static void plans_done(parser_t *p, const ct_node_t *seq, void *elems, size_t n)
{
    route_usage_plan_t *u = elems;
    for (size_t i = 0; i < n; i++) {
        u[i].index = i;
        if (!u[i].id)
            u[i].id = gen_id(p, 6, "usageplan", "", u[i].name ? u[i].name : "");
    }
    check_unique(p, seq, elems, n, sizeof *u, offsetof(route_usage_plan_t, id), "id");
    /* AWS: an API key can be in only one usage plan per API stage. */
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < i; j++)
            for (size_t a = 0; a < u[i].nkeys; a++)
                for (size_t b = 0; b < u[j].nkeys; b++) {
                    if (u[i].keys[a] != u[j].keys[b])
                        continue;
                    for (size_t s = 0; s < u[i].nstages; s++)
                        for (size_t t = 0; t < u[j].nstages; t++)
                            if (u[i].stages[s].stage_ref &&
                                u[i].stages[s].stage_ref == u[j].stages[t].stage_ref)
                                PERR(p, seq_at(seq, i),
                                     "API key %s is in usage plans %s and %s for the same stage "
                                     "(AWS allows one plan per key and stage)",
                                     pvs(p, u[i].keys[a]->id), pvs(p, u[j].id), pvs(p, u[i].id));
                }
}

/* ============================================================================================
 * Tables. A row: key, setter, member, then range / default / check / flags as needed.
 * ========================================================================================== */

#define FLD(k, fn, T, m, ...)                                                                      \
    {                                                                                              \
        .name = k, .set = fn, .off = offsetof(T, m), __VA_ARGS__                                   \
    }
#define FCHK(k, fn, ...)                                                                           \
    {                                                                                              \
        .name = k, .set = fn, .off = NO_OFF, __VA_ARGS__                                           \
    }
#define IGNORED(k, kind)                                                                           \
    {                                                                                              \
        .name = k, .set = set_ignored, .off = NO_OFF, .min = kind                                  \
    }
#define NOT_YET(k)                                                                                 \
    {                                                                                              \
        .name = k, .set = set_not_yet, .off = NO_OFF                                               \
    }
#define U32(k, m, lo, hi, d)                                                                       \
    FLD(k, set_u32, route_limits_t, m, .min = lo, .max = hi, .def = d, .flags = F_DEFAULT)
#define SCHEMA(tbl, ...)                                                                           \
    {                                                                                              \
        .fields = tbl, .nfields = PT_ARRAY_LEN(tbl), __VA_ARGS__                                   \
    }

static const enum_val_t E_LOG_LEVEL[] = {
    {"error", 0, NULL}, {"warn", 0, NULL}, {"info", 0, NULL}, {"debug", 0, NULL}, {NULL, 0, NULL}};

static const enum_val_t E_PROTOCOL[] = {
    {"WEBSOCKET", ROUTE_PROTO_WEBSOCKET, NULL},
    {"HTTP", ROUTE_PROTO_HTTP, NULL},
    {NULL, 0, NULL},
};

static const enum_val_t E_API_KEY_SEL[] = {
    {"$request.header.x-api-key", 0, NULL},
    {"$context.authorizer.usageIdentifierKey", 0, NULL},
    {NULL, 0, NULL},
};

static const enum_val_t E_INTEG_TYPE[] = {
    {"MOCK", ROUTE_INTEG_MOCK, NULL},
    {"HTTP", ROUTE_INTEG_HTTP, NULL},
    {"HTTP_PROXY", ROUTE_INTEG_HTTP_PROXY, NULL},
    {"AWS_PROXY", ROUTE_INTEG_AWS_PROXY, NULL},
    {"AWS", ROUTE_INTEG_AWS, "integrationType AWS is not supported; use AWS_PROXY"},
    {NULL, 0, NULL},
};

static const enum_val_t E_AUTH_TYPE[] = {
    {"NONE", 0, NULL},   {"AWS_IAM", 0, NULL},
    {"CUSTOM", 0, NULL}, {"JWT", 0, NULL}, /* HTTP APIs only: route_finish */
    {NULL, 0, NULL},
};

static const enum_val_t E_AUTHZ_TYPE[] = {
    {"REQUEST", ROUTE_AUTHZ_REQUEST, NULL},
    {"JWT", ROUTE_AUTHZ_JWT, NULL},
    {"TOKEN", 0, "TOKEN authorizers are for REST APIs; use REQUEST"},
    {"COGNITO_USER_POOLS", 0, "COGNITO_USER_POOLS is for REST APIs; use JWT"},
    {NULL, 0, NULL},
};

static const enum_val_t E_QUOTA_PERIOD[] = {
    {"DAY", ROUTE_QUOTA_DAY, NULL},
    {"WEEK", ROUTE_QUOTA_WEEK, NULL},
    {"MONTH", ROUTE_QUOTA_MONTH, NULL},
    {NULL, 0, NULL},
};

static const enum_val_t E_PASSTHROUGH[] = {{"WHEN_NO_MATCH", 0, NULL},
                                           {"WHEN_NO_TEMPLATES", 0, NULL},
                                           {"NEVER", 0, NULL},
                                           {NULL, 0, NULL}};

static const enum_val_t E_CONTENT_HANDLING[] = {
    {"CONVERT_TO_BINARY", 0, NULL}, {"CONVERT_TO_TEXT", 0, NULL}, {NULL, 0, NULL}};

static const enum_val_t E_PAYLOAD_FORMAT[] = {
    {"1.0", 0, NULL},
    {"2.0", 0, NULL}, /* HTTP APIs only: integ_finish */
    {NULL, 0, NULL},
};

static const enum_val_t E_CONNECTION_TYPE[] = {
    {"INTERNET", 0, NULL},
    {"VPC_LINK", 0, "VPC_LINK is not supported yet"},
    {NULL, 0, NULL},
};

static const enum_val_t E_LOGGING_LEVEL[] = {
    {"ERROR", 0, NULL}, {"INFO", 0, NULL}, {"OFF", 0, NULL}, {NULL, 0, NULL}};

/* ---- server ---- */

static const field_t F_LIMITS[] = {
    U32("maxFrameBytes", max_frame_bytes, 16, 16777216, 32768),
    U32("maxMessageBytes", max_message_bytes, 16, 134217728, 131072),
    U32("idleTimeoutSeconds", idle_timeout_s, 1, 86400, 600),
    U32("maxConnectionSeconds", max_connection_s, 1, 604800, 7200),
    U32("maxHeadBytes", max_head_bytes, 1024, 1048576, 16384),
    U32("headTimeoutSeconds", head_timeout_s, 1, 300, 10),
    U32("maxConnections", max_connections, 0, 100000000, 0),
    U32("maxPendingUpgrades", max_pending_upgrades, 1, 1000000, 10000),
    U32("outboundQueueMessages", outbound_queue_messages, 1, 1048576, 1024),
    U32("outboundQueueBytes", outbound_queue_bytes, 1024, 1073741824, 4194304),
    FLD("maxRequestBodyBytes", set_u64, route_limits_t, max_request_body_bytes, .min = 0,
        .max = 1073741824, .def = 10485760, .flags = F_DEFAULT),
    U32("maxIntegrationResponseBytes", max_integration_response_bytes, 1024, 1073741824, 10485760),
    FLD("allowBinary", set_bool, route_limits_t, allow_binary, .def = 0, .flags = F_DEFAULT),
    U32("shutdownGraceMs", shutdown_grace_ms, 0, 600000, 5000),
    FLD("registryMaxBytes", set_u64, route_limits_t, registry_max_bytes, .min = 0,
        .max = (uint64_t)1 << 40, .def = 0, .flags = F_DEFAULT),
    /* Issue 7: Portico's own limits, off (0) by default (docs/security.md). */
    U32("maxConnectionsPerIp", max_connections_per_ip, 0, 100000000, 0),
    FLD("connectRateLimitPerIp", set_double, route_limits_t, connect_rate_per_ip, .min = 0,
        .max = 1000000),
    U32("connectBurstLimitPerIp", connect_burst_per_ip, 0, 1000000, 0),
    FLD("messageRateLimitPerConnection", set_double, route_limits_t, message_rate_per_connection,
        .min = 0, .max = 1000000),
    U32("messageBurstLimitPerConnection", message_burst_per_connection, 0, 1000000, 0),
    FLD("connectionsApiRateLimit", set_double, route_limits_t, connections_api_rate, .min = 0,
        .max = 1000000),
    U32("connectionsApiBurstLimit", connections_api_burst, 0, 1000000, 0),
};
static const schema_t S_limits = SCHEMA(F_LIMITS, .line_off = NO_OFF);

static const field_t F_CRED[] = {
    FLD("accessKeyId", set_str, route_credential_t, access_key_id, .max = 128,
        .check = check_access_key, .flags = F_REQUIRED),
    FLD("secretAccessKey", set_str, route_credential_t, secret_access_key, .max = 256,
        .check = check_no_space, .flags = F_REQUIRED),
    FLD("sessionToken", set_str, route_credential_t, session_token, .max = 8192,
        .check = check_no_space),
    FCHK("stages", set_cred_stages),
    FLD("invokeResources", set_strlist, route_credential_t, invoke_resources, .max = 2048,
        .def = offsetof(route_credential_t, ninvoke_resources), .check = check_invoke_arn),
};
static const schema_t S_cred = SCHEMA(F_CRED, .line_off = NO_OFF);
static const array_t A_CREDS = {&S_cred, sizeof(route_credential_t),
                                offsetof(route_server_t, ncredentials), creds_done};

static const field_t F_MAPPING[] = {
    FLD("domainName", set_str, route_mapping_t, domain_name, .max = 253, .check = check_hostname,
        .flags = F_REQUIRED),
    FLD("apiMappingKey", set_str, route_mapping_t, api_mapping_key, .max = 128, .sdef = "",
        .check = check_mapping_key, .flags = F_DEFAULT | F_EMPTY),
    FLD("apiId", set_str, route_mapping_t, api_id, .max = 64, .flags = F_REQUIRED),
    FLD("stage", set_str, route_mapping_t, stage, .max = 128, .flags = F_REQUIRED),
    IGNORED("apiMappingId", CT_STR),
};
static const schema_t S_mapping = SCHEMA(F_MAPPING, .line_off = NO_OFF, .finish = mapping_finish);
static const array_t A_MAPPINGS = {&S_mapping, sizeof(route_mapping_t),
                                   offsetof(route_server_t, nmappings), mappings_done};

static const field_t F_AWS[] = {
    FLD("accessKeyId", set_str, route_aws_t, access_key_id, .max = 128, .check = check_access_key),
    FLD("secretAccessKey", set_str, route_aws_t, secret_access_key, .max = 256,
        .check = check_no_space),
    FLD("sessionToken", set_str, route_aws_t, session_token, .max = 8192, .check = check_no_space),
    FLD("region", set_str, route_aws_t, region, .max = 32, .check = check_region),
    FCHK("lambdaEndpoint", set_lambda_endpoint, .max = 2048),
};
static const schema_t S_aws = SCHEMA(F_AWS, .line_off = NO_OFF, .finish = aws_finish);

static const field_t F_SERVER[] = {
    FLD("listen", set_listen, route_server_t, listen, .sdef = "0.0.0.0:8080", .flags = F_DEFAULT),
    FLD("adminListen", set_listen, route_server_t, admin_listen, .sdef = "127.0.0.1:9080",
        .flags = F_DEFAULT),
    FLD("dataDir", set_str, route_server_t, data_dir, .sdef = "./data", .flags = F_DEFAULT),
    FLD("workers", set_int, route_server_t, workers, .min = 0, .max = 64, .def = 0,
        .flags = F_DEFAULT),
    FLD("region", set_str, route_server_t, region, .max = 32, .sdef = "us-east-1",
        .check = check_region, .flags = F_DEFAULT),
    FLD("accountId", set_str, route_server_t, account_id, .sdef = "000000000000",
        .check = check_account_id, .flags = F_DEFAULT),
    FLD("nodeId", set_int, route_server_t, node_id, .min = 0, .max = 255, .def = 0,
        .flags = F_DEFAULT),
    FLD("logLevel", set_enum_str, route_server_t, log_level, .sdef = "info", .aux = E_LOG_LEVEL,
        .flags = F_DEFAULT),
    FLD("adminToken", set_str, route_server_t, admin_token, .max = 256, .check = check_admin_token),
    FLD("limits", set_object, route_server_t, limits, .aux = &S_limits, .flags = F_DEFAULT),
    FLD("credentials", set_array, route_server_t, credentials, .aux = &A_CREDS),
    FLD("apiMappings", set_array, route_server_t, mappings, .aux = &A_MAPPINGS),
    FLD("aws", set_object, route_server_t, aws, .aux = &S_aws),
    FCHK("throttle", set_server_throttle),
};
static const schema_t S_server = SCHEMA(F_SERVER, .line_off = NO_OFF, .finish = server_finish);

/* ---- routes and route responses ---- */

static const field_t F_PARAM_REQ[] = {
    FLD("required", set_bool, param_req_t, required),
};
static const schema_t S_param_req = SCHEMA(F_PARAM_REQ, .line_off = NO_OFF);

static const field_t F_RRESP[] = {
    FLD("routeResponseKey", set_str, rresp_t, key, .check = check_rr_key, .flags = F_REQUIRED),
    IGNORED("routeResponseId", CT_STR),
    FCHK("modelSelectionExpression", set_expr, .def = -1),
    IGNORED("responseModels", CT_MAP),
    IGNORED("responseParameters", CT_MAP),
};
static const schema_t S_rresp = SCHEMA(F_RRESP, .line_off = offsetof(rresp_t, line));

static const field_t F_RRESP_API[] = {
    FLD("routeId", set_str, rresp_t, route_id, .max = ID_MAX),
    FLD("routeKey", set_str, rresp_t, route_key, .max = 256),
};
static const schema_t S_rresp_api =
    SCHEMA(F_RRESP_API, .include = &S_rresp, .line_off = offsetof(rresp_t, line));

static const field_t F_ROUTE[] = {
    FLD("routeKey", set_str, route_route_t, key, .max = 256, .check = check_route_key,
        .flags = F_REQUIRED),
    FLD("routeId", set_str, route_route_t, id, .max = ID_MAX, .check = check_id),
    FCHK("target", set_target, .max = 256),
    FLD("routeResponseSelectionExpression", set_str, route_route_t,
        route_response_selection_expression, .check = check_rrse),
    FCHK("routeResponses", set_route_responses),
    FLD("authorizationType", set_enum_str, route_route_t, authorization_type, .sdef = "NONE",
        .aux = E_AUTH_TYPE, .flags = F_DEFAULT),
    FCHK("authorizerId", set_authorizer_id, .max = ID_MAX),
    FLD("apiKeyRequired", set_bool, route_route_t, api_key_required),
    FLD("authorizationScopes", set_strlist, route_route_t, authorization_scopes, .max = 256,
        .def = offsetof(route_route_t, nauthorization_scopes), .check = check_no_space),
    FCHK("requestParameters", set_route_params),
    FLD("operationName", set_str, route_route_t, operation_name, .max = 256),
    FCHK("modelSelectionExpression", set_str, .check = check_empty, .flags = F_EMPTY),
    FCHK("requestModels", set_request_models),
};
static const schema_t S_route =
    SCHEMA(F_ROUTE, .line_off = offsetof(route_route_t, line), .finish = route_finish);

/* ---- authorizers (issue 7) ---- */

static const field_t F_JWT_CFG[] = {
    FLD("issuer", set_str, route_authorizer_t, issuer, .max = 2048, .flags = F_REQUIRED),
    FLD("audience", set_strlist, route_authorizer_t, audience, .max = 2048,
        .def = offsetof(route_authorizer_t, naudience)),
    FLD("jwksUri", set_str, route_authorizer_t, jwks_uri, .max = 2048, .check = check_jwks_uri),
    FLD("jwksFile", set_str, route_authorizer_t, jwks_file, .max = 4096, .check = check_jwks_file),
};
static const schema_t S_jwt_cfg = SCHEMA(F_JWT_CFG, .line_off = NO_OFF);

static const enum_val_t E_AUTHZ_PFV[] = {{"1.0", 0, NULL}, {"2.0", 0, NULL}, {NULL, 0, NULL}};

static const field_t F_AUTHZ[] = {
    FLD("authorizerType", set_enum_int, route_authorizer_t, type, .aux = E_AUTHZ_TYPE,
        .flags = F_REQUIRED),
    FLD("name", set_str, route_authorizer_t, name, .max = 128, .flags = F_REQUIRED),
    FLD("authorizerId", set_str, route_authorizer_t, id, .max = ID_MAX, .check = check_id),
    FLD("authorizerUri", set_str, route_authorizer_t, uri, .max = 2048, .check = authz_uri_ok),
    FCHK("identitySource", set_identity_source),
    FCHK("authorizerResultTtlInSeconds", set_authz_ttl, .min = 0, .max = 3600),
    FCHK("authorizerPayloadFormatVersion", set_authz_pfv, .aux = E_AUTHZ_PFV),
    FLD("enableSimpleResponses", set_bool, route_authorizer_t, simple),
    FCHK("jwtConfiguration", set_jwt_config),
    IGNORED("authorizerCredentialsArn", CT_STR),
    IGNORED("identityValidationExpression", CT_STR),
};
static const schema_t S_authz = SCHEMA(F_AUTHZ, .line_off = offsetof(route_authorizer_t, line),
                                       .begin = authz_begin, .finish = authz_finish);
static const array_t A_AUTHZ = {&S_authz, sizeof(route_authorizer_t),
                                offsetof(route_api_t, nauthorizers), authorizers_done};

/* ---- API keys and usage plans (issue 7) ---- */

static const field_t F_APIKEY[] = {
    FLD("name", set_str, route_apikey_t, name, .max = 1024, .flags = F_REQUIRED),
    FLD("id", set_str, route_apikey_t, id, .max = ID_MAX, .check = check_id),
    FLD("value", set_str, route_apikey_t, value, .max = 128, .check = check_apikey_value,
        .flags = F_REQUIRED),
    FLD("enabled", set_bool, route_apikey_t, enabled, .def = 1, .flags = F_DEFAULT),
    IGNORED("description", CT_STR),
    IGNORED("customerId", CT_STR),
    IGNORED("tags", CT_MAP),
};
static const schema_t S_apikey = SCHEMA(F_APIKEY, .line_off = NO_OFF);
static const array_t A_APIKEYS = {&S_apikey, sizeof(route_apikey_t),
                                  offsetof(route_security_t, napikeys), apikeys_done};

static const field_t F_THROTTLE[] = {
    FLD("burstLimit", set_int, route_throttle_t, burst, .min = 0, .max = 1000000),
    FLD("rateLimit", set_double, route_throttle_t, rate, .min = 0, .max = 1000000),
};
static const schema_t S_throttle =
    SCHEMA(F_THROTTLE, .line_off = NO_OFF, .finish = throttle_finish);

static const field_t F_QUOTA[] = {
    FLD("limit", set_u64, route_usage_plan_t, quota_limit, .min = 0, .max = INT64_MAX / 2,
        .flags = F_REQUIRED),
    FLD("offset", set_int, route_usage_plan_t, quota_offset, .min = 0, .max = 27),
    FLD("period", set_enum_int, route_usage_plan_t, quota_period, .aux = E_QUOTA_PERIOD,
        .flags = F_REQUIRED),
};
static const schema_t S_quota = SCHEMA(F_QUOTA, .line_off = NO_OFF, .finish = quota_finish);

static const field_t F_PLAN_STAGE[] = {
    FLD("apiId", set_plan_stage_name, route_plan_stage_t, api_id, .max = 64, .flags = F_REQUIRED),
    FLD("stage", set_plan_stage_name, route_plan_stage_t, stage, .max = 128, .flags = F_REQUIRED),
    FCHK("throttle", set_plan_stage_throttle),
};
static const schema_t S_plan_stage = SCHEMA(F_PLAN_STAGE, .line_off = NO_OFF);
static const array_t A_PLAN_STAGES = {&S_plan_stage, sizeof(route_plan_stage_t),
                                      offsetof(route_usage_plan_t, nstages), NULL};

static const field_t F_PLAN[] = {
    FLD("name", set_str, route_usage_plan_t, name, .max = 1024, .flags = F_REQUIRED),
    FLD("id", set_str, route_usage_plan_t, id, .max = ID_MAX, .check = check_id),
    FLD("apiStages", set_array, route_usage_plan_t, stages, .aux = &A_PLAN_STAGES),
    FLD("throttle", set_throttle_obj, route_usage_plan_t, throttle),
    FCHK("quota", set_quota),
    FCHK("apiKeys", set_plan_keys),
    IGNORED("description", CT_STR),
    IGNORED("productCode", CT_STR),
    IGNORED("tags", CT_MAP),
};
static const schema_t S_plan = SCHEMA(F_PLAN, .line_off = NO_OFF);
static const array_t A_PLANS = {&S_plan, sizeof(route_usage_plan_t),
                                offsetof(route_security_t, nplans), plans_done};
static const array_t A_ROUTES = {&S_route, sizeof(route_route_t), offsetof(route_api_t, nroutes),
                                 routes_done};

/* ---- integrations and integration responses ---- */

static const field_t F_IRESP[] = {
    FLD("integrationResponseKey", set_str, route_integ_response_t, key, .max = 258,
        .check = check_iresp_key, .flags = F_REQUIRED),
    FLD("templateSelectionExpression", set_expr, route_integ_response_t,
        template_selection_expression, .def = offsetof(route_integ_response_t, tse)),
    FLD("responseTemplates", set_strmap, route_integ_response_t, response_templates,
        .check = check_template),
    FLD("responseParameters", set_strmap, route_integ_response_t, response_parameters),
    FLD("contentHandlingStrategy", set_enum_str, route_integ_response_t, content_handling_strategy,
        .aux = E_CONTENT_HANDLING),
    IGNORED("integrationResponseId", CT_STR),
};
static const schema_t S_iresp = SCHEMA(F_IRESP, .line_off = offsetof(route_integ_response_t, line));
static const array_t A_IRESPS = {&S_iresp, sizeof(route_integ_response_t),
                                 offsetof(route_integration_t, nresponses), iresp_done};

static const field_t F_IRESP_API[] = {
    FLD("integrationId", set_str, iresp_api_t, integration_id, .max = ID_MAX, .flags = F_REQUIRED),
};
static const schema_t S_iresp_api =
    SCHEMA(F_IRESP_API, .include = &S_iresp, .line_off = offsetof(iresp_api_t, r.line));

static const field_t F_INTEG[] = {
    FLD("integrationType", set_enum_int, route_integration_t, type, .aux = E_INTEG_TYPE,
        .flags = F_REQUIRED),
    FLD("integrationId", set_str, route_integration_t, id, .max = ID_MAX, .check = check_id),
    FCHK("integrationUri", set_integ_uri, .max = 2048, .flags = F_ALWAYS),
    FLD("integrationMethod", set_integ_method, route_integration_t, method, .max = 32,
        .sdef = "POST", .check = check_method, .flags = F_DEFAULT),
    FLD("timeoutInMillis", set_timeout, route_integration_t, timeout_ms, .min = 50, .max = 29000,
        .def = 29000, .flags = F_DEFAULT),
    FLD("requestParameters", set_strmap, route_integration_t, request_parameters,
        .check = check_integ_param),
    FLD("requestTemplates", set_strmap, route_integration_t, request_templates,
        .check = check_template),
    FLD("templateSelectionExpression", set_expr, route_integration_t, template_selection_expression,
        .def = offsetof(route_integration_t, tse)),
    FLD("passthroughBehavior", set_enum_str, route_integration_t, passthrough_behavior,
        .sdef = "WHEN_NO_MATCH", .aux = E_PASSTHROUGH, .flags = F_DEFAULT),
    FLD("contentHandlingStrategy", set_enum_str, route_integration_t, content_handling_strategy,
        .aux = E_CONTENT_HANDLING),
    FLD("payloadFormatVersion", set_enum_str, route_integration_t, payload_format_version,
        .sdef = "1.0", .aux = E_PAYLOAD_FORMAT, .flags = F_DEFAULT),
    FCHK("connectionType", set_enum_str, .aux = E_CONNECTION_TYPE),
    NOT_YET("connectionId"),
    IGNORED("credentialsArn", CT_STR),
    IGNORED("description", CT_STR),
    IGNORED("integrationResponseSelectionExpression", CT_STR),
    FLD("integrationResponses", set_array, route_integration_t, responses, .aux = &A_IRESPS),
};
static const schema_t S_integ =
    SCHEMA(F_INTEG, .line_off = offsetof(route_integration_t, line), .finish = integ_finish);
static const array_t A_INTEGS = {&S_integ, sizeof(route_integration_t),
                                 offsetof(route_api_t, nintegrations), integs_done};

/* ---- stages ---- */

static const field_t F_ROUTE_SETTINGS[] = {
    FLD("throttlingBurstLimit", set_int, route_settings_t, throttling_burst_limit, .min = 0,
        .max = 1000000),
    FLD("throttlingRateLimit", set_double, route_settings_t, throttling_rate_limit, .min = 0,
        .max = 1000000),
    FLD("detailedMetricsEnabled", set_bool, route_settings_t, detailed_metrics_enabled),
    FLD("loggingLevel", set_enum_str, route_settings_t, logging_level, .aux = E_LOGGING_LEVEL),
    FLD("dataTraceEnabled", set_bool, route_settings_t, data_trace_enabled),
};
static const schema_t S_route_settings =
    SCHEMA(F_ROUTE_SETTINGS, .line_off = NO_OFF, .finish = route_settings_finish);

/* accessLogSettings: its keys are stored on the stage itself (route_stage_t). */
static const field_t F_ACCESS_LOG[] = {
    FLD("destinationArn", set_str, route_stage_t, access_log_destination, .max = 1024,
        .check = check_alog_dest),
    FLD("format", set_str, route_stage_t, access_log_format, .max = ROUTE_ALOG_FORMAT_MAX,
        .check = check_alog_format),
};
static const schema_t S_access_log =
    SCHEMA(F_ACCESS_LOG, .line_off = NO_OFF, .finish = alog_finish);

static void set_access_log(parser_t *p, const ct_node_t *n, void *obj, const field_t *f)
{
    (void)f;
    parse_object(p, n, &S_access_log, obj);
}

static const field_t F_CORS[] = {
    FLD("allowOrigins", set_strlist, route_cors_t, allow_origins, .max = 1024,
        .def = offsetof(route_cors_t, nallow_origins), .check = check_origin),
    FLD("allowMethods", set_strlist, route_cors_t, allow_methods, .max = 32,
        .def = offsetof(route_cors_t, nallow_methods), .check = check_method),
    FLD("allowHeaders", set_strlist, route_cors_t, allow_headers, .max = 256,
        .def = offsetof(route_cors_t, nallow_headers), .check = check_header_name),
    FLD("exposeHeaders", set_strlist, route_cors_t, expose_headers, .max = 256,
        .def = offsetof(route_cors_t, nexpose_headers), .check = check_header_name),
    FCHK("maxAge", set_max_age, .min = -1, .max = 86400),
    FLD("allowCredentials", set_bool, route_cors_t, allow_credentials),
};
static const schema_t S_cors = SCHEMA(F_CORS, .line_off = NO_OFF, .finish = cors_finish);

static const field_t F_STAGE[] = {
    FLD("stageName", set_str, route_stage_t, name, .max = 128, .check = check_stage_name,
        .flags = F_REQUIRED),
    FLD("description", set_str, route_stage_t, description, .max = 1024, .flags = F_EMPTY),
    FLD("stageVariables", set_strmap, route_stage_t, variables, .max = 100,
        .check = check_stage_var),
    FLD("defaultRouteSettings", set_object, route_stage_t, default_route_settings,
        .aux = &S_route_settings),
    FCHK("routeSettings", set_route_settings),
    FCHK("accessLogSettings", set_access_log),
    NOT_YET("clientCertificateId"),
    IGNORED("autoDeploy", CT_BOOL),
    IGNORED("deploymentId", CT_STR),
    IGNORED("tags", CT_MAP),
};
static const schema_t S_stage = SCHEMA(F_STAGE, .line_off = offsetof(route_stage_t, line));
static const array_t A_STAGES = {&S_stage, sizeof(route_stage_t), offsetof(route_api_t, nstages),
                                 stages_done};

/* ---- APIs and the root ---- */

static const field_t F_API[] = {
    FLD("name", set_str, route_api_t, name, .max = 128, .flags = F_REQUIRED),
    FLD("protocolType", set_enum_int, route_api_t, protocol, .aux = E_PROTOCOL,
        .flags = F_REQUIRED),
    FLD("apiId", set_api_id, route_api_t, id, .check = check_api_id, .flags = F_ALWAYS),
    FLD("routeSelectionExpression", set_rse, route_api_t, route_selection_expression,
        .def = offsetof(route_api_t, rse), .flags = F_ALWAYS),
    FLD("apiKeySelectionExpression", set_enum_str, route_api_t, api_key_selection_expression,
        .sdef = "$request.header.x-api-key", .aux = E_API_KEY_SEL, .flags = F_DEFAULT),
    FLD("description", set_str, route_api_t, description, .max = 1024, .flags = F_EMPTY),
    /* Order matters: integrations, then routes (targets), then lists naming routes, then
     * stages (routeSettings name routes). */
    FLD("integrations", set_array, route_api_t, integrations, .aux = &A_INTEGS),
    FLD("authorizers", set_array, route_api_t, authorizers, .aux = &A_AUTHZ), /* before routes */
    FLD("routes", set_array, route_api_t, routes, .aux = &A_ROUTES),
    FCHK("routeResponses", set_api_route_responses),
    FCHK("integrationResponses", set_api_integ_responses),
    FLD("stages", set_array, route_api_t, stages, .aux = &A_STAGES),
    FCHK("policy", set_policy),
    FCHK("corsConfiguration", set_cors),
    NOT_YET("models"),
    IGNORED("tags", CT_MAP),
    IGNORED("version", CT_STR),
};
static const schema_t S_api = SCHEMA(F_API, .line_off = offsetof(route_api_t, line),
                                     .begin = api_begin, .finish = api_finish);
static const array_t A_APIS = {&S_api, sizeof(route_api_t), offsetof(route_config_t, napis),
                               apis_done};

static const field_t F_ROOT[] = {
    /* APIs first: server.apiMappings and credentials name their APIs and stages. */
    FLD("apis", set_array, route_config_t, apis, .aux = &A_APIS, .flags = F_REQUIRED),
    FLD("server", set_object, route_config_t, server, .aux = &S_server, .flags = F_DEFAULT),
    FCHK("apiKeys", set_apikeys),  /* issue 7: after apis (nothing names a key before) */
    FCHK("usagePlans", set_plans), /* after apiKeys: plans name keys, APIs and stages */
    NOT_YET("authorizers"),
    NOT_YET("corsConfiguration"),
    NOT_YET("models"),
};
static const schema_t S_root = SCHEMA(F_ROOT, .line_off = NO_OFF);

/* ============================================================================================
 * Public functions
 * ========================================================================================== */

static const schema_t *const ALL_SCHEMAS[] = {
    &S_root,           &S_server,     &S_limits,     &S_cred,  &S_mapping, &S_api,       &S_route,
    &S_rresp,          &S_rresp_api,  &S_param_req,  &S_integ, &S_iresp,   &S_iresp_api, &S_stage,
    &S_route_settings, &S_access_log, &S_aws,        &S_cors,  &S_authz,   &S_jwt_cfg,   &S_apikey,
    &S_throttle,       &S_quota,      &S_plan_stage, &S_plan,
};

/* Room for every field of every table (names repeat across tables; each is listed once). */
#define ALL_FIELDS                                                                                 \
    (PT_ARRAY_LEN(F_ROOT) + PT_ARRAY_LEN(F_SERVER) + PT_ARRAY_LEN(F_LIMITS) +                      \
     PT_ARRAY_LEN(F_CRED) + PT_ARRAY_LEN(F_MAPPING) + PT_ARRAY_LEN(F_API) +                        \
     PT_ARRAY_LEN(F_ROUTE) + PT_ARRAY_LEN(F_RRESP) + PT_ARRAY_LEN(F_RRESP_API) +                   \
     PT_ARRAY_LEN(F_PARAM_REQ) + PT_ARRAY_LEN(F_INTEG) + PT_ARRAY_LEN(F_IRESP) +                   \
     PT_ARRAY_LEN(F_IRESP_API) + PT_ARRAY_LEN(F_STAGE) + PT_ARRAY_LEN(F_ROUTE_SETTINGS) +          \
     PT_ARRAY_LEN(F_ACCESS_LOG) + PT_ARRAY_LEN(F_AWS) + PT_ARRAY_LEN(F_CORS) +                     \
     PT_ARRAY_LEN(F_AUTHZ) + PT_ARRAY_LEN(F_JWT_CFG) + PT_ARRAY_LEN(F_APIKEY) +                    \
     PT_ARRAY_LEN(F_THROTTLE) + PT_ARRAY_LEN(F_QUOTA) + PT_ARRAY_LEN(F_PLAN_STAGE) +               \
     PT_ARRAY_LEN(F_PLAN))

static const char *known_keys[ALL_FIELDS];
static size_t nknown_keys;
static once_flag known_once = ONCE_FLAG_INIT;

static void build_known_keys(void)
{
    for (size_t s = 0; s < PT_ARRAY_LEN(ALL_SCHEMAS); s++) {
        for (size_t i = 0; i < ALL_SCHEMAS[s]->nfields; i++) {
            const char *k = ALL_SCHEMAS[s]->fields[i].name;
            size_t j = 0;
            while (j < nknown_keys && strcmp(known_keys[j], k) != 0)
                j++;
            if (j == nknown_keys)
                known_keys[nknown_keys++] = k;
        }
    }
}

const char *const *route_config_known_keys(size_t *n)
{
    call_once(&known_once, build_known_keys);
    *n = nknown_keys;
    return known_keys;
}

void route_config_free(route_config_t *cfg)
{
    if (!cfg)
        return;
    for (size_t i = 0; i < cfg->napis; i++) {
        route_api_t *api = &cfg->apis[i];
        route__api_index_free(api);
        route__http_free(api);
        route_expr_free(api->rse);
        route_policy_free(api->policy);
        for (size_t j = 0; j < api->nintegrations; j++) {
            route_integration_t *g = &api->integrations[j];
            route_expr_free(g->tse);
            for (size_t k = 0; k < g->nresponses; k++)
                route_expr_free(g->responses[k].tse);
        }
    }
    cfg_arena_free(cfg->_arena);
    free(cfg);
}

int route_config_parse(const char *buf, size_t len, const char *source, route_config_t **out,
                       buf_t *err)
{
    parser_t p;
    cfg_arena_t *tree_arena = NULL; /* owned here: the document tree */
    ct_node_t *root = NULL;
    route_config_t *cfg = pt_xcalloc(1, sizeof *cfg); /* owned until handed to *out */
    int rc;

    *out = NULL;
    memset(&p, 0, sizeof p);
    p.cfg = cfg;
    cfg->source = dup_str(&p, source ? source : "config");
    p.errs.source = cfg->source;
    rc = ct_parse(buf ? buf : "", buf ? len : 0, &tree_arena, &root, &p.errs);
    if (rc == PT_OK)
        parse_object(&p, root, &S_root, cfg);
    cfg->_arena = p.arena;
    if (p.errs.n || p.errs.dropped) {
        rc = rc != PT_OK || p.errs.syntax ? PT_EPARSE : PT_EINVAL;
        cfg_errs_write(&p.errs, err);
        route_config_free(cfg);
        goto out;
    }
    for (size_t i = 0; i < cfg->napis; i++)
        route__api_index(&cfg->apis[i]);
    *out = cfg;
    rc = PT_OK;
out:
    cfg_errs_free(&p.errs);
    for (size_t i = 0; i < PT_ARRAY_LEN(p.pv); i++)
        buf_free(&p.pv[i]);
    cfg_arena_free(tree_arena);
    return rc;
}

/* Config files are small; a bigger one is a mistake (a log file passed by accident). */
#define CONFIG_FILE_MAX (16u << 20)

int route_config_load_file(const char *path, route_config_t **out, buf_t *err)
{
    buf_t text = BUF_INIT; /* owned here */
    char chunk[65536];
    int rc = PT_OK;
    size_t n;

    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (err)
            buf_printf(err, "%s: cannot open: %s\n", path, strerror(errno));
        return PT_EIO;
    }
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (text.len + n > CONFIG_FILE_MAX) {
            if (err)
                buf_printf(err, "%s: larger than %u bytes; not a config file?\n", path,
                           CONFIG_FILE_MAX);
            rc = PT_ETOOBIG;
            goto out;
        }
        buf_append(&text, chunk, n);
    }
    if (ferror(f)) {
        if (err)
            buf_printf(err, "%s: cannot read: %s\n", path, strerror(errno));
        rc = PT_EIO;
        goto out;
    }
    rc = route_config_parse(text.p ? text.p : "", text.len, path, out, err);
out:
    fclose(f);
    buf_free(&text);
    return rc;
}
