/* fuzz_store_record.c: libFuzzer target for the registry record decoder, with round trips. */
#include "common/err.h"
#include "store/store.h"

#include <msgpack.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * For every input: store_conn_decode must not crash; when it accepts, then
 *   - encode(decode(x)) succeeds and decodes to the same fields, and re-encoding that is
 *     byte-identical (the encoder is deterministic);
 *   - msgpack-c agrees: it unpacks x as one array of 13 whose elements hold the same values
 *     (a differential check of our hand-written reader). msgpack-c only sees accepted inputs,
 *     whose size is bounded; on arbitrary bytes it would allocate gigabytes (see codec.c).
 *
 * Seed corpus: tests/fuzz/corpus/store_record/, written by the generator at the end of this
 * file:
 *   cc -std=gnu11 -D_GNU_SOURCE -DFUZZ_STORE_RECORD_GEN -I. tests/fuzz/fuzz_store_record.c \
 *      store/codec.c common/buf.c common/mem.c -lmsgpackc -o /tmp/gen && \
 *      /tmp/gen tests/fuzz/corpus/store_record
 */

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);               \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static bool str_eq(const char *a, const char *b)
{
    return (!a && !b) || (a && b && !strcmp(a, b));
}

static bool conn_eq(const store_conn_t *a, const store_conn_t *b)
{
    return !strcmp(a->id, b->id) && a->node == b->node && a->worker == b->worker &&
           a->epoch == b->epoch && a->connected_at_ms == b->connected_at_ms &&
           a->last_active_at_ms == b->last_active_at_ms && str_eq(a->api_id, b->api_id) &&
           str_eq(a->stage, b->stage) && str_eq(a->source_ip, b->source_ip) &&
           str_eq(a->user_agent, b->user_agent) && str_eq(a->domain_name, b->domain_name) &&
           str_eq(a->authorizer_json, b->authorizer_json) && str_eq(a->extra_json, b->extra_json);
}

static bool obj_uint(const msgpack_object *o, uint64_t want)
{
    return o->type == MSGPACK_OBJECT_POSITIVE_INTEGER && o->via.u64 == want;
}

static bool obj_int(const msgpack_object *o, int64_t want)
{
    if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
        return want >= 0 && o->via.u64 == (uint64_t)want;
    return o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER && o->via.i64 == want;
}

static bool obj_str(const msgpack_object *o, const char *want)
{
    if (!want)
        return o->type == MSGPACK_OBJECT_NIL;
    /* msgpack-c leaves ptr NULL for an empty str: no memcmp then */
    return o->type == MSGPACK_OBJECT_STR && o->via.str.size == strlen(want) &&
           (!o->via.str.size || !memcmp(o->via.str.ptr, want, o->via.str.size));
}

/* msgpack-c's view of the accepted bytes must match ours. */
static void check_with_msgpack_c(const uint8_t *data, size_t size, const store_conn_t *rec)
{
    msgpack_unpacked u;
    size_t off = 0;
    msgpack_unpacked_init(&u);
    CHECK(msgpack_unpack_next(&u, (const char *)data, size, &off) == MSGPACK_UNPACK_SUCCESS);
    CHECK(off == size);
    const msgpack_object *o = &u.data;
    CHECK(o->type == MSGPACK_OBJECT_ARRAY && o->via.array.size == 13);
    const msgpack_object *e = o->via.array.ptr;
    CHECK(obj_uint(&e[0], 1));
    CHECK(obj_uint(&e[1], rec->node));
    CHECK(obj_uint(&e[2], rec->worker));
    CHECK(obj_uint(&e[3], rec->epoch));
    CHECK(obj_int(&e[4], rec->connected_at_ms));
    CHECK(obj_int(&e[5], rec->last_active_at_ms));
    CHECK(obj_str(&e[6], rec->api_id));
    CHECK(obj_str(&e[7], rec->stage));
    CHECK(obj_str(&e[8], rec->source_ip));
    CHECK(obj_str(&e[9], rec->user_agent));
    CHECK(obj_str(&e[10], rec->domain_name));
    CHECK(obj_str(&e[11], rec->authorizer_json));
    CHECK(obj_str(&e[12], rec->extra_json));
    msgpack_unpacked_destroy(&u);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    store_conn_t a, b;
    char *enc = NULL, *enc2 = NULL;
    size_t len = 0, len2 = 0;

    if (store_conn_decode("L0SM9cOFvHcCIhw=", data, size, &a) != PT_OK) {
        CHECK(a.api_id == NULL && a.stage == NULL); /* zeroed on failure */
        return 0;
    }
    check_with_msgpack_c(data, size, &a);
    CHECK(store_conn_encode(&a, &enc, &len) == PT_OK);
    CHECK(store_conn_decode(a.id, enc, len, &b) == PT_OK);
    CHECK(conn_eq(&a, &b));
    CHECK(store_conn_encode(&b, &enc2, &len2) == PT_OK);
    CHECK(len == len2 && !memcmp(enc, enc2, len));
    CHECK(len <= size); /* ours is the shortest encoding */
    store_conn_clear(&a);
    store_conn_clear(&b);
    free(enc);
    free(enc2);
    return 0;
}

