// A static file server for the crawl benchmarks: Go's net/http on every core,
// so that the server is not what limits the crawlers being compared.
// Standard library only: go build -o /tmp/fileserver bench/crawl_fileserver/main.go
package main

import (
	"flag"
	"log"
	"net/http"
)

func main() {
	dir := flag.String("dir", ".", "directory to serve")
	addr := flag.String("addr", "127.0.0.1:8099", "listen address")
	flag.Parse()
	log.Fatal(http.ListenAndServe(*addr, http.FileServer(http.Dir(*dir))))
}
