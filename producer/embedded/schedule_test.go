package embedded

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/matryer/is"
)

func TestParseBuilderEntry(t *testing.T) {
	for _, c := range []struct {
		in       string
		host     string
		engine   string
		parallel int
		err      string
	}{
		{in: "unix:///run/buildkit/buildkitd.sock", host: "unix:///run/buildkit/buildkitd.sock", parallel: concurrentBuilds},
		{in: "engine", host: "engine", parallel: concurrentBuilds},
		{in: "tcp://10.0.0.2:1234?parallel=2", host: "tcp://10.0.0.2:1234", parallel: 2},
		{in: "engine?parallel=16", host: "engine", parallel: 16},
		{in: "ssh://me@build1:2222/run/buildkit/buildkitd.sock?parallel=4", host: "ssh://me@build1:2222/run/buildkit/buildkitd.sock", parallel: 4},
		// Parameters of the connection helpers stay in the address.
		{in: "docker-container://bk?context=x&parallel=3", host: "docker-container://bk?context=x", parallel: 3},
		{in: "docker-container://bk?context=x", host: "docker-container://bk?context=x", parallel: concurrentBuilds},
		// Other Docker engines: docker+ and their DOCKER_HOST.
		{in: "docker+tcp://10.0.0.3:2375", engine: "tcp://10.0.0.3:2375", parallel: concurrentBuilds},
		{in: "docker+unix:///var/run/docker.sock?parallel=3", engine: "unix:///var/run/docker.sock", parallel: 3},
		{in: "docker+ssh://me@build2", engine: "ssh://me@build2", parallel: concurrentBuilds},
		{in: "docker+tcp://h:1?context=x", err: "only ?parallel=N"},
		{in: "docker+http://h:1", err: "DOCKER_HOST address"},
		{in: "docker+", err: "DOCKER_HOST address"},
		{in: "docker-container://", err: "is no builder"},
		{in: "http://h:1234", err: "is no builder"},
		{in: "10.0.0.2:1234", err: "is no builder"},
		{in: "engines", err: "is no builder"},
		{in: "tcp://h:1?parallel=0", err: "at least 1"},
		{in: "tcp://h:1?parallel=many", err: "at least 1"},
		{in: "tcp://h:1?%zz", err: "invalid URL escape"},
	} {
		t.Run(c.in, func(t *testing.T) {
			is := is.New(t)
			e, err := parseBuilderEntry(c.in)
			if c.err != "" {
				is.True(err != nil && strings.Contains(err.Error(), c.err))
				is.True(strings.Contains(err.Error(), BuildersVariable))
				return
			}
			is.NoErr(err)
			is.Equal(e, builderEntry{Host: c.host, Engine: c.engine, Parallel: c.parallel})
		})
	}
}

func TestLargestFirst(t *testing.T) {
	is := is.New(t)
	todo := []pendingBuild{named("a"), named("b"), named("c"), named("d")}
	got := largestFirst(todo, map[string]int64{"a": 10, "b": 300, "c": 10, "d": 20})
	is.Equal(names(got), []string{"b", "d", "a", "c"})  // ties keep the planned order
	is.Equal(names(todo), []string{"a", "b", "c", "d"}) // the input stays as it was
}

func TestContextSize(t *testing.T) {
	is := is.New(t)
	dir := t.TempDir()
	is.NoErr(os.MkdirAll(filepath.Join(dir, "code", "sub"), 0o755))
	is.NoErr(os.WriteFile(filepath.Join(dir, "code", "a"), make([]byte, 100), 0o644))
	is.NoErr(os.WriteFile(filepath.Join(dir, "code", "sub", "b"), make([]byte, 50), 0o644))
	is.NoErr(os.WriteFile(filepath.Join(dir, "one.zip"), make([]byte, 7), 0o644))
	b := ImageBuild{DockerfileText: "FROM x\n", Context: []ContextEntry{
		{Kind: EntryDir, Source: filepath.Join(dir, "code")},
		{Kind: EntryZip, Source: filepath.Join(dir, "one.zip")},
		{Kind: EntryText, Text: "abc"},
		{Kind: EntryFile, Source: filepath.Join(dir, "missing")}, // the build reports it
	}}
	is.Equal(contextSize(b), int64(7+100+50+7+3))
}

