/* test_template.c: mapping templates (spec 5.3): the VTL subset, API Gateway variables, limits. */
#include "routes_test.h"

static tapi_t T;
static route_route_t *R_SEND, *R_CONNECT;

static int setup(void **state)
{
    (void)state;
    tapi_init(&T, "$request.body.action");
    R_CONNECT = tapi_route(&T, "$connect", NULL);
    R_SEND = tapi_route(&T, "sendmessage", NULL);
    tmap_add(&T.stage.variables, "url", "example.com");
    tmap_add(&T.stage.variables, "fn", "chat");
    tapi_index(&T);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tapi_free(&T);
    return 0;
}

/* Renders tmpl with $input = input on a MESSAGE; returns the output (static) or fails. */
static const char *rend_ctx(const route_ctx_t *c, const char *tmpl, const char *input)
{
    static buf_t out = BUF_INIT;
    buf_t err = BUF_INIT;
    buf_reset(&out);
    int rc = route_template_render(tmpl, c, input, input ? strlen(input) : 0, NULL, &out, &err);
    if (rc != PT_OK)
        fail_msg("render %s: %s (%s)", tmpl, pt_errname(rc), err.p ? err.p : "");
    buf_free(&err);
    return out.p ? out.p : "";
}

static const char *rend(const char *tmpl, const char *input)
{
    route_ctx_t c;
    tctx_init(&c, &T, R_SEND, ROUTE_EV_MESSAGE);
    if (input)
        tctx_body(&c, input);
    return rend_ctx(&c, tmpl, input);
}

/* Renders and returns the error code; *msg receives err's text. */
static int rend_rc(const char *tmpl, const char *input, char *msg, size_t msgn)
{
    route_ctx_t c;
    buf_t out = BUF_INIT, err = BUF_INIT;
    tctx_init(&c, &T, R_SEND, ROUTE_EV_MESSAGE);
    buf_puts(&out, "keep");
    int rc = route_template_render(tmpl, &c, input, input ? strlen(input) : 0, NULL, &out, &err);
    if (rc != PT_OK)
        assert_string_equal(out.p, "keep"); /* a failure leaves out untouched */
    if (msg)
        snprintf(msg, msgn, "%s", err.p ? err.p : "");
    buf_free(&out);
    buf_free(&err);
    return rc;
}

static void test_text_and_comments(void **state)
{
    (void)state;
    assert_string_equal(rend("", NULL), "");
    assert_string_equal(rend("hello {\"a\": 1}", NULL), "hello {\"a\": 1}");
    assert_string_equal(rend("a## comment\nb", NULL), "ab");
    assert_string_equal(rend("a#* block\n comment *#b", NULL), "ab");
    assert_string_equal(rend("#[[$x #if(]]#!", NULL), "$x #if(!");
    assert_string_equal(rend("\\$context.stage \\#if", NULL), "$context.stage #if");
    /* '$' and '#' that start nothing are text. */
    assert_string_equal(rend("price: $5, #1, a#b, 100%, $, #", NULL),
                        "price: $5, #1, a#b, 100%, $, #");
    assert_string_equal(rend("$.a $ {} #{x} #unknown(1)", NULL), "$.a $ {} #{x} #unknown(1)");
    assert_string_equal(rend("back\\slash \\n", NULL), "back\\slash \\n");
}

