//
// libFuzzer target: route_decode_linux() on arbitrary bytes, as read from
// an rtnetlink socket.  Every event must pass route_event_check().
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
    route_fuzz(route_decode_linux, data, size, 1);
    return 0;
}
