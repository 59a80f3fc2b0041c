package serve

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/dindbundler/dindbundler/internal/layerfile"
)

// Options adjust what the handler serves.
type Options struct {
	// Uncompressed serves every layer decompressed on the fly, under its diffID and uncompressed
	// size, with manifests of its own: for engines that cannot unpack the stored compression
	// (Engine 20.10 and zstd). Nothing is precomputed or written for it.
	Uncompressed bool
	// Log receives one line per pull (image, bytes, seconds), per damaged blob and per request
	// for an image the bundle does not have; nil discards them.
	Log *log.Logger
	// PullIdle is how long a repository must see no request before its pull counts as finished
	// and is logged (default 1 s: an engine fetches an image's blobs back to back).
	PullIdle time.Duration
}

// Handler serves an Index's images read-only. Close logs the pulls still open.
type Handler struct {
	address string
	dir     string
	opts    Options
	repos   map[string]*repository
	pulls   *pulls

	mu     sync.Mutex
	damage map[v1.Hash]string // blobs found damaged: the log line
}

type repository struct {
	manifests map[string]*manifest // by tag and by digest
	tags      []string
	blobs     map[v1.Hash]*blob
}

type manifest struct {
	body   []byte
	digest v1.Hash
	image  string // the full name it was planned for
}

// blob is one servable blob: where its bytes come from and what they must hash to.
type blob struct {
	digest     v1.Hash
	size       int64
	path       string
	decompress bool
	what       string   // "config" or "layer <diffID>"
	images     []string // the served images that use it
}

// NewHandler returns the handler serving idx's images from the files in imagesDir. It reads no
// layer file: each is opened when a client asks for it.
func NewHandler(idx Index, imagesDir string, opts Options) (*Handler, error) {
	if opts.Log == nil {
		opts.Log = log.New(io.Discard, "", 0)
	}
	if opts.PullIdle <= 0 {
		opts.PullIdle = time.Second
	}
	h := &Handler{address: idx.Address, dir: imagesDir, opts: opts, repos: map[string]*repository{}, damage: map[v1.Hash]string{}}
	h.pulls = newPulls(opts.PullIdle, opts.Log)
	blobs := map[v1.Hash]*blob{}
	addBlob := func(b blob, image string) *blob {
		known, ok := blobs[b.digest]
		if !ok {
			known = &b
			blobs[b.digest] = known
		}
		if !slices.Contains(known.images, image) {
			known.images = append(known.images, image)
		}
		return known
	}
	for _, img := range idx.Images {
		body, digest, err := img.Manifest(opts.Uncompressed)
		if err != nil {
			return nil, err
		}
		want := img.Digest
		if opts.Uncompressed {
			want = img.UncompressedDigest
		}
		if digest != want {
			return nil, fmt.Errorf("registry index: the manifest of %s is %s, the index records %s: the index was written by another version of dindbundler; rebuild the bundle", img.Name, digest, want)
		}
		r := h.repos[img.Repository]
		if r == nil {
			r = &repository{manifests: map[string]*manifest{}, blobs: map[v1.Hash]*blob{}}
			h.repos[img.Repository] = r
		}
		m := &manifest{body: body, digest: digest, image: img.Name}
		if _, dup := r.manifests[img.Tag]; dup {
			return nil, fmt.Errorf("registry index: %s is listed twice", img.Name)
		}
		r.manifests[img.Tag] = m
		r.manifests[digest.String()] = m
		r.tags = append(r.tags, img.Tag)
		c := addBlob(blob{digest: img.Config.Digest, size: img.Config.Size, path: h.path(img.Config.File), what: "config"}, img.Name)
		r.blobs[c.digest] = c
		for _, l := range img.Layers {
			b := blob{digest: l.FileDigest, size: l.FileSize, path: h.path(l.File), what: "layer " + l.DiffID.String()}
			if opts.Uncompressed {
				b.digest, b.size, b.decompress = l.DiffID, l.Size, l.Compression != layerfile.None
			}
			lb := addBlob(b, img.Name)
			r.blobs[lb.digest] = lb
		}
	}
	for _, r := range h.repos {
		slices.Sort(r.tags)
	}
	return h, nil
}

func (h *Handler) path(file string) string {
	return filepath.Join(h.dir, filepath.FromSlash(filepath.Clean("/"+file)))
}