static void test_context_and_stage_vars(void **state)
{
    (void)state;
    assert_string_equal(rend("$context.connectionId|${context.requestId}|$context.stage|"
                             "$context.routeKey|$context.eventType|$context.messageId",
                             NULL),
                        T_CONN_ID "|" T_REQ_ID "|prod|sendmessage|MESSAGE|" T_MSG_ID);
    assert_string_equal(rend("$context.identity.sourceIp $context.requestTime", NULL),
                        T_SOURCE_IP " 20/Jan/2024:11:55:00 +0000");
    assert_string_equal(rend("[$context.authorizer.principalId][$context.nope]", NULL), "[][]");
    assert_string_equal(rend("$stageVariables.url ${stageVariables.fn} $stageVariables['url'] "
                             "${stageVariables['fn']}[$stageVariables.none]",
                             NULL),
                        "example.com chat example.com chat[]");
    assert_string_equal(rend("#if($context.requestTimeEpoch > 1700000000000)new#end", NULL), "new");
    assert_string_equal(rend("$context.identity.sourceIp.length()", NULL), "9");
    /* As maps. */
    assert_string_equal(rend("$context.identity", NULL), "{sourceIp=" T_SOURCE_IP "}");
    assert_string_equal(
        rend("#foreach($k in $stageVariables.keySet())$k=$stageVariables.get($k);#end", NULL),
        "url=example.com;fn=chat;");
}

static void test_authorizer_map(void **state)
{
    (void)state;
    route_ctx_t c;
    json_t *az = json_loads("{\"principalId\":\"user\",\"n\":1}", 0, NULL);
    tctx_init(&c, &T, R_SEND, ROUTE_EV_MESSAGE);
    c.authorizer = az;
    assert_string_equal(rend_ctx(&c, "$context.authorizer.principalId/$context.authorizer.n", NULL),
                        "user/1");
    assert_string_equal(
        rend_ctx(
            &c,
            "{#foreach($k in $context.authorizer.keySet())\"$k\":\"$context.authorizer.get($k)\""
            "#if($foreach.hasNext),#end#end}",
            NULL),
        "{\"principalId\":\"user\",\"n\":\"1\"}");
    json_decref(az);
}

/* The doc sample non-proxy $connect template (spec 5.3). */
static void test_connect_doc_sample(void **state)
{
    (void)state;
    route_ctx_t c;
    http_header_t h[] = {thdr("Host", "h.example"), thdr("Connection", "Upgrade"),
                         thdr("Sec-WebSocket-Key", "k==")};
    tctx_init(&c, &T, R_CONNECT, ROUTE_EV_CONNECT);
    c.headers = h;
    c.nheaders = PT_ARRAY_LEN(h);
    c.query = "token=abc";
    c.query_len = 9;
    assert_string_equal(
        rend_ctx(
            &c,
            "{\"connectionId\": \"$context.connectionId\", \"domain\": \"$context.domainName\", "
            "\"stage\": \"$context.stage\", \"params\": \"$input.params()\"}",
            NULL),
        "{\"connectionId\": \"" T_CONN_ID "\", \"domain\": \"" T_DOMAIN "\", \"stage\": \"prod\", "
        "\"params\": \"{path={}, querystring={token=abc}, header={Host=h.example, "
        "Sec-WebSocket-Key=k==, X-Forwarded-For=192.0.2.1, X-Forwarded-Port=443, "
        "X-Forwarded-Proto=https}}\"}");
    assert_string_equal(rend_ctx(&c,
                                 "$input.params('token')|$input.params('host')|"
                                 "[$input.params('nope')]|$input.params().querystring.token|"
                                 "$input.params().header.get('Host')",
                                 NULL),
                        "abc|h.example|[]|abc|h.example");
    /* CONNECT has no body: $input.body is "{}", as AWS gives for an empty body. */
    assert_string_equal(rend_ctx(&c, "$input.body|$input.json('$')|[$input.path('$')]", NULL),
                        "{}|\"\"|[]");
}

