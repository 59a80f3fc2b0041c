// Command echo is the service the runtime tests bundle: a static HTTP server on :8080 that
// answers GREETING (from the bundle's .env through compose), and the files mounted from the
// bundle's certificate and config directories. `echo -check` is its compose healthcheck;
// `echo -provision` stands in for the stack's provisioner: it succeeds when PROVISION_RESULT is
// "ok" and fails with a last line saying so otherwise.
package main

import (
	"fmt"
	"net/http"
	"os"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "-check" {
		resp, err := http.Get("http://127.0.0.1:8080/healthz")
		if err != nil || resp.StatusCode != http.StatusOK {
			fmt.Println("not ready:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	if len(os.Args) > 1 && os.Args[1] == "-provision" {
		fmt.Println("provisioning tables and buckets")
		if r := os.Getenv("PROVISION_RESULT"); r != "ok" {
			fmt.Println("provisioning failed: boom (PROVISION_RESULT=" + r + ")")
			os.Exit(3)
		}
		os.Exit(0)
	}
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, os.Getenv("GREETING"))
	})
	http.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {})
	serveFile := func(path string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) { http.ServeFile(w, r, path) }
	}
	http.HandleFunc("/cert", serveFile("/certs/server.crt"))
	http.HandleFunc("/config", serveFile("/config/greeting.txt"))
	if err := http.ListenAndServe(":8080", nil); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
