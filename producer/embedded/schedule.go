package embedded

import (
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// This file spreads a run's images over its builders (BUILDERS). BuildKit solves each graph on
// the one daemon it is sent to, so which image goes where is ours: the largest images first, so
// that a big one is not left to start last; each builder takes as many at once as its
// parallelism; a builder lost mid-run hands its images back to the others.

// ParallelParameter sets how many images one BUILDERS entry builds at once: URL?parallel=N.
// BuildKit reports no such figure of its own (its workers list platforms and GC policy, not the
// daemon's max-parallelism), so the default is concurrentBuilds.
const ParallelParameter = "parallel"

// EnginePrefix marks a BUILDERS entry that is another Docker engine, reached as DOCKER_HOST
// reaches one (docker+tcp://HOST:PORT, docker+unix:///PATH, docker+ssh://USER@HOST), whose own
// BuildKit builds — buildx's docker driver on that endpoint. BuildKit has no scheme of its own by
// that name, so an entry is unambiguously a buildkitd or an engine. An engine is known by its ID,
// not its address: one that turns out to be the bundling engine is EngineBuilder (sameEngines).
const EnginePrefix = "docker+"

// buildKitSchemes are the BUILDKIT_HOST schemes a BUILDERS entry may use: those BuildKit's
// client dials itself and the connection helpers internal/buildkit links.
var buildKitSchemes = []string{"tcp", "unix", "ssh", "docker-container"}

// builderEntry is one BUILDERS entry: its BUILDKIT_HOST address (EngineBuilder: the engine's
// own) or, for another Docker engine, that engine's DOCKER_HOST address; and how many images it
// builds at once.
type builderEntry struct {
	Host     string
	Engine   string // DOCKER_HOST of another engine whose BuildKit builds; then Host is ""
	Parallel int
}

// name is the entry as messages name it: as written, less ?parallel.
func (e builderEntry) name() string {
	if e.Engine != "" {
		return EnginePrefix + e.Engine
	}
	return e.Host
}

// parseBuilderEntry reads "URL" or "URL?parallel=N"; for a buildkitd, other query parameters
// stay in the address, for BuildKit's connection helpers. An address no builder is reached by is
// refused here, before anything connects.
func parseBuilderEntry(s string) (builderEntry, error) {
	e := builderEntry{Host: s, Parallel: concurrentBuilds}
	host, query, _ := strings.Cut(s, "?")
	values, err := url.ParseQuery(query)
	if err != nil {
		return e, fmt.Errorf("%s entry %q: %w", BuildersVariable, s, err)
	}
	if values.Has(ParallelParameter) {
		n, err := strconv.Atoi(values.Get(ParallelParameter))
		if err != nil || n < 1 {
			return e, fmt.Errorf("%s entry %q: %s must be a whole number of at least 1 (images built at once on that builder)", BuildersVariable, s, ParallelParameter)
		}
		values.Del(ParallelParameter)
		e.Host, e.Parallel = host, n
		if len(values) > 0 {
			e.Host += "?" + values.Encode()
		}
	}
	if dockerHost, ok := strings.CutPrefix(host, EnginePrefix); ok {
		if len(values) > 0 {
			return e, fmt.Errorf("%s entry %q: an engine entry takes only ?%s=N", BuildersVariable, s, ParallelParameter)
		}
		scheme, rest, _ := strings.Cut(dockerHost, "://")
		if rest == "" || !slices.Contains([]string{"tcp", "unix", "ssh"}, scheme) {
			return e, fmt.Errorf("%s entry %q: after %s comes the engine's DOCKER_HOST address: %stcp://HOST:PORT, %sunix:///PATH or %sssh://USER@HOST", BuildersVariable, s, EnginePrefix, EnginePrefix, EnginePrefix, EnginePrefix)
		}
		e.Host, e.Engine = "", dockerHost
		return e, nil
	}
	if scheme, rest, _ := strings.Cut(host, "://"); host != EngineBuilder && (rest == "" || !slices.Contains(buildKitSchemes, scheme)) {
		return e, fmt.Errorf("%s entry %q is no builder: use %s (this engine's BuildKit), a buildkitd's address (%s://…), or another engine's as %stcp://HOST:PORT, %sunix:///PATH or %sssh://USER@HOST", BuildersVariable, s, EngineBuilder, strings.Join(buildKitSchemes, "://…, "), EnginePrefix, EnginePrefix, EnginePrefix)
	}
	return e, nil
}

// entryUse is what becomes of one BUILDERS entry once the engines among them have said which
// engine they are (their `docker info` ID).
type entryUse int

const (
	// useAsListed: a buildkitd, `engine`, or another engine, reached as written.
	useAsListed entryUse = iota
	// useOwnBuildKit: a docker+ entry that is the bundling engine: its own BuildKit builds, and
	// the images land in it directly (as for `engine`), instead of being copied onto itself.
	useOwnBuildKit
	// useNot: the same engine as an earlier entry; one builder, not two racing on one engine.
	useNot
)

// sameEngines decides what becomes of each entry: ids[i] is the ID the engine of docker+ entry i
// answered ("" for a buildkitd, `engine`, or an engine that did not answer), self the bundling
// engine's ID. An engine listed twice (by two addresses, or as `engine` and docker+) is built on
// once, as its first entry with that entry's ?parallel; a docker+ entry that is the bundling
// engine is its own BuildKit. The lines say so, one per entry not used as written.
func sameEngines(entries []builderEntry, ids []string, self string) ([]entryUse, []string) {
	uses := make([]entryUse, len(entries))
	var notes []string
	first := map[string]int{} // an engine's ID → the entry that builds on it
	for i, e := range entries {
		id, own := ids[i], e.Engine == "" && e.Host == EngineBuilder
		if own {
			id = self
		}
		if id == "" && !own {
			continue // a buildkitd (no engine ID to compare), or an engine that did not answer
		}
		if j, seen := first[id]; seen {
			uses[i] = useNot
			if id == self {
				notes = append(notes, fmt.Sprintf("builds: %s is the bundling engine, listed already as %s: left out, one builder per engine", e.name(), entries[j].name()))
			} else {
				notes = append(notes, fmt.Sprintf("builds: %s is the same engine as %s (ID %s): left out, one builder per engine", e.name(), entries[j].name(), id))
			}
			continue
		}
		first[id] = i
		if !own && id == self {
			uses[i] = useOwnBuildKit
			notes = append(notes, fmt.Sprintf("builds: %s is the bundling engine: its own BuildKit builds there, the images land in it directly (as for %s)", e.name(), EngineBuilder))
		}
	}
	return uses, notes
}

// largestFirst orders the builds by their context's size, largest first (ties: as planned).
func largestFirst(todo []pendingBuild, size map[string]int64) []pendingBuild {
	out := slices.Clone(todo)
	slices.SortStableFunc(out, func(a, b pendingBuild) int {
		switch sa, sb := size[a.Name], size[b.Name]; {
		case sa > sb:
			return -1
		case sa < sb:
			return 1
		}
		return 0
	})
	return out
}

// contextSize is the bytes b's context entries hold on disk, the proxy for how long it builds;
// unreadable files count nothing (the build itself reports them).
func contextSize(b ImageBuild) int64 {
	n := int64(len(b.DockerfileText))
	for _, e := range b.Context {
		switch e.Kind {
		case EntryText:
			n += int64(len(e.Text))
		case EntryDir:
			_ = filepath.WalkDir(e.Source, func(_ string, d fs.DirEntry, err error) error {
				if err == nil && d.Type().IsRegular() {
					if info, err := d.Info(); err == nil {
						n += info.Size()
					}
				}
				return nil
			})
		default:
			if info, err := os.Stat(e.Source); err == nil {
				n += info.Size()
			}
		}
	}
	return n
}

// scheduler is the state of one run's images over its builders: the queue and, per builder,
// how many of its images are under way and whether it is lost. It runs nothing: buildAll's
// goroutines (one per builder slot) ask it what to do, under one lock.
type scheduler struct {
	queue    []pendingBuild
	inFlight []int
	lost     []bool
}

func newScheduler(queue []pendingBuild, builders int) *scheduler {
	return &scheduler{queue: slices.Clone(queue), inFlight: make([]int, builders), lost: make([]bool, builders)}
}

// next is builder b's next image. Without one: wait when an image may still come back (a
// builder with builds under way may be lost), else b's slot is done.
func (s *scheduler) next(b int) (p pendingBuild, ok, wait bool) {
	if s.lost[b] {
		return p, false, false
	}
	if len(s.queue) > 0 {
		p, s.queue = s.queue[0], s.queue[1:]
		s.inFlight[b]++
		return p, true, false
	}
	for i, n := range s.inFlight {
		if n > 0 && !s.lost[i] && i != b {
			return p, false, true
		}
	}
	return p, false, false
}

// finish ends p's build on b; gone says b was lost during it, and p goes back to the front of
// the queue for another builder. lostNow is true the first time b is found lost.
func (s *scheduler) finish(b int, p pendingBuild, gone bool) (lostNow bool) {
	s.inFlight[b]--
	if !gone {
		return false
	}
	s.queue = append([]pendingBuild{p}, s.queue...)
	lostNow = !s.lost[b]
	s.lost[b] = true
	return lostNow
}

// stranded is what is left when every slot is done: images no builder is left to build.
func (s *scheduler) stranded() []pendingBuild { return s.queue }
