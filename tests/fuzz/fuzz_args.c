//
// libFuzzer target: the command line.  The input becomes an argv (words
// split at NUL or newline), which goes through args_parse() and, when that
// accepts it, config_check(); every word also goes through the value
// parsers and reexec_state_parse().  What is accepted must satisfy what
// the threads rely on (slot count, sequence limit, loss interval, prefix),
// and what is refused must come with a NUL-terminated reason.
//

#define DPINGER_MAIN dpinger_main
#define DPINGER_ALL_DECODERS 1
#include "../../dpinger.c"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t * data, size_t size);

#define WORDS_MAX               32      // arguments after argv[0]
#define WORD_MAX                256     // bytes of one argument
#define ERR_LEN                 512     // as main() passes

typedef unsigned __int128 u128;

// A number as strtol(3) reads it in the C locale: blanks, a sign, digits.
// Returns the end of the digits, or NULL without digits; the magnitude
// saturates above 2^64.
static const char *
ref_number(
    const char *        text,
    int *               negative,
    u128 *              value)
{
    const char *        p = text;

    while (*p == ' ' || (*p >= '\t' && *p <= '\r'))
    {
        p++;
    }
    *negative = 0;
    if (*p == '+' || *p == '-')
    {
        *negative = *p == '-';
        p++;
    }
    if (*p < '0' || *p > '9')
    {
        return NULL;
    }
    *value = 0;
    while (*p >= '0' && *p <= '9')
    {
        if (*value <= ((u128) 1 << 64))
        {
            *value = *value * 10 + (u128) (*p - '0');
        }
        p++;
    }
    return p;
}

// A value parser's reference: the number, then one optional suffix from
// `suffixes` (multiplying by the matching entry of `mult`), then the end.
// Returns 1 when the text is well formed and in range (value * mult not
// above `limit`), 0 when it is not, -1 when refusing is as good as
// accepting (value * mult above LONG_MAX); an accepted value must be exact.
static int
ref_value(
    const char *        text,
    const char *        suffixes,
    const unsigned *    mult,
    u128                limit,
    u128 *              out)
{
    const char *        end;
    const char *        s;
    int                 negative;
    u128                value;
    u128                m = 1;

    end = ref_number(text, &negative, &value);
    if (end == NULL || (negative && value != 0))
    {
        return 0;
    }
    if (*end != '\0' && (s = strchr(suffixes, *end)) != NULL)
    {
        m = mult[s - suffixes];
        end++;
    }
    if (*end != '\0')
    {
        return 0;
    }
    if (value > LONG_MAX)
    {
        return 0;                       // strtol: ERANGE
    }
    *out = value * m;
    if (*out > limit)
    {
        return 0;
    }
    return *out > LONG_MAX ? -1 : 1;
}

static void
value_check(
    int                 (*parse)(const char *, unsigned long *),
    const char *        text,
    const char *        suffixes,
    const unsigned *    mult,
    u128                limit)
{
    unsigned long       got = 0;
    u128                want = 0;
    int                 ref;
    int                 rc;

    rc = parse(text, &got);
    ref = ref_value(text, suffixes, mult, limit, &want);
    FUZZ_CHECK(rc == 0 || rc == -1);
    if (ref >= 0)
    {
        FUZZ_CHECK((rc == 0) == (ref == 1));
    }
    if (rc == 0)
    {
        FUZZ_CHECK(ref != 0);
        FUZZ_CHECK((u128) got == want);
    }
}

static void
parsers_check(
    const char *        text)
{
    static const unsigned time_mult[] = { 1000, 1 };
    static const unsigned length_mult[] = { 1024, 1 };
    static const unsigned percent_mult[] = { 1 };
    struct reexec_state st;
    struct reexec_state again;
    char                buf[WORD_MAX + 2];

    value_check(parse_time, text, "sm", time_mult, TIME_MAX_MS);
    value_check(parse_length, text, "kb", length_mult, ULONG_MAX);
    value_check(parse_percent, text, "%", percent_mult, 100);
    value_check(parse_count, text, "", NULL, 1000000);

    // Carried restart state: "v2:", our pid and numbers, nothing after them
    memset(&st, 0, sizeof(st));
    if (reexec_state_parse(text, 4242, &st) == 0)
    {
        FUZZ_CHECK(strncmp(text, "v2:", 3) == 0 && st.pid == 4242);
        FUZZ_CHECK(reexec_state_parse(text, 4243, &again) != 0);
        snprintf(buf, sizeof(buf), "%sx", text);
        memset(&again, 0, sizeof(again));
        FUZZ_CHECK(strlen(text) + 1 >= sizeof(buf) || reexec_state_parse(buf, 4242, &again) != 0);
        memset(&again, 0, sizeof(again));
        FUZZ_CHECK(reexec_state_parse(text, 4242, &again) == 0 && memcmp(&again, &st, sizeof(st)) == 0);
    }
}

static int
nul_in(
    const char *        s,
    size_t              len)
{
    return memchr(s, '\0', len) != NULL;
}

