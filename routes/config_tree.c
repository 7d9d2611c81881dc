/* config_tree.c: config text to a tree with line numbers (libyaml); the arena; the errors. */
#include "routes/config_internal.h"
#include "common/err.h"
#include "common/mem.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

/* ============================================================================================
 * Arena
 * ========================================================================================== */

struct cfg_arena {
    struct cfg_arena *next;
    size_t used, cap;
    max_align_t data[]; /* max_align_t elements keep every returned pointer aligned */
};

#define ARENA_BLOCK 16384

void *cfg_arena_alloc(cfg_arena_t **a, size_t n)
{
    const size_t align = _Alignof(max_align_t);
    if (n > SIZE_MAX / 2)
        n = SIZE_MAX / 2; /* pt_xmalloc aborts on it, as on any impossible size */
    n = n ? (n + align - 1) & ~(align - 1) : align;
    cfg_arena_t *b = *a;
    if (!b || b->cap - b->used < n) {
        size_t cap = n > ARENA_BLOCK / 4 ? n : ARENA_BLOCK;
        b = pt_xmalloc(sizeof *b + cap);
        b->cap = cap;
        b->used = 0;
        if (*a && cap == n) {
            /* A large allocation gets a block of its own behind the head, so the free space
             * left in the head block stays usable. */
            b->next = (*a)->next;
            (*a)->next = b;
        } else {
            b->next = *a;
            *a = b;
        }
    }
    void *p = (char *)b->data + b->used;
    b->used += n;
    memset(p, 0, n);
    return p;
}

char *cfg_arena_strndup(cfg_arena_t **a, const char *s, size_t n)
{
    char *p = cfg_arena_alloc(a, n + 1);
    if (n)
        memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *cfg_arena_strdup(cfg_arena_t **a, const char *s)
{
    return cfg_arena_strndup(a, s, strlen(s));
}

void cfg_arena_free(cfg_arena_t *a)
{
    while (a) {
        cfg_arena_t *next = a->next;
        free(a);
        a = next;
    }
}

/* ============================================================================================
 * Errors
 * ========================================================================================== */

/* Errors kept in memory; more are only counted (a fuzzer's input can produce thousands). */
#define ERRORS_KEPT 256

static bool is_ident_key(const char *k, size_t n)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = k[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == '$' ||
                  (i > 0 && ((c >= '0' && c <= '9') || c == '-'));
        if (!ok)
            return false;
    }
    return true;
}

void ct_path(const ct_node_t *node, buf_t *out)
{
    if (!node || !node->parent)
        return;
    ct_path(node->parent, out);
    if (node->parent->kind == CT_SEQ) {
        buf_printf(out, "[%zu]", node->index);
    } else if (is_ident_key(node->key, node->key_len)) {
        if (node->parent->parent)
            buf_putc(out, '.');
        buf_append(out, node->key, node->key_len);
    } else {
        buf_putc(out, '[');
        buf_json_str(out, node->key, node->key_len);
        buf_putc(out, ']');
    }
}

void cfg_err(cfg_errs_t *e, int line, const ct_node_t *node, const char *fmt, ...)
{
    if (e->n >= ERRORS_KEPT) {
        e->dropped++;
        return;
    }
    buf_t text = BUF_INIT, m = BUF_INIT; /* owned here; m moves into the list */
    ct_path(node, &m);
    if (m.len)
        buf_puts(&m, ": ");
    va_list ap;
    va_start(ap, fmt);
    buf_vprintf(&text, fmt, ap);
    va_end(ap);
    /* One error per line: control characters that reach a message inside a quoted value (a
     * reason from route_expr_compile, say) are written as escapes. */
    for (size_t i = 0; i < text.len; i++) {
        unsigned char c = (unsigned char)text.p[i];
        if (c >= 0x20 && c != 0x7f)
            buf_putc(&m, (char)c);
        else if (c == '\n')
            buf_puts(&m, "\\n");
        else if (c == '\r')
            buf_puts(&m, "\\r");
        else if (c == '\t')
            buf_puts(&m, "\\t");
        else
            buf_printf(&m, "\\x%02x", c);
    }
    buf_free(&text);
    if (e->n == e->cap) {
        e->cap = e->cap ? e->cap * 2 : 16;
        e->v = pt_xrealloc(e->v, e->cap * sizeof *e->v);
    }
    e->v[e->n].line = line;
    e->v[e->n].seq = e->n;
    e->v[e->n].msg = buf_steal(&m, NULL);
    e->n++;
}

