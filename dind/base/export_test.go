package base

import (
	"context"
	"io"
)

// FetchCompose is fetchCompose for the external tests: the plugin's path, its package version
// and whether it came from the cache.
func FetchCompose(ctx context.Context, c ComposeFetch) (path, version string, cached bool, err error) {
	p, err := fetchCompose(ctx, c, io.Discard, io.Discard)
	return p.path, p.version, p.cached, err
}