static void test_input(void **state)
{
    (void)state;
    const char *in = "{\"name\":\"Bob\",\"n\":3,\"r\":0.1,\"ok\":true,\"nul\":null,"
                     "\"obj\":{\"k\":\"v\",\"l\":[1,{\"c\":5}],\"o\":{\"x\":null}},"
                     "\"items\":[{\"name\":\"a\"},{\"name\":\"b\"}]}";
    assert_string_equal(rend("$input.body", in), in);
    assert_string_equal(rend("$input.json('$.name')", in), "\"Bob\"");
    assert_string_equal(rend("$input.json('$.n')|$input.json('$.r')|$input.json('$.ok')", in),
                        "3|0.1|true");
    assert_string_equal(rend("$input.json('$.nul')", in), "null");
    assert_string_equal(rend("$input.json('$.obj')", in),
                        "{\"k\":\"v\",\"l\":[1,{\"c\":5}],\"o\":{\"x\":null}}");
    assert_string_equal(rend("$input.json(\"$.items[1]\")", in), "{\"name\":\"b\"}");
    assert_string_equal(rend("$input.json('$.missing')", in), "\"\"");
    assert_string_equal(rend("$input.json('$..bad')", in), "\"\"");
    assert_string_equal(rend("$input.path('$.name')", in), "Bob");
    /* Maps as Java's toString, lists inside as JSON (as API Gateway renders them). */
    assert_string_equal(rend("$input.path('$.obj')", in), "{k=v, l=[1,{\"c\":5}], o={x=null}}");
    assert_string_equal(rend("$input.path('$.items')", in), "[{\"name\":\"a\"},{\"name\":\"b\"}]");
    assert_string_equal(rend("[$input.path('$.missing')][$input.path('$.nul')]", in), "[][]");
    assert_string_equal(rend("$input.path('$.items').size() $input.path('$.items')[1].name "
                             "$input.path('$.obj').k $input.path('$.obj.l').get(0)",
                             in),
                        "2 b v 1");
    assert_string_equal(rend("[#foreach($i in $input.path('$.items'))\"$i.name\""
                             "#if($foreach.hasNext),#end#end]",
                             in),
                        "[\"a\",\"b\"]");
    assert_string_equal(rend("$input.json('$')", "[1, 2]"), "[1,2]");
    /* Not JSON: json gives "", path('$') the raw text (form bodies), other paths nothing. */
    assert_string_equal(rend("$input.json('$.a')|$input.path('$')|[$input.path('$.a')]", "a=1&b=2"),
                        "\"\"|a=1&b=2|[]");
    assert_string_equal(rend("#foreach($kv in $input.path('$').split('&'))[$kv]#end", "a=1&b=2"),
                        "[a=1][b=2]");
}

static void test_input_json_given(void **state)
{
    (void)state;
    route_ctx_t c;
    buf_t out = BUF_INIT;
    json_t *j = json_loads("{\"a\":\"from tree\"}", 0, NULL);
    tctx_init(&c, &T, R_SEND, ROUTE_EV_MESSAGE);
    /* A given parse is used as is (the text is only $input.body). */
    assert_int_equal(route_template_render("$input.path('$.a')/$input.body", &c, "{\"a\":\"text\"}",
                                           12, j, &out, NULL),
                     PT_OK);
    assert_string_equal(out.p, "from tree/{\"a\":\"text\"}");
    buf_free(&out);
    json_decref(j);
}

static void test_directives(void **state)
{
    (void)state;
    assert_string_equal(rend("#if(true)yes#end", NULL), "yes");
    assert_string_equal(rend("#if(false)yes#{else}no#end", NULL), "no");
    assert_string_equal(
        rend("#set($a = 2)#if($a == 1)one#elseif($a == 2)two#{else}many#{end}!", NULL), "two!");
    assert_string_equal(rend("#if ($nope)x#else y#end", NULL), " y");
    /* Velocity 1.7 truth: only null and false are false. */
    assert_string_equal(
        rend("#if('')e#end#if(0)z#end#if($input.path('$.f'))f#end", "{\"f\":false}"), "ez");
    assert_string_equal(rend("#if(!$nope && ($x || true))ok#end", NULL), "ok");
    assert_string_equal(rend("#if(not false and 1 lt 2 or false)ok#end", NULL), "ok");
    assert_string_equal(rend("#if(1 == 1.0 && '1' == 1 && 'a' != 'b' && 2 >= 2 && 3 > 2 && "
                             "1 <= 1 && 1 < 2)ok#end",
                             NULL),
                        "ok");
    assert_string_equal(rend("#if('10' > '9')lenient#end", NULL), "lenient");
    assert_string_equal(rend("#if('a' > 1)x#{else}no#end", NULL), "no");
    assert_string_equal(rend("#if($a == $b)nulls#end", NULL), "nulls");
    /* Nested. */
    assert_string_equal(rend("#foreach($i in [1..3])#if($i % 2 == 1)$i#end#end", NULL), "13");
}