static int err_cmp(const void *a, const void *b)
{
    const cfg_error_t *x = a, *y = b;
    if (x->line != y->line)
        return x->line < y->line ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

void cfg_errs_write(cfg_errs_t *e, buf_t *out)
{
    if (!out)
        return;
    /* The loader checks keys in its table's order; users read files top to bottom. */
    qsort(e->v, e->n, sizeof *e->v, err_cmp);
    size_t shown = e->n < CFG_ERRORS_SHOWN ? e->n : CFG_ERRORS_SHOWN;
    for (size_t i = 0; i < shown; i++)
        buf_printf(out, "%s:%d: %s\n", e->source, e->v[i].line, e->v[i].msg);
    size_t more = e->n - shown + e->dropped;
    if (more)
        buf_printf(out, "%s: %zu more error%s not shown\n", e->source, more, more == 1 ? "" : "s");
}

void cfg_errs_free(cfg_errs_t *e)
{
    for (size_t i = 0; i < e->n; i++)
        free(e->v[i].msg);
    free(e->v);
    e->v = NULL;
    e->n = e->cap = e->dropped = 0;
}

/* ============================================================================================
 * Tree
 * ========================================================================================== */

const char *ct_kind_name(ct_kind_t k)
{
    switch (k) {
    case CT_MAP:
        return "an object";
    case CT_SEQ:
        return "an array";
    case CT_STR:
        return "a string";
    case CT_INT:
        return "an integer";
    case CT_FLOAT:
        return "a number";
    case CT_BOOL:
        return "a boolean";
    case CT_NULL:
        return "null";
    }
    return "a value";
}

const ct_node_t *ct_map_get(const ct_node_t *map, const char *key)
{
    if (!map || map->kind != CT_MAP)
        return NULL;
    size_t n = strlen(key);
    for (const ct_node_t *c = map->first; c; c = c->next)
        if (c->key_len == n && memcmp(c->key, key, n) == 0)
            return c;
    return NULL;
}

static bool all_digits(const char *s, size_t n)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

/* Types a plain (unquoted) scalar, as YAML 1.2's JSON-compatible core schema does. */
static ct_kind_t resolve_plain(const char *s, size_t n)
{
    static const char *const nulls[] = {"", "~", "null", "Null", "NULL"};
    static const char *const bools[] = {"true", "True", "TRUE", "false", "False", "FALSE"};
    for (size_t i = 0; i < PT_ARRAY_LEN(nulls); i++)
        if (strlen(nulls[i]) == n && memcmp(s, nulls[i], n) == 0)
            return CT_NULL;
    for (size_t i = 0; i < PT_ARRAY_LEN(bools); i++)
        if (strlen(bools[i]) == n && memcmp(s, bools[i], n) == 0)
            return CT_BOOL;
    size_t i = 0;
    if (i < n && (s[i] == '-' || s[i] == '+'))
        i++;
    if (all_digits(s + i, n - i))
        return CT_INT;
    /* [-+]? (digits (. digits?)? | . digits) ([eE] [-+]? digits)? */
    size_t d0 = i;
    while (i < n && s[i] >= '0' && s[i] <= '9')
        i++;
    size_t whole = i - d0, frac = 0;
    if (i < n && s[i] == '.') {
        size_t f0 = ++i;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
        frac = i - f0;
    }
    if (whole + frac == 0)
        return CT_STR;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '-' || s[i] == '+'))
            i++;
        if (!all_digits(s + i, n - i))
            return CT_STR;
        i = n;
    }
    return i == n ? CT_FLOAT : CT_STR;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static long hex4(const char *s)
{
    long v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hexval(s[i]);
        if (h < 0)
            return -1;
        v = v * 16 + h;
    }
    return v;
}

