// hwprune HLS kernel library: umbrella header (generated firmware includes only this).
#ifndef HWPRUNE_HWPRUNE_H
#define HWPRUNE_HWPRUNE_H

#include "types.h"
#include "stream.h"
#include "requant.h"
#include "balanced.h"
#include "conv.h"
#include "pool.h"

#endif  // HWPRUNE_HWPRUNE_H
