//
// forge: answer the echo requests seen on an interface with crafted echo
// replies, for tests/hostile_test.sh.  Run in the peer's namespace; it
// reads requests with a packet socket and writes whole IPv4/IPv6 packets
// back to the sender's link address, so every header field is ours.
//
//   forge -i ifname -m mode[,mode...] [-S src4] [-s src6]
//
// For each echo request (IPv4 or ICMPv6, no extension headers), each mode
// sends (correct checksums unless said otherwise):
//   echo      a correct reply (the control: it must count)
//   wrongsrc  the reply from -S / -s instead of the destination
//   wrongid   the reply with the identifier xor 0x0101
//   dup       three correct replies (with the kernel's: duplicates)
//   future    correct source and identifier, sequence +2, +3 and +1000 (not
//             +1: a send thread that wakes late sends its request and the
//             next one back to back, and a forgery for a request already
//             sent is a reply no receiver can tell from the real one)
//   trunc     the ICMP header cut to 1, 4 and 7 bytes
//   ihl       IPv4 only: header length 60 with a correct-looking reply
//             hidden at offset 20 and a wrong-identifier reply at 60; header
//             length 60 with 4 bytes of ICMP; header lengths 16 and 60 in
//             packets too short for them (the receiving kernel drops those)
//   badsum    a correct reply with a wrong ICMP checksum
// One line per request on stdout: "v4|v6 id 0xID seq N sent K".
// Linux only (packet sockets); elsewhere it builds to a stub that says so.
//

#if defined(__linux__)

#include <sys/socket.h>
#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../lib/tools.h"

#define M_ECHO          0x01
#define M_WRONGSRC      0x02
#define M_WRONGID       0x04
#define M_DUP           0x08
#define M_FUTURE        0x10
#define M_TRUNC         0x20
#define M_IHL           0x40
#define M_BADSUM        0x80

static int              sock;
static int              ifindex;
static unsigned         modes;
static uint8_t          src4[4];
static uint8_t          src6[16];
static int              have_src4;
static int              have_src6;
static unsigned         sent;

static void
emit(
    const uint8_t *     mac,
    int                 v6,
    const uint8_t *     pkt,
    size_t              len)
{
    struct sockaddr_ll  ll;

    memset(&ll, 0, sizeof(ll));
    ll.sll_family = AF_PACKET;
    ll.sll_protocol = htons(v6 ? ETH_P_IPV6 : ETH_P_IP);
    ll.sll_ifindex = ifindex;
    ll.sll_halen = 6;
    memcpy(ll.sll_addr, mac, 6);
    if (sendto(sock, pkt, len, 0, (struct sockaddr *) &ll, sizeof(ll)) < 0)
    {
        fprintf(stderr, "forge: sendto: %s\n", strerror(errno));
        return;
    }
    sent++;
}

// An ICMP(v6) echo reply at icmp: type, identifier, sequence, payload
static void
icmp_fill(
    uint8_t *           icmp,
    int                 v6,
    unsigned            ident,
    unsigned            seq,
    const uint8_t *     data,
    size_t              data_len)
{
    icmp[0] = v6 ? 129 : 0;
    icmp[1] = 0;
    icmp[2] = 0;
    icmp[3] = 0;
    put16(icmp + 4, ident);
    put16(icmp + 6, seq);
    memcpy(icmp + 8, data, data_len);
}

// One echo request being answered: where it came from (link address and
// IP source), the address it went to, its identifier, sequence and payload
struct request
{
    const uint8_t *     mac;
    int                 v6;
    const uint8_t *     me;
    const uint8_t *     them;
    unsigned            ident;
    unsigned            seq;
    const uint8_t *     data;
    size_t              data_len;
};

// One reply to a request: from src, with identifier and sequence, data_len
// bytes of the request's payload in an ICMP message cut to icmp_len bytes,
// the checksum spoiled when bad_sum is set
struct reply
{
    const uint8_t *     src;
    unsigned            ident;
    unsigned            seq;
    size_t              data_len;
    size_t              icmp_len;
    int                 bad_sum;
};

// IPv4: a header of hlen bytes (options zero) with the header length field
// ihl_field and the total length field tot (0: the real length)
static void
send4(
    const struct request * r,
    const struct reply * p,
    unsigned            ihl_field,
    size_t              hlen,
    unsigned            tot)
{
    uint8_t             pkt[1600];
    uint8_t *           icmp = pkt + hlen;
    uint16_t            sum;

    if (hlen + 8 + p->data_len > sizeof(pkt))
    {
        return;
    }
    memset(pkt, 0, sizeof(pkt));
    pkt[0] = (uint8_t) (0x40 | ihl_field);
    put16(pkt + 2, tot ? tot : (unsigned) (hlen + p->icmp_len));
    put16(pkt + 4, (unsigned) random() & 0xffff);
    pkt[8] = 64;
    pkt[9] = 1;
    memcpy(pkt + 12, p->src, 4);
    memcpy(pkt + 16, r->them, 4);
    icmp_fill(icmp, 0, p->ident, p->seq, r->data, p->data_len);
    sum = csum_fold(csum_add(0, icmp, p->icmp_len));
    if (p->bad_sum)
    {
        sum ^= 0x5a5a;
    }
    put16(icmp + 2, sum);
    put16(pkt + 10, csum_fold(csum_add(0, pkt, hlen < 60 ? hlen : 60)));
    emit(r->mac, 0, pkt, hlen + p->icmp_len);
}

