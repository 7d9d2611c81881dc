/* config_internal.h: the config loader's arena, error list and document tree (routes/ only). */
#ifndef PORTICO_ROUTES_CONFIG_INTERNAL_H
#define PORTICO_ROUTES_CONFIG_INTERNAL_H

#include "common/buf.h"

#include <stdbool.h>
#include <stddef.h>

/* ---- Arena: many small allocations freed at once (the tree, and the model's strings). ---- */

typedef struct cfg_arena cfg_arena_t;

/* Returns n zeroed bytes aligned for any type, owned by *a (created on first use). */
void *cfg_arena_alloc(cfg_arena_t **a, size_t n);
/* Copies s[0..n) plus a NUL into *a. */
char *cfg_arena_strndup(cfg_arena_t **a, const char *s, size_t n);
char *cfg_arena_strdup(cfg_arena_t **a, const char *s);
void cfg_arena_free(cfg_arena_t *a);

/* ---- Document tree, built from libyaml events (JSON is a subset of YAML's flow style). ---- */

typedef enum ct_kind {
    CT_MAP = 1,
    CT_SEQ,
    CT_STR,   /* quoted, block, or a plain scalar that is not one of the below */
    CT_INT,   /* plain [-+]?[0-9]+ */
    CT_FLOAT, /* plain JSON-style number with a fraction or an exponent */
    CT_BOOL,  /* plain true/false (and True/TRUE/False/FALSE) */
    CT_NULL,  /* plain null/Null/NULL/~ or an empty value */
} ct_kind_t;

typedef struct ct_node ct_node_t;
struct ct_node {
    ct_kind_t kind;
    int line;          /* 1-based line where the value starts */
    const char *s;     /* scalar text, NUL-terminated (never NULL for scalars) */
    size_t len;        /* scalar length */
    ct_node_t *parent; /* NULL for the root */
    const char *key;   /* key when the parent is a map */
    size_t key_len;
    int key_line;
    size_t index;     /* position in the parent (map or sequence) */
    ct_node_t *first; /* children of a map or sequence, in document order */
    ct_node_t *last;
    ct_node_t *next; /* next sibling */
    size_t n;        /* number of children */
};

/* ---- Errors: "source:line: path: message", collected, then sorted by line. ---- */

typedef struct cfg_error {
    int line;
    size_t seq; /* insertion order, to keep sorting stable */
    char *msg;  /* owned; "path: message" without the source and line */
} cfg_error_t;

typedef struct cfg_errs {
    const char *source; /* borrowed */
    cfg_error_t *v;     /* owned */
    size_t n, cap;
    size_t dropped; /* errors past the storage cap, only counted */
    bool syntax;    /* a syntax error was reported (the result is PT_EPARSE) */
} cfg_errs_t;

/* How many errors the final message shows; the rest are summarised in one line. */
#define CFG_ERRORS_SHOWN 20

/* Adds an error at line, prefixed with the key path of node (node may be NULL: no path). */
void cfg_err(cfg_errs_t *e, int line, const ct_node_t *node, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Writes the errors, sorted by line, one per line, into out (may be NULL). */
void cfg_errs_write(cfg_errs_t *e, buf_t *out);
void cfg_errs_free(cfg_errs_t *e);

/* Appends the key path of node: "apis[0].routes[2].routeKey", "stageVariables[\"a b\"]". */
void ct_path(const ct_node_t *node, buf_t *out);

/*
 * Parses buf (JSON or YAML, one document) into a tree allocated in *arena. Syntax errors (the
 * first one only: libyaml stops there), duplicate keys, aliases, unknown tags, NUL characters and
 * nesting deeper than CT_MAX_DEPTH go into errs. Returns PT_OK with *root set (the tree may
 * still hold duplicate keys, already reported), or PT_EPARSE when no usable tree was built.
 */
#define CT_MAX_DEPTH 64
int ct_parse(const char *buf, size_t len, cfg_arena_t **arena, ct_node_t **root, cfg_errs_t *errs);

/* The member of a map with that key (the first one), or NULL. */
const ct_node_t *ct_map_get(const ct_node_t *map, const char *key);

/* "an object", "an array", "a string", "an integer", "a number", "a boolean", "null". */
const char *ct_kind_name(ct_kind_t k);

#endif
