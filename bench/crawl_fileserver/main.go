// A static file server for the crawl benchmarks: Go's net/http on every core,
// so that the server is not what limits the crawlers being compared.
// Standard library only: go build -o /tmp/fileserver bench/crawl_fileserver/main.go
package main

import (
	"flag"
	"log"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"
)

func main() {
	dir := flag.String("dir", ".", "directory to serve")
	addr := flag.String("addr", "127.0.0.1:8099", "listen address")
	flag.Parse()
	files := http.FileServer(http.Dir(*dir))
	log.Fatal(http.ListenAndServe(*addr, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// http.FileServer answers .../index.html with a redirect to .../; Sphinx
		// links to index.html by name, and a redirect makes the two crawlers
		// store different URLs for one page (Scrapy keeps the target, the
		// crawler the link), so index.html is served as the file it is.
		if strings.HasSuffix(r.URL.Path, "/index.html") {
			name := filepath.Join(*dir, filepath.FromSlash(path.Clean(r.URL.Path)))
			if f, err := os.Open(name); err == nil {
				defer f.Close()
				if st, err := f.Stat(); err == nil && !st.IsDir() {
					http.ServeContent(w, r, st.Name(), st.ModTime(), f)
					return
				}
			}
		}
		files.ServeHTTP(w, r)
	})))
}
