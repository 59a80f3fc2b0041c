package engine

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/docker/cli/cli/connhelper"
	"github.com/docker/docker/client"
)

// Endpoint is where the engine is and how to reach it, resolved as the docker CLI resolves it.
type Endpoint struct {
	Host    string // unix://…, tcp://…, ssh://user@host[:port][/socket]; "" is the client's default
	Context string // the docker context it came from, "" for DOCKER_HOST or the default
	TLSDir  string // the context's TLS material (ca.pem, cert.pem, key.pem), "" for none
	// SkipTLSVerify is the context's "skip TLS verification" flag.
	SkipTLSVerify bool
}

// ResolveEndpoint picks the engine the way the docker CLI does: DOCKER_HOST wins; else
// DOCKER_CONTEXT; else the current context of the CLI's config.json (DOCKER_CONFIG, or
// ~/.docker); the context "default" (or none) is the client's default socket. getenv is
// os.Getenv in production.
func ResolveEndpoint(getenv func(string) string) (Endpoint, error) {
	if h := getenv("DOCKER_HOST"); h != "" {
		if err := checkHost(h); err != nil {
			return Endpoint{}, fmt.Errorf("DOCKER_HOST=%q %w: set it to one of them, or unset it for the default socket", h, err)
		}
		return Endpoint{Host: h}, nil
	}
	configDir := getenv("DOCKER_CONFIG")
	if configDir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return Endpoint{}, nil // no home, no contexts: the default socket
		}
		configDir = filepath.Join(home, ".docker")
	}
	name := getenv("DOCKER_CONTEXT")
	if name == "" {
		var err error
		if name, err = currentContext(configDir); err != nil {
			return Endpoint{}, err
		}
	}
	if name == "" || name == "default" {
		return Endpoint{}, nil
	}
	return contextEndpoint(configDir, name)
}

// hostSchemes are the schemes a client can reach an engine by, as the docker CLI accepts them
// (less fd://, which only a daemon listens on).
var hostSchemes = []string{"unix", "tcp", "ssh", "npipe"}

// checkHost refuses an engine address the client could not use: without a scheme, or with one
// no client speaks (http://, a typo), which would otherwise fail later with less to go on.
func checkHost(h string) error {
	scheme, rest, ok := strings.Cut(h, "://")
	accepted := strings.Join(hostSchemes, "://, ")
	if !ok || rest == "" || !slices.Contains(hostSchemes, scheme) {
		return fmt.Errorf("has no scheme an engine is reached by: use %s://", accepted)
	}
	return nil
}

func currentContext(configDir string) (string, error) {
	data, err := os.ReadFile(filepath.Join(configDir, "config.json"))
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read the docker CLI configuration: %w", err)
	}
	var cfg struct {
		CurrentContext string `json:"currentContext"`
	}
	if err := json.Unmarshal(data, &cfg); err != nil {
		return "", fmt.Errorf("parse %s: %w (fix it, or set DOCKER_HOST)", filepath.Join(configDir, "config.json"), err)
	}
	return cfg.CurrentContext, nil
}

// contextEndpoint reads a context from the CLI's context store: contexts/meta/<sha256 of the
// name>/meta.json, with TLS files under contexts/tls/<same>/docker.
func contextEndpoint(configDir, name string) (Endpoint, error) {
	sum := sha256.Sum256([]byte(name))
	id := hex.EncodeToString(sum[:])
	metaPath := filepath.Join(configDir, "contexts", "meta", id, "meta.json")
	data, err := os.ReadFile(metaPath)
	if errors.Is(err, os.ErrNotExist) {
		return Endpoint{}, fmt.Errorf("docker context %q not found (no %s): create it with `docker context create`, or unset DOCKER_CONTEXT", name, metaPath)
	}
	if err != nil {
		return Endpoint{}, fmt.Errorf("read docker context %q: %w", name, err)
	}
	var meta struct {
		Endpoints map[string]struct {
			Host          string `json:"Host"`
			SkipTLSVerify bool   `json:"SkipTLSVerify"`
		} `json:"Endpoints"`
	}
	if err := json.Unmarshal(data, &meta); err != nil {
		return Endpoint{}, fmt.Errorf("parse docker context %q (%s): %w", name, metaPath, err)
	}
	ep, ok := meta.Endpoints["docker"]
	if !ok || ep.Host == "" {
		return Endpoint{}, fmt.Errorf("docker context %q has no docker endpoint (%s)", name, metaPath)
	}
	if err := checkHost(ep.Host); err != nil {
		return Endpoint{}, fmt.Errorf("docker context %q (%s): host %q %w", name, metaPath, ep.Host, err)
	}
	out := Endpoint{Host: ep.Host, Context: name, SkipTLSVerify: ep.SkipTLSVerify}
	tlsDir := filepath.Join(configDir, "contexts", "tls", id, "docker")
	if _, err := os.Stat(filepath.Join(tlsDir, "ca.pem")); err == nil {
		out.TLSDir = tlsDir
	}
	return out, nil
}

// options turns an endpoint into client options. ssh:// goes through the docker CLI's
// connection helper (`ssh … docker system dial-stdio` on the remote host, as `docker -H ssh://`
// does), so keys, agents and ~/.ssh/config work as they do for the CLI.
func (e Endpoint) options() ([]client.Opt, error) {
	if e.Host == "" {
		return nil, nil
	}
	if strings.HasPrefix(e.Host, "ssh://") {
		helper, err := connhelper.GetConnectionHelper(e.Host)
		if err != nil {
			return nil, fmt.Errorf("engine %s: %w", e.Host, err)
		}
		return []client.Opt{client.WithHost(helper.Host), client.WithDialContext(helper.Dialer)}, nil
	}
	opts := []client.Opt{client.WithHost(e.Host)}
	if e.TLSDir != "" {
		opts = append(opts, client.WithTLSClientConfig(
			filepath.Join(e.TLSDir, "ca.pem"), filepath.Join(e.TLSDir, "cert.pem"), filepath.Join(e.TLSDir, "key.pem")))
	}
	return opts, nil
}

// String names the endpoint for messages.
func (e Endpoint) String() string {
	switch {
	case e.Host == "":
		return "the default Docker socket"
	case e.Context != "":
		return fmt.Sprintf("%s (docker context %s)", e.Host, e.Context)
	}
	return e.Host
}