// IPv6: the fixed header, no extension headers
static void
send6(
    const struct request * r,
    const struct reply * p)
{
    uint8_t             pkt[1600];
    uint8_t *           icmp = pkt + 40;

    if (40 + 8 + p->data_len > sizeof(pkt))
    {
        return;
    }
    memset(pkt, 0, sizeof(pkt));
    pkt[0] = 0x60;
    put16(pkt + 4, (unsigned) p->icmp_len);
    pkt[6] = 58;
    pkt[7] = 64;
    memcpy(pkt + 8, p->src, 16);
    memcpy(pkt + 24, r->them, 16);
    icmp_fill(icmp, 1, p->ident, p->seq, r->data, p->data_len);
    put16(icmp + 2, (unsigned) icmp6_csum(p->src, r->them, icmp, p->icmp_len) ^ (p->bad_sum ? 0x5a5au : 0));
    emit(r->mac, 1, pkt, 40 + p->icmp_len);
}

// Send one reply to r in r's family with a plain IPv4 header
static void
reply(
    const struct request * r,
    const uint8_t *     src,
    unsigned            ident,
    unsigned            seq,
    size_t              data_len,
    size_t              icmp_len,
    int                 bad_sum)
{
    struct reply        p = { src, ident, seq, data_len, icmp_len, bad_sum };

    if (r->v6)
    {
        send6(r, &p);
    }
    else
    {
        send4(r, &p, 5, 20, 0);
    }
}

// The modes both families share; wrongsrc is NULL when none was given
static void
answer_modes(
    const struct request * r,
    const uint8_t *     wrongsrc)
{
    size_t              full = 8 + r->data_len;
    int                 i;

    if (modes & M_ECHO)
    {
        reply(r, r->me, r->ident, r->seq, r->data_len, full, 0);
    }
    if ((modes & M_WRONGSRC) && wrongsrc)
    {
        reply(r, wrongsrc, r->ident, r->seq, r->data_len, full, 0);
    }
    if (modes & M_WRONGID)
    {
        reply(r, r->me, r->ident ^ 0x0101u, r->seq, r->data_len, full, 0);
    }
    for (i = 0; (modes & M_DUP) && i < 3; i++)
    {
        reply(r, r->me, r->ident, r->seq, r->data_len, full, 0);
    }
    if (modes & M_FUTURE)
    {
        reply(r, r->me, r->ident, (r->seq + 2) & 0xffff, r->data_len, full, 0);
        reply(r, r->me, r->ident, (r->seq + 3) & 0xffff, r->data_len, full, 0);
        reply(r, r->me, r->ident, (r->seq + 1000) & 0xffff, r->data_len, full, 0);
    }
    if (modes & M_TRUNC)
    {
        reply(r, r->me, r->ident, r->seq, 0, 1, 0);
        reply(r, r->me, r->ident, r->seq, 0, 4, 0);
        reply(r, r->me, r->ident, r->seq, 0, 7, 0);
    }
    if (modes & M_BADSUM)
    {
        reply(r, r->me, r->ident, r->seq, r->data_len, full, 1);
    }
}

// IPv4 header-length games: the IPv4 half of mode ihl
static void
answer_ihl(
    const struct request * r)
{
    uint8_t             hidden[68];
    struct reply        p = { r->me, r->ident, r->seq, 0, 0, 0 };

    // Header length 60: a reply that would count, hidden in the option
    // space at offset 20 (its type byte 0 ends the options), and at
    // offset 60 one with the wrong identifier
    memset(hidden, 0, sizeof(hidden));
    hidden[0] = 0x4f;
    put16(hidden + 2, sizeof(hidden));
    put16(hidden + 4, (unsigned) random() & 0xffff);
    hidden[8] = 64;
    hidden[9] = 1;
    memcpy(hidden + 12, r->me, 4);
    memcpy(hidden + 16, r->them, 4);
    icmp_fill(hidden + 20, 0, r->ident, r->seq, r->data, 0);
    put16(hidden + 22, csum_fold(csum_add(0, hidden + 20, 8)));
    icmp_fill(hidden + 60, 0, r->ident ^ 0x0101u, r->seq, r->data, 0);
    put16(hidden + 62, csum_fold(csum_add(0, hidden + 60, 8)));
    put16(hidden + 10, csum_fold(csum_add(0, hidden, 60)));
    emit(r->mac, 0, hidden, sizeof(hidden));

    // Header length 60 with 4 bytes of ICMP after it
    p.icmp_len = 4;
    send4(r, &p, 15, 60, 0);
    // Header length 16 (below the minimum) and 60 in a 40-byte packet
    p.icmp_len = 8;
    send4(r, &p, 4, 20, 0);
    p.icmp_len = 20;
    send4(r, &p, 15, 20, 40);
}

