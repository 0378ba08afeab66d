//
// Routing messages built field by field, as the kernels send them (host
// byte order; the FreeBSD ones in the amd64 layout), for the unit tests
// and the fuzzers' seed corpus.  Include after <string.h>,
// <arpa/inet.h> and <stdint.h>.
//

static void
put16(
    uint8_t *           p,
    uint16_t            v)
{
    memcpy(p, &v, 2);
}

static void
put32(
    uint8_t *           p,
    uint32_t            v)
{
    memcpy(p, &v, 4);
}

static size_t
fb_announce(
    uint8_t *           p,
    uint16_t            index,
    const char *        name,
    uint16_t            what)
{
    memset(p, 0, 24);
    put16(p, 24);
    p[2] = 5;                           // RTM_VERSION
    p[3] = 0x11;                        // RTM_IFANNOUNCE
    put16(p + 4, index);
    memcpy(p + 6, name, strlen(name) < 16 ? strlen(name) : 16);
    put16(p + 22, what);
    return 24;
}

static size_t
fb_ifinfo(
    uint8_t *           p,
    uint16_t            index,
    uint32_t            flags,
    uint8_t             link_state)
{
    memset(p, 0, 168);
    put16(p, 168);
    p[2] = 5;
    p[3] = 0x0e;                        // RTM_IFINFO
    put32(p + 8, flags);
    put16(p + 12, index);
    p[16] = 6;                          // ifi_type
    p[20] = link_state;
    return 168;
}

// A sockaddr_in or sockaddr_in6 for addr at p, padded to 8 bytes; its space
static size_t
fb_sockaddr_in(
    uint8_t *           p,
    const char *        addr)
{
    int                 v6 = strchr(addr, ':') != NULL;

    p[0] = v6 ? 28 : 16;
    p[1] = v6 ? 28 : 2;                 // AF_INET6, AF_INET
    inet_pton(v6 ? AF_INET6 : AF_INET, addr, p + (v6 ? 8 : 4));
    return v6 ? 32 : 16;
}

// A sockaddr_dl for interface index and name with alen bytes of (zero)
// link-level address, padded to 8 bytes; its space
static size_t
fb_sockaddr_dl(
    uint8_t *           p,
    uint16_t            index,
    const char *        name,
    uint8_t             alen)
{
    size_t              nlen = strlen(name);

    p[0] = (uint8_t) (8 + nlen + alen);
    p[1] = 18;                          // AF_LINK
    put16(p + 2, index);
    p[5] = (uint8_t) nlen;
    p[6] = alen;
    memcpy(p + 8, name, nlen);
    return (8 + nlen + alen + 7) / 8 * 8;
}

static size_t
fb_ifaddr(
    uint8_t *           p,
    uint8_t             type,
    uint16_t            index,
    int                 v6,
    const char *        addr,
    const char *        ifname)
{
    size_t              off = 20;
    size_t              space;

    memset(p, 0, 256);
    p[2] = 5;
    p[3] = type;
    put32(p + 4, 0x4 | 0x10 | 0x20);
    put16(p + 12, index);
    // The netmask: only its length and family
    p[off] = v6 ? 28 : 16;
    p[off + 1] = v6 ? 28 : 2;
    off += v6 ? 32 : 16;
    off += fb_sockaddr_dl(p + off, index, ifname, 6);
    space = fb_sockaddr_in(p + off, addr);
    if (v6)
    {
        put32(p + off + 24, index);     // sin6_scope_id
    }
    off += space;
    put16(p, (uint16_t) off);
    return off;
}

