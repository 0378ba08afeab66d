//
// Writes the seed corpus of the fuzz targets: small, meaningful inputs
// built field by field (host byte order for the routing messages, as the
// kernels send them; amd64 layout for FreeBSD, as tests/unit_test.c).
// Run through mkcorpus.sh, which compiles this and replaces corpus/.
//

#include <sys/stat.h>
#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/route_msgs.h"

static const char *     root;



static void
emit(
    const char *        target,
    const char *        name,
    const void *        buf,
    size_t              len)
{
    char                path[512];
    FILE *              f;

    snprintf(path, sizeof(path), "%s/%s", root, target);
    if (mkdir(path, 0755) != 0 && errno != EEXIST)
    {
        perror(path);
        exit(1);
    }
    snprintf(path, sizeof(path), "%s/%s/%s", root, target, name);
    f = fopen(path, "wb");
    if (f == NULL || fwrite(buf, 1, len, f) != len || fclose(f) != 0)
    {
        perror(path);
        exit(1);
    }
}


//
// FreeBSD PF_ROUTE messages
//


// RTM_NEWADDR/DELADDR with RTAX_NETMASK, RTAX_IFP (sockaddr_dl) and RTAX_IFA

static void
freebsd_corpus(void)
{
    const char *        t = "fuzz_route_freebsd";
    uint8_t             buf[2048];
    size_t              len;

    emit(t, "announce_arrival", buf, fb_announce(buf, 7, "ipsec1", 0));
    emit(t, "announce_departure", buf, fb_announce(buf, 7, "ipsec1", 1));
    emit(t, "announce_name16", buf, fb_announce(buf, 3, "abcdefghijklmnop", 0));
    emit(t, "ifinfo_up_running", buf, fb_ifinfo(buf, 9, 0x1 | 0x40, 2));
    emit(t, "ifinfo_link_down", buf, fb_ifinfo(buf, 9, 0x1 | 0x40, 1));
    emit(t, "newaddr_v4", buf, fb_ifaddr(buf, 0x0c, 4, 0, "203.0.113.10", "igb0"));
    emit(t, "deladdr_v6_linklocal", buf, fb_ifaddr(buf, 0x0d, 12, 1, "fe80::1", "ipsec3"));
    emit(t, "newaddr_v6", buf, fb_ifaddr(buf, 0x0c, 4, 1, "2001:db8::1", "vtnet0"));
    emit(t, "route_add", buf, fb_route(buf, 0x01, 3, 99, 1, 0, "198.51.100.0", NULL, NULL));
    // The answer to the fuzzers' query (tests/fuzz/fuzz.h: pid 0x01020304, sequence 7)
    emit(t, "answer_get", buf, fb_route(buf, 0x04, 3, 0x01020304u, 7, 0, "192.0.2.1", "igb1", "192.0.2.10"));
    emit(t, "answer_failed", buf, fb_route(buf, 0x04, 3, 0x01020304u, 7, 3, "192.0.2.1", NULL, NULL));

    // A VTI reload: departure, arrival, link up, address back
    len = fb_announce(buf, 5, "ipsec1", 1);
    len += fb_announce(buf + len, 5, "ipsec1", 0);
    len += fb_ifinfo(buf + len, 5, 0x41, 2);
    len += fb_ifaddr(buf + len, 0x0c, 5, 0, "10.9.0.2", "ipsec1");
    emit(t, "multi_vti_reload", buf, len);

    // A wrong version and an unknown type, then a message that decodes
    len = fb_announce(buf, 7, "em0", 0);
    buf[2] = 4;
    len += fb_announce(buf + len, 7, "em0", 0);
    buf[len - 24 + 3] = 0x12;           // RTM_IEEE80211
    len += fb_ifaddr(buf + len, 0x0d, 7, 0, "192.0.2.1", "em0");
    emit(t, "multi_skipped", buf, len);
}


//
// Linux rtnetlink messages
//




