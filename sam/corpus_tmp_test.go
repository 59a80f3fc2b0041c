package sam

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestTmpCorpus(t *testing.T) {
	files, _ := filepath.Glob("/work/shared/sam-corpus/*.yaml")
	props := map[string]int{}
	ok := 0
	for _, f := range files {
		data, _ := os.ReadFile(f)
		tpl, err := Parse(data, filepath.Dir(f), Options{})
		if err == nil {
			ok++
			_ = tpl
			continue
		}
		var re *ResourceError
		if errors.As(err, &re) {
			props[re.Property]++
			if re.Property != "CodeUri" {
				t.Logf("%s: %v", filepath.Base(f), err)
			}
		} else {
			t.Logf("%s: %v", filepath.Base(f), err)
		}
	}
	t.Logf("ok %d props %v", ok, props)
}
