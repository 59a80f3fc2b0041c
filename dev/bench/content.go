package bench

import (
	"bufio"
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"
	"strings"
)

// blockSize is the unit of the content pattern: each block is its random part, then its text
// part. Far larger than gzip's 32 KiB window would make the text runs too long to matter for
// the window; this size keeps both compressors seeing a mix, like real image layers.
const blockSize = 64 << 10

// textLine is the repetitive text: compressible, but not a run of one byte.
const textLine = "dindbundler benchmark layer: the quick brown fox jumps over the lazy dog 0123456789\n"

// WriteLayer writes the content of layer l: size bytes, deterministic for (name, variant, size,
// compressible), in blocks whose first (1-compressible) part is ChaCha8 pseudo-random bytes and
// whose rest is repeated text. It holds one block in memory whatever the size.
func WriteLayer(w io.Writer, l Layer, compressible float64) error {
	seed := sha256.Sum256([]byte(fmt.Sprintf("dindbundler-bench %s v%d", l.Name, l.Variant)))
	rng := rand.NewChaCha8(seed)
	text := strings.Repeat(textLine, blockSize/len(textLine)+1)
	bw := bufio.NewWriterSize(w, blockSize)
	block := make([]byte, blockSize)
	for left := l.Size; left > 0; {
		n := int64(blockSize)
		if left < n {
			n = left
		}
		random := int(float64(n)*(1-compressible) + 0.5)
		b := block[:n]
		_, _ = rng.Read(b[:random]) // ChaCha8.Read never fails
		copy(b[random:], text)
		if _, err := bw.Write(b); err != nil {
			return fmt.Errorf("write layer %s: %w", l.Name, err)
		}
		left -= n
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write layer %s: %w", l.Name, err)
	}
	return nil
}

// LayerFile is the generated file's name under the source directory: it names everything the
// content depends on, so a file already there is reused only when it is the same content.
func LayerFile(l Layer, compressible float64) string {
	return fmt.Sprintf("%s-v%d-%d-c%s.bin", l.Name, l.Variant, l.Size, strconv.FormatFloat(compressible, 'g', -1, 64))
}
