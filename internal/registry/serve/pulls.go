package serve

import (
	"log"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/docker/go-units"
)

// pulls turns requests into one log line per pull. The protocol has no "pull finished" request
// (an engine fetches a manifest, then only the blobs it lacks), so a pull of a repository is the
// run of requests to it that ends when none is in flight for the idle time.
type pulls struct {
	mu   sync.Mutex
	idle time.Duration
	log  *log.Logger
	open map[string]*pull // by repository
}

type pull struct {
	p       *pulls
	repo    string
	images  []string
	start   time.Time
	last    time.Time
	bytes   int64
	blobs   int
	active  int
	timer   *time.Timer
	touched int // bumped by every request, so a stale timer does nothing
}

func newPulls(idle time.Duration, l *log.Logger) *pulls {
	return &pulls{idle: idle, log: l, open: map[string]*pull{}}
}

// begin counts a request to repo (for the manifest of image, or a blob when image is "") and
// returns the pull it belongs to; end must follow.
func (ps *pulls) begin(repo, image string) *pull {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	p := ps.open[repo]
	if p == nil {
		p = &pull{p: ps, repo: repo, start: time.Now()}
		ps.open[repo] = p
	}
	if image != "" && !slices.Contains(p.images, image) {
		p.images = append(p.images, image)
	}
	p.active++
	p.touched++
	if p.timer != nil {
		p.timer.Stop()
	}
	return p
}

// end records a finished request that sent n bytes (blob: whether it was a blob's body).
func (p *pull) end(n int64, blob bool) {
	ps := p.p
	ps.mu.Lock()
	defer ps.mu.Unlock()
	p.bytes += n
	if blob {
		p.blobs++
	}
	p.active--
	p.last = time.Now()
	if p.active > 0 {
		return
	}
	touched := p.touched
	p.timer = time.AfterFunc(ps.idle, func() {
		ps.mu.Lock()
		defer ps.mu.Unlock()
		if p.touched != touched || p.active > 0 || ps.open[p.repo] != p {
			return
		}
		ps.logLocked(p)
	})
}

// flush logs every open pull (at shutdown).
func (ps *pulls) flush() {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	for _, p := range ps.open {
		if p.timer != nil {
			p.timer.Stop()
		}
		ps.logLocked(p)
	}
}

func (ps *pulls) logLocked(p *pull) {
	delete(ps.open, p.repo)
	name := strings.Join(p.images, ", ")
	if name == "" {
		name = p.repo + " (blobs only)"
	}
	end := p.last
	if end.IsZero() {
		end = time.Now()
	}
	ps.log.Printf("pull %s: %d bytes (%s) in %.2f s, %d blobs", name, p.bytes, units.BytesSize(float64(p.bytes)), end.Sub(p.start).Seconds(), p.blobs)
}
