// Command dindbundler-registry runs the bundle's read-only registry (package registry/serve)
// inside the bundle, and tells the entrypoint when it answers:
//
//	dindbundler-registry serve [--index F] [--images DIR] [--addr A] [--uncompressed]
//	dindbundler-registry ping [ADDR]
//
// It owns the command line, the listener and the shutdown only: what is served and how is
// package registry/serve's. It must stay a small static binary (CGO_ENABLED=0) that starts in
// milliseconds: it reads the index at start, never a layer file.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/dindbundler/dindbundler/internal/registry/serve"
)

const usageText = `usage:
  dindbundler-registry serve [--index F] [--images DIR] [--addr A] [--uncompressed]
      serve the bundle's images read-only until SIGTERM; one line per pull on stderr
  dindbundler-registry ping [ADDR]
      exit 0 when the registry at ADDR (default ` + serve.DefaultAddress + `) answers /v2/
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stderr))
}

func run(ctx context.Context, args []string, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usageText)
		return 2
	}
	logger := log.New(stderr, "dindbundler-registry: ", 0)
	var err error
	switch args[0] {
	case "serve":
		err = runServe(ctx, args[1:], logger)
	case "ping":
		err = runPing(ctx, args[1:])
	case "-h", "--help", "help":
		fmt.Fprint(stderr, usageText)
		return 0
	default:
		fmt.Fprintf(stderr, "dindbundler-registry: unknown command %q\n%s", args[0], usageText)
		return 2
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		logger.Print(err)
		return 1
	}
	return 0
}

func runServe(ctx context.Context, args []string, logger *log.Logger) error {
	t0 := time.Now()
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(logger.Writer())
	indexPath := fs.String("index", serve.IndexPath, "the registry index the bundle's Image stage wrote")
	imagesDir := fs.String("images", "/images", "the directory the index's files are relative to")
	addr := fs.String("addr", "", "host:port to listen on (default: the index's address)")
	uncompressed := fs.Bool("uncompressed", false, "serve layers decompressed (engines older than 23.0 cannot unpack zstd)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("serve: unexpected argument %q", fs.Arg(0))
	}
	idx, err := serve.ReadIndex(*indexPath)
	if err != nil {
		return err
	}
	if *addr == "" {
		*addr = idx.Address
	}
	if !loopback(*addr) {
		logger.Printf("warning: serving on %s, which is not a loopback address: whoever reaches it can pull the bundle's images", *addr)
	}
	h, err := serve.NewHandler(idx, *imagesDir, serve.Options{Uncompressed: *uncompressed, Log: logger})
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w (is another registry running there?)", *addr, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 30 * time.Second, ErrorLog: log.New(io.Discard, "", 0)}
	mode := "layers as stored"
	if *uncompressed {
		mode = "layers decompressed"
	}
	logger.Printf("serving %d images on %s (%s), ready in %d ms", len(idx.Images), l.Addr(), mode, time.Since(t0).Milliseconds())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	select {
	case err := <-done:
		return fmt.Errorf("serve on %s: %w", *addr, err)
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err = srv.Shutdown(shutdown)
	h.Close()
	if err != nil {
		return fmt.Errorf("stop: %w", err)
	}
	logger.Print("stopped")
	return nil
}

// loopback reports whether addr's host is a loopback address (or localhost).
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func runPing(ctx context.Context, args []string) error {
	addr := serve.DefaultAddress
	switch len(args) {
	case 0:
	case 1:
		addr = args[0]
	default:
		return errors.New("ping: one address at most")
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/v2/", nil)
	if err != nil {
		return fmt.Errorf("ping %s: %w", addr, err)
	}
	// No proxy: the registry is local, and the bundle's environment may name one for builds.
	client := &http.Client{Transport: &http.Transport{Proxy: nil}}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("ping %s: %w", addr, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("ping %s: /v2/ answers %s", addr, resp.Status)
	}
	return nil
}