static void
linux_corpus(void)
{
    const char *        t = "fuzz_route_linux";
    uint8_t             buf[2048];
    size_t              len;

    emit(t, "newlink_up", buf, nl_link(buf, 16, 5, 0x1 | 0x40 | 0x10000, "vti0"));
    emit(t, "dellink", buf, nl_link(buf, 17, 5, 0, "vti0"));
    emit(t, "newlink_noname", buf, nl_link(buf, 16, 2, 0x1, NULL));
    emit(t, "newaddr_v4_ptp", buf, nl_addr(buf, 20, 6, 0, "10.9.0.2", "10.9.0.1", "eth0:1", 0x80));
    emit(t, "deladdr_v6_tentative", buf, nl_addr(buf, 21, 6, 1, "fe80::a", NULL, NULL, 0x40));
    emit(t, "newaddr_v6_global", buf, nl_addr(buf, 20, 3, 1, "2001:db8::1", NULL, NULL, 0x80));
    emit(t, "overrun", buf, nl_overrun(buf));
    emit(t, "newroute_main", buf, nl_route(buf, 24, 0, 0, 254, 0, 3));
    // The answer to the fuzzers' query (tests/fuzz/fuzz.h: port 0x01020304, sequence 7)
    emit(t, "answer_route", buf, nl_route(buf, 24, 7, 0x01020304u, 254, 0, 3));

    // Several messages per read, as the kernel batches them
    len = nl_link(buf, 16, 5, 0x1 | 0x40 | 0x10000, "vti0");
    len += nl_link(buf + len, 17, 5, 0, "vti0");
    len += nl_addr(buf + len, 20, 6, 0, "10.9.0.2", "10.9.0.1", "eth0:1", 0x80);
    len += nl_addr(buf + len, 21, 6, 1, "fe80::a", NULL, NULL, 0x40);
    len += nl_overrun(buf + len);
    emit(t, "multi_all", buf, len);

    // An unknown type (RTM_NEWROUTE) before a link message
    len = nl_link(buf, 24, 5, 1, "x");
    len += nl_link(buf + len, 16, 7, 0x41, "wg0");
    emit(t, "multi_skipped", buf, len);
}


//
// Echo replies: 4 selector bytes (see fuzz_echo_reply.c), then the datagram
//
static size_t
echo_input(
    uint8_t *           p,
    uint8_t             sel,
    uint16_t            fromlen,
    uint8_t             flip)
{
    p[0] = sel;
    p[1] = (uint8_t) fromlen;
    p[2] = (uint8_t) (fromlen >> 8);
    p[3] = flip;
    return 4;
}

// IPv4 header with `optlen` bytes of options, then ICMP
static size_t
echo4(
    uint8_t *           p,
    uint8_t             type,
    size_t              optlen,
    uint16_t            ident,
    uint16_t            seq,
    size_t              payload)
{
    size_t              hlen = 20 + optlen;
    size_t              len = hlen + 8 + payload;
    size_t              i;

    memset(p, 0, len);
    p[0] = (uint8_t) (0x40 | hlen / 4);
    p[2] = (uint8_t) (len >> 8);
    p[3] = (uint8_t) len;
    p[8] = 64;                          // TTL
    p[9] = 1;                           // ICMP
    inet_pton(AF_INET, "10.0.0.2", p + 12);
    inet_pton(AF_INET, "10.0.0.1", p + 16);
    if (optlen)
    {
        p[20] = 0x94;                   // router alert
        p[21] = 4;
        for (i = 24; i < hlen; i++)
        {
            p[i] = 1;                   // NOP
        }
    }
    p[hlen] = type;
    p[hlen + 4] = (uint8_t) (ident >> 8);
    p[hlen + 5] = (uint8_t) ident;
    p[hlen + 6] = (uint8_t) (seq >> 8);
    p[hlen + 7] = (uint8_t) seq;
    for (i = 0; i < payload; i++)
    {
        p[hlen + 8 + i] = (uint8_t) i;
    }
    return len;
}

static size_t
echo6(
    uint8_t *           p,
    uint8_t             type,
    uint16_t            ident,
    uint16_t            seq,
    size_t              payload)
{
    size_t              i;

    memset(p, 0, 8);
    p[0] = type;
    p[4] = (uint8_t) (ident >> 8);
    p[5] = (uint8_t) ident;
    p[6] = (uint8_t) (seq >> 8);
    p[7] = (uint8_t) seq;
    for (i = 0; i < payload; i++)
    {
        p[8 + i] = (uint8_t) i;
    }
    return 8 + payload;
}

static void
echo_corpus(void)
{
    const char *        t = "fuzz_echo_reply";
    uint8_t             buf[512];
    size_t              len;

    len = echo_input(buf, 0x00, 16, 0);
    len += echo4(buf + len, 0, 0, 0x1234, 7, 8);
    emit(t, "v4_reply", buf, len);

    len = echo_input(buf, 0x00, 16, 0x21);
    len += echo4(buf + len, 0, 4, 0xbeef, 0x8000, 0);
    emit(t, "v4_reply_router_alert", buf, len);

    len = echo_input(buf, 0x00, 16, 0);
    len += echo4(buf + len, 0, 40, 1, 2, 16);
    emit(t, "v4_reply_options_max", buf, len);

    len = echo_input(buf, 0x00, 8, 0);
    len += echo4(buf + len, 8, 0, 0x1234, 7, 0);
    emit(t, "v4_request_short_from", buf, len);

    len = echo_input(buf, 0x08, 16, 0);
    len += echo4(buf + len, 0, 4, 0x1234, 7, 0) - 2;    // cut in the ICMP header
    emit(t, "v4_truncated_from_unix", buf, len);

    len = echo_input(buf, 0x03, 28, 0);
    len += echo6(buf + len, 129, 0x4321, 0xffff, 56);
    emit(t, "v6_reply", buf, len);

    len = echo_input(buf, 0x03, 20, 0);
    len += echo6(buf + len, 129, 1, 1, 24);
    emit(t, "v6_reply_short_from", buf, len);

    len = echo_input(buf, 0x07, 0xffff, 0x10);
    len += echo6(buf + len, 128, 1, 1, 32);
    emit(t, "v6_request_other_family", buf, len);

    // Sender fe80::/10: bytes 2-3 (FreeBSD's embedded scope) do not count
    len = echo_input(buf, 0x03, 28, 0x12);
    len += echo6(buf + len, 129, 7, 7, 24);
    buf[4 + 8] = 0xfe;
    buf[4 + 9] = 0x80;
    emit(t, "v6_reply_linklocal_scope", buf, len);

    len = echo_input(buf, 0x03, 28, 0x15);
    len += echo6(buf + len, 129, 7, 7, 24);
    buf[4 + 8] = 0xfe;
    buf[4 + 9] = 0x80;
    emit(t, "v6_reply_linklocal_other", buf, len);

    len = echo_input(buf, 0x01, 28, 0);
    len += echo4(buf + len, 0, 0, 0x1234, 7, 8);
    emit(t, "v4_datagram_on_v6", buf, len);
}