// rt_msghdr, then the sockaddrs named (RTA_DST, RTA_IFP, RTA_IFA: each only
// when given), as the kernel orders them
static size_t
fb_route(
    uint8_t *           p,
    uint8_t             type,
    uint16_t            index,
    uint32_t            pid,
    uint32_t            seq,
    uint32_t            err,
    const char *        dst,
    const char *        ifname,
    const char *        ifa)
{
    size_t              off = 152;
    uint32_t            addrs = 0;

    memset(p, 0, 256);
    p[2] = 5;
    p[3] = type;
    put16(p + 4, index);
    put32(p + 16, pid);
    put32(p + 20, seq);
    put32(p + 24, err);
    if (dst)
    {
        addrs |= 0x01;
        off += fb_sockaddr_in(p + off, dst);
    }
    if (ifname)
    {
        addrs |= 0x10;
        off += fb_sockaddr_dl(p + off, index, ifname, 0);
    }
    if (ifa)
    {
        addrs |= 0x20;
        off += fb_sockaddr_in(p + off, ifa);
    }
    put32(p + 12, addrs);
    put16(p, (uint16_t) off);
    return off;
}

static size_t
nl_attr(
    uint8_t *           p,
    uint16_t            type,
    const void *        data,
    size_t              len)
{
    size_t              aligned = (4 + len + 3) & ~(size_t) 3;

    put16(p, (uint16_t) (4 + len));
    put16(p + 2, type);
    memcpy(p + 4, data, len);
    memset(p + 4 + len, 0, aligned - (4 + len));
    return aligned;
}

static size_t
nl_link(
    uint8_t *           p,
    uint16_t            type,
    uint32_t            index,
    uint32_t            flags,
    const char *        name)
{
    size_t              off = 16 + 16;

    memset(p, 0, off);
    put16(p + 4, type);
    put32(p + 16 + 4, index);
    put32(p + 16 + 8, flags);
    if (name)
    {
        off += nl_attr(p + off, 3, name, strlen(name) + 1);     // IFLA_IFNAME
    }
    put32(p, (uint32_t) off);
    return off;
}

static size_t
nl_addr(
    uint8_t *           p,
    uint16_t            type,
    uint32_t            index,
    int                 v6,
    const char *        address,
    const char *        local,
    const char *        label,
    uint32_t            flags)
{
    uint8_t             a[16];
    size_t              off = 16 + 8;

    memset(p, 0, off);
    put16(p + 4, type);
    p[16] = v6 ? 10 : 2;
    p[16 + 1] = v6 ? 64 : 24;
    p[16 + 2] = (uint8_t) flags;
    put32(p + 16 + 4, index);
    if (address)
    {
        inet_pton(v6 ? AF_INET6 : AF_INET, address, a);
        off += nl_attr(p + off, 1, a, v6 ? 16 : 4);             // IFA_ADDRESS
    }
    if (local)
    {
        inet_pton(v6 ? AF_INET6 : AF_INET, local, a);
        off += nl_attr(p + off, 2, a, v6 ? 16 : 4);             // IFA_LOCAL
    }
    if (label)
    {
        off += nl_attr(p + off, 3, label, strlen(label) + 1);   // IFA_LABEL
    }
    off += nl_attr(p + off, 8, &flags, 4);                      // IFA_FLAGS
    put32(p, (uint32_t) off);
    return off;
}

static size_t
nl_route(
    uint8_t *           p,
    uint16_t            type,
    uint32_t            seq,
    uint32_t            pid,
    uint8_t             table,
    uint32_t            flags,
    int                 oif)
{
    size_t              off = 16 + 12;
    uint8_t             dst[4] = { 10, 9, 0, 2 };
    uint32_t            index = (uint32_t) oif;

    memset(p, 0, off);
    put16(p + 4, type);
    put32(p + 8, seq);
    put32(p + 12, pid);
    p[16] = 2;
    p[16 + 1] = 32;
    p[16 + 4] = table;
    put32(p + 16 + 8, flags);
    off += nl_attr(p + off, 1, dst, 4);
    if (oif)
    {
        off += nl_attr(p + off, 4, &index, 4);
    }
    put32(p, (uint32_t) off);
    return off;
}

static size_t
nl_overrun(
    uint8_t *           p)
{
    memset(p, 0, 16);
    put32(p, 16);
    put16(p + 4, 4);                    // NLMSG_OVERRUN
    return 16;
}