/*
 * JSON writes characters outside the BMP as UTF-16 surrogate pairs ("\ud83d\ude00"), which
 * libyaml rejects; YAML spells them "\U0001F600". Rewrites the pairs inside double-quoted
 * strings in place (the text only shrinks, and no newline moves, so line numbers hold). Only
 * used when the document starts with '{' or '[', where single quotes do not start strings.
 */
static void fix_surrogates(char *s, size_t *len)
{
    size_t n = *len, r = 0, w = 0;
    bool in_str = false;
    while (r < n) {
        char c = s[r];
        if (!in_str) {
            in_str = c == '"';
            s[w++] = s[r++];
            continue;
        }
        if (c == '"') {
            in_str = false;
            s[w++] = s[r++];
            continue;
        }
        if (c != '\\' || r + 1 >= n) {
            s[w++] = s[r++];
            continue;
        }
        if (s[r + 1] == 'u' && r + 12 <= n && s[r + 6] == '\\' && s[r + 7] == 'u') {
            long hi = hex4(s + r + 2), lo = hex4(s + r + 8);
            if (hi >= 0xD800 && hi <= 0xDBFF && lo >= 0xDC00 && lo <= 0xDFFF) {
                unsigned long cp =
                    0x10000 + (((unsigned long)hi - 0xD800) << 10) + ((unsigned long)lo - 0xDC00);
                char tmp[11];
                snprintf(tmp, sizeof tmp, "\\U%08lX", cp);
                memcpy(s + w, tmp, 10);
                w += 10;
                r += 12;
                continue;
            }
        }
        /* Any other escape: copy the backslash and the escaped character together, so an
         * escaped quote does not end the string. */
        s[w++] = s[r++];
        s[w++] = s[r++];
    }
    *len = w;
}

typedef struct builder {
    cfg_arena_t **arena;
    cfg_errs_t *errs;
    ct_node_t *stack[CT_MAX_DEPTH + 1]; /* open maps and sequences */
    int depth;
    ct_node_t *root;
    ct_node_t *key; /* the key scalar waiting for its value in the innermost map, or NULL */
    int docs;
    bool failed; /* a fatal error was reported */
} builder_t;

static void link_child(ct_node_t *parent, ct_node_t *c)
{
    c->parent = parent;
    c->index = parent->n++;
    if (parent->last)
        parent->last->next = c;
    else
        parent->first = c;
    parent->last = c;
}

/* Attaches a finished scalar or a just-opened collection to the innermost open one. Returns
 * false when the node was consumed as a map key (it is then not a value). */
static bool attach(builder_t *b, ct_node_t *node)
{
    if (b->depth == 0) {
        b->root = node;
        return true;
    }
    ct_node_t *top = b->stack[b->depth - 1];
    if (top->kind == CT_SEQ) {
        link_child(top, node);
        return true;
    }
    if (!b->key) {
        if (node->kind == CT_MAP || node->kind == CT_SEQ) {
            cfg_err(b->errs, node->line, top, "keys must be strings, not %s",
                    ct_kind_name(node->kind));
            b->failed = true;
            return false;
        }
        b->key = node;
        return false;
    }
    node->key = b->key->s;
    node->key_len = b->key->len;
    node->key_line = b->key->line;
    b->key = NULL;
    link_child(top, node);
    return true;
}