static void test_set_and_arithmetic(void **state)
{
    (void)state;
    assert_string_equal(rend("#set($a = 5)#set($b = $a * 2 + 1)$b", NULL), "11");
    assert_string_equal(rend("#set($a = 7)${a}/2=#set($q = $a / 2)$q r#set($m = $a % 3)$m", NULL),
                        "7/2=3 r1");
    assert_string_equal(rend("#set($a = 1 / 0)[$a]", NULL), "[]");
    assert_string_equal(rend("#set($a = 2.5 * 2)$a #set($b = -3)$b #set($c = -(1 + 2))$c", NULL),
                        "5.0 -3 -3");
    assert_string_equal(rend("#set($s = \"x\" + 1)$s #set($t = 1 + 'y')$t", NULL), "x1 1y");
    assert_string_equal(rend("#set($n = \"Hi $input.path('$.name')!\")$n", "{\"name\":\"Bob\"}"),
                        "Hi Bob!");
    assert_string_equal(rend("#set($s = 'no $interp')$s", NULL), "no $interp");
    assert_string_equal(rend("#set($a = 1)#set($a = $nope)[$a]", NULL), "[]");
    /* Builtins and properties cannot be set. */
    assert_string_equal(
        rend("#set($context = 1)#set($m = {})#set($m.k = 1)$context.stage|[$m.k]", NULL),
        "prod|[]");
    assert_string_equal(rend("#set($big = 9223372036854775807 + 1)$big", NULL),
                        "9.223372036854776e+18");
}

static void test_lists_and_maps(void **state)
{
    (void)state;
    assert_string_equal(rend("#set($l = [1, 'two', true])$l $l.size() $l[1] $l.get(2) "
                             "$l.contains('two') $l.contains(3) $l.isEmpty()",
                             NULL),
                        "[1,\"two\",true] 3 two true true false false");
    assert_string_equal(rend("#set($m = {\"a\": 1, \"b\": [2]})$m $m.a $m['b'] $m.get('a') "
                             "$m.containsKey('b') $m.size() $m.keySet() $m.values()",
                             NULL),
                        "{a=1, b=[2]} 1 [2] 1 true 2 [\"a\",\"b\"] [1,[2]]");
    assert_string_equal(rend("#set($m = {'x': 1, 'y': 2})#foreach($e in $m.entrySet())"
                             "$e.key=$e.value;#end",
                             NULL),
                        "x=1;y=2;");
}

static void test_foreach(void **state)
{
    (void)state;
    assert_string_equal(rend("#foreach($i in [1..4])$i#end", NULL), "1234");
    assert_string_equal(rend("#foreach($i in [3..1])$i#end", NULL), "321");
    assert_string_equal(rend("#foreach($i in ['a','b','c'])$foreach.index$foreach.count"
                             "$velocityCount$foreach.first$foreach.last;#end",
                             NULL),
                        "011truefalse;122falsefalse;233falsetrue;");
    assert_string_equal(rend("#foreach($i in [1..5])#if($i == 3)#break#end$i#end.", NULL), "12.");
    assert_string_equal(rend("#foreach($v in {'a': 1, 'b': 2})$v#end", NULL), "12"); /* values */
    assert_string_equal(rend("#foreach($x in $nope)never#end#foreach($x in 'str')never#end", NULL),
                        "");
    /* The loop variable is restored afterwards. */
    assert_string_equal(rend("#set($i = 'out')#foreach($i in [1])$i#end$i", NULL), "1out");
    /* Nested loops with the same variable, and $foreach of the inner loop. */
    assert_string_equal(rend("#foreach($i in [1,2])#foreach($j in ['a','b'])$i$j$foreach.count "
                             "#end$foreach.count|#end",
                             NULL),
                        "1a1 1b2 1|2a1 2b2 2|");
    /* #break outside a loop stops the template. */
    assert_string_equal(rend("a#break b", NULL), "a");
}

