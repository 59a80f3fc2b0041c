package enginetest

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// Unique is the image name ref (repo or repo:tag) made this checkout's own: its repository gets
// the suffix CheckoutID. Two checkouts testing on one engine at once then neither replace nor
// remove each other's images, while the runs of one checkout keep reusing (and their cleanups
// removing) the same names. For a test's own images; not for images the kit builds once and
// shares across runs on purpose (bases, engine images, buildkitd).
func Unique(ref string) string {
	repo, tag := ref, ""
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		repo, tag = ref[:i], ref[i:]
	}
	return repo + "-" + CheckoutID() + tag
}

// CheckoutID is 8 hex digits of the hash of this checkout's directory: the nearest directory
// holding go.mod above the test's working directory (go test runs a test in its package's
// directory), or that working directory itself.
var CheckoutID = sync.OnceValue(func() string {
	dir, err := os.Getwd()
	if err != nil {
		dir = os.Args[0]
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			dir = d
			break
		}
		if filepath.Dir(d) == d {
			break
		}
	}
	sum := sha256.Sum256([]byte(dir))
	return hex.EncodeToString(sum[:4])
})
