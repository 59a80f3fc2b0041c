package engine

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/matryer/is"
)

// writeContext stores a docker context the way `docker context create` does.
func writeContext(t *testing.T, configDir, name, host string, withTLS bool) {
	t.Helper()
	sum := sha256.Sum256([]byte(name))
	id := hex.EncodeToString(sum[:])
	meta := filepath.Join(configDir, "contexts", "meta", id, "meta.json")
	if err := os.MkdirAll(filepath.Dir(meta), 0o755); err != nil {
		t.Fatal(err)
	}
	body := `{"Name":"` + name + `","Metadata":{},"Endpoints":{"docker":{"Host":"` + host + `","SkipTLSVerify":false}}}`
	if err := os.WriteFile(meta, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	if withTLS {
		tlsDir := filepath.Join(configDir, "contexts", "tls", id, "docker")
		if err := os.MkdirAll(tlsDir, 0o700); err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{"ca.pem", "cert.pem", "key.pem"} {
			if err := os.WriteFile(filepath.Join(tlsDir, f), []byte("x"), 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func TestResolveEndpoint(t *testing.T) {
	configDir := t.TempDir()
	writeContext(t, configDir, "remote", "ssh://builder@build-host", false)
	writeContext(t, configDir, "tls-box", "tcp://10.0.0.1:2376", true)
	writeContext(t, configDir, "odd", "https://10.0.0.1:2376", false)
	withCurrent := t.TempDir()
	writeContext(t, withCurrent, "remote", "ssh://builder@build-host", false)
	if err := os.WriteFile(filepath.Join(withCurrent, "config.json"), []byte(`{"currentContext":"remote"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	broken := t.TempDir()
	if err := os.WriteFile(filepath.Join(broken, "config.json"), []byte(`{`), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		env     map[string]string
		want    Endpoint
		wantErr string
	}{
		{"nothing set: the default socket", map[string]string{"DOCKER_CONFIG": t.TempDir()}, Endpoint{}, ""},
		{"DOCKER_HOST", map[string]string{"DOCKER_HOST": "tcp://127.0.0.1:2375", "DOCKER_CONFIG": configDir}, Endpoint{Host: "tcp://127.0.0.1:2375"}, ""},
		{"DOCKER_HOST wins over DOCKER_CONTEXT, as in the CLI", map[string]string{"DOCKER_HOST": "unix:///x.sock", "DOCKER_CONTEXT": "remote", "DOCKER_CONFIG": configDir}, Endpoint{Host: "unix:///x.sock"}, ""},
		{"DOCKER_CONTEXT with ssh", map[string]string{"DOCKER_CONTEXT": "remote", "DOCKER_CONFIG": configDir}, Endpoint{Host: "ssh://builder@build-host", Context: "remote"}, ""},
		{"DOCKER_CONTEXT with TLS", map[string]string{"DOCKER_CONTEXT": "tls-box", "DOCKER_CONFIG": configDir}, Endpoint{Host: "tcp://10.0.0.1:2376", Context: "tls-box", TLSDir: filepath.Join(configDir, "contexts", "tls", contextID("tls-box"), "docker")}, ""},
		{"DOCKER_CONTEXT=default", map[string]string{"DOCKER_CONTEXT": "default", "DOCKER_CONFIG": configDir}, Endpoint{}, ""},
		{"the CLI's current context", map[string]string{"DOCKER_CONFIG": withCurrent}, Endpoint{Host: "ssh://builder@build-host", Context: "remote"}, ""},
		{"DOCKER_CONTEXT beats the current context", map[string]string{"DOCKER_CONFIG": withCurrent, "DOCKER_CONTEXT": "default"}, Endpoint{}, ""},
		{"unknown context", map[string]string{"DOCKER_CONTEXT": "nope", "DOCKER_CONFIG": configDir}, Endpoint{}, `docker context "nope" not found`},
		{"broken config.json", map[string]string{"DOCKER_CONFIG": broken}, Endpoint{}, "config.json"},
		{"DOCKER_HOST with an unknown scheme", map[string]string{"DOCKER_HOST": "http://127.0.0.1:2375"}, Endpoint{}, `DOCKER_HOST="http://127.0.0.1:2375" has no scheme an engine is reached by: use unix://, tcp://, ssh://, npipe://`},
		{"DOCKER_HOST with a typo", map[string]string{"DOCKER_HOST": "tpc://127.0.0.1:2375"}, Endpoint{}, "unix://, tcp://, ssh://"},
		{"DOCKER_HOST without a scheme", map[string]string{"DOCKER_HOST": "127.0.0.1:2375"}, Endpoint{}, `DOCKER_HOST="127.0.0.1:2375" has no scheme`},
		{"DOCKER_HOST with nothing after the scheme", map[string]string{"DOCKER_HOST": "tcp://"}, Endpoint{}, "DOCKER_HOST"},
		{"a context with an unknown scheme", map[string]string{"DOCKER_CONTEXT": "odd", "DOCKER_CONFIG": configDir}, Endpoint{}, `docker context "odd"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			got, err := ResolveEndpoint(func(k string) string { return tt.env[k] })
			if tt.wantErr != "" {
				is.True(err != nil)
				is.True(strings.Contains(err.Error(), tt.wantErr))
				return
			}
			is.NoErr(err)
			is.Equal(got, tt.want)
		})
	}
}

func contextID(name string) string {
	sum := sha256.Sum256([]byte(name))
	return hex.EncodeToString(sum[:])
}

// TestNewAt: another engine's handle is made from its DOCKER_HOST address alone, whatever this
// process's DOCKER_HOST says; an address no client speaks is refused before any call.
func TestNewAt(t *testing.T) {
	t.Setenv("DOCKER_HOST", "tcp://the-bundling-engine:2375")
	for host, wantErr := range map[string]string{
		"tcp://10.0.0.3:2375":           "",
		"unix:///run/other/docker.sock": "",
		"ssh://me@build2":               "",
		"http://10.0.0.3:2375":          "has no scheme an engine is reached by",
		"10.0.0.3:2375":                 "has no scheme an engine is reached by",
	} {
		e, err := NewAt(host)
		if wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), wantErr) || !strings.Contains(err.Error(), host) {
				t.Errorf("NewAt(%q) = %v, want an error naming it: %s", host, err, wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("NewAt(%q): %v", host, err)
			continue
		}
		if got := e.DaemonHost(); !strings.HasPrefix(host, "ssh://") && got != host {
			t.Errorf("NewAt(%q) talks to %s", host, got)
		}
		e.Close()
	}
}