static void test_foreach_cap(void **state)
{
    (void)state;
    buf_t in = BUF_INIT;
    buf_putc(&in, '[');
    for (int i = 0; i < 2500; i++)
        buf_printf(&in, "%s%d", i ? "," : "", i);
    buf_putc(&in, ']');
    /* At most 1000 iterations (API Gateway's quota); ranges hold at most 1000 items. */
    const char *o = rend("#foreach($i in $input.path('$'))x#end", in.p);
    assert_int_equal(strlen(o), 1000);
    o = rend("#foreach($i in [1..5000])#set($last = $i)#end$last", NULL);
    assert_string_equal(o, "1000");
    assert_string_equal(rend("$input.path('$').size()", in.p), "2500");
    buf_free(&in);
}

static void test_whitespace(void **state)
{
    (void)state;
    assert_string_equal(rend("#set($a = 1)\nx", NULL), "x");
    assert_string_equal(rend("line\n   #set($a = 1)\nx$a", NULL), "line\nx1");
    assert_string_equal(rend("#if(true)\nyes\n#end\nz", NULL), "yes\nz");
    assert_string_equal(rend("{\n#foreach($i in [1,2])\n  \"k$i\": $i#if($foreach.hasNext),#end\n"
                             "#end\n}",
                             NULL),
                        "{\n  \"k1\": 1,  \"k2\": 2}"); /* "#end\n" takes its newline */
    assert_string_equal(rend("#if(true) yes #end z", NULL), " yes  z");
    assert_string_equal(rend("a\r\n#set($x = 1)\r\nb", NULL), "a\r\nb");
}

static void test_references(void **state)
{
    (void)state;
    assert_string_equal(rend("#set($x = 'v')$x ${x} $!x $!{x} ${x}s $x.length()", NULL),
                        "v v v v vs 1");
    assert_string_equal(rend("[$nope][$!nope][${nope}][$nope.foo()][$nope.a.b[1]]", NULL),
                        "[][][][][]");
    /* A reference ends where identifier characters end; "." before a non-letter is text. */
    assert_string_equal(rend("#set($x = 'v')$x. $x.1 $x- $x_y $x[", NULL), "v. v.1 v-  $x[");
}

static void test_util(void **state)
{
    (void)state;
    assert_string_equal(
        rend("$util.escapeJavaScript($input.path('$.s'))",
             "{\"s\":\"it's \\\"q\\\" / \\\\ \\n\\t\\u0001 \\u00e9\\u20ac\\ud83d\\ude00\"}"),
        "it\\'s \\\"q\\\" \\/ \\\\ \\n\\t\\u0001 \\u00E9\\u20AC\\uD83D\\uDE00");
    /* The well-known workaround for the \' that JSON does not allow. */
    assert_string_equal(
        rend("$util.escapeJavaScript($input.path('$.s')).replaceAll(\"\\\\'\",\"'\")",
             "{\"s\":\"it's\"}"),
        "it's");
    assert_string_equal(rend("$util.escapeJavaScript($input.json('$.m'))", "{\"m\":\"foobar\"}"),
                        "\\\"foobar\\\"");
    assert_string_equal(rend("$util.parseJson('{\"a\":[1,2]}').a[1] "
                             "$util.parseJson($input.path('$.inner')).k [$util.parseJson('{bad')]",
                             "{\"inner\":\"{\\\"k\\\":\\\"v\\\"}\"}"),
                        "2 v []");
    assert_string_equal(rend("$util.urlEncode('a b&c=d/\xc3\xa9*~_.-')", NULL),
                        "a+b%26c%3Dd%2F%C3%A9*%7E_.-");
    assert_string_equal(rend("$util.urlDecode('a+b%26c%3D') [$util.urlDecode('%zz')]", NULL),
                        "a b&c= []");
    assert_string_equal(rend("$util.base64Encode('hello') $util.base64Decode('aGVsbG8=') "
                             "[$util.base64Decode('***')] $util.base64Encode('')",
                             NULL),
                        "aGVsbG8= hello [] ");
    assert_string_equal(rend("[$util.nope('x')][$util.urlEncode()][$util.urlEncode($nope)]", NULL),
                        "[][][]");
}

