// Package registrytest is the test kit of the bundle's registry, shared by the handler's tests
// (internal/registry) and the command's (cmd/dindbundler-registry): a log the tests read while
// the registry writes it, and a free loopback address to serve on. Never imported by shipped
// code.
package registrytest

import (
	"bytes"
	"net"
	"sync"
	"testing"
)

// SyncBuffer is a log destination tests read while the registry writes.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String is what was written so far.
func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// FreeAddr is a host:port on 127.0.0.1 free now (and so in a fresh engine namespace too).
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
