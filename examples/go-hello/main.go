// go-hello is the smallest server lade's tests package: it tells which uid it runs as (so a
// test can check the image's User) and serves the files ko-style images ship in kodata/.
package main

import (
	"fmt"
	"log"
	"net/http"
	"os"
)

func main() {
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	dataDir := os.Getenv("KO_DATA_PATH")
	if dataDir == "" {
		dataDir = "kodata"
	}

	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprintf(w, "hello from go-hello uid=%d\n", os.Getuid())
	})
	mux.Handle("/static/", http.StripPrefix("/static/", http.FileServer(http.Dir(dataDir))))

	addr := ":" + port
	log.Printf("go-hello listening on %s, serving %s at /static/", addr, dataDir)
	log.Fatal(http.ListenAndServe(addr, mux))
}