// Close logs the pulls that have not been logged yet (at shutdown).
func (h *Handler) Close() { h.pulls.flush() }

// ServeHTTP answers the registry API's read requests: /v2/, manifests and blobs (GET, HEAD) and
// tag lists. Writes are refused with 405 and the distribution spec's UNSUPPORTED code: the
// registry is read-only by design, and 401 would send clients looking for credentials that
// would not help.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeError(w, r, http.StatusMethodNotAllowed, "UNSUPPORTED",
			"this registry is read-only: it serves the images of the bundle it runs in, and takes no push or delete")
		return
	}
	p, ok := strings.CutPrefix(r.URL.Path, "/v2/")
	switch {
	case r.URL.Path == "/v2" || r.URL.Path == "/v2/":
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", "2")
		w.WriteHeader(http.StatusOK)
		if r.Method == http.MethodGet {
			_, _ = io.WriteString(w, "{}")
		}
	case !ok:
		writeError(w, r, http.StatusNotFound, "UNSUPPORTED", "not a registry API path: "+r.URL.Path)
	case p == "_catalog":
		h.serveCatalog(w, r)
	default:
		if name, ref, ok := cut(p, "/manifests/"); ok {
			h.serveManifest(w, r, name, ref)
		} else if name, ref, ok := cut(p, "/blobs/"); ok {
			h.serveBlob(w, r, name, ref)
		} else if name, ok := strings.CutSuffix(p, "/tags/list"); ok {
			h.serveTags(w, r, name)
		} else {
			writeError(w, r, http.StatusNotFound, "UNSUPPORTED", "not a registry API path: "+r.URL.Path)
		}
	}
}

// cut splits "name/manifests/ref" at the last sep: repository names may contain "/".
func cut(p, sep string) (name, ref string, ok bool) {
	i := strings.LastIndex(p, sep)
	if i <= 0 || i+len(sep) == len(p) {
		return "", "", false
	}
	return p[:i], p[i+len(sep):], true
}

func (h *Handler) repo(w http.ResponseWriter, r *http.Request, name string) *repository {
	repo := h.repos[name]
	if repo == nil {
		h.opts.Log.Printf("%s %s: no repository %s/%s in this bundle (it serves %s)", r.Method, r.URL.Path, h.address, name, h.served())
		writeError(w, r, http.StatusNotFound, "NAME_UNKNOWN",
			fmt.Sprintf("repository %s/%s is not in this bundle (it serves %s)", h.address, name, h.served()))
	}
	return repo
}

// served lists the repositories, for messages about unknown names.
func (h *Handler) served() string {
	names := make([]string, 0, len(h.repos))
	for n := range h.repos {
		names = append(names, n)
	}
	slices.Sort(names)
	if len(names) > 10 {
		names = append(names[:10], fmt.Sprintf("… %d more", len(names)-10))
	}
	if len(names) == 0 {
		return "no image"
	}
	return strings.Join(names, ", ")
}

func (h *Handler) serveManifest(w http.ResponseWriter, r *http.Request, name, ref string) {
	repo := h.repo(w, r, name)
	if repo == nil {
		return
	}
	m := repo.manifests[ref]
	if m == nil {
		h.opts.Log.Printf("%s %s: no image %s/%s in this bundle (tags of %s: %s)", r.Method, r.URL.Path, h.address, imageRef(name, ref), name, strings.Join(repo.tags, ", "))
		writeError(w, r, http.StatusNotFound, "MANIFEST_UNKNOWN",
			fmt.Sprintf("%s/%s is not in this bundle (tags of %s: %s)", h.address, imageRef(name, ref), name, strings.Join(repo.tags, ", ")))
		return
	}
	pull := h.pulls.begin(name, m.image)
	w.Header().Set("Content-Type", string(types.OCIManifestSchema1))
	w.Header().Set("Content-Length", fmt.Sprint(len(m.body)))
	w.Header().Set("Docker-Content-Digest", m.digest.String())
	w.Header().Set("Etag", `"`+m.digest.String()+`"`)
	w.WriteHeader(http.StatusOK)
	var n int
	if r.Method == http.MethodGet {
		n, _ = w.Write(m.body)
	}
	pull.end(int64(n), false)
}