static void test_string_methods(void **state)
{
    (void)state;
    assert_string_equal(rend("#set($s = '  Hello World  ')$s.trim()|$s.length()|"
                             "$s.trim().toUpperCase()|$s.toLowerCase().trim()",
                             NULL),
                        "Hello World|15|HELLO WORLD|hello world");
    assert_string_equal(
        rend("#set($s = 'a-b-c')$s.replace('-', '+')|$s.indexOf('b')|"
             "$s.lastIndexOf('-')|$s.indexOf('z')|$s.substring(2)|$s.substring(1,3)|"
             "[$s.substring(4,9)]|$s.contains('b-')|$s.startsWith('a')|"
             "$s.endsWith('c')|$s.equals('a-b-c')|$s.equalsIgnoreCase('A-B-C')|"
             "$s.isEmpty()|$s.empty",
             NULL),
        "a+b+c|2|3|-1|b-c|-b|[]|true|true|true|true|true|false|false");
    assert_string_equal(
        rend("#set($d = '2024-01-20')$d.replaceAll('(\\d+)-(\\d+)-(\\d+)', '$3/$2/$1')|"
             "$d.replaceFirst('\\d', 'X')|$d.matches('\\d{4}-\\d\\d-\\d\\d')|"
             "$d.matches('\\d{4}')|$d.split('-')|$d.split('-').size()",
             NULL),
        "20/01/2024|X024-01-20|true|false|[\"2024\",\"01\",\"20\"]|3");
    assert_string_equal(rend("$'abc'.split('')", NULL), "$'abc'.split('')");
    assert_string_equal(rend("#set($s = 'abc')$s.split('')|$s.replaceAll('', '-')|"
                             "#set($t = ',a,,b,,')$t.split(',')|$s.replaceAll('x*', '-')",
                             NULL),
                        "[\"a\",\"b\",\"c\"]|-a-b-c-|[\"\",\"a\",\"\",\"b\"]|-a-b-c-");
    /* Malformed or refused patterns give null. */
    assert_string_equal(
        rend("#set($s = 'aa')[$s.replaceAll('(a', 'b')][$s.replaceAll('(a)\\1', 'b')]", NULL),
        "[][]");
}

static void test_parse_errors(void **state)
{
    (void)state;
    char msg[256];
    static const char *bad[] = {
        "#if(true)x",
        "#if(true)x#else",
        "#end",
        "x#else",
        "#elseif(true)",
        "#foreach($x)#end",
        "#foreach($x in [1])",
        "#foreach(x in [1])#end",
        "#set($a 1)",
        "#set(a = 1)",
        "#set($a = )",
        "#if(",
        "#if(1 +)#end",
        "#if('unterminated)#end",
        "#if([1, 2)#end",
        "#if({'a' 1})#end",
        "#define($x)y#end",
        "#macro(m)x#end",
        "#include('f')",
        "#parse('f')",
        "#evaluate('x')",
        "#stop",
        "#if(true)#else#else#end",
        "#foreach($i in [1])#else#end",
    };
    for (size_t i = 0; i < PT_ARRAY_LEN(bad); i++) {
        int rc = rend_rc(bad[i], NULL, msg, sizeof msg);
        if (rc != PT_EPARSE)
            fail_msg("%s: %s", bad[i], pt_errname(rc));
        if (strncmp(msg, "template line ", 14) != 0)
            fail_msg("%s: message '%s'", bad[i], msg);
    }
    assert_int_equal(rend_rc("ok\n\n#if(true)\nx", NULL, msg, sizeof msg), PT_EPARSE);
    assert_non_null(strstr(msg, "#if without #end"));
    /* err may be NULL. */
    route_ctx_t c;
    buf_t out = BUF_INIT;
    tctx_init(&c, &T, R_SEND, ROUTE_EV_MESSAGE);
    assert_int_equal(route_template_render("#end", &c, NULL, 0, NULL, &out, NULL), PT_EPARSE);
    assert_null(out.p);
}

