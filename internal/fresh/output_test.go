package fresh_test

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/matryer/is"

	"github.com/dindbundler/dindbundler/internal/fresh"
)

// A cached output is used only while it is what was written: every kind of damage a copy, a
// disk or a killed tool leaves is seen, however the timestamps were set back.
func TestCheckOutput(t *testing.T) {
	content := []byte("the exported bundle, as written\n")
	sum := sha256.Sum256(content)
	written := hex.EncodeToString(sum[:])
	old := time.Now().Add(-time.Hour)
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, path string)
		ok     bool
	}{
		{"untouched", func(*testing.T, string) {}, true},
		{"truncated", func(t *testing.T, p string) { must(t, os.Truncate(p, 10)) }, false},
		{"truncated, times set back", func(t *testing.T, p string) {
			must(t, os.Truncate(p, 10))
			must(t, os.Chtimes(p, old, old))
		}, false},
		{"one byte flipped in place, times set back", func(t *testing.T, p string) {
			f, err := os.OpenFile(p, os.O_WRONLY, 0)
			must(t, err)
			_, err = f.WriteAt([]byte("T"), 0)
			must(t, err)
			must(t, f.Close())
			must(t, os.Chtimes(p, old, old))
		}, false},
		{"replaced by a copy of the same content", func(t *testing.T, p string) {
			must(t, os.Remove(p))
			must(t, os.WriteFile(p, content, 0o644))
		}, true},
		{"removed", func(t *testing.T, p string) { must(t, os.Remove(p)) }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			is := is.New(t)
			path := filepath.Join(t.TempDir(), "bundle.tar.gz")
			is.NoErr(os.WriteFile(path, content, 0o644))
			rec, err := fresh.RecordOutput(path, written)
			is.NoErr(err)
			tc.damage(t, path)
			err = fresh.CheckOutput(path, rec)
			is.Equal(err == nil, tc.ok) // CheckOutput's verdict
			if err != nil {
				t.Logf("refused: %v", err)
			}
		})
	}
	t.Run("no record", func(t *testing.T) {
		is := is.New(t)
		path := filepath.Join(t.TempDir(), "f")
		is.NoErr(os.WriteFile(path, content, 0o644))
		is.True(fresh.CheckOutput(path, fresh.FileRecord{}) != nil)
	})
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
