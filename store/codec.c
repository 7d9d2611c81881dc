/* codec.c: the registry record: msgpack encoding (msgpack-c) and a strict, bounded decoder. */
#include "common/err.h"
#include "common/mem.h"
#include "store/store_internal.h"

#include <msgpack.h>
#include <stdlib.h>
#include <string.h>

/*
 * Version 1 is a 13-element array, in this order:
 *   [1, node, worker, epoch, connected_at_ms, last_active_at_ms,
 *    api_id, stage, source_ip, user_agent|nil, domain_name, authorizer_json|nil, extra_json|nil]
 * A later version appends fields and bumps the number; a decoder accepts exactly the lengths of
 * the versions it knows, so an old binary refuses a newer record instead of misreading it.
 *
 * Decoding does not use msgpack-c's unpacker. Stored bytes may be corrupt, and msgpack-c 4.0
 * allocates room for every element an array header announces before reading any of them:
 * measured here, the 5 bytes dd 0f ff ff ff make it allocate 6.4 GB. The reader below only
 * understands the types a record may hold, checks every length against the bytes that are
 * left and the field's limit, and allocates nothing; a view points into the input.
 */

static const struct {
    size_t max;
    bool nullable;
} str_spec[STORE_S_COUNT] = {
    [STORE_S_API_ID] = {STORE_API_ID_MAX, false},
    [STORE_S_STAGE] = {STORE_STAGE_MAX, false},
    [STORE_S_SOURCE_IP] = {STORE_SOURCE_IP_MAX, false},
    [STORE_S_USER_AGENT] = {STORE_STR_MAX, true},
    [STORE_S_DOMAIN] = {STORE_DOMAIN_MAX, false},
    [STORE_S_AUTHORIZER] = {STORE_STR_MAX, true},
    [STORE_S_EXTRA] = {STORE_STR_MAX, true},
};

/* --- decoding -------------------------------------------------------------------------------- */

typedef struct rd {
    const uint8_t *p;
    const uint8_t *end;
} rd_t;

static bool rd_has(const rd_t *r, size_t n)
{
    return (size_t)(r->end - r->p) >= n;
}

/* Big-endian unsigned of n bytes; the caller checked they are there. */
static uint64_t rd_be(rd_t *r, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = (v << 8) | r->p[i];
    r->p += n;
    return v;
}

/* An integer in any msgpack encoding. Non-negative values land in *u (neg false), negative
 * ones in *s (neg true), as msgpack-c itself classifies them. */
static int rd_int(rd_t *r, bool *neg, uint64_t *u, int64_t *s)
{
    if (!rd_has(r, 1))
        return PT_EPARSE;
    uint8_t b = *r->p++;
    size_t n;
    int64_t sv;
    *neg = false;
    if (b <= 0x7f) {
        *u = b;
        return PT_OK;
    }
    if (b >= 0xe0) {
        *neg = true;
        *s = (int8_t)b;
        return PT_OK;
    }
    switch (b) {
    case 0xcc:
    case 0xcd:
    case 0xce:
    case 0xcf:
        n = (size_t)1 << (b - 0xcc);
        if (!rd_has(r, n))
            return PT_EPARSE;
        *u = rd_be(r, n);
        return PT_OK;
    case 0xd0:
    case 0xd1:
    case 0xd2:
    case 0xd3:
        n = (size_t)1 << (b - 0xd0);
        if (!rd_has(r, n))
            return PT_EPARSE;
        {
            uint64_t raw = rd_be(r, n);
            /* sign-extend from n bytes without shifting into the sign bit */
            if (n < 8 && (raw >> (n * 8 - 1)))
                raw |= ~(uint64_t)0 << (n * 8);
            memcpy(&sv, &raw, sizeof sv);
        }
        if (sv < 0) {
            *neg = true;
            *s = sv;
        } else {
            *u = (uint64_t)sv;
        }
        return PT_OK;
    default:
        return PT_EPARSE;
    }
}

static int rd_uint(rd_t *r, uint64_t max, uint64_t *out)
{
    bool neg;
    uint64_t u = 0;
    int64_t s = 0;
    if (rd_int(r, &neg, &u, &s) != PT_OK || neg || u > max)
        return PT_EPARSE;
    *out = u;
    return PT_OK;
}

static int rd_sint(rd_t *r, int64_t *out)
{
    bool neg;
    uint64_t u = 0;
    int64_t s = 0;
    if (rd_int(r, &neg, &u, &s) != PT_OK)
        return PT_EPARSE;
    if (neg) {
        *out = s;
        return PT_OK;
    }
    if (u > INT64_MAX)
        return PT_EPARSE;
    *out = (int64_t)u;
    return PT_OK;
}

