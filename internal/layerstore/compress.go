package layerstore

import (
	"io"

	"github.com/dindbundler/dindbundler/internal/layerfile"
)

// Compression is how the store keeps layer files (package layerfile, which the in-bundle
// registry shares without linking the store).
type Compression = layerfile.Compression

// The compressions, BUNDLE_COMPRESSION's names.
const (
	None = layerfile.None
	Gzip = layerfile.Gzip
	Zstd = layerfile.Zstd
)

// Decompress returns the uncompressed content of r, whatever it is compressed with.
func Decompress(r io.Reader) (io.ReadCloser, error) { return layerfile.Decompress(r) }

// Detect names the compression of data starting with magic; plain data is None.
func Detect(magic []byte) Compression { return layerfile.Detect(magic) }
