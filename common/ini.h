/* ini.h: the INI dialect of AWS's shared config and credentials files; pure, no I/O. */
#ifndef PORTICO_COMMON_INI_H
#define PORTICO_COMMON_INI_H

#include <stdbool.h>
#include <stddef.h>

/*
 * The files are outside input (a user's ~/.aws/credentials), so the parser is a pure function
 * over bytes, unit-tested and fuzzed (tests/fuzz/fuzz_ini.c). Its rules are those of Python's
 * configparser as botocore uses it (RawConfigParser, botocore.configloader.raw_config_parse),
 * the reference the AWS CLI users' files are written for:
 *   - "[name]" opens a section (the name is kept as written between the brackets);
 *   - "key = value" or "key: value" (the first '=' or ':' splits); keys are case-insensitive
 *     and both sides are trimmed; values keep quotes and any '#' or ';' (no inline comments);
 *   - lines whose first non-blank character is '#' or ';' are comments; blank lines are skipped;
 *   - a line indented deeper than the key before it in the same section continues that key's
 *     value (botocore's nested settings such as "s3 =\n  max_concurrent_requests = 10"); such
 *     lines are skipped and the entry is reported with `continued` set;
 *   - a UTF-8 byte-order mark at the start is skipped; "\r\n" line ends are accepted.
 * Anything else (a key outside any section, a line with no '=' or ':', an empty key, an
 * unterminated "[") is malformed. One difference: configparser refuses duplicate sections and
 * keys; here they are accepted and the last value wins.
 */

/* Called for every key; section, key and value are not NUL-terminated. Return 0 to go on,
 * anything else to stop (ini_parse returns it). */
typedef int (*ini_entry_cb)(void *ctx, const char *section, size_t section_len, const char *key,
                            size_t key_len, const char *value, size_t value_len, bool continued,
                            int line);

/*
 * Parses text[0..len). Returns PT_OK, PT_EPARSE with *err_line (may be NULL) set to the
 * 1-based line of the first malformed line, or what cb returned when it stopped the walk.
 * Messages built from the result must not quote the line: it may hold a secret.
 */
int ini_parse(const char *text, size_t len, ini_entry_cb cb, void *ctx, int *err_line);

/* A profile's settings, as the AWS SDKs read them. Strings owned; NULL when absent. */
typedef struct ini_aws_profile {
    bool found; /* the profile's section exists */
    char *access_key_id;
    char *secret_access_key;
    char *session_token;
    char *region;
} ini_aws_profile_t;

/*
 * Reads profile `profile` from a shared credentials file (config_file false: section "[name]")
 * or a shared config file (config_file true: "[profile name]", and "[default]" for "default").
 * Reads aws_access_key_id, aws_secret_access_key, aws_session_token and region. A value that
 * continues on indented lines, or holds a control character, is PT_EPARSE (*err_line is its
 * line). Returns PT_OK (out->found tells whether the profile exists; free with
 * ini_aws_profile_free) or PT_EPARSE; out is then empty.
 */
int ini_aws_profile(const char *text, size_t len, const char *profile, bool config_file,
                    ini_aws_profile_t *out, int *err_line);

/* Frees the strings, wiping the secrets first. */
void ini_aws_profile_free(ini_aws_profile_t *p);

#endif