func imageRef(name, ref string) string {
	if strings.Contains(ref, ":") {
		return name + "@" + ref
	}
	return name + ":" + ref
}

func (h *Handler) serveTags(w http.ResponseWriter, r *http.Request, name string) {
	repo := h.repo(w, r, name)
	if repo == nil {
		return
	}
	writeJSON(w, r, struct {
		Name string   `json:"name"`
		Tags []string `json:"tags"`
	}{name, repo.tags})
}

func (h *Handler) serveCatalog(w http.ResponseWriter, r *http.Request) {
	names := make([]string, 0, len(h.repos))
	for n := range h.repos {
		names = append(names, n)
	}
	slices.Sort(names)
	writeJSON(w, r, struct {
		Repositories []string `json:"repositories"`
	}{names})
}

// serveBlob sends a blob, or the part a Range header asks for (an engine resuming a broken
// transfer asks for the rest, and Engine 20.10 fails a resume answered with the whole blob). Every
// byte of the blob is read and hashed either way, and the last bytes sent are held back until
// the whole blob hashes to its digest: a mismatch, a short or long file or a failed
// decompression aborts the response, so the client sees a broken transfer instead of a wrong
// image. A blob found damaged once is refused at once afterwards, with the reason: the engine's
// retries then end with the registry's message instead of a timeout.
func (h *Handler) serveBlob(w http.ResponseWriter, r *http.Request, name, ref string) {
	repo := h.repo(w, r, name)
	if repo == nil {
		return
	}
	d, err := v1.NewHash(ref)
	if err != nil {
		writeError(w, r, http.StatusBadRequest, "DIGEST_INVALID", fmt.Sprintf("%q is not a digest", ref))
		return
	}
	b := repo.blobs[d]
	if b == nil {
		writeError(w, r, http.StatusNotFound, "BLOB_UNKNOWN", fmt.Sprintf("blob %s is not part of %s/%s", d, h.address, name))
		return
	}
	f, err := os.Open(b.path)
	if err != nil {
		h.damaged(b, err.Error())
	}
	if why := h.knownDamage(b); why != "" {
		if f != nil {
			f.Close()
		}
		writeError(w, r, damagedStatus, damagedCode, why)
		return
	}
	defer f.Close()
	pull := h.pulls.begin(name, "")
	start, end, partial := byteRange(r.Header.Get("Range"), b.size)
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Docker-Content-Digest", b.digest.String())
	w.Header().Set("Etag", `"`+b.digest.String()+`"`)
	w.Header().Set("Accept-Ranges", "bytes")
	w.Header().Set("Content-Length", fmt.Sprint(end-start))
	status := http.StatusOK
	if partial {
		if start >= end {
			w.Header().Set("Content-Range", fmt.Sprintf("bytes */%d", b.size))
			writeError(w, r, http.StatusRequestedRangeNotSatisfiable, "BLOB_UNKNOWN", "range outside the blob")
			pull.end(0, false)
			return
		}
		status = http.StatusPartialContent
		w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, end-1, b.size))
	}
	if r.Method == http.MethodHead {
		w.WriteHeader(status)
		pull.end(0, false)
		return
	}
	w.WriteHeader(status)
	sent, err := h.sendBlob(w, b, f, start, end)
	pull.end(sent, true)
	if err != nil {
		// The status line is out: the only way left to tell the client is to break the
		// connection before the body completes (net/http recovers this panic silently).
		panic(http.ErrAbortHandler)
	}
}

// A blob known to be damaged is answered as unknown: engines retry a blob on most errors, with
// growing pauses (Engine 20.10: five tries over 75 s, whatever the error JSON says), but give up
// at once on a blob the registry does not have. The error's message says why.
const (
	damagedStatus = http.StatusNotFound
	damagedCode   = "BLOB_UNKNOWN"
)

// byteRange reads a Range header of one range ("bytes=S-" or "bytes=S-E") for a blob of size
// bytes: [start, end) to send, and whether it was a range request at all. Anything else (several
// ranges, suffix ranges, garbage) is ignored, as HTTP allows: the whole blob is sent.
func byteRange(header string, size int64) (start, end int64, partial bool) {
	spec, ok := strings.CutPrefix(header, "bytes=")
	if !ok || strings.Contains(spec, ",") {
		return 0, size, false
	}
	first, last, ok := strings.Cut(spec, "-")
	s, err := strconv.ParseInt(first, 10, 64)
	if !ok || err != nil || s < 0 {
		return 0, size, false
	}
	e := size
	if last != "" {
		l, err := strconv.ParseInt(last, 10, 64)
		if err != nil || l < s {
			return 0, size, false
		}
		e = min(l+1, size)
	}
	return min(s, size), e, true
}

