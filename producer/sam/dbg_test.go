package sam

import (
	"os"
	"path/filepath"
	"testing"
)

func TestDbgOK(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(corpusDir(), "*.yaml"))
	for _, f := range files {
		data, _ := os.ReadFile(f)
		_, err := Parse(data, filepath.Dir(f), Options{})
		if err == nil {
			t.Logf("OK %s", filepath.Base(f))
		} else {
			t.Logf("ERR %s %v", filepath.Base(f), err)
		}
	}
}
