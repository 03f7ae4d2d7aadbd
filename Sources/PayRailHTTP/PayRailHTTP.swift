// PayRailHTTP: a small HTTP/1.1 server on libmicrohttpd with async handlers.
