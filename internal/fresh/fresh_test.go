package fresh

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/matryer/is"
)

func TestDecide(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	later := t0.Add(time.Minute)
	ids := map[string]string{"a:1": "sha256:a", "b:1": "sha256:b"}
	tests := []struct {
		name       string
		facts      Facts
		wantFresh  bool
		wantReason string
	}{
		{"force wins", Facts{Force: true, Output: "o", OutputExists: true, OutputTime: later}, false, "FORCE"},
		{"missing output", Facts{Output: "o"}, false, "o does not exist yet"},
		{"output newer than inputs", Facts{Output: "o", OutputExists: true, OutputTime: later, NewestInput: "t.yaml", NewestInputTime: t0}, true, "up to date"},
		{"input newer", Facts{Output: "o", OutputExists: true, OutputTime: t0, NewestInput: "t.yaml", NewestInputTime: later}, false, "t.yaml changed after o"},
		{"equal times are stale", Facts{Output: "o", OutputExists: true, OutputTime: t0, NewestInput: "t.yaml", NewestInputTime: t0}, false, "t.yaml changed"},
		{"key differs", Facts{Output: "o", OutputExists: true, OutputTime: later, RecordedKey: "x", CurrentKey: "y"}, false, "settings"},
		{"key recorded, none now", Facts{Output: "o", OutputExists: true, OutputTime: later, RecordedKey: "x"}, false, "settings"},
		{"same key", Facts{Output: "o", OutputExists: true, OutputTime: later, RecordedKey: "x", CurrentKey: "x"}, true, "up to date"},
		{"same images", Facts{Output: "o", OutputExists: true, Recorded: ids, Current: map[string]string{"a:1": "sha256:a", "b:1": "sha256:b"}}, true, "up to date"},
		{"image rebuilt", Facts{Output: "o", OutputExists: true, Recorded: ids, Current: map[string]string{"a:1": "sha256:a", "b:1": "sha256:NEW"}}, false, "images changed since o was made: b:1"},
		{"image added", Facts{Output: "o", OutputExists: true, Recorded: ids, Current: map[string]string{"a:1": "sha256:a", "b:1": "sha256:b", "c:1": "sha256:c"}}, false, "c:1"},
		{"image gone", Facts{Output: "o", OutputExists: true, Recorded: ids, Current: map[string]string{"a:1": "sha256:a"}}, false, "b:1"},
		{"nothing recorded yet", Facts{Output: "o", OutputExists: true, Recorded: map[string]string{}, Current: ids}, false, "a:1, b:1"},
		{"unreadable output is stale", Facts{Output: "o", OutputExists: true, OutputTime: later, NewestInput: "t.yaml", NewestInputTime: t0, OutputInvalid: errors.New("unexpected EOF")}, false, "o is unreadable, making it again (unexpected EOF)"},
		{"force still says FORCE over an unreadable output", Facts{Force: true, Output: "o", OutputExists: true, OutputInvalid: errors.New("x")}, false, "FORCE"},
		{"older timestamp, changed content", Facts{Output: "o", OutputExists: true, OutputTime: later, NewestInput: "t.yaml", NewestInputTime: t0, ChangedInput: "fn/app.py"}, false, "fn/app.py changed since o was made"},
		{"images not compared when not recorded", Facts{Output: "o", OutputExists: true, Current: ids}, true, "up to date"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			d := Decide(tt.facts)
			is.Equal(d.Fresh, tt.wantFresh)
			is.True(strings.Contains(d.Reason, tt.wantReason)) // reason explains the decision
		})
	}
}

func TestNewest(t *testing.T) {
	is := is.New(t)
	dir := t.TempDir()
	t0 := time.Now().Add(-time.Hour)
	write := func(rel string, mod time.Time) string {
		p := filepath.Join(dir, rel)
		is.NoErr(os.MkdirAll(filepath.Dir(p), 0o755))
		is.NoErr(os.WriteFile(p, []byte(rel), 0o644))
		is.NoErr(os.Chtimes(p, mod, mod))
		return p
	}
	write("template.yaml", t0)
	code := write("src/app.py", t0.Add(time.Minute))
	write(".esb/dev/bundle/manifest.json", t0.Add(time.Hour)) // an output: excluded
	write(".git/index", t0.Add(time.Hour))

	path, mod, err := Newest([]string{dir}, []string{filepath.Join(dir, ".esb"), filepath.Join(dir, ".git")})
	is.NoErr(err)
	is.Equal(path, code)
	is.True(mod.Equal(t0.Add(time.Minute)))

	extra := write("../compose.yml", t0.Add(2*time.Minute))
	path, _, err = Newest([]string{dir, extra}, []string{filepath.Join(dir, ".esb"), filepath.Join(dir, ".git")})
	is.NoErr(err)
	is.Equal(path, extra) // plain files are inputs too

	_, _, err = Newest([]string{filepath.Join(dir, "missing")}, nil)
	is.True(err != nil) // a missing input is never fresh

	// An output named through a link, or reached through one, is still excluded.
	is.NoErr(os.Symlink(filepath.Join(dir, ".esb"), filepath.Join(dir, "out-link")))
	is.NoErr(os.Symlink(filepath.Join(dir, ".esb"), filepath.Join(dir, "src", "linked-output")))
	path, _, err = Newest([]string{dir}, []string{filepath.Join(dir, "out-link"), filepath.Join(dir, ".git")})
	is.NoErr(err)
	is.Equal(path, code)
}

func TestStateRoundTrip(t *testing.T) {
	is := is.New(t)
	path := filepath.Join(t.TempDir(), "state", "save.json")
	s, err := ReadState(path)
	is.NoErr(err)
	is.Equal(s.Key, "") // nothing recorded

	want := State{Key: Key("a", "b"), Images: map[string]string{"a:1": "sha256:a"}, Output: "sha256:o"}
	is.NoErr(WriteState(path, want))
	got, err := ReadState(path)
	is.NoErr(err)
	is.Equal(got, want)

	is.NoErr(RemoveState(path))
	is.NoErr(RemoveState(path)) // removing twice is fine
	got, err = ReadState(path)
	is.NoErr(err)
	is.Equal(got.Key, "")

	is.NoErr(os.WriteFile(path, []byte("{"), 0o644))
	got, err = ReadState(path)
	is.NoErr(err) // a corrupt record means "rebuild", not failure
	is.Equal(got.Key, "")
}

func TestKey(t *testing.T) {
	is := is.New(t)
	is.Equal(Key("a", "b"), Key("a", "b"))
	is.True(Key("a", "b") != Key("ab"))     // parts are delimited
	is.True(Key("a", "b") != Key("b", "a")) // order matters
}