// TestScheduler drives the scheduler through runs of two builders: what each slot is given,
// when it must wait for images that may come back, and where a lost builder's images go.
func TestScheduler(t *testing.T) {
	type step struct {
		builder int
		op      string // "next": expect want ("" none) and wait; "ok"/"gone": finish image want
		want    string
		wait    bool
		lostNow bool
	}
	for _, c := range []struct {
		name     string
		queue    []string
		steps    []step
		stranded []string
	}{{
		name:  "both builders take from one queue, in its order",
		queue: []string{"big", "mid", "small"},
		steps: []step{
			{builder: 0, op: "next", want: "big"},
			{builder: 1, op: "next", want: "mid"},
			{builder: 1, op: "ok", want: "mid"},
			{builder: 1, op: "next", want: "small"},
			{builder: 0, op: "ok", want: "big"},
			{builder: 0, op: "next", wait: true}, // builder 1's image may yet come back
			{builder: 1, op: "ok", want: "small"},
			{builder: 1, op: "next"},
		},
	}, {
		name:  "an idle slot waits while another builder's images may come back",
		queue: []string{"a"},
		steps: []step{
			{builder: 0, op: "next", want: "a"},
			{builder: 1, op: "next", wait: true},
			{builder: 0, op: "ok", want: "a"},
			{builder: 1, op: "next"},
		},
	}, {
		name:  "a lost builder's in-flight images go to the other, first in line, and it is named once",
		queue: []string{"a", "b", "c", "d"},
		steps: []step{
			{builder: 0, op: "next", want: "a"},
			{builder: 0, op: "next", want: "b"},
			{builder: 1, op: "next", want: "c"},
			{builder: 0, op: "gone", want: "a", lostNow: true},
			{builder: 0, op: "gone", want: "b"}, // the second failure names it no more
			{builder: 0, op: "next"},            // a lost builder takes nothing
			{builder: 1, op: "next", want: "b"}, // its images come first
			{builder: 1, op: "ok", want: "c"},
			{builder: 1, op: "next", want: "a"},
			{builder: 1, op: "next", want: "d"},
			{builder: 1, op: "ok", want: "a"},
			{builder: 1, op: "ok", want: "b"},
			{builder: 1, op: "ok", want: "d"},
			{builder: 1, op: "next"},
		},
	}, {
		name:  "the last builder lost strands what is left",
		queue: []string{"a", "b", "c"},
		steps: []step{
			{builder: 0, op: "next", want: "a"},
			{builder: 1, op: "next", want: "b"},
			{builder: 1, op: "gone", want: "b", lostNow: true},
			{builder: 0, op: "ok", want: "a"},
			{builder: 0, op: "next", want: "b"},
			{builder: 0, op: "gone", want: "b", lostNow: true},
			{builder: 0, op: "next"},
			{builder: 1, op: "next"},
		},
		stranded: []string{"b", "c"},
	}} {
		t.Run(c.name, func(t *testing.T) {
			is := is.New(t)
			var queue []pendingBuild
			for _, n := range c.queue {
				queue = append(queue, named(n))
			}
			s := newScheduler(queue, 2)
			for i, st := range c.steps {
				t.Run(fmt.Sprintf("step %d: builder %d %s %s", i, st.builder, st.op, st.want), func(t *testing.T) {
					is := is.New(t)
					switch st.op {
					case "next":
						p, ok, wait := s.next(st.builder)
						is.Equal(ok, st.want != "")
						is.Equal(p.Name, st.want)
						is.Equal(wait, st.wait)
					case "ok", "gone":
						is.Equal(s.finish(st.builder, named(st.want), st.op == "gone"), st.lostNow)
					}
				})
			}
			is.Equal(names(s.stranded()), c.stranded)
		})
	}
}

func named(name string) pendingBuild { return pendingBuild{ImageBuild: ImageBuild{Name: name}} }

func names(ps []pendingBuild) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Name)
	}
	return out
}

// TestSameEngines: the engines of docker+ entries said their IDs; the bundling engine is "self".
func TestSameEngines(t *testing.T) {
	const (
		sock  = "docker+unix:///var/run/docker.sock"
		tcp   = "docker+tcp://127.0.0.1:2375"
		other = "docker+tcp://10.0.0.3:2375"
		again = "docker+ssh://me@build3"
		bkd   = "tcp://10.0.0.2:1234"
	)
	for _, c := range []struct {
		name    string
		entries []string
		ids     []string // by entry: the ID its engine answered
		self    string
		uses    []entryUse
		notes   []string
	}{
		{name: "another engine and a buildkitd", entries: []string{other, bkd}, ids: []string{"B", ""}, self: "A",
			uses: []entryUse{useAsListed, useAsListed}},
		{name: "the bundling engine by its socket", entries: []string{sock, other}, ids: []string{"A", "B"}, self: "A",
			uses:  []entryUse{useOwnBuildKit, useAsListed},
			notes: []string{"builds: " + sock + " is the bundling engine: its own BuildKit builds there, the images land in it directly (as for engine)"}},
		{name: "the bundling engine by two addresses", entries: []string{tcp, sock}, ids: []string{"A", "A"}, self: "A",
			uses: []entryUse{useOwnBuildKit, useNot},
			notes: []string{
				"builds: " + tcp + " is the bundling engine: its own BuildKit builds there, the images land in it directly (as for engine)",
				"builds: " + sock + " is the bundling engine, listed already as " + tcp + ": left out, one builder per engine",
			}},
		{name: "engine, then the bundling engine by docker+", entries: []string{"engine", sock}, ids: []string{"", "A"}, self: "A",
			uses:  []entryUse{useAsListed, useNot},
			notes: []string{"builds: " + sock + " is the bundling engine, listed already as engine: left out, one builder per engine"}},
		{name: "engine twice, nothing asked", entries: []string{"engine", bkd, "engine?parallel=2"}, ids: []string{"", "", ""},
			uses:  []entryUse{useAsListed, useAsListed, useNot},
			notes: []string{"builds: engine is the bundling engine, listed already as engine: left out, one builder per engine"}},
		{name: "another engine by two addresses", entries: []string{other + "?parallel=2", again, bkd}, ids: []string{"B", "B", ""}, self: "A",
			uses:  []entryUse{useAsListed, useNot, useAsListed},
			notes: []string{"builds: " + again + " is the same engine as " + other + " (ID B): left out, one builder per engine"}},
		{name: "an engine that did not answer is nobody's twin", entries: []string{other, again}, ids: []string{"", "B"}, self: "A",
			uses: []entryUse{useAsListed, useAsListed}},
		{name: "two buildkitds are not compared", entries: []string{bkd, bkd + "?parallel=2"}, ids: []string{"", ""}, self: "A",
			uses: []entryUse{useAsListed, useAsListed}},
	} {
		t.Run(c.name, func(t *testing.T) {
			is := is.New(t)
			var entries []builderEntry
			for _, s := range c.entries {
				e, err := parseBuilderEntry(s)
				is.NoErr(err)
				entries = append(entries, e)
			}
			uses, notes := sameEngines(entries, c.ids, c.self)
			is.Equal(uses, c.uses)
			is.Equal(notes, c.notes)
		})
	}
}