static int key_cmp(const void *a, const void *b)
{
    const ct_node_t *x = *(const ct_node_t *const *)a, *y = *(const ct_node_t *const *)b;
    size_t n = x->key_len < y->key_len ? x->key_len : y->key_len;
    int c = memcmp(x->key, y->key, n);
    if (c)
        return c;
    if (x->key_len != y->key_len)
        return x->key_len < y->key_len ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

/* YAML allows a key twice and keeps the last value; a config with one is almost always a
 * mistake (the first value silently ignored), so each repeat is an error. */
static void check_dup_keys(builder_t *b, const ct_node_t *map)
{
    if (map->n < 2)
        return;
    const ct_node_t **v = pt_xmalloc(map->n * sizeof *v); /* owned here */
    size_t i = 0;
    for (const ct_node_t *c = map->first; c; c = c->next)
        v[i++] = c;
    qsort(v, map->n, sizeof *v, key_cmp);
    const ct_node_t *first = v[0];
    for (i = 1; i < map->n; i++) {
        if (v[i]->key_len == first->key_len && memcmp(v[i]->key, first->key, first->key_len) == 0)
            cfg_err(b->errs, v[i]->key_line, v[i], "duplicate key (first at line %d)",
                    first->key_line);
        else
            first = v[i];
    }
    free(v);
}

static bool tag_is(const yaml_char_t *tag, const char *want)
{
    return tag && strcmp((const char *)tag, want) == 0;
}

static void on_scalar(builder_t *b, const yaml_event_t *ev)
{
    const char *val = (const char *)ev->data.scalar.value;
    size_t len = ev->data.scalar.length;
    const yaml_char_t *tag = ev->data.scalar.tag;
    ct_node_t *node = cfg_arena_alloc(b->arena, sizeof *node);
    node->line = (int)ev->start_mark.line + 1;
    node->s = cfg_arena_strndup(b->arena, val, len);
    node->len = len;
    bool bad_tag = false;
    if (tag && !tag_is(tag, "!") && !tag_is(tag, YAML_STR_TAG)) {
        bad_tag = true;
        node->kind = CT_STR;
    } else if (tag || ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) {
        node->kind = CT_STR; /* quoted, block, or tagged !!str: always text */
    } else {
        node->kind = resolve_plain(val, len);
    }
    bool is_value = attach(b, node);
    const ct_node_t *at = is_value ? node : b->stack[b->depth - 1];
    if (bad_tag)
        cfg_err(b->errs, node->line, at, "YAML tag %s is not supported", (const char *)tag);
    if (memchr(val, '\0', len))
        cfg_err(b->errs, node->line, at, "%s contains a NUL character",
                is_value ? "the value" : "a key");
}

static void on_open(builder_t *b, const yaml_event_t *ev, ct_kind_t kind)
{
    const yaml_char_t *tag =
        kind == CT_MAP ? ev->data.mapping_start.tag : ev->data.sequence_start.tag;
    ct_node_t *node = cfg_arena_alloc(b->arena, sizeof *node);
    node->kind = kind;
    node->line = (int)ev->start_mark.line + 1;
    node->s = "";
    if (b->depth == CT_MAX_DEPTH) {
        cfg_err(b->errs, node->line, b->stack[b->depth - 1], "nesting is deeper than %d levels",
                CT_MAX_DEPTH);
        b->failed = true;
        return;
    }
    if (!attach(b, node))
        return;
    if (tag && !tag_is(tag, "!") && !tag_is(tag, kind == CT_MAP ? YAML_MAP_TAG : YAML_SEQ_TAG))
        cfg_err(b->errs, node->line, node, "YAML tag %s is not supported", (const char *)tag);
    b->stack[b->depth++] = node;
}

static int line_of_offset(const char *buf, size_t len, size_t off)
{
    int line = 1;
    for (size_t i = 0; i < off && i < len; i++)
        line += buf[i] == '\n';
    return line;
}

static void syntax_error(builder_t *b, const yaml_parser_t *yp, const char *buf, size_t len)
{
    b->errs->syntax = true;
    b->failed = true;
    const char *problem = yp->problem ? yp->problem : "malformed document";
    switch (yp->error) {
    case YAML_MEMORY_ERROR:
        cfg_err(b->errs, 1, NULL, "out of memory while parsing");
        break;
    case YAML_READER_ERROR:
        /* The reader knows a byte offset (bad UTF-8, control characters), not a line. */
        cfg_err(b->errs, line_of_offset(buf, len, yp->problem_offset), NULL, "syntax error: %s",
                problem);
        break;
    default:
        if (yp->context)
            cfg_err(b->errs, (int)yp->problem_mark.line + 1, NULL,
                    "syntax error: %s (%s started at line %d)", problem, yp->context,
                    (int)yp->context_mark.line + 1);
        else
            cfg_err(b->errs, (int)yp->problem_mark.line + 1, NULL, "syntax error: %s", problem);
        break;
    }
}

static bool json_like(const char *buf, size_t len)
{
    size_t i = 0;
    if (len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0)
        i = 3;
    while (i < len && (buf[i] == ' ' || buf[i] == '\t' || buf[i] == '\r' || buf[i] == '\n'))
        i++;
    return i < len && (buf[i] == '{' || buf[i] == '[');
}

int ct_parse(const char *buf, size_t len, cfg_arena_t **arena, ct_node_t **root, cfg_errs_t *errs)
{
    builder_t b;
    memset(&b, 0, sizeof b);
    b.arena = arena;
    b.errs = errs;
    char *copy = NULL; /* owned: the surrogate-fixed text, when needed */
    const char *text = buf;
    size_t text_len = len;
    yaml_parser_t yp;
    bool yp_live = false;
    int rc = PT_OK;

    *root = NULL;
    if (json_like(buf, len) && memmem(buf, len, "\\u", 2)) {
        copy = pt_xmemdup(buf, len);
        fix_surrogates(copy, &text_len);
        text = copy;
    }
    if (!yaml_parser_initialize(&yp)) {
        cfg_err(errs, 1, NULL, "out of memory while parsing");
        rc = PT_ENOMEM;
        goto out;
    }
    yp_live = true;
    yaml_parser_set_input_string(&yp, (const unsigned char *)text, text_len);
    for (bool done = false; !done && !b.failed;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&yp, &ev)) {
            syntax_error(&b, &yp, text, text_len);
            break;
        }
        switch (ev.type) {
        case YAML_DOCUMENT_START_EVENT:
            if (++b.docs > 1) {
                cfg_err(errs, (int)ev.start_mark.line + 1, NULL,
                        "a config file holds one document; found a second one");
                b.failed = true;
            }
            break;
        case YAML_SCALAR_EVENT:
            on_scalar(&b, &ev);
            break;
        case YAML_MAPPING_START_EVENT:
            on_open(&b, &ev, CT_MAP);
            break;
        case YAML_SEQUENCE_START_EVENT:
            on_open(&b, &ev, CT_SEQ);
            break;
        case YAML_MAPPING_END_EVENT:
        case YAML_SEQUENCE_END_EVENT: {
            ct_node_t *top = b.stack[--b.depth];
            if (top->kind == CT_MAP)
                check_dup_keys(&b, top);
            break;
        }
        case YAML_ALIAS_EVENT:
            /* Aliases make a tree a graph (and "billion laughs" inputs); configs need none. */
            cfg_err(errs, (int)ev.start_mark.line + 1, b.depth ? b.stack[b.depth - 1] : NULL,
                    "YAML aliases (*%s) are not supported", (const char *)ev.data.alias.anchor);
            b.failed = true;
            break;
        case YAML_STREAM_END_EVENT:
            done = true;
            break;
        default:
            break;
        }
        yaml_event_delete(&ev);
    }
    if (b.failed) {
        rc = PT_EPARSE;
        goto out;
    }
    if (!b.root) {
        cfg_err(errs, 1, NULL, "the configuration is empty");
        rc = PT_EPARSE;
        goto out;
    }
    *root = b.root;
out:
    if (yp_live)
        yaml_parser_delete(&yp);
    free(copy);
    return rc;
}
