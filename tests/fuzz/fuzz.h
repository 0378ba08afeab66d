//
// Shared by the libFuzzer targets in this directory, included after
// dpinger.c: the invariant check that stops the fuzzer, and the checks
// every routing event must pass whichever kernel format it came from.
//

#include <stdio.h>
#include <stdlib.h>

// An invariant violation aborts, which libFuzzer reports as a crash with
// the input that caused it
#define FUZZ_CHECK(cond)                                                \
    do                                                                  \
    {                                                                   \
        if (!(cond))                                                    \
        {                                                               \
            fprintf(stderr, "invariant failed: %s (%s:%d)\n",           \
                    #cond, __FILE__, __LINE__);                         \
            abort();                                                    \
        }                                                               \
    } while (0)

#define ROUTE_FUZZ_MAX          32      // as many as route_read() asks for
#define ROUTE_FUZZ_FILL         0xa5    // what the output holds before a decode

typedef size_t (*route_decoder)(const void *, size_t, const struct route_query *, struct route_event *, size_t);

// The query whose answers the decoders recognise (netlink port / pid, sequence)
static const struct route_query fuzz_query = { 0x01020304u, 7u };

static int
all_zero(
    const uint8_t *     p,
    size_t              len)
{
    while (len--)
    {
        if (*p++)
        {
            return 0;
        }
    }
    return 1;
}

// What every decoded event must satisfy
static void
route_event_check(
    const struct route_event * ev,
    int                 is_linux)
{
    const unsigned      link_flags = ROUTE_F_UP | ROUTE_F_RUNNING;

    FUZZ_CHECK(ev->kind >= ROUTE_LINK_NEW && ev->kind <= ROUTE_RESYNC);
    FUZZ_CHECK(memchr(ev->name, '\0', ROUTE_NAME_MAX) != NULL);
    FUZZ_CHECK(ev->family == 0 || ev->family == AF_INET || ev->family == AF_INET6);
    FUZZ_CHECK((ev->flags & ~(link_flags | ROUTE_F_TENTATIVE)) == 0);

    switch (ev->kind)
    {
    case ROUTE_LINK_NEW:
    case ROUTE_LINK_GONE:
        FUZZ_CHECK(ev->family == 0);
        FUZZ_CHECK(all_zero(ev->addr, sizeof(ev->addr)));
        FUZZ_CHECK((ev->flags & ~link_flags) == 0);
        break;
    case ROUTE_ADDR_NEW:
    case ROUTE_ADDR_GONE:
        FUZZ_CHECK(ev->family == AF_INET || ev->family == AF_INET6);
        FUZZ_CHECK(ev->family == AF_INET6 || all_zero(ev->addr + 4, sizeof(ev->addr) - 4));
        FUZZ_CHECK((ev->flags & link_flags) == 0);
        // Linux strips an alias suffix ("eth0:1") from the label
        FUZZ_CHECK(!is_linux || strchr(ev->name, ':') == NULL);
        break;
    case ROUTE_PATH:
    case ROUTE_ANSWER:
        // Routes carry no address of ours and no interface flags
        FUZZ_CHECK(all_zero(ev->addr, sizeof(ev->addr)) && ev->flags == 0);
        FUZZ_CHECK(ev->kind == ROUTE_ANSWER || ev->name[0] == '\0');
        break;
    case ROUTE_RESYNC:
        // Only rtnetlink has an overrun message; the event carries nothing
        FUZZ_CHECK(is_linux);
        FUZZ_CHECK(ev->index == 0 && ev->name[0] == '\0' && ev->flags == 0 && ev->family == 0);
        break;
    }
    // PF_ROUTE carries 16-bit interface indexes
    FUZZ_CHECK(is_linux || ev->index <= 0xffff);
}

// Decode with room for ROUTE_FUZZ_MAX, 1 and 0 events (each output exactly
// that size, so ASan sees a write past max) and check every event, that the
// count respects max, and that a smaller max gives a prefix of the same events.
static void
route_fuzz(
    route_decoder       decode,
    const uint8_t *     data,
    size_t              size,
    int                 is_linux)
{
    struct route_event * all;
    struct route_event * one;
    struct watch        watches[4];
    size_t              n;
    size_t              n1;
    size_t              n0;
    size_t              i;
    size_t              w;

    all = malloc(ROUTE_FUZZ_MAX * sizeof(*all));
    one = malloc(sizeof(*one));
    FUZZ_CHECK(all != NULL && one != NULL);
    memset(all, ROUTE_FUZZ_FILL, ROUTE_FUZZ_MAX * sizeof(*all));
    memset(one, ROUTE_FUZZ_FILL, sizeof(*one));

    // Without a query of ours no answer may come out
    n = decode(data, size, NULL, all, ROUTE_FUZZ_MAX);
    for (i = 0; i < n; i++)
    {
        FUZZ_CHECK(all[i].kind != ROUTE_ANSWER);
    }
    memset(all, ROUTE_FUZZ_FILL, ROUTE_FUZZ_MAX * sizeof(*all));
    n = decode(data, size, &fuzz_query, all, ROUTE_FUZZ_MAX);
    FUZZ_CHECK(n <= ROUTE_FUZZ_MAX);
    for (i = 0; i < n; i++)
    {
        route_event_check(&all[i], is_linux);
    }

    n1 = decode(data, size, &fuzz_query, one, 1);
    FUZZ_CHECK(n1 == (n ? 1u : 0u));
    FUZZ_CHECK(n1 == 0 || memcmp(&one[0], &all[0], sizeof(one[0])) == 0);

    // max 0: nothing may be written
    memset(one, ROUTE_FUZZ_FILL, sizeof(*one));
    n0 = decode(data, size, &fuzz_query, one, 0);
    FUZZ_CHECK(n0 == 0);
    {
        uint8_t         fill[sizeof(*one)];

        memset(fill, ROUTE_FUZZ_FILL, sizeof(fill));
        FUZZ_CHECK(memcmp(one, fill, sizeof(fill)) == 0);
    }

    // The events go on to route_event_concerns(): by name, by IPv4 and IPv6
    // address, unbound
    memset(watches, 0, sizeof(watches));
    snprintf(watches[0].ifname, sizeof(watches[0].ifname), "vti0");
    watches[0].ifindex = 5;
    watches[1].family = AF_INET;
    memcpy(watches[1].addr, "\x0a\x09\x00\x01", 4);
    watches[1].ifindex = 6;
    watches[2].family = AF_INET6;       // fe80::1, scope bytes ignored
    memcpy(watches[2].addr, "\xfe\x80\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01", 16);
    for (i = 0; i < n; i++)
    {
        for (w = 0; w < 4; w++)
        {
            int         r = route_event_concerns(&all[i], &watches[w]);

            FUZZ_CHECK(r == 0 || r == 1);
            FUZZ_CHECK(all[i].kind != ROUTE_RESYNC || r == 1);
            FUZZ_CHECK((all[i].kind != ROUTE_PATH && all[i].kind != ROUTE_ANSWER) || r == 0);
        }
        // Nothing bound: arrivals and new addresses may be the way back
        FUZZ_CHECK(route_event_concerns(&all[i], &watches[3]) ==
                   (all[i].kind == ROUTE_RESYNC || all[i].kind == ROUTE_LINK_NEW || all[i].kind == ROUTE_ADDR_NEW));
    }

    free(all);
    free(one);
}