//
// Command lines: one argument per line (or per NUL)
//
static void
args_emit(
    const char *        name,
    const char *        text)
{
    emit("fuzz_args", name, text, strlen(text));
}

static void
args_corpus(void)
{
    char                buf[256];
    size_t              len;

    args_emit("pfsense_v4",
        "-S\n-r\n0\n-i\nWAN_DHCP\n-B\n192.0.2.10\n"
        "-p\n/var/run/dpinger_WAN_DHCP~192.0.2.10~192.0.2.1.pid\n"
        "-u\n/var/run/dpinger_WAN_DHCP~192.0.2.10~192.0.2.1.sock\n"
        "-C\n/etc/rc.gateway_alarm\n-d\n1\n-s\n500\n-l\n2000\n-t\n60000\n"
        "-A\n1000\n-D\n500\n-L\n20\n192.0.2.1");
    args_emit("pfsense_v6_scoped",
        "-S\n-r\n0\n-i\nVTI6\n-B\nfe80::a%lo\n"
        "-p\n/var/run/dpinger_VTI6.pid\n-u\n/var/run/dpinger_VTI6.sock\n"
        "-C\n/etc/rc.gateway_alarm\n-d\n1\n-s\n500\n-l\n2000\n-t\n60000\n"
        "-A\n1000\n-D\n500\n-L\n20\nfe80::b%lo");
    args_emit("minimal", "127.0.0.1");
    args_emit("all_flags",
        "-f\n-R\n-S\n-P\n-N\n-o\n/tmp/out\n-H\n5s\n-E\n0\n-W\n0\n-t\n10s\n-s\n1s\n-r\n2s\n10.0.0.2");
    args_emit("suffixes", "-s\n500m\n-t\n60s\n-d\n1k\n-L\n20%\n-l\n2s\n-W\n3s\n-E\n7\n::1");
    args_emit("max_slots", "-s\n1\n-t\n65535\n10.0.0.1");
    args_emit("too_many_slots", "-s\n1\n-t\n65536\n10.0.0.1");
    args_emit("period_too_short", "-s\n1000\n-t\n2000\n10.0.0.1");
    args_emit("bad_time", "-s\n5x\n10.0.0.1");
    args_emit("no_activity", "-r\n0\n10.0.0.1");
    args_emit("socket_only", "-r\n0\n-u\n/tmp/s\n10.0.0.1");
    args_emit("family_mismatch", "-B\n::1\n127.0.0.1");
    args_emit("data_too_large", "-d\n65508\n10.0.0.1");
    args_emit("data_max_v6", "-d\n65527b\n2001:db8::1");
    args_emit("missing_value", "10.0.0.1\n-s");
    args_emit("unknown_option", "-x\n10.0.0.1");
    args_emit("two_destinations", "10.0.0.1\n10.0.0.2");
    args_emit("not_numeric", "gateway.example");
    args_emit("help", "-h");
    args_emit("ident_62",
        "-i\nabcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789\n10.0.0.1");
    args_emit("reexec_state", "v2:4242:3:123456:7:42:-1:-1\nv2:4242:3:123456:7\n-W\n1s\n10.0.0.1");

    // NUL separators
    len = (size_t) snprintf(buf, sizeof(buf), "-s%c250%c-L%c100%%%c10.0.0.1", 0, 0, 0, 0);
    emit("fuzz_args", "nul_separated", buf, len);
    args_emit("empty_argument", "-i\n\n10.0.0.1");
}

int
main(
    int                 argc,
    char *              argv[])
{
    if (argc != 2)
    {
        fprintf(stderr, "usage: mkcorpus DIR\n");
        return 2;
    }
    root = argv[1];
    freebsd_corpus();
    linux_corpus();
    echo_corpus();
    args_corpus();
    return 0;
}