static void test_limits(void **state)
{
    (void)state;
    char msg[256];
    buf_t big = BUF_INIT, t = BUF_INIT;
    for (int i = 0; i < 2000; i++)
        buf_putc(&big, 'x');
    /* Output over 1 MiB. */
    assert_int_equal(rend_rc("#foreach($i in [1..1000])$input.body#end", big.p, msg, sizeof msg),
                     PT_ETOOBIG);
    assert_non_null(strstr(msg, "limit"));
    /* Work on big values is charged by size: 1000 comparisons of 512 KiB each is too much. */
    buf_t half = BUF_INIT;
    buf_puts(&half, "{\"big\":\"");
    for (int i = 0; i < 512 * 1024; i++)
        buf_putc(&half, 'y');
    buf_puts(&half, "\"}");
    assert_int_equal(rend_rc("#set($b = $input.path('$.big'))#foreach($i in [1..1000])"
                             "#if($b == \"$b\")#end#end",
                             half.p, NULL, 0),
                     PT_ETOOBIG);
    assert_string_equal(rend("#set($b = $input.path('$.big'))#if($b == \"$b\")same#end", half.p),
                        "same");
    buf_free(&half);
    /* Exponential strings. */
    assert_int_equal(
        rend_rc("#set($s = 'xx')#foreach($i in [1..40])#set($s = \"$s$s\")#end", NULL, NULL, 0),
        PT_ETOOBIG);
    /* Nested loops: 10^6 iterations are over the step budget. */
    assert_int_equal(
        rend_rc("#foreach($a in [1..1000])#foreach($b in [1..1000])#end#end", NULL, NULL, 0),
        PT_ETOOBIG);
    /* Containers nested deeper than 64 by the template. */
    assert_int_equal(
        rend_rc("#set($a = [])#foreach($i in [1..100])#set($a = [$a])#end", NULL, NULL, 0),
        PT_ETOOBIG);
    assert_int_equal(
        rend_rc("#set($a = [])#foreach($i in [1..60])#set($a = [$a])#end$a.size()", NULL, NULL, 0),
        PT_OK);
    /* Directive nesting deeper than 64: a parse error, not a stack overflow. */
    for (int i = 0; i < 100; i++)
        buf_puts(&t, "#if(true)");
    for (int i = 0; i < 100; i++)
        buf_puts(&t, "#end");
    assert_int_equal(rend_rc(t.p, NULL, NULL, 0), PT_EPARSE);
    buf_reset(&t);
    buf_puts(&t, "#set($x = ");
    for (int i = 0; i < 100; i++)
        buf_putc(&t, '(');
    buf_putc(&t, '1');
    for (int i = 0; i < 100; i++)
        buf_putc(&t, ')');
    buf_putc(&t, ')');
    assert_int_equal(rend_rc(t.p, NULL, NULL, 0), PT_EPARSE);
    /* A long operator chain parses in a loop but would evaluate recursively. */
    buf_reset(&t);
    buf_puts(&t, "#set($x = 1");
    for (int i = 0; i < 300; i++)
        buf_puts(&t, " + 1");
    buf_putc(&t, ')');
    assert_int_equal(rend_rc(t.p, NULL, NULL, 0), PT_EPARSE);
    buf_reset(&t);
    buf_puts(&t, "#set($x = 1");
    for (int i = 0; i < 200; i++)
        buf_puts(&t, " + 1");
    buf_puts(&t, ")$x");
    assert_string_equal(rend(t.p, NULL), "201");
    buf_reset(&t);
    for (int i = 0; i < 10000; i++)
        buf_puts(&t, "$a.b(");
    assert_int_equal(rend_rc(t.p, NULL, NULL, 0), PT_OK); /* text: never a valid reference */
    buf_reset(&t);
    for (int i = 0; i < 10000; i++)
        buf_puts(&t, "!");
    assert_int_equal(rend_rc(t.p, NULL, NULL, 0), PT_OK);
    buf_free(&t);
    buf_free(&big);
}

