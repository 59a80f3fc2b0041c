package pipeline

import (
	"context"
	"fmt"
	"os"

	"github.com/dindbundler/dindbundler/internal/certs"
	"github.com/dindbundler/dindbundler/internal/compose"
)

// GenerateCerts creates a development CA and server/client certificates in CERT_DIR, for the
// compose services' names as well as localhost. Existing files are never overwritten. It is an
// explicit, opt-in step: the Certs stage itself never creates anything.
func (b *Bundler) GenerateCerts(ctx context.Context) error {
	c := b.Config
	var hosts []string
	if fileExists(c.ComposeFile) {
		f, err := compose.ParseFile(c.ComposeFile, c.Vars)
		if err != nil {
			return fmt.Errorf("certs:generate: %w", err)
		}
		for _, s := range f.Services {
			hosts = append(hosts, s.Name)
		}
	}
	created, err := certs.Generate(c.CertDir, certs.GenerateOptions{Hosts: hosts, Now: b.now()})
	if err != nil {
		return fmt.Errorf("certs:generate in %s: %w", c.CertDir, err)
	}
	if len(created) == 0 {
		b.logf("certs:generate: %s already holds every certificate; nothing written", c.CertDir)
	}
	for _, f := range created {
		b.logf("certs:generate: wrote %s", f)
	}
	return nil
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}