static int rd_array(rd_t *r, uint64_t *n)
{
    if (!rd_has(r, 1))
        return PT_EPARSE;
    uint8_t b = *r->p++;
    if ((b & 0xf0) == 0x90) {
        *n = b & 0x0f;
        return PT_OK;
    }
    size_t w = b == 0xdc ? 2 : b == 0xdd ? 4 : 0;
    if (!w || !rd_has(r, w))
        return PT_EPARSE;
    *n = rd_be(r, w);
    return PT_OK;
}

/* A str (or nil when allowed) of at most max bytes without NULs, as a slice of the input. */
static int rd_str(rd_t *r, size_t max, bool nullable, store_str_t *out)
{
    if (!rd_has(r, 1))
        return PT_EPARSE;
    uint8_t b = *r->p++;
    uint64_t len;
    if (b == 0xc0 && nullable) {
        out->p = NULL;
        out->len = 0;
        return PT_OK;
    }
    if ((b & 0xe0) == 0xa0) {
        len = b & 0x1f;
    } else {
        size_t w = b == 0xd9 ? 1 : b == 0xda ? 2 : b == 0xdb ? 4 : 0;
        if (!w || !rd_has(r, w))
            return PT_EPARSE;
        len = rd_be(r, w);
    }
    if (len > max || !rd_has(r, (size_t)len))
        return PT_EPARSE;
    /* C strings cannot hold a NUL; refusing it keeps decode(encode(x)) == x. */
    if (len && memchr(r->p, 0, (size_t)len))
        return PT_EPARSE;
    out->p = (const char *)r->p;
    out->len = (size_t)len;
    r->p += len;
    return PT_OK;
}

int store__view_parse(const void *data, size_t len, store_view_t *v)
{
    rd_t r = {data, (const uint8_t *)data + len};
    uint64_t n, ver, node, worker;
    if (!data)
        return PT_EPARSE;
    if (rd_array(&r, &n) != PT_OK || n < 1)
        return PT_EPARSE;
    if (rd_uint(&r, UINT64_MAX, &ver) != PT_OK || ver != STORE_REC_VERSION || n != STORE_REC_FIELDS)
        return PT_EPARSE;
    if (rd_uint(&r, UINT8_MAX, &node) != PT_OK || rd_uint(&r, UINT8_MAX, &worker) != PT_OK ||
        rd_uint(&r, UINT64_MAX, &v->epoch) != PT_OK || rd_sint(&r, &v->connected_at_ms) != PT_OK ||
        rd_sint(&r, &v->last_active_at_ms) != PT_OK)
        return PT_EPARSE;
    v->node = (uint8_t)node;
    v->worker = (uint8_t)worker;
    for (int i = 0; i < STORE_S_COUNT; i++) {
        if (rd_str(&r, str_spec[i].max, str_spec[i].nullable, &v->s[i]) != PT_OK)
            return PT_EPARSE;
    }
    /* one record, nothing after it */
    return r.p == r.end ? PT_OK : PT_EPARSE;
}

/* --- encoding -------------------------------------------------------------------------------- */

/* msgpack-c writes through this, about 26 times per record, so it only copies: the encoder
 * reserved the record's upper bound before packing. The fallback append keeps it safe should
 * that bound ever be wrong. The packers' return values are therefore always 0. */
static int buf_write(void *data, const char *p, size_t n)
{
    buf_t *b = data;
    if (b->cap - b->len <= n) {
        buf_append(b, p, n);
        return 0;
    }
    memcpy(b->p + b->len, p, n);
    b->len += n;
    return 0;
}

int store__view_encode(const store_view_t *v, buf_t *out)
{
    msgpack_packer pk;
    for (int i = 0; i < STORE_S_COUNT; i++) {
        if ((!v->s[i].p && !str_spec[i].nullable) || v->s[i].len > str_spec[i].max)
            return PT_EINVAL;
    }
    /* array header, 6 ints of at most 9 bytes, 7 string headers of at most 5, the bodies */
    size_t bound = 1 + 6 * 9 + STORE_S_COUNT * 5;
    for (int i = 0; i < STORE_S_COUNT; i++)
        bound += v->s[i].len;
    buf_reserve(out, bound);
    msgpack_packer_init(&pk, out, buf_write);
    msgpack_pack_array(&pk, STORE_REC_FIELDS);
    msgpack_pack_uint8(&pk, STORE_REC_VERSION);
    msgpack_pack_uint8(&pk, v->node);
    msgpack_pack_uint8(&pk, v->worker);
    msgpack_pack_uint64(&pk, v->epoch);
    msgpack_pack_int64(&pk, v->connected_at_ms);
    msgpack_pack_int64(&pk, v->last_active_at_ms);
    for (int i = 0; i < STORE_S_COUNT; i++) {
        if (v->s[i].p)
            msgpack_pack_str_with_body(&pk, v->s[i].p, v->s[i].len);
        else
            msgpack_pack_nil(&pk);
    }
    out->p[out->len] = '\0'; /* buf_t's promise; reserve left room for it */
    return PT_OK;
}

