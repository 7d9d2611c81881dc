/* test_ini.c: the AWS shared-file INI parser and profile lookup (common/ini.c, issue 5). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/ini.h"

/* Collects entries as "section|key|value|continued|line\n". */
static int collect(void *ctx, const char *s, size_t sl, const char *k, size_t kl, const char *v,
                   size_t vl, bool continued, int line)
{
    buf_printf(ctx, "%.*s|%.*s|%.*s|%d|%d\n", (int)sl, s, (int)kl, k, (int)vl, v, continued, line);
    return 0;
}

static void expect_parse(const char *text, const char *want)
{
    buf_t got = BUF_INIT;
    int line = -1;
    int rc = ini_parse(text, strlen(text), collect, &got, &line);
    if (rc != PT_OK || strcmp(got.p ? got.p : "", want) != 0) {
        print_error("input:\n%s\nrc %d line %d, got:\n%s\nwanted:\n%s\n", text, rc, line,
                    got.p ? got.p : "", want);
        fail();
    }
    assert_int_equal(line, 0);
    buf_free(&got);
}

static void expect_error(const char *text, int want_line)
{
    buf_t got = BUF_INIT;
    int line = 0;
    assert_int_equal(ini_parse(text, strlen(text), collect, &got, &line), PT_EPARSE);
    if (line != want_line) {
        print_error("input:\n%s\nerror at line %d, wanted %d\n", text, line, want_line);
        fail();
    }
    buf_free(&got);
}

static void test_syntax(void **state)
{
    (void)state;
    expect_parse("", "");
    expect_parse("\n\n# only comments\n; here\n", "");
    expect_parse("[default]\naws_access_key_id = AKID\naws_secret_access_key=s/+k\n",
                 "default|aws_access_key_id|AKID|0|2\n"
                 "default|aws_secret_access_key|s/+k|0|3\n");
    /* ':' splits too; the first delimiter wins; keys and values are trimmed. */
    expect_parse("[a]\n  k1 : v=1  \nk2= a:b\nk3 =\n", "a|k1|v=1|0|2\na|k2|a:b|0|3\na|k3||0|4\n");
    /* No inline comments, quotes kept (configparser's defaults). */
    expect_parse("[a]\nk = v # not a comment ; really\nq = \"x\"\n",
                 "a|k|v # not a comment ; really|0|2\na|q|\"x\"|0|3\n");
    /* CRLF, a BOM, tabs; indented comments. */
    expect_parse("\xEF\xBB\xBF[p]\r\n\tk\t=\tv\r\n   # c\r\n", "p|k|v|0|2\n");
    /* Section names as written between the brackets, up to the last ']'. */
    expect_parse("[profile dev]\nk=v\n[ spaced ]\nk=w\n[a]b] # tail\nk=x\n",
                 "profile dev|k|v|0|2\n spaced |k|w|0|4\na]b|k|x|0|6\n");
    /* Nested settings continue the key above (botocore's "s3 =" blocks); blank lines and
     * comments in between do not end them; a line at the key's depth does. */
    expect_parse("[default]\ns3 =\n  max_concurrent_requests = 10\n\n  # c\n  addressing = path\n"
                 "region = eu-west-1\n",
                 "default|s3||1|2\ndefault|region|eu-west-1|0|7\n");
    /* An indented first key of a section is a key; deeper lines after it continue it. */
    expect_parse("[a]\n  k = v\n    more\n  j = w\n", "a|k|v|1|2\na|j|w|0|4\n");
    /* A section header resets: an indented line right after it is a key. */
    expect_parse("[a]\nk = v\n[b]\n  j = w\n", "a|k|v|0|2\nb|j|w|0|4\n");
    /* Duplicates are reported in order (the last wins for lookups). */
    expect_parse("[a]\nk=1\n[a]\nk=2\n", "a|k|1|0|2\na|k|2|0|4\n");
    /* No final newline. */
    expect_parse("[a]\nk=v", "a|k|v|0|2\n");

    expect_error("k = v\n", 1);           /* outside any section */
    expect_error("[a]\njust words\n", 2); /* no delimiter */
    expect_error("[a]\n = v\n", 2);       /* empty key */
    expect_error("[a]\nk=v\n[unterminated\n", 3);
    expect_error("[a]\nk=v\n[]\n", 3);
    expect_error("\n\n[\n", 3);
    /* A NUL is just a byte; line numbers count '\n' only. */
    const char nul[] = "[a]\nk=v\0w\nx\n";
    buf_t got = BUF_INIT;
    int line = 0;
    assert_int_equal(ini_parse(nul, sizeof nul - 1, collect, &got, &line), PT_EPARSE);
    assert_int_equal(line, 3);
    buf_free(&got);
    /* NULL text is empty; a callback can stop the walk. */
    assert_int_equal(ini_parse(NULL, 5, collect, &got, NULL), PT_OK);
    buf_free(&got);
}

static int stop_at_second(void *ctx, const char *s, size_t sl, const char *k, size_t kl,
                          const char *v, size_t vl, bool continued, int line)
{
    (void)s, (void)sl, (void)k, (void)kl, (void)v, (void)vl, (void)continued;
    int *n = ctx;
    return ++*n == 2 ? 42 + line : 0;
}

static void test_stop(void **state)
{
    (void)state;
    int n = 0;
    assert_int_equal(ini_parse("[a]\nx=1\ny=2\nz=3\n", 16, stop_at_second, &n, NULL), 45);
    assert_int_equal(n, 2);
}

