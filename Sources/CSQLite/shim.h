#ifndef PAYRAIL_CSQLITE_SHIM_H
#define PAYRAIL_CSQLITE_SHIM_H
#include <sqlite3.h>
#endif