static void test_request_template_selection(void **state)
{
    (void)state;
    tapi_t t;
    route_ctx_t c;
    tapi_init(&t, "$request.body.action");
    route_integration_t *in = tapi_integ(&t, ROUTE_INTEG_HTTP, "http://127.0.0.1:9/x");
    route_route_t *r = tapi_route(&t, "sendmessage", in);
    tapi_index(&t);
    tctx_init(&c, &t, r, ROUTE_EV_MESSAGE);
    tctx_body(&c, "{\"action\":\"sendmessage\",\"v\":\"2\"}");
    assert_null(route_request_template(in, &c)); /* none */
    tmap_add(&in->request_templates, "application/json", "JSON");
    assert_string_equal(route_request_template(in, &c), "JSON");
    tmap_add(&in->request_templates, "$default", "DEFAULT");
    assert_string_equal(route_request_template(in, &c), "DEFAULT");
    in->template_selection_expression = (char *)"v${request.body.v}";
    tmap_add(&in->request_templates, "v2", "V2");
    /* Compiled on the fly when the model has only the text. */
    assert_string_equal(route_request_template(in, &c), "V2");
    assert_int_equal(route_expr_compile(in->template_selection_expression, &in->tse, NULL), PT_OK);
    assert_string_equal(route_request_template(in, &c), "V2");
    tctx_body(&c, "{\"v\":\"3\"}");
    assert_string_equal(route_request_template(in, &c), "DEFAULT");
    tctx_body(&c, "not json");
    assert_string_equal(route_request_template(in, &c), "DEFAULT");
    tapi_free(&t);
}

static void test_subst_stage_vars(void **state)
{
    (void)state;
    buf_t b = BUF_INIT;
    route_subst_stage_vars(
        "http://${stageVariables.url}/a/${stageVariables.fn}?x=${stageVariables.none}", &T.stage,
        &b);
    assert_string_equal(b.p, "http://example.com/a/chat?x=");
    buf_reset(&b);
    route_subst_stage_vars("no vars ${stageVariables.url", &T.stage, &b);
    assert_string_equal(b.p, "no vars ${stageVariables.url");
    buf_reset(&b);
    route_subst_stage_vars("${stageVariables.url}${stageVariables.url}", NULL, &b);
    assert_string_equal(b.p, "");
    buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_text_and_comments),
        cmocka_unit_test(test_context_and_stage_vars),
        cmocka_unit_test(test_authorizer_map),
        cmocka_unit_test(test_connect_doc_sample),
        cmocka_unit_test(test_input),
        cmocka_unit_test(test_input_json_given),
        cmocka_unit_test(test_directives),
        cmocka_unit_test(test_set_and_arithmetic),
        cmocka_unit_test(test_lists_and_maps),
        cmocka_unit_test(test_foreach),
        cmocka_unit_test(test_foreach_cap),
        cmocka_unit_test(test_whitespace),
        cmocka_unit_test(test_references),
        cmocka_unit_test(test_util),
        cmocka_unit_test(test_string_methods),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_request_template_selection),
        cmocka_unit_test(test_subst_stage_vars),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