static const char CREDS[] = "# ~/.aws/credentials\n"
                            "[default]\n"
                            "aws_access_key_id = AKIDDEFAULT\n"
                            "aws_secret_access_key = secret/default+1\n"
                            "\n"
                            "[dev]\n"
                            "AWS_ACCESS_KEY_ID = ASIADEV\n"
                            "aws_secret_access_key = secretdev\n"
                            "aws_session_token = tok==\n"
                            "region = ap-south-1\n"
                            "[profile dev]\n"
                            "aws_access_key_id = WRONG\n";

static const char CONFIG[] = "[default]\n"
                             "region = eu-west-1\n"
                             "s3 =\n"
                             "  addressing_style = path\n"
                             "[profile dev]\n"
                             "region = us-west-2\n"
                             "output = json\n"
                             "[profile \"quoted name\"]\n"
                             "region = sa-east-1\n"
                             "[profile a b]\n"
                             "region = xx\n"
                             "[sso-session s]\n"
                             "region = yy\n"
                             "[dev]\n"
                             "region = not-a-profile-in-config-files\n";

static void test_profiles(void **state)
{
    (void)state;
    ini_aws_profile_t p;
    int line = 0;

    assert_int_equal(ini_aws_profile(CREDS, sizeof CREDS - 1, "default", false, &p, &line), PT_OK);
    assert_true(p.found);
    assert_string_equal(p.access_key_id, "AKIDDEFAULT");
    assert_string_equal(p.secret_access_key, "secret/default+1");
    assert_null(p.session_token);
    assert_null(p.region);
    ini_aws_profile_free(&p);

    /* Keys are case-insensitive; credentials files name profiles without "profile ". */
    assert_int_equal(ini_aws_profile(CREDS, sizeof CREDS - 1, "dev", false, &p, &line), PT_OK);
    assert_string_equal(p.access_key_id, "ASIADEV");
    assert_string_equal(p.session_token, "tok==");
    assert_string_equal(p.region, "ap-south-1");
    ini_aws_profile_free(&p);

    assert_int_equal(ini_aws_profile(CREDS, sizeof CREDS - 1, "nope", false, &p, &line), PT_OK);
    assert_false(p.found);
    assert_null(p.access_key_id);
    ini_aws_profile_free(&p);

    /* Config files: "[default]" and "[profile NAME]" (quoted names too); nested blocks are
     * skipped; other sections are not profiles. */
    assert_int_equal(ini_aws_profile(CONFIG, sizeof CONFIG - 1, "default", true, &p, &line), PT_OK);
    assert_true(p.found);
    assert_string_equal(p.region, "eu-west-1");
    ini_aws_profile_free(&p);
    assert_int_equal(ini_aws_profile(CONFIG, sizeof CONFIG - 1, "dev", true, &p, &line), PT_OK);
    assert_string_equal(p.region, "us-west-2");
    ini_aws_profile_free(&p);
    assert_int_equal(ini_aws_profile(CONFIG, sizeof CONFIG - 1, "quoted name", true, &p, &line),
                     PT_OK);
    assert_string_equal(p.region, "sa-east-1");
    ini_aws_profile_free(&p);
    assert_int_equal(ini_aws_profile(CONFIG, sizeof CONFIG - 1, "a b", true, &p, &line), PT_OK);
    assert_false(p.found);
    ini_aws_profile_free(&p);
    assert_int_equal(ini_aws_profile(CONFIG, sizeof CONFIG - 1, "s", true, &p, &line), PT_OK);
    assert_false(p.found);
    ini_aws_profile_free(&p);
    /* NULL profile means "default". */
    assert_int_equal(ini_aws_profile(CONFIG, sizeof CONFIG - 1, NULL, true, &p, &line), PT_OK);
    assert_string_equal(p.region, "eu-west-1");
    ini_aws_profile_free(&p);

    /* The last value wins. */
    static const char dup[] = "[default]\naws_access_key_id=A\n[default]\naws_access_key_id=B\n";
    assert_int_equal(ini_aws_profile(dup, sizeof dup - 1, "default", false, &p, &line), PT_OK);
    assert_string_equal(p.access_key_id, "B");
    ini_aws_profile_free(&p);

    /* A credential that continues on deeper lines, or holds a control character, is refused
     * with its line; so is a malformed file. */
    static const char nested[] = "[default]\naws_secret_access_key = abc\n  def\n";
    assert_int_equal(ini_aws_profile(nested, sizeof nested - 1, "default", false, &p, &line),
                     PT_EPARSE);
    assert_int_equal(line, 2);
    assert_null(p.secret_access_key);
    static const char ctl[] = "[x]\n[default]\naws_session_token = a\x01z\n";
    assert_int_equal(ini_aws_profile(ctl, sizeof ctl - 1, "default", false, &p, &line), PT_EPARSE);
    assert_int_equal(line, 3);
    /* ...but only in the profile that is read. */
    assert_int_equal(ini_aws_profile(ctl, sizeof ctl - 1, "x", false, &p, &line), PT_OK);
    ini_aws_profile_free(&p);
    static const char bad[] = "[default]\naws_access_key_id = A\noops\n";
    assert_int_equal(ini_aws_profile(bad, sizeof bad - 1, "default", false, &p, &line), PT_EPARSE);
    assert_int_equal(line, 3);
    assert_null(p.access_key_id);
    assert_false(p.found);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_syntax),
        cmocka_unit_test(test_stop),
        cmocka_unit_test(test_profiles),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
