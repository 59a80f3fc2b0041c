package bench

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// Peak RSS of a child, Linux. The obvious figure, the rusage Maxrss of the waited-for child, is
// not the child's own here: Go starts children with vfork (CLONE_VM), so at exec the kernel folds
// the parent's high-water RSS into the child's (fs/exec.c, setmax_mm_hiwater_rss). A harness
// holding 200 MB makes /bin/true report 200 MB. So the child's own VmHWM is sampled from /proc
// while it runs (a new mm after exec, so only the child's pages), and the rusage figure is used
// only when it exceeds the parent's high-water mark, i.e. when it cannot be the parent's:
// then it is the child's, or a waited-for descendant's, true peak.

// rssSampleEvery is the sampling period; VmHWM is a high-water mark, so a sample misses only a
// peak reached in the last period before exit.
const rssSampleEvery = 10 * time.Millisecond

type rssSampler struct {
	peak atomic.Int64
	stop chan struct{}
	done chan struct{}
}

// sampleRSS starts sampling the VmHWM of pid (already exec'd: exec.Cmd.Start returns after it).
func sampleRSS(pid int) *rssSampler {
	s := &rssSampler{stop: make(chan struct{}), done: make(chan struct{})}
	path := fmt.Sprintf("/proc/%d/status", pid)
	go func() {
		defer close(s.done)
		t := time.NewTicker(rssSampleEvery)
		defer t.Stop()
		for {
			if v := vmHWM(path); v > s.peak.Load() {
				s.peak.Store(v)
			}
			select {
			case <-s.stop:
				return
			case <-t.C:
			}
		}
	}()
	return s
}

// finish stops sampling once the child was waited for and returns its peak RSS in bytes.
func (s *rssSampler) finish(ps *os.ProcessState) int64 {
	close(s.stop)
	<-s.done
	peak := s.peak.Load()
	if ps == nil {
		return peak
	}
	if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
		// Linux reports KiB.
		if waited := ru.Maxrss << 10; waited > vmHWM("/proc/self/status") && waited > peak {
			peak = waited
		}
	}
	return peak
}

// vmHWM reads the VmHWM line of a /proc status file in bytes; 0 when the process is gone.
func vmHWM(path string) int64 {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			f := strings.Fields(v)
			if len(f) > 0 {
				kb, _ := strconv.ParseInt(f[0], 10, 64)
				return kb << 10
			}
		}
	}
	return 0
}
