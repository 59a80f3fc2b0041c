//go:build !linux

package bench

import "os"

// Peak RSS is measured on Linux only (see rss_linux.go); elsewhere the rows show 0.
type rssSampler struct{}

func sampleRSS(int) *rssSampler                   { return &rssSampler{} }
func (*rssSampler) finish(*os.ProcessState) int64 { return 0 }
