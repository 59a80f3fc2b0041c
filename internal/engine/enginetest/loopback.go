package enginetest

import (
	"os/exec"
	"strconv"
	"testing"
)

// LoopbackCommand returns a command running the host program name with args where e sees its own
// 127.0.0.1: as it is for the host engine, which shares the test's loopback; for a matrix engine
// inside the engine container's network namespace (`nsenter -n`, files and everything else are
// the host's), so a server the program starts on 127.0.0.1 is a loopback server to that engine,
// as a registry inside a bundle is to the bundle's engine. The program must not need the host's
// network.
func (e Engine) LoopbackCommand(t testing.TB, name string, args ...string) *exec.Cmd {
	t.Helper()
	if e.flavor == nil {
		return exec.Command(name, args...)
	}
	r := e.started(t)
	// nsenter without --fork enters the namespace and execs name: the command's process is the
	// program itself, so signals reach it directly.
	return exec.Command("nsenter", append([]string{"-t", strconv.Itoa(r.Pid), "-n", "--", name}, args...)...)
}
