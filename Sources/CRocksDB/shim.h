#ifndef KUMO_CROCKSDB_SHIM_H
#define KUMO_CROCKSDB_SHIM_H
// The RocksDB C API from Debian's librocksdb-dev (RocksDB 7.8+).
#include <rocksdb/c.h>
#endif