// Answer one request of len bytes at pkt (an IPv4 or IPv6 packet)
static void
answer(
    const uint8_t *     mac,
    int                 v6,
    const uint8_t *     pkt,
    size_t              len)
{
    struct request      r;
    size_t              hlen = v6 ? 40 : (size_t) (pkt[0] & 0x0f) * 4;
    const uint8_t *     icmp = pkt + hlen;
    unsigned            before = sent;

    if (v6 ? len < 48 || pkt[6] != 58 || icmp[0] != 128
           : hlen < 20 || len < hlen + 8 || pkt[9] != 1 || icmp[0] != 8)
    {
        return;
    }
    r.mac = mac;
    r.v6 = v6;
    r.me = v6 ? pkt + 24 : pkt + 16;            // the request's destination
    r.them = v6 ? pkt + 8 : pkt + 12;
    r.ident = (unsigned) icmp[4] << 8 | icmp[5];
    r.seq = (unsigned) icmp[6] << 8 | icmp[7];
    r.data = icmp + 8;
    r.data_len = len - hlen - 8;

    answer_modes(&r, v6 ? (have_src6 ? src6 : NULL) : (have_src4 ? src4 : NULL));
    if (!v6 && (modes & M_IHL))
    {
        answer_ihl(&r);
    }
    printf("%s id 0x%04x seq %u sent %u\n", v6 ? "v6" : "v4", r.ident, r.seq, sent - before);
    fflush(stdout);
}

static unsigned
modes_parse(
    char *              text)
{
    static const struct { const char * name; unsigned bit; } names[] =
    {
        { "echo", M_ECHO }, { "wrongsrc", M_WRONGSRC }, { "wrongid", M_WRONGID }, { "dup", M_DUP },
        { "future", M_FUTURE }, { "trunc", M_TRUNC }, { "ihl", M_IHL }, { "badsum", M_BADSUM },
    };
    unsigned            bits = 0;
    char *              word;

    for (word = strtok(text, ","); word; word = strtok(NULL, ","))
    {
        size_t          i;

        for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        {
            if (strcmp(word, names[i].name) == 0)
            {
                bits |= names[i].bit;
                break;
            }
        }
        if (i == sizeof(names) / sizeof(names[0]))
        {
            fprintf(stderr, "forge: unknown mode %s\n", word);
            exit(2);
        }
    }
    return bits;
}

int
main(
    int                 argc,
    char *              argv[])
{
    struct sockaddr_ll  ll;
    const char *        ifname = NULL;
    int                 opt;

    while ((opt = getopt(argc, argv, "i:m:S:s:")) != -1)
    {
        switch (opt)
        {
        case 'i':
            ifname = optarg;
            break;
        case 'm':
            modes = modes_parse(optarg);
            break;
        case 'S':
            have_src4 = inet_pton(AF_INET, optarg, src4) == 1;
            break;
        case 's':
            have_src6 = inet_pton(AF_INET6, optarg, src6) == 1;
            break;
        default:
            fprintf(stderr, "usage: forge -i ifname -m mode[,mode...] [-S src4] [-s src6]\n");
            return 2;
        }
    }
    if (ifname == NULL || modes == 0 || (ifindex = (int) if_nametoindex(ifname)) == 0)
    {
        fprintf(stderr, "usage: forge -i ifname -m mode[,mode...] [-S src4] [-s src6]\n");
        return 2;
    }

    sock = socket(AF_PACKET, SOCK_DGRAM, htons(ETH_P_ALL));
    if (sock < 0)
    {
        perror("forge: packet socket");
        return 1;
    }
    memset(&ll, 0, sizeof(ll));
    ll.sll_family = AF_PACKET;
    ll.sll_protocol = htons(ETH_P_ALL);
    ll.sll_ifindex = ifindex;
    if (bind(sock, (struct sockaddr *) &ll, sizeof(ll)) < 0)
    {
        perror("forge: bind");
        return 1;
    }
    printf("ready\n");
    fflush(stdout);

    for (;;)
    {
        uint8_t         buf[2048];
        struct sockaddr_ll from;
        socklen_t       fromlen = sizeof(from);
        ssize_t         len;

        len = recvfrom(sock, buf, sizeof(buf), 0, (struct sockaddr *) &from, &fromlen);
        if (len < 0)
        {
            if (errno == EINTR)
            {
                continue;
            }
            perror("forge: recvfrom");
            return 1;
        }
        if (from.sll_pkttype != PACKET_HOST || from.sll_halen != 6)
        {
            continue;
        }
        if (ntohs(from.sll_protocol) == ETH_P_IP && len >= 20 && (buf[0] >> 4) == 4)
        {
            answer(from.sll_addr, 0, buf, (size_t) len);
        }
        else if (ntohs(from.sll_protocol) == ETH_P_IPV6 && len >= 40 && (buf[0] >> 4) == 6)
        {
            answer(from.sll_addr, 1, buf, (size_t) len);
        }
    }
}

#else

#include <stdio.h>

int
main(void)
{
    fprintf(stderr, "forge: needs Linux packet sockets\n");
    return 2;
}

#endif
