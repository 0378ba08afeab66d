//
// libFuzzer target: route_decode_freebsd() on arbitrary bytes, as read from
// a PF_ROUTE socket.  Every event must pass route_event_check().
//

#define DPINGER_MAIN dpinger_main
#define DPINGER_ALL_DECODERS 1
#include "../../dpinger.c"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t * data, size_t size);

int
LLVMFuzzerTestOneInput(
    const uint8_t *     data,
    size_t              size)
{
    route_fuzz(route_decode_freebsd, data, size, 0);
    return 0;
}