// What a configuration that passed config_check() guarantees
static void
config_ok_check(
    const struct config * c,
    unsigned long       loss_given,
    unsigned long       hold_given)
{
    FUZZ_CHECK(c->family == AF_INET || c->family == AF_INET6);
    FUZZ_CHECK(c->dest.ss_family == c->family);
    FUZZ_CHECK(c->dest_len == (c->family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6)));
    if (c->bind_str)
    {
        FUZZ_CHECK(c->bind_len > 0 && c->bind.ss_family == c->family);
    }
    else
    {
        FUZZ_CHECK(c->bind_len == 0);
    }

    // The window: slots, and sequence numbers that map onto them
    FUZZ_CHECK(c->send_interval > 0 && c->time_period > 0);
    FUZZ_CHECK((u128) c->time_period > 2 * (u128) c->send_interval + loss_given);
    FUZZ_CHECK(c->slot_count == c->time_period / c->send_interval);
    FUZZ_CHECK(c->slot_count >= 2 && c->slot_count <= 65535);
    FUZZ_CHECK(c->seq_limit <= 0xffff && (c->seq_limit & 0x8000) != 0);
    FUZZ_CHECK(c->seq_limit % c->slot_count == 0);

    // Defaults: 4x the send interval, 10x the alert interval, saturating at
    // the largest time (never wrapping)
    FUZZ_CHECK(c->loss_interval > 0);
    FUZZ_CHECK(loss_given ? c->loss_interval == loss_given :
               (u128) c->loss_interval == (4 * (u128) c->send_interval < TIME_MAX_MS ? 4 * (u128) c->send_interval : TIME_MAX_MS));
    FUZZ_CHECK(c->alert_interval > 0);
    FUZZ_CHECK(c->have_hold ? c->alarm_hold == hold_given :
               (u128) c->alarm_hold == (10 * (u128) c->alert_interval < TIME_MAX_MS ? 10 * (u128) c->alert_interval : TIME_MAX_MS));
    FUZZ_CHECK(!c->have_loss_alarm || c->loss_alarm <= 100);
    FUZZ_CHECK(c->data_len <= (unsigned long) (c->family == AF_INET ? IPV4_DATA_MAX : IPV6_DATA_MAX));

    // "identifier " or nothing, at most 64 bytes with its NUL
    FUZZ_CHECK(nul_in(c->prefix, sizeof(c->prefix)) && sizeof(c->prefix) <= 65);
    if (c->identifier)
    {
        size_t          n = strlen(c->identifier);

        FUZZ_CHECK(n < IDENT_MAX);
        FUZZ_CHECK(strlen(c->prefix) == n + 1 && c->prefix[n] == ' ' && strncmp(c->prefix, c->identifier, n) == 0);
    }
    else
    {
        FUZZ_CHECK(c->prefix[0] == '\0');
    }
}

int
LLVMFuzzerTestOneInput(
    const uint8_t *     data,
    size_t              size)
{
    char *              words[WORDS_MAX + 1];
    char *              argv[WORDS_MAX + 2];
    struct config *     c;
    char *              err;
    size_t              nwords = 0;
    size_t              off = 0;
    size_t              i;
    int                 rc;

    // Split at NUL or newline; each word in its own exact-size allocation
    while (off < size && nwords < WORDS_MAX)
    {
        size_t          start = off;
        size_t          len;

        while (off < size && data[off] != '\0' && data[off] != '\n')
        {
            off++;
        }
        len = off - start < WORD_MAX ? off - start : WORD_MAX;
        words[nwords] = malloc(len + 1);
        FUZZ_CHECK(words[nwords] != NULL);
        memcpy(words[nwords], data + start, len);
        words[nwords][len] = '\0';
        nwords++;
        off++;                          // the separator
    }
    words[nwords] = NULL;

    for (i = 0; i < nwords; i++)
    {
        parsers_check(words[i]);
    }

    argv[0] = "dpinger";
    for (i = 0; i < nwords; i++)
    {
        argv[i + 1] = words[i];
    }
    argv[nwords + 1] = NULL;

    c = malloc(sizeof(*c));
    err = malloc(ERR_LEN);
    FUZZ_CHECK(c != NULL && err != NULL);
    memset(err, 0xa5, ERR_LEN);

    rc = args_parse((int) nwords + 1, argv, c, err, ERR_LEN);
    FUZZ_CHECK(rc == ARGS_OK || rc == ARGS_USAGE || rc == ARGS_BAD);
    FUZZ_CHECK(nul_in(err, ERR_LEN));
    FUZZ_CHECK(rc != ARGS_BAD || err[0] != '\0');
    if (rc == ARGS_OK)
    {
        unsigned long   loss_given = c->loss_interval;
        unsigned long   hold_given = c->alarm_hold;
        int             found = 0;

        FUZZ_CHECK(err[0] == '\0');
        for (i = 0; i < nwords; i++)
        {
            found |= c->dest_str == words[i];
        }
        FUZZ_CHECK(found);
        FUZZ_CHECK(c->identifier == NULL || strlen(c->identifier) < IDENT_MAX);
        FUZZ_CHECK(c->usocket == NULL || strlen(c->usocket) < sizeof(((struct sockaddr_un *) 0)->sun_path));

        memset(err, 0xa5, ERR_LEN);
        if (config_check(c, err, ERR_LEN) == 0)
        {
            config_ok_check(c, loss_given, hold_given);
        }
        else
        {
            FUZZ_CHECK(nul_in(err, ERR_LEN) && err[0] != '\0');
        }
    }

    free(err);
    free(c);
    for (i = 0; i < nwords; i++)
    {
        free(words[i]);
    }
    return 0;
}