#ifdef FUZZ_STORE_RECORD_GEN
/* --- seed generator (not part of the fuzz build) ------------------------------------------ */

static void write_seed(const char *dir, const char *name, const void *p, size_t n)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    CHECK(f && fwrite(p, 1, n, f) == n && fclose(f) == 0);
}

static void seed_rec(const char *dir, const char *name, const store_conn_t *r)
{
    char *enc;
    size_t len;
    CHECK(store_conn_encode(r, &enc, &len) == PT_OK);
    write_seed(dir, name, enc, len);
    free(enc);
}

static char *filled(size_t n, char c)
{
    char *s = malloc(n + 1);
    memset(s, c, n);
    s[n] = '\0';
    return s;
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : ".";
    const store_conn_t base = {
        .node = 1,
        .worker = 1,
        .epoch = 0x5f3e2a1b00c0ffeeull,
        .connected_at_ms = 1717171717171,
        .last_active_at_ms = 1717171720000,
        .api_id = "a1b2c3d4e5",
        .stage = "prod",
        .source_ip = "203.0.113.9",
        .user_agent = "Mozilla/5.0 (X11; Linux x86_64; rv:126.0) Gecko/20100101 Firefox/126.0",
        .domain_name = "a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com",
        .authorizer_json = "{\"principalId\":\"user-1\",\"integrationLatency\":12}",
        .extra_json = "{\"subprotocol\":\"graphql-ws\"}",
    };
    store_conn_t r;
    char *ua = filled(STORE_STR_MAX, 'U'), *api = filled(STORE_API_ID_MAX, 'a');
    char *stage = filled(STORE_STAGE_MAX, 's'), *dom = filled(STORE_DOMAIN_MAX, 'd');
    char *mid = filled(300, 'm');

    seed_rec(dir, "full", &base);
    r = base;
    r.user_agent = r.authorizer_json = r.extra_json = NULL;
    seed_rec(dir, "no_optionals", &r);
    r = base;
    r.api_id = r.stage = r.source_ip = r.domain_name = r.user_agent = "";
    seed_rec(dir, "empty_strings", &r);
    r = base;
    r.node = 255, r.worker = 255, r.epoch = UINT64_MAX;
    r.connected_at_ms = INT64_MIN, r.last_active_at_ms = INT64_MAX;
    seed_rec(dir, "int_extremes", &r);
    r = base;
    r.node = r.worker = 0, r.epoch = 0, r.connected_at_ms = r.last_active_at_ms = 0;
    seed_rec(dir, "zeros", &r);
    r = base;
    r.connected_at_ms = -1, r.last_active_at_ms = -200000;
    r.source_ip = "2001:db8:85a3::8a2e:370:7334";
    seed_rec(dir, "negative_times_ipv6", &r);
    r = base;
    r.user_agent = ua, r.api_id = api, r.stage = stage, r.domain_name = dom;
    r.authorizer_json = ua, r.extra_json = ua;
    seed_rec(dir, "at_limits", &r);
    r = base;
    r.user_agent = mid, r.authorizer_json = NULL;
    seed_rec(dir, "str16_ua", &r);
    r = base;
    r.stage = "\xc3\xa9t\xc3\xa9", r.authorizer_json = "{\"name\":\"\xe6\x97\xa5\xe6\x9c\xac\"}";
    seed_rec(dir, "utf8", &r);
    r = base;
    r.user_agent = NULL, r.extra_json = "{}";
    seed_rec(dir, "extra_only", &r);

    /* Other encodings of valid records: array16/array32 headers, wide ints, str8/16/32. */
    static const uint8_t wide[] = {
        0xdd, 0, 0,   0,   13,  0xd0, 1,    0xcd, 0,    3,   0xd3, 0,    0,    0,
        0,    0, 0,   0,   1,   0xce, 0,    0,    0,    42,  0xff, 0xd1, 0xff, 0x00,
        0xd9, 4, 'a', 'p', 'i', '1',  0xda, 0,    4,    'p', 'r',  'o',  'd',  0xdb,
        0,    0, 0,   3,   '1', '.',  '1',  0xc0, 0xa1, 'h', 0xc0, 0xc0,
    };
    write_seed(dir, "wide_encodings", wide, sizeof wide);
    static const uint8_t arr16[] = {0xdc, 0,    13,  1,    3,   1,    42,   0,   0,    0xa1,
                                    'a',  0xa1, 'p', 0xa1, 'i', 0xc0, 0xa1, 'd', 0xc0, 0xc0};
    write_seed(dir, "array16", arr16, sizeof arr16);
    /* Near misses: a 14-element "version 2", a truncated record, a map instead of an array. */
    static const uint8_t v2[] = {0x9e, 2,    3,   1,    42,   0,   0,    0xa1, 'a', 0xa1,
                                 'p',  0xa1, 'i', 0xc0, 0xa1, 'd', 0xc0, 0xc0, 0xc0};
    write_seed(dir, "version2", v2, sizeof v2);
    write_seed(dir, "truncated", arr16, sizeof arr16 - 3);
    static const uint8_t map[] = {0x81, 0xa1, 'v', 1};
    write_seed(dir, "map", map, sizeof map);
    free(ua);
    free(api);
    free(stage);
    free(dom);
    free(mid);
    return 0;
}
#endif
