package sam

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/matryer/is"

	"github.com/dindbundler/dindbundler/producer/sam/samtest"
)

// leafErrors flattens errors.Join trees.
func leafErrors(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, leafErrors(e)...)
		}
		return out
	}
	return []error{err}
}

// parseNoPanic turns a panic into an error naming what panicked, so the test reports the file.
func parseNoPanic(data []byte, dir string) (tpl *Template, err error, panicked any) {
	defer func() {
		if r := recover(); r != nil {
			panicked = r
		}
	}()
	tpl, err = Parse(data, dir, Options{})
	return tpl, err, nil
}

func TestCorpus(t *testing.T) {
	files := samtest.CorpusFiles(t)
	var parsed, functions int
	byProperty := map[string]int{}
	var other []string
	for _, f := range files {
		name := filepath.Base(f)
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatalf("read corpus template: %v", err)
		}
		tpl, err, panicked := parseNoPanic(data, filepath.Dir(f))
		if panicked != nil {
			t.Errorf("%s: Parse panicked: %v", name, panicked)
			continue
		}
		if (tpl == nil) == (err == nil) {
			t.Errorf("%s: want exactly one of template (%v) and error (%v)", name, tpl != nil, err)
			continue
		}
		if err == nil {
			parsed++
			functions += len(tpl.Functions)
			continue
		}
		if strings.Contains(err.Error(), "resource ") {
			// An error that talks about a resource must be a *ResourceError naming it.
			var re *ResourceError
			if !errors.As(err, &re) || re.Resource == "" {
				t.Errorf("%s: error about a resource is not a *ResourceError with Resource set: %v", name, err)
			}
		}
		for _, e := range leafErrors(err) {
			var re *ResourceError
			if errors.As(e, &re) && re.Resource != "" {
				byProperty[re.Property]++
				continue
			}
			other = append(other, fmt.Sprintf("%s: %v", name, e))
		}
	}
	props := make([]string, 0, len(byProperty))
	total := 0
	for p, n := range byProperty {
		props = append(props, fmt.Sprintf("%s=%d", p, n))
		total += n
	}
	sort.Strings(props)
	t.Logf("corpus %s: %d templates, %d parsed (%d functions), %d resource errors {%s}, %d other errors",
		samtest.CorpusDir(), len(files), parsed, functions, total, strings.Join(props, " "), len(other))
	for _, o := range other {
		t.Logf("other error: %s", o)
	}
	is := is.New(t)
	is.True(parsed > 0) // some corpus templates are usable offline
}
