//
// libFuzzer target: echo_reply_parse() on a datagram as read from a raw
// ICMP or ICMPv6 socket, and addr_same_host() on a sender address of any
// claimed length.  Both are checked against a plain restatement of what
// they must accept.
//
// Input: byte 0 selects (bit 0: datagram family, 0 IPv4 / 1 IPv6; bit 1:
// destination family; bits 2-3: sender family 0 same as the destination,
// 1 the other one, 2 AF_UNIX, 3 as the bytes say); bytes 1-2 the sender
// address length (little endian, any value); byte 3 nonzero flips one byte
// of the destination address; the rest is the datagram, and its first
// bytes are also the sender's sockaddr.
//

#define DPINGER_MAIN dpinger_main
#define DPINGER_ALL_DECODERS 1
#include "../../dpinger.c"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t * data, size_t size);

#define HDR_LEN                 4

// What echo_reply_parse() must accept: an IPv4 header (version 4, header
// length at least 20 and present) then type 0 code 0, or ICMPv6 type 129
// code 0, with the 8-byte ICMP header present
static int
echo_expected(
    int                 family,
    const uint8_t *     buf,
    size_t              len,
    size_t *            hlen)
{
    *hlen = 0;
    if (family == AF_INET)
    {
        if (len < 20 || buf[0] >> 4 != 4)
        {
            return -1;
        }
        *hlen = (size_t) (buf[0] & 0x0f) * 4;
        if (*hlen < 20 || len < *hlen + 8)
        {
            return -1;
        }
        return buf[*hlen] == 0 && buf[*hlen + 1] == 0 ? 0 : -1;
    }
    return len >= 8 && buf[0] == 129 && buf[1] == 0 ? 0 : -1;
}

static void
echo_check(
    int                 family,
    const uint8_t *     buf,
    size_t              len)
{
    struct echo_reply   reply;
    size_t              hlen;
    int                 want;
    int                 rc;

    want = echo_expected(family, buf, len, &hlen);
    rc = echo_reply_parse(family, buf, len, &reply);
    FUZZ_CHECK(rc == want);
    if (rc == 0)
    {
        FUZZ_CHECK(reply.ident == (uint16_t) (buf[hlen + 4] << 8 | buf[hlen + 5]));
        FUZZ_CHECK(reply.seq == (uint16_t) (buf[hlen + 6] << 8 | buf[hlen + 7]));
    }
}

// Link-local (fe80::/10)?
static int
is_link_local(
    const uint8_t *     a)
{
    return a[0] == 0xfe && (a[1] & 0xc0) == 0x80;
}

// What addr_same_host() must answer: same family, a length that holds the
// whole sockaddr of that family, and the same address; between two
// link-local addresses bytes 2-3 do not count (FreeBSD embeds the scope
// there)
static int
same_host_expected(
    const struct sockaddr_storage * dest,
    const struct sockaddr_storage * from,
    socklen_t           fromlen)
{
    if (from->ss_family != dest->ss_family)
    {
        return 0;
    }
    if (dest->ss_family == AF_INET)
    {
        return fromlen >= sizeof(struct sockaddr_in) &&
               memcmp(&((const struct sockaddr_in *) from)->sin_addr,
                      &((const struct sockaddr_in *) dest)->sin_addr, 4) == 0;
    }
    if (fromlen < sizeof(struct sockaddr_in6))
    {
        return 0;
    }
    {
        const uint8_t * a = ((const struct sockaddr_in6 *) from)->sin6_addr.s6_addr;
        const uint8_t * b = ((const struct sockaddr_in6 *) dest)->sin6_addr.s6_addr;

        if (is_link_local(a) && is_link_local(b))
        {
            return memcmp(a, b, 2) == 0 && memcmp(a + 4, b + 4, 12) == 0;
        }
        return memcmp(a, b, 16) == 0;
    }
}

static void
same_host_check(
    uint8_t             sel,
    socklen_t           fromlen,
    uint8_t             flip,
    const uint8_t *     bytes,
    size_t              len)
{
    struct sockaddr_storage * dest;
    struct sockaddr_storage * from;
    struct sockaddr_storage * other;
    sa_family_t         dfamily = sel & 2 ? AF_INET6 : AF_INET;
    size_t              copy = len < sizeof(*from) ? len : sizeof(*from);
    size_t              i;
    int                 r;

    // Heap copies, each exactly a sockaddr_storage as in the daemon
    dest = malloc(sizeof(*dest));
    from = malloc(sizeof(*from));
    other = malloc(sizeof(*other));
    FUZZ_CHECK(dest != NULL && from != NULL && other != NULL);

    memset(from, 0x5a, sizeof(*from));
    memcpy(from, bytes, copy);
    switch ((sel >> 2) & 3)
    {
    case 0:
        from->ss_family = dfamily;
        break;
    case 1:
        from->ss_family = dfamily == AF_INET ? AF_INET6 : AF_INET;
        break;
    case 2:
        from->ss_family = AF_UNIX;
        break;
    default:
        break;
    }

    // The destination: the sender's address, perhaps with one byte changed
    memset(dest, 0, sizeof(*dest));
    dest->ss_family = dfamily;
    if (dfamily == AF_INET)
    {
        uint8_t *       a = (uint8_t *) &((struct sockaddr_in *) dest)->sin_addr;

        memcpy(a, &((struct sockaddr_in *) from)->sin_addr, 4);
        a[flip % 4] ^= flip;
    }
    else
    {
        uint8_t *       a = (uint8_t *) &((struct sockaddr_in6 *) dest)->sin6_addr;

        memcpy(a, &((struct sockaddr_in6 *) from)->sin6_addr, 16);
        a[flip % 16] ^= flip;
    }

    r = addr_same_host(dest, from, fromlen);
    FUZZ_CHECK(r == same_host_expected(dest, from, fromlen));

    // Bytes past the claimed length must not change the answer
    memcpy(other, from, sizeof(*other));
    for (i = fromlen; i < sizeof(*other); i++)
    {
        ((uint8_t *) other)[i] ^= 0xff;
    }
    FUZZ_CHECK(addr_same_host(dest, other, fromlen) == r);

    free(dest);
    free(from);
    free(other);
}

int
LLVMFuzzerTestOneInput(
    const uint8_t *     data,
    size_t              size)
{
    const uint8_t *     pkt = data + HDR_LEN;
    size_t              len;
    socklen_t           fromlen;

    if (size < HDR_LEN)
    {
        return 0;
    }
    len = size - HDR_LEN;
    fromlen = (socklen_t) (data[1] | data[2] << 8);

    // The datagram ends where the input ends, so ASan sees any read past it
    echo_check(data[0] & 1 ? AF_INET6 : AF_INET, pkt, len);
    same_host_check(data[0], fromlen, data[3], pkt, len);
    return 0;
}
