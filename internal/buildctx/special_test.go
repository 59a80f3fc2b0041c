package buildctx

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/matryer/is"
)

// TestTreeRefusesSpecialFiles: a named pipe under CONFIG_DIR, or a link to a device, is refused
// naming it and what it is; it was left out silently.
func TestTreeRefusesSpecialFiles(t *testing.T) {
	is := is.New(t)
	root, err := filepath.EvalSymlinks(t.TempDir())
	is.NoErr(err)
	config := filepath.Join(root, "config")
	is.NoErr(os.MkdirAll(config, 0o755))
	is.NoErr(os.WriteFile(filepath.Join(config, "app.conf"), []byte("x\n"), 0o644))
	fifo := filepath.Join(config, "events.pipe")
	is.NoErr(syscall.Mkfifo(fifo, 0o644))
	_, err = Tree(config, root, "app/config", 0, 0)
	is.True(err != nil)
	is.True(strings.Contains(err.Error(), fifo+" is a named pipe (FIFO)"))
}
