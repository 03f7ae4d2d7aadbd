#ifndef PAYRAIL_CPOSTGRESQL_SHIM_H
#define PAYRAIL_CPOSTGRESQL_SHIM_H
/* libpq, the PostgreSQL client library. Only Sources/PayRailPostgres/PostgresConnection.swift sees
   these types: it owns every PGconn and PGresult and frees them. */
#include <libpq-fe.h>
#endif