int store__view_of(const store_conn_t *rec, store_view_t *v)
{
    const char *src[STORE_S_COUNT] = {
        [STORE_S_API_ID] = rec->api_id,       [STORE_S_STAGE] = rec->stage,
        [STORE_S_SOURCE_IP] = rec->source_ip, [STORE_S_USER_AGENT] = rec->user_agent,
        [STORE_S_DOMAIN] = rec->domain_name,  [STORE_S_AUTHORIZER] = rec->authorizer_json,
        [STORE_S_EXTRA] = rec->extra_json,
    };
    v->node = rec->node;
    v->worker = rec->worker;
    v->epoch = rec->epoch;
    v->connected_at_ms = rec->connected_at_ms;
    v->last_active_at_ms = rec->last_active_at_ms;
    for (int i = 0; i < STORE_S_COUNT; i++) {
        if (!src[i] && !str_spec[i].nullable)
            return PT_EINVAL;
        v->s[i].p = src[i];
        /* strnlen: one past the limit is enough to refuse, however long the string is */
        v->s[i].len = src[i] ? strnlen(src[i], str_spec[i].max + 1) : 0;
        if (v->s[i].len > str_spec[i].max)
            return PT_EINVAL;
    }
    return PT_OK;
}

void store__view_to_conn(const store_view_t *v, const char *id, size_t id_len, store_conn_t *rec,
                         buf_t *arena)
{
    char **dst[STORE_S_COUNT] = {
        [STORE_S_API_ID] = &rec->api_id,       [STORE_S_STAGE] = &rec->stage,
        [STORE_S_SOURCE_IP] = &rec->source_ip, [STORE_S_USER_AGENT] = &rec->user_agent,
        [STORE_S_DOMAIN] = &rec->domain_name,  [STORE_S_AUTHORIZER] = &rec->authorizer_json,
        [STORE_S_EXTRA] = &rec->extra_json,
    };
    size_t off[STORE_S_COUNT];
    memset(rec, 0, sizeof *rec);
    memcpy(rec->id, id, id_len);
    rec->node = v->node;
    rec->worker = v->worker;
    rec->epoch = v->epoch;
    rec->connected_at_ms = v->connected_at_ms;
    rec->last_active_at_ms = v->last_active_at_ms;
    if (!arena) {
        for (int i = 0; i < STORE_S_COUNT; i++)
            *dst[i] = v->s[i].p ? pt_xstrndup(v->s[i].p, v->s[i].len) : NULL;
        return;
    }
    /* One copy per string into the arena; pointers are taken once it no longer moves. */
    buf_reset(arena);
    for (int i = 0; i < STORE_S_COUNT; i++) {
        off[i] = arena->len;
        if (v->s[i].p) {
            buf_append(arena, v->s[i].p, v->s[i].len);
            buf_append(arena, "", 1);
        }
    }
    for (int i = 0; i < STORE_S_COUNT; i++)
        *dst[i] = v->s[i].p ? arena->p + off[i] : NULL;
}

size_t store__id_len(const char *id)
{
    size_t n = id ? strnlen(id, STORE_ID_LEN + 1) : 0;
    return n > STORE_ID_LEN ? 0 : n;
}

/* --- public ---------------------------------------------------------------------------------- */

int store_conn_encode(const store_conn_t *rec, char **out, size_t *out_len)
{
    buf_t b = BUF_INIT; /* owned until handed to *out */
    store_view_t v;
    int rc = store__view_of(rec, &v);
    if (rc == PT_OK)
        rc = store__view_encode(&v, &b);
    if (rc != PT_OK) {
        buf_free(&b);
        return rc;
    }
    *out = buf_steal(&b, out_len);
    return PT_OK;
}

int store_conn_decode(const char *id, const void *data, size_t len, store_conn_t *rec)
{
    store_view_t v;
    size_t id_len = id ? strnlen(id, STORE_ID_LEN + 1) : 0;
    memset(rec, 0, sizeof *rec);
    if (id_len > STORE_ID_LEN || store__view_parse(data, len, &v) != PT_OK)
        return PT_EPARSE;
    store__view_to_conn(&v, id ? id : "", id_len, rec, NULL);
    return PT_OK;
}

void store_conn_clear(store_conn_t *rec)
{
    if (!rec)
        return;
    free(rec->api_id);
    free(rec->stage);
    free(rec->source_ip);
    free(rec->user_agent);
    free(rec->domain_name);
    free(rec->authorizer_json);
    free(rec->extra_json);
    memset(rec, 0, sizeof *rec);
}