// holdBack is how many bytes of a blob stay unsent until its digest is checked.
const holdBack = 64 << 10

// sendBlob streams bytes [start, end) of b from f to w, reading all of b to check its digest, and
// returns the bytes sent; an error means the response must be aborted (the damage is logged
// here; a client that went away is not damage).
func (h *Handler) sendBlob(w io.Writer, b *blob, f *os.File, start, end int64) (int64, error) {
	var src io.Reader = f
	if b.decompress {
		zr, err := layerfile.Decompress(f)
		if err != nil {
			h.damaged(b, "decompress: "+err.Error())
			return 0, err
		}
		defer zr.Close()
		src = zr
	}
	hash := sha256.New()
	out := &heldWriter{w: w}
	// One byte more than the index says: a file that is too long shows, and is not sent.
	n, err := io.Copy(&window{w: out, start: start, end: end}, io.TeeReader(io.LimitReader(src, b.size+1), hash))
	if out.err != nil {
		return out.sent, out.err // the client went away
	}
	if err != nil {
		h.damaged(b, fmt.Sprintf("read after %d bytes: %v", n, err))
		return out.sent, err
	}
	got := v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(hash.Sum(nil))}
	if n != b.size || got != b.digest {
		h.damaged(b, fmt.Sprintf("its bytes are %s (%d bytes)", got, n))
		return out.sent, errors.New("digest mismatch")
	}
	if err := out.flush(); err != nil {
		return out.sent, err
	}
	return out.sent, nil
}

// window passes on to w only the bytes at offsets [start, end) of what is written to it.
type window struct {
	w          io.Writer
	pos        int64
	start, end int64
}

func (wd *window) Write(p []byte) (int, error) {
	from, to := max(wd.start-wd.pos, 0), min(wd.end-wd.pos, int64(len(p)))
	wd.pos += int64(len(p))
	if from < to {
		if _, err := wd.w.Write(p[from:to]); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// heldWriter passes everything on to w except the last holdBack bytes, which flush sends.
type heldWriter struct {
	w    io.Writer
	buf  []byte
	sent int64
	err  error
}

func (hw *heldWriter) Write(p []byte) (int, error) {
	hw.buf = append(hw.buf, p...)
	if over := len(hw.buf) - holdBack; over > 0 {
		if err := hw.send(hw.buf[:over]); err != nil {
			return 0, err
		}
		hw.buf = hw.buf[:copy(hw.buf, hw.buf[over:])]
	}
	return len(p), nil
}

func (hw *heldWriter) flush() error {
	err := hw.send(hw.buf)
	hw.buf = hw.buf[:0]
	return err
}

func (hw *heldWriter) send(p []byte) error {
	n, err := hw.w.Write(p)
	hw.sent += int64(n)
	if err != nil {
		hw.err = err
	}
	return err
}

// damaged records that b is damaged and logs it, once per blob: one line naming the blob, its
// file, the images that use it and what to do.
func (h *Handler) damaged(b *blob, what string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, known := h.damage[b.digest]; known {
		return
	}
	msg := fmt.Sprintf("blob %s (%s, file %s) of %s: %s, want %s (%d bytes): the bundle is damaged; rebuild the bundle",
		b.digest, b.what, b.path, strings.Join(b.images, ", "), what, b.digest, b.size)
	h.damage[b.digest] = msg
	h.opts.Log.Print(msg)
}

// knownDamage is the damage recorded for b, or "".
func (h *Handler) knownDamage(b *blob) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.damage[b.digest]
}

// writeError writes the distribution spec's error JSON (no body for HEAD).
func writeError(w http.ResponseWriter, r *http.Request, status int, code, message string) {
	type item struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}
	body, _ := json.Marshal(struct {
		Errors []item `json:"errors"`
	}{[]item{{code, message}}})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", fmt.Sprint(len(body)))
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

func writeJSON(w http.ResponseWriter, r *http.Request, v any) {
	body, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", fmt.Sprint(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}
