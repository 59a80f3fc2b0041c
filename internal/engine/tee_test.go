package engine

import (
	"bytes"
	"os"
	"testing"

	"github.com/matryer/is"
)

// TestTee: both writers get everything; Verbose and the terminal's Fd survive the tee.
func TestTee(t *testing.T) {
	is := is.New(t)
	var a, b bytes.Buffer
	w := Tee(&a, &b)
	_, err := w.Write([]byte("step\n"))
	is.NoErr(err)
	is.Equal(a.String(), "step\n")
	is.Equal(b.String(), "step\n")
	is.True(!isVerbose(w))
	_, isTerm := terminal(w)
	is.True(!isTerm) // a buffer is no terminal

	is.True(isVerbose(Tee(Verbose(&a), &b))) // mage -v stays verbose

	f, err := os.CreateTemp(t.TempDir(), "progress")
	is.NoErr(err)
	defer f.Close()
	fd, _ := terminal(Tee(f, &b))
	is.Equal(fd, f.Fd()) // the file's descriptor is passed on

	_, err = Tee(nil, &b).Write([]byte("quiet\n"))
	is.NoErr(err)
}
