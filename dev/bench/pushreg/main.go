// Command pushreg stands in for the registry:2 the stack's upstream seeds at every boot by
// `docker push` of every function image: the harness copies it into a running bundle and the
// inner engine pushes to it, so the bench can time the upstream way. It is go-containerregistry's
// pkg/registry (blobs in memory) on a loopback address. Benchmark payload only: nothing imports it.
//
//	pushreg serve ADDR   serve until killed
//	pushreg ping ADDR    exit 0 when a registry answers on ADDR
package main

import (
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: pushreg serve|ping ADDR")
		os.Exit(2)
	}
	addr := os.Args[2]
	switch os.Args[1] {
	case "serve":
		srv := &http.Server{Addr: addr, Handler: registry.New(registry.Logger(log.New(io.Discard, "", 0))), ReadHeaderTimeout: 30 * time.Second}
		log.Fatal(srv.ListenAndServe())
	case "ping":
		c := &http.Client{Timeout: time.Second}
		resp, err := c.Get("http://" + addr + "/v2/")
		if err != nil {
			fmt.Fprintln(os.Stderr, "ping:", err)
			os.Exit(1)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			fmt.Fprintln(os.Stderr, "ping:", resp.Status)
			os.Exit(1)
		}
	default:
		fmt.Fprintln(os.Stderr, "usage: pushreg serve|ping ADDR")
		os.Exit(2)
	}
}
